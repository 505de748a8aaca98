"""The scan the `kernel` engine runs: only person, time and a step bitmask, filters pushed down.

One builder serves every place events live (the store's table, a Parquet file read in place, an
Arrow table): a :class:`EventColumns` says which SQL expressions give the person, the time in
microseconds, the event name and each property. Filters become SQL in two ways:

- **exact SQL** where DuckDB compares exactly as docs/semantics.md [F1]-[F4] say (text with text,
  integers with integers, booleans, is_set); the whitelist is in :func:`_exact_sql`;
- **matched values** otherwise: the distinct values the property takes on the step's events are
  read once, tested with the very :meth:`Filter.matches` the reference engine uses, and the scan
  keeps the values that passed (``IN (...)``). So every filter is exact by construction, and the
  per-row work stays in DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelscope.model.filters import Filter, as_bool
from funnelscope.model.spec import Funnel
from funnelscope.store.timeparse import quote_ident

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_LISTED = 8  # matched values shown by --explain
FETCH_BATCH_ROWS = 1 << 26


@dataclass(frozen=True)
class EventColumns:
    """SQL expressions over one FROM clause that give the fields a funnel scan needs."""

    source: str  # the FROM clause: a table, a view or read_parquet(...)
    person: str
    ts: str  # int64 microseconds since the epoch, UTC
    event: str
    event_id: str | None  # orders events with equal times, when that can matter
    properties: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # name -> (sql, type)
    invalid: str | None = None  # a row ingest would quarantine (files read in place)
    integer_person: bool = False  # person is an integer key: the kernel groups rows itself
    session: str | None = None  # the session id, for count: sessions


@dataclass(frozen=True)
class StepQuery:
    sql: str
    params: dict[str, object]  # named: $p0, $p1, ...
    notes: list[str]  # how each filter was pushed down, for --explain
    sorted: bool  # rows come sorted by person and time; else the kernel groups integer keys


class Params(dict[str, object]):
    def add(self, value: object) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return f"${name}"


def needs_id_order(funnel: Funnel) -> bool:
    """Whether events with equal times must be ordered by event_id to match the reference.

    Only when one event name fills two steps with different filters can two tied events have
    overlapping but different step sets, the one case where their order changes a result
    (docs/semantics.md [S7]); otherwise tied events are interchangeable or never compete.
    """
    if funnel.order == "any":
        return False
    filters_by_name: dict[str, set[tuple[Filter, ...]]] = {}
    for step in funnel.steps:
        filters_by_name.setdefault(step.event, set()).add(step.where)
    return any(len(variants) > 1 for variants in filters_by_name.values())


def step_query(con: duckdb.DuckDBPyConnection, funnel: Funnel, cols: EventColumns) -> StepQuery:
    """SQL returning ``person, ts, mask`` (bit k: the event can fill step k+1).

    Under ``strict`` every event is returned (any event between two steps breaks the sequence);
    otherwise only events that can fill a step. A row ``cols.invalid`` flags gets mask -1.
    Rows come sorted by person and time (and event_id where ties matter) unless the person is
    an integer key and ties do not matter: then the kernel groups them, faster than a sort.
    """
    notes: list[str] = []
    params = Params()
    names = list(funnel.event_names)
    mask = step_mask_sql(con, funnel, cols, params, notes)
    if cols.invalid is not None:
        mask = f"CASE WHEN {cols.invalid} THEN -1 ELSE {mask} END"
    where = ""
    if funnel.order != "strict":
        where = f" WHERE {cols.event} IN ({', '.join(params.add(n) for n in names)})"
    by_id = needs_id_order(funnel)
    order = "person, ts" + (f", {cols.event_id}" if by_id else "")
    inner = (
        f"SELECT {cols.person} AS person, {cols.ts} AS ts, CAST({mask} AS BIGINT) AS mask"
        + (f", {cols.event_id}" if by_id else "")
        + f" FROM {cols.source}{where}"
    )
    filtered = bool(funnel.where) or any(step.where for step in funnel.steps)
    keep = " WHERE mask <> 0" if funnel.order != "strict" and filtered else ""
    sort = by_id or not cols.integer_person
    sql = f"SELECT person, ts, mask FROM ({inner}){keep}" + (f" ORDER BY {order}" if sort else "")
    return StepQuery(sql, params, notes, sort)


def step_mask_sql(
    con: duckdb.DuckDBPyConnection,
    funnel: Funnel,
    cols: EventColumns,
    params: Params,
    notes: list[str],
) -> str:
    """SQL for the bitmask of the steps an event can fill (bit k: step k+1), filters pushed down."""
    shared = [_filter_sql(con, f, cols, funnel.event_names, params, notes) for f in funnel.where]
    terms = []
    for k, step in enumerate(funnel.steps):
        conds = [f"{cols.event} = {params.add(step.event)}"]
        conds += shared
        conds += [_filter_sql(con, f, cols, [step.event], params, notes) for f in step.where]
        terms.append(f"(CASE WHEN {' AND '.join(conds)} THEN {1 << k} ELSE 0 END)")
    return " + ".join(terms)


def exclusion_mask_sql(
    con: duckdb.DuckDBPyConnection,
    funnel: Funnel,
    cols: EventColumns,
    params: Params,
    notes: list[str],
) -> str:
    """SQL for the bitmask of the exclusions an event matches (bit x: exclusion x+1; its own
    filters only, docs/semantics.md [X1])."""
    terms = []
    for x, exclusion in enumerate(funnel.exclusions):
        conds = [f"{cols.event} = {params.add(exclusion.event)}"]
        conds += [
            _filter_sql(con, f, cols, [exclusion.event], params, notes) for f in exclusion.where
        ]
        terms.append(f"(CASE WHEN {' AND '.join(conds)} THEN {1 << x} ELSE 0 END)")
    return " + ".join(terms) or "0"


def _filter_sql(
    con: duckdb.DuckDBPyConnection,
    f: Filter,
    cols: EventColumns,
    names: Sequence[str],
    params: Params,
    notes: list[str],
) -> str:
    column = cols.properties.get(f.property)
    if column is None:  # never ingested: every value is "not set"
        holds = f.matches(None)
        notes.append(f"{f.property} {f.op}: property never seen, filter is {holds}")
        return "true" if holds else "false"
    expr, kind = column
    exact = _exact_sql(f, expr, kind, params)
    if exact is not None:
        notes.append(f"{f.property} {f.op} {f.value!r}: pushed down as SQL ({kind})")
        return exact
    return _matched_values_sql(con, f, column, cols, names, params, notes)


def _values(f: Filter) -> tuple[object, ...]:
    return f.value if isinstance(f.value, tuple) else (f.value,)


def _exact_sql(f: Filter, expr: str, kind: str, params: Params) -> str | None:
    """SQL that compares exactly as Filter.matches does, for the cases where DuckDB agrees."""
    if f.op == "is_set":
        return f"({expr} IS NOT NULL)"
    if f.op == "is_not_set":
        return f"({expr} IS NULL)"
    values = _values(f)
    negative = f.op in ("neq", "not_in")
    if f.op in ("eq", "neq", "in", "not_in"):
        if (kind == "VARCHAR" and all(isinstance(v, str) for v in values)) or (
            kind == "BIGINT" and all(_is_int64(v) for v in values)
        ):
            literal = values
        elif kind == "BOOLEAN" and all(as_bool(v) is not None for v in values):  # type: ignore[arg-type]
            literal = tuple(as_bool(v) for v in values)  # type: ignore[arg-type]
        else:
            return None
        test = f"{expr} IN ({', '.join(params.add(v) for v in literal)})"
        return f"({expr} IS NULL OR NOT {test})" if negative else f"({expr} IS NOT NULL AND {test})"
    if f.op in ("gt", "gte", "lt", "lte"):
        (value,) = values
        if (kind == "VARCHAR" and isinstance(value, str)) or (
            kind == "BIGINT" and _is_int64(value)
        ):
            symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.op]
            return f"({expr} {symbol} {params.add(value)})"
    return None


def _is_int64(value: object) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
    )


def _matched_values_sql(
    con: duckdb.DuckDBPyConnection,
    f: Filter,
    column: tuple[str, str],
    cols: EventColumns,
    names: Sequence[str],
    params: Params,
    notes: list[str],
) -> str:
    """Test each distinct value with Filter.matches; keep the rows holding a passing value."""
    expr, kind = column
    query = (
        f"SELECT DISTINCT {expr} FROM {cols.source} "
        f"WHERE {cols.event} IN ({', '.join('?' * len(names))})"
    )
    values = [v for (v,) in con.execute(query, list(names)).fetchall() if v is not None]
    zeros = ""
    if kind == "DOUBLE" and any(v == 0 for v in values):
        # DISTINCT and list_contains take 0.0 and -0.0 for one value, but their text differs
        values = [v for v in values if v != 0]
        plus, minus = f.matches(0.0), f.matches(-0.0)
        if plus and minus:
            zeros = f" OR {expr} = 0"
        elif plus or minus:
            zeros = f" OR ({expr} = 0 AND {'' if minus else 'NOT '}signbit({expr}))"
    passing = [v for v in values if f.matches(v)]
    null_passes = f.matches(None)
    shown = ", ".join(repr(v) for v in passing[:MAX_LISTED])
    more = f" and {len(passing) - MAX_LISTED} more" if len(passing) > MAX_LISTED else ""
    notes.append(
        f"{f.property} {f.op} {f.value!r}: distinct values tested in Python, "
        f"{len(passing)} pass ({shown}{more})" + ("; not set passes" if null_passes else "")
    )
    test = f"list_contains({params.add(passing)}, {expr})" if passing else "false"
    test = f"({test}{zeros})"
    if null_passes:
        return f"({expr} IS NULL OR {test})"
    return f"({expr} IS NOT NULL AND {test})"


def property_columns(
    con: duckdb.DuckDBPyConnection, source: str, names: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """For an Arrow table or view: property -> (quoted column, DuckDB type) of the ones present."""
    described = {
        str(row[0]): str(row[1])
        for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    }
    return {name: (quote_ident(name), described[name]) for name in names if name in described}


@dataclass
class StepArrays:
    """A fetched step scan. Either rows are grouped by person in time order (``starts`` holds
    each person's first row, then the end, over ``ts`` and ``mask``), or ``segments`` holds
    (person key, ts, mask) arrays in scan order and the kernel groups them."""

    ts: np.ndarray  # int64 µs
    mask: np.ndarray  # int64 step bits
    starts: np.ndarray | None
    segments: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None
    ids_of: Callable[[np.ndarray], list[str]]  # person keys (or person numbers if grouped) -> ids
    query: StepQuery
    skipped: int = 0  # rows ingest would quarantine (files read in place), left out
    warnings: list[str] = field(default_factory=list)


def fetch_steps(
    con: duckdb.DuckDBPyConnection,
    query: StepQuery,
    ids_of_keys: Callable[[np.ndarray], list[str]] | None = None,
) -> StepArrays:
    """Run a step query. Integer person keys become ids through `ids_of_keys` (default: their
    decimal text, as ingest stores an integer id column)."""
    # few large batches: numpy conversion of ~100 small chunks costs more than the scan itself
    table = con.sql(query.sql, params=query.params).to_arrow_table(FETCH_BATCH_ROWS)
    skipped = sum(int(np.count_nonzero(_chunk_numpy(c) < 0)) for c in table.column("mask").chunks)
    if skipped:  # (pyarrow.compute's sum would load pandas: 0.3 s)
        table = table.filter(pc.greater_equal(table.column("mask"), 0))
    person = table.column("person")
    lookup = ids_of_keys or (lambda values: [str(int(v)) for v in values])
    empty = np.zeros(0, np.int64)
    if pa.types.is_integer(person.type) and not query.sorted:
        segments = [
            tuple(_chunk_numpy(batch.column(i)) for i in range(3))
            for batch in table.to_batches()
            if batch.num_rows
        ]
        return StepArrays(empty, empty, None, segments, lookup, query, skipped)  # type: ignore[arg-type]
    mask = _numpy(table.column("mask"))
    ts = _numpy(table.column("ts"))
    if pa.types.is_integer(person.type):
        keys = _numpy(person).astype(np.int64, copy=False)
        starts = _run_starts(keys[1:] != keys[:-1], keys.size)
        firsts = keys[starts[:-1]]
        return StepArrays(ts, mask, starts, None, lambda r: lookup(firsts[r]), query, skipped)
    texts = person.combine_chunks().cast(pa.string())
    changed = pc.not_equal(texts[1:], texts[:-1]).to_numpy(zero_copy_only=False)
    starts = _run_starts(changed, len(texts))
    names = texts.take(pa.array(starts[:-1]))
    return StepArrays(
        ts, mask, starts, None, lambda rows: names.take(pa.array(rows)).to_pylist(), query, skipped
    )


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """One numpy array of an integer column without nulls, from its (few) chunks."""
    parts = [_chunk_numpy(chunk) for chunk in column.chunks]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return np.zeros(0, np.int64)
    return np.concatenate(parts)


def _chunk_numpy(chunk: pa.Array) -> np.ndarray:
    """A zero-copy numpy view of an integer Arrow array without nulls. Reads the buffer
    directly: Array.to_numpy and to_pandas_dtype import pandas when it is installed."""
    if chunk.null_count:
        raise ValueError("a scan column holds NULL")  # the scan never yields one
    kind = "i" if pa.types.is_signed_integer(chunk.type) else "u"
    dtype = np.dtype(f"{kind}{chunk.type.bit_width // 8}")
    return np.frombuffer(chunk.buffers()[1], dtype, len(chunk), chunk.offset * dtype.itemsize)


def _run_starts(changed: np.ndarray, n: int) -> np.ndarray:
    """Offsets of runs in a sorted column (``changed[i]``: row i+1 differs from row i), + end."""
    if n == 0:
        return np.zeros(1, np.int64)
    inner = np.flatnonzero(changed) + 1
    return np.concatenate(([0], inner, [n])).astype(np.int64)


def explain_plan(con: duckdb.DuckDBPyConnection, query: StepQuery) -> str:
    """DuckDB's physical plan for a step query."""
    rows = con.execute(f"EXPLAIN {query.sql}", query.params).fetchall()
    return "\n".join(str(row[1]) for row in rows)
