"""Funnel experiments' counting: assignment by first exposure, events from exposure on,
crossovers left out; the same counts on every engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from funnelscope.analyses.experiment import (
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
    assert out["variants"] == [
        {"variant": "A", "exposed": 3, "steps": [2, 1, 0]},
        {"variant": "B", "exposed": 2, "steps": [2, 2, 1]},
    ]
    assert (out["crossovers"], out["unnamed_exposures"], out["safe_to_decide"]) == (1, 1, False)
    assert [(s["step"], s["variant"]) for s in out["steps"]] == [(1, "B"), (2, "B"), (3, "B")]
    assert out["verdict"][-1] == "Safe to decide: not yet."
    assert main(["experiment", str(spec), "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert (
        "Experiment checkout-test: exposed A 3, B 2" in text and "Safe to decide: not yet." in text
    )
