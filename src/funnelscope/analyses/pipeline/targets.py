"""Targets (docs/pipeline.md, "Targets"): for each target of the settings, what was won in its
period up to the as-of time, the pace needed for the rest of the period against the run rate so
far, a projection at the current pace, and how many more deals each open stage needs to close the
gap at today's win rates.

Rules:

- A target's deals are its owner's (``deal.owner``), its team's (``deal.team``) or everyone's.
- **Won** in the period: deals won at the as-of time whose close time (UTC) lies in the period
  and is not after the as-of time. Revenue is the amount converted to the report currency with
  the settings' rates; a won deal whose currency has no rate counts as a won deal but adds no
  revenue (``without_rate`` counts them), nor does one without an amount (``without_amount``).
- Days are measured in UTC from the period's start to the as-of time (elapsed) and from there
  to the period's end (remaining). Run rate = won so far / days elapsed; pace needed = what is
  still missing / days remaining; projection = won so far + run rate x days remaining.
- Per-stage gap: ``needed_won`` = ceil(revenue gap / average won amount), or the deal-count gap,
  whichever is larger. The average won amount is learned from the target's own won deals closed
  before the as-of time (any period), falling back to every won deal (``average_basis`` says
  which). For each open stage of each pipeline the target's deals are in: needed at the stage =
  ceil(needed_won / the stage's win rate) (``rates.stage_win_rates``, learned from all the
  pipeline's deals closed before the as-of time), minus the target's open deals already at or
  past that stage (never below 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from funnelscope.analyses.pipeline.journeys import Journey, journeys_as_of
from funnelscope.analyses.pipeline.money import NO_AMOUNT, Money, money_for
from funnelscope.analyses.pipeline.rates import stage_win_rates
from funnelscope.model.deals import CrmData, Deal, DealStatus, Pipeline
from funnelscope.model.pipeline_settings import PipelineSettings, Target

DAY_SECONDS = 86400.0
_EPSILON = 1e-9  # ceil of a ratio that is a whole number up to float noise stays that number


@dataclass(frozen=True)
class StageGap:
    pipeline: str
    stage: str
    win_rate: float
    rate_basis: str
    needed: int | None  # deals that must be at this stage to win needed_won (None: rate 0)
    open_at_or_past: int  # the target's open deals at this stage or a later one
    more: int | None  # needed - open_at_or_past, at least 0
    phrase: str

    def to_dict(self) -> dict[str, object]:
        return {
            "pipeline": self.pipeline,
            "stage": self.stage,
            "win_rate": self.win_rate,
            "rate_basis": self.rate_basis,
            "needed": self.needed,
            "open_at_or_past": self.open_at_or_past,
            "more": self.more,
            "phrase": self.phrase,
        }


@dataclass(frozen=True)
class TargetProgress:
    target: Target
    state: str  # not started, in progress, ended
    won_deals: int
    won_revenue: float
    won_ids: tuple[str, ...]
    without_rate: int
    without_amount: int
    days_total: float
    days_elapsed: float
    days_remaining: float
    revenue_gap: float | None
    deals_gap: int | None
    revenue_run_rate: float | None  # per day so far
    revenue_needed_per_day: float | None
    projected_revenue: float | None
    deals_run_rate: float | None
    deals_needed_per_day: float | None
    projected_deals: float | None
    average_won_amount: float | None
    average_basis: str  # owner, team, everyone, all won deals, none
    average_from: int  # won deals the average was learned from
    needed_won: int | None
    needed_for: str | None  # revenue or deals: the gap that asks for more won deals
    stages: tuple[StageGap, ...]

    @property
    def revenue_share(self) -> float | None:
        revenue = self.target.revenue
        return None if revenue is None else self.won_revenue / revenue

    @property
    def deals_share(self) -> float | None:
        deals = self.target.deals
        return None if deals is None else self.won_deals / deals

    @property
    def projected_share(self) -> float | None:
        revenue = self.target.revenue
        if revenue is None or self.projected_revenue is None:
            return None
        return self.projected_revenue / revenue

    def to_dict(self) -> dict[str, object]:
        target = self.target
        return {
            "period": target.period.label,
            "start": target.period.start.isoformat(),
            "end": target.period.end.isoformat(),
            "who": target.who,
            "owner": target.owner,
            "team": target.team,
            "state": self.state,
            "revenue_target": target.revenue,
            "deals_target": target.deals,
            "won_revenue": self.won_revenue,
            "won_deals": self.won_deals,
            "won_deal_ids": list(self.won_ids),
            "revenue_share": self.revenue_share,
            "deals_share": self.deals_share,
            "without_rate": self.without_rate,
            "without_amount": self.without_amount,
            "days_total": self.days_total,
            "days_elapsed": self.days_elapsed,
            "days_remaining": self.days_remaining,
            "revenue_gap": self.revenue_gap,
            "deals_gap": self.deals_gap,
            "revenue_run_rate": self.revenue_run_rate,
            "revenue_needed_per_day": self.revenue_needed_per_day,
            "projected_revenue": self.projected_revenue,
            "projected_share": self.projected_share,
            "deals_run_rate": self.deals_run_rate,
            "deals_needed_per_day": self.deals_needed_per_day,
            "projected_deals": self.projected_deals,
            "average_won_amount": self.average_won_amount,
            "average_basis": self.average_basis,
            "average_from": self.average_from,
            "needed_won": self.needed_won,
            "needed_for": self.needed_for,
            "stages": [s.to_dict() for s in self.stages],
        }

    def row(self) -> dict[str, object]:
        out = {k: v for k, v in self.to_dict().items() if k not in ("stages", "won_deal_ids")}
        out["stage_gaps"] = "; ".join(s.phrase for s in self.stages)
        return out


@dataclass(frozen=True)
class TargetsResult:
    as_of: datetime
    currency: str | None
    targets: tuple[TargetProgress, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "currency": self.currency,
            "targets": [t.to_dict() for t in self.targets],
            "notes": list(self.notes),
        }

    def rows(self) -> list[dict[str, object]]:
        return [t.row() for t in self.targets]


def target_progress(
    data: CrmData,
    settings: PipelineSettings,
    as_of: datetime,
    targets: Sequence[Target] | None = None,
) -> TargetsResult:
    """Every target's attainment at ``as_of`` (the settings' targets unless ``targets``)."""
    as_of = as_of.astimezone(UTC)
    chosen = tuple(settings.targets if targets is None else targets)
    every = journeys_as_of(data, as_of)
    money = money_for(settings, data.deals)
    progress = tuple(_progress(t, every, money, as_of) for t in chosen)
    notes = []
    if not chosen:
        notes.append(
            "no targets: add targets to the settings file, or pass --period with --revenue "
            "and/or --deals"
        )
    if settings.currency is None and money.currency is not None:
        notes.append(
            f"no report currency in the settings: revenue is in {money.currency}, the deals' "
            "most common currency"
        )
    missing = sorted(
        {
            str(j.deal.currency)
            for j in every
            if j.status is DealStatus.WON
            and j.deal.amount is not None
            and money.rate(j.deal.currency) is None
        }
    )
    if missing:
        notes.append(
            f"no exchange rate for {', '.join(missing)}: those won deals add no revenue "
            "(add them under rates in the settings)"
        )
    return TargetsResult(as_of, money.currency, progress, tuple(notes))


def in_scope(deal: Deal, target: Target) -> bool:
    if target.owner is not None:
        return deal.owner == target.owner
    if target.team is not None:
        return deal.team == target.team
    return True


def _progress(
    target: Target, every: Sequence[Journey], money: Money, as_of: datetime
) -> TargetProgress:
    period = target.period
    mine = [j for j in every if in_scope(j.deal, target)]
    won = [
        j
        for j in mine
        if j.status is DealStatus.WON
        and j.closed_at is not None
        and period.contains(j.closed_at)
        and j.closed_at <= as_of
    ]
    revenue, without_rate, without_amount = 0.0, 0, 0
    for journey in won:
        value, how = money.convert(journey.deal)
        if how == NO_AMOUNT:
            without_amount += 1
        elif value is None:
            without_rate += 1
        else:
            revenue += value
    total = (period.end - period.start).total_seconds() / DAY_SECONDS
    elapsed = min(max((as_of - period.start).total_seconds() / DAY_SECONDS, 0.0), total)
    remaining = total - elapsed
    state = "not started" if elapsed == 0 else "ended" if remaining == 0 else "in progress"
    revenue_gap = None if target.revenue is None else max(target.revenue - revenue, 0.0)
    deals_gap = None if target.deals is None else max(target.deals - len(won), 0)
    average, basis, learned_from = _average_won(target, every, money, as_of)
    needed_won, needed_for = _needed_won(revenue_gap, deals_gap, average)
    stages: tuple[StageGap, ...] = ()
    if needed_won:  # None: no way to tell; 0: the target is met
        stages = _stage_gaps(needed_won, mine, every, as_of)
    revenue_rate = revenue / elapsed if elapsed > 0 else None
    deals_rate = len(won) / elapsed if elapsed > 0 else None
    return TargetProgress(
        target=target,
        state=state,
        won_deals=len(won),
        won_revenue=revenue,
        won_ids=tuple(sorted(j.deal.deal_id for j in won)),
        without_rate=without_rate,
        without_amount=without_amount,
        days_total=total,
        days_elapsed=elapsed,
        days_remaining=remaining,
        revenue_gap=revenue_gap,
        deals_gap=deals_gap,
        revenue_run_rate=revenue_rate,
        revenue_needed_per_day=_per_day(revenue_gap, remaining),
        projected_revenue=None if revenue_rate is None else revenue + revenue_rate * remaining,
        deals_run_rate=deals_rate,
        deals_needed_per_day=_per_day(deals_gap, remaining),
        projected_deals=None if deals_rate is None else len(won) + deals_rate * remaining,
        average_won_amount=average,
        average_basis=basis,
        average_from=learned_from,
        needed_won=needed_won,
        needed_for=needed_for,
        stages=stages,
    )


def _per_day(gap: float | None, remaining: float) -> float | None:
    if gap is None or remaining <= 0:
        return None
    return gap / remaining


def _average_won(
    target: Target, every: Sequence[Journey], money: Money, as_of: datetime
) -> tuple[float | None, str, int]:
    """The average won amount in the report currency: the target's own won deals closed before
    ``as_of``, else every won deal closed before it."""
    won = [
        j
        for j in every
        if j.status is DealStatus.WON and j.closed_at is not None and j.closed_at < as_of
    ]
    own_basis = "owner" if target.owner else "team" if target.team else "everyone"
    for basis, deals in (
        (own_basis, [j for j in won if in_scope(j.deal, target)]),
        ("all won deals", won),
    ):
        amounts = [a for j in deals if (a := money.convert(j.deal)[0]) is not None]
        if amounts:
            return sum(amounts) / len(amounts), basis, len(amounts)
    return None, "none", 0


def _ceil(value: float) -> int:
    return math.ceil(value - _EPSILON)


def _needed_won(
    revenue_gap: float | None, deals_gap: int | None, average: float | None
) -> tuple[int | None, str | None]:
    from_revenue = None
    if revenue_gap is not None and average is not None and average > 0:
        from_revenue = _ceil(revenue_gap / average)
    if from_revenue is None and deals_gap is None:
        return None, None
    if deals_gap is None or (from_revenue is not None and from_revenue >= deals_gap):
        return from_revenue, "revenue"
    return deals_gap, "deals"


def _stage_gaps(
    needed_won: int, mine: Sequence[Journey], every: Sequence[Journey], as_of: datetime
) -> tuple[StageGap, ...]:
    pipelines: dict[str, Pipeline] = {}
    for journey in mine or every:
        pipelines.setdefault(journey.pipeline.name, journey.pipeline)
    several = len(pipelines) > 1
    gaps = []
    for name in sorted(pipelines):
        pipeline = pipelines[name]
        rates = stage_win_rates(every, pipeline, closed_before=as_of)
        open_positions = [
            position
            for j in mine
            if j.status is DealStatus.OPEN
            and j.deal.pipeline == name
            and (position := pipeline.position(j.deal.stage)) is not None
        ]
        for index, stage in enumerate(pipeline.stages):
            rate = rates[stage]
            at_or_past = sum(1 for p in open_positions if p >= index)
            needed = _ceil(needed_won / rate.rate) if rate.rate > 0 else None
            more = None if needed is None else max(needed - at_or_past, 0)
            gaps.append(
                StageGap(
                    name,
                    stage,
                    rate.rate,
                    rate.basis,
                    needed,
                    at_or_past,
                    more,
                    _phrase(stage, name if several else None, needed, at_or_past, more),
                )
            )
    return tuple(gaps)


def _phrase(
    stage: str, pipeline: str | None, needed: int | None, at_or_past: int, more: int | None
) -> str:
    where = stage if pipeline is None else f"{pipeline}/{stage}"
    if needed is None or more is None:
        return f"no {where} deal has been won at today's rates: more deals there close no gap"
    if more == 0:
        return f"enough {where} deals already ({at_or_past} open at or past it, {needed} needed)"
    return f"{more} more {where} deals at today's rates"
