"""The unit machine's scans: step and exclusion bits, value codes, units.

Three reads, one per way the kernel runs a funnel that needs its unit machine (kernel/unit_run.py):

- ``sorted_plan``: rows sorted by person, session (when sessions are a column), time and
  event_id, so each unit's events come contiguous and in the order of docs/semantics.md [S1];
- ``grouping_plan``: the same columns in scan order, grouped by the kernel without a sort;
- ``value_plan``: a breakdown alone, its value code packed above the step bits.

Held and broken-down property values are read as stored (-0.0 as 0.0) and numbered, so the
compiled machine compares integers; ``group_values`` maps a breakdown code back to its values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelscope.engines.kernel.fetch import fetch, read_only_ints
from funnelscope.engines.kernel.filter_sql import (
    exclusion_mask_sql,
    range_sql,
    step_mask_sql,
    value_sql,
    with_person_values,
)
from funnelscope.engines.kernel.plain_scan import Segment, fetch_steps, scan_where
from funnelscope.engines.plan import Params, Plan
from funnelscope.errors import EngineError
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.results import BreakdownValue, no_session_warning
from funnelscope.model.spec import Funnel, Order
from funnelscope.store.event_columns import EventColumns

MAX_PACKED_VALUES = 1 << 13  # codes above the 50 step bits of an int64 mask
VALUE_SHIFT = 50  # unit_machine.VALUE_SHIFT: the step bits stay below


@dataclass
class UnitArrays:
    """A fetched sorted scan: events grouped in units (``unit_start``: each unit's first row,
    then the end) and each unit's person: its key, and its id when persons are text (keys then
    number the persons of this scan)."""

    ts: np.ndarray
    mask: np.ndarray
    xmask: np.ndarray
    hold: np.ndarray  # code of the hold_constant values (0 when none are held)
    value: np.ndarray  # code of the breakdown value (0 without a breakdown)
    unit_start: np.ndarray
    unit_keys: np.ndarray
    unit_ids: np.ndarray | None
    group_values: list[BreakdownValue]
    warnings: list[str] = field(default_factory=list)


def _keeps_every_event(funnel: Funnel) -> bool:
    """strict (any event breaks a sequence) and sessions by inactivity (any event continues
    one) read events of every name."""
    return funnel.order == Order.STRICT or (
        funnel.count == "sessions" and funnel.session_gap_seconds is not None
    )


def sorted_plan(
    con: duckdb.DuckDBPyConnection,
    funnel: Funnel,
    cols: EventColumns,
    persons: np.ndarray | None = None,
) -> Plan:
    """SQL returning person, ts, mask, xmask, h0.., b0.. and session, sorted for the kernel
    (only the given integer `persons` when asked)."""
    if cols.event_id is None or cols.invalid is not None:
        raise EngineError(
            "files read in place serve plain funnels only; load them into a store first "
            "(EventStore(':memory:').ingest(paths)), as the CLI does"
        )
    notes: list[str] = []
    params = Params()
    cols = with_person_values(funnel, cols)
    mask = step_mask_sql(con, funnel, cols, params, notes)
    xmask = exclusion_mask_sql(con, cols, funnel.exclusions, params, notes)
    held = [f"{value_sql(cols, p)} AS h{i}" for i, p in enumerate(funnel.hold_constant)]
    b = funnel.breakdown
    values = []
    if b is not None:  # [B2] each event's value, or [B5] the person's beside every event
        person = b.scope == "person"
        values = [f"{value_sql(cols, p, person)} AS b{i}" for i, p in enumerate(b.properties)]
    session = cols.session if funnel.sessions_by_column else None
    keep_all = _keeps_every_event(funnel)
    conditions = []
    if not keep_all:
        names = ", ".join(params.add(n) for n in funnel.scan_event_names)
        conditions.append(f"{cols.event} IN ({names})")
    bounds = range_sql(funnel, cols)
    if bounds is not None:
        conditions.append(bounds)
    if persons is not None:
        conditions.append(f"{cols.person} IN (SELECT unnest({params.add(persons.tolist())}))")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    inner = ", ".join(
        [
            f"{cols.person} AS person",
            f"{cols.ts} AS ts",
            f"CAST({mask} AS BIGINT) AS mask",
            f"CAST({xmask} AS BIGINT) AS xmask",
            *held,
            *values,
            f"{session or 'NULL'} AS session",
            f"{cols.event_id} AS eid",
        ]
    )
    sql = f"SELECT {inner} FROM {cols.source}{where}"
    outer_values = [f"b{i}" for i in range(len(values))]
    keep = []
    if not keep_all:
        keep.append("(mask <> 0 OR xmask <> 0)")
    if funnel.sessions_by_column:  # [C2] events without a session fill no step
        keep.append("session IS NOT NULL")
    columns = ["person", "ts", "mask", "xmask"]
    columns += [f"h{i}" for i in range(len(held))] + outer_values + ["session"]
    sql = (
        f"SELECT {', '.join(columns)} FROM ({sql})"
        + (f" WHERE {' AND '.join(keep)}" if keep else "")
        + " ORDER BY person, "
        + ("session, " if session else "")
        + "ts, eid"
    )
    return Plan("kernel", funnel, sql, params, tuple(notes), "sorted", True)


def fetch_units(
    con: duckdb.DuckDBPyConnection, plan: Plan, cols: EventColumns, rerun: bool = False
) -> UnitArrays:
    """Run a sorted plan and number values, units and persons (a `rerun` of a few persons
    leaves the data's warnings to the first run)."""
    funnel = plan.funnel
    table = fetch(con, plan)
    n = table.num_rows
    ts = read_only_ints(table.column("ts"))
    mask = read_only_ints(table.column("mask"))
    xmask = read_only_ints(table.column("xmask"))
    hold, _ = _codes([table.column(f"h{i}") for i in range(len(funnel.hold_constant))], n)
    b = funnel.breakdown
    value, group_values = _codes(
        [table.column(f"b{i}") for i in range(len(b.properties) if b else 0)], n
    )
    person = table.column("person")
    if pa.types.is_integer(person.type):
        keys: Any = read_only_ints(person)
        changed = keys[1:] != keys[:-1]
    else:
        keys = person.combine_chunks().cast(pa.string())
        changed = pc.not_equal(keys[1:], keys[:-1]).to_numpy(zero_copy_only=False)
    new_person = np.ones(n, bool)
    new_person[1:] = changed
    new_unit = new_person.copy()
    if funnel.sessions_by_column and n > 1:  # (no session column: no rows)
        sessions = table.column("session").combine_chunks()
        new_unit[1:] |= pc.not_equal(sessions[1:], sessions[:-1]).to_numpy(zero_copy_only=False)
    elif funnel.count == "sessions" and funnel.session_gap_seconds is not None:
        gap = funnel.session_gap_seconds * US_PER_SECOND
        new_unit[1:] |= np.diff(ts) > gap  # [C2] more than the gap after the previous event
    unit_start = np.append(np.flatnonzero(new_unit), n).astype(np.int64)
    firsts = unit_start[:-1]
    unit_ids = None
    if pa.types.is_integer(person.type):
        unit_keys = keys[firsts]
    else:  # text ids: number the persons of this scan, and keep each unit's id
        unit_keys = np.cumsum(new_person[firsts]).astype(np.int64) - 1
        unit_ids = keys.take(pa.array(firsts)).to_numpy(zero_copy_only=False).astype(object)
    arrays = UnitArrays(ts, mask, xmask, hold, value, unit_start, unit_keys, unit_ids, group_values)
    if funnel.sessions_by_column and not rerun:
        missing = _sessionless(con, funnel, cols)
        if missing:
            arrays.warnings.append(no_session_warning(missing))
    return arrays


def _sessionless(con: duckdb.DuckDBPyConnection, funnel: Funnel, cols: EventColumns) -> int:
    """Step events without a session id (all of them when the events have no session column),
    of those the date range lets the funnel use."""
    names = list(funnel.event_names)
    marks = ", ".join("?" * len(names))
    missing = f"{cols.session} IS NULL AND " if cols.session is not None else ""
    bounds = range_sql(funnel, cols)
    within = "" if bounds is None else f" AND {bounds}"
    ((count,),) = con.execute(
        f"SELECT count(*) FROM {cols.source} WHERE {missing}{cols.event} IN ({marks}){within}",
        names,
    ).fetchall()
    return int(count)


def _codes(columns: list[pa.ChunkedArray], n: int) -> tuple[np.ndarray, list[BreakdownValue]]:
    """A code per row for the combined values of `columns`, and each code's values."""
    if not columns:
        return np.zeros(n, np.int64), [()]
    combined = np.zeros(n, np.int64)
    dictionaries = []
    for column in columns:
        encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        dictionary = encoded.dictionary.to_pylist()
        indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        combined = combined * max(1, len(dictionary)) + indices
        dictionaries.append(dictionary)
    unique, codes = np.unique(combined, return_inverse=True)
    values: list[BreakdownValue] = []
    for packed in unique.tolist():
        parts = []
        for dictionary in reversed(dictionaries):
            size = max(1, len(dictionary))
            parts.append(dictionary[packed % size] if dictionary else None)
            packed //= size
        values.append(tuple(reversed(parts)))
    return codes.astype(np.int64), values


def breakdown_only(funnel: Funnel) -> bool:
    """A breakdown by event values with one value per attempt is the funnel's only feature
    beyond a plain funnel: the plain machine runs it, value codes packed above the step bits
    (kernel/unit_run.py `_run_values`)."""
    b = funnel.breakdown
    return (
        b is not None
        and b.scope == "event"
        and b.attribution != "all_events"
        and replace(funnel, breakdown=None).is_plain
        and not funnel.needs_id_order
    )


def value_plan(con: duckdb.DuckDBPyConnection, funnel: Funnel, cols: EventColumns) -> Plan | None:
    """The breakdown fast path's scan: person, time and the step mask with the value code packed
    above the step bits, in scan order; and each code's values. None when it cannot apply
    (text person ids, or more combined values than the packing holds).

    The distinct values are read first, so the scan computes each code in SQL
    (``list_position``) and its rows stay integers, fetched without a copy.
    """
    b = funnel.breakdown
    if b is None or not cols.integer_person or cols.invalid is not None:
        return None
    strict = funnel.order == Order.STRICT
    cols = with_person_values(funnel, cols)
    parts = _masked_and_coded(con, funnel, cols, b.properties)
    if parts is None:
        return None
    params, notes, mask, code, group_values = parts
    where = scan_where(funnel, cols, None if strict else funnel.event_names, params)
    inner = (
        f"SELECT {cols.person} AS person, {cols.ts} AS ts, CAST({mask} AS BIGINT) AS mask, "
        f"CAST({code} AS BIGINT) AS code FROM {cols.source}{where}"
    )
    filtered = bool(funnel.where) or any(step.where for step in funnel.steps)
    keep = " WHERE mask <> 0" if filtered and not strict else ""
    sql = f"SELECT person, ts, mask | (code << {VALUE_SHIFT}) AS mask FROM ({inner}){keep}"
    return Plan("kernel", funnel, sql, params, tuple(notes), "values", False, tuple(group_values))


def fetch_value_segments(con: duckdb.DuckDBPyConnection, plan: Plan) -> list[Segment]:
    """Run a value plan: (person key, ts, packed mask) segments in scan order."""
    return fetch_steps(con, plan).segments or []


@dataclass
class GroupedRows:
    """A grouping scan in scan order: ``segments`` are (person key, ts, row number) arrays; the
    other columns are indexed by row number."""

    segments: list[Segment]
    mask: np.ndarray
    xmask: np.ndarray
    hold: np.ndarray
    value: np.ndarray


def grouping_plan(
    con: duckdb.DuckDBPyConnection, funnel: Funnel, cols: EventColumns
) -> Plan | None:
    """The sorted scan's columns without a sort: person, ts, mask, xmask and codes of the held and
    broken-down values. None when the kernel must have the sorted scan instead: text person
    ids, sessions from a column, one event name filling steps with different filters,
    person-scope breakdowns, held values whose hash codes would collide, or more breakdown
    values than list_position handles quickly."""
    b = funnel.breakdown
    if (
        not cols.integer_person
        or cols.invalid is not None
        or funnel.sessions_by_column
        or funnel.needs_id_order
        or (b is not None and b.scope == "person")
    ):
        return None
    keep_all = _keeps_every_event(funnel)
    names = funnel.scan_event_names
    cols = with_person_values(funnel, cols)
    scope = "" if keep_all else f" WHERE {cols.event} IN ({', '.join('?' * len(names))})"
    hold = "0"
    if funnel.hold_constant:  # held values need equality only: a hash, checked to be exact
        held = ", ".join(value_sql(cols, p) for p in funnel.hold_constant)
        hold = f"CAST(hash({held}) >> 1 AS BIGINT)"
        ((values, codes),) = con.execute(
            f"SELECT count(DISTINCT row({held})), count(DISTINCT {hold}) FROM {cols.source}{scope}",
            [] if keep_all else list(names),
        ).fetchall()
        if values != codes:
            return None
    parts = _masked_and_coded(con, funnel, cols, () if b is None else b.properties)
    if parts is None:
        return None
    params, notes, mask, code, group_values = parts
    xmask = exclusion_mask_sql(con, cols, funnel.exclusions, params, notes)
    where = scan_where(funnel, cols, None if keep_all else names, params)
    sql = (
        f"SELECT {cols.person} AS person, {cols.ts} AS ts, CAST({mask} AS BIGINT) AS mask, "
        f"CAST({xmask} AS BIGINT) AS xmask, {hold} AS hold, CAST({code} AS BIGINT) AS value "
        f"FROM {cols.source}{where}"
    )
    if not keep_all:
        sql = f"SELECT * FROM ({sql}) WHERE mask <> 0 OR xmask <> 0"
    return Plan("kernel", funnel, sql, params, tuple(notes), "grouped", False, tuple(group_values))


def _masked_and_coded(
    con: duckdb.DuckDBPyConnection, funnel: Funnel, cols: EventColumns, properties: Sequence[str]
) -> tuple[Params, list[str], str, str, list[BreakdownValue]] | None:
    """The parameters and notes of a grouping scan, its step mask SQL, the SQL numbering the
    values of `properties` and each number's values (None: too many values to pack)."""
    params = Params()
    coded = _value_codes(con, cols, properties, params)
    if coded is None:
        return None
    notes: list[str] = []
    return params, notes, step_mask_sql(con, funnel, cols, params, notes), *coded


def _value_codes(
    con: duckdb.DuckDBPyConnection, cols: EventColumns, properties: Sequence[str], params: Params
) -> tuple[str, list[BreakdownValue]] | None:
    """SQL numbering the combined values of `properties` (list_position over the distinct values
    of each, read first over the whole column), and each number's values; None past
    MAX_PACKED_VALUES combinations."""
    if not properties:
        return "0", [()]
    exprs = [value_sql(cols, p) for p in properties]
    distinct = [
        [v for (v,) in con.execute(f"SELECT DISTINCT {expr} FROM {cols.source}").fetchall()]
        for expr in exprs
    ]
    distinct = [[v for v in values if v is not None] for values in distinct]
    sizes = [len(values) + 1 for values in distinct]  # digit 0: not set
    if int(np.prod(sizes)) > MAX_PACKED_VALUES:
        return None
    code = " + ".join(
        f"coalesce(list_position({params.add(values)}, {expr}), 0) * {int(np.prod(sizes[i + 1 :]))}"
        if values
        else "0"
        for i, (expr, values) in enumerate(zip(exprs, distinct, strict=True))
    )
    group_values: list[BreakdownValue] = []
    for packed in range(int(np.prod(sizes))):
        parts: list[Any] = []
        for size, values in zip(reversed(sizes), reversed(distinct), strict=True):
            digit = packed % size
            parts.append(values[digit - 1] if digit else None)
            packed //= size
        group_values.append(tuple(reversed(parts)))
    return code, group_values


def fetch_grouped(con: duckdb.DuckDBPyConnection, plan: Plan) -> GroupedRows:
    """Run a grouping plan."""
    table = fetch(con, plan)
    segments = []
    offset = 0
    for batch in table.to_batches():
        n = batch.num_rows
        if n:
            keys, ts = (read_only_ints(pa.chunked_array([batch.column(i)])) for i in range(2))
            segments.append((keys, ts, np.arange(offset, offset + n, dtype=np.int64)))
            offset += n
    columns = (read_only_ints(table.column(c)) for c in ("mask", "xmask", "hold", "value"))
    return GroupedRows(segments, *columns)
