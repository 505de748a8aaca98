"""The kernel engine for funnels with depth features (docs/semantics.md, "Funnel depth").

Three ways, fastest first, each exact: a breakdown alone runs the plain machine over rows grouped
without a sort, with value codes packed above the step bits (``_fast_breakdown``); other depth
features run the depth machine (kernel_depth.py) over the same grouping (``_grouped_depth``);
what the grouping cannot serve runs over a scan sorted by person, time and event_id
(``_run_units``). The grouped ways recompute, from the sorted scan, the few persons whose tied
events could change a result.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from funnelscope.engines.kernel import (
    MODES,
    THREADS,
    US_PER_SECOND,
    Segment,
    _balanced,
    partition,
)
from funnelscope.model.results import Outcomes
from funnelscope.model.spec import Funnel
from funnelscope.store.depth_scan import breakdown_only

COUNTS = {"persons": 0, "sessions": 1, "totals": 2}
ATTRIBUTIONS = {"first_touch": 0, "last_touch": 1, "step": 2, "all_events": 3}


def compute_depth(funnel: Funnel, source: Any, ready: threading.Thread | None = None) -> Outcomes:
    """Counted attempts of a funnel with depth features (engines/kernel_depth.py); `ready` is
    the thread loading the compiled code meanwhile, if one was started."""

    if breakdown_only(funnel) and hasattr(source, "value_segments"):
        fast = source.value_segments(funnel)
        if ready is not None:
            ready.join()
        if fast is not None:
            return _fast_breakdown(funnel, source, *fast)
    grouped = source.depth_segments(funnel) if hasattr(source, "depth_segments") else None
    if grouped is not None:
        return _grouped_depth(funnel, source, grouped)
    arrays = source.depth_scan(funnel)
    reached, times, groups, units = _run_units(funnel, arrays)
    b = funnel.breakdown
    group_codes = group_values = None
    if b is not None:
        group_values = list(arrays.group_values)
        group_codes = _with_unset(groups, group_values, len(b.properties))
    all_events = b is not None and b.scope == "event" and b.attribution == "all_events"
    keep_units = all_events and funnel.count != "totals"
    unit_ids = arrays.unit_ids

    def person_ids(rows: np.ndarray) -> list[str]:
        return list(unit_ids(units[rows]))

    return Outcomes(
        reached,
        times,
        person_ids,
        arrays.warnings,
        group_codes,
        group_values or (),
        units if keep_units else None,
    )


def _run_units(
    funnel: Funnel, arrays: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the unit machine over a depth scan: reached, times, value codes and unit per row."""
    from funnelscope.engines import kernel_depth as kd

    n_steps = len(funnel.steps)
    mode, count = MODES[funnel.order], COUNTS[funnel.count]
    b = funnel.breakdown
    attribution = kd.NO_BREAKDOWN
    if b is not None:
        attribution = kd.FIRST_TOUCH if b.scope == "person" else ATTRIBUTIONS[b.attribution]
    at = (b.step or 1) - 1 if b is not None and b.attribution == "step" else 0
    unit_start = arrays.unit_start
    n_units = unit_start.size - 1
    if n_units and (count == kd.TOTALS or attribution == kd.ALL_EVENTS):
        enters = arrays.mask != 0 if funnel.order == "any" else (arrays.mask & 1) != 0
        capacity = np.add.reduceat(enters.astype(np.int64), unit_start[:-1])
    else:
        capacity = np.ones(n_units, np.int64)
    row_start = np.concatenate(([0], np.cumsum(capacity))).astype(np.int64)
    n_rows = int(row_start[-1])
    reached = np.zeros(n_rows, np.int16)
    times = np.empty((n_rows, n_steps), np.int64)
    groups = np.full(n_rows, kd.NO_VALUE, np.int64)
    units = np.full(n_rows, -1, np.int64)
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
    ex_start = np.array([x.start for x in funnel.exclusions], np.int64)
    ex_end = np.array([x.end for x in funnel.exclusions], np.int64)
    run_units: Any = kd.run_units
    window_us = funnel.window_seconds * US_PER_SECOND
    with ThreadPoolExecutor(THREADS) as pool:
        list(
            pool.map(
                lambda r: run_units(
                    unit_start,
                    row_start,
                    *r,
                    arrays.ts,
                    arrays.mask,
                    arrays.xmask,
                    arrays.hold,
                    arrays.value,
                    mode,
                    count,
                    window_us,
                    bool(funnel.hold_constant),
                    optional,
                    next_required,
                    within_us,
                    ex_start,
                    ex_end,
                    attribution,
                    at,
                    reached,
                    times,
                    groups,
                    units,
                ),
                _balanced(unit_start, THREADS * 4) if n_units else [],
            )
        )
    return reached, times, groups, units


def _grouped_depth(funnel: Funnel, source: Any, scan: Any) -> Outcomes:
    """Depth features without a sort: rows grouped by radix buckets (as for plain funnels) and
    each person's units run by the depth machine. Persons whose tied events could change a
    result are computed again from the sorted scan, in event_id order ([S1])."""
    from funnelscope.engines import kernel_depth as kd

    n_steps = len(funnel.steps)
    mode, count = MODES[funnel.order], COUNTS[funnel.count]
    b = funnel.breakdown
    attribution = kd.NO_BREAKDOWN if b is None else ATTRIBUTIONS[b.attribution]
    at = (b.step or 1) - 1 if b is not None and b.attribution == "step" else 0
    per_entry = count != kd.PERSONS or attribution == kd.ALL_EVENTS
    optional, next_required, within_us = _step_arrays(funnel)
    ex_start = np.array([x.start for x in funnel.exclusions], np.int64)
    ex_end = np.array([x.end for x in funnel.exclusions], np.int64)
    gap_us = -1
    if funnel.count == "sessions" and funnel.session_gap_seconds is not None:
        gap_us = funnel.session_gap_seconds * US_PER_SECOND
    window_us = funnel.window_seconds * US_PER_SECOND
    core: Any = kd
    with ThreadPoolExecutor(THREADS) as pool:
        parts = partition(pool, scan.segments)
        n_persons = 0 if parts is None else parts.n_persons
        capacity = np.zeros(n_persons, np.int64)
        if parts is not None:
            list(
                pool.map(
                    lambda r: core.person_capacity(
                        parts.bucket_start, parts.person_start, parts.local, parts.mask,
                        scan.mask, *r, mode, per_entry, capacity,
                    ),
                    parts.ranges,
                )
            )  # fmt: skip
        row_start = np.concatenate(([0], np.cumsum(capacity))).astype(np.int64)
        n_rows = int(row_start[-1])
        reached = np.zeros(n_rows, np.int16)
        times = np.empty((n_steps, n_rows), np.int64).T  # columns contiguous for the summary
        groups = np.full(n_rows, kd.NO_VALUE, np.int64)
        units = np.full(n_rows, -1, np.int64)
        first_keys = np.empty(n_persons, np.int64)
        tied = np.zeros(n_persons, np.bool_)
        if parts is not None:
            list(
                pool.map(
                    lambda r: core.run_buckets_units(
                        parts.keys, parts.ts, parts.mask, parts.bucket_start,
                        parts.person_start, parts.local, *r, scan.mask, scan.xmask, scan.hold,
                        scan.value, gap_us, row_start, mode, count, window_us,
                        bool(funnel.hold_constant), optional, next_required, within_us,
                        ex_start, ex_end, attribution, at, reached, times, groups, units,
                        first_keys, tied,
                    ),
                    parts.ranges,
                )
            )  # fmt: skip
    row_person = np.repeat(np.arange(n_persons, dtype=np.int64), capacity)
    values = list(scan.group_values)
    redo = np.flatnonzero(tied)
    if redo.size:  # ties whose event_id order matters: the sorted scan decides for them
        for person in redo.tolist():
            reached[row_start[person] : row_start[person + 1]] = 0
        again = source.depth_scan(funnel, persons=first_keys[redo])
        a_reached, a_times, a_groups, a_units = _run_units(funnel, again)
        assert again.unit_keys is not None
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
    keep_units = attribution == kd.ALL_EVENTS and count != kd.TOTALS

    def person_ids(rows: np.ndarray) -> list[str]:
        return list(source.person_ids(first_keys[row_person[rows]]))

    return Outcomes(
        reached,
        times,
        person_ids,
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
    from funnelscope.engines.kernel_depth import NONE_VALUE

    missing = groups == NONE_VALUE
    if np.any(missing):
        unset = (None,) * n_properties
        if unset not in values:
            values.append(unset)
        groups[missing] = values.index(unset)
    return groups.astype(np.int32)


def _step_arrays(funnel: Funnel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _fast_breakdown(
    funnel: Funnel, source: Any, segments: list[Segment], group_values: list[Any]
) -> Outcomes:
    """Breakdown by first_touch / last_touch / step:N without a sort: rows grouped by radix
    buckets, value codes carried in the mask's high bits. Persons whose tied events could
    change their value are computed again from the sorted scan, in event_id order ([S1])."""
    from funnelscope.engines import kernel_depth as kd

    assert funnel.breakdown is not None
    n_steps = len(funnel.steps)
    mode = MODES[funnel.order]
    attribution = ATTRIBUTIONS[funnel.breakdown.attribution]
    at = (funnel.breakdown.step or 1) - 1
    window_us = funnel.window_seconds * US_PER_SECOND
    run_buckets_values: Any = kd.run_buckets_values
    with ThreadPoolExecutor(THREADS) as pool:
        parts = partition(pool, segments)
        n = 0 if parts is None else parts.n_persons
        reached = np.zeros(n, np.int16)
        times = np.empty((n_steps, n), np.int64).T  # columns contiguous: the summary reads them
        groups = np.full(n, kd.NO_VALUE, np.int64)
        first_keys = np.empty(n, np.int64)
        tied = np.zeros(n, np.bool_)
        if parts is not None:
            list(
                pool.map(
                    lambda r: run_buckets_values(
                        parts.keys,
                        parts.ts,
                        parts.mask,
                        parts.bucket_start,
                        parts.person_start,
                        parts.local,
                        *r,
                        n_steps,
                        mode,
                        window_us,
                        attribution,
                        at,
                        reached,
                        times,
                        groups,
                        first_keys,
                        tied,
                    ),
                    parts.ranges,
                )
            )
    values = list(group_values)
    redo = np.flatnonzero(tied)
    if redo.size:  # ties whose event_id order decides the value: the sorted scan decides
        again = source.depth_scan(funnel, persons=first_keys[redo])
        again_reached, again_times, again_groups, _ = _run_units(funnel, again)
        row_of = dict(zip(first_keys[redo].tolist(), redo.tolist(), strict=True))
        assert again.unit_keys is not None
        for unit, key in enumerate(again.unit_keys.tolist()):  # one row per person
            row = row_of[key]
            reached[row] = again_reached[unit]
            times[row] = again_times[unit]
            code = int(again_groups[unit])
            if code != kd.NONE_VALUE:
                code = _code_of(values, again.group_values[code])
            groups[row] = code
    codes = _with_unset(groups, values, len(funnel.breakdown.properties))

    def person_ids(rows: np.ndarray) -> list[str]:
        return list(source.person_ids(first_keys[rows]))

    return Outcomes(reached, times, person_ids, (), codes, values)
