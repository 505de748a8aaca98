"""The compiled per-person state machine behind the `kernel` engine (numba, cached on disk).

Input: events sorted by person, then time (then event_id where tie order can matter, see
docs/semantics.md [S7]), as three arrays: ``starts`` (offset of each person's first event, plus
the end), ``ts`` (int64 microseconds) and ``mask`` (int64; bit k set when the event can fill step
k). Output per person: how many steps the best attempt reached and the time of each step.

The rules are the reference engine's, transcribed for arrays: ordered and strict fill each step
with the earliest unused event at or after the previous step's time (ties in order); ``any``
counts distinct steps within the window, by maximum matching when an event fits several steps.
One function holds all three modes; the mode is data (``ORDERED``/``STRICT``/``ANY``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

ORDERED = 0
STRICT = 1
ANY = 2


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
    ts: np.ndarray,
    mask: np.ndarray,
    s: int,
    e: int,
    n_steps: int,
    window_us: int,
    strict: bool,
    out_times: np.ndarray,
    used: np.ndarray,
    cur: np.ndarray,
) -> int:
    """ordered / strict for one person's events ts[s:e]: the best attempt's length (times in
    out_times). Every step-1 event starts an attempt; the first to reach furthest wins."""
    best = 0
    for i in range(s, e):
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
        if length > best:
            best = length
            for u in range(length):
                out_times[u] = cur[u]
            if best == n_steps:
                break
    return best


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
    ts: np.ndarray,
    mask: np.ndarray,
    s: int,
    e: int,
    n_steps: int,
    window_us: int,
    out_times: np.ndarray,
    cur: np.ndarray,
) -> int:
    """any for one person: per entry time, the times at which the k-th distinct step was done."""
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
            length = 1
            j = first
            while j < e and ts[j] <= deadline and length < n_steps:
                if j != i and (mask[j] & ~seen):
                    seen |= mask[j]
                    cur[length] = ts[j]
                    length += 1
                j += 1
        else:
            owner[:] = -1
            matched[:] = -1
            _augment(mask, i, s, owner, matched, via)
            cur[0] = start
            length = 1
            j = first
            while j < e and ts[j] <= deadline and length < n_steps:
                if j != i and mask[j] != 0 and _augment(mask, j, s, owner, matched, via):
                    cur[length] = ts[j]
                    length += 1
                j += 1
        if length > best:
            best = length
            for u in range(length):
                out_times[u] = cur[u]
            if best == n_steps:
                break
    return best


@njit(cache=True, nogil=True)
def _run_block(
    starts: np.ndarray,
    ts: np.ndarray,
    mask: np.ndarray,
    first: int,
    last: int,
    n_steps: int,
    window_us: int,
    mode: int,
    reached: np.ndarray,
    times: np.ndarray,
) -> None:
    used = np.empty(n_steps, np.int64)
    cur = np.empty(n_steps, np.int64)
    for p in range(first, last):
        s = starts[p]
        e = starts[p + 1]
        if mode == ANY:
            reached[p] = _any_order_person(ts, mask, s, e, n_steps, window_us, times[p], cur)
        else:
            reached[p] = _sequential_person(
                ts, mask, s, e, n_steps, window_us, mode == STRICT, times[p], used, cur
            )


@njit(cache=True, parallel=True)
def run_persons(
    starts: np.ndarray, ts: np.ndarray, mask: np.ndarray, n_steps: int, window_us: int, mode: int
) -> tuple[np.ndarray, np.ndarray]:
    """Best attempt of every person: ``reached`` (int16) and ``times`` (persons x steps, µs)."""
    n_persons = starts.size - 1
    reached = np.zeros(n_persons, np.int16)
    times = np.zeros((n_persons, n_steps), np.int64)
    blocks = 64
    size = (n_persons + blocks - 1) // blocks
    for b in prange(blocks):
        first = b * size
        last = min(n_persons, first + size)
        if first < last:
            _run_block(starts, ts, mask, first, last, n_steps, window_us, mode, reached, times)
    return reached, times
