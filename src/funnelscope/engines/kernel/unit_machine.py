"""The unit machine: the kernel's compiled machine for every feature beyond a plain funnel
(exclusions, held values, optional steps, per-step limits, counting sessions or every attempt,
breakdowns; docs/semantics.md, "Funnel features"). It counts *units*: persons, sessions or attempts.

Input: the events of each *unit* (a person, or a person's session) contiguous and sorted by
time then event_id, as arrays: ``ts``, ``mask`` (bit k: can fill step k), ``xmask`` (bit x:
matches exclusion x), ``hold`` (code of the hold_constant values) and ``value`` (code of the
breakdown value). Output: rows of counted attempts (``reached``, ``times``, ``group``, ``unit``),
at most ``capacity`` per unit, written from the unit's row offset on.

The rules are the reference engine's (engines/reference/machine.py), transcribed for arrays. The
plain funnel keeps its own, leaner machine (kernel/plain_machine.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from funnelscope.engines.kernel.buckets import sort_bucket
from funnelscope.engines.kernel.plain_machine import (
    ANY,
    BEST_EVENTS,
    BEST_TIMES,
    SCRATCH_ROWS,
    STRICT,
    _augment,
    _lower_bound,
    _start_matching,
    _upper_bound,
    best_attempt,
)

SKIPPED = np.int64(-(2**63))  # a step not done (results.SKIPPED_US)
NO_VALUE = -1  # no breakdown value filter
NONE_VALUE = -2  # attribution step:N on an attempt that did not do step N: "(none)"
FIRST_TOUCH, LAST_TOUCH, AT_STEP, ALL_EVENTS, NO_BREAKDOWN = 0, 1, 2, 3, 4
PERSONS, SESSIONS, TOTALS = 0, 1, 2
# rows of a machine's work array (one per step each), reused from unit to unit
ATTEMPT_TIMES, ATTEMPT_EVENTS, ATTEMPT_USED, OWNER, VIA, KEPT_TIMES, KEPT_EVENTS = range(7)
WORK_ROWS = 7
RESULT_SIZE = 5  # an attempt's reached, required steps done, steps done, end, events used


@njit(cache=True, nogil=True)
def _in_attempt(used: np.ndarray, n_used: int, j: int) -> bool:
    for u in range(n_used):  # noqa: SIM110 (numba compiles loops, not generators)
        if used[u] == j:
            return True
    return False


@njit(cache=True, nogil=True)
def _earliest(
    ts: np.ndarray, mask: np.ndarray, hold: np.ndarray, value: np.ndarray, s: int, e: int, k: int,
    last: int, limit: int, key: int, has_hold: bool, wanted: int, taken: np.ndarray,
    used: np.ndarray, n_used: int,
) -> int:  # fmt: skip
    """The earliest event at or after `last` and at or before `limit` that can fill step k."""
    bit = np.int64(1) << k
    j = _lower_bound(ts, s, e, last)
    while j < e and ts[j] <= limit:
        if (
            (mask[j] & bit)
            and not taken[j - s]
            and (not has_hold or hold[j] == key)
            and (wanted == NO_VALUE or value[j] == wanted)
            and not _in_attempt(used, n_used, j)
        ):
            return j
        j += 1
    return -1


@njit(cache=True, nogil=True)
def _first_exclusion(
    ts: np.ndarray, xmask: np.ndarray, s: int, e: int, k: int, bound: int, ex_start: np.ndarray,
    ex_end: np.ndarray, times: np.ndarray, used: np.ndarray, n_used: int,
) -> int:  # fmt: skip
    """[X2]: the earliest excluded event (not a step of the attempt) between the latest step done
    at or before step i and `bound` (both strict), for exclusions with i < k <= j."""
    found = -1
    for x in range(ex_start.size):
        a = ex_start[x] - 1
        if not (a < k and k <= ex_end[x] - 1):
            continue
        since = times[0]
        for q in range(1, a + 1):
            if times[q] != SKIPPED:
                since = times[q]
        bit = np.int64(1) << x
        j = _upper_bound(ts, s, e, since)
        while j < e and ts[j] < bound:
            if (xmask[j] & bit) and not _in_attempt(used, n_used, j):
                if found < 0 or j < found:
                    found = j
                break
            j += 1
    return found


@njit(cache=True, nogil=True)
def _sequential_attempt(
    ts: np.ndarray, mask: np.ndarray, xmask: np.ndarray, hold: np.ndarray, value: np.ndarray,
    s: int, e: int, entry: int, taken: np.ndarray, wanted: int, window_us: int, strict: bool,
    has_hold: bool, optional: np.ndarray, next_required: np.ndarray, within_us: np.ndarray,
    ex_start: np.ndarray, ex_end: np.ndarray, times: np.ndarray, events: np.ndarray,
    used: np.ndarray, result: np.ndarray,
) -> None:  # fmt: skip
    """ordered / strict from `entry`: times and events per step; result = [reached,
    required steps done, steps done, end] (end: where a next totals attempt may start)."""
    n_steps = times.size
    deadline = ts[entry] + window_us
    for k in range(n_steps):
        times[k] = SKIPPED
        events[k] = -1
    times[0] = ts[entry]
    events[0] = entry
    used[0] = entry
    n_used = 1
    last = ts[entry]
    key = int(hold[entry]) if has_hold else 0
    reached = 1
    required = 1
    done = 1
    end = SKIPPED
    for k in range(1, n_steps):
        limit = deadline
        if within_us[k] >= 0 and last + within_us[k] < limit:
            limit = last + within_us[k]
        chosen = _earliest(
            ts, mask, hold, value, s, e, k, last, limit, key, has_hold, wanted, taken, used, n_used
        )
        if optional[k]:  # [O2]
            r = next_required[k]
            r_limit = deadline
            if within_us[r] >= 0 and last + within_us[r] < r_limit:
                r_limit = last + within_us[r]
            rival = _earliest(
                ts, mask, hold, value, s, e, r, last, r_limit, key, has_hold, wanted, taken, used,
                n_used,
            )  # fmt: skip
            if chosen < 0 or (rival >= 0 and (chosen == rival or ts[chosen] > ts[rival])):
                continue
        bound = limit + 1 if chosen < 0 else ts[chosen]
        if ex_start.size:
            stop = _first_exclusion(
                ts, xmask, s, e, k, bound, ex_start, ex_end, times, used, n_used
            )
            if stop >= 0:  # [X2]
                end = ts[stop]
                break
        if chosen < 0:
            end = limit + 1  # [C3] step k can no longer be done
            break
        if strict:
            breaker = _upper_bound(ts, s, e, last)
            if _lower_bound(ts, s, e, ts[chosen]) > breaker:
                end = ts[breaker]  # [C3] the event that broke the sequence
                break
        used[n_used] = chosen
        n_used += 1
        times[k] = ts[chosen]
        events[k] = chosen
        last = ts[chosen]
        reached = k + 1
        done += 1
        if not optional[k]:
            required += 1
    if reached == n_steps:
        end = times[n_steps - 1]
    result[0] = reached
    result[1] = required
    result[2] = done
    result[3] = end
    result[4] = n_used


@njit(cache=True, nogil=True)
def _any_attempt(
    ts: np.ndarray, mask: np.ndarray, hold: np.ndarray, value: np.ndarray, s: int, e: int,
    entry: int, taken: np.ndarray, wanted: int, window_us: int, has_hold: bool, times: np.ndarray,
    events: np.ndarray, used: np.ndarray, owner: np.ndarray, matched: np.ndarray, via: np.ndarray,
    result: np.ndarray,
) -> None:  # fmt: skip
    """any from `entry`: the k-th distinct step is done when the matching first grows to k."""
    n_steps = times.size
    start = ts[entry]
    deadline = start + window_us
    key = int(hold[entry]) if has_hold else 0
    for k in range(n_steps):
        times[k] = SKIPPED
        events[k] = -1
    _start_matching(mask, entry, s, owner, matched, via)
    times[0] = start
    events[0] = entry
    length = 1
    j = _lower_bound(ts, s, e, start)
    while j < e and ts[j] <= deadline and length < n_steps:
        if (
            j != entry
            and mask[j] != 0
            and not taken[j - s]
            and (not has_hold or hold[j] == key)
            and (wanted == NO_VALUE or value[j] == wanted)
            and _augment(mask, j, s, owner, matched, via)
        ):
            times[length] = ts[j]
            events[length] = j
            length += 1
        j += 1
    n_used = 0
    for k in range(n_steps):
        if owner[k] >= 0:
            used[n_used] = owner[k]
            n_used += 1
    result[0] = length
    result[1] = length
    result[2] = length
    result[3] = times[n_steps - 1] if length == n_steps else deadline + 1
    result[4] = n_used


@njit(cache=True, nogil=True)
def _can_enter(mask: np.ndarray, j: int, mode: int) -> bool:
    """Whether event j's steps let it start an attempt ([S6], [S14])."""
    return bool(mask[j] != 0) if mode == ANY else bool((mask[j] & 1) != 0)


@njit(cache=True, nogil=True)
def _enters(ts: np.ndarray, mask: np.ndarray, j: int, mode: int, entry_end: int) -> bool:
    """Whether event j starts an attempt: its steps allow it, before the date range's end
    ([R1]; events before its start were never read, [R3])."""
    return ts[j] < entry_end and _can_enter(mask, j, mode)


@njit(cache=True, nogil=True)
def _attributed_event(events: np.ndarray, reached: int, attribution: int, at: int) -> int:
    """[B2] the event whose value an attempt is counted under (-1: none)."""
    if attribution == FIRST_TOUCH:
        return int(events[0])
    if attribution == LAST_TOUCH:
        return int(events[reached - 1])
    if attribution == AT_STEP and at < reached:
        return int(events[at])
    return -1


@njit(cache=True, nogil=True)
def _attributed(
    value: np.ndarray, events: np.ndarray, reached: int, attribution: int, at: int
) -> int:
    """[B2] the breakdown value code of an attempt (first_touch / last_touch / step:N)."""
    if attribution != FIRST_TOUCH and attribution != LAST_TOUCH and attribution != AT_STEP:
        return NO_VALUE
    chosen = _attributed_event(events, reached, attribution, at)
    return int(value[chosen]) if chosen >= 0 else NONE_VALUE


@njit(cache=True, nogil=True)
def _attempt(  # type: ignore[no-untyped-def]
    ts, mask, xmask, hold, value, s, e, entry, taken, wanted, mode, window_us, has_hold,
    optional, next_required, within_us, ex_start, ex_end, work, matched, result,
):  # fmt: skip
    """One attempt from `entry` in the funnel's order mode (results in work and result)."""
    times, events, used = work[ATTEMPT_TIMES], work[ATTEMPT_EVENTS], work[ATTEMPT_USED]
    if mode == ANY:
        _any_attempt(
            ts, mask, hold, value, s, e, entry, taken, wanted, window_us, has_hold, times,
            events, used, work[OWNER], matched, work[VIA], result,
        )  # fmt: skip
    else:
        _sequential_attempt(
            ts, mask, xmask, hold, value, s, e, entry, taken, wanted, window_us,
            mode == STRICT, has_hold, optional, next_required, within_us, ex_start, ex_end,
            times, events, used, result,
        )  # fmt: skip


@njit(cache=True, nogil=True)
def _emit(  # type: ignore[no-untyped-def]
    row, u, reached, times, events, value, wanted, attribution, at, out_reached, out_times,
    out_group, out_unit,
):  # fmt: skip
    """Write one counted attempt as output row `row` of unit `u`."""
    out_reached[row] = reached
    for k in range(reached):
        out_times[row, k] = times[k]
    if wanted != NO_VALUE:
        out_group[row] = wanted
    else:
        out_group[row] = _attributed(value, events, reached, attribution, at)
    out_unit[row] = u


@njit(cache=True, nogil=True)
def _unit_attempts(  # type: ignore[no-untyped-def]
    ts, mask, xmask, hold, value, s, e, wanted, mode, count, window_us, entry_end, has_hold,
    optional, next_required, within_us, ex_start, ex_end, attribution, at, row, u, out_reached,
    out_times,
    out_group, out_unit, taken, work, matched, result,
):  # fmt: skip
    """The counted attempts of one unit for one value filter (`wanted`), written from `row` on;
    returns the next free row. [C3] count: totals: attempts one after another, never reusing
    events. Otherwise [S10] every entry starts an attempt; the best one ([O4]) is written."""
    for q in range(e - s):
        taken[q] = False
    if count == TOTALS:
        start = SKIPPED
        while True:
            entry = -1
            j = s if start == SKIPPED else _lower_bound(ts, s, e, int(start))
            while j < e:
                if (
                    _enters(ts, mask, j, mode, entry_end)
                    and not taken[j - s]
                    and (wanted == NO_VALUE or value[j] == wanted)
                ):
                    entry = j
                    break
                j += 1
            if entry < 0:
                return row
            _attempt(
                ts, mask, xmask, hold, value, s, e, entry, taken, wanted, mode, window_us,
                has_hold, optional, next_required, within_us, ex_start, ex_end, work, matched,
                result,
            )  # fmt: skip
            for q in range(result[4]):
                taken[work[ATTEMPT_USED, q] - s] = True
            _emit(
                row, u, result[0], work[ATTEMPT_TIMES], work[ATTEMPT_EVENTS], value, wanted,
                attribution, at, out_reached, out_times, out_group, out_unit,
            )  # fmt: skip
            row += 1
            start = result[3]
    n_steps = work.shape[1]
    best = -1
    best_reached = 0
    for entry in range(s, e):
        if not _enters(ts, mask, entry, mode, entry_end) or (
            wanted != NO_VALUE and value[entry] != wanted
        ):
            continue
        _attempt(
            ts, mask, xmask, hold, value, s, e, entry, taken, wanted, mode, window_us,
            has_hold, optional, next_required, within_us, ex_start, ex_end, work, matched, result,
        )  # fmt: skip
        score = result[1] * 64 + result[2]  # [O4] required steps, then steps done
        if score > best:
            best = score
            best_reached = result[0]
            work[KEPT_TIMES] = work[ATTEMPT_TIMES]
            work[KEPT_EVENTS] = work[ATTEMPT_EVENTS]
            if result[2] == n_steps:
                break
    if best < 0:
        return row
    _emit(
        row, u, best_reached, work[KEPT_TIMES], work[KEPT_EVENTS], value, wanted, attribution,
        at, out_reached, out_times, out_group, out_unit,
    )  # fmt: skip
    return row + 1


@njit(cache=True, nogil=True)
def _unit_rows(  # type: ignore[no-untyped-def]
    ts, mask, xmask, hold, value, s, e, unit, row, mode, count, window_us, entry_end, has_hold,
    optional, next_required, within_us, ex_start, ex_end, attribution, at, out_reached,
    out_times, out_group, out_unit, taken, work, matched, result,
):  # fmt: skip
    """The counted attempts of the unit ts[s:e] from output row `row` on (each value on its own
    under all_events, [B4]); returns the next free row."""
    if attribution != ALL_EVENTS:
        return _unit_attempts(
            ts, mask, xmask, hold, value, s, e, NO_VALUE, mode, count, window_us, entry_end,
            has_hold, optional, next_required, within_us, ex_start, ex_end, attribution, at, row,
            unit, out_reached, out_times, out_group, out_unit, taken, work, matched, result,
        )  # fmt: skip
    for j in range(s, e):
        if not _enters(ts, mask, j, mode, entry_end):
            continue
        seen = False
        for q in range(s, j):
            if value[q] == value[j] and _enters(ts, mask, q, mode, entry_end):
                seen = True
                break
        if not seen:
            row = _unit_attempts(
                ts, mask, xmask, hold, value, s, e, value[j], mode, count, window_us, entry_end,
                has_hold, optional, next_required, within_us, ex_start, ex_end, attribution, at,
                row, unit, out_reached, out_times, out_group, out_unit, taken, work, matched,
                result,
            )  # fmt: skip
    return row


@njit(cache=True, nogil=True)
def run_units(  # type: ignore[no-untyped-def]
    unit_start, row_start, first, last, ts, mask, xmask, hold, value, mode, count, window_us,
    entry_end, has_hold, optional, next_required, within_us, ex_start, ex_end, attribution, at,
    out_reached, out_times, out_group, out_unit,
):  # fmt: skip
    """Counted attempts of units first..last (``unit_start``: each unit's first event, + end),
    each unit's rows from ``row_start[u]`` on."""
    n_steps = optional.size
    widest = 1
    for u in range(first, last):
        if unit_start[u + 1] - unit_start[u] > widest:
            widest = unit_start[u + 1] - unit_start[u]
    taken = np.zeros(widest, np.bool_)
    matched = np.empty(widest, np.int64)
    work = np.empty((WORK_ROWS, n_steps), np.int64)
    result = np.zeros(RESULT_SIZE, np.int64)
    for u in range(first, last):
        s = unit_start[u]
        e = unit_start[u + 1]
        _unit_rows(
            ts, mask, xmask, hold, value, s, e, u, row_start[u], mode, count, window_us,
            entry_end, has_hold, optional, next_required, within_us, ex_start, ex_end,
            attribution, at, out_reached, out_times, out_group, out_unit, taken, work,
            matched[: e - s], result,
        )  # fmt: skip


@njit(cache=True, nogil=True)
def person_capacity(  # type: ignore[no-untyped-def]
    bucket_start, person_start, local, b_row, mask, first, last, mode, per_entry, capacity,
):  # fmt: skip
    """Output rows each person may need: one, or one per entry event (totals, sessions,
    all_events). Rows are radix buckets (kernel/partition.py)."""
    for b in range(first, last):
        p0 = person_start[b]
        for i in range(bucket_start[b], bucket_start[b + 1]):
            p = p0 + local[i]
            if per_entry:
                if _can_enter(mask, b_row[i], mode):
                    capacity[p] += 1
            else:
                capacity[p] = 1


@njit(cache=True, nogil=True)
def _ties_matter(ts, mask, xmask, hold, value, s, e, mode):  # type: ignore[no-untyped-def]
    """Whether two events at the same time could fill the same step and differ in what the
    rules read besides time and step (exclusion match, held value, breakdown value): only then
    does event_id order ([S1]) change a result; tied events that cannot fill the same step
    never compete (docs/semantics.md "Engines")."""
    i = s
    while i < e:
        g = i + 1
        while g < e and ts[g] == ts[i]:
            g += 1
        for a in range(i, g):
            for c in range(a + 1, g):
                if mode == ANY:
                    compete = mask[a] != 0 and mask[c] != 0
                    differ = hold[a] != hold[c] or value[a] != value[c]
                else:
                    compete = (mask[a] & mask[c]) != 0
                    differ = xmask[a] != xmask[c] or hold[a] != hold[c] or value[a] != value[c]
                if compete and differ:
                    return True
        i = g
    return False


@njit(cache=True, nogil=True)
def run_buckets_units(  # type: ignore[no-untyped-def]
    b_keys, b_ts, b_row, bucket_start, person_start, local, first, last, mask_all, xmask_all,
    hold_all, value_all, gap_us, row_start, mode, count, window_us, entry_end, has_hold,
    optional, next_required, within_us, ex_start, ex_end, attribution, at, out_reached,
    out_times, out_group, out_unit, first_keys, tied,
):  # fmt: skip
    """The unit machine over radix buckets: each bucket's rows sorted by person and by
    time, each person split in units (sessions by `gap_us` when >= 0) and their counted
    attempts written from ``row_start[person]`` on. A person whose tied events could change a
    result is flagged in `tied`; kernel/unit_run.py computes them again in event_id order."""
    n_steps = optional.size
    work = np.empty((WORK_ROWS, n_steps), np.int64)
    result = np.zeros(RESULT_SIZE, np.int64)
    for b in range(first, last):
        p0 = person_start[b]
        offsets, l_ts, l_row = sort_bucket(
            b_keys, b_ts, b_row, bucket_start, person_start, local, b, first_keys
        )
        n = l_ts.size
        l_mask = np.empty(n, np.int64)
        l_xmask = np.empty(n, np.int64)
        l_hold = np.empty(n, np.int64)
        l_value = np.empty(n, np.int64)
        for i in range(n):
            r = l_row[i]
            l_mask[i] = mask_all[r]
            l_xmask[i] = xmask_all[r]
            l_hold[i] = hold_all[r]
            l_value[i] = value_all[r]
        taken = np.zeros(n, np.bool_)
        matched = np.empty(n, np.int64)
        for q in range(offsets.size - 1):
            s = offsets[q]
            e = offsets[q + 1]
            p = p0 + q
            tied[p] = _ties_matter(l_ts, l_mask, l_xmask, l_hold, l_value, s, e, mode)
            row = row_start[p]
            us = s
            for i in range(s, e + 1):
                if i == e or (gap_us >= 0 and i > s and l_ts[i] - l_ts[i - 1] > gap_us):
                    row = _unit_rows(
                        l_ts, l_mask, l_xmask, l_hold, l_value, us, i, row, row, mode, count,
                        window_us, entry_end, has_hold, optional, next_required, within_us,
                        ex_start, ex_end, attribution, at, out_reached, out_times, out_group,
                        out_unit, taken, work, matched[: i - us], result,
                    )  # fmt: skip
                    us = i


VALUE_SHIFT = 50  # the fast path packs a breakdown value code above the (at most 50) step bits
STEP_BITS = (np.int64(1) << VALUE_SHIFT) - 1


@njit(cache=True, nogil=True)
def _has_twin(
    ts: np.ndarray, mask: np.ndarray, value: np.ndarray, s: int, e: int, i: int, mode: int
) -> bool:
    """Whether event i has a tied twin with another value that could have filled its step in
    its place. Without one, the attributed value does not depend on the order of ties (reach
    and step times never do here, docs/semantics.md "Engines"); with one, only event_id order
    ([S1]) decides."""
    j = _lower_bound(ts, s, e, ts[i])
    while j < e and ts[j] == ts[i]:
        could = (mask[j] != 0) if mode == ANY else (mask[j] & mask[i]) != 0
        if j != i and value[j] != value[i] and could:
            return True
        j += 1
    return False


@njit(cache=True, nogil=True)
def run_buckets_values(  # type: ignore[no-untyped-def]
    b_keys, b_ts, b_mask, bucket_start, person_start, local, first, last, n_steps, mode,
    window_us, entry_end, attribution, at_step, reached, times, groups, first_keys, tied,
):  # fmt: skip
    """The breakdown fast path over radix buckets (kernel/unit_run.py): each bucket's rows
    sorted by person and time (kernel/buckets.py), the value code unpacked from the mask's high
    bits, and every person's best attempt found by the plain machine, which also says which
    event did each step; persons whose ties could change their value are flagged."""
    scratch = np.empty((SCRATCH_ROWS, n_steps), np.int64)
    for b in range(first, last):
        p0 = person_start[b]
        at, l_ts, packed = sort_bucket(
            b_keys, b_ts, b_mask, bucket_start, person_start, local, b, first_keys
        )
        l_mask = packed & STEP_BITS
        l_value = packed >> VALUE_SHIFT
        for q in range(at.size - 1):
            s = at[q]
            e = at[q + 1]
            length = best_attempt(l_ts, l_mask, s, e, n_steps, window_us, mode, entry_end, scratch)
            reached[p0 + q] = length
            times[p0 + q, :length] = scratch[BEST_TIMES, :length]
            if length:
                events = scratch[BEST_EVENTS]
                groups[p0 + q] = _attributed(l_value, events, length, attribution, at_step)
                chosen = _attributed_event(events, length, attribution, at_step)
                if chosen >= 0:
                    tied[p0 + q] = _has_twin(l_ts, l_mask, l_value, s, e, chosen, mode)
