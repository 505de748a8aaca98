"""The plain machine's scan: only person, time and a step bitmask, filters pushed down.

One builder serves every source (the store's table, Parquet files read in place, an Arrow
table): the source's :class:`EventColumns` say which SQL expressions give the person, the time
in microseconds, the event name and each property (filters: filter_sql.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelscope.engines.kernel.fetch import chunk_numpy, fetch, numpy_column, run_starts
from funnelscope.engines.kernel.filter_sql import (
    names_where,
    range_sql,
    step_mask_sql,
    with_person_values,
)
from funnelscope.engines.plan import Params, Plan
from funnelscope.model.spec import Funnel, Order
from funnelscope.store.event_columns import EventColumns

Segment = tuple[np.ndarray, np.ndarray, np.ndarray]  # person keys, times, masks in scan order


def plain_plan(con: duckdb.DuckDBPyConnection, funnel: Funnel, cols: EventColumns) -> Plan:
    """SQL returning ``person, ts, mask`` (bit k: the event can fill step k+1).

    Under ``strict`` every event is returned (any event between two steps breaks the sequence);
    otherwise only events that can fill a step. A row ``cols.invalid`` flags gets mask -1.
    Rows come sorted by person and time (and event_id where ties matter) unless the person is
    an integer key and ties do not matter: then the kernel groups them, faster than a sort.
    """
    notes: list[str] = []
    params = Params()
    names = list(funnel.event_names)
    cols = with_person_values(funnel, cols)
    mask = step_mask_sql(con, funnel, cols, params, notes)
    if cols.invalid is not None:
        mask = f"CASE WHEN {cols.invalid} THEN -1 ELSE {mask} END"
    strict = funnel.order == Order.STRICT
    where = scan_where(funnel, cols, None if strict else names, params)
    by_id = funnel.needs_id_order
    order = "person, ts" + (f", {cols.event_id}" if by_id else "")
    inner = (
        f"SELECT {cols.person} AS person, {cols.ts} AS ts, CAST({mask} AS BIGINT) AS mask"
        + (f", {cols.event_id}" if by_id else "")
        + f" FROM {cols.source}{where}"
    )
    filtered = bool(funnel.where) or any(step.where for step in funnel.steps)
    keep = " WHERE mask <> 0" if not strict and filtered else ""
    sort = by_id or not cols.integer_person
    sql = f"SELECT person, ts, mask FROM ({inner}){keep}" + (f" ORDER BY {order}" if sort else "")
    return Plan("kernel", funnel, sql, params, tuple(notes), "plain", sort)


def scan_where(
    funnel: Funnel, cols: EventColumns, names: Sequence[str] | None, params: Params
) -> str:
    """The WHERE clause of a scan: the events of the given names (None: every event) inside
    the date range's bounds (kernel/filter_sql.py `range_sql`)."""
    where = "" if names is None else names_where(cols, names, params)
    bounds = range_sql(funnel, cols)
    if bounds is None:
        return where
    return f"{where} AND {bounds}" if where else f" WHERE {bounds}"


@dataclass
class StepArrays:
    """A fetched plain scan. Either rows are grouped by person in time order (``starts`` holds
    each person's first row, then the end, over ``ts`` and ``mask``; ``person_keys`` each
    person's key), or ``segments`` holds (person key, ts, mask) arrays in scan order and the
    kernel groups them. Text person ids are numbered here and kept in ``person_ids``."""

    ts: np.ndarray  # int64 µs
    mask: np.ndarray  # int64 step bits
    starts: np.ndarray | None
    segments: list[Segment] | None
    person_keys: np.ndarray  # per person of ``starts``
    person_ids: np.ndarray | None = None  # per person, when persons are text
    skipped: int = 0  # rows ingest would quarantine (files read in place), left out


def fetch_steps(con: duckdb.DuckDBPyConnection, plan: Plan) -> StepArrays:
    """Run a plain plan."""
    table = fetch(con, plan)
    skipped = sum(int(np.count_nonzero(chunk_numpy(c) < 0)) for c in table.column("mask").chunks)
    if skipped:  # (pyarrow.compute's sum would load pandas: 0.3 s)
        table = table.filter(pc.greater_equal(table.column("mask"), 0))
    person = table.column("person")
    empty = np.zeros(0, np.int64)
    if pa.types.is_integer(person.type) and not plan.sorted:
        segments: list[Segment] = [
            (
                chunk_numpy(batch.column(0)),
                chunk_numpy(batch.column(1)),
                chunk_numpy(batch.column(2)),
            )
            for batch in table.to_batches()
            if batch.num_rows
        ]
        return StepArrays(empty, empty, None, segments, empty, None, skipped)
    mask = numpy_column(table.column("mask"))
    ts = numpy_column(table.column("ts"))
    if pa.types.is_integer(person.type):
        keys = numpy_column(person).astype(np.int64, copy=False)
        starts = run_starts(keys[1:] != keys[:-1], keys.size)
        return StepArrays(ts, mask, starts, None, keys[starts[:-1]], None, skipped)
    texts = person.combine_chunks().cast(pa.string())
    changed = pc.not_equal(texts[1:], texts[:-1]).to_numpy(zero_copy_only=False)
    starts = run_starts(changed, len(texts))
    names = texts.take(pa.array(starts[:-1])).to_numpy(zero_copy_only=False).astype(object)
    numbers = np.arange(starts.size - 1, dtype=np.int64)
    return StepArrays(ts, mask, starts, None, numbers, names, skipped)
