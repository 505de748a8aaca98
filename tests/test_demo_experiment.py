"""The demo experiment: deterministic, one exposure per person, the funnel counted from exposure
measures the generator's true rates per variant, and pre-exposure events do not count."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from funnelscope.analyses.experiments import (
    ExperimentCounts,
    experiment_counts,
    load_experiment,
    parse_experiment,
)
from funnelscope.analyses.funnel import run_funnel
from funnelscope.demo.experiment import DemoExperiment, generate_experiment
from funnelscope.store.sources import TableSource


@cache
def demo() -> DemoExperiment:
    return generate_experiment()


def scan_format(events: pa.Table) -> pa.Table:
    """The demo's events as a TableSource wants them: person_id, event_id, event, ts, variant."""
    return pa.table(
        {
            "person_id": events.column("person_id"),
            "event_id": pa.array([str(i) for i in range(events.num_rows)], pa.string()),
            "event": events.column("event"),
            "ts": events.column("timestamp").cast(pa.int64()),
            "variant": events.column("variant"),
        }
    )


def counts(events: pa.Table) -> ExperimentCounts:
    spec = parse_experiment(yaml.safe_load(demo().spec_yaml()))
    return experiment_counts(spec, TableSource(scan_format(events)), "kernel")


@cache
def demo_counts() -> ExperimentCounts:
    return counts(demo().events)


def test_the_same_seed_gives_the_same_events_and_another_seed_other_events() -> None:
    a = generate_experiment(2_000, seed=3)
    b = generate_experiment(2_000, seed=3)
    c = generate_experiment(2_000, seed=4)
    assert a.events.equals(b.events)
    assert not a.events.equals(c.events)
    assert a.events.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")


def test_every_person_has_exactly_one_exposure_naming_their_variant() -> None:
    events = demo().events
    exposures = events.filter(pc.equal(events.column("event"), "experiment_started"))
    persons = exposures.column("person_id").to_numpy(zero_copy_only=False)
    assert len(persons) == len(set(persons)) == len(set(events.column("person_id").to_pylist()))
    variants = exposures.column("variant").to_pylist()
    assert set(variants) == {"control", "B", "C"}
    for name in ("control", "B", "C"):
        assert abs(variants.count(name) / len(variants) - 1 / 3) < 0.02
    others = events.filter(pc.not_equal(events.column("event"), "experiment_started"))
    assert others.column("variant").null_count == others.num_rows


def test_measured_step_rates_match_the_true_rates_per_variant() -> None:
    result = demo_counts()
    assert [v.variant for v in result.variants] == ["control", "B", "C"]
    assert (result.crossovers, result.unnamed) == (0, 0)
    for v in result.variants:
        assert v.reached(1) == v.exposed  # everyone views a product after exposure
        for k, true in enumerate(demo().true_rates[v.variant], start=1):
            base = v.reached(k)
            rate = v.reached(k + 1) / base
            se = math.sqrt(true * (1 - true) / base)
            assert abs(rate - true) < 4 * se, (v.variant, k, rate, true)


def test_only_the_lift_step_differs_between_control_and_b() -> None:
    rates = demo().true_rates
    step = demo().lift_step
    assert step == 3
    differs = [k + 2 for k in range(3) if rates["control"][k] != rates["B"][k]]
    assert differs == [step]
    assert math.isclose(rates["B"][step - 2], rates["control"][step - 2] * 1.08)
    assert rates["C"] == rates["control"]


def test_events_before_the_exposure_are_not_counted() -> None:
    events = demo().events
    ts = events.column("timestamp").cast(pa.int64()).to_numpy()
    persons = events.column("person_id").to_numpy(zero_copy_only=False)
    is_exposure = (events.column("event").to_numpy(zero_copy_only=False)) == "experiment_started"
    since = dict(zip(persons[is_exposure], ts[is_exposure], strict=True))
    before = ts < np.array([since[p] for p in persons])
    funnel_names = pa.array(["product_viewed", "added_to_cart", "checkout_started"])
    in_funnel = pc.is_in(events.column("event"), funnel_names).to_numpy(zero_copy_only=False)
    early = before & in_funnel
    assert 0.08 < len(set(persons[early])) / len(since) < 0.12  # about a tenth of persons
    # The same counts with the pre-exposure events removed ...
    without = counts(events.filter(pa.array(~early)))
    for a, b in zip(demo_counts().variants, without.variants, strict=True):
        assert a.result.counts() == b.result.counts()
    # ... though a funnel over all events, ignoring exposure, would count them.
    spec = parse_experiment(yaml.safe_load(demo().spec_yaml()))
    everything = run_funnel(spec.funnel, TableSource(scan_format(events)), "kernel")
    exposed_counts = sum(v.reached(2) for v in demo_counts().variants)
    assert everything.step(2).count > exposed_counts


def test_the_spec_parses_and_both_files_are_written(tmp_path: Path) -> None:
    small = generate_experiment(500, seed=1)
    spec = parse_experiment(yaml.safe_load(small.spec_yaml()))
    assert spec.name == "checkout-redesign"
    assert spec.control == "control"
    assert (spec.exposure.event, spec.exposure.variant_property) == (
        "experiment_started",
        "variant",
    )
    assert spec.funnel.window_seconds == 7 * 86_400
    assert [s.event for s in spec.funnel.steps] == [
        "product_viewed",
        "added_to_cart",
        "checkout_started",
        "order_completed",
    ]
    events_path, spec_path = small.write(tmp_path / "out")
    assert (events_path.name, spec_path.name) == ("experiment_events.parquet", "experiment.yaml")
    assert pq.read_table(events_path).equals(small.events)
    assert load_experiment(spec_path) == spec


@pytest.mark.parametrize("seed", [7, 11])
def test_the_demo_size_finds_the_planted_lift_and_flags_nothing_else(seed: int) -> None:
    from funnelscope.analyses.experiments import analyze_experiment

    experiment = generate_experiment(120_000, seed=seed)  # the size `funnelscope demo` uses
    spec = parse_experiment(yaml.safe_load(experiment.spec_yaml()))
    result = analyze_experiment(
        experiment_counts(spec, TableSource(scan_format(experiment.events)), "kernel")
    )
    assert [(s.step, s.variant) for s in result.moved] == [(experiment.lift_step, "B")]
    [moved] = result.moved
    assert moved.comparison.relative_lift is not None and moved.comparison.relative_ci is not None
    low, high = moved.comparison.relative_ci
    assert low < 0.08 < high  # the true lift is inside the interval
    assert moved.chance_to_win > 0.99
    assert not result.srm.mismatch and result.safe_to_decide
    assert result.verdict()[-1] == "Safe to decide: yes."
