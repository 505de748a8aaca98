"""Renewal of subscriptions from charge events (docs: "funnelscope retention renewal").

Each charge event pays for one cycle of a period (``every``: a duration such as 30d, or a
calendar month/year in the time zone; or per event from a property: a number of days or the
words day/week/month/year). The cycle is due at charge time + period.

- Renewed on time: the person's next charge is at or before the due time (an early charge counts).
- Renewed in grace: the next charge is after the due time but at most ``grace`` after it.
- Churned: no charge by due + grace, and due + grace is inside the observed data.
- Pending: no charge yet and due + grace is after the last event (not counted in any rate).
- A charge after due + grace starts a new subscription (a reactivation) whose cycles count from 1.
- The renewal rate of cycle k is renewed / (renewed + churned) over the k-th charges of the
  subscriptions that started in the date range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from funnelscope.analyses.retention.common import (
    US_PER_DAY,
    check_events,
    events_relation,
    in_list,
    iso,
    local_time_sql,
    observed_until,
    range_condition,
    rate,
    rows,
    sql_text,
    zone_of,
)
from funnelscope.errors import SpecError
from funnelscope.model.date_range import DateRange
from funnelscope.model.durations import format_duration, parse_duration
from funnelscope.store.sources import EventSource

CALENDAR_PERIODS: Final = {"month": 1, "monthly": 1, "year": 12, "yearly": 12, "annual": 12}
WORD_DAYS: Final = {"day": 1, "daily": 1, "week": 7, "weekly": 7}


@dataclass(frozen=True)
class Period:
    """A subscription period: whole seconds, or calendar months."""

    seconds: int | None = None
    months: int | None = None

    @property
    def text(self) -> str:
        if self.months is not None:
            return "month" if self.months == 1 else "year"
        return format_duration(self.seconds or 0)


def parse_period(raw: str, flag: str = "--every") -> Period:
    """'30d', '1w', 'month' or 'year' -> Period."""
    word = raw.strip().lower()
    if word in CALENDAR_PERIODS:
        return Period(months=CALENDAR_PERIODS[word])
    try:
        return Period(seconds=parse_duration(raw, flag))
    except SpecError:
        raise SpecError(
            flag, f"{raw!r} is not a period", "give e.g. 30d, 7d, month or year"
        ) from None


@dataclass(frozen=True)
class RenewalSpec:
    charge_events: tuple[str, ...]
    every: Period | None = None
    period_property: str | None = None
    grace_seconds: int = 0
    timezone: str = "UTC"
    dates: DateRange | None = None  # which subscriptions (by their first charge) count

    def __post_init__(self) -> None:
        check_events(self.charge_events, "--charge")
        if self.every is None and not self.period_property:
            raise SpecError(
                "--every",
                "renewal needs a period",
                "give --every 30d (or month), or --period-property",
            )
        if self.grace_seconds < 0:
            raise SpecError("--grace", "must not be negative", "give e.g. 3d")
        zone_of(self.timezone)

    def to_dict(self) -> dict[str, Any]:
        return {
            "charge_events": list(self.charge_events),
            "every": None if self.every is None else self.every.text,
            "period_property": self.period_property,
            "grace_seconds": self.grace_seconds,
            "timezone": self.timezone,
            "date_range": None if self.dates is None else self.dates.bounds_dict(),
        }


@dataclass(frozen=True)
class CycleResult:
    cycle: int
    charges: int
    renewed_on_time: int
    renewed_in_grace: int
    churned: int
    pending: int

    @property
    def renewed(self) -> int:
        return self.renewed_on_time + self.renewed_in_grace

    @property
    def renewal_rate(self) -> float | None:
        return rate(self.renewed, self.renewed + self.churned)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "charges": self.charges,
            "renewed_on_time": self.renewed_on_time,
            "renewed_in_grace": self.renewed_in_grace,
            "renewed": self.renewed,
            "churned": self.churned,
            "pending": self.pending,
            "renewal_rate": self.renewal_rate,
        }


@dataclass(frozen=True)
class RenewalResult:
    spec: RenewalSpec
    observed_until: str | None
    subscribers: int
    subscriptions: int
    reactivations: int  # subscriptions of persons who had an earlier one
    active: int  # subscriptions whose last cycle is pending
    churned: int
    charges_without_period: int
    cycles: tuple[CycleResult, ...]

    @property
    def total(self) -> CycleResult:
        return CycleResult(
            0,
            sum(c.charges for c in self.cycles),
            sum(c.renewed_on_time for c in self.cycles),
            sum(c.renewed_in_grace for c in self.cycles),
            sum(c.churned for c in self.cycles),
            sum(c.pending for c in self.cycles),
        )

    def to_dict(self) -> dict[str, Any]:
        total = self.total.to_dict()
        total.pop("cycle")
        return {
            "analysis": "renewal",
            "settings": self.spec.to_dict(),
            "observed_until": self.observed_until,
            "subscribers": self.subscribers,
            "subscriptions": self.subscriptions,
            "reactivations": self.reactivations,
            "active": self.active,
            "churned": self.churned,
            "charges_without_period": self.charges_without_period,
            "total": total,
            "cycles": [c.to_dict() for c in self.cycles],
        }

    def rows(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.cycles]


def renewal(source: EventSource, spec: RenewalSpec) -> RenewalResult:
    props = [spec.period_property] if spec.period_property else []
    relation = events_relation(source, props)
    day_us = US_PER_DAY
    every_days = "NULL"
    every_months = "NULL"
    if spec.every is not None and spec.every.months is not None:
        every_months = str(spec.every.months)
    elif spec.every is not None:
        every_days = repr((spec.every.seconds or 0) / 86400)
    if spec.period_property:
        raw = f"lower(trim(CAST({relation.properties[spec.period_property]} AS VARCHAR)))"
        words_m = " ".join(f"WHEN {sql_text(w)} THEN {m}" for w, m in CALENDAR_PERIODS.items())
        words_d = " ".join(f"WHEN {sql_text(w)} THEN {d}" for w, d in WORD_DAYS.items())
        months = f"CASE {raw} {words_m} ELSE NULL END"
        plain = f"CASE WHEN try_cast({raw} AS DOUBLE) > 0 THEN try_cast({raw} AS DOUBLE) END"
        given_days = f"coalesce({plain}, CASE {raw} {words_d} ELSE NULL END)"
        has_own = f"({months} IS NOT NULL OR {given_days} IS NOT NULL)"
        p_months = f"CASE WHEN {has_own} THEN {months} ELSE {every_months} END"
        p_days = f"CASE WHEN {has_own} THEN {given_days} ELSE {every_days} END"
    else:
        p_months, p_days = every_months, every_days
    zone = spec.timezone
    grace = spec.grace_seconds * 1_000_000
    calendar_due = (
        f"epoch_us(timezone({sql_text(zone)}, {local_time_sql('ts', zone)} + to_months(pmonths)))"
    )
    base = f"""{relation.cte},
    ch AS (SELECT person, ts, eid, {p_days} AS pdays, {p_months} AS pmonths FROM ev
           WHERE event IN {in_list(spec.charge_events)}),
    due AS (SELECT person, ts, eid, CASE WHEN pmonths IS NOT NULL THEN {calendar_due}
            ELSE ts + CAST(round(pdays * {day_us}) AS BIGINT) END AS due_ts
            FROM ch WHERE pdays IS NOT NULL OR pmonths IS NOT NULL),
    seq AS (SELECT *, lag(due_ts) OVER w AS prev_due, lead(ts) OVER w AS next_ts FROM due
            WINDOW w AS (PARTITION BY person ORDER BY ts, eid)),
    subs AS (SELECT *, sum(CASE WHEN prev_due IS NULL OR ts > prev_due + {grace} THEN 1 ELSE 0
             END) OVER (PARTITION BY person ORDER BY ts, eid ROWS UNBOUNDED PRECEDING) AS sub
             FROM seq),
    cyc AS (SELECT *, row_number() OVER s AS cycle, first_value(ts) OVER s AS sub_start
            FROM subs WINDOW s AS (PARTITION BY person, sub ORDER BY ts, eid)),
    judged AS (SELECT person, sub, cycle, CASE
                 WHEN next_ts IS NOT NULL AND next_ts <= due_ts THEN 'on_time'
                 WHEN next_ts IS NOT NULL AND next_ts <= due_ts + {grace} THEN 'in_grace'
                 WHEN due_ts + {grace} <= $until THEN 'churned'
                 ELSE 'pending' END AS outcome
               FROM cyc WHERE {range_condition("sub_start", spec.dates)})
    """
    until = observed_until(source)
    con = source.duckdb_connection
    params = {"until": until if until is not None else -(2**62)}
    per_cycle = con.execute(
        base + "SELECT cycle, count(*), count(*) FILTER (WHERE outcome = 'on_time'), "
        "count(*) FILTER (WHERE outcome = 'in_grace'), count(*) FILTER (WHERE outcome = "
        "'churned'), count(*) FILTER (WHERE outcome = 'pending') FROM judged GROUP BY cycle "
        "ORDER BY cycle",
        params,
    ).fetchall()
    summary = con.execute(
        base + "SELECT count(DISTINCT person), count(*) FILTER (WHERE cycle = 1), "
        "count(*) FILTER (WHERE cycle = 1 AND sub > 1), count(*) FILTER (WHERE outcome = "
        "'pending'), count(*) FILTER (WHERE outcome = 'churned') FROM judged",
        params,
    ).fetchone()
    missing = rows(
        source,
        f"{relation.cte} SELECT count(*) FROM ev WHERE event IN {in_list(spec.charge_events)} "
        f"AND ({p_days}) IS NULL AND ({p_months}) IS NULL",
    )
    assert summary is not None
    subscribers, subscriptions, reactivations, active, churned = (int(v or 0) for v in summary)
    cycles = tuple(CycleResult(*(int(v) for v in row)) for row in per_cycle)
    return RenewalResult(
        spec,
        iso(until),
        subscribers,
        subscriptions,
        reactivations,
        active,
        churned,
        int(missing[0][0]),
        cycles,
    )
