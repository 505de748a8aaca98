"""What every retention analysis shares: the events as one SQL relation over a source, calendar
periods in a time zone, the end of the observed data and percentiles.

Every analysis here reads the source's events through ``source.columns(...)`` and runs DuckDB SQL
on ``source.duckdb_connection``; the person is the source's person (in the store: the stitched
identity), so every result holds on stitched identities.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np

from funnelscope.errors import SpecError
from funnelscope.model.date_range import DateRange
from funnelscope.store.sources import EventSource
from funnelscope.store.sql_text import quote_ident

US_PER_DAY: Final = 86_400_000_000
PERIOD_UNITS: Final = ("day", "week", "month")
ROLLING_DAYS: Final = {"day": 1, "week": 7, "month": 30}  # Amplitude/Mixpanel: a month is 30 days
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def zone_of(name: str) -> dt.tzinfo:
    """An IANA zone (UTC by name); an unknown name is a SpecError naming --timezone."""
    if name in ("UTC", "Z"):
        return dt.UTC
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError on odd names
        raise SpecError(
            "--timezone", f"unknown time zone {name!r}", "use e.g. Europe/Berlin"
        ) from None


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def in_list(values: Collection[str]) -> str:
    return "(" + ", ".join(sql_text(v) for v in values) + ")"


@dataclass(frozen=True)
class Relation:
    """The source's events as SQL: ``WITH ev AS (...)`` giving person, ts (µs UTC), event, eid
    (a per-row order for equal times) and the properties asked for (as p0, p1 ...)."""

    cte: str
    properties: dict[str, str]  # property name -> its column in ev ("p0" ...)


def events_relation(source: EventSource, properties: Sequence[str] = ()) -> Relation:
    cols = source.columns(properties)
    select = [
        f"{cols.person} AS person",
        f"{cols.ts} AS ts",
        f"{cols.event} AS event",
        f"{cols.event_id if cols.event_id else 'NULL'} AS eid",
    ]
    named: dict[str, str] = {}
    for index, name in enumerate(dict.fromkeys(properties)):
        if name not in cols.properties:
            known = ", ".join(sorted(cols.properties)) or "none"
            raise SpecError(name, "is not a property of these events", f"properties are: {known}")
        named[name] = f"p{index}"
        select.append(f"{cols.properties[name][0]} AS {quote_ident(named[name])}")
    where = f" WHERE NOT ({cols.invalid})" if cols.invalid else ""
    body = f"SELECT {', '.join(select)} FROM {cols.source}{where}"
    return Relation(f"WITH ev AS ({body})", named)


def rows(source: EventSource, sql: str) -> list[tuple[Any, ...]]:
    return source.duckdb_connection.execute(sql).fetchall()


def observed_until(source: EventSource) -> int | None:
    """The time (µs UTC) of the last event of any name: the data are observed through it."""
    relation = events_relation(source)
    row = rows(source, f"{relation.cte} SELECT max(ts) FROM ev")
    return None if not row or row[0][0] is None else int(row[0][0])


def range_condition(column: str, dates: DateRange | None) -> str:
    """SQL that keeps times inside the date range (true without one)."""
    if dates is None:
        return "true"
    parts = []
    if dates.start_us is not None:
        parts.append(f"{column} >= {int(dates.start_us)}")
    if dates.end_us is not None:
        parts.append(f"{column} < {int(dates.end_us)}")
    return " AND ".join(parts) or "true"


def local_time_sql(ts: str, zone: str) -> str:
    """The wall-clock time (a naive TIMESTAMP) in `zone` of µs `ts`."""
    return f"timezone({sql_text(zone)}, make_timestamptz(CAST({ts} AS BIGINT)))"


def bucket_sql(ts: str, unit: str, zone: str) -> str:
    """The start (wall clock in `zone`) of the calendar day/week (Monday)/month holding `ts`."""
    return f"date_trunc('{unit}', {local_time_sql(ts, zone)})"


def to_us(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def from_us(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=int(us))


def iso(us: int | None) -> str | None:
    return None if us is None else from_us(us).isoformat().replace("+00:00", "Z")


def shift_local(start: dt.datetime, unit: str, count: int) -> dt.datetime:
    """A wall-clock period start moved by `count` units (months keep the first of the month)."""
    if unit == "day":
        return start + dt.timedelta(days=count)
    if unit == "week":
        return start + dt.timedelta(weeks=count)
    months = start.year * 12 + start.month - 1 + count
    return start.replace(year=months // 12, month=months % 12 + 1)


def local_to_us(wall: dt.datetime, zone: dt.tzinfo) -> int:
    """µs UTC of a wall-clock time in `zone`; a time skipped by a DST change (midnight in
    Havana's spring) gives the change's own instant, the first one after the gap."""
    aware = wall.replace(tzinfo=zone)
    if _wall(to_us(aware), zone) == wall:
        return to_us(aware)
    # the gap's two readings (offset before and after the change) enclose the change; gaps can
    # be 30 minutes (Lord Howe) or 2 hours, so search for the first instant at or past `wall`
    low, high = sorted(to_us(wall.replace(tzinfo=zone, fold=f)) for f in (0, 1))
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(middle, zone) >= wall:
            high = middle
        else:
            low = middle
    return high


def _wall(us: int, zone: dt.tzinfo) -> dt.datetime:
    return from_us(us).astimezone(zone).replace(tzinfo=None)


def period_label(start: dt.datetime, unit: str) -> str:
    """2024-03-01 for a day or week (its Monday), 2024-03 for a month."""
    return start.strftime("%Y-%m") if unit == "month" else start.date().isoformat()


def quantile(values: np.ndarray, q: float) -> float | None:
    """The q-quantile with linear interpolation between order statistics (numpy's default,
    DuckDB's quantile_cont); None for no values."""
    if values.size == 0:
        return None
    return float(np.quantile(values, q))


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def days(us: float | None) -> float | None:
    """µs -> days (rounded to the µs), None stays None."""
    return None if us is None or math.isnan(us) else round(us / US_PER_DAY, 9)


def check_events(names: Sequence[str], flag: str) -> tuple[str, ...]:
    kept = tuple(dict.fromkeys(n for n in names if n))
    if not kept:
        raise SpecError(flag, "needs an event name", f"give e.g. {flag} purchase")
    return kept
