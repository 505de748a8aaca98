"""`pipeline funnel`: the stage funnel of every pipeline, overall and per group, with the groups
that convert significantly worse at a stage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from funnelscope.analyses.pipeline.compare import GroupGap, group_gaps
from funnelscope.analyses.pipeline.journeys import Journey, journeys_as_of
from funnelscope.analyses.pipeline.stage_funnel import (
    GROUP_FIELDS,
    GroupFunnel,
    group_value,
    stage_funnel,
)
from funnelscope.app.pipeline.data import read_pipeline, settings_from
from funnelscope.errors import SpecError
from funnelscope.model.pipeline_settings import Period, PipelineSettings, parse_period

MODES = ("created", "active")


@dataclass(frozen=True)
class PipelineFunnel:
    mode: str
    period: Period | None
    as_of: datetime
    by: str | None
    funnels: tuple[GroupFunnel, ...]  # per pipeline: overall first, then each group
    gaps: tuple[GroupGap, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "period": None if self.period is None else self.period.label,
            "as_of": self.as_of.isoformat(),
            "by": self.by,
            "funnels": [f.to_dict() for f in self.funnels],
            "group_gaps": [g.to_dict() for g in self.gaps],
        }

    def rows(self) -> list[dict[str, object]]:
        rows = []
        for funnel in self.funnels:
            for stage in funnel.stages:
                row = stage.to_dict(funnel.deals)
                time = row.pop("time_in_stage")
                row.pop("lost_reasons")
                assert isinstance(time, dict)
                rows.append(
                    {
                        "pipeline": funnel.pipeline,
                        "group": funnel.group or "(all)",
                        **row,
                        "median_days": time["median_days"],
                        "p90_days": time["p90_days"],
                    }
                )
        return rows


def pipeline_funnel(
    db_path: str,
    *,
    settings_path: str | None = None,
    settings: PipelineSettings | None = None,
    as_of: datetime,
    period: str | None = None,
    mode: str = "created",
    by: str | None = None,
    pipeline: str | None = None,
    min_deals: int = 10,
) -> PipelineFunnel:
    if mode not in MODES:
        raise SpecError("--mode", f"{mode!r} is not a mode", "use created or active")
    if by is not None and by not in GROUP_FIELDS:
        raise SpecError(
            "--by", f"{by!r} is not a deal field", f"use one of {', '.join(GROUP_FIELDS)}"
        )
    settings = settings_from(settings_path, settings)
    data = read_pipeline(db_path, settings)
    chosen = parse_period(period, "--period") if period is not None else None
    every = journeys_as_of(data, as_of)
    pipelines = [p for p in data.pipelines if pipeline is None or p.name == pipeline]
    if not pipelines:
        names = ", ".join(p.name for p in data.pipelines)
        raise SpecError("--pipeline", f"no pipeline is named {pipeline!r}", f"use one of {names}")
    funnels: list[GroupFunnel] = []
    gaps: list[GroupGap] = []
    for chosen_pipeline in pipelines:
        overall = stage_funnel(every, chosen_pipeline, as_of=as_of, period=chosen, mode=mode)
        funnels.append(overall)
        if by is None:
            continue
        members: dict[str, list[Journey]] = {}
        for j in every:
            if j.deal.pipeline == chosen_pipeline.name:
                members.setdefault(group_value(j, by), []).append(j)
        groups = [
            stage_funnel(
                members[value], chosen_pipeline, as_of=as_of, period=chosen, mode=mode, group=value
            )
            for value in sorted(members)
        ]
        funnels.extend(groups)
        gaps.extend(group_gaps(overall, groups, min_deals=min_deals))
    return PipelineFunnel(mode, chosen, as_of, by, tuple(funnels), tuple(gaps))
