"""Cohort retention: of the persons who did a start event in a period, how many came back and did
a return event N periods later (docs: "funnelscope retention cohorts").

- First-time cohorts: each person once, at their first start event ever (in all the data, not
  only the date range); recurring cohorts: each person once in every period in which they did a
  start event, anchored at their first start event of that period.
- Rolling periods: period k is [anchor + k*P, anchor + (k+1)*P) with P = 1, 7 or 30 days;
  calendar periods: period k is the k-th calendar day/week (Monday)/month after the anchor's
  own, in the time zone (so a calendar day across a DST change lasts 23 or 25 hours).
- "on": retained in period k when a return event falls in period k; "on_or_after": when one
  falls in period k or any later one (through the end of the data).
- A return event is any event with a return name at or after the anchor, other than the anchor
  event itself.
- A cell whose period is not over at the end of the data for some member is incomplete: its
  observed count is kept, its rate is null, and the average leaves it out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from funnelscope.analyses.retention.common import (
    PERIOD_UNITS,
    ROLLING_DAYS,
    US_PER_DAY,
    bucket_sql,
    check_events,
    events_relation,
    in_list,
    iso,
    local_time_sql,
    local_to_us,
    observed_until,
    period_label,
    range_condition,
    rate,
    rows,
    shift_local,
    zone_of,
)
from funnelscope.errors import SpecError
from funnelscope.model.date_range import DateRange
from funnelscope.store.sources import EventSource

KINDS: Final = ("first", "recurring")
CRITERIA: Final = ("on", "on_or_after")
WINDOWS: Final = ("rolling", "calendar")


@dataclass(frozen=True)
class RetentionSpec:
    start_events: tuple[str, ...]
    return_events: tuple[str, ...] | None = None  # None: any event counts as a return
    kind: str = "first"
    criterion: str = "on"
    unit: str = "day"
    periods: int = 8  # periods 0 .. periods-1
    windows: str = "rolling"
    timezone: str = "UTC"
    dates: DateRange | None = None  # which start events open cohorts

    def __post_init__(self) -> None:
        check_events(self.start_events, "--start")
        for value, allowed, flag in (
            (self.kind, KINDS, "--type"),
            (self.criterion, CRITERIA, "--criterion"),
            (self.unit, PERIOD_UNITS, "--period"),
            (self.windows, WINDOWS, "--windows"),
        ):
            if value not in allowed:
                raise SpecError(flag, f"{value!r} is not one of {', '.join(allowed)}")
        if not 1 <= self.periods <= 400:
            raise SpecError("--periods", f"{self.periods} is out of range", "give 1 to 400")
        zone_of(self.timezone)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_events": list(self.start_events),
            "return_events": None if self.return_events is None else list(self.return_events),
            "type": self.kind,
            "criterion": self.criterion,
            "period": self.unit,
            "periods": self.periods,
            "windows": self.windows,
            "timezone": self.timezone,
            "date_range": None if self.dates is None else self.dates.bounds_dict(),
        }


@dataclass(frozen=True)
class RetentionCell:
    period: int
    retained: int  # observed (so far, when incomplete)
    complete: bool
    size: int

    @property
    def rate(self) -> float | None:
        return rate(self.retained, self.size) if self.complete else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "retained": self.retained,
            "rate": self.rate,
            "complete": self.complete,
            "observed_rate": rate(self.retained, self.size),
        }


@dataclass(frozen=True)
class RetentionCohort:
    label: str  # the cohort period in the time zone: 2024-03-04, or 2024-03 for months
    start: str  # its first instant, UTC
    size: int
    cells: tuple[RetentionCell, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cohort": self.label,
            "start": self.start,
            "size": self.size,
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass(frozen=True)
class AverageCell:
    """Period k over the cohorts whose cell k is complete, weighted by cohort size."""

    period: int
    cohorts: int
    size: int
    retained: int

    @property
    def rate(self) -> float | None:
        return rate(self.retained, self.size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "cohorts": self.cohorts,
            "size": self.size,
            "retained": self.retained,
            "rate": self.rate,
        }


@dataclass(frozen=True)
class RetentionResult:
    spec: RetentionSpec
    observed_until: str | None
    cohorts: tuple[RetentionCohort, ...]
    average: tuple[AverageCell, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysis": "retention",
            "settings": self.spec.to_dict(),
            "observed_until": self.observed_until,
            "cohorts": [c.to_dict() for c in self.cohorts],
            "average": [a.to_dict() for a in self.average],
        }

    def rows(self) -> list[dict[str, Any]]:
        """CSV: a row per (cohort, period), then the average's rows under cohort "(average)"."""
        out: list[dict[str, Any]] = []
        for cohort in self.cohorts:
            for cell in cohort.cells:
                out.append(
                    {
                        "cohort": cohort.label,
                        "size": cohort.size,
                        "period": cell.period,
                        "retained": cell.retained,
                        "rate": cell.rate,
                        "complete": cell.complete,
                    }
                )
        for avg in self.average:
            out.append(
                {
                    "cohort": "(average)",
                    "size": avg.size,
                    "period": avg.period,
                    "retained": avg.retained,
                    "rate": avg.rate,
                    "complete": True,
                }
            )
        return out


def retention(source: EventSource, spec: RetentionSpec) -> RetentionResult:
    """The retention table of `spec` over the source's events."""
    relation = events_relation(source)
    zone = spec.timezone
    cohort_bucket = bucket_sql("ts", spec.unit, zone)
    per = ", bucket" if spec.kind == "recurring" else ""
    returns = "" if spec.return_events is None else f" AND r.event IN {in_list(spec.return_events)}"
    if spec.windows == "rolling":
        period_us = ROLLING_DAYS[spec.unit] * US_PER_DAY
        k = f"(r.ts - a.ts) // {period_us}"
    else:
        r_bucket = f"date_trunc('{spec.unit}', {local_time_sql('r.ts', zone)})"
        k = f"date_diff('{spec.unit}', a.bucket, {r_bucket})"
    base = f"""{relation.cte},
    starts AS (SELECT person, ts, eid, event, {cohort_bucket} AS bucket FROM ev
               WHERE event IN {in_list(spec.start_events)}),
    ranked AS (SELECT *, row_number() OVER (PARTITION BY person{per} ORDER BY ts, eid) AS rn
               FROM starts),
    anchors AS (SELECT person, ts, eid, event, bucket FROM ranked
                WHERE rn = 1 AND {range_condition("ts", spec.dates)}),
    hits AS (SELECT a.person, a.ts AS a_ts, a.bucket, {k} AS k
             FROM anchors a JOIN ev r ON r.person = a.person AND r.ts >= a.ts{returns}
             AND NOT (r.ts = a.ts AND r.event = a.event AND r.eid IS NOT DISTINCT FROM a.eid))
    """
    sizes = rows(
        source,
        base + "SELECT bucket, count(*), max(ts) FROM anchors GROUP BY bucket ORDER BY bucket",
    )
    last = spec.periods - 1
    counts: dict[tuple[dt.datetime, int], int] = {}
    if spec.criterion == "on":
        found = rows(
            source,
            base + f"SELECT bucket, k, count(*) FROM (SELECT DISTINCT person, a_ts, bucket, k "
            f"FROM hits WHERE k <= {last}) GROUP BY bucket, k",
        )
        counts = {(b, int(k)): int(n) for b, k, n in found}
    else:
        found = rows(
            source,
            base + f"SELECT bucket, least(top, {last}), count(*) FROM (SELECT person, a_ts, "
            "bucket, max(k) AS top FROM hits GROUP BY person, a_ts, bucket) GROUP BY ALL",
        )
        tops: dict[tuple[dt.datetime, int], int] = {(b, int(k)): int(n) for b, k, n in found}
        for bucket, *_ in sizes:
            running = 0
            for period in range(last, -1, -1):
                running += tops.get((bucket, period), 0)
                counts[(bucket, period)] = running
    until = observed_until(source)
    tz = zone_of(zone)
    cohorts = []
    for bucket, size, last_anchor in sizes:
        cells = []
        for period in range(spec.periods):
            if spec.windows == "rolling":
                end = int(last_anchor) + (period + 1) * ROLLING_DAYS[spec.unit] * US_PER_DAY
            else:
                end = local_to_us(shift_local(bucket, spec.unit, period + 1), tz)
            complete = until is not None and end - 1 <= until
            cells.append(RetentionCell(period, counts.get((bucket, period), 0), complete, size))
        start = local_to_us(bucket, tz)
        cohorts.append(
            RetentionCohort(
                period_label(bucket, spec.unit), iso(start) or "", int(size), tuple(cells)
            )
        )
    return RetentionResult(spec, iso(until), tuple(cohorts), _average(cohorts, spec.periods))


def _average(cohorts: list[RetentionCohort], periods: int) -> tuple[AverageCell, ...]:
    out = []
    for period in range(periods):
        done = [c for c in cohorts if c.cells[period].complete]
        out.append(
            AverageCell(
                period,
                len(done),
                sum(c.size for c in done),
                sum(c.cells[period].retained for c in done),
            )
        )
    return tuple(out)
