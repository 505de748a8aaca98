"""Calendar periods (day, week from Monday, month) over numpy dates, and the analysis windows."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from funnelscope.analyses.marketing.cells import Periods
from funnelscope.errors import SpecError

GRAINS = ("day", "week", "month")


def period_starts(dates: npt.NDArray[np.datetime64], grain: str) -> npt.NDArray[np.datetime64]:
    """The first day of each date's period (weeks start on Monday, ISO 8601)."""
    days = dates.astype("datetime64[D]")
    if grain == "day":
        return days
    if grain == "week":
        number = days.astype(np.int64)
        return (number - (number + 3) % 7).astype("datetime64[D]")  # 1970-01-01 was a Thursday
    if grain == "month":
        return days.astype("datetime64[M]").astype("datetime64[D]")
    raise SpecError("period", f"unknown period {grain!r}", f"use one of: {', '.join(GRAINS)}")


def calendar(first: np.datetime64, last: np.datetime64, grain: str) -> npt.NDArray[np.datetime64]:
    """Every period start from `first`'s period to `last`'s, gaps included."""
    start = period_starts(np.array([first, last], dtype="datetime64[D]"), grain)
    if grain == "day":
        return np.arange(start[0], start[1] + 1, dtype="datetime64[D]")
    if grain == "week":
        return np.arange(start[0], start[1] + 1, 7, dtype="datetime64[D]")
    months = np.arange(
        start[0].astype("datetime64[M]"),
        start[1].astype("datetime64[M]") + 1,
        dtype="datetime64[M]",
    )
    return months.astype("datetime64[D]")


def windows(
    starts: npt.NDArray[np.datetime64],
    days_with_data: npt.NDArray[np.int64],
    grain: str,
    current: int,
    baseline: int,
) -> Periods:
    """The last `current` periods are current, the `baseline` periods before them the baseline."""
    if current < 1:
        raise SpecError("current", f"{current} periods", "use at least 1 current period")
    if baseline < 0:
        raise SpecError("baseline", f"{baseline} periods", "use 0 or more baseline periods")
    count = len(starts)
    now = tuple(range(max(0, count - current), count))
    before = tuple(range(max(0, count - current - baseline), max(0, count - current)))
    labels = tuple(str(s) if grain != "month" else str(s)[:7] for s in starts)
    return Periods(
        labels=labels,
        ends=tuple(period_end(s, grain) for s in starts),
        days=tuple(int(d) for d in days_with_data),
        current=now,
        baseline=before,
        grain=grain,
    )


def window_notes(periods: Periods, current: int, baseline: int) -> tuple[str, ...]:
    """What the data could not give: fewer current or baseline periods than asked for."""
    grain, notes = periods.grain, []
    if len(periods.current) < current:
        notes.append(
            f"the data has {len(periods.current)} {grain}(s), fewer than the {current} current "
            f"ones asked for; all of it is judged and nothing is compared with its own history"
        )
    elif len(periods.baseline) < baseline:
        have = len(periods.baseline)
        notes.append(
            f"only {have} {grain}(s) before the current {current}, not the {baseline} asked for"
            + ("; nothing is compared with its own history" if not have else "")
        )
    return tuple(notes)


def period_end(start: np.datetime64, grain: str) -> str:
    """The last day of the period that starts on `start`."""
    day = np.array([start], dtype="datetime64[D]")
    if grain == "day":
        end = day
    elif grain == "week":
        end = day + np.timedelta64(6, "D")
    else:
        following = day.astype("datetime64[M]") + np.timedelta64(1, "M")
        end = following.astype("datetime64[D]") - np.timedelta64(1, "D")
    return str(end[0])


def index_of(
    dates: npt.NDArray[np.datetime64], starts: npt.NDArray[np.datetime64], grain: str
) -> npt.NDArray[np.int64]:
    """Each date's period number in `starts` (sorted)."""
    return np.searchsorted(starts, period_starts(dates, grain)).astype(np.int64)
