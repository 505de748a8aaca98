"""The kernel's plain run: the plain machine over a plain scan.

The scan (kernel/plain_scan.py) returns only person, time and a step bitmask, every filter
applied inside DuckDB; the numba plain machine (kernel/plain_machine.py) then finds each
person's best attempt, on a few threads. Results are identical to the reference engine's
(tests/test_engine_agreement.py).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from funnelscope.engines.kernel.filter_sql import entry_end_us
from funnelscope.engines.kernel.partition import THREADS, balanced, partition
from funnelscope.engines.kernel.plain_scan import Segment, fetch_steps
from funnelscope.engines.plan import Plan
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.results import Outcomes
from funnelscope.store.sources import EventSource


def run_plain(plan: Plan, source: EventSource) -> Outcomes:
    """Best attempt of every person, from a plain plan."""
    from funnelscope.engines.kernel.plain_machine import ORDER_CODES

    funnel = plan.funnel
    compiled = load_compiled_in_background()
    arrays = fetch_steps(source.duckdb_connection, plan)
    compiled.join()
    n_steps, window_us = len(funnel.steps), funnel.window_seconds * US_PER_SECOND
    mode = ORDER_CODES[funnel.order]
    entry_end = entry_end_us(funnel)
    with ThreadPoolExecutor(THREADS) as pool:
        if arrays.segments is not None:  # integer person keys in scan order: group them here
            segments, arrays.segments = arrays.segments, None
            reached, times, keys = group_and_run(
                pool, segments, n_steps, window_us, mode, entry_end
            )
        else:  # the scan sorted by person and time
            assert arrays.starts is not None
            reached, times = run_sorted(
                pool, arrays.starts, arrays.ts, arrays.mask, n_steps, window_us, mode, entry_end
            )
            keys = arrays.person_keys
    warnings = []
    skipped_rows = getattr(source, "skipped_rows", None)  # files read in place say which
    if arrays.skipped and skipped_rows is not None:
        warnings = skipped_rows(funnel, arrays.skipped)
    return Outcomes(reached, times.T, keys, warnings, person_ids=arrays.person_ids)


def group_and_run(
    pool: ThreadPoolExecutor,
    segments: list[Segment],
    n_steps: int,
    window_us: int,
    mode: int,
    entry_end: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group rows by integer person key (kernel/partition.py) and find every person's best
    attempt (entering before `entry_end`), bucket by bucket. Returns ``reached``, ``times``
    (steps x persons) and each person's key."""
    from funnelscope.engines.kernel import plain_machine

    run_buckets: Any = plain_machine.run_buckets
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
                parts.keys, parts.ts, parts.mask, parts.bucket_start, parts.person_start,
                parts.local, *r, n_steps, window_us, mode, entry_end, reached, times,
                first_keys,
            ),
            parts.ranges,
        )
    )  # fmt: skip
    return reached, times, first_keys


def run_sorted(
    pool: ThreadPoolExecutor,
    starts: np.ndarray,
    ts: np.ndarray,
    mask: np.ndarray,
    n_steps: int,
    window_us: int,
    mode: int,
    entry_end: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Best attempts over rows already grouped by person (``starts``), persons split by thread."""
    from funnelscope.engines.kernel import plain_machine

    run_persons_block: Any = plain_machine.run_persons_block

    n_persons = starts.size - 1
    reached = np.zeros(n_persons, np.int16)
    times = np.empty((n_steps, n_persons), np.int64)
    list(
        pool.map(
            lambda r: run_persons_block(
                starts, ts, mask, *r, n_steps, window_us, mode, entry_end, reached, times
            ),
            balanced(starts, THREADS * 4),
        )
    )
    return reached, times


def load_compiled_in_background(values: bool = False) -> threading.Thread:
    """Import numba and load the cached machine code while DuckDB scans (it releases the GIL);
    with `values`, the breakdown fast path's too (unit_machine.run_buckets_values)."""

    def load() -> None:
        from funnelscope.engines.kernel import buckets as b
        from funnelscope.engines.kernel import plain_machine as k

        one, two = np.zeros(1, np.int64), np.zeros(2, np.int64)
        ints, small = np.zeros(1, np.int32), np.zeros(1, np.int16)
        grid = np.zeros((1, 1), np.int64)
        b.bucket_histogram(one, 0)  # loads the cached machine code of each function
        b.bucket_scatter(one, one, one, 0, one, one, one, one)
        b.number_persons(one, two, 0, 0, ints, one)
        if not values:
            k.run_buckets(one, one, one, two, two, ints, 0, 0, 1, 1, 0, 0, small, grid, one)
            k.run_persons_block(two, one, one, 0, 0, 1, 1, 0, 0, small, grid)
        else:
            from funnelscope.engines.kernel import unit_machine as d

            columns = np.zeros((2, 2), np.int64).T  # as _run_values lays times out
            flags = np.zeros(1, np.bool_)
            d.run_buckets_values(
                one,
                one,
                one,
                two,
                two,
                ints,
                0,
                0,
                1,
                0,
                1,
                0,
                0,
                0,
                small,
                columns,
                one,
                one,
                flags,
            )
            fixed = np.zeros(1, np.int64)  # the sorted re-run of persons with ties, whose
            fixed.flags.writeable = False  # scanned columns are read-only (fetch.read_only_ints)
            d.run_units(
                two, two, 0, 0, fixed, fixed, fixed, one, one, 0, 0, 1, 0, False, flags, one,
                one, one, one, 0, 0, small, grid, one, one,
            )  # fmt: skip

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    return thread
