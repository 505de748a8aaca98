"""The `clickhouse` engine: a funnel compiled into one ClickHouse SQL query.

Each person's (or session's) events are gathered on the server into arrays sorted by (ts,
event_id), each event carrying a bit mask of the steps it can fill; every entry event starts an
attempt, folded over the steps with ``arrayFold`` exactly as the reference's machine does
(engines/reference/machine.py); the best attempt (furthest, then earliest entry) is kept, or
under count: totals every attempt in turn. Only counted attempts (person, unit, step times,
breakdown values) leave the server. Event names and filter values reach the SQL as query
parameters (``{e0:String}``), never as text of the SQL.

It runs over a :class:`~funnelscope.engines.clickhouse.source.ClickHouseSource`; any other
source is copied into one first (``open_source``). See docs/architecture.md, "The clickhouse
engine".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from funnelscope.engines.clickhouse.source import ClickHouseSource, param_text
from funnelscope.engines.plan import Plan
from funnelscope.errors import EngineError
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.filters import Filter
from funnelscope.model.results import SKIPPED_US, Outcomes, no_session_warning
from funnelscope.model.spec import Funnel, Order

NAME = "clickhouse"
READS_FILES_IN_PLACE = False

__all__ = ["NAME", "ClickHouseSource", "compile", "execute", "explain", "open_source"]


@contextmanager
def open_source(funnel: Funnel, source: Any) -> Iterator[ClickHouseSource]:
    """`source` as a ClickHouse source: itself, or the events `funnel` reads (as the reference
    scans them) copied into a chdb table of their own for the block."""
    if isinstance(source, ClickHouseSource):
        yield source
        return
    names = None if funnel.reads_all_events else funnel.scan_event_names
    table = source.scan(names, funnel.properties, sessions=funnel.sessions_by_column)
    with ClickHouseSource.from_table(table) as own:
        yield own


def compile(funnel: Funnel, source: Any) -> Plan:
    """The query giving every counted attempt: (person, unit, times of its steps, breakdown
    values); only these leave the server."""
    if not isinstance(source, ClickHouseSource):
        raise EngineError("engine clickhouse runs over a ClickHouse source (ClickHouseSource)")
    params: dict[str, str] = {
        "window_us": str(funnel.window_seconds * US_PER_SECOND),
        "skipped": str(SKIPPED_US),
        "optional": "[" + ",".join(str(int(step.optional)) for step in funnel.steps) + "]",
    }
    names = list(funnel.scan_event_names)  # the steps' and the exclusions' ([X1])
    for n, name in enumerate(names):
        params[f"e{n}"] = param_text(name)
    notes: list[str] = []
    r = funnel.date_range
    # [B5], [P1], [R4]: a person's value is their latest event carrying it, up to the range's end
    person_values = {
        prop: (f"pv{n}", *_column(source, prop)) for n, prop in enumerate(funnel.person_properties)
    }
    before_end = "" if r is None or r.end_us is None else " AND ts < {end_us:Int64}"
    pushed = _Filters(source, params, notes, {p: v[0] for p, v in person_values.items()})
    masks = " + ".join(
        f"if(event = {{e{names.index(step.event)}:String}}"
        + "".join(f" AND {pushed.sql(f)}" for f in funnel.filters_for(k))
        + f", toUInt64({1 << k}), toUInt64(0))"
        for k, step in enumerate(funnel.steps)
    )
    exclusion_masks = " + ".join(  # [X1]: an exclusion's own filters, not the funnel's
        f"if(event = {{e{names.index(x.event)}:String}}"
        + "".join(f" AND {pushed.sql(f)}" for f in x.where)
        + f", toUInt64({1 << n}), toUInt64(0))"
        for n, x in enumerate(funnel.exclusions)
    )
    if not funnel.exclusions:
        exclusion_masks = "toUInt64(0)"
    conditions = []
    if not funnel.reads_all_events:  # strict: any event breaks a sequence ([S12]); a session
        # by inactivity: any event continues one ([C2])
        names_in = ", ".join(f"{{e{n}:String}}" for n in range(len(names)))
        conditions.append(f"event IN ({names_in})")
    enters = "b[i] != 0" if funnel.order == Order.ANY else "bitTest(b[i], 0)"
    if r is not None and r.start_us is not None:  # [R3] events before the range are not data
        params["start_us"] = str(r.start_us)
        conditions.append("ts >= {start_us:Int64}")
    if r is not None and r.end_us is not None:  # [R1] attempts enter only inside the range
        params["end_us"] = str(r.end_us)
        enters += " AND t[i] < {end_us:Int64}"
    if funnel.sessions_by_column:  # [C2] events without a session belong to none
        conditions.append("session_id IS NOT NULL")
    where = ("WHERE " + " AND ".join(conditions)) if conditions else ""

    breakdown = funnel.breakdown
    per_value = (  # [B4] each value on its own, held constant like hold_constant ([H1])
        breakdown is not None and breakdown.scope == "event"
        and breakdown.attribution == "all_events"
    )  # fmt: skip
    held_keys = [_same_text(*_column(source, p)) for p in funnel.hold_constant]
    value_columns: list[str] = []  # the raw breakdown values each event carries
    value_keys: list[str] = []  # the same as text equal exactly for "the same value" ([H2])
    if breakdown is not None:
        for prop in breakdown.properties:
            if breakdown.scope == "person":
                value_columns.append(person_values[prop][0])
            else:
                column, kind = _column(source, prop)
                value_columns.append(column)
                value_keys.append(_same_text(column, kind))
    held = "[" + ", ".join([*held_keys, *(value_keys if per_value else [])]) + "]"
    holds = bool(funnel.hold_constant) or per_value
    if not holds:
        held = "emptyArrayString()"

    totals = funnel.count == "totals"
    taken = "tot.1" if totals else None
    optional = any(step.optional for step in funnel.steps)
    if funnel.order == Order.ANY:
        attempt = _any_attempt(funnel, holds, taken)
    else:
        # [W1] how long after the previous step each step may come (the window when unlimited:
        # the previous step is never before the entry, so the window's end comes first)
        limits = [
            funnel.window_seconds if step.within_seconds is None else step.within_seconds
            for step in funnel.steps
        ]
        params["within_us"] = "[" + ",".join(str(w * US_PER_SECOND) for w in limits) + "]"
        # [O2] each optional step's rival: the next non-optional step (0: not optional)
        rivals = [
            next(r for r in range(k + 1, len(funnel.steps)) if not funnel.steps[r].optional)
            if step.optional
            else 0
            for k, step in enumerate(funnel.steps)
        ]
        params["rivals"] = "[" + ",".join(str(r) for r in rivals) + "]"
        attempt = _sequential_attempt(
            len(funnel.steps),
            strict=funnel.order == Order.STRICT,
            held=holds,
            exclusions=[(x.start, x.end) for x in funnel.exclusions],
            taken=taken,
            shapes=(
                len(funnel.event_names) < len(funnel.steps),
                any(x.event in funnel.event_names for x in funnel.exclusions),
                optional,
                any(step.within_seconds is not None for step in funnel.steps),
            ),
            keeps=(
                totals or len(funnel.event_names) < len(funnel.steps) or bool(funnel.exclusions),
                breakdown is not None
                and breakdown.scope == "event"
                and breakdown.attribution in ("last_touch", "step"),
                totals,
            ),
        )
    row = _row(breakdown, len(value_columns), optional)

    def counted(entry_condition: str) -> str:
        """The counted attempts entering where `entry_condition` holds, as rows."""
        if totals:  # [C3] attempt after attempt, each from the first free entry at its end
            entry = (
                f"arrayFirstIndex(i -> {entry_condition} AND t[i] >= tot.2 "
                "AND NOT has(tot.1, toUInt32(i)), arrayEnumerate(t))"
            )
            step = (
                f"arrayMap(i -> if(i = 0, (tot.1, tot.2, toUInt8(1), tot.4), "
                f"arrayMap(a -> (arrayConcat(tot.1, a.4), a.3, toUInt8(0), "
                f"arrayPushBack(tot.4, a)), [{attempt}])[1]), [{entry}])[1]"
            )
            fold = (
                f"arrayFold((tot, n) -> if(tot.3 = 1, tot, {step}), arrayEnumerate(t), "
                f"(emptyArrayUInt32(), toInt64({-(2**63)}), toUInt8(0), CAST([], "
                "'Array(Tuple(Array(Int64), Array(UInt32), Int64, Array(UInt32)))')))"
            )
            return f"arrayMap(a -> {row}, {fold}.4)"
        entries = f"arrayFilter(i -> {entry_condition}, arrayEnumerate(t))"
        attempts = f"arrayMap(i -> {attempt}, {entries})"
        best = _choose_best(optional)
        return f"arrayMap(attempts -> arrayMap(a -> {row}, {best}), [{attempts}])[1]"

    if per_value:
        entries = f"arrayFilter(i -> {enters}, arrayEnumerate(t))"
        values = f"arrayDistinct(arrayMap(i -> vk[i], {entries}))"
        of_value = counted(f"{enters} AND vk[i] = value")
        rows_sql = f"arrayFlatten(arrayMap(value -> {of_value}, {values}))"
    else:
        rows_sql = counted(enters)

    if funnel.count == "sessions" and funnel.session_gap_seconds is not None:
        # [C2] a new session after a gap: each is a unit
        params["gap_us"] = str(funnel.session_gap_seconds * US_PER_SECOND)
        unit = """sum(toUInt64(gap > {gap_us:Int64})) OVER (
            PARTITION BY person ORDER BY ts, event_id ROWS UNBOUNDED PRECEDING)"""
        gaps = """, ts - lagInFrame(ts, 1, ts) OVER (PARTITION BY person ORDER BY ts, event_id
                ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS gap"""
    elif funnel.sessions_by_column:
        unit, gaps = "session_id", ""
    else:
        unit, gaps = "''", ""
    if person_values:
        values_sql = "".join(
            f", argMaxIf({column}, (ts, event_id), {column} IS NOT NULL{before_end}) "
            f"OVER (PARTITION BY person) AS {alias}"
            for alias, column, _ in person_values.values()
        )
        events = f"(SELECT *{values_sql} FROM {source.table_name})"
    else:
        events = source.table_name
    value_arrays = "".join(
        f",\n        arrayMap(x -> x.{7 + n}, sorted_events) AS bv{n}"
        for n in range(len(value_columns))
    )
    value_fields = "".join(f", {c}" for c in value_columns)
    value_key = "[" + ", ".join(value_keys) + "]" if per_value else "emptyArrayString()"
    value_out = "".join(f", r.{2 + n} AS v{n}" for n in range(len(value_columns)))
    sql = f"""SELECT person, unit, r.1 AS times{value_out}
FROM (
    SELECT
        person,
        unit,
        arraySort(x -> (x.1, x.2),
            groupArray((ts, event_id, mask, held, xmask, value_key{value_fields})))
            AS sorted_events,
        arrayMap(x -> x.1, sorted_events) AS t,
        arrayMap(x -> x.3, sorted_events) AS b,
        arrayMap(x -> x.4, sorted_events) AS h,
        arrayMap(x -> x.5, sorted_events) AS xm,
        arrayMap(x -> x.6, sorted_events) AS vk{value_arrays},
        {rows_sql} AS counted_rows
    FROM (
        SELECT person, toString({unit}) AS unit, event_id, ts, {masks} AS mask, {held} AS held,
            {exclusion_masks} AS xmask, {value_key} AS value_key{value_fields}
        FROM (SELECT *{gaps} FROM {events} {where})
    )
    GROUP BY person, unit
)
ARRAY JOIN counted_rows AS r"""
    fold = (
        "per person: events sorted by (ts, event_id) with a step bit mask each; every entry "
        "event starts an attempt folded over the steps (arrayFold); "
        + (
            "attempt after attempt, each from the first free entry at the previous one's end"
            if totals
            else "the furthest attempt, then the earliest entry, is kept"
        )
        + (" (per breakdown value)" if per_value else "")
    )
    return Plan(NAME, funnel, sql, params, notes=(fold, *notes), route=funnel.order.value)


def _column(source: ClickHouseSource, prop: str) -> tuple[str, str]:
    """The column holding `prop` and its ClickHouse type (a NULL text for a property never
    seen: every event has it "not set")."""
    if prop in source.unloaded:
        raise EngineError(
            f"engine clickhouse does not load properties of type "
            f"{source.unloaded[prop]} yet ({prop!r})"
        )
    if prop not in source.properties:
        return "CAST(NULL, 'Nullable(String)')", "String"
    return source.properties[prop]


def _row(breakdown: Any, n_values: int, optional: bool) -> str:
    """An attempt `a` (times, step events, end, used) as a counted row: its times cut after its
    last step done, then the breakdown values of the event it is counted under ([B2])."""
    trimmed = "arraySlice(a.1, 1, arrayLastIndex(x -> x != {skipped:Int64}, a.1))"
    if not optional:  # no step is skipped: the times end at the last step done
        trimmed = "a.1"
    if breakdown is None:
        return f"tuple({trimmed})"
    if breakdown.scope == "person" or breakdown.attribution in ("first_touch", "all_events"):
        at = "a.2[1]"  # the entry (a person's value is on every event of theirs)
    elif breakdown.attribution == "last_touch":
        at = "a.2[length(tr)]"
    else:  # step:N; a step skipped or not done: "(none)"
        at = f"if(length(tr) >= {breakdown.step}, a.2[{breakdown.step}], toUInt32(0))"
    values = "".join(f", if(at = 0, NULL, bv{n}[at])" for n in range(n_values))
    return f"arrayMap(tr -> arrayMap(at -> (tr{values}), [{at}])[1], [{trimmed}])[1]"


class _Filters:
    """Filters as SQL over the source's property columns, exact by construction (as the
    kernel's filter_sql.py does): the distinct values a property takes are read once, tested
    with the very Filter.matches the reference uses, and the passing ones become query
    parameters of an IN list. Float zeros are told apart by sign (-0.0 and 0.0 differ as
    text, [F2]) and a NaN by isNaN, since ClickHouse compares those as numbers."""

    def __init__(
        self,
        source: ClickHouseSource,
        params: dict[str, str],
        notes: list[str],
        person_columns: dict[str, str],
    ):
        self.source = source
        self.params = params
        self.notes = notes
        self.person_columns = person_columns  # property -> the person's value ([P1])
        self.distinct: dict[str, list[Any]] = {}

    def _param(self, value: object, kind: str) -> str:
        name = f"v{sum(1 for p in self.params if p.startswith('v'))}"
        if kind == "Bool":
            text = "true" if value else "false"
        elif kind == "Float64":
            text = repr(float(value))  # type: ignore[arg-type]
        else:
            text = param_text(str(value))
        self.params[name] = text
        return f"{{{name}:{kind}}}"

    def sql(self, f: Filter) -> str:
        column, kind = _column(self.source, f.property)  # refuses a type not loaded
        if f.property not in self.source.properties:  # never seen: every value is "not set"
            holds = f.matches(None)
            self.notes.append(f"{f.property} {f.op}: property never seen, filter is {holds}")
            return "true" if holds else "false"
        read = self.person_columns[f.property] if f.on_person else column
        if f.property not in self.distinct:
            rows = self.source.query(
                f"SELECT DISTINCT {column} AS v FROM {self.source.table_name} "
                f"WHERE {column} IS NOT NULL"
            )
            self.distinct[f.property] = rows.column("v").to_pylist() if rows.num_rows else []
        passing = [v for v in self.distinct[f.property] if f.matches(v)]
        terms = []
        plain = [v for v in passing if not (isinstance(v, float) and (v == 0 or math.isnan(v)))]
        if plain:
            terms.append(f"{read} IN ({', '.join(self._param(v, kind) for v in plain)})")
        for v in passing:
            if isinstance(v, float) and v == 0:
                terms.append(
                    f"({read} = 0 AND 1 / {read} {'<' if math.copysign(1, v) < 0 else '>'} 0)"
                )
            elif isinstance(v, float) and math.isnan(v):
                terms.append(f"isNaN({read})")
        test = "(" + " OR ".join(dict.fromkeys(terms)) + ")" if terms else "false"
        self.notes.append(
            f"{f.property} {f.op} {f.value!r}: distinct values tested in Python, "
            f"{len(passing)} pass" + ("; not set passes" if f.matches(None) else "")
        )
        if f.matches(None):
            return f"({read} IS NULL OR {test})"
        return f"({read} IS NOT NULL AND {test})"


def _choose_best(optional: bool) -> str:
    """[S10], [O4]: of `attempts`, the one with the most non-optional steps done, then the most
    steps, then the earliest entry (indexOf takes the first); an array of it, or empty.
    Without optional steps an attempt's times are its steps done, so the score is their count."""
    scores = (
        "arrayMap(a -> 64 * arrayCount((x, o) -> x != {skipped:Int64} AND o = 0, a.1, "
        "arraySlice({optional:Array(UInt8)}, 1, length(a.1))) "
        "+ arrayCount(x -> x != {skipped:Int64}, a.1), attempts)"
    )
    if not optional:
        scores = "arrayMap(a -> length(a.1), attempts)"
    return (
        "arrayMap(scores -> arraySlice([attempts[indexOf(scores, arrayMax(scores))]], 1, "
        f"length(attempts)), [{scores}])[1]"
    )


def _same_text(column: str, kind: str) -> str:
    """A value as text that is equal exactly when the values are "the same" ([H2]): not set
    only matches not set, -0.0 is 0.0 (x + 0.0) and every NaN is one value; ClickHouse writes
    a double in its shortest round-trip form, so distinct doubles differ."""
    value = f"assumeNotNull({column})"
    text = f"toString({value})"
    if kind == "Float64":
        text = f"if(isNaN({value}), 'nan', toString({value} + 0.0))"
    return f"if(isNull({column}), 'N', concat('V', {text}))"


def _sequential_attempt(
    n_steps: int,
    strict: bool,
    held: bool,
    exclusions: list[tuple[int, int]],
    taken: str | None,
    shapes: tuple[bool, bool, bool, bool] = (True, True, True, True),
    keeps: tuple[bool, bool, bool] = (True, True, True),
) -> str:
    """ordered / strict from entry i: step k by the earliest unused event at or after the
    previous step, inside the window and the step's within ([S7]-[S9], [W1]); strict stops at
    any event strictly between ([S12]-[S13]); an exclusion between steps i < k+1 <= j stops it
    when an unused excluded event lies strictly after step i and strictly before the event
    chosen for step k+1, or up to its last moment when none is ([X2]). Events in `taken` (an
    array of indices: earlier attempts' under count: totals) are not used ([C3]).

    Fold state: (last ts, stopped, used indices, times, step events, end); the attempt is
    (times, step events (0: skipped), end ([C3]), used indices).

    `shapes` leaves out what the funnel cannot need (the SQL stays exact, only shorter): (an
    event can fill two steps, an excluded event can fill a step, some step is optional, some
    step has its own within); `keeps` what the attempt must carry out (the events it used,
    the event of each step, its end): what is not kept stays as it started."""
    refill, excluded_steps, optional, within = shapes
    keep_used, keep_events, keep_end = keeps
    used = "arrayPushBack(acc.3, toUInt32(j))" if keep_used else "acc.3"
    step_events = "arrayPushBack(acc.5, toUInt32(j))" if keep_events else "acc.5"
    skipped_event = "arrayPushBack(acc.5, toUInt32(0))" if keep_events else "acc.5"
    limit = "least(t[i] + {window_us:Int64}, acc.1 + {within_us:Array(Int64)}[k + 1])"
    if not within:  # the window's end comes first: the last step is never before the entry
        limit = "(t[i] + {window_us:Int64})"
    free = ""
    if refill:  # an event used for one step cannot fill another ([S5])
        free += " AND NOT has(acc.3, toUInt32(jj))"
    if taken:
        free += f" AND NOT has({taken}, toUInt32(jj))"
    stops = [  # [X1] the earliest unused excluded event for each exclusion spanning step k+1
        f"if(k >= {start} AND k <= {end - 1}, arrayFirstIndex((tt, xx, jj) -> "
        f"tt > arrayMax(arraySlice(acc.4, 1, {start})) "  # the latest step done up to i
        f"AND tt < if(j = 0, {limit} + 1, t[j]) AND bitTest(xx, {x})"
        + (" AND NOT has(acc.3, toUInt32(jj))" if excluded_steps else "")
        + ", t, xm, arrayEnumerate(t)), 0)"
        for x, (start, end) in enumerate(exclusions)
    ]
    stop = f"arrayFirst(z -> z != 0, arraySort([{', '.join(stops)}]))" if stops else "0"
    pick = (
        "arrayFirstIndex((tt, bb, jj) -> tt >= acc.1 "
        f"AND tt <= {limit} "
        f"AND bitTest(bb, k){free}"
        + (" AND h[jj] = h[i]" if held else "")  # [H1]
        + ", t, b, arrayEnumerate(t))"
    )
    rival = (
        pick.replace("bitTest(bb, k)", "bitTest(bb, r)")
        .replace("[k + 1]", "[r + 1]")
        .replace("arrayFirstIndex", "arrayMap(r -> arrayFirstIndex")
        + ", [{rivals:Array(UInt8)}[k + 1]])[1]"
    )
    skip = (  # [O2]: skip an optional step when its event is the rival's or later than it
        "{optional:Array(UInt8)}[k + 1] = 1 AND arrayMap(rj -> j = 0 OR (rj != 0 "
        f"AND (j = rj OR t[j] > t[rj])), [{rival}])[1]"
    )
    ends = (  # [C3] where a stopped attempt ends: the excluded event, the next step's last
        # moment, or the event that broke a strict sequence
        "if(xs != 0, t[xs], if(j = 0, " + limit + " + 1, arrayFirst(tt -> tt > acc.1, t)))"
    )
    gap = " OR arrayExists(tt -> tt > acc.1 AND tt < t[j], t)" if strict else ""
    if not keep_end:
        ends = "0"
    go_on = (
        f"arrayMap(xs -> if(xs != 0 OR j = 0{gap}, "
        f"(acc.1, toUInt8(1), acc.3, acc.4, acc.5, toInt64({ends})), "
        f"(t[j], toUInt8(0), {used}, arrayPushBack(acc.4, t[j]), "
        f"{step_events}, acc.6)), [toUInt32({stop})])[1]"
    )
    if optional:
        go_on = (
            f"if({skip}, (acc.1, toUInt8(0), acc.3, arrayPushBack(acc.4, {{skipped:Int64}}), "
            f"{skipped_event}, acc.6), {go_on})"
        )
    step = f"arrayMap(j -> {go_on}, [{pick}])[1]"
    fold = (
        f"arrayFold((acc, k) -> if(acc.2 = 1, acc, {step}), range(1, {n_steps}), "
        "(t[i], toUInt8(0), [toUInt32(i)], [t[i]], [toUInt32(i)], toInt64(0)))"
    )
    return f"arrayMap(s -> (s.4, s.5, if(s.2 = 1, s.6, s.1), s.3), [{fold}])[1]"


def _any_attempt(funnel: Funnel, held: bool, taken: str | None) -> str:
    """any from entry i: the entry, then every other step event within the window in (ts,
    event_id) order; an event fills one of its steps not yet done ([S14]); the k-th step is
    reached when the maximum matching of these events to the steps first grows to k ([S15]).
    The attempt is (times when the matching grew, the events that grew it, end ([C3]), the
    events the matching uses); `held`: steps hold the entry's key ([H1], [B4]); `taken`: an
    array of events earlier attempts used (count: totals), left out.

    When no event name fills two steps with different filters, the non-empty masks are
    disjoint classes of steps and taking any free step of the event's mask is a maximum
    matching. Otherwise an event whose steps are all taken looks for an augmenting path:
    breadth first from its mask through the owners' masks, at most n rounds, each step
    reached keeping its parent (0: reached from the event itself); when a free step is
    reached the path back is flipped, each step on it taking its parent's owner. Whichever
    path is found, the matching after each event is as large as the prefix's maximum matching,
    and the events it uses are the same (an event once matched stays matched)."""
    n = len(funnel.steps)
    variants: dict[str, set[tuple[Filter, ...]]] = {}
    for step in funnel.steps:
        variants.setdefault(step.event, set()).add(step.where)
    matching = any(len(v) > 1 for v in variants.values())
    window = (
        "arrayConcat([i], arrayFilter(j -> j != i AND t[j] >= t[i] "
        "AND t[j] <= t[i] + {window_us:Int64} AND b[j] != 0"
        + (" AND h[j] = h[i]" if held else "")  # [H1]
        + (f" AND NOT has({taken}, toUInt32(j))" if taken else "")  # [C3]
        + ", arrayEnumerate(t)))"
    )
    steps = "arrayEnumerate(acc.2)"

    # [C3] a complete attempt ends at its last step, another just after its window; it uses
    # the events its matching owns
    def attempt(fold: str, grown: int) -> str:
        return (
            f"arrayMap(a -> (a.1, a.{grown}, if(length(a.1) = {n}, a.1[{n}], "
            "t[i] + {window_us:Int64} + 1), arrayMap(x -> toUInt32(x), "
            f"arrayFilter(x -> x != 0, a.2))), [{fold}])[1]"
        )

    # greedy state: (times, owners, steps taken as bits, the events that grew the matching);
    # `take` gives the event the lowest free step of its own mask (`free`: its steps not taken)
    take = (
        "arrayMap(low -> (arrayPushBack(acc.1, t[j]), "
        f"arrayMap((o, s) -> if(s = bitCount(toUInt64(low - 1)) + 1, j, o), acc.2, {steps}), "
        "toUInt64(bitOr(acc.3, low)), arrayPushBack(acc.4, toUInt32(j))), "
        "[toUInt64(bitAnd(free, bitNot(toUInt64(free - 1))))])[1]"
    )
    if not matching:
        fold = (
            f"arrayFold((acc, j) -> arrayMap(free -> if(free != 0, {take}, acc), "
            f"[toUInt64(bitAnd(b[j], bitNot(acc.3)))])[1], {window}, "
            f"(emptyArrayInt64(), arrayWithConstant({n}, toUInt32(0)), toUInt64(0), "
            "emptyArrayUInt32()))"
        )
        return attempt(fold, 4)
    # matching state: (times, owners, steps taken, masks of the matched events or'ed, each
    # step's owner's mask); m is the event's mask, nd the steps not taken. Inner lambdas
    # capture only numbers: a captured array is copied for every element.
    # Every expression must be valid for any input, as ClickHouse may evaluate both branches
    # of an if: the lowest step (1-based) in the bits x, n + 1 when there is none; the bit of
    # step k, none for k = 0.
    lowest = (
        "bitCount(toUInt64(bitAnd(toUInt64(bitAnd({x}, bitNot(toUInt64({x} - 1))) - 1), "
        f"toUInt64({(1 << n) - 1})))) + 1"
    )
    bit = "toUInt64(bitShiftRight(bitShiftLeft(toUInt64(1), {k}), 1))"
    take = (
        "arrayMap(k -> (arrayPushBack(acc.1, t[j]), "
        f"arrayMap((o, s) -> if(s = k, j, o), acc.2, {steps}), "
        f"toUInt64(bitOr(acc.3, {bit.format(k='k')})), toUInt64(bitOr(acc.4, m)), "
        f"arrayMap((x, s) -> if(s = k, m, x), acc.5, {steps}), "
        "arrayPushBack(acc.6, toUInt32(j))), "
        f"[{lowest.format(x='bitAnd(m, nd)')}])[1]"
    )
    # breadth first: each round adds the steps the owners of the last layer can move to, until
    # a free step is reached or nothing is added (rr: steps reached, layers)
    rounds = (
        "arrayFold((rr, z) -> if(bitAnd(rr.1, nd) != 0, rr, arrayMap(nw -> if(nw = 0, rr, "
        "(toUInt64(bitOr(rr.1, nw)), arrayPushBack(rr.2, nw))), "
        "[toUInt64(bitAnd(arrayMap(ll -> arrayFold((u, x, s) -> if(bitTest(ll, s - 1), "
        f"bitOr(u, x), u), acc.5, {steps}, toUInt64(0)), [rr.2[-1]])[1], bitNot(rr.1)))])[1]), "
        f"range({n - 1}), (m, [m]))"
    )
    # back from the free step f through the earlier layers: in each, a step q whose owner can
    # move to the current step s; that owner and its mask move to s, and the first step of
    # the path gets j (w: current step, steps on the path, new owners and masks by step)
    moved = (
        f"(toUInt8(q), toUInt64(bitOr(w.2, {bit.format(k='q')})), "
        "arrayMap((x, k) -> if(k = s, oq, x), w.3, arrayEnumerate(w.3)), "
        "arrayMap((x, k) -> if(k = s, mq, x), w.4, arrayEnumerate(w.4)))"
    )
    back = (
        f"arrayFold((w, pl) -> arrayMap(s -> arrayMap(q -> arrayMap((oq, mq) -> {moved}, "
        "[acc.2[q]], [acc.5[q]])[1], [arrayFirstIndex((x, k) -> bitTest(pl, k - 1) "
        f"AND bitAnd(x, {bit.format(k='s')}) != 0, acc.5, {steps})])[1], [w.1])[1], "
        f"arrayReverse(arrayPopBack(r.2)), (toUInt8(f), {bit.format(k='f')}, "
        f"arrayWithConstant({n}, toUInt32(0)), arrayWithConstant({n}, toUInt64(0))))"
    )
    flip = (
        "arrayMap(pm -> (arrayPushBack(acc.1, t[j]), "
        "arrayMap((o, k, x) -> if(bitTest(pm, k - 1), if(x = 0, j, x), o), "
        f"acc.2, {steps}, w.3), toUInt64(bitOr(acc.3, {bit.format(k='f')})), "
        "toUInt64(bitOr(acc.4, m)), "
        "arrayMap((o, k, x) -> if(bitTest(pm, k - 1), if(x = 0, m, x), o), "
        f"acc.5, {steps}, w.4), arrayPushBack(acc.6, toUInt32(j))), [w.2])[1]"
    )
    grow = (
        "arrayMap(r -> arrayMap(reach -> if(reach = 0, acc, "
        f"arrayMap(f -> arrayMap(w -> {flip}, [{back}])[1], "
        f"[{lowest.format(x='reach')}])[1]), "
        f"[toUInt64(bitAnd(r.1, nd))])[1], [{rounds}])[1]"
    )
    # no path when neither the event nor any matched event fits a free step
    fill = f"if(bitAnd(m, nd) != 0, {take}, if(bitAnd(bitOr(m, acc.4), nd) = 0, acc, {grow}))"
    fold = (
        f"arrayFold((acc, j) -> arrayMap((m, nd) -> {fill}, [b[j]], "
        f"[toUInt64(bitNot(acc.3))])[1], {window}, (emptyArrayInt64(), "
        f"arrayWithConstant({n}, toUInt32(0)), toUInt64(0), toUInt64(0), "
        f"arrayWithConstant({n}, toUInt64(0)), emptyArrayUInt32()))"
    )
    return attempt(fold, 6)


def execute(plan: Plan, source: Any) -> Outcomes:
    """Run the query; each row is one counted attempt. Rows become Outcomes column by column
    (millions of persons: no Python object per row unless it has a breakdown value)."""
    import numpy as np
    import pyarrow.compute as pc

    if not isinstance(source, ClickHouseSource):
        raise EngineError("engine clickhouse runs over a ClickHouse source (ClickHouseSource)")
    funnel = plan.funnel
    params = {name: str(value) for name, value in plan.params.items()}
    rows = source.query(plan.sql, params)
    n = len(funnel.steps)
    warnings = _sessionless_warning(funnel, source, params)
    if rows.num_rows == 0:
        outcomes = Outcomes.from_people([], n)
        outcomes.warnings.extend(warnings)
        return outcomes
    times_list = rows.column("times").combine_chunks()
    lengths = pc.list_value_length(times_list).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(times_list).to_numpy(zero_copy_only=False).astype(np.int64)
    row_of = np.repeat(np.arange(rows.num_rows), lengths)
    starts = np.cumsum(lengths) - lengths
    times = np.zeros((rows.num_rows, n), dtype=np.int64)
    times[row_of, np.arange(flat.size) - starts[row_of]] = flat
    person = rows.column("person").combine_chunks()
    keys = pc.dictionary_encode(person).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    groups = units = None
    group_values: list[Any] = []
    b = funnel.breakdown
    if b is not None:
        columns = [rows.column(f"v{k}").to_pylist() for k in range(len(b.properties))]
        codes: dict[Any, int] = {}
        groups = np.array(
            [codes.setdefault(tuple(_same(v) for v in value), len(codes)) for value in
             zip(*columns, strict=True)],
            dtype=np.int32,
        )  # fmt: skip
        group_values = list(codes)
        # [B4]: a unit's rows under several values are alternatives (the total keeps the best)
        if b.scope == "event" and b.attribution == "all_events" and funnel.count != "totals":
            pairs = pc.binary_join_element_wise(
                person, rows.column("unit").combine_chunks(), "\x1f"
            )
            units = pc.dictionary_encode(pairs).indices.to_numpy(zero_copy_only=False)
            units = units.astype(np.int64)
    ids = person.to_numpy(zero_copy_only=False).astype(object)
    return Outcomes(
        lengths.astype(np.int16), times, keys, warnings, groups, group_values, units, ids
    )


_NAN = float("nan")


def _same(value: Any) -> Any:
    """A breakdown value as "the same value" groups it ([H2]): -0.0 is 0.0, every NaN is one
    (the same object, so that values compare equal as dict keys)."""
    if isinstance(value, float):
        return _NAN if math.isnan(value) else value + 0.0
    return value


def _sessionless_warning(
    funnel: Funnel, source: ClickHouseSource, params: dict[str, str]
) -> list[str]:
    """[C2] step events the funnel could use that have no session_id, as a warning."""
    if not funnel.sessions_by_column:
        return []
    names = ", ".join(f"{{e{funnel.scan_event_names.index(n)}:String}}" for n in funnel.event_names)
    conditions = [f"event IN ({names})", "session_id IS NULL"]
    r = funnel.date_range
    if r is not None and r.start_us is not None:
        conditions.append("ts >= {start_us:Int64}")
    last_use = None if r is None else r.last_use_us(funnel.window_seconds * US_PER_SECOND)
    if last_use is not None:
        params = {**params, "last_use_us": str(last_use)}
        conditions.append("ts <= {last_use_us:Int64}")
    found = source.query(
        f"SELECT count() AS n FROM {source.table_name} WHERE {' AND '.join(conditions)}", params
    )
    count = int(found.column("n")[0].as_py())
    return [no_session_warning(count)] if count else []


def explain(plan: Plan, source: Any) -> str:
    """The SQL with its parameters, how each filter was pushed down, and ClickHouse's plan."""
    params = "\n".join(f"  {name} = {value!r}" for name, value in plan.params.items())
    notes = "".join(f"\n  {note}" for note in plan.notes)
    text = f"engine: {NAME}{notes}\nparameters:\n{params}\nsql:\n{plan.sql}"
    if isinstance(source, ClickHouseSource):
        found = source.query(f"EXPLAIN {plan.sql}", {k: str(v) for k, v in plan.params.items()})
        if found.num_rows:
            lines = found.column(found.column_names[0]).to_pylist()
            shown = (line if len(line) <= 160 else line[:159] + "…" for line in lines)
            text += "\nClickHouse's plan:\n" + "\n".join(f"  {line}" for line in shown)
    return text
