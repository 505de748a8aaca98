"""Rows grouped by person without a sort: the radix partition every kernel run over integer
person keys uses (numba, cached on disk).

Like a database's hash aggregate: rows go to buckets by the high bits of a hash of the person
key (``bucket_histogram``, then a stable ``bucket_scatter``, each thread its own slice of rows);
each bucket, small enough for the cache, numbers its keys with a local hash table
(``number_persons``), and ``sort_bucket`` counting-sorts its rows by them, each person's rows in
time order. The plain and the unit machine then run every person of a sorted bucket. The
Python side (threads, buffers) is kernel/partition.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
    keys: np.ndarray, ts: np.ndarray, mask: np.ndarray, bits: int, pos: np.ndarray,
    b_keys: np.ndarray, b_ts: np.ndarray, b_mask: np.ndarray,
) -> None:  # fmt: skip
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
    b_keys: np.ndarray, bucket_start: np.ndarray, first: int, last: int, local: np.ndarray,
    persons_in: np.ndarray,
) -> None:  # fmt: skip
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
def sort_bucket(
    b_keys: np.ndarray, b_ts: np.ndarray, b_payload: np.ndarray, bucket_start: np.ndarray,
    person_start: np.ndarray, local: np.ndarray, b: int, first_keys: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Bucket b's rows counting-sorted by person: each person's rows stay in input order, and
    are sorted by time (stably) only where the input was not. Returns each person's first row
    (+ the end), the times and the payload column (a mask, or row numbers) in that order, and
    writes each person's key to ``first_keys``."""
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
    l_payload = np.empty(hi - lo, np.int64)
    for i in range(lo, hi):
        q = local[i]
        j = cursor[q]
        cursor[q] = j + 1
        l_ts[j] = b_ts[i]
        l_payload[j] = b_payload[i]
        first_keys[p0 + q] = b_keys[i]
    for q in range(m):
        s = at[q]
        e = at[q + 1]
        for i in range(s + 1, e):
            if l_ts[i] < l_ts[i - 1]:  # not in time order: sort this person (stable)
                order = np.argsort(l_ts[s:e], kind="mergesort")
                l_ts[s:e] = l_ts[s:e][order]
                l_payload[s:e] = l_payload[s:e][order]
                break
    return at, l_ts, l_payload
