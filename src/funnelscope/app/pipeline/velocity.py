"""`pipeline velocity`: revenue per day the pipeline turns out, now and in the window before."""

from __future__ import annotations

from datetime import datetime

from funnelscope.analyses.pipeline.forecast import GROUP_FIELDS
from funnelscope.analyses.pipeline.money import money_for
from funnelscope.analyses.pipeline.velocity import DEFAULT_DAYS, Velocity, velocity
from funnelscope.app.pipeline.data import read_pipeline, settings_from
from funnelscope.errors import SpecError
from funnelscope.model.pipeline_settings import PipelineSettings


def pipeline_velocity(
    db_path: str,
    *,
    as_of: datetime,
    settings_path: str | None = None,
    settings: PipelineSettings | None = None,
    days: int = DEFAULT_DAYS,
    by: str = "owner",
) -> Velocity:
    if by not in GROUP_FIELDS:
        raise SpecError("--by", f"{by!r} is not a group", f"use {', '.join(GROUP_FIELDS)}")
    if not 1 <= days <= 3660:
        raise SpecError("--days", f"{days} is not a window length", "e.g. 90")
    settings = settings_from(settings_path, settings)
    data = read_pipeline(db_path, settings)
    return velocity(data, money_for(settings, data.deals), as_of, days=days, by=by)
