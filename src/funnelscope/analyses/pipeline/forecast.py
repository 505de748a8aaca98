"""The revenue forecast for a period: every open deal weighted by its stage's win probability,
in the buckets sales teams call closed won, commit, best case and pipeline; deals whose
expected close has passed (slipped); by owner, team or source. docs/pipeline.md, "Forecast".

Everything is as of one moment: deals and their stages as their journeys had them then
(``journeys.states_at``), win rates learned only from deals closed before it (from the journeys
as they stood then, ``journeys_as_of``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from funnelscope.analyses.pipeline.journeys import DealState, journeys, journeys_as_of, states_at
from funnelscope.analyses.pipeline.money import NO_RATE, Money
from funnelscope.analyses.pipeline.rates import MIN_CLOSED, StageRate, stage_win_rates
from funnelscope.model.deals import CrmData, Deal, DealStatus, Pipeline
from funnelscope.model.pipeline_settings import Period

COMMIT_THRESHOLD = 0.7
GROUP_FIELDS = ("owner", "team", "source")
NONE_GROUP = "(none)"
UNKNOWN_STAGE = "unknown stage"
COMMIT, BEST_CASE, PIPELINE = "commit", "best case", "pipeline"


@dataclass(frozen=True)
class PipelineRates:
    pipeline: str
    stages: tuple[StageRate, ...]

    def to_dict(self) -> dict[str, object]:
        return {"pipeline": self.pipeline, "stages": [s.to_dict() for s in self.stages]}


@dataclass(frozen=True)
class Probability:
    rate: float
    basis: str


def learned_rates(
    data: CrmData, closed_before: datetime, min_closed: int = MIN_CLOSED
) -> dict[str, dict[str, StageRate]]:
    """Each pipeline's stage win rates from its deals closed before ``closed_before``, as the
    journeys stood then (a deal reopened later still counts as it had closed)."""
    then = journeys_as_of(data, closed_before)
    pipelines: dict[str, Pipeline] = {}
    for journey in then:
        name = journey.deal.pipeline
        pipelines.setdefault(name, data.pipeline(name) or journey.pipeline)
    return {
        name: stage_win_rates(then, pipeline, closed_before=closed_before, min_closed=min_closed)
        for name, pipeline in sorted(pipelines.items())
    }


def probability_of(deal: Deal, rates: dict[str, dict[str, StageRate]]) -> Probability:
    """The win probability of an open deal: its stage's rate. A stage the pipeline does not
    list as open (renamed, or a closing stage the deal is open in) takes the first stage's rate,
    basis ``unknown stage``."""
    stages = rates.get(deal.pipeline, {})
    rate = stages.get(deal.stage)
    if rate is not None:
        return Probability(rate.rate, rate.basis)
    first = next(iter(stages.values()), None)
    return Probability(first.rate if first is not None else 0.0, UNKNOWN_STAGE)


def group_value(deal: Deal, by: str | None) -> str:
    if by is None:
        return "all"
    value = getattr(deal, by)
    return NONE_GROUP if value is None else str(value)


@dataclass(frozen=True)
class ForecastDeal:
    deal_id: str
    name: str | None
    pipeline: str
    stage: str
    owner: str | None
    team: str | None
    source: str | None
    amount: float | None  # as written, in ``currency``
    currency: str | None
    converted: float | None  # in the report currency; None: not converted (see conversion)
    conversion: str  # converted, no amount, no rate
    probability: float
    basis: str
    weighted: float | None  # converted x probability
    expected_close: datetime | None
    in_period: bool  # expected to close in the period
    bucket: str  # commit, best case (in the period, below the threshold), pipeline (the rest)
    days_overdue: int | None  # slipped: whole days from its expected close date to the as-of date

    def to_dict(self) -> dict[str, object]:
        return {
            "deal_id": self.deal_id,
            "name": self.name,
            "pipeline": self.pipeline,
            "stage": self.stage,
            "owner": self.owner,
            "team": self.team,
            "source": self.source,
            "amount": self.amount,
            "currency": self.currency,
            "converted_amount": self.converted,
            "conversion": self.conversion,
            "probability": self.probability,
            "basis": self.basis,
            "weighted": self.weighted,
            "expected_close": None
            if self.expected_close is None
            else self.expected_close.date().isoformat(),
            "in_period": self.in_period,
            "bucket": self.bucket,
            "days_overdue": self.days_overdue,
        }


@dataclass(frozen=True)
class Buckets:
    """Sums in the report currency; counts include deals left out of the sums (not converted,
    or without amount)."""

    closed_won: float
    closed_won_deals: int
    commit: float
    commit_deals: int
    best_case: float  # commit + every other open deal expected in the period
    best_case_deals: int
    pipeline: float  # every open deal
    pipeline_deals: int
    weighted: float  # sum of amount x probability over open deals expected in the period
    slipped_deals: int
    not_converted: int  # open or won-in-period deals whose currency has no rate

    @property
    def expected(self) -> float:
        """Closed won so far plus the weighted open deals of the period."""
        return self.closed_won + self.weighted

    def to_dict(self) -> dict[str, object]:
        return {
            "closed_won": self.closed_won,
            "closed_won_deals": self.closed_won_deals,
            "commit": self.commit,
            "commit_deals": self.commit_deals,
            "best_case": self.best_case,
            "best_case_deals": self.best_case_deals,
            "pipeline": self.pipeline,
            "pipeline_deals": self.pipeline_deals,
            "weighted": self.weighted,
            "expected": self.expected,
            "slipped_deals": self.slipped_deals,
            "not_converted": self.not_converted,
        }


@dataclass(frozen=True)
class WonDeal:
    deal_id: str
    owner: str | None
    team: str | None
    source: str | None
    closed_at: datetime
    amount: float | None
    currency: str | None
    converted: float | None
    conversion: str

    def to_dict(self) -> dict[str, object]:
        return {
            "deal_id": self.deal_id,
            "owner": self.owner,
            "team": self.team,
            "source": self.source,
            "closed_at": self.closed_at.isoformat(),
            "amount": self.amount,
            "currency": self.currency,
            "converted_amount": self.converted,
            "conversion": self.conversion,
        }


@dataclass(frozen=True)
class Group:
    name: str
    buckets: Buckets

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, **self.buckets.to_dict()}


@dataclass(frozen=True)
class Forecast:
    period: Period
    as_of: datetime
    currency: str | None
    commit_threshold: float
    min_closed: int
    by: str | None
    totals: Buckets
    groups: tuple[Group, ...]
    rates: tuple[PipelineRates, ...]
    deals: tuple[ForecastDeal, ...]  # every open deal
    won: tuple[WonDeal, ...]  # deals won in the period up to as-of

    @property
    def slipped(self) -> tuple[ForecastDeal, ...]:
        late = [d for d in self.deals if d.days_overdue is not None]
        return tuple(sorted(late, key=lambda d: (-(d.days_overdue or 0), d.deal_id)))

    @property
    def not_converted(self) -> tuple[str, ...]:
        ids = [d.deal_id for d in self.deals if d.conversion == NO_RATE]
        ids += [w.deal_id for w in self.won if w.conversion == NO_RATE]
        return tuple(sorted(ids))

    def to_dict(self) -> dict[str, object]:
        return {
            "period": {
                "label": self.period.label,
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
            },
            "as_of": self.as_of.isoformat(),
            "currency": self.currency,
            "commit_threshold": self.commit_threshold,
            "min_closed": self.min_closed,
            "totals": self.totals.to_dict(),
            "by": self.by,
            "groups": [g.to_dict() for g in self.groups],
            "rates": [r.to_dict() for r in self.rates],
            "deals": [d.to_dict() for d in self.deals],
            "won": [w.to_dict() for w in self.won],
            "slipped": [
                {
                    "deal_id": d.deal_id,
                    "owner": d.owner,
                    "stage": d.stage,
                    "expected_close": None
                    if d.expected_close is None
                    else d.expected_close.date().isoformat(),
                    "days_overdue": d.days_overdue,
                    "times_moved": None,  # exports keep no history of the expected close
                    "converted_amount": d.converted,
                }
                for d in self.slipped
            ],
            "not_converted": list(self.not_converted),
        }

    def rows(self) -> list[dict[str, object]]:
        """One row for all deals, then one per group."""
        rows: list[dict[str, object]] = [{"group": "all", **self.totals.to_dict()}]
        rows += [{"group": g.name, **g.buckets.to_dict()} for g in self.groups]
        return rows


def forecast(
    data: CrmData,
    money: Money,
    period: Period,
    as_of: datetime,
    *,
    commit_threshold: float = COMMIT_THRESHOLD,
    min_closed: int = MIN_CLOSED,
    by: str | None = None,
) -> Forecast:
    """The forecast of ``period`` as of ``as_of`` (docs/pipeline.md, "Forecast")."""
    if by is not None and by not in GROUP_FIELDS:
        raise ValueError(f"group by one of {GROUP_FIELDS}, not {by!r}")
    state = states_at(journeys(data), as_of)
    rates = learned_rates(data, as_of, min_closed)
    deals = tuple(
        forecast_deal(s.deal, rates, money, period, as_of, commit_threshold)
        for s in state
        if s.status is DealStatus.OPEN
    )
    won = tuple(
        won_deal(s, money)
        for s in state
        if s.status is DealStatus.WON and s.closed_at is not None and period.contains(s.closed_at)
    )
    groups: tuple[Group, ...] = ()
    if by is not None:
        by_name = {s.deal.deal_id: group_value(s.deal, by) for s in state}
        names = sorted(set(by_name.values()))
        groups = tuple(
            Group(
                name,
                buckets(
                    [d for d in deals if by_name[d.deal_id] == name],
                    [w for w in won if by_name[w.deal_id] == name],
                ),
            )
            for name in names
        )
        groups = tuple(g for g in groups if g.buckets.pipeline_deals or g.buckets.closed_won_deals)
    return Forecast(
        period=period,
        as_of=as_of,
        currency=money.currency,
        commit_threshold=commit_threshold,
        min_closed=min_closed,
        by=by,
        totals=buckets(deals, won),
        groups=groups,
        rates=tuple(PipelineRates(name, tuple(r.values())) for name, r in rates.items()),
        deals=tuple(sorted(deals, key=lambda d: d.deal_id)),
        won=tuple(sorted(won, key=lambda w: w.deal_id)),
    )


def forecast_deal(
    deal: Deal,
    rates: dict[str, dict[str, StageRate]],
    money: Money,
    period: Period,
    as_of: datetime,
    commit_threshold: float,
) -> ForecastDeal:
    converted, conversion = money.convert(deal)
    chance = probability_of(deal, rates)
    expected = deal.expected_close
    in_period = expected is not None and period.contains(expected)
    if in_period and chance.rate >= commit_threshold:
        bucket = COMMIT
    elif in_period:
        bucket = BEST_CASE
    else:
        bucket = PIPELINE
    overdue = None
    if expected is not None and expected.date() < as_of.date():
        overdue = (as_of.date() - expected.date()).days
    return ForecastDeal(
        deal_id=deal.deal_id,
        name=deal.name,
        pipeline=deal.pipeline,
        stage=deal.stage,
        owner=deal.owner,
        team=deal.team,
        source=deal.source,
        amount=deal.amount,
        currency=deal.currency,
        converted=converted,
        conversion=conversion,
        probability=chance.rate,
        basis=chance.basis,
        weighted=None if converted is None else converted * chance.rate,
        expected_close=expected,
        in_period=in_period,
        bucket=bucket,
        days_overdue=overdue,
    )


def won_deal(state: DealState, money: Money) -> WonDeal:
    deal = state.deal
    converted, conversion = money.convert(deal)
    assert state.closed_at is not None
    return WonDeal(
        deal.deal_id,
        deal.owner,
        deal.team,
        deal.source,
        state.closed_at,
        deal.amount,
        deal.currency,
        converted,
        conversion,
    )


def buckets(deals: Sequence[ForecastDeal], won: Sequence[WonDeal]) -> Buckets:
    def total(values: Sequence[float | None]) -> float:
        return float(sum(v for v in values if v is not None))

    commit = [d for d in deals if d.bucket == COMMIT]
    in_period = [d for d in deals if d.in_period]
    return Buckets(
        closed_won=total([w.converted for w in won]),
        closed_won_deals=len(won),
        commit=total([d.converted for d in commit]),
        commit_deals=len(commit),
        best_case=total([d.converted for d in in_period]),
        best_case_deals=len(in_period),
        pipeline=total([d.converted for d in deals]),
        pipeline_deals=len(deals),
        weighted=total([d.weighted for d in in_period]),
        slipped_deals=sum(1 for d in deals if d.days_overdue is not None),
        not_converted=sum(1 for d in deals if d.conversion == NO_RATE)
        + sum(1 for w in won if w.conversion == NO_RATE),
    )
