"""The kernel's unit run: funnels that need the unit machine (docs/semantics.md, "Funnel features").

Three routes, fastest first, each exact (kernel/__init__.py `compile` picks one): a breakdown
alone runs the plain machine over rows grouped without a sort, with value codes packed above
the step bits (``_run_values``); other features run the unit machine (kernel/unit_machine.py)
over the same grouping (``_run_grouped``); what the grouping cannot serve runs over a scan sorted
by person, time and event_id (``_run_sorted``). The grouped routes recompute, from the sorted
scan, the few persons whose tied events could change a result.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from funnelscope.engines.kernel.filter_sql import entry_end_us
from funnelscope.engines.kernel.partition import THREADS, balanced, partition
from funnelscope.engines.kernel.plain_run import load_compiled_in_background
from funnelscope.engines.kernel.unit_scan import (
    UnitArrays,
    fetch_grouped,
    fetch_units,
    fetch_value_segments,
    sorted_plan,
)
from funnelscope.engines.plan import Plan
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.results import Outcomes
from funnelscope.model.spec import Funnel, Order
from funnelscope.store.sources import EventSource

COUNTS = {"persons": 0, "sessions": 1, "totals": 2}  # unit_machine.PERSONS, SESSIONS, TOTALS
ATTRIBUTIONS = {"first_touch": 0, "last_touch": 1, "step": 2, "all_events": 3}


def run_units(plan: Plan, source: EventSource) -> Outcomes:
    """Counted attempts of a funnel that needs the unit machine, by the plan's route."""
    if plan.route == "values":
        return _run_values(plan, source)
    if plan.route == "grouped":
        return _run_grouped(plan, source)
    cols = source.columns(plan.funnel.properties)
    arrays = fetch_units(source.duckdb_connection, plan, cols)
    return _sorted_outcomes(plan.funnel, arrays)


def _rerun(source: EventSource, funnel: Funnel, persons: np.ndarray) -> UnitArrays:
    """The sorted scan of a few persons (by integer key), whose tied events need event_id order."""
    cols = source.columns(funnel.properties)
    plan = sorted_plan(source.duckdb_connection, funnel, cols, persons)
    return fetch_units(source.duckdb_connection, plan, cols, rerun=True)


def _sorted_outcomes(funnel: Funnel, arrays: UnitArrays) -> Outcomes:
    reached, times, groups, units = _run_sorted(funnel, arrays)
    b = funnel.breakdown
    group_codes = None
    group_values = list(arrays.group_values)
    if b is not None:
        group_codes = _with_unset(groups, group_values, len(b.properties))
    all_events = b is not None and b.scope == "event" and b.attribution == "all_events"
    keep_units = all_events and funnel.count != "totals"
    unit = np.maximum(units, 0)  # rows no attempt filled (-1) count nowhere
    ids = None if arrays.unit_ids is None else arrays.unit_ids[unit]
    return Outcomes(
        reached,
        times,
        arrays.unit_keys[unit],
        arrays.warnings,
        group_codes,
        group_values if b is not None else (),
        units if keep_units else None,
        ids,
    )


def _machine_codes(funnel: Funnel) -> tuple[int, int, int, int]:
    """The order mode, count, attribution and attributed step as the unit machine's integers."""
    from funnelscope.engines.kernel import unit_machine as um
    from funnelscope.engines.kernel.plain_machine import ORDER_CODES

    b = funnel.breakdown
    attribution = um.NO_BREAKDOWN
    if b is not None:
        attribution = um.FIRST_TOUCH if b.scope == "person" else ATTRIBUTIONS[b.attribution]
    at = (b.step or 1) - 1 if b is not None and b.attribution == "step" else 0
    return ORDER_CODES[funnel.order], COUNTS[funnel.count], attribution, at


def _step_arrays(funnel: Funnel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step: optional, the next required step, and the step's own limit in µs (-1: none)."""
    n_steps = len(funnel.steps)
    optional = np.array([step.optional for step in funnel.steps], np.bool_)
    next_required = np.array(
        [next((r for r in range(k + 1, n_steps) if not optional[r]), n_steps - 1) for k in
         range(n_steps)],
        np.int64,
    )  # fmt: skip
    within_us = np.array(
        [
            -1 if s.within_seconds is None else s.within_seconds * US_PER_SECOND
            for s in funnel.steps
        ],
        np.int64,
    )
    return optional, next_required, within_us


def _exclusion_arrays(funnel: Funnel) -> tuple[np.ndarray, np.ndarray]:
    ex_start = np.array([x.start for x in funnel.exclusions], np.int64)
    ex_end = np.array([x.end for x in funnel.exclusions], np.int64)
    return ex_start, ex_end


def _run_sorted(
    funnel: Funnel, arrays: UnitArrays
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the unit machine over a sorted scan: reached, times, value codes and unit per row."""
    from funnelscope.engines.kernel import unit_machine as um

    n_steps = len(funnel.steps)
    mode, count, attribution, at = _machine_codes(funnel)
    unit_start = arrays.unit_start
    n_units = unit_start.size - 1
    if n_units and (count == um.TOTALS or attribution == um.ALL_EVENTS):
        enters = arrays.mask != 0 if funnel.order == Order.ANY else (arrays.mask & 1) != 0
        capacity = np.add.reduceat(enters.astype(np.int64), unit_start[:-1])
    else:
        capacity = np.ones(n_units, np.int64)
    row_start = np.concatenate(([0], np.cumsum(capacity))).astype(np.int64)
    n_rows = int(row_start[-1])
    reached = np.zeros(n_rows, np.int16)
    times = np.empty((n_rows, n_steps), np.int64)
    groups = np.full(n_rows, um.NO_VALUE, np.int64)
    units = np.full(n_rows, -1, np.int64)
    optional, next_required, within_us = _step_arrays(funnel)
    ex_start, ex_end = _exclusion_arrays(funnel)
    run: Any = um.run_units
    window_us = funnel.window_seconds * US_PER_SECOND
    with ThreadPoolExecutor(THREADS) as pool:
        list(
            pool.map(
                lambda r: run(
                    unit_start, row_start, *r, arrays.ts, arrays.mask, arrays.xmask,
                    arrays.hold, arrays.value, mode, count, window_us, entry_end_us(funnel),
                    bool(funnel.hold_constant), optional, next_required, within_us, ex_start,
                    ex_end, attribution, at, reached, times, groups, units,
                ),
                balanced(unit_start, THREADS * 4) if n_units else [],
            )
        )  # fmt: skip
    return reached, times, groups, units


def _run_grouped(plan: Plan, source: EventSource) -> Outcomes:
    """The unit machine without a sort: rows grouped by radix buckets (as for plain funnels) and
    each person's units run by the unit machine. Persons whose tied events could change a
    result are computed again from the sorted scan, in event_id order ([S1])."""
    from funnelscope.engines.kernel import unit_machine as um

    funnel = plan.funnel
    scan = fetch_grouped(source.duckdb_connection, plan)
    n_steps = len(funnel.steps)
    mode, count, attribution, at = _machine_codes(funnel)
    per_entry = count != um.PERSONS or attribution == um.ALL_EVENTS
    optional, next_required, within_us = _step_arrays(funnel)
    ex_start, ex_end = _exclusion_arrays(funnel)
    gap_us = -1
    if funnel.count == "sessions" and funnel.session_gap_seconds is not None:
        gap_us = funnel.session_gap_seconds * US_PER_SECOND
    window_us = funnel.window_seconds * US_PER_SECOND
    machine: Any = um
    with ThreadPoolExecutor(THREADS) as pool:
        parts = partition(pool, scan.segments)
        n_persons = 0 if parts is None else parts.n_persons
        capacity = np.zeros(n_persons, np.int64)
        if parts is not None:

            def capacity_of(r: tuple[int, int]) -> None:
                machine.person_capacity(
                    parts.bucket_start, parts.person_start, parts.local, parts.mask, scan.mask,
                    *r, mode, per_entry, capacity,
                )  # fmt: skip

            list(pool.map(capacity_of, parts.ranges))
        row_start = np.concatenate(([0], np.cumsum(capacity))).astype(np.int64)
        n_rows = int(row_start[-1])
        reached = np.zeros(n_rows, np.int16)
        times = np.empty((n_steps, n_rows), np.int64).T  # columns contiguous for the summary
        groups = np.full(n_rows, um.NO_VALUE, np.int64)
        units = np.full(n_rows, -1, np.int64)
        first_keys = np.empty(n_persons, np.int64)
        tied = np.zeros(n_persons, np.bool_)
        if parts is not None:

            def run_bucket(r: tuple[int, int]) -> None:
                machine.run_buckets_units(
                    parts.keys, parts.ts, parts.mask, parts.bucket_start, parts.person_start,
                    parts.local, *r, scan.mask, scan.xmask, scan.hold, scan.value, gap_us,
                    row_start, mode, count, window_us, entry_end_us(funnel),
                    bool(funnel.hold_constant), optional,
                    next_required, within_us, ex_start, ex_end, attribution, at, reached, times,
                    groups, units, first_keys, tied,
                )  # fmt: skip

            list(pool.map(run_bucket, parts.ranges))
    row_person = np.repeat(np.arange(n_persons, dtype=np.int64), capacity)
    values = list(plan.group_values)
    b = funnel.breakdown
    redo = np.flatnonzero(tied)
    if redo.size:  # ties whose event_id order matters: the sorted scan decides for them
        for person in redo.tolist():
            reached[row_start[person] : row_start[person + 1]] = 0
        again = _rerun(source, funnel, first_keys[redo])
        a_reached, a_times, a_groups, a_units = _run_sorted(funnel, again)
        unit_person = dict(zip(first_keys[redo].tolist(), redo.tolist(), strict=True))
        a_person = np.array(
            [unit_person[int(k)] for k in again.unit_keys[np.maximum(a_units, 0)]], np.int64
        )
        if b is not None:  # the re-run numbered values its own way
            for i, code in enumerate(a_groups.tolist()):
                if code >= 0:
                    a_groups[i] = _code_of(values, again.group_values[code])
        reached = np.concatenate((reached, a_reached))
        times = np.concatenate((times, a_times)).T.copy().T
        groups = np.concatenate((groups, a_groups))
        units = np.concatenate((units, a_units + n_rows))
        row_person = np.concatenate((row_person, a_person))
    group_codes = None
    if b is not None:
        group_codes = _with_unset(groups, values, len(b.properties))
    keep_units = attribution == um.ALL_EVENTS and count != um.TOTALS
    return Outcomes(
        reached,
        times,
        first_keys[row_person],
        (),
        group_codes,
        values if b is not None else (),
        units if keep_units else None,
    )


def _code_of(values: list[Any], value: tuple[Any, ...]) -> int:
    """The index of `value` in `values`, appended if missing; every NaN is one value ([H2])."""

    def key(v: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple("NaN" if isinstance(x, float) and math.isnan(x) else x for x in v)

    wanted = key(value)
    for i, known in enumerate(values):
        if key(known) == wanted:
            return i
    values.append(value)
    return len(values) - 1


def _with_unset(groups: np.ndarray, values: list[Any], n_properties: int) -> np.ndarray:
    """Value codes as int32, with the kernel's "not done" code ([B2] step:N) mapped to the
    all-unset value, added to `values` when the data had none."""
    from funnelscope.engines.kernel.unit_machine import NONE_VALUE

    missing = groups == NONE_VALUE
    if np.any(missing):
        unset = (None,) * n_properties
        if unset not in values:
            values.append(unset)
        groups[missing] = values.index(unset)
    return groups.astype(np.int32)


def _run_values(plan: Plan, source: EventSource) -> Outcomes:
    """Breakdown by first_touch / last_touch / step:N without a sort: rows grouped by radix
    buckets, value codes carried in the mask's high bits, each person run by the plain machine.
    Persons whose tied events could change their value are computed again from the sorted scan,
    in event_id order ([S1])."""
    from funnelscope.engines.kernel import unit_machine as um

    funnel = plan.funnel
    assert funnel.breakdown is not None
    ready = load_compiled_in_background(values=True)
    segments = fetch_value_segments(source.duckdb_connection, plan)
    ready.join()
    n_steps = len(funnel.steps)
    mode, _, attribution, at = _machine_codes(funnel)
    window_us = funnel.window_seconds * US_PER_SECOND
    run_buckets_values: Any = um.run_buckets_values
    with ThreadPoolExecutor(THREADS) as pool:
        parts = partition(pool, segments)
        n = 0 if parts is None else parts.n_persons
        reached = np.zeros(n, np.int16)
        times = np.empty((n_steps, n), np.int64).T  # columns contiguous: the summary reads them
        groups = np.full(n, um.NO_VALUE, np.int64)
        first_keys = np.empty(n, np.int64)
        tied = np.zeros(n, np.bool_)
        if parts is not None:
            list(
                pool.map(
                    lambda r: run_buckets_values(
                        parts.keys, parts.ts, parts.mask, parts.bucket_start,
                        parts.person_start, parts.local, *r, n_steps, mode, window_us,
                        entry_end_us(funnel), attribution, at, reached, times, groups,
                        first_keys, tied,
                    ),
                    parts.ranges,
                )
            )  # fmt: skip
    values = list(plan.group_values)
    redo = np.flatnonzero(tied)
    if redo.size:  # ties whose event_id order decides the value: the sorted scan decides
        again = _rerun(source, funnel, first_keys[redo])
        again_reached, again_times, again_groups, _ = _run_sorted(funnel, again)
        row_of = dict(zip(first_keys[redo].tolist(), redo.tolist(), strict=True))
        for unit, key in enumerate(again.unit_keys.tolist()):  # one row per person
            row = row_of[key]
            reached[row] = again_reached[unit]
            times[row] = again_times[unit]
            code = int(again_groups[unit])
            if code != um.NONE_VALUE:
                code = _code_of(values, again.group_values[code])
            groups[row] = code
    codes = _with_unset(groups, values, len(funnel.breakdown.properties))
    return Outcomes(reached, times, first_keys, (), codes, values)
