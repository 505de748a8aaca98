"""Customer lifetime value from order events: the RFM summary of each customer, a BG/NBD purchase
model and a Gamma-Gamma spend model fitted to it (by pymc-marketing, see `clv_models`), and each
customer's expected purchases, probability of being alive, expected order value and discounted
value over a horizon.

The summary follows the BG/NBD literature (Fader, Hardie & Lee 2005) as the `lifetimes` and
pymc-marketing summaries do, with one UTC calendar day as the period:

- a customer's *purchase days* are the days with at least one order; orders on one day are one
  purchase, their values summed;
- `frequency` = purchase days after the first (repeat purchases);
- `recency` = last purchase day - first purchase day (0 without a repeat);
- `T` = the observation's last day - first purchase day;
- `monetary_value` = the mean value of the repeat purchase days (the first purchase is left out),
  over the repeat days whose value is known and positive; `spend_count` says how many there were
  (the Gamma-Gamma model's `x`). 0 when there is none.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnelscope.analyses.clv_models import (
    ClvParameters,
    FittedModels,
    Predictions,
    fit_models,
    predict,
)
from funnelscope.errors import FunnelscopeError
from funnelscope.store.sources import EventSource

DAY_US = 86_400_000_000
MONTH_DAYS = 30  # the discount period, as lifetimes and pymc-marketing count a month
MIN_REPEAT_CUSTOMERS = 20  # fewer customers with a repeat purchase (or a repeat spend): refused
HOLDOUT_GROUPS = 7  # the holdout table's rows: calibration frequency 0 .. 6 and "7+"
_EPOCH_DAY = dt.date(1970, 1, 1)


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01 (the period numbers of the summary)."""
    return (day - _EPOCH_DAY).days


def day_text(number: int) -> str:
    return (_EPOCH_DAY + dt.timedelta(days=int(number))).isoformat()


@dataclass(frozen=True)
class OrderDays:
    """Each customer's purchase days, sorted by customer then day: one row per (customer, day)."""

    persons: np.ndarray  # the source's person key of each row (int64 keys or id text)
    days: np.ndarray  # int64 day numbers (UTC)
    values: np.ndarray  # float64: the day's summed known order values (0 where none known)
    valued: np.ndarray  # int64: how many of the day's orders had a numeric value
    integer_persons: bool

    @property
    def last_day(self) -> int | None:
        return int(self.days.max()) if len(self.days) else None


@dataclass(frozen=True)
class RfmSummary:
    """One row per customer (customers sorted by person key); see the module's definitions."""

    persons: np.ndarray
    first_day: np.ndarray  # int64 day numbers
    frequency: np.ndarray  # int64 repeat purchase days
    recency: np.ndarray  # float64 days
    T: np.ndarray  # float64 days
    monetary_value: np.ndarray  # float64 mean value of the repeat days with a positive value
    spend_count: np.ndarray  # int64 repeat days with a positive known value
    end_day: int  # the observation's last day (inclusive)
    integer_persons: bool

    @property
    def customers(self) -> int:
        return len(self.frequency)

    @property
    def repeat_customers(self) -> int:
        return int((self.frequency > 0).sum())

    @property
    def spend_customers(self) -> int:
        return int((self.spend_count > 0).sum())


def read_order_days(source: EventSource, order_event: str, value_property: str) -> OrderDays:
    """The per-day purchases of every customer: orders are events named `order_event`; their
    value is `value_property` read as a number (a value that is not a number counts as unknown)."""
    cols = source.columns([value_property])
    if value_property not in cols.properties:
        raise FunnelscopeError(
            f"--value: the events have no property {value_property!r}; name the property that "
            "holds each order's amount"
        )
    value_sql = cols.properties[value_property][0]
    where = f"{cols.event} = ?"
    if cols.invalid is not None:
        where += f" AND NOT ({cols.invalid})"
    sql = f"""
        SELECT person, day, SUM(value) AS value, COUNT(value) AS valued
        FROM (
            SELECT {cols.person} AS person,
                   CAST(floor(({cols.ts}) / {DAY_US}.0) AS BIGINT) AS day,
                   TRY_CAST({value_sql} AS DOUBLE) AS value
            FROM {cols.source}
            WHERE {where}
        )
        WHERE person IS NOT NULL AND day IS NOT NULL
        GROUP BY person, day
        ORDER BY person, day
    """
    table = source.duckdb_connection.sql(sql, params=[order_event]).to_arrow_table()
    persons = table.column("person").to_numpy(zero_copy_only=False)
    values = table.column("value").to_numpy(zero_copy_only=False)
    return OrderDays(
        persons=persons if cols.integer_person else persons.astype(object),
        days=table.column("day").to_numpy(zero_copy_only=False).astype(np.int64),
        values=np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0),
        valued=table.column("valued").to_numpy(zero_copy_only=False).astype(np.int64),
        integer_persons=cols.integer_person,
    )


def _rows_until(orders: OrderDays, last_day: int) -> OrderDays:
    keep = orders.days <= last_day
    return OrderDays(
        orders.persons[keep],
        orders.days[keep],
        orders.values[keep],
        orders.valued[keep],
        orders.integer_persons,
    )


def rfm_summary(orders: OrderDays, end_day: int | None = None) -> RfmSummary:
    """The RFM summary of every customer with a purchase on or before `end_day` (default: the
    last purchase day), from their purchase days up to and including `end_day`."""
    end = orders.last_day if end_day is None else end_day
    if end is None:
        end = 0
    rows = _rows_until(orders, end)
    n = len(rows.days)
    if n == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0, dtype=np.float64)
        return RfmSummary(
            rows.persons, empty_i, empty_i, empty_f, empty_f, empty_f, empty_i, end,
            orders.integer_persons,
        )  # fmt: skip
    new_person = np.ones(n, dtype=bool)
    new_person[1:] = rows.persons[1:] != rows.persons[:-1]
    starts = np.flatnonzero(new_person)
    ends = np.append(starts[1:], n) - 1
    first = rows.days[starts]
    spent = ~new_person & (rows.valued > 0) & (rows.values > 0)
    spend_count = np.add.reduceat(spent.astype(np.int64), starts)
    spend_sum = np.add.reduceat(np.where(spent, rows.values, 0.0), starts)
    monetary = np.divide(spend_sum, spend_count, out=np.zeros(len(starts)), where=spend_count > 0)
    return RfmSummary(
        persons=rows.persons[starts],
        first_day=first,
        frequency=(ends - starts).astype(np.int64),
        recency=(rows.days[ends] - first).astype(np.float64),
        T=(end - first).astype(np.float64),
        monetary_value=monetary,
        spend_count=spend_count,
        end_day=end,
        integer_persons=orders.integer_persons,
    )


@dataclass(frozen=True)
class CalibrationHoldout:
    """The summary over the calibration days and each of its customers' purchase days in the
    holdout: days after `calibration.end_day` up to and including `end_day`."""

    calibration: RfmSummary
    holdout_purchases: np.ndarray  # int64, aligned with calibration's customers
    holdout_days: int
    end_day: int


def calibration_holdout(orders: OrderDays, end_day: int, holdout_days: int) -> CalibrationHoldout:
    """Split at `end_day - holdout_days`: the calibration summary covers the days up to it; the
    holdout counts each calibration customer's purchase days after it, up to `end_day`."""
    calibration = rfm_summary(orders, end_day - holdout_days)
    later = (orders.days > calibration.end_day) & (orders.days <= end_day)
    index = np.searchsorted(calibration.persons, orders.persons[later])
    index = np.clip(index, 0, max(calibration.customers - 1, 0))
    known = (
        calibration.persons[index] == orders.persons[later]
        if calibration.customers
        else np.zeros(len(index), dtype=bool)
    )
    counts = np.bincount(index[known], minlength=calibration.customers).astype(np.int64)
    return CalibrationHoldout(calibration, counts, holdout_days, end_day)


def require_enough(summary: RfmSummary, minimum: int = MIN_REPEAT_CUSTOMERS) -> None:
    """Refuse a fit the data cannot carry: too few customers with a repeat purchase (BG/NBD) or
    with a repeat purchase of known positive value (Gamma-Gamma)."""
    if summary.customers == 0:
        raise FunnelscopeError(
            f"clv: no orders on or before {day_text(summary.end_day)}, the last day fitted; "
            "choose a later --end (or a shorter --holdout, which ends the fit earlier)"
        )
    if summary.repeat_customers < minimum:
        raise FunnelscopeError(
            f"clv: too few repeat customers to fit the purchase model: {summary.repeat_customers} "
            f"of {summary.customers} customers ordered on more than one day, and the BG/NBD "
            f"model needs at least {minimum}; use a longer order history (or a later --end, a "
            "shorter --holdout)"
        )
    if summary.spend_customers < minimum:
        raise FunnelscopeError(
            f"clv: too few repeat customers with a known order value to fit the spend model: "
            f"{summary.spend_customers} of {summary.repeat_customers} repeat customers have a "
            f"repeat order whose --value is a positive number, and the Gamma-Gamma model needs "
            f"at least {minimum}; check that --value names the order amount"
        )


@dataclass(frozen=True)
class CustomerValue:
    """One customer's summary and predictions."""

    person_id: str
    first_order: str  # YYYY-MM-DD (UTC)
    frequency: int
    recency: float
    T: float
    monetary_value: float
    expected_purchases: float  # over the horizon
    probability_alive: float
    expected_order_value: float  # Gamma-Gamma conditional expectation
    clv: float  # discounted value over the horizon

    def to_dict(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "first_order": self.first_order,
            "frequency": self.frequency,
            "recency": self.recency,
            "T": self.T,
            "monetary_value": _num(self.monetary_value),
            "expected_purchases": _num(self.expected_purchases),
            "probability_alive": _num(self.probability_alive),
            "expected_order_value": _num(self.expected_order_value),
            "clv": _num(self.clv),
        }


@dataclass(frozen=True)
class HoldoutGroup:
    """Customers of one calibration frequency (the last group: that many or more)."""

    frequency: str  # "0" .. "6", "7+"
    customers: int
    actual: float  # mean purchase days in the holdout
    predicted: float  # mean expected purchases over the holdout

    def to_dict(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "customers": self.customers,
            "actual_mean": _num(self.actual),
            "predicted_mean": _num(self.predicted),
        }


@dataclass(frozen=True)
class HoldoutCheck:
    """A fit on the calibration days against what its customers did in the holdout days."""

    calibration_end: str
    holdout_days: int
    customers: int
    actual_total: int
    predicted_total: float
    groups: tuple[HoldoutGroup, ...]
    parameters: ClvParameters

    @property
    def relative_error(self) -> float | None:
        if self.actual_total == 0:
            return None
        return (self.predicted_total - self.actual_total) / self.actual_total

    def to_dict(self) -> dict[str, Any]:
        return {
            "calibration_end": self.calibration_end,
            "holdout_days": self.holdout_days,
            "customers": self.customers,
            "actual_purchases": self.actual_total,
            "predicted_purchases": _num(self.predicted_total),
            "relative_error": _num(self.relative_error),
            "parameters": self.parameters.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
        }


@dataclass(frozen=True)
class ClvResult:
    order_event: str
    value_property: str
    end: str  # the observation's last day, YYYY-MM-DD (UTC)
    horizon_days: float
    discount: float  # per 30-day period
    customers: int
    repeat_customers: int
    spend_customers: int
    parameters: ClvParameters
    expected_purchases: float  # all customers, over the horizon
    mean_probability_alive: float
    total_clv: float
    top: tuple[CustomerValue, ...]  # by CLV, highest first
    holdout: HoldoutCheck | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def mean_clv(self) -> float:
        return self.total_clv / self.customers if self.customers else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_event": self.order_event,
            "value_property": self.value_property,
            "end": self.end,
            "period": "day",
            "horizon_days": self.horizon_days,
            "discount_per_30_days": self.discount,
            "customers": self.customers,
            "repeat_customers": self.repeat_customers,
            "spend_customers": self.spend_customers,
            "parameters": self.parameters.to_dict(),
            "expected_purchases": _num(self.expected_purchases),
            "mean_probability_alive": _num(self.mean_probability_alive),
            "total_clv": _num(self.total_clv),
            "mean_clv": _num(self.mean_clv),
            "customers_listed": [c.to_dict() for c in self.top],
            "holdout": None if self.holdout is None else self.holdout.to_dict(),
            "notes": list(self.notes),
        }

    def rows(self) -> list[dict[str, Any]]:
        """The listed customers, one CSV row each."""
        return [c.to_dict() for c in self.top]


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def discounted_value(
    summary: RfmSummary,
    expected_at: Any,
    order_value: np.ndarray,
    horizon_days: float,
    discount: float,
) -> np.ndarray:
    """Each customer's value over the horizon: for each 30-day period m (the last one cut at the
    horizon, ending at t_m), the purchases expected in it times the expected order value,
    discounted by (1 + discount) ** (t_m / 30). `expected_at(t)` gives the expected purchases
    in the next t days."""
    value = np.zeros(summary.customers)
    before = np.zeros(summary.customers)
    periods = max(1, math.ceil(horizon_days / MONTH_DAYS - 1e-9))
    for m in range(1, periods + 1):
        t = min(m * MONTH_DAYS, horizon_days)
        cumulative = np.asarray(expected_at(t), dtype=np.float64)
        value += (cumulative - before) * order_value / (1.0 + discount) ** (t / MONTH_DAYS)
        before = cumulative
    return value


def holdout_check(split: CalibrationHoldout) -> HoldoutCheck:
    """Fit on the calibration summary and compare the expected purchases over the holdout days
    with the purchase days that happened there, overall and by calibration frequency."""
    calibration = split.calibration
    require_enough(calibration)
    models = fit_models(calibration)
    predicted = predict(models, calibration, float(split.holdout_days)).expected_purchases
    actual = split.holdout_purchases
    groups = []
    for g in range(HOLDOUT_GROUPS + 1):
        last = g == HOLDOUT_GROUPS
        members = calibration.frequency >= g if last else calibration.frequency == g
        count = int(members.sum())
        if count == 0:
            continue
        groups.append(
            HoldoutGroup(
                f"{g}+" if last else str(g),
                count,
                float(actual[members].mean()),
                float(predicted[members].mean()),
            )
        )
    return HoldoutCheck(
        calibration_end=day_text(calibration.end_day),
        holdout_days=split.holdout_days,
        customers=calibration.customers,
        actual_total=int(actual.sum()),
        predicted_total=float(predicted.sum()),
        groups=tuple(groups),
        parameters=models.parameters,
    )


@dataclass(frozen=True)
class ClvSettings:
    horizon_days: float = 365.0
    discount: float = 0.01  # per 30-day period
    top: int = 20  # customers listed (0: all)
    holdout_days: int | None = None
    end_day: int | None = None  # default: the last order's day


def customer_values(
    source: EventSource,
    order_event: str,
    value_property: str,
    settings: ClvSettings | None = None,
) -> ClvResult:
    """Fit BG/NBD + Gamma-Gamma on every customer's orders up to the end day and predict each
    customer's purchases, probability alive, order value and CLV over the horizon; with
    `holdout_days`, also fit on the days before the holdout and check it against the holdout."""
    settings = settings or ClvSettings()
    orders = read_order_days(source, order_event, value_property)
    end = orders.last_day if settings.end_day is None else settings.end_day
    if end is None:
        raise FunnelscopeError(
            f"clv: no events named {order_event!r}; --order names the event of an order"
        )
    holdout = None
    if settings.holdout_days is not None:
        holdout = holdout_check(calibration_holdout(orders, end, settings.holdout_days))
    summary = rfm_summary(orders, end)
    require_enough(summary)
    models = fit_models(summary)
    predictions = predict(models, summary, settings.horizon_days)
    clv = discounted_value(
        summary,
        lambda t: predict_purchases(models, summary, t),
        predictions.expected_order_value,
        settings.horizon_days,
        settings.discount,
    )
    listed = _listed(source, summary, predictions, clv, settings.top)
    notes = _notes(summary)
    return ClvResult(
        order_event=order_event,
        value_property=value_property,
        end=day_text(end),
        horizon_days=settings.horizon_days,
        discount=settings.discount,
        customers=summary.customers,
        repeat_customers=summary.repeat_customers,
        spend_customers=summary.spend_customers,
        parameters=models.parameters,
        expected_purchases=float(predictions.expected_purchases.sum()),
        mean_probability_alive=float(predictions.probability_alive.mean()),
        total_clv=float(clv.sum()),
        top=listed,
        holdout=holdout,
        notes=notes,
    )


def predict_purchases(models: FittedModels, summary: RfmSummary, days: float) -> np.ndarray:
    return predict(models, summary, days, purchases_only=True).expected_purchases


def _notes(summary: RfmSummary) -> tuple[str, ...]:
    unvalued = summary.repeat_customers - summary.spend_customers
    if unvalued == 0:
        return ()
    return (
        f"{unvalued} repeat customers have no repeat order with a positive value: the spend "
        "model gives them the population's mean order value",
    )


def _listed(
    source: EventSource,
    summary: RfmSummary,
    predictions: Predictions,
    clv: np.ndarray,
    top: int,
) -> tuple[CustomerValue, ...]:
    order = np.lexsort((np.arange(summary.customers), -clv))
    if top > 0:
        order = order[:top]
    keys = summary.persons[order]
    ids = source.person_ids(keys) if summary.integer_persons else [str(k) for k in keys]
    return tuple(
        CustomerValue(
            person_id=ids[j],
            first_order=day_text(int(summary.first_day[i])),
            frequency=int(summary.frequency[i]),
            recency=float(summary.recency[i]),
            T=float(summary.T[i]),
            monetary_value=float(summary.monetary_value[i]),
            expected_purchases=float(predictions.expected_purchases[i]),
            probability_alive=float(predictions.probability_alive[i]),
            expected_order_value=float(predictions.expected_order_value[i]),
            clv=float(clv[i]),
        )
        for j, i in enumerate(order)
    )
