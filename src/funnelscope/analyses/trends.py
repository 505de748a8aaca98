"""Conversion trends: the funnel's conversion by the period in which attempts entered.

Works on the engine's Outcomes (every engine, stitched identities alike). An attempt belongs to
the day, week (Monday to Sunday, ISO 8601) or month of its entry event, read in an IANA time
zone; periods are cut at local midnight, so a week or day around a daylight-saving change is
simply shorter or longer. Every period from the first to the last with an entry is listed,
empty ones with n = 0.

A point is incomplete when an attempt could have entered in it whose window had not closed by
the end of the data (the last event named by a step): attempts may still convert there, so its
rate is likely to rise. Incomplete points are kept and flagged (as PostHog draws its latest,
not yet final periods dashed), with how many of their attempts were still open.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from funnelscope.errors import SpecError
from funnelscope.model.date_range import parse_date_range
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.results import FunnelResult, done_at
from funnelscope.stats.proportions import Proportion, wilson_interval

if TYPE_CHECKING:
    from funnelscope.store.sources import EventSource

GRAINS = ("day", "week", "month")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class StepPoint:
    """One step's count in a period, as a share of the period's entries."""

    step: int
    label: str
    count: int
    rate: float | None
    interval: tuple[float, float] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "label": self.label,
            "count": self.count,
            "rate": self.rate,
            "interval": None if self.interval is None else list(self.interval),
        }


@dataclass(frozen=True)
class TrendPoint:
    """The attempts that entered in one period: n entered, conversions reached the last step."""

    period: str  # 2024-01-01 (day; week: its Monday) or 2024-01 (month)
    start: str  # the period's first instant, in the zone (ISO 8601 with offset)
    n: int
    conversions: int
    rate: float | None
    interval: tuple[float, float] | None  # Wilson 95%
    steps: tuple[StepPoint, ...]
    incomplete: bool
    open: int  # attempts that had not converted and whose window was still open

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "start": self.start,
            "n": self.n,
            "conversions": self.conversions,
            "rate": self.rate,
            "interval": None if self.interval is None else list(self.interval),
            "incomplete": self.incomplete,
            "open": self.open,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class Trend:
    grain: str
    timezone: str
    window_seconds: int
    data_end: str | None  # the last funnel event of the data (UTC)
    points: tuple[TrendPoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "grain": self.grain,
            "timezone": self.timezone,
            "week_start": "monday",
            "window_seconds": self.window_seconds,
            "data_end": self.data_end,
            "points": [p.to_dict() for p in self.points],
        }

    def rows(self) -> list[dict[str, Any]]:
        """CSV rows: one per period."""
        return [
            {
                "period": p.period,
                "start": p.start,
                "n": p.n,
                "conversions": p.conversions,
                "rate": p.rate,
                "low": None if p.interval is None else p.interval[0],
                "high": None if p.interval is None else p.interval[1],
                "incomplete": p.incomplete,
                "open": p.open,
            }
            for p in self.points
        ]


def zone_of(name: str) -> dt.tzinfo:
    """The IANA zone `name` (errors name the flag and suggest a close name)."""
    try:
        parse_date_range({"from": "2000-01-01", "timezone": name})
    except SpecError as exc:
        raise SpecError("--trend-timezone", exc.problem, exc.hint) from None
    return dt.UTC if name in ("UTC", "Z") else ZoneInfo(name)


def _micros(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // _US


def _local_day(us: int, zone: dt.tzinfo) -> dt.date:
    return (_EPOCH + dt.timedelta(microseconds=us)).astimezone(zone).date()


def _period_start(day: dt.date, grain: str) -> dt.date:
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _next_start(day: dt.date, grain: str) -> dt.date:
    if grain == "day":
        return day + dt.timedelta(days=1)
    if grain == "week":
        return day + dt.timedelta(days=7)
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def period_starts(first_us: int, last_us: int, grain: str, zone: dt.tzinfo) -> list[dt.date]:
    """The local first days of every period from the one holding `first_us` to the one holding
    `last_us`."""
    day = _period_start(_local_day(first_us, zone), grain)
    last = _period_start(_local_day(last_us, zone), grain)
    days = [day]
    while day < last:
        day = _next_start(day, grain)
        days.append(day)
    return days


def _instant(day: dt.date, zone: dt.tzinfo) -> int:
    """µs of the first instant of `day` in `zone` (a midnight that does not exist, skipped by a
    clock change, is the moment of the change)."""
    return _micros(dt.datetime.combine(day, dt.time(), zone))


def conversion_trend(
    result: FunnelResult,
    grain: str = "week",
    timezone: str = "UTC",
    data_end_us: int | None = None,
) -> Trend:
    """The funnel's conversion by entry period. `data_end_us`: the data's last funnel event
    (see `data_end`); without it, the last step time of a counted attempt."""
    if grain not in GRAINS:
        raise SpecError("--trend", f"{grain!r} is not a period", "use day, week or month")
    zone = zone_of(timezone)
    funnel = result.funnel
    outcomes = result.outcomes
    rows = np.flatnonzero(outcomes.reached) if result.rows is None else result.rows
    reached, times = outcomes.reached[rows], outcomes.times_us[rows]
    window_us = funnel.window_seconds * US_PER_SECOND
    if rows.size == 0:
        end = None if data_end_us is None else _iso(data_end_us)
        return Trend(grain, timezone, funnel.window_seconds, end, ())
    entry = times[:, 0]
    last_done = np.take_along_axis(times, (reached.astype(np.int64) - 1)[:, None], axis=1)
    end_us = int(last_done.max()) if data_end_us is None else max(data_end_us, int(last_done.max()))
    days = period_starts(int(entry.min()), int(entry.max()), grain, zone)
    bounds = np.array(
        [_instant(d, zone) for d in days] + [_instant(_next_start(days[-1], grain), zone)],
        dtype=np.int64,
    )
    period = np.searchsorted(bounds, entry, side="right") - 1
    optional = [step.optional for step in funnel.steps]
    n_periods = len(days)
    counts = [
        np.bincount(period[done_at(reached, times, optional, k)], minlength=n_periods)
        for k in range(len(funnel.steps))
    ]
    converted = done_at(reached, times, optional, len(funnel.steps) - 1)
    still_open = ~converted & (entry + window_us > end_us)
    open_counts = np.bincount(period[still_open], minlength=n_periods)
    range_end = None if funnel.date_range is None else funnel.date_range.end_us
    points = []
    for i, day in enumerate(days):
        last_entry = int(bounds[i + 1]) - 1  # the latest moment an attempt could enter in it
        if range_end is not None:
            last_entry = min(last_entry, range_end - 1)
        n = int(counts[0][i])
        steps = tuple(
            _step_point(k + 1, step.display, int(counts[k][i]), n)
            for k, step in enumerate(funnel.steps)
        )
        points.append(
            TrendPoint(
                period=day.strftime("%Y-%m") if grain == "month" else day.isoformat(),
                start=dt.datetime.combine(day, dt.time(), zone).isoformat(),
                n=n,
                conversions=steps[-1].count,
                rate=steps[-1].rate,
                interval=steps[-1].interval,
                steps=steps,
                incomplete=last_entry + window_us > end_us,
                open=int(open_counts[i]),
            )
        )
    return Trend(grain, timezone, funnel.window_seconds, _iso(end_us), tuple(points))


def _step_point(step: int, label: str, count: int, n: int) -> StepPoint:
    proportion = Proportion(n, count)
    return StepPoint(step, label, count, proportion.rate, wilson_interval(proportion))


def _iso(us: int) -> str:
    return (_EPOCH + dt.timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")


def data_end(result: FunnelResult, source: EventSource) -> int | None:
    """The time (µs UTC) of the data's last event named by a step of the funnel, read with
    one aggregate through the source's SQL (rows ingest would quarantine left out)."""
    names = sorted({step.event for step in result.funnel.steps})
    last_event_us = getattr(source, "last_event_us", None)
    if last_event_us is not None:  # a source with SQL of its own (a ClickHouse store)
        found: int | None = last_event_us(names)
        return found
    columns = source.columns(())
    where = f"{columns.event} IN ({', '.join('?' for _ in names)})"
    if columns.invalid is not None:
        where += f" AND ({columns.invalid}) IS NOT TRUE"
    row = source.duckdb_connection.execute(
        f"SELECT max({columns.ts}) FROM {columns.source} WHERE {where}", names
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])
