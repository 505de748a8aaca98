"""The scan for funnels with depth features: step and exclusion bits, value codes, units.

Rows come sorted by person, session (when sessions are a column), time and event_id, so the
kernel sees each unit's events contiguous and in the order of docs/semantics.md [S1]. Held and
broken-down property values are read as stored (-0.0 as 0.0) and numbered here, so the compiled
kernel compares integers; ``group_values`` maps a breakdown code back to its values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelscope.model.results import BreakdownValue, no_session_warning
from funnelscope.model.spec import Funnel
from funnelscope.store.step_scan import (
    FETCH_BATCH_ROWS,
    EventColumns,
    Params,
    StepQuery,
    exclusion_mask_sql,
    step_mask_sql,
)

US_PER_SECOND = 1_000_000


@dataclass
class DepthArrays:
    """A fetched depth scan: events grouped in units (``unit_start``: each unit's first row,
    then the end) and each unit's person (``unit_ids`` resolves unit numbers to person ids)."""

    ts: np.ndarray
    mask: np.ndarray
    xmask: np.ndarray
    hold: np.ndarray  # code of the hold_constant values (0 when none are held)
    value: np.ndarray  # code of the breakdown value (0 without a breakdown)
    unit_start: np.ndarray
    unit_ids: Callable[[np.ndarray], list[str]]
    group_values: list[BreakdownValue]
    query: StepQuery
    warnings: list[str] = field(default_factory=list)


def _value_sql(cols: EventColumns, prop: str) -> str:
    """A property's value as compared for "the same value" ([H2]): -0.0 is 0.0."""
    column = cols.properties.get(prop)
    if column is None:
        return "CAST(NULL AS VARCHAR)"
    expr, kind = column
    if kind == "DOUBLE":
        return f"(CASE WHEN {expr} = 0 THEN 0.0 ELSE {expr} END)"
    return expr


def depth_query(con: duckdb.DuckDBPyConnection, funnel: Funnel, cols: EventColumns) -> StepQuery:
    """SQL returning person, ts, mask, xmask, h0.., b0.. and session, sorted for the kernel."""
    if cols.event_id is None or cols.invalid is not None:
        raise ValueError("depth features need events with ids (a store or a scan table)")
    notes: list[str] = []
    params = Params()
    mask = step_mask_sql(con, funnel, cols, params, notes)
    xmask = exclusion_mask_sql(con, funnel, cols, params, notes)
    held = [f"{_value_sql(cols, p)} AS h{i}" for i, p in enumerate(funnel.hold_constant)]
    b = funnel.breakdown
    values = []
    if b is not None and b.scope == "event":
        values = [f"{_value_sql(cols, p)} AS b{i}" for i, p in enumerate(b.properties)]
    session = cols.session if funnel.sessions_by_column else None
    keep_all = funnel.order == "strict" or (
        funnel.count == "sessions" and funnel.session_gap_seconds is not None
    )
    where = ""
    if not keep_all:
        names = ", ".join(params.add(n) for n in funnel.scan_event_names)
        where = f" WHERE {cols.event} IN ({names})"
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
    if b is not None and b.scope == "person":  # [B5] the latest value each property was set to
        latest = ", ".join(
            f"arg_max(v{i}, ({cols.ts}, {cols.event_id})) FILTER (WHERE v{i} IS NOT NULL) AS b{i}"
            for i in range(len(b.properties))
        )
        reads = ", ".join(f"{_value_sql(cols, p)} AS v{i}" for i, p in enumerate(b.properties))
        person_values = (
            f"SELECT person AS pv_person, {latest} FROM "
            f"(SELECT {cols.person} AS person, {cols.ts}, {cols.event_id}, {reads} "
            f"FROM {cols.source}) GROUP BY person"
        )
        sql = (
            f"SELECT e.*, {', '.join(f'pv.b{i}' for i in range(len(b.properties)))} "
            f"FROM ({sql}) e LEFT JOIN ({person_values}) pv ON e.person = pv.pv_person"
        )
        outer_values = [f"b{i}" for i in range(len(b.properties))]
    keep = []
    if not keep_all:
        keep.append("(mask <> 0 OR xmask <> 0)")
    if session:
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
    return StepQuery(sql, params, notes, True)


def fetch_depth(
    con: duckdb.DuckDBPyConnection,
    funnel: Funnel,
    cols: EventColumns,
    ids_of_keys: Callable[[np.ndarray], list[str]] | None = None,
) -> DepthArrays:
    """Run the depth query and number values and units."""
    query = depth_query(con, funnel, cols)
    table = con.sql(query.sql, params=query.params).to_arrow_table(FETCH_BATCH_ROWS)
    n = table.num_rows
    ts = _ints(table.column("ts"))
    mask = _ints(table.column("mask"))
    xmask = _ints(table.column("xmask"))
    hold, _ = _codes([table.column(f"h{i}") for i in range(len(funnel.hold_constant))], n)
    b = funnel.breakdown
    value, group_values = _codes(
        [table.column(f"b{i}") for i in range(len(b.properties) if b else 0)], n
    )
    person = table.column("person")
    if pa.types.is_integer(person.type):
        keys: Any = _ints(person)
        changed = keys[1:] != keys[:-1]
    else:
        keys = person.combine_chunks().cast(pa.string())
        changed = pc.not_equal(keys[1:], keys[:-1]).to_numpy(zero_copy_only=False)
    new_unit = np.ones(n, bool)
    new_unit[1:] = changed
    if funnel.sessions_by_column:
        sessions = table.column("session").combine_chunks()
        new_unit[1:] |= pc.not_equal(sessions[1:], sessions[:-1]).to_numpy(zero_copy_only=False)
    elif funnel.count == "sessions" and funnel.session_gap_seconds is not None:
        gap = funnel.session_gap_seconds * US_PER_SECOND
        new_unit[1:] |= np.diff(ts) > gap  # [C2] more than the gap after the previous event
    unit_start = np.append(np.flatnonzero(new_unit), n).astype(np.int64)
    firsts = unit_start[:-1]
    if pa.types.is_integer(person.type):
        lookup = ids_of_keys or (lambda values: [str(int(v)) for v in values])
        first_keys = keys[firsts]

        def unit_ids(units: np.ndarray) -> list[str]:
            return list(lookup(first_keys[units]))
    else:
        first_texts = keys.take(pa.array(firsts))

        def unit_ids(units: np.ndarray) -> list[str]:
            return list(first_texts.take(pa.array(units)).to_pylist())

    arrays = DepthArrays(ts, mask, xmask, hold, value, unit_start, unit_ids, group_values, query)
    if funnel.sessions_by_column and cols.session is not None:
        missing = _sessionless(con, funnel, cols)
        if missing:
            arrays.warnings.append(no_session_warning(missing))
    return arrays


def _sessionless(con: duckdb.DuckDBPyConnection, funnel: Funnel, cols: EventColumns) -> int:
    names = list(funnel.event_names)
    marks = ", ".join("?" * len(names))
    row = con.execute(
        f"SELECT count(*) FROM {cols.source} WHERE {cols.session} IS NULL "
        f"AND {cols.event} IN ({marks})",
        names,
    ).fetchone()
    return int(row[0]) if row else 0


def _ints(column: pa.ChunkedArray) -> np.ndarray:
    if column.num_chunks == 0:
        return np.zeros(0, np.int64)
    return np.ascontiguousarray(
        column.combine_chunks().to_numpy(zero_copy_only=False), dtype=np.int64
    )


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
