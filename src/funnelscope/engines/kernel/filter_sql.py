"""Filters and step bits as SQL, for every scan the kernel runs.

Given the :class:`EventColumns` of a source, filters become SQL in two ways:

- **exact SQL** where DuckDB compares exactly as docs/semantics.md [F1]-[F4] say (text with text,
  integers with integers, booleans, is_set); the whitelist is in :func:`_exact_sql`;
- **matched values** otherwise: the distinct values the property takes on the step's events are
  read once, tested with the very :meth:`Filter.matches` the reference engine uses, and the scan
  keeps the values that passed (``IN (...)``). So every filter is exact by construction, and the
  per-row work stays in DuckDB.

A person-scope filter ([P1]) reads the person's value, which :func:`with_person_values` joins
beside every event; a date range ([R1]-[R3]) bounds the scan's times (:func:`range_sql`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import duckdb

from funnelscope.engines.plan import Params
from funnelscope.errors import EngineError
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.filters import Filter, as_bool
from funnelscope.model.spec import Exclusion, Funnel
from funnelscope.store.event_columns import EventColumns

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_LISTED = 8  # matched values shown by --explain
PERSON_VALUE = "__fs_person_value"  # columns of the person values joined beside each event


def value_sql(cols: EventColumns, prop: str, person: bool = False) -> str:
    """A property's value as compared for "the same value" ([H2]): -0.0 is 0.0; with `person`,
    the person's value ([B5]) from :func:`with_person_values`."""
    column = (cols.person_values if person else cols.properties).get(prop)
    if column is None:
        return "CAST(NULL AS VARCHAR)"
    expr, kind = column
    if kind == "DOUBLE":
        return f"(CASE WHEN {expr} = 0 THEN 0.0 ELSE {expr} END)"
    return expr


def entry_end_us(funnel: Funnel) -> int:
    """The machines' bound on entry times: an attempt starts only before it ([R1])."""
    r = funnel.date_range
    return INT64_MAX if r is None or r.end_us is None else r.end_us


def range_sql(funnel: Funnel, cols: EventColumns) -> str | None:
    """The scan's time bounds under a date range (None: none). Events before its start are not
    in the data ([R3]); events after the last moment an attempt entering in it can reach (the
    end plus the window) cannot change a result ([R2]: steps, strict gaps and exclusions all
    lie inside an attempt's window, and a session is cut by the gap before an event, never
    after), so the scan leaves them out. Rows a source flags invalid stay, to be reported."""
    r = funnel.date_range
    if r is None:
        return None
    bounds = []
    if r.start_us is not None:
        bounds.append(f"{cols.ts} >= {int(r.start_us)}")
    last = r.last_use_us(funnel.window_seconds * US_PER_SECOND)
    if last is not None:
        bounds.append(f"{cols.ts} <= {int(last)}")
    test = " AND ".join(bounds)
    return f"({cols.invalid} OR ({test}))" if cols.invalid is not None else f"({test})"


def with_person_values(funnel: Funnel, cols: EventColumns) -> EventColumns:
    """`cols` over a FROM clause that joins, beside every event, the person's value of each of
    the funnel's person properties ([B5]: the latest event of any name, by time then event_id,
    that carries it; events after the date range's end do not count, [R4]). Person-scope
    filters ([P1]) and breakdowns read them as ``cols.person_values``."""
    props = [p for p in funnel.person_properties if p in cols.properties]
    if not props or all(p in cols.person_values for p in props):
        return cols
    if cols.event_id is None:
        raise EngineError(
            "person values need event ids to order events with equal times; load the files "
            "into a store first (EventStore(':memory:').ingest(paths)), as the CLI does"
        )
    r = funnel.date_range
    until = []
    if r is not None and r.end_us is not None:
        until.append(f"{cols.ts} < {int(r.end_us)}")
    if cols.invalid is not None:
        until.append(f"NOT {cols.invalid}")
    where = f" WHERE {' AND '.join(until)}" if until else ""
    reads = ", ".join(f"{cols.properties[p][0]} AS v{i}" for i, p in enumerate(props))
    latest = ", ".join(
        f"arg_max(v{i}, (pv_ts, pv_eid)) FILTER (WHERE v{i} IS NOT NULL) AS {PERSON_VALUE}{i}"
        for i in range(len(props))
    )
    values = (
        f"SELECT pv_person AS {PERSON_VALUE}_person, {latest} FROM "
        f"(SELECT {cols.person} AS pv_person, {cols.ts} AS pv_ts, {cols.event_id} AS pv_eid, "
        f"{reads} FROM {cols.source}{where}) GROUP BY pv_person"
    )
    source = (
        f"(SELECT * FROM {cols.source} LEFT JOIN ({values}) "
        f"ON {cols.person} = {PERSON_VALUE}_person) AS with_person_values"
    )
    person_values = {p: (f"{PERSON_VALUE}{i}", cols.properties[p][1]) for i, p in enumerate(props)}
    return replace(cols, source=source, person_values=person_values)


def names_where(cols: EventColumns, names: Sequence[str], params: Params) -> str:
    """A WHERE clause keeping the events of the given names."""
    return f" WHERE {cols.event} IN ({', '.join(params.add(n) for n in names)})"


def step_mask_sql(
    con: duckdb.DuckDBPyConnection,
    funnel: Funnel,
    cols: EventColumns,
    params: Params,
    notes: list[str],
) -> str:
    """SQL for the bitmask of the steps an event can fill (bit k: step k+1), filters pushed down."""
    shared = [_filter_sql(con, f, cols, funnel.event_names, params, notes) for f in funnel.where]
    steps = [(step.event, step.where) for step in funnel.steps]
    return _bitmask_sql(con, cols, steps, shared, params, notes)


def exclusion_mask_sql(
    con: duckdb.DuckDBPyConnection,
    cols: EventColumns,
    exclusions: Sequence[Exclusion],
    params: Params,
    notes: list[str],
) -> str:
    """SQL for the bitmask of the exclusions an event matches (bit x: exclusion x+1; its own
    filters only, docs/semantics.md [X1])."""
    targets = [(x.event, x.where) for x in exclusions]
    return _bitmask_sql(con, cols, targets, [], params, notes)


def _bitmask_sql(
    con: duckdb.DuckDBPyConnection,
    cols: EventColumns,
    targets: Sequence[tuple[str, tuple[Filter, ...]]],
    shared: Sequence[str],
    params: Params,
    notes: list[str],
) -> str:
    """Bit i set when the event is named as target i and passes its filters and `shared`."""
    terms = []
    for bit, (event, where) in enumerate(targets):
        conds = [f"{cols.event} = {params.add(event)}", *shared]
        conds += [_filter_sql(con, f, cols, [event], params, notes) for f in where]
        terms.append(f"(CASE WHEN {' AND '.join(conds)} THEN {1 << bit} ELSE 0 END)")
    return " + ".join(terms) or "0"


def _filter_sql(
    con: duckdb.DuckDBPyConnection,
    f: Filter,
    cols: EventColumns,
    names: Sequence[str],
    params: Params,
    notes: list[str],
) -> str:
    column = (cols.person_values if f.on_person else cols.properties).get(f.property)
    if f.on_person and column is None and f.property in cols.properties:
        raise EngineError(f"person values of {f.property!r} were not joined (with_person_values)")
    if column is None:  # never ingested: every value is "not set"
        holds = f.matches(None)
        notes.append(f"{_named(f)} {f.op}: property never seen, filter is {holds}")
        return "true" if holds else "false"
    expr, kind = column
    exact = _exact_sql(f, expr, kind, params)
    if exact is not None:
        notes.append(f"{_named(f)} {f.op} {f.value!r}: pushed down as SQL ({kind})")
        return exact
    return _matched_values_sql(con, f, column, cols, names, params, notes)


def _named(f: Filter) -> str:
    """The property as --explain names it: ``plan`` or ``person's plan``."""
    return f"person's {f.property}" if f.on_person else f.property


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
        f"{_named(f)} {f.op} {f.value!r}: distinct values tested in Python, "
        f"{len(passing)} pass ({shown}{more})" + ("; not set passes" if null_passes else "")
    )
    test = f"list_contains({params.add(passing)}, {expr})" if passing else "false"
    test = f"({test}{zeros})"
    if null_passes:
        return f"({expr} IS NULL OR {test})"
    return f"({expr} IS NOT NULL AND {test})"
