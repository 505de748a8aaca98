"""The stage funnel over deals (docs/pipeline.md, "Stage funnel").

Two ways to pick the deals, as CRM reports do:

- **created** cohort: the deals created in the period, and how far each has got by the as-of
  time. ``reached`` counts a deal at every stage up to the furthest one it entered (so a deal that
  skipped a stage still counts as having passed it; ``skipped`` says how many did).
- **active**: for each stage, the deals that first reached it (entered it, or a later stage
  without it) during the period, and what became of them by the as-of time.

Conversion at a stage is the share of the deals that reached it which reached a later stage (or
were won); the last open stage converts into won. Lost deals are attributed to the open stage
they were lost from; their reasons are counted there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from funnelscope.analyses.pipeline.journeys import Journey
from funnelscope.model.deals import DealStatus, Pipeline
from funnelscope.model.pipeline_settings import Period

GROUP_FIELDS = ("owner", "team", "source", "campaign", "pipeline", "currency", "company")
DAY_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<1d", 0, 1),
    ("1-3d", 1, 3),
    ("3-7d", 3, 7),
    ("7-14d", 7, 14),
    ("14-30d", 14, 30),
    ("30-90d", 30, 90),
    (">=90d", 90, float("inf")),
)


@dataclass(frozen=True)
class StageTime:
    """Time spent in a stage: stays that ended (entered -> next move), in days."""

    stays: int
    median_days: float | None
    p90_days: float | None
    mean_days: float | None
    buckets: tuple[tuple[str, int], ...]
    in_stage_now: int  # open deals sitting in it at the as-of time
    median_age_days: float | None  # how long they have sat there so far

    def to_dict(self) -> dict[str, object]:
        return {
            "stays": self.stays,
            "median_days": self.median_days,
            "p90_days": self.p90_days,
            "mean_days": self.mean_days,
            "distribution": dict(self.buckets),
            "in_stage_now": self.in_stage_now,
            "median_age_days": self.median_age_days,
        }


@dataclass(frozen=True)
class StageRow:
    stage: str
    reached: int
    entered: int
    skipped: int
    advanced: int  # reached a later stage or won
    lost_here: int
    open_here: int  # still open with this as their current stage
    time: StageTime
    lost_reasons: tuple[tuple[str, int], ...]

    @property
    def conversion(self) -> float | None:
        return self.advanced / self.reached if self.reached else None

    def to_dict(self, cohort: int) -> dict[str, object]:
        return {
            "stage": self.stage,
            "reached": self.reached,
            "entered": self.entered,
            "skipped": self.skipped,
            "advanced": self.advanced,
            "lost_here": self.lost_here,
            "open_here": self.open_here,
            "conversion": self.conversion,
            "from_start": self.reached / cohort if cohort else None,
            "time_in_stage": self.time.to_dict(),
            "lost_reasons": dict(self.lost_reasons),
        }


@dataclass(frozen=True)
class GroupFunnel:
    """One pipeline's funnel for one group of deals (``group`` None: all of them)."""

    pipeline: str
    group: str | None
    deals: int
    won: int
    lost: int
    open: int
    stages: tuple[StageRow, ...]
    regressions: int  # moves back to an earlier open stage
    reopened: int  # deals moved out of won or lost back into an open stage
    without_history: int  # deals whose stage history the exports did not give
    lost_stage_unknown: tuple[tuple[str, int], ...]  # lost reasons of deals lost from unknown stage

    def to_dict(self) -> dict[str, object]:
        return {
            "pipeline": self.pipeline,
            "group": self.group,
            "deals": self.deals,
            "won": self.won,
            "lost": self.lost,
            "open": self.open,
            "win_rate": self.won / (self.won + self.lost) if self.won + self.lost else None,
            "stages": [s.to_dict(self.deals) for s in self.stages],
            "regressions": self.regressions,
            "reopened": self.reopened,
            "without_history": self.without_history,
            "lost_from_unknown_stage": dict(self.lost_stage_unknown),
        }


def group_value(journey: Journey, field: str) -> str:
    value = getattr(journey.deal, field, None)
    return "(none)" if value is None else str(value)


def created_cohort(
    journeys: Sequence[Journey], pipeline: Pipeline, period: Period | None, as_of: datetime
) -> list[Journey]:
    return [
        j
        for j in journeys
        if j.deal.pipeline == pipeline.name
        and (period is None or period.contains(j.deal.created_at))
        and j.deal.created_at <= as_of
    ]


def stage_funnel(
    journeys: Sequence[Journey],
    pipeline: Pipeline,
    *,
    as_of: datetime,
    period: Period | None = None,
    mode: str = "created",
    group: str | None = None,
) -> GroupFunnel:
    """The funnel of ``journeys`` (already restricted to one group, if any) in ``pipeline``."""
    if mode == "created":
        cohort = created_cohort(journeys, pipeline, period, as_of)

        def members(position: int) -> list[Journey]:
            return cohort

    else:
        cohort = [j for j in journeys if j.deal.pipeline == pipeline.name]

        def members(position: int) -> list[Journey]:
            return [
                j
                for j in cohort
                if (at := j.reached_at(position)) is not None
                and at <= as_of
                and (period is None or period.contains(at))
            ]

    rows = []
    for position, stage in enumerate(pipeline.stages):
        deals = members(position)
        reached = [j for j in deals if j.reached(position)]
        lost_here = [j for j in reached if j.status is DealStatus.LOST and j.lost_from == stage]
        reasons = Counter(j.deal.lost_reason or "(no reason)" for j in lost_here)
        rows.append(
            StageRow(
                stage=stage,
                reached=len(reached),
                entered=sum(1 for j in reached if j.entered(stage) is not None),
                skipped=sum(1 for j in reached if stage in j.skipped),
                advanced=sum(1 for j in reached if j.reached(position + 1)),
                lost_here=len(lost_here),
                open_here=sum(
                    1 for j in reached if j.status is DealStatus.OPEN and j.deal.stage == stage
                ),
                time=stage_time(reached, stage, as_of),
                lost_reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            )
        )
    everyone = (
        cohort if mode == "created" else _union(members(p) for p in range(len(pipeline.stages)))
    )
    unknown = Counter(
        j.deal.lost_reason or "(no reason)"
        for j in everyone
        if j.status is DealStatus.LOST and j.lost_from is None
    )
    return GroupFunnel(
        pipeline=pipeline.name,
        group=group,
        deals=len(everyone),
        won=sum(1 for j in everyone if j.status is DealStatus.WON),
        lost=sum(1 for j in everyone if j.status is DealStatus.LOST),
        open=sum(1 for j in everyone if j.status is DealStatus.OPEN),
        stages=tuple(rows),
        regressions=sum(j.regressions for j in everyone),
        reopened=sum(1 for j in everyone if j.reopened),
        without_history=sum(1 for j in everyone if not j.has_history),
        lost_stage_unknown=tuple(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _union(groups: Iterable[list[Journey]]) -> list[Journey]:
    seen: dict[str, Journey] = {}
    for group in groups:
        for j in group:
            seen.setdefault(j.deal.deal_id, j)
    return sorted(seen.values(), key=lambda j: j.deal.deal_id)


def stage_time(journeys: Sequence[Journey], stage: str, as_of: datetime) -> StageTime:
    """Days of every finished stay in ``stage`` (a deal back in a stage has several), and the
    open deals sitting in it now with how long they have sat."""
    day = timedelta(days=1)
    finished = [
        (s.left_at - s.entered_at) / day
        for j in journeys
        for s in j.stays
        if s.stage == stage and s.left_at is not None and s.left_at <= as_of
    ]
    ages = [
        (as_of - j.stays[-1].entered_at) / day
        for j in journeys
        if j.status is DealStatus.OPEN and j.stays and j.stays[-1].stage == stage
    ]
    values = np.asarray(finished, dtype=np.float64)
    buckets = tuple(
        (label, int(np.count_nonzero((values >= low) & (values < high))))
        for label, low, high in DAY_BUCKETS
    )
    return StageTime(
        stays=len(finished),
        median_days=_rounded(np.median(values)) if finished else None,
        p90_days=_rounded(np.percentile(values, 90)) if finished else None,
        mean_days=_rounded(values.mean()) if finished else None,
        buckets=buckets,
        in_stage_now=len(ages),
        median_age_days=_rounded(np.median(ages)) if ages else None,
    )


def _rounded(value: float) -> float:
    return round(float(value), 2)
