"""Follow-ups over the open deals (docs/pipeline.md, "Follow-ups"): each deal's cadence of
touches since it entered its current stage, which touches were done on time, late or not at all,
which deals are rotting, and the "call today" list ranked by the value at risk.

Rules, all in UTC calendar days:

- A deal's cadence is the first conditional cadence of the settings whose ``when`` matches the
  deal, else the settings' default (or only unconditional) cadence, else the built-in
  :data:`STANDARD_CADENCE` (days 0, 1, 3, 7, 14, 30).
- Touch *k* (day *d*) is due on the day the deal entered its current stage plus *d* days. The
  deal's done activities (any kind) from that entry up to the as-of time, in time order, fulfil
  the touches in order: the k-th done activity fulfils touch k, **on time** if it was done by the
  end of the touch's due day, **late** otherwise. An unfulfilled touch is **overdue** when its due
  day is before the as-of day, **due today** on the as-of day, **upcoming** after it.
- A deal is **rotting** when it has been idle for more than its stage's rotting limit (days):
  idle since the latest of its last done activity, its last stage change and its creation.
- The **call today** list holds the deals with an overdue touch, a touch due today, a planned CRM
  activity due today or earlier, or rotting; ranked by value at risk (amount in the report
  currency x the stage's win probability learned from deals closed before the as-of time),
  highest first; deals whose value cannot be computed (no amount, no exchange rate, no win rate)
  come last, flagged. Ties: more overdue touches first, then longer idle, then deal id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from funnelscope.analyses.pipeline.journeys import Journey, journeys_as_of
from funnelscope.analyses.pipeline.money import NO_AMOUNT, Money, money_for
from funnelscope.analyses.pipeline.rates import StageRate, stage_win_rates
from funnelscope.model.deals import Activity, CrmData, Deal, DealStatus
from funnelscope.model.pipeline_settings import DEAL_FIELDS, Cadence, PipelineSettings

STANDARD_CADENCE = Cadence("standard", (0, 1, 3, 7, 14, 30))
DAY_SECONDS = 86400.0


class TouchStatus(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    OVERDUE = "overdue"
    DUE_TODAY = "due_today"
    UPCOMING = "upcoming"


@dataclass(frozen=True)
class Touch:
    """One planned touch of a deal's cadence and the done activity that fulfilled it, if any."""

    number: int  # 1-based place in the cadence
    day: int  # days after the stage entry day
    due: date
    status: TouchStatus
    done_at: datetime | None = None
    kind: str | None = None

    @property
    def days_late(self) -> int | None:
        if self.done_at is None:
            return None
        return max((self.done_at.astimezone(UTC).date() - self.due).days, 0)

    def to_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "day": self.day,
            "due": self.due.isoformat(),
            "status": self.status.value,
            "done_at": None if self.done_at is None else self.done_at.isoformat(),
            "kind": self.kind,
            "days_late": self.days_late,
        }


@dataclass(frozen=True)
class PlannedActivity:
    """An activity the CRM has planned (a due time, not done by the as-of time)."""

    kind: str
    due_at: datetime
    overdue: bool  # due on a day before the as-of day
    due_today: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "due_at": self.due_at.isoformat(),
            "overdue": self.overdue,
            "due_today": self.due_today,
        }


@dataclass(frozen=True)
class DealFollowup:
    deal_id: str
    name: str | None
    owner: str | None
    pipeline: str
    stage: str
    stage_entered_at: datetime
    days_in_stage: float  # from the stage entry to the as-of time
    cadence: str
    touches: tuple[Touch, ...]
    extra_done: int  # done activities beyond the cadence's touches
    planned: tuple[PlannedActivity, ...]
    last_activity_at: datetime | None
    idle_since: datetime
    idle_days: float
    rotting_limit: int
    rotting: bool
    amount: float | None
    currency: str | None
    amount_report: float | None  # in the report currency
    win_probability: float | None
    probability_basis: str | None
    value_at_risk: float | None
    flags: tuple[str, ...]

    def count(self, status: TouchStatus) -> int:
        return sum(1 for t in self.touches if t.status is status)

    @property
    def overdue(self) -> int:
        return self.count(TouchStatus.OVERDUE)

    @property
    def due_today(self) -> bool:
        return self.count(TouchStatus.DUE_TODAY) > 0

    @property
    def next_due(self) -> date | None:
        """The due day of the first unfulfilled touch (in the past when it is overdue)."""
        return next((t.due for t in self.touches if t.done_at is None), None)

    def reasons(self) -> tuple[str, ...]:
        found = []
        if self.overdue:
            found.append("overdue")
        if self.due_today:
            found.append("due_today")
        if any(p.overdue for p in self.planned):
            found.append("crm_overdue")
        if any(p.due_today for p in self.planned):
            found.append("crm_due_today")
        if self.rotting:
            found.append("rotting")
        return tuple(found)

    def to_dict(self) -> dict[str, object]:
        next_due = self.next_due
        return {
            "deal_id": self.deal_id,
            "name": self.name,
            "owner": self.owner,
            "pipeline": self.pipeline,
            "stage": self.stage,
            "stage_entered_at": self.stage_entered_at.isoformat(),
            "days_in_stage": self.days_in_stage,
            "cadence": self.cadence,
            "on_time": self.count(TouchStatus.ON_TIME),
            "late": self.count(TouchStatus.LATE),
            "overdue": self.overdue,
            "due_today": self.due_today,
            "upcoming": self.count(TouchStatus.UPCOMING),
            "extra_done": self.extra_done,
            "next_due": None if next_due is None else next_due.isoformat(),
            "touches": [t.to_dict() for t in self.touches],
            "planned": [p.to_dict() for p in self.planned],
            "last_activity_at": _iso(self.last_activity_at),
            "idle_since": self.idle_since.isoformat(),
            "idle_days": self.idle_days,
            "rotting_limit": self.rotting_limit,
            "rotting": self.rotting,
            "amount": self.amount,
            "currency": self.currency,
            "amount_report": self.amount_report,
            "win_probability": self.win_probability,
            "probability_basis": self.probability_basis,
            "value_at_risk": self.value_at_risk,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class CallItem:
    rank: int
    reasons: tuple[str, ...]
    deal: DealFollowup

    def row(self) -> dict[str, object]:
        deal = self.deal
        next_due = deal.next_due
        return {
            "rank": self.rank,
            "deal_id": deal.deal_id,
            "name": deal.name,
            "owner": deal.owner,
            "stage": deal.stage,
            "reasons": " ".join(self.reasons),
            "value_at_risk": deal.value_at_risk,
            "amount_report": deal.amount_report,
            "win_probability": deal.win_probability,
            "overdue": deal.overdue,
            "next_due": None if next_due is None else next_due.isoformat(),
            "idle_days": deal.idle_days,
            "rotting": deal.rotting,
            "flags": "; ".join(deal.flags),
        }


@dataclass(frozen=True)
class FollowupsResult:
    as_of: datetime
    currency: str | None
    owner: str | None
    pipeline: str | None
    deals: tuple[DealFollowup, ...]  # every open deal (of the owner and pipeline), by deal id
    call_today: tuple[CallItem, ...]  # ranked, cut to the limit
    on_list: int  # deals on the call-today list before the limit
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "currency": self.currency,
            "owner": self.owner,
            "pipeline": self.pipeline,
            "open_deals": len(self.deals),
            "overdue_deals": sum(1 for d in self.deals if d.overdue),
            "due_today_deals": sum(1 for d in self.deals if d.due_today),
            "rotting_deals": sum(1 for d in self.deals if d.rotting),
            "on_list": self.on_list,
            "call_today": [item.row() for item in self.call_today],
            "deals": [d.to_dict() for d in self.deals],
            "notes": list(self.notes),
        }

    def rows(self) -> list[dict[str, object]]:
        return [item.row() for item in self.call_today]


def followups(
    data: CrmData,
    settings: PipelineSettings,
    as_of: datetime,
    *,
    owner: str | None = None,
    pipeline: str | None = None,
    limit: int | None = None,
) -> FollowupsResult:
    """The open deals' follow-up state at ``as_of`` and the ranked call-today list (of one
    owner's deals, or one pipeline's, when given; win rates are learned from every deal)."""
    as_of = as_of.astimezone(UTC)
    every = journeys_as_of(data, as_of)
    rates: dict[str, dict[str, StageRate]] = {}
    by_deal: dict[str, list[Activity]] = {}
    for activity in data.activities:
        by_deal.setdefault(activity.deal_id, []).append(activity)
    money = money_for(settings, data.deals)
    deals = []
    fell_back = False
    for journey in every:
        deal = journey.deal
        if deal.status is not DealStatus.OPEN or (owner is not None and deal.owner != owner):
            continue
        if pipeline is not None and deal.pipeline != pipeline:
            continue
        if journey.pipeline.name not in rates:
            rates[journey.pipeline.name] = stage_win_rates(
                every, journey.pipeline, closed_before=as_of
            )
        cadence = settings.cadence_for(_values(deal))
        fell_back = fell_back or cadence is None
        deals.append(
            deal_followup(
                journey,
                cadence or STANDARD_CADENCE,
                by_deal.get(deal.deal_id, []),
                settings,
                money,
                rates[journey.pipeline.name],
                as_of,
            )
        )
    listed = sorted((d for d in deals if d.reasons()), key=_rank_key)
    shown = listed if limit is None else listed[:limit]
    notes = []
    if fell_back:
        notes.append(
            "no cadence in the settings applies to some deals: they follow the built-in "
            f"'standard' cadence (days {', '.join(str(d) for d in STANDARD_CADENCE.days)})"
        )
    notes.extend(_currency_notes(deals, settings, money))
    return FollowupsResult(
        as_of=as_of,
        currency=money.currency,
        owner=owner,
        pipeline=pipeline,
        deals=tuple(sorted(deals, key=lambda d: d.deal_id)),
        call_today=tuple(CallItem(i + 1, d.reasons(), d) for i, d in enumerate(shown)),
        on_list=len(listed),
        notes=tuple(notes),
    )


def deal_followup(
    journey: Journey,
    cadence: Cadence,
    activities: Sequence[Activity],
    settings: PipelineSettings,
    money: Money,
    rates: dict[str, StageRate],
    as_of: datetime,
) -> DealFollowup:
    """One open deal's touches, planned activities, idleness and value at risk at ``as_of``."""
    deal = journey.deal
    today = as_of.date()
    entered = max(stay.entered_at for stay in journey.stays)
    done = sorted(
        (a for a in activities if a.done_at is not None and a.done_at <= as_of),
        key=lambda a: a.done_at or as_of,
    )
    since_entry = [a for a in done if a.done_at is not None and a.done_at >= entered]
    touches = match_touches(cadence, entered, since_entry, today)
    planned = tuple(
        _planned(a, a.due_at, today)
        for a in sorted(activities, key=lambda a: (a.due_at or as_of, a.kind))
        if a.due_at is not None and (a.done_at is None or a.done_at > as_of)
    )
    last_activity = done[-1].done_at if done else None
    idle_since = max(t for t in (last_activity, entered, deal.created_at) if t is not None)
    idle_days = (as_of - idle_since).total_seconds() / DAY_SECONDS
    limit = settings.rotting_limit(deal.stage)
    amount_report, probability, basis, flags = _value_parts(deal, money, rates)
    value = None
    if amount_report is not None and probability is not None:
        value = amount_report * probability
    return DealFollowup(
        deal_id=deal.deal_id,
        name=deal.name,
        owner=deal.owner,
        pipeline=deal.pipeline,
        stage=deal.stage,
        stage_entered_at=entered,
        days_in_stage=(as_of - entered).total_seconds() / DAY_SECONDS,
        cadence=cadence.name,
        touches=touches,
        extra_done=max(len(since_entry) - len(cadence.days), 0),
        planned=planned,
        last_activity_at=last_activity,
        idle_since=idle_since,
        idle_days=idle_days,
        rotting_limit=limit,
        rotting=idle_days > limit,
        amount=deal.amount,
        currency=deal.currency,
        amount_report=amount_report,
        win_probability=probability,
        probability_basis=basis,
        value_at_risk=value,
        flags=flags,
    )


def match_touches(
    cadence: Cadence, entered: datetime, done: Sequence[Activity], today: date
) -> tuple[Touch, ...]:
    """The k-th done activity (in time order) fulfils the k-th touch of the cadence."""
    start = entered.astimezone(UTC).date()
    touches = []
    for k, day in enumerate(cadence.days):
        due = start + timedelta(days=day)
        if k < len(done):
            activity = done[k]
            done_at = activity.done_at
            assert done_at is not None
            status = (
                TouchStatus.ON_TIME if done_at.astimezone(UTC).date() <= due else TouchStatus.LATE
            )
            touches.append(Touch(k + 1, day, due, status, done_at, activity.kind))
        elif due < today:
            touches.append(Touch(k + 1, day, due, TouchStatus.OVERDUE))
        elif due == today:
            touches.append(Touch(k + 1, day, due, TouchStatus.DUE_TODAY))
        else:
            touches.append(Touch(k + 1, day, due, TouchStatus.UPCOMING))
    return tuple(touches)


def _planned(activity: Activity, due_at: datetime, today: date) -> PlannedActivity:
    due = due_at.astimezone(UTC).date()
    return PlannedActivity(activity.kind, due_at, due < today, due == today)


def _value_parts(
    deal: Deal, money: Money, rates: dict[str, StageRate]
) -> tuple[float | None, float | None, str | None, tuple[str, ...]]:
    flags = []
    amount_report, how = money.convert(deal)
    if how == NO_AMOUNT:
        flags.append("no amount")
    elif amount_report is None:
        flags.append(f"no exchange rate for {deal.currency}")
    stage_rate = rates.get(deal.stage)
    if stage_rate is None:
        flags.append(f"no win rate for stage {deal.stage}")
        return amount_report, None, None, tuple(flags)
    return amount_report, stage_rate.rate, stage_rate.basis, tuple(flags)


def _rank_key(deal: DealFollowup) -> tuple[bool, float, int, float, str]:
    value = deal.value_at_risk
    return (value is None, -(value or 0.0), -deal.overdue, -deal.idle_days, deal.deal_id)


def _values(deal: Deal) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name in DEAL_FIELDS:
        value = getattr(deal, name)
        values[name] = None if value is None else str(value)
    return values


def _currency_notes(
    deals: Sequence[DealFollowup], settings: PipelineSettings, money: Money
) -> list[str]:
    notes = []
    if settings.currency is None and money.currency is not None:
        notes.append(
            f"no report currency in the settings: amounts are in {money.currency}, the deals' "
            "most common currency"
        )
    missing = sorted(
        {str(d.currency) for d in deals if d.amount is not None and d.amount_report is None}
    )
    if missing:
        notes.append(
            f"no exchange rate for {', '.join(missing)}: those deals are ranked last (add them "
            "under rates in the settings)"
        )
    return notes


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
