"""The `kernel` engine: a compiled per-person state machine over a pushed-down step scan.

The source returns only person, time and a step bitmask, sorted by person and time, with every
filter applied inside DuckDB (src/funnelscope/store/step_scan.py). The numba state machine in
kernel_core.py then finds each person's best attempt, two threads at a time. Results are
identical to the reference engine's (tests/test_engine_agreement.py).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelscope.model.results import Outcomes
from funnelscope.model.spec import Funnel
from funnelscope.store.depth_scan import breakdown_only

US_PER_SECOND = 1_000_000
MODES = {"ordered": 0, "strict": 1, "any": 2}
THREADS = max(1, min(os.cpu_count() or 1, 8))
ROWS_PER_BUCKET = 16384  # a bucket's rows and hash table stay in the CPU cache
Segment = tuple[np.ndarray, np.ndarray, np.ndarray]  # person keys, times, masks in scan order


def compute(funnel: Funnel, events: Any) -> Outcomes:
    """Best attempt of every person in `events` (an event source or a scan-format Arrow table)."""
    from funnelscope.store.sources import as_source

    if funnel.has_depth:
        from funnelscope.engines.depth import compute_depth

        ready = _load_compiled_in_background(values=True) if breakdown_only(funnel) else None
        return compute_depth(funnel, as_source(events), ready)
    compiled = _load_compiled_in_background()
    arrays = as_source(events).step_scan(funnel)
    compiled.join()
    n_steps, window_us = len(funnel.steps), funnel.window_seconds * US_PER_SECOND
    mode = MODES[funnel.order]
    person_ids: Callable[[np.ndarray], list[str]]
    with ThreadPoolExecutor(THREADS) as pool:
        if arrays.segments is not None:  # integer person keys in scan order: group them here
            segments, arrays.segments = arrays.segments, None
            reached, times, first_keys = group_and_run(pool, segments, n_steps, window_us, mode)
            person_ids = _through(first_keys, arrays.ids_of)
        else:  # the scan sorted by person and time
            assert arrays.starts is not None
            reached, times = run_sorted(
                pool, arrays.starts, arrays.ts, arrays.mask, n_steps, window_us, mode
            )
            person_ids = arrays.ids_of
    return Outcomes(reached, times.T, person_ids, arrays.warnings)


@dataclass
class Partition:
    """Rows scattered into radix buckets, each bucket's persons numbered (see group_and_run)."""

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
    from funnelscope.engines import kernel_core

    core: Any = kernel_core  # numba dispatchers: mypy cannot see their signatures
    bucket_histogram, bucket_scatter = core.bucket_histogram, core.bucket_scatter
    number_persons = core.number_persons

    pieces = _pieces(segments)
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
    ranges = _balanced(bucket_start, THREADS * 4)
    local = np.empty(n, np.int32)
    persons_in = np.zeros(1 << bits, np.int64)
    list(pool.map(lambda r: number_persons(b_keys, bucket_start, *r, local, persons_in), ranges))
    person_start = np.concatenate(([0], np.cumsum(persons_in))).astype(np.int64)
    return Partition(
        b_keys, b_ts, b_mask, bucket_start, person_start, local, ranges, int(person_start[-1])
    )


def group_and_run(
    pool: ThreadPoolExecutor, segments: list[Segment], n_steps: int, window_us: int, mode: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group rows by integer person key and find every person's best attempt.

    Radix-partitioned like a database's hash aggregate: rows go to buckets by the high bits of
    a hash of the key (a stable scatter, each thread its own slice of rows); each bucket, small
    enough for the cache, then numbers its keys with a local hash table, counting-sorts its
    rows by them and runs the state machine on each person. No global sort, one pass over
    memory. Returns ``reached``, ``times`` (steps x persons) and each person's key.
    """
    from funnelscope.engines import kernel_core

    run_buckets: Any = kernel_core.run_buckets
    parts = partition(pool, segments)
    if parts is None:
        empty = np.zeros(0, np.int64)
        return np.zeros(0, np.int16), np.zeros((n_steps, 0), np.int64), empty
    reached = np.zeros(parts.n_persons, np.int16)
    times = np.empty((n_steps, parts.n_persons), np.int64)  # past a person's reach: never read
    first_keys = np.empty(parts.n_persons, np.int64)
    list(
        pool.map(
            lambda r: run_buckets(
                parts.keys,
                parts.ts,
                parts.mask,
                parts.bucket_start,
                parts.person_start,
                parts.local,
                *r,
                n_steps,
                window_us,
                mode,
                reached,
                times,
                first_keys,
            ),
            parts.ranges,
        )
    )
    return reached, times, first_keys


def run_sorted(
    pool: ThreadPoolExecutor,
    starts: np.ndarray,
    ts: np.ndarray,
    mask: np.ndarray,
    n_steps: int,
    window_us: int,
    mode: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Best attempts over rows already grouped by person (``starts``), persons split by thread."""
    from funnelscope.engines import kernel_core

    run_persons_block: Any = kernel_core.run_persons_block

    n_persons = starts.size - 1
    reached = np.zeros(n_persons, np.int16)
    times = np.empty((n_steps, n_persons), np.int64)
    ranges = _balanced(starts, THREADS * 4)
    list(
        pool.map(
            lambda r: run_persons_block(
                starts, ts, mask, *r, n_steps, window_us, mode, reached, times
            ),
            ranges,
        )
    )
    return reached, times


def _pieces(segments: list[Segment]) -> list[Segment]:
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


def _balanced(offsets: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Contiguous ranges of the groups delimited by `offsets` holding similar numbers of rows."""
    groups = offsets.size - 1
    cuts = np.searchsorted(offsets, np.linspace(0, offsets[-1], parts + 1), side="left")
    cuts = np.clip(cuts, 0, groups)
    cuts[0], cuts[-1] = 0, groups
    bounds = sorted(set(int(c) for c in cuts))
    return [(a, b) for a, b in itertools.pairwise(bounds) if a < b]


def _through(
    first_keys: np.ndarray, ids_of: Callable[[np.ndarray], list[str]]
) -> Callable[[np.ndarray], list[str]]:
    def person_ids(rows: np.ndarray) -> list[str]:
        return ids_of(first_keys[rows])

    return person_ids


def _load_compiled_in_background(values: bool = False) -> threading.Thread:
    """Import numba and load the cached machine code while DuckDB scans (it releases the GIL);
    with `values`, the breakdown fast path's too (kernel_depth.run_buckets_values)."""

    def load() -> None:
        from funnelscope.engines import kernel_core as k

        one, two = np.zeros(1, np.int64), np.zeros(2, np.int64)
        ints, small = np.zeros(1, np.int32), np.zeros(1, np.int16)
        grid = np.zeros((1, 1), np.int64)
        k.bucket_histogram(one, 0)  # loads the cached machine code of each function
        k.bucket_scatter(one, one, one, 0, one, one, one, one)
        k.number_persons(one, two, 0, 0, ints, one)
        if not values:
            k.run_buckets(one, one, one, two, two, ints, 0, 0, 1, 1, 0, small, grid, one)
            k.run_persons_block(two, one, one, 0, 0, 1, 1, 0, small, grid)
        else:
            from funnelscope.engines import kernel_depth as d

            columns = np.zeros((2, 2), np.int64).T  # as _fast_breakdown lays times out
            flags = np.zeros(1, np.bool_)
            d.run_buckets_values(
                one, one, one, two, two, ints, 0, 0, 1, 0, 1, 0, 0, small, columns, one, one, flags
            )
            fixed = np.zeros(1, np.int64)  # the sorted re-run of persons with ties, whose
            fixed.flags.writeable = False  # scanned columns are read-only (depth_scan._ints)
            d.run_units(
                two, two, 0, 0, fixed, fixed, fixed, one, one, 0, 0, 1, False, flags, one, one,
                one, one, 0, 0, small, grid, one, one,
            )  # fmt: skip

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    return thread


def explain(funnel: Funnel, events: Any) -> str:
    """What the kernel will do for `funnel`: the scan query, its pushed-down filters and plan."""
    from funnelscope.store.sources import as_source

    source = as_source(events)
    query = source.step_query(funnel)
    lines = ["engine: kernel", *_phases(funnel, query)]
    lines += [
        "",
        "filters:",
        *[f"  {note}" for note in query.notes or ["(none)"]],
        "",
        "scan query:",
        f"  {query.sql}",
        "parameters:",
        *[f"  ${name} = {value!r}" for name, value in query.params.items()],
        "",
        "scan plan:",
        source.plan(query),
    ]
    return "\n".join(lines)


def _breakdown_words(b: Any) -> str:
    read = b.attribution_text if b.scope == "event" else "person property"
    return f"breakdown by {' / '.join(b.properties)} ({read})"


def _phases(funnel: Funnel, query: Any) -> list[str]:
    """The three phases in words, as they apply to `funnel`."""
    mode = funnel.order
    n = len(funnel.steps)
    every = " (every event: strict needs them all)" if mode == "strict" else ""
    machine = f"numba, compiled once and cached on disk; {THREADS} threads"
    window = f"within {funnel.window_seconds:,} s of its entry"
    if not funnel.has_depth:
        return [
            f"  1. scan (DuckDB): person, time in µs and a bitmask of the {n} steps each event "
            f"can fill, sorted by person and time{every}",
            f"  2. state machine ({machine}): per person, the best {mode} attempt {window}",
            "  3. summary: counts, conversion and times from the best attempts (numpy)",
        ]
    b = funnel.breakdown
    if not query.sorted and b is not None:  # the breakdown fast path
        return [
            f"  1. scan (DuckDB): person, time in µs and a bitmask of the {n} steps each event "
            f"can fill, with the code of its {' / '.join(b.properties)} value packed above the "
            f"step bits (distinct values read first); grouped by person without a sort{every}",
            f"  2. state machine ({machine}): per person, the best {mode} attempt {window}, "
            f"counted under the value of {b.attribution_text}; a person whose attributed event "
            "has a tied twin with another value is computed again in event_id order",
            "  3. summary: the total and every value's counts, conversion and times in one pass "
            f"per step; past {b.limit} values, Other (numpy)",
        ]
    unit = {"persons": "person", "sessions": "session", "totals": "person"}[funnel.count]
    counted = "every attempt in turn" if funnel.count == "totals" else "the best attempt"
    features = [
        f"{len(funnel.exclusions)} exclusion(s)" if funnel.exclusions else "",
        f"held constant: {', '.join(funnel.hold_constant)}" if funnel.hold_constant else "",
        "optional steps" if any(s.optional for s in funnel.steps) else "",
        "per-step limits" if any(s.within_seconds for s in funnel.steps) else "",
        _breakdown_words(b) if b is not None else "",
    ]
    shown = "; ".join(f for f in features if f)
    return [
        "  1. scan (DuckDB): person, time in µs, step and exclusion bitmasks and the held and "
        "broken-down values of each event, sorted by person"
        + (", session" if funnel.sessions_by_column else "")
        + f", time and event_id{every}",
        f"  2. state machine ({machine}): per {unit}, {counted} ({mode}) {window}"
        + (f"; {shown}" if shown else ""),
        "  3. summary: counts, conversion and times from the counted attempts (numpy)",
    ]
