"""How well the forecast would have done: replay each past month from its first day and compare
the forecast with the revenue actually won in it (docs/pipeline.md, "Forecast backtest").

For each month M (UTC) in which at least one deal closed, and which ended by the as-of moment:
as of M's first day, each deal's state comes from its journey's stays (``snapshot``), win rates
are learned only from deals closed before that day, and two forecasts are made:

* **by expected close**: the sum of amount x probability over the deals open then whose expected
  close date falls in M. Exports keep no history of the expected close date, so this uses the
  export's *current* value: a deal pushed out later shows where it ended up, which flatters
  this forecast for slipped deals.
* **by share**: amount x probability summed over every deal open then (what they are expected to
  bring eventually), times the historical share of that eventual revenue won within one month:
  over the earlier month starts s (whose next month had begun by M's first day), of the deals
  open at s and known to be won by M's first day, the share won before s's next month. Months
  with no such deal have no share and no forecast by share.

The actual revenue of M is the amount of every deal won now whose close time falls in M (a deal
reopened after its win, and open or lost now, is not counted). Amounts are in the report
currency; deals whose currency has no rate are left out of forecasts and actuals alike.
Error = forecast - actual; MAPE is the mean of |error| / actual over months with an actual above
0; bias is the mean error over all months with a forecast."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from funnelscope.analyses.pipeline.forecast import learned_rates, probability_of
from funnelscope.analyses.pipeline.journeys import CLOSING, Journey, journeys, states_at
from funnelscope.analyses.pipeline.money import NO_RATE, Money
from funnelscope.analyses.pipeline.rates import MIN_CLOSED
from funnelscope.model.deals import CrmData, DealStatus


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BacktestMonth:
    month: str  # 2026-03
    start: datetime
    open_deals: int  # open on the month's first day
    expected_deals: int  # of which expected to close in the month (current expected close)
    forecast: float  # by expected close
    share: float | None  # share of eventual wins won within one month, known then
    forecast_by_share: float | None
    actual: float
    actual_deals: int
    not_converted: int  # deals left out: their currency has no rate

    @property
    def error(self) -> float:
        return self.forecast - self.actual

    @property
    def error_by_share(self) -> float | None:
        return None if self.forecast_by_share is None else self.forecast_by_share - self.actual

    def to_dict(self) -> dict[str, object]:
        return {
            "month": self.month,
            "open_deals": self.open_deals,
            "expected_deals": self.expected_deals,
            "forecast": self.forecast,
            "actual": self.actual,
            "actual_deals": self.actual_deals,
            "error": self.error,
            "share_won_within_month": self.share,
            "forecast_by_share": self.forecast_by_share,
            "error_by_share": self.error_by_share,
            "not_converted": self.not_converted,
        }


@dataclass(frozen=True)
class Accuracy:
    months: int  # months with a forecast
    mape: float | None  # mean absolute percentage error (0.25: 25%), over months with actual > 0
    mape_months: int
    bias: float | None  # mean signed error (forecast - actual), in the report currency

    def to_dict(self) -> dict[str, object]:
        return {
            "months": self.months,
            "mape": self.mape,
            "mape_months": self.mape_months,
            "bias": self.bias,
        }


def accuracy(pairs: Sequence[tuple[float | None, float]]) -> Accuracy:
    """MAPE and bias of (forecast, actual) pairs; a pair without forecast is left out."""
    known = [(f, a) for f, a in pairs if f is not None]
    relative = [abs(f - a) / a for f, a in known if a > 0]
    return Accuracy(
        months=len(known),
        mape=sum(relative) / len(relative) if relative else None,
        mape_months=len(relative),
        bias=sum(f - a for f, a in known) / len(known) if known else None,
    )


@dataclass(frozen=True)
class Backtest:
    as_of: datetime
    currency: str | None
    min_closed: int
    months: tuple[BacktestMonth, ...]

    @property
    def by_close(self) -> Accuracy:
        return accuracy([(m.forecast, m.actual) for m in self.months])

    @property
    def by_share(self) -> Accuracy:
        return accuracy([(m.forecast_by_share, m.actual) for m in self.months])

    def to_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "currency": self.currency,
            "min_closed": self.min_closed,
            "expected_close_used": "current",  # exports keep no history of it
            "months": [m.to_dict() for m in self.months],
            "accuracy": {
                "by_expected_close": self.by_close.to_dict(),
                "by_share": self.by_share.to_dict(),
            },
        }

    def rows(self) -> list[dict[str, object]]:
        return [m.to_dict() for m in self.months]


def closing_months(full: Sequence[Journey]) -> list[datetime]:
    """First days of the months (UTC) in which a deal closed: its close time, and every move
    into a won or lost stage its history records (a reopened deal closed then too)."""
    starts = {month_start(j.closed_at) for j in full if j.closed_at is not None}
    for journey in full:
        for stay in journey.stays:
            if journey.pipeline.kind(stay.stage) in CLOSING:
                starts.add(month_start(stay.entered_at))
    return sorted(starts)


def backtest(
    data: CrmData, money: Money, as_of: datetime, *, min_closed: int = MIN_CLOSED
) -> Backtest:
    full = journeys(data)
    months = [m for m in closing_months(full) if next_month(m) <= as_of]
    won_at = {
        j.deal.deal_id: j.closed_at
        for j in full
        if j.status is DealStatus.WON and j.closed_at is not None
    }
    first = min((month_start(j.deal.created_at) for j in full), default=None)
    open_at: dict[datetime, set[str]] = {}
    if months and first is not None:
        start = first
        while start < months[-1]:
            open_at[start] = {
                s.deal.deal_id for s in states_at(full, start) if s.status is DealStatus.OPEN
            }
            start = next_month(start)
    by_id = {j.deal.deal_id: j.deal for j in full}
    result = []
    for start in months:
        end = next_month(start)
        rates = learned_rates(data, start, min_closed)
        opened = [s.deal for s in states_at(full, start) if s.status is DealStatus.OPEN]
        weighted: list[tuple[float, bool]] = []  # (amount x probability, expected in M)
        skipped = 0
        for deal in opened:
            amount, conversion = money.convert(deal)
            skipped += conversion == NO_RATE
            expected = deal.expected_close is not None and start <= deal.expected_close < end
            if amount is not None:
                weighted.append((amount * probability_of(deal, rates).rate, expected))
        won = [d for d, at in won_at.items() if start <= at < end]
        actual = 0.0
        for deal_id in won:
            amount, conversion = money.convert(by_id[deal_id])
            skipped += conversion == NO_RATE
            actual += amount or 0.0
        share = share_won_within_month(open_at, won_at, start)
        everything = float(sum(w for w, _ in weighted))
        result.append(
            BacktestMonth(
                month=f"{start:%Y-%m}",
                start=start,
                open_deals=len(opened),
                expected_deals=sum(
                    1
                    for d in opened
                    if d.expected_close is not None and start <= d.expected_close < end
                ),
                forecast=float(sum(w for w, expected in weighted if expected)),
                share=share,
                forecast_by_share=None if share is None else share * everything,
                actual=actual,
                actual_deals=len(won),
                not_converted=skipped,
            )
        )
    return Backtest(as_of, money.currency, min_closed, tuple(result))


def share_won_within_month(
    open_at: dict[datetime, set[str]], won_at: dict[str, datetime], moment: datetime
) -> float | None:
    """Of the deals open at an earlier month start s (whose next month began by ``moment``) and
    won, as known at ``moment``, at or after s: the share won before s's next month."""
    within = eventually = 0
    for start, ids in open_at.items():
        end = next_month(start)
        if end > moment:
            continue
        for deal_id in ids:
            at = won_at.get(deal_id)
            if at is None or not start <= at < moment:
                continue
            eventually += 1
            within += at < end
    return within / eventually if eventually else None
