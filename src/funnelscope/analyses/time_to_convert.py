"""Time to convert: how long counted attempts took from one step to a later one, as a histogram
with PostHog's automatic bins and exact summary numbers.

Works on the engine's Outcomes, so every engine (and stitched identities) gives the same
result. Times are whole microseconds; every rule below is integer arithmetic on them, so the
bins and percentiles never depend on float rounding.

Bins (PostHog's time-to-convert rule, reproduced):

* ``from`` = the shortest time rounded down to a whole second, ``to`` = the longest rounded up;
* the bin count is ``ceil(cbrt(n))`` clamped to 1..60 for ``n`` attempts (or the count asked
  for, 1..90);
* the bin width is ``ceil((to - from) / count)`` whole seconds, 60 s when that is 0 (every time
  the same whole second);
* a time t falls in bin ``floor((t - from) / width)``, and there are ``count + 1`` bins starting
  at ``from + i * width`` (as PostHog returns them: the last one holds only times exactly at
  ``from + count * width``).

Percentiles are linear interpolation between closest ranks (numpy's default, Excel's
PERCENTILE.INC, Hyndman-Fan type 7): the p-th of n sorted times sits at rank h = (n - 1) p,
between the values at floor(h) and floor(h) + 1. The median so defined is the middle value or
the mean of the middle two, as the step table's median.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelscope.analyses.steps import exact_sum
from funnelscope.errors import SpecError
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.results import FunnelResult, done_at

AUTO_MIN_BINS, AUTO_MAX_BINS = 1, 60  # PostHog's automatic bin count is clamped to these
MAX_BINS = 90  # and a bin count asked for to 1..90
EMPTY_WIDTH_SECONDS = 60  # PostHog's width when every time is the same whole second
PERCENTILES = (50, 90, 95)


@dataclass(frozen=True)
class TimeBin:
    """Attempts whose time lies in [start_seconds, end_seconds)."""

    start_seconds: int
    end_seconds: int
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "from_seconds": self.start_seconds,
            "to_seconds": self.end_seconds,
            "count": self.count,
        }


@dataclass(frozen=True)
class TimeToConvert:
    """The distribution of times from step `from_step` to step `to_step` (1-based) over the
    counted attempts that did both."""

    from_step: int
    to_step: int
    from_label: str
    to_label: str
    n: int
    bin_count: int
    bin_width_seconds: int
    auto_bins: bool
    bins: tuple[TimeBin, ...]
    mean_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    p95_seconds: float | None
    min_seconds: float | None
    max_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "from_step": self.from_step,
            "to_step": self.to_step,
            "n": self.n,
            "bin_count": self.bin_count,
            "bin_width_seconds": self.bin_width_seconds,
            "auto_bins": self.auto_bins,
            "bins": [b.to_dict() for b in self.bins],
            "mean_seconds": self.mean_seconds,
            "median_seconds": self.median_seconds,
            "p90_seconds": self.p90_seconds,
            "p95_seconds": self.p95_seconds,
            "min_seconds": self.min_seconds,
            "max_seconds": self.max_seconds,
            "percentile_method": "linear",
        }

    def rows(self) -> list[dict[str, Any]]:
        """CSV rows: one per bin."""
        return [
            {"from_step": self.from_step, "to_step": self.to_step, **b.to_dict()} for b in self.bins
        ]


def check_steps(n_steps: int, from_step: int, to_step: int | None) -> tuple[int, int]:
    """The 1-based (from, to) pair, to defaulting to the last step; errors teach."""
    to = n_steps if to_step is None else to_step
    for name, step in (("--time-from", from_step), ("--time-to", to)):
        if not 1 <= step <= n_steps:
            raise SpecError(name, f"step {step} does not exist", f"use 1 to {n_steps}")
    if from_step >= to:
        raise SpecError(
            "--time-from",
            f"step {from_step} is not before step {to}",
            "time to convert runs from a step to a later one, e.g. --time-from 1 --time-to 3",
        )
    return from_step, to


def conversion_times_us(result: FunnelResult, from_step: int, to_step: int) -> np.ndarray:
    """µs from step `from_step` to `to_step` (1-based) of every counted row that did both (an
    optional step it skipped: not done)."""
    outcomes = result.outcomes
    rows = np.flatnonzero(outcomes.reached) if result.rows is None else result.rows
    reached, times = outcomes.reached[rows], outcomes.times_us[rows]
    optional = [step.optional for step in result.funnel.steps]
    both = done_at(reached, times, optional, from_step - 1)
    both &= done_at(reached, times, optional, to_step - 1)
    spans: np.ndarray = times[both, to_step - 1] - times[both, from_step - 1]
    return spans


def auto_bin_count(n: int) -> int:
    """ceil(cbrt(n)) clamped to 1..60, with an exact integer cube root."""
    root = round(n ** (1 / 3)) if n > 0 else 0
    while root**3 < n:
        root += 1
    while root > 0 and (root - 1) ** 3 >= n:
        root -= 1
    return max(AUTO_MIN_BINS, min(AUTO_MAX_BINS, root))


def posthog_bins(spans_us: np.ndarray, bins: int | None = None) -> tuple[int, int, int, list[int]]:
    """(from second, bin width in seconds, bin count, count per bin: bin count + 1 of them) of
    PostHog's histogram over the times; `bins` None picks the count from the number of times."""
    if spans_us.size == 0:
        return 0, 0, 0, []
    count = auto_bin_count(spans_us.size) if bins is None else max(1, min(MAX_BINS, bins))
    low = int(spans_us.min()) // US_PER_SECOND  # floor, also of a negative time
    high = -(-int(spans_us.max()) // US_PER_SECOND)  # ceil
    width = -(-(high - low) // count) or EMPTY_WIDTH_SECONDS
    index = (spans_us - low * US_PER_SECOND) // (width * US_PER_SECOND)
    counts = np.bincount(index.astype(np.int64), minlength=count + 1)
    return low, width, count, [int(c) for c in counts]


def percentile_us(sorted_us: np.ndarray, percent: int) -> float:
    """The `percent`-th percentile (linear between closest ranks) of sorted integer µs."""
    rank = (sorted_us.size - 1) * percent
    lo, rest = divmod(rank, 100)
    low = int(sorted_us[lo])
    if rest == 0:
        return float(low)
    return low + (int(sorted_us[lo + 1]) - low) * rest / 100


def time_to_convert(
    result: FunnelResult, from_step: int = 1, to_step: int | None = None, bins: int | None = None
) -> TimeToConvert:
    """The time-to-convert histogram and summary of a computed funnel (default: step 1 to the
    last step); `bins` fixes the bin count (1..90), else it is automatic."""
    steps = result.funnel.steps
    first, last = check_steps(len(steps), from_step, to_step)
    spans = conversion_times_us(result, first, last)
    low, width, count, counts = posthog_bins(spans, bins)
    n = int(spans.size)
    stats: dict[int, float | None] = dict.fromkeys(PERCENTILES)
    mean = smallest = largest = None
    if n:
        ordered = np.sort(spans)
        stats = {p: percentile_us(ordered, p) / US_PER_SECOND for p in PERCENTILES}
        mean = exact_sum(spans) / n / US_PER_SECOND
        smallest, largest = int(ordered[0]) / US_PER_SECOND, int(ordered[-1]) / US_PER_SECOND
    return TimeToConvert(
        from_step=first,
        to_step=last,
        from_label=steps[first - 1].display,
        to_label=steps[last - 1].display,
        n=n,
        bin_count=count,
        bin_width_seconds=width,
        auto_bins=bins is None,
        bins=tuple(
            TimeBin(low + i * width, low + (i + 1) * width, c) for i, c in enumerate(counts)
        ),
        mean_seconds=mean,
        median_seconds=stats[50],
        p90_seconds=stats[90],
        p95_seconds=stats[95],
        min_seconds=smallest,
        max_seconds=largest,
    )
