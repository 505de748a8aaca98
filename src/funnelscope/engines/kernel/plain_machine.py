"""The plain machine: the kernel's compiled per-person state machine (numba, cached on disk).

Input: events sorted by person, then time (then event_id where tie order can matter, see
docs/semantics.md [S7]), as three arrays: ``starts`` (offset of each person's first event, plus
the end), ``ts`` (int64 microseconds) and ``mask`` (int64; bit k set when the event can fill step
k). Output per person: how many steps the best attempt reached and the time of each step.

The rules are the reference engine's, transcribed for arrays: ordered and strict fill each step
with the earliest unused event at or after the previous step's time (ties in order); ``any``
counts distinct steps within the window, by maximum matching when an event fits several steps.
``best_attempt`` holds all three modes; the mode is data (the integer codes below, derived from
model.spec.Order in this one place).

Every function here releases the GIL; kernel/plain_run.py runs them on a few Python threads over
disjoint rows or buckets (numba's own parallel mode costs ~0.1 s more at every start).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from funnelscope.engines.kernel.buckets import sort_bucket
from funnelscope.model.spec import Order

ORDER_CODES = {order: code for code, order in enumerate(Order)}  # numba compares integers
ORDERED, STRICT, ANY = ORDER_CODES[Order.ORDERED], ORDER_CODES[Order.STRICT], ORDER_CODES[Order.ANY]
# rows of the scratch array (one column per step), reused from person to person: the best
# attempt's times and events, and the current attempt's times and events (USED: ordered/strict)
BEST_TIMES, USED, CUR, BEST_EVENTS, CUR_EVENTS = range(5)
SCRATCH_ROWS = 5


@njit(cache=True, nogil=True)
def _lower_bound(ts: np.ndarray, lo: int, hi: int, value: int) -> int:
    """First index in ts[lo:hi] with ts >= value (hi if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if ts[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _upper_bound(ts: np.ndarray, lo: int, hi: int, value: int) -> int:
    """First index in ts[lo:hi] with ts > value (hi if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if ts[mid] <= value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _sequential_person(
    ts: np.ndarray, mask: np.ndarray, s: int, e: int, n_steps: int, window_us: int,
    strict: bool, entry_end: int, scratch: np.ndarray,
) -> int:  # fmt: skip
    """ordered / strict for one person's events ts[s:e]: the best attempt's length (its times
    and events in scratch). Every step-1 event before `entry_end` starts an attempt; the first
    to reach furthest wins."""
    used = scratch[USED]
    cur = scratch[CUR]
    best = 0
    for i in range(s, e):
        if ts[i] >= entry_end:
            break  # [R1] no attempt starts after the date range
        if (mask[i] & 1) == 0:
            continue
        last = ts[i]
        deadline = last + window_us
        cur[0] = last
        used[0] = i
        length = 1
        for k in range(1, n_steps):
            bit = np.int64(1) << k
            j = _lower_bound(ts, s, e, last)  # ties with the previous step are in order
            found = -1
            while j < e and ts[j] <= deadline:
                if mask[j] & bit:
                    taken = False
                    for u in range(length):
                        if used[u] == j:
                            taken = True
                            break
                    if not taken:
                        found = j
                        break
                j += 1
            if found < 0:
                break
            if strict and _lower_bound(ts, s, e, ts[found]) > _upper_bound(ts, s, e, last):
                break  # another event strictly between the two steps
            used[length] = found
            cur[length] = ts[found]
            length += 1
            last = ts[found]
        best = _kept(scratch, length, best, USED)
        if best == n_steps:
            break
    return best


@njit(cache=True, nogil=True)
def _kept(scratch: np.ndarray, length: int, best: int, events_row: int) -> int:
    """The current attempt (times in row CUR, events in `events_row`) becomes the best when it
    reaches further; returns the best length."""
    if length <= best:
        return best
    for u in range(length):
        scratch[BEST_TIMES, u] = scratch[CUR, u]
        scratch[BEST_EVENTS, u] = scratch[events_row, u]
    return length


@njit(cache=True, nogil=True)
def _start_matching(
    mask: np.ndarray, j: int, s: int, owner: np.ndarray, matched: np.ndarray, via: np.ndarray
) -> None:
    """A new matching of events to steps (``any``), holding event j."""
    owner[:] = -1
    matched[:] = -1
    _augment(mask, j, s, owner, matched, via)


@njit(cache=True, nogil=True)
def _augment(
    mask: np.ndarray, j: int, s: int, owner: np.ndarray, matched: np.ndarray, via: np.ndarray
) -> bool:
    """Grow the matching of events to steps by event j along an augmenting path (BFS)."""
    n_steps = owner.size
    visited = np.int64(0)
    queue = np.empty(n_steps + 1, np.int64)
    head = 0
    tail = 1
    queue[0] = j
    while head < tail:
        u = queue[head]
        head += 1
        free = mask[u] & ~visited
        for k in range(n_steps):
            bit = np.int64(1) << k
            if (free & bit) == 0:
                continue
            visited |= bit
            via[k] = u
            if owner[k] < 0:
                step = k
                while True:  # flip the path back to j
                    event = via[step]
                    previous = matched[event - s]
                    owner[step] = event
                    matched[event - s] = step
                    if event == j:
                        return True
                    step = previous
            queue[tail] = owner[k]
            tail += 1
    return False


@njit(cache=True, nogil=True)
def _any_order_person(
    ts: np.ndarray, mask: np.ndarray, s: int, e: int, n_steps: int, window_us: int,
    entry_end: int, scratch: np.ndarray,
) -> int:  # fmt: skip
    """any for one person: per entry time, the times at which the k-th distinct step was done
    (and the event with which it was done), the best in scratch."""
    cur = scratch[CUR]
    cur_events = scratch[CUR_EVENTS]
    single = True
    for i in range(s, e):
        m = mask[i]
        if m & (m - 1):
            single = False
            break
    owner = np.empty(0, np.int64)
    matched = np.empty(0, np.int64)
    via = np.empty(0, np.int64)
    if not single:
        owner = np.empty(n_steps, np.int64)
        matched = np.empty(e - s, np.int64)
        via = np.empty(n_steps, np.int64)
    best = 0
    previous_start = np.int64(0)
    have_previous = False
    for i in range(s, e):
        if ts[i] >= entry_end:
            break  # [R1] no attempt starts after the date range
        if mask[i] == 0:
            continue
        start = ts[i]
        if have_previous and start == previous_start:
            continue  # an entry tied with the previous one sees the same window
        have_previous = True
        previous_start = start
        deadline = start + window_us
        first = _lower_bound(ts, s, e, start)
        length = 0
        if single:
            seen = mask[i]
            cur[0] = start
            cur_events[0] = i
            length = 1
            j = first
            while j < e and ts[j] <= deadline and length < n_steps:
                if j != i and (mask[j] & ~seen):
                    seen |= mask[j]
                    cur[length] = ts[j]
                    cur_events[length] = j
                    length += 1
                j += 1
        else:
            _start_matching(mask, i, s, owner, matched, via)
            cur[0] = start
            cur_events[0] = i
            length = 1
            j = first
            while j < e and ts[j] <= deadline and length < n_steps:
                if j != i and mask[j] != 0 and _augment(mask, j, s, owner, matched, via):
                    cur[length] = ts[j]
                    cur_events[length] = j
                    length += 1
                j += 1
        best = _kept(scratch, length, best, CUR_EVENTS)
        if best == n_steps:
            break
    return best


@njit(cache=True, nogil=True)
def best_attempt(
    ts: np.ndarray, mask: np.ndarray, s: int, e: int, n_steps: int, window_us: int, mode: int,
    entry_end: int, scratch: np.ndarray,
) -> int:  # fmt: skip
    """The best attempt over one person's events ts[s:e] in order mode `mode`, entering only
    before `entry_end` (the date range's end, [R1]): its length; the time of each step in
    scratch[BEST_TIMES], the event that did it in scratch[BEST_EVENTS] (`scratch`: a
    SCRATCH_ROWS x n_steps array, reused from person to person)."""
    if mode == ANY:
        return _any_order_person(ts, mask, s, e, n_steps, window_us, entry_end, scratch)
    return _sequential_person(
        ts, mask, s, e, n_steps, window_us, mode == STRICT, entry_end, scratch
    )


@njit(cache=True, nogil=True)
def run_persons_block(
    starts: np.ndarray, ts: np.ndarray, mask: np.ndarray, first: int, last: int, n_steps: int,
    window_us: int, mode: int, entry_end: int, reached: np.ndarray, times: np.ndarray,
) -> None:  # fmt: skip
    """Best attempts of persons first..last of person-sorted rows (``starts``)."""
    scratch = np.empty((SCRATCH_ROWS, n_steps), np.int64)
    for p in range(first, last):
        length = best_attempt(
            ts, mask, starts[p], starts[p + 1], n_steps, window_us, mode, entry_end, scratch
        )
        reached[p] = length
        times[:length, p] = scratch[BEST_TIMES, :length]


@njit(cache=True, nogil=True)
def run_buckets(
    b_keys: np.ndarray, b_ts: np.ndarray, b_mask: np.ndarray, bucket_start: np.ndarray,
    person_start: np.ndarray, local: np.ndarray, first: int, last: int, n_steps: int,
    window_us: int, mode: int, entry_end: int, reached: np.ndarray, times: np.ndarray,
    first_keys: np.ndarray,
) -> None:  # fmt: skip
    """Every best attempt of the persons in radix buckets first..last (kernel/buckets.py)."""
    scratch = np.empty((SCRATCH_ROWS, n_steps), np.int64)
    for b in range(first, last):
        p0 = person_start[b]
        at, l_ts, l_mask = sort_bucket(
            b_keys, b_ts, b_mask, bucket_start, person_start, local, b, first_keys
        )
        for q in range(at.size - 1):
            length = best_attempt(
                l_ts, l_mask, at[q], at[q + 1], n_steps, window_us, mode, entry_end, scratch
            )
            reached[p0 + q] = length
            times[:length, p0 + q] = scratch[BEST_TIMES, :length]
