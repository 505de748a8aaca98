"""Per-step numbers from counted attempts, on arrays (docs/semantics.md [S16]-[S18], [O3]-[O4]).

An attempt row has ``reached`` (steps up to the furthest one it did) and ``times`` (when it did
each step, ``SKIPPED_US`` for an optional step it skipped). These functions turn rows into the
step table; the summary and the people lists share them, so both count the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.results import (
    SKIPPED_US,
    BreakdownRow,
    Outcomes,
    StepResult,
    done_at,
    previous_required,
)
from funnelscope.model.spec import Funnel


def step_results(
    funnel: Funnel, reached: np.ndarray, times: np.ndarray, where: np.ndarray | None = None
) -> tuple[StepResult, ...]:
    """The per-step table of the given rows, or of the rows `where` marks (rows that reached 0
    count nowhere)."""
    optional = [step.optional for step in funnel.steps]
    counts: list[int] = []
    gaps: list[np.ndarray | None] = []
    for k in range(len(funnel.steps)):
        done = done_at(reached, times, optional, k)
        if where is not None:
            done &= where
        counts.append(int(np.count_nonzero(done)))
        gaps.append(_gaps_from_previous_done(times, done, optional, k) if k else None)
    return step_table(funnel, counts, gaps)


def step_results_by_group(
    funnel: Funnel, reached: np.ndarray, times: np.ndarray, groups: np.ndarray
) -> tuple[tuple[StepResult, ...], dict[int, tuple[StepResult, ...]]]:
    """The per-step table of all rows and of each group code present among rows that entered,
    when every row counts once (codes partition the rows): one pass per step, split by code."""
    optional = [step.optional for step in funnel.steps]
    codes = np.unique(groups[reached > 0])
    top = int(codes.max(initial=0))
    if top < 1 << 16:  # numpy's stable sort is a radix sort for 8- and 16-bit integers
        groups = groups.astype(np.uint8 if top < 1 << 8 else np.uint16)
    counts: dict[int, list[int]] = {int(c): [] for c in codes}
    gaps: dict[int, list[np.ndarray | None]] = {int(c): [] for c in codes}
    all_counts: list[int] = []
    all_gaps: list[np.ndarray | None] = []
    for k in range(len(funnel.steps)):
        done = done_at(reached, times, optional, k)
        done_groups = groups[done]
        all_counts.append(done_groups.size)
        gaps_k = _gaps_from_previous_done(times, done, optional, k) if k else None
        all_gaps.append(gaps_k)
        if gaps_k is None or not codes.size:  # step 1: counts only
            per_code = np.bincount(done_groups, minlength=int(codes.max(initial=0)) + 1)
            for code in counts:
                counts[code].append(int(per_code[code]))
                gaps[code].append(None)
            continue
        order = np.argsort(done_groups, kind="stable")
        bounds = np.searchsorted(done_groups[order], np.append(codes, codes[-1] + 1))
        gaps_k = gaps_k[order]
        for i, code in enumerate(codes.tolist()):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            counts[code].append(hi - lo)
            gaps[code].append(gaps_k[lo:hi])
    total = step_table(funnel, all_counts, all_gaps)
    return total, {code: step_table(funnel, counts[code], gaps[code]) for code in counts}


def step_table(
    funnel: Funnel, counts: Sequence[int], gaps: Sequence[np.ndarray | None]
) -> tuple[StepResult, ...]:
    """StepResults from each step's count and its rows' µs since the previous step done."""
    optional = [step.optional for step in funnel.steps]
    steps: list[StepResult] = []
    for k, step in enumerate(funnel.steps):
        count = counts[k]
        avg = median = None
        previous = counts[previous_required(optional, k)] if k else count
        gaps_us = gaps[k]
        if k and count and gaps_us is not None:
            avg = exact_sum(gaps_us) / count / US_PER_SECOND
            median = exact_median(gaps_us) / US_PER_SECOND
        steps.append(
            StepResult(
                step=k + 1,
                label=step.display,
                event=step.event,
                count=count,
                conversion_from_previous=count / previous if previous else None,
                conversion_from_start=count / counts[0] if counts[0] else None,
                dropped_from_previous=previous - count if k else 0,
                avg_seconds_from_previous=avg,
                median_seconds_from_previous=median,
            )
        )
    return tuple(steps)


def _gaps_from_previous_done(
    times: np.ndarray, done: np.ndarray, optional: Sequence[bool], k: int
) -> np.ndarray:
    """Time from the previous step each counted row did (an optional step it skipped does not
    count) to step k, in µs. Gathers single columns: a 2-D compress costs several times more."""
    start = previous_required(optional, k)
    previous = np.compress(done, times[:, start])
    for j in range(start + 1, k):  # optional steps between: the latest one done
        column = np.compress(done, times[:, j])
        previous = np.where(column != SKIPPED_US, column, previous)
    with np.errstate(over="ignore"):
        gaps: np.ndarray = np.subtract(np.compress(done, times[:, k]), previous)
    return gaps


def exact_sum(values_us: np.ndarray) -> int:
    """The exact integer sum of int64 microseconds (no overflow: seconds and remainders apart)."""
    seconds, rest = np.divmod(values_us, US_PER_SECOND)
    return int(seconds.sum(dtype=np.int64)) * US_PER_SECOND + int(rest.sum(dtype=np.int64))


def exact_median(values_us: np.ndarray) -> int | float:
    """statistics.median of the integers: the middle one, or the mean of the middle two."""
    n = values_us.size
    half = n // 2
    if n % 2:
        return int(np.partition(values_us, half)[half])
    parted = np.partition(values_us, (half - 1, half))
    return (int(parted[half - 1]) + int(parted[half])) / 2


def best_rows(funnel: Funnel, outcomes: Outcomes, rows: np.ndarray) -> np.ndarray:
    """Of `rows` (entered), each unit's best ([S10]: most required steps done, then most steps
    done, then the earliest entry, then the breakdown value first by text, [B4]); every row when
    rows are units of their own."""
    if outcomes.units is None or rows.size == 0:
        return rows
    optional = np.array([step.optional for step in funnel.steps])
    reached = outcomes.reached[rows].astype(np.int64)
    times = outcomes.times_us[rows]
    required_before = np.concatenate(([0], np.cumsum(~optional)))  # required steps in [0, n)
    within = np.arange(optional.size)[None, :] < reached[:, None]
    done = np.count_nonzero(within & (times != SKIPPED_US), axis=1)
    units = outcomes.units[rows]
    keys = [times[:, 0], -done, -required_before[reached], units]
    if outcomes.groups is not None:  # [B4] equal attempts of two values: the first by text
        labels = [BreakdownRow(value, ()).label for value in outcomes.group_values]
        rank = np.empty(len(labels), np.int64)
        rank[np.argsort(np.array(labels, dtype=object), kind="stable")] = np.arange(len(labels))
        keys.insert(0, rank[outcomes.groups[rows]])
    order = np.lexsort(keys)
    ordered_units = units[order]
    first = np.ones(order.size, bool)
    first[1:] = ordered_units[1:] != ordered_units[:-1]
    return np.sort(rows[order[first]])
