"""`funnelscope pipeline targets`: each target's attainment, pace and per-stage gap, as of a
time; the targets come from the settings, or one from the command line."""

from __future__ import annotations

from funnelscope.analyses.pipeline.targets import TargetsResult, target_progress
from funnelscope.app.pipeline.data import as_of_time, read_pipeline, settings_from
from funnelscope.errors import SpecError
from funnelscope.model.pipeline_settings import PipelineSettings, Target, parse_period


def pipeline_targets(
    db_path: str,
    *,
    settings_path: str | None = None,
    settings: PipelineSettings | None = None,
    as_of: str | None = None,
    period: str | None = None,
    owner: str | None = None,
    team: str | None = None,
    revenue: float | None = None,
    deals: int | None = None,
) -> TargetsResult:
    """With ``period``: the one target it and ``owner``/``team``/``revenue``/``deals`` describe.
    Without: the settings' targets, only those of ``owner`` or ``team`` when given."""
    if owner is not None and team is not None:
        raise SpecError("--owner", "a target is an owner's or a team's", "give one of them")
    settings = settings_from(settings_path, settings)
    moment = as_of_time(as_of)
    targets: tuple[Target, ...] | None = None
    if period is not None:
        if revenue is None and deals is None:
            raise SpecError("--period", "needs --revenue or --deals", "e.g. --revenue 50000")
        if revenue is not None and not revenue > 0:
            raise SpecError("--revenue", f"must be above 0, got {revenue}", "e.g. 50000")
        if deals is not None and deals < 1:
            raise SpecError("--deals", f"must be at least 1, got {deals}", "e.g. 5")
        targets = (Target(parse_period(period, "--period"), owner, team, revenue, deals),)
    elif revenue is not None or deals is not None:
        raise SpecError("--revenue", "needs --period", "e.g. --period 2026-Q1")
    elif owner is not None or team is not None:
        targets = tuple(
            t
            for t in settings.targets
            if (owner is None or t.owner == owner) and (team is None or t.team == team)
        )
    data = read_pipeline(db_path, settings)
    return target_progress(data, settings, moment, targets)
