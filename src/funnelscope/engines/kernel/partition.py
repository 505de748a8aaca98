"""The Python side of the radix partition (kernel/buckets.py): threads, buffers, ranges.

Rows go to buckets by a hash of the integer person key, each bucket small enough for the cache,
so no global sort is needed; ``balanced`` splits buckets (or sorted persons) into ranges of
similar row counts for the threads.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelscope.engines.kernel.plain_scan import Segment

THREADS = max(1, min(os.cpu_count() or 1, 8))
ROWS_PER_BUCKET = 16384  # a bucket's rows and hash table stay in the CPU cache


@dataclass
class Partition:
    """Rows scattered into radix buckets, each bucket's persons numbered (buckets.py)."""

    keys: np.ndarray
    ts: np.ndarray
    mask: np.ndarray
    bucket_start: np.ndarray
    person_start: np.ndarray
    local: np.ndarray
    ranges: list[tuple[int, int]]
    n_persons: int


def partition(pool: ThreadPoolExecutor, segments: list[Segment]) -> Partition | None:
    """Radix-partition rows by a hash of the integer person key and number each bucket's keys
    (None when there are no rows)."""
    from funnelscope.engines.kernel import buckets

    core: Any = buckets  # numba dispatchers: mypy cannot see their signatures
    bucket_histogram, bucket_scatter = core.bucket_histogram, core.bucket_scatter
    number_persons = core.number_persons

    pieces = pieces_of(segments)
    n = sum(keys.size for keys, _, _ in pieces)
    if n == 0:
        return None
    bits = 0
    while (1 << bits) * ROWS_PER_BUCKET < n and bits < 12:
        bits += 1
    hist = np.stack(list(pool.map(lambda piece: bucket_histogram(piece[0], bits), pieces)))
    bucket_start = np.concatenate(([0], np.cumsum(hist.sum(axis=0)))).astype(np.int64)
    offsets = bucket_start[:-1] + (np.cumsum(hist, axis=0) - hist)
    b_keys, b_ts, b_mask = (np.empty(n, np.int64) for _ in range(3))
    list(
        pool.map(
            lambda i: bucket_scatter(*pieces[i], bits, offsets[i].copy(), b_keys, b_ts, b_mask),
            range(len(pieces)),
        )
    )
    pieces.clear()  # the scan's arrays can go
    segments.clear()
    ranges = balanced(bucket_start, THREADS * 4)
    local = np.empty(n, np.int32)
    persons_in = np.zeros(1 << bits, np.int64)
    list(pool.map(lambda r: number_persons(b_keys, bucket_start, *r, local, persons_in), ranges))
    person_start = np.concatenate(([0], np.cumsum(persons_in))).astype(np.int64)
    return Partition(
        b_keys, b_ts, b_mask, bucket_start, person_start, local, ranges, int(person_start[-1])
    )


def pieces_of(segments: list[Segment]) -> list[Segment]:
    """Segments cut so that every thread gets about the same number of rows."""
    n = sum(keys.size for keys, _, _ in segments)
    target = max(1, -(-n // (THREADS * 2)))
    pieces = []
    for keys, ts, mask in segments:
        keys = np.asarray(keys, dtype=np.int64)
        for lo in range(0, keys.size, target):
            hi = lo + target
            pieces.append((keys[lo:hi], ts[lo:hi], mask[lo:hi]))
    return pieces


def balanced(offsets: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Contiguous ranges of the groups delimited by `offsets` holding similar numbers of rows."""
    groups = offsets.size - 1
    cuts = np.searchsorted(offsets, np.linspace(0, offsets[-1], parts + 1), side="left")
    cuts = np.clip(cuts, 0, groups)
    cuts[0], cuts[-1] = 0, groups
    bounds = sorted(set(int(c) for c in cuts))
    return [(a, b) for a, b in itertools.pairwise(bounds) if a < b]
