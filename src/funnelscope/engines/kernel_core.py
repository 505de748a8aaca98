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
    best = np.empty(n_steps, np.int64)
    for p in range(first, last):
        s = starts[p]
        e = starts[p + 1]
        if mode == ANY:
            length = _any_order_person(ts, mask, s, e, n_steps, window_us, best, cur)
        else:
            length = _sequential_person(
                ts, mask, s, e, n_steps, window_us, mode == STRICT, best, used, cur
            )
        reached[p] = length
        for k in range(length):
            times[k, p] = best[k]


@njit(cache=True, parallel=True)
def run_persons(
    starts: np.ndarray, ts: np.ndarray, mask: np.ndarray, n_steps: int, window_us: int, mode: int
) -> tuple[np.ndarray, np.ndarray]:
    """Best attempt of every person: ``reached`` (int16) and ``times`` (steps x persons, µs;
    step-major so each step's times are contiguous for the summary)."""
    n_persons = starts.size - 1
    reached = np.zeros(n_persons, np.int16)
    times = np.zeros((n_steps, n_persons), np.int64)
    blocks = 64
    size = (n_persons + blocks - 1) // blocks
    for b in prange(blocks):
        first = b * size
        last = min(n_persons, first + size)
        if first < last:
            _run_block(starts, ts, mask, first, last, n_steps, window_us, mode, reached, times)
    return reached, times


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


@njit(cache=True, parallel=True)
def group_persons(
    keys: np.ndarray, ts: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group rows by person key, each person's rows in time order (ties keep input order).

    Radix-partitioned like a database's hash aggregate: rows go to buckets by the high bits of
    a hash of the key (a stable parallel scatter), then each bucket, small enough for the cache,
    numbers its keys with a local hash table and is counting-sorted by them. Returns
    ``starts`` (persons + 1 offsets), grouped ``ts`` and ``mask``, and each person's key.
    """
    n = keys.size
    bits = 0
    while (1 << bits) * 16384 < n and bits < 12:
        bits += 1
    n_buckets = 1 << bits
    chunks = 16
    chunk = (n + chunks - 1) // chunks
    hist = np.zeros((chunks, n_buckets), np.int64)
    top = np.uint64(64 - bits) if bits > 0 else np.uint64(63)
    for c in prange(chunks):
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            b = _slot(keys[i], top) if bits > 0 else 0
            hist[c, b] += 1
    offsets = np.empty((chunks, n_buckets), np.int64)
    bucket_start = np.empty(n_buckets + 1, np.int64)
    total = 0
    for b in range(n_buckets):
        bucket_start[b] = total
        for c in range(chunks):
            offsets[c, b] = total
            total += hist[c, b]
    bucket_start[n_buckets] = total
    b_keys = np.empty(n, np.int64)
    b_ts = np.empty(n, np.int64)
    b_mask = np.empty(n, np.int64)
    for c in prange(chunks):
        pos = offsets[c].copy()
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            b = _slot(keys[i], top) if bits > 0 else 0
            j = pos[b]
            b_keys[j] = keys[i]
            b_ts[j] = ts[i]
            b_mask[j] = mask[i]
            pos[b] = j + 1
    # number each bucket's keys (first appearance order)
    local = np.empty(n, np.int32)
    persons_in = np.zeros(n_buckets, np.int64)
    for b in prange(n_buckets):
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
    person_start = np.empty(n_buckets + 1, np.int64)
    p_total = 0
    for b in range(n_buckets):
        person_start[b] = p_total
        p_total += persons_in[b]
    person_start[n_buckets] = p_total
    starts = np.empty(p_total + 1, np.int64)
    starts[p_total] = n
    first_keys = np.empty(p_total, np.int64)
    out_ts = np.empty(n, np.int64)
    out_mask = np.empty(n, np.int64)
    for b in prange(n_buckets):
        lo = bucket_start[b]
        hi = bucket_start[b + 1]
        m = persons_in[b]
        p0 = person_start[b]
        at = np.zeros(m + 1, np.int64)
        for i in range(lo, hi):
            at[local[i] + 1] += 1
        for q in range(m):
            at[q + 1] += at[q]
        for q in range(m):
            starts[p0 + q] = lo + at[q]
        for i in range(lo, hi):
            q = local[i]
            j = lo + at[q]
            at[q] += 1
            out_ts[j] = b_ts[i]
            out_mask[j] = b_mask[i]
            first_keys[p0 + q] = b_keys[i]
        for q in range(m):  # input not in time order: sort that person's rows (stable)
            s = starts[p0 + q]
            e = lo + at[q]
            ordered = True
            for i in range(s + 1, e):
                if out_ts[i] < out_ts[i - 1]:
                    ordered = False
                    break
            if not ordered:
                order = np.argsort(out_ts[s:e], kind="mergesort")
                out_ts[s:e] = out_ts[s:e][order]
                out_mask[s:e] = out_mask[s:e][order]
    return starts, out_ts, out_mask, first_keys
