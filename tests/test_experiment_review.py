"""Review findings for funnel experiments (docs/semantics.md E4-E6), each fixed and kept here as
a regression test."""

from __future__ import annotations

from typing import Any

import pytest

from funnelscope.analyses.experiments import analyze_experiment, experiment_counts, parse_experiment
from funnelscope.store.sources import TableSource

from journeys import journeys

SPEC = {
    "name": "t",
    "funnel": {"steps": ["view", "cart"], "window": "7d"},
    "exposure": "exposed",
    "control": "A",
}


def _person(variant: str, *steps: str) -> list[tuple[Any, ...]]:
    events: list[tuple[Any, ...]] = [("exposed", "2026-01-01 10:00", {"variant": variant})]
    events += [(s, f"2026-01-01 10:0{i + 1}") for i, s in enumerate(steps)]
    return events


def _analyze(people: dict[str, list[tuple[Any, ...]]], **spec: Any) -> Any:
    counts = experiment_counts(parse_experiment({**SPEC, **spec}), TableSource(journeys(people)))
    return analyze_experiment(counts)


def test_a_step_nobody_in_a_variant_could_enter_does_not_crash() -> None:
    result = _analyze({"a": _person("A", "view", "cart"), "b": _person("B")})
    assert result.to_dict()["variants"][1]["steps"] == [0, 0]
    assert result.skipped == ((2, "cart", "B"),)
    assert "Step 2 (cart) for B is not compared" in " ".join(result.verdict())


def test_weights_missing_a_seen_variant_are_an_error_naming_it() -> None:
    from funnelscope.errors import SpecError

    people = {
        "a": _person("A", "view"),
        "b": _person("B", "view"),
        "c": _person("C", "view"),
    }
    with pytest.raises(SpecError, match="weights: has no share for 'C', which persons saw"):
        _analyze(people, weights={"A": 1, "B": 1})


def test_a_planned_variant_nobody_saw_is_a_sample_ratio_mismatch() -> None:
    people = {f"a{i}": _person("A", "view") for i in range(500)}
    people.update({f"b{i}": _person("B", "view") for i in range(500)})
    result = _analyze(people, weights={"A": 1, "B": 1, "C": 1})
    assert result.srm.mismatch


def test_an_experiment_with_only_the_control_seen_does_not_crash() -> None:
    result = _analyze({"a": _person("A", "view")})
    assert result.srm is None and not result.safe_to_decide
    assert result.verdict()[0] == "Only one variant was seen: there is nothing to compare."


def test_the_lift_interval_is_95_percent_whatever_alpha() -> None:
    from funnelscope.stats import compare_proportions

    people = {f"a{i}": _person("A", *(["view"] if i % 2 else [])) for i in range(40)}
    people.update({f"b{i}": _person("B", *(["view"] if i % 3 else [])) for i in range(40)})
    step1 = _analyze(people, alpha=0.01).steps[0]
    assert (
        step1.comparison.absolute_ci
        == compare_proportions(step1.control, step1.treatment).absolute_ci
    )
