"""Repurchase: of the customers whose first order fell in the date range, how many ordered a
second time within N days, how long that took, and how many orders each placed
(docs: "funnelscope retention repurchase").

- A customer's first order is their first order event ever; the second is the next one (equal
  times are ordered by event id, so two orders at one instant make a second order at 0 s).
- "Within N days": second order time - first order time <= N days (the edge counts).
- Only customers whose whole N-day window lies inside the observed data (first + N days <= the
  last event) are counted for that N; the others are listed as not yet observable.
- Time to second order is over the customers who have one (median and p90, linear interpolation).
- Orders per customer counts every order through the end of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from funnelscope.analyses.retention.common import (
    US_PER_DAY,
    bucket_sql,
    check_events,
    days,
    events_relation,
    in_list,
    iso,
    observed_until,
    period_label,
    quantile,
    range_condition,
    rate,
    rows,
    zone_of,
)
from funnelscope.errors import SpecError
from funnelscope.model.date_range import DateRange
from funnelscope.store.sources import EventSource

MOST_ORDERS: Final = 10  # orders per customer above this fold into "10+"


@dataclass(frozen=True)
class RepurchaseSpec:
    order_events: tuple[str, ...]
    within_days: tuple[int, ...] = (30, 90)
    timezone: str = "UTC"
    dates: DateRange | None = None  # which first orders count

    def __post_init__(self) -> None:
        check_events(self.order_events, "--order")
        if not self.within_days or any(d <= 0 for d in self.within_days):
            raise SpecError("--within", "needs positive whole days", "give e.g. 30d,90d")
        zone_of(self.timezone)

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_events": list(self.order_events),
            "within_days": list(self.within_days),
            "timezone": self.timezone,
            "date_range": None if self.dates is None else self.dates.bounds_dict(),
        }


@dataclass(frozen=True)
class WithinShare:
    days: int
    eligible: int  # customers whose whole window is observed
    repurchased: int
    not_yet_observable: int

    @property
    def rate(self) -> float | None:
        return rate(self.repurchased, self.eligible)

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "eligible": self.eligible,
            "repurchased": self.repurchased,
            "rate": self.rate,
            "not_yet_observable": self.not_yet_observable,
        }


@dataclass(frozen=True)
class RepurchaseGroup:
    """All customers, or one first-order cohort month."""

    label: str
    customers: int
    with_second_order: int
    within: tuple[WithinShare, ...]
    median_days_to_second: float | None
    p90_days_to_second: float | None
    mean_orders: float | None
    orders_distribution: dict[str, int]  # "1".."9", "10+" -> customers

    def to_dict(self) -> dict[str, Any]:
        return {
            "cohort": self.label,
            "customers": self.customers,
            "with_second_order": self.with_second_order,
            "within": [w.to_dict() for w in self.within],
            "median_days_to_second": self.median_days_to_second,
            "p90_days_to_second": self.p90_days_to_second,
            "mean_orders": self.mean_orders,
            "orders_distribution": dict(self.orders_distribution),
        }


@dataclass(frozen=True)
class RepurchaseResult:
    spec: RepurchaseSpec
    observed_until: str | None
    total: RepurchaseGroup
    cohorts: tuple[RepurchaseGroup, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysis": "repurchase",
            "settings": self.spec.to_dict(),
            "observed_until": self.observed_until,
            "total": self.total.to_dict(),
            "cohorts": [c.to_dict() for c in self.cohorts],
        }

    def rows(self) -> list[dict[str, Any]]:
        """CSV: a row per group ("(total)" first), one rate column per window."""
        out = []
        for group in (self.total, *self.cohorts):
            row: dict[str, Any] = {
                "cohort": group.label,
                "customers": group.customers,
                "with_second_order": group.with_second_order,
            }
            for share in group.within:
                row[f"eligible_{share.days}d"] = share.eligible
                row[f"repurchased_{share.days}d"] = share.repurchased
                row[f"rate_{share.days}d"] = share.rate
            row["median_days_to_second"] = group.median_days_to_second
            row["p90_days_to_second"] = group.p90_days_to_second
            row["mean_orders"] = group.mean_orders
            out.append(row)
        return out


def repurchase(source: EventSource, spec: RepurchaseSpec) -> RepurchaseResult:
    relation = events_relation(source)
    sql = f"""{relation.cte},
    orders AS (SELECT person, ts, row_number() OVER (PARTITION BY person ORDER BY ts, eid) AS n
               FROM ev WHERE event IN {in_list(spec.order_events)}),
    customers AS (SELECT person, max(ts) FILTER (WHERE n = 1) AS first_ts,
                  max(ts) FILTER (WHERE n = 2) AS second_ts, count(*) AS orders
                  FROM orders GROUP BY person)
    SELECT first_ts, second_ts, orders, {bucket_sql("first_ts", "month", spec.timezone)}
    FROM customers WHERE {range_condition("first_ts", spec.dates)} ORDER BY first_ts, person"""
    found = rows(source, sql)
    until = observed_until(source)
    first = np.array([r[0] for r in found], dtype=np.int64)
    second = np.array([-1 if r[1] is None else r[1] for r in found], dtype=np.int64)
    orders = np.array([r[2] for r in found], dtype=np.int64)
    months = [r[3] for r in found]
    total = _group("(total)", first, second, orders, spec, until)
    cohorts = []
    for month in sorted(set(months)):
        keep = np.array([m == month for m in months], dtype=bool)
        label = period_label(month, "month")
        cohorts.append(_group(label, first[keep], second[keep], orders[keep], spec, until))
    return RepurchaseResult(spec, iso(until), total, tuple(cohorts))


def _group(
    label: str,
    first: np.ndarray,
    second: np.ndarray,
    orders: np.ndarray,
    spec: RepurchaseSpec,
    until: int | None,
) -> RepurchaseGroup:
    has_second = second >= 0
    gap = (second - first)[has_second]
    shares = []
    for window in spec.within_days:
        span = window * US_PER_DAY
        observable = (first + span <= until) if until is not None else np.zeros_like(has_second)
        inside = has_second & (second - first <= span)
        shares.append(
            WithinShare(
                window,
                int(observable.sum()),
                int((inside & observable).sum()),
                int((~observable).sum()),
            )
        )
    distribution = {str(n): int((orders == n).sum()) for n in range(1, MOST_ORDERS)}
    distribution[f"{MOST_ORDERS}+"] = int((orders >= MOST_ORDERS).sum())
    return RepurchaseGroup(
        label,
        int(first.size),
        int(has_second.sum()),
        tuple(shares),
        days(quantile(gap, 0.5)),
        days(quantile(gap, 0.9)),
        float(orders.mean()) if orders.size else None,
        distribution,
    )
