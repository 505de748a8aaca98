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
