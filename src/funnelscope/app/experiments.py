"""Use cases of funnel A/B tests: an experiment's comparison per step and variant."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funnelscope.app.events import open_store
from funnelscope.engines import DEFAULT_ENGINE

if TYPE_CHECKING:
    from funnelscope.analyses.experiments import ExperimentResult, ExperimentSpec
    from funnelscope.store import EventStore


def run_experiment(
    spec_path: str | Path,
    db_path: str,
    engine: str = DEFAULT_ENGINE,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
) -> ExperimentResult:
    """Read the experiment spec, count every variant's funnel in the store at `db_path` and
    compare each step with control (the spec is checked before the store is opened).
    `date_from` / `date_to` replace the ends of its funnel's date range (``--from``/``--to``;
    errors name the flag)."""
    spec = _with_dates(spec_path, date_from, date_to)
    with open_store(db_path) as store:
        return _compare(spec, store, engine)


def run_experiment_spec(
    raw: Mapping[str, Any],
    db_path: str,
    engine: str = DEFAULT_ENGINE,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
) -> ExperimentResult:
    """The same for an experiment spec given as data (the web face's JSON): its funnel must be
    inline, since a spec given as data names no files to read."""
    from funnelscope.analyses.experiments.spec import parse_experiment
    from funnelscope.errors import SpecError

    if isinstance(raw, Mapping) and isinstance(raw.get("funnel"), str):
        raise SpecError(
            "funnel", "names a file", "give the funnel spec inline: {steps: [...], window: ...}"
        )
    spec = _dated(parse_experiment(raw), date_from, date_to)
    with open_store(db_path) as store:
        return _compare(spec, store, engine)


def _with_dates(
    spec_path: str | Path, date_from: str | None, date_to: str | None
) -> ExperimentSpec:
    from funnelscope.analyses.experiments import load_experiment

    return _dated(load_experiment(spec_path), date_from, date_to)


def _dated(spec: ExperimentSpec, date_from: str | None, date_to: str | None) -> ExperimentSpec:
    from dataclasses import replace

    from funnelscope.model.overrides import with_overrides

    funnel = with_overrides(spec.funnel, date_from=date_from, date_to=date_to)
    return spec if funnel is spec.funnel else replace(spec, funnel=funnel)


def run_experiment_on(
    spec_path: str | Path, store: EventStore, engine: str = DEFAULT_ENGINE
) -> ExperimentResult:
    """The same over a store that is already open."""
    from funnelscope.analyses.experiments import load_experiment

    return _compare(load_experiment(spec_path), store, engine)


def _compare(spec: ExperimentSpec, store: EventStore, engine: str) -> ExperimentResult:
    from funnelscope.analyses.experiments import analyze_experiment, experiment_counts

    return analyze_experiment(experiment_counts(spec, store, engine))
