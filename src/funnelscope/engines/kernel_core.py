"""The compiled per-person state machine behind the `kernel` engine (numba, cached on disk).

Input: events sorted by person, then time (then event_id where tie order can matter, see
docs/semantics.md [S7]), as three arrays: ``starts`` (offset of each person's first event, plus
the end), ``ts`` (int64 microseconds) and ``mask`` (int64; bit k set when the event can fill step
k). Output per person: how many steps the best attempt reached and the time of each step.

The rules are the reference engine's, transcribed for arrays: ordered and strict fill each step
with the earliest unused event at or after the previous step's time (ties in order); ``any``
counts distinct steps within the window, by maximum matching when an event fits several steps.
One function holds all three modes; the mode is data (``ORDERED``/``STRICT``/``ANY``).

Every function here releases the GIL; engines/kernel.py runs them on a few Python threads over
disjoint rows or buckets (numba's own parallel mode costs ~0.1 s more at every start).
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
    out_events: np.ndarray,
) -> int:
    """ordered / strict for one person's events ts[s:e]: the best attempt's length (times in
    out_times, the events that did each step in out_events). Every step-1 event starts an
    attempt; the first to reach furthest wins."""
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
                out_events[u] = used[u]
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
    out_events: np.ndarray,
    cur_events: np.ndarray,
) -> int:
    """any for one person: per entry time, the times at which the k-th distinct step was done
    (and in out_events the event with which it was done)."""
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
            owner[:] = -1
            matched[:] = -1
            _augment(mask, i, s, owner, matched, via)
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
        if length > best:
            best = length
            for u in range(length):
                out_times[u] = cur[u]
                out_events[u] = cur_events[u]
            if best == n_steps:
                break
    return best


@njit(cache=True, nogil=True)
def run_persons_block(
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
    """Best attempts of persons first..last of person-sorted rows (``starts``)."""
    used = np.empty(n_steps, np.int64)
    cur = np.empty(n_steps, np.int64)
    best = np.empty(n_steps, np.int64)
    events = np.empty(n_steps, np.int64)
    cur_events = np.empty(n_steps, np.int64)
    for p in range(first, last):
        s = starts[p]
        e = starts[p + 1]
        if mode == ANY:
            length = _any_order_person(
                ts, mask, s, e, n_steps, window_us, best, cur, events, cur_events
            )
        else:
            length = _sequential_person(
                ts, mask, s, e, n_steps, window_us, mode == STRICT, best, used, cur, events
            )
        reached[p] = length
        for k in range(length):
            times[k, p] = best[k]


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_OTHER = np.uint64(0xC2B2AE3D27D4EB4F)


@njit(cache=True, nogil=True)
def _slot(key: np.int64, shift: np.uint64) -> np.int64:
    """Bucket of a key: the top bits of a multiplicative hash."""
    return np.int64((np.uint64(key) * _GOLDEN) >> shift)


@njit(cache=True, nogil=True)
def _local_slot(key: np.int64, shift: np.uint64) -> np.int64:
    """Slot in a bucket's table: another hash, since a bucket's keys share _slot's top bits."""
    return np.int64((np.uint64(key) * _OTHER) >> shift)


@njit(cache=True, nogil=True)
def bucket_histogram(keys: np.ndarray, bits: int) -> np.ndarray:
    """Rows per bucket (the top `bits` bits of the key's hash) in one segment of rows."""
    counts = np.zeros(1 << bits, np.int64)
    if bits == 0:
        counts[0] = keys.size
        return counts
    top = np.uint64(64 - bits)
    for i in range(keys.size):
        counts[_slot(keys[i], top)] += 1
    return counts


@njit(cache=True, nogil=True)
def bucket_scatter(
    keys: np.ndarray,
    ts: np.ndarray,
    mask: np.ndarray,
    bits: int,
    pos: np.ndarray,
    b_keys: np.ndarray,
    b_ts: np.ndarray,
    b_mask: np.ndarray,
) -> None:
    """Copy one segment's rows to their buckets from `pos` on (keeps their order: stable)."""
    top = np.uint64(64 - bits) if bits > 0 else np.uint64(63)
    for i in range(keys.size):
        b = _slot(keys[i], top) if bits > 0 else 0
        j = pos[b]
        b_keys[j] = keys[i]
        b_ts[j] = ts[i]
        b_mask[j] = mask[i]
        pos[b] = j + 1


@njit(cache=True, nogil=True)
def number_persons(
    b_keys: np.ndarray,
    bucket_start: np.ndarray,
    first: int,
    last: int,
    local: np.ndarray,
    persons_in: np.ndarray,
) -> None:
    """Number each bucket's keys by first appearance (a hash table the size of the bucket)."""
    for b in range(first, last):
        lo = bucket_start[b]
        hi = bucket_start[b + 1]
        size = 2
        while size < 2 * (hi - lo):
            size <<= 1
        shift = np.uint64(64)
        while (np.int64(1) << np.int64(64 - shift)) < size:
            shift -= np.uint64(1)
        table_keys = np.empty(size, np.int64)
        table_codes = np.full(size, -1, np.int32)
        count = 0
        for i in range(lo, hi):
            k = b_keys[i]
            s = _local_slot(k, shift)
            while True:
                code = table_codes[s]
                if code < 0:
                    table_keys[s] = k
                    table_codes[s] = count
                    local[i] = count
                    count += 1
                    break
                if table_keys[s] == k:
                    local[i] = code
                    break
                s = (s + 1) & (size - 1)
        persons_in[b] = count


@njit(cache=True, nogil=True)
def run_buckets(
    b_keys: np.ndarray,
    b_ts: np.ndarray,
    b_mask: np.ndarray,
    bucket_start: np.ndarray,
    person_start: np.ndarray,
    local: np.ndarray,
    first: int,
    last: int,
    n_steps: int,
    window_us: int,
    mode: int,
    reached: np.ndarray,
    times: np.ndarray,
    first_keys: np.ndarray,
) -> None:
    """Counting-sort each bucket's rows by person (each person's rows stay in input order, and
    are re-sorted by time only where the input was not), then find every best attempt."""
    used = np.empty(n_steps, np.int64)
    cur = np.empty(n_steps, np.int64)
    best = np.empty(n_steps, np.int64)
    events = np.empty(n_steps, np.int64)
    cur_events = np.empty(n_steps, np.int64)
    for b in range(first, last):
        lo = bucket_start[b]
        hi = bucket_start[b + 1]
        p0 = person_start[b]
        m = person_start[b + 1] - p0
        at = np.zeros(m + 1, np.int64)
        for i in range(lo, hi):
            at[local[i] + 1] += 1
        for q in range(m):
            at[q + 1] += at[q]
        cursor = at[:m].copy()
        l_ts = np.empty(hi - lo, np.int64)
        l_mask = np.empty(hi - lo, np.int64)
        for i in range(lo, hi):
            q = local[i]
            j = cursor[q]
            cursor[q] = j + 1
            l_ts[j] = b_ts[i]
            l_mask[j] = b_mask[i]
            first_keys[p0 + q] = b_keys[i]
        for q in range(m):
            s = at[q]
            e = at[q + 1]
            for i in range(s + 1, e):
                if l_ts[i] < l_ts[i - 1]:  # not in time order: sort this person (stable)
                    order = np.argsort(l_ts[s:e], kind="mergesort")
                    l_ts[s:e] = l_ts[s:e][order]
                    l_mask[s:e] = l_mask[s:e][order]
                    break
            if mode == ANY:
                length = _any_order_person(
                    l_ts, l_mask, s, e, n_steps, window_us, best, cur, events, cur_events
                )
            else:
                length = _sequential_person(
                    l_ts,
                    l_mask,
                    s,
                    e,
                    n_steps,
                    window_us,
                    mode == STRICT,
                    best,
                    used,
                    cur,
                    events,
                )
            reached[p0 + q] = length
            for k in range(length):
                times[k, p0 + q] = best[k]
