"""Funnel experiments' counting: assignment by first exposure, events from exposure on,
crossovers left out; the same counts on every engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from funnelscope.analyses.experiments import (
    assign,
    experiment_counts,
    load_experiment,
    parse_experiment,
)
from funnelscope.engines import ENGINE_NAMES
from funnelscope.errors import SpecError
from funnelscope.store.sources import TableSource

from journeys import journeys

SPEC = {
    "name": "checkout-test",
    "funnel": {"steps": ["view", "cart", "buy"], "window": "7d"},
    "exposure": {"event": "exposed", "variant_property": "variant"},
    "control": "A",
}


def people() -> dict[str, list[tuple[Any, ...]]]:
    return {
        # buys before exposure: that attempt does not count; after it, only a view
        "p1": [("view", "2026-01-05 09:00"), ("cart", "2026-01-05 09:05"),
               ("buy", "2026-01-05 09:10"), ("exposed", "2026-01-05 10:00", {"variant": "A"}),
               ("view", "2026-01-05 11:00")],
        "p2": [("exposed", "2026-01-05 10:00", {"variant": "B"}), ("view", "2026-01-05 10:01"),
               ("cart", "2026-01-05 10:02"), ("buy", "2026-01-05 10:03")],
        # exposed twice to B: assigned once, from the first exposure
        "p3": [("exposed", "2026-01-06 10:00", {"variant": "B"}), ("view", "2026-01-06 10:30"),
               ("exposed", "2026-01-07 10:00", {"variant": "B"}), ("cart", "2026-01-07 10:30")],
        # saw both variants: a crossover, left out everywhere
        "p4": [("exposed", "2026-01-06 10:00", {"variant": "A"}),
               ("exposed", "2026-01-06 11:00", {"variant": "B"}), ("view", "2026-01-06 12:00"),
               ("cart", "2026-01-06 12:05"), ("buy", "2026-01-06 12:10")],
        # exposed without a variant value: ignored (and counted)
        "p5": [("exposed", "2026-01-06 10:00", {"variant": None}), ("view", "2026-01-06 10:01")],
        # never exposed
        "p6": [("view", "2026-01-06 10:00"), ("cart", "2026-01-06 10:01")],
        # exposed to A, does nothing: counts in A's exposed, reaches no step
        "p7": [("exposed", "2026-01-07 10:00", {"variant": "A"})],
        # a tie: the exposure and the view at the same second, exposure listed first
        "p8": [("exposed", "2026-01-07 12:00", {"variant": "A"}), ("view", "2026-01-07 12:00"),
               ("cart", "2026-01-07 12:30")],
    }  # fmt: skip


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_variants_count_persons_from_their_first_exposure(engine: str) -> None:
    counts = experiment_counts(parse_experiment(SPEC), TableSource(journeys(people())), engine)
    assert [v.variant for v in counts.variants] == ["A", "B"]
    a, b = counts.variants
    assert (a.exposed, b.exposed) == (3, 2)  # A: p1, p7, p8; B: p2, p3
    assert [a.reached(k) for k in (1, 2, 3)] == [2, 1, 0]  # p1 views again, p8 views and carts
    assert [b.reached(k) for k in (1, 2, 3)] == [2, 2, 1]
    assert (counts.crossovers, counts.unnamed) == (1, 1)
    assert a.result.people(1) == ["p1", "p8"]


def test_assignment_keeps_the_first_exposures_variant_and_time() -> None:
    table = journeys(people())
    result = assign(table, parse_experiment(SPEC).exposure)
    got = sorted(zip(result.persons.tolist(), result.variants.tolist(), strict=True))
    assert got == [("p1", "A"), ("p2", "B"), ("p3", "B"), ("p7", "A"), ("p8", "A")]


def test_spec_errors_name_the_field_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="control: is required"):
        parse_experiment({**SPEC, "control": None})
    with pytest.raises(SpecError, match="an experiment counts persons"):
        parse_experiment({**SPEC, "funnel": {"steps": ["a", "b"], "count": "totals"}})
    with pytest.raises(SpecError, match="weights: has no share for the control 'A'"):
        parse_experiment({**SPEC, "weights": {"B": 1}})
    with pytest.raises(SpecError, match="exposure: needs an event"):
        parse_experiment({**SPEC, "exposure": {"variant_property": "v"}})
    with pytest.raises(SpecError, match="colour: unknown key"):
        parse_experiment({**SPEC, "colour": "red"})
    funnel = tmp_path / "f.yaml"
    funnel.write_text("steps: [view, cart]\nwindow: 1d\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text("funnel: f.yaml\nexposure: exposed\ncontrol: A\nalpha: 0.01\n")
    spec = load_experiment(exp)
    assert (spec.funnel.window_seconds, spec.exposure.variant_property, spec.alpha) == (
        86_400,
        "variant",
        0.01,
    )
    exp.write_text("funnel: f.yaml\nexposure: exposed\ncontrol: A\nalpha: 2\n")
    with pytest.raises(SpecError, match=r"exp.yaml: alpha: 2; use a number between 0 and 1"):
        load_experiment(exp)


def test_a_control_nobody_saw_is_an_error() -> None:
    with pytest.raises(SpecError, match="no person saw 'C'; the variants are: A, B"):
        experiment_counts(
            parse_experiment({**SPEC, "control": "C"}), TableSource(journeys(people()))
        )


def test_experiment_command_reads_the_store_and_says_whether_to_decide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from funnelscope.cli.main import main

    table = journeys(people())
    events = pa.table(
        {
            "person_id": table.column("person_id"),
            "event": table.column("event"),
            "timestamp": table.column("ts").cast(pa.timestamp("us", tz="UTC")),
            "variant": table.column("variant"),
        }
    )
    data = tmp_path / "events.parquet"
    pq.write_table(events, data)
    db = tmp_path / "store.duckdb"
    assert main(["ingest", str(data), "--db", str(db)]) == 0
    spec = tmp_path / "experiment.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    capsys.readouterr()
    assert main(["experiment", str(spec), "--db", str(db), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    conversions = [v.pop("conversion") for v in out["variants"]]
    assert out["variants"] == [
        {"variant": "A", "exposed": 3, "steps": [2, 1, 0]},
        {"variant": "B", "exposed": 2, "steps": [2, 2, 1]},
    ]
    # exposure to the last step with its 95% Wilson interval: 0 of 3, 1 of 2
    z2 = 1.959963984540054**2
    assert conversions == [
        {"n": 3, "conversions": 0, "rate": 0.0, "interval": [0.0, pytest.approx(z2 / (3 + z2))]},
        {
            "n": 2,
            "conversions": 1,
            "rate": 0.5,
            "interval": [pytest.approx(0.0945312), pytest.approx(0.9054688)],
        },
    ]
    assert (out["crossovers"], out["unnamed_exposures"], out["safe_to_decide"]) == (1, 1, False)
    assert [(s["step"], s["variant"]) for s in out["steps"]] == [(1, "B"), (2, "B"), (3, "B")]
    assert out["verdict"][-1] == "Safe to decide: not yet."
    assert main(["experiment", str(spec), "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert (
        "Experiment checkout-test: exposed A 3, B 2" in text and "Safe to decide: not yet." in text
    )


# --- docs/semantics.md, "Funnel experiments" ------------------------------------------------


def test_e1_the_first_exposure_with_a_value_names_the_variant_ties_by_event_id() -> None:
    journeys_ = {
        "q1": [("exposed", "2026-01-05 10:00", {"variant": None}),
               ("exposed", "2026-01-05 11:00", {"variant": "B"}), ("view", "2026-01-05 10:30")],
        "q2": [("exposed", "2026-01-05 10:00", {"variant": "A"}, "q2:b"),
               ("view", "2026-01-05 10:00", {}, "q2:a")],
    }  # fmt: skip
    result = assign(journeys(journeys_), parse_experiment(SPEC).exposure)
    got = sorted(zip(result.persons.tolist(), result.variants.tolist(), strict=True))
    assert got == [("q1", "B"), ("q2", "A")]
    assert result.unnamed == 1
    by_property = parse_experiment({**SPEC, "exposure": {"person_property": "variant"}})
    counts = experiment_counts(by_property, TableSource(journeys(journeys_)))
    # q2's view has the same time as the exposure: it counts ([E2] is "at or after")
    assert [(v.variant, v.exposed, v.reached(1)) for v in counts.variants] == [
        ("A", 1, 1),
        ("B", 1, 0),  # q1's view at 10:30 came before its exposure at 11:00
    ]


def test_e2_events_before_the_first_exposure_do_not_count() -> None:
    counts = experiment_counts(parse_experiment(SPEC), TableSource(journeys(people())))
    assert counts.variant("A").result.people(3) == []  # p1 bought before exposure only
    assert counts.variant("A").result.people(1) == ["p1", "p8"]


def test_e3_crossovers_and_unnamed_exposures_are_left_out_and_counted() -> None:
    counts = experiment_counts(parse_experiment(SPEC), TableSource(journeys(people())))
    assert (counts.crossovers, counts.unnamed) == (1, 1)
    everyone = [p for v in counts.variants for p in v.result.people(1)]
    assert "p4" not in everyone and "p5" not in everyone


def test_e4_every_exposed_person_counts_and_rates_are_from_the_step_before() -> None:
    from funnelscope.analyses.experiments import analyze_experiment

    result = analyze_experiment(
        experiment_counts(parse_experiment(SPEC), TableSource(journeys(people())))
    )
    [step1, step2, step3] = result.steps
    assert (step1.control.n, step1.control.conversions) == (3, 2)  # p7 reached nothing
    assert (step2.control.n, step2.control.conversions) == (2, 1)
    assert (step3.treatment.n, step3.treatment.conversions) == (2, 1)


def test_e5_comparisons_are_the_stats_functions_on_these_counts_holm_adjusted() -> None:
    from funnelscope.analyses.experiments import analyze_experiment
    from funnelscope.stats import Proportion, bayes_proportions, compare_proportions, holm

    result = analyze_experiment(
        experiment_counts(parse_experiment(SPEC), TableSource(journeys(people())))
    )
    raw = [compare_proportions(s.control, s.treatment) for s in result.steps]
    assert [s.comparison for s in result.steps] == raw
    assert [s.p_adjusted for s in result.steps] == holm([c.p_value for c in raw])
    assert (
        result.steps[1].chance_to_win
        == bayes_proportions(Proportion(2, 1), Proportion(2, 2)).chance_to_win
    )
    [overall] = result.overall
    assert (overall.control.n, overall.control.conversions) == (3, 0)
    assert (overall.treatment.n, overall.treatment.conversions) == (2, 1)


def test_e6_a_split_far_from_the_planned_shares_is_a_mismatch() -> None:
    from funnelscope.stats import srm_check

    assert srm_check([5000, 5000]).mismatch is False
    assert srm_check([5000, 4700]).mismatch is False  # p = 0.0023: uneven, not yet flagged
    assert srm_check([5000, 4600]).mismatch is True  # p < 0.001
    assert srm_check([6000, 4000], [0.6, 0.4]).mismatch is False


def test_e7_safe_to_decide_needs_the_peeking_safe_test_and_no_mismatch() -> None:
    from dataclasses import replace

    from funnelscope.analyses.experiments import ExperimentResult, StepComparison
    from funnelscope.stats import Proportion, compare_proportions, srm_check

    control, treatment = Proportion(10_000, 1_000), Proportion(10_000, 1_200)
    moved = StepComparison(
        1, "view", "B", control, treatment, compare_proportions(control, treatment),
        p_adjusted=1e-5, chance_to_win=0.99, alpha=0.05, always_valid_p=1e-3,
    )  # fmt: skip
    counts = experiment_counts(parse_experiment(SPEC), TableSource(journeys(people())))
    fine = ExperimentResult(counts, (moved,), (), srm_check([5000, 5000]))
    assert fine.safe_to_decide and fine.verdict()[-1] == "Safe to decide: yes."
    peeked = replace(fine, steps=(replace(moved, always_valid_p=0.2),))
    assert not peeked.safe_to_decide
    assert "peeking-safe p-value is 0.2" in " ".join(peeked.verdict())
    broken = replace(fine, srm=srm_check([5000, 4000]))
    assert not broken.safe_to_decide and broken.verdict()[0].startswith("Sample ratio mismatch")
