"""`funnelscope pipeline followups`: the open deals' cadences, rotting deals and the call-today
list, as of a time."""

from __future__ import annotations

from funnelscope.analyses.pipeline.followups import FollowupsResult, followups
from funnelscope.app.pipeline.data import as_of_time, read_pipeline, settings_from
from funnelscope.errors import SpecError
from funnelscope.model.pipeline_settings import PipelineSettings


def pipeline_followups(
    db_path: str,
    *,
    settings_path: str | None = None,
    settings: PipelineSettings | None = None,
    as_of: str | None = None,
    owner: str | None = None,
    pipeline: str | None = None,
    limit: int | None = None,
) -> FollowupsResult:
    """Follow-ups of the store's open deals at ``as_of`` (ISO date or time; None: now), of one
    owner or one pipeline when given."""
    if limit is not None and limit < 1:
        raise SpecError("--limit", f"must be at least 1, got {limit}", "e.g. --limit 20")
    settings = settings_from(settings_path, settings)
    moment = as_of_time(as_of)
    data = read_pipeline(db_path, settings)
    names = [p.name for p in data.pipelines]
    if pipeline is not None and pipeline not in names:
        raise SpecError(
            "--pipeline", f"no pipeline is named {pipeline!r}", f"use one of {', '.join(names)}"
        )
    return followups(data, settings, moment, owner=owner, pipeline=pipeline, limit=limit)
