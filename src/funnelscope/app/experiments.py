"""Use cases of funnel A/B tests: an experiment's comparison per step and variant."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from funnelscope.app.events import open_store
from funnelscope.engines import DEFAULT_ENGINE

if TYPE_CHECKING:
    from funnelscope.analyses.experiments import ExperimentResult, ExperimentSpec
    from funnelscope.store import EventStore


def run_experiment(
    spec_path: str | Path, db_path: str, engine: str = DEFAULT_ENGINE
) -> ExperimentResult:
    """Read the experiment spec, count every variant's funnel in the store at `db_path` and
    compare each step with control (the spec is checked before the store is opened)."""
    from funnelscope.analyses.experiments import load_experiment

    spec = load_experiment(spec_path)
    with open_store(db_path) as store:
        return _compare(spec, store, engine)


def run_experiment_on(
    spec_path: str | Path, store: EventStore, engine: str = DEFAULT_ENGINE
) -> ExperimentResult:
    """The same over a store that is already open."""
    from funnelscope.analyses.experiments import load_experiment

    return _compare(load_experiment(spec_path), store, engine)


def _compare(spec: ExperimentSpec, store: EventStore, engine: str) -> ExperimentResult:
    from funnelscope.analyses.experiments import analyze_experiment, experiment_counts

    return analyze_experiment(experiment_counts(spec, store, engine))
