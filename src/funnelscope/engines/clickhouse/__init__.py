"""The `clickhouse` engine (in progress): a funnel compiled into one ClickHouse SQL query.

Each person's events are gathered on the server into one array sorted by (ts, event_id), each
event carrying a bit mask of the steps it can fill; every entry event starts an attempt, folded
over the steps with ``arrayFold`` exactly as the reference's machine does (engines/reference/
machine.py); the best attempt (furthest, then earliest entry) is kept. Only each person's best
attempt (steps reached, step times) leaves the server. Event names reach the SQL as query
parameters (``{e0:String}``), never as text of the SQL.

It runs over a :class:`~funnelscope.engines.clickhouse.source.ClickHouseSource` (chdb,
embedded). Not registered in BACKENDS yet: features it does not compile raise EngineError.
See docs/architecture.md, "The clickhouse engine (in progress)".
"""

from __future__ import annotations

import math
from typing import Any

from funnelscope.engines.clickhouse.source import ClickHouseSource, param_text
from funnelscope.engines.plan import Plan
from funnelscope.errors import EngineError
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.filters import Filter
from funnelscope.model.results import SKIPPED_US, Outcomes, PersonOutcome
from funnelscope.model.spec import Funnel, Order

NAME = "clickhouse"
READS_FILES_IN_PLACE = False

__all__ = ["NAME", "ClickHouseSource", "compile", "execute", "explain"]


def unsupported(funnel: Funnel) -> list[str]:
    """The features of `funnel` this engine does not compile yet."""
    missing = []
    filters = [*funnel.where, *(f for step in funnel.steps for f in step.where)]
    if any(f.on_person for f in filters):
        missing.append("person-scope filters")
    if funnel.count == "totals":
        missing.append("count: totals")
    if funnel.sessions_by_column:
        missing.append("count: sessions by the session_id column")
    if funnel.breakdown is not None:
        missing.append("breakdown")
    return missing


def compile(funnel: Funnel, source: Any) -> Plan:
    """The query giving every entered person's best attempt: (person, times of its steps)."""
    if not isinstance(source, ClickHouseSource):
        raise EngineError("engine clickhouse runs over a ClickHouse source (ClickHouseSource)")
    missing = unsupported(funnel)
    if missing:
        raise EngineError(f"engine clickhouse does not compile yet: {', '.join(missing)}")
    params: dict[str, str] = {
        "window_us": str(funnel.window_seconds * US_PER_SECOND),
        "skipped": str(SKIPPED_US),
        "optional": "[" + ",".join(str(int(step.optional)) for step in funnel.steps) + "]",
    }
    names = list(funnel.scan_event_names)  # the steps' and the exclusions' ([X1])
    for n, name in enumerate(names):
        params[f"e{n}"] = param_text(name)
    notes: list[str] = []
    pushed = _Filters(source, params, notes)
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
    r = funnel.date_range
    if r is not None and r.start_us is not None:  # [R3] events before the range are not data
        params["start_us"] = str(r.start_us)
        conditions.append("ts >= {start_us:Int64}")
    if r is not None and r.end_us is not None:  # [R1] attempts enter only inside the range
        params["end_us"] = str(r.end_us)
        enters += " AND t[i] < {end_us:Int64}"
    where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
    held = "[" + ", ".join(_held_sql(source, p) for p in funnel.hold_constant) + "]"
    if not funnel.hold_constant:
        held = "emptyArrayString()"
    entries = f"arrayFilter(i -> {enters}, arrayEnumerate(t))"
    if funnel.order == Order.ANY:
        attempt = f"({_any_attempt(funnel)}).1"  # (times, owners)
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
            held=bool(funnel.hold_constant),
            exclusions=[(x.start, x.end) for x in funnel.exclusions],
        )
    if funnel.count == "sessions":  # [C2] a new session after a gap: each is a unit
        params["gap_us"] = str((funnel.session_gap_seconds or 0) * US_PER_SECOND)
        rows = f"""SELECT *, sum(toUInt64(gap > {{gap_us:Int64}})) OVER (
            PARTITION BY person ORDER BY ts, event_id ROWS UNBOUNDED PRECEDING) AS unit
        FROM (
            SELECT *, ts - lagInFrame(ts, 1, ts) OVER (PARTITION BY person ORDER BY ts, event_id
                ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS gap
            FROM {source.table_name} {where}
        )"""
    else:
        rows = f"SELECT *, toUInt64(0) AS unit FROM {source.table_name} {where}"
    sql = f"""SELECT person, unit, best AS times
FROM (
    SELECT
        person,
        unit,
        arraySort(x -> (x.1, x.2), groupArray((ts, event_id, mask, held, xmask))) AS sorted_events,
        arrayMap(x -> x.1, sorted_events) AS t,
        arrayMap(x -> x.3, sorted_events) AS b,
        arrayMap(x -> x.4, sorted_events) AS h,
        arrayMap(x -> x.5, sorted_events) AS xm,
        arrayMap(i -> {attempt}, {entries}) AS attempts,
        {CHOOSE_BEST}
    FROM (
        SELECT person, unit, event_id, ts, {masks} AS mask, {held} AS held,
            {exclusion_masks} AS xmask
        FROM ({rows})
    )
    GROUP BY person, unit
    HAVING length(attempts) > 0
)
ORDER BY person, unit"""
    fold = (
        "per person: events sorted by (ts, event_id) with a step bit mask each; every entry "
        "event starts an attempt folded over the steps (arrayFold); the furthest attempt, then "
        "the earliest entry, is kept"
    )
    return Plan(NAME, funnel, sql, params, notes=(fold, *notes), route=funnel.order.value)


class _Filters:
    """Filters as SQL over the source's property columns, exact by construction (as the
    kernel's filter_sql.py does): the distinct values a property takes are read once, tested
    with the very Filter.matches the reference uses, and the passing ones become query
    parameters of an IN list. Float zeros are told apart by sign (-0.0 and 0.0 differ as
    text, [F2]) and a NaN by isNaN, since ClickHouse compares those as numbers."""

    def __init__(self, source: ClickHouseSource, params: dict[str, str], notes: list[str]):
        self.source = source
        self.params = params
        self.notes = notes
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
        if f.property in self.source.unloaded:
            raise EngineError(
                f"engine clickhouse does not load properties of type "
                f"{self.source.unloaded[f.property]} yet ({f.property!r})"
            )
        if f.property not in self.source.properties:  # never seen: every value is "not set"
            holds = f.matches(None)
            self.notes.append(f"{f.property} {f.op}: property never seen, filter is {holds}")
            return "true" if holds else "false"
        column, kind = self.source.properties[f.property]
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
            terms.append(f"{column} IN ({', '.join(self._param(v, kind) for v in plain)})")
        for v in passing:
            if isinstance(v, float) and v == 0:
                terms.append(
                    f"({column} = 0 AND 1 / {column} {'<' if math.copysign(1, v) < 0 else '>'} 0)"
                )
            elif isinstance(v, float) and math.isnan(v):
                terms.append(f"isNaN({column})")
        test = "(" + " OR ".join(dict.fromkeys(terms)) + ")" if terms else "false"
        self.notes.append(
            f"{f.property} {f.op} {f.value!r}: distinct values tested in Python, "
            f"{len(passing)} pass" + ("; not set passes" if f.matches(None) else "")
        )
        if f.matches(None):
            return f"({column} IS NULL OR {test})"
        return f"({column} IS NOT NULL AND {test})"


# [S10], [O4]: the attempt with the most non-optional steps done, then the most steps, then
# the earliest entry (indexOf takes the first); cut after its last step done
CHOOSE_BEST = """arrayMap(a -> 64 * arrayCount((x, o) -> x != {skipped:Int64} AND o = 0, a,
            arraySlice({optional:Array(UInt8)}, 1, length(a)))
            + arrayCount(x -> x != {skipped:Int64}, a), attempts) AS scores,
        attempts[indexOf(scores, arrayMax(scores))] AS chosen,
        arraySlice(chosen, 1, arrayLastIndex(x -> x != {skipped:Int64}, chosen)) AS best"""


def _held_sql(source: ClickHouseSource, prop: str) -> str:
    """A held property's value as text that is equal exactly when the values are "the same"
    ([H2]): not set only matches not set, -0.0 is 0.0 (x + 0.0) and every NaN is one value;
    ClickHouse writes a double in its shortest round-trip form, so distinct doubles differ."""
    if prop in source.unloaded:
        raise EngineError(
            f"engine clickhouse does not load properties of type "
            f"{source.unloaded[prop]} yet ({prop!r})"
        )
    if prop not in source.properties:
        return "'N'"
    column, kind = source.properties[prop]
    value = f"assumeNotNull({column})"
    text = f"toString({value})"
    if kind == "Float64":
        text = f"if(isNaN({value}), 'nan', toString({value} + 0.0))"
    return f"if(isNull({column}), 'N', concat('V', {text}))"


def _sequential_attempt(
    n_steps: int, strict: bool, held: bool, exclusions: list[tuple[int, int]]
) -> str:
    """ordered / strict from entry i: step k by the earliest unused event at or after the
    previous step, inside the window and the step's within ([S7]-[S9], [W1]); strict stops at
    any event strictly between ([S12]-[S13]); an exclusion between steps i < k+1 <= j stops it
    when an unused excluded event lies strictly after step i and strictly before the event
    chosen for step k+1, or up to its last moment when none is ([X2]).
    State: (last ts, stopped, used indices, times)."""
    limit = "least(t[i] + {window_us:Int64}, acc.1 + {within_us:Array(Int64)}[k + 1])"
    excluded = "".join(
        f" OR (k >= {start} AND k <= {end - 1} AND arrayExists((tt, xx, jj) -> "
        f"tt > arrayMax(arraySlice(acc.4, 1, {start})) "  # the latest step done up to i
        f"AND tt < if(j = 0, {limit} + 1, t[j]) AND bitTest(xx, {x}) "
        "AND NOT has(acc.3, toUInt32(jj)), t, xm, arrayEnumerate(t)))"
        for x, (start, end) in enumerate(exclusions)
    )
    pick = (
        "arrayFirstIndex((tt, bb, jj) -> tt >= acc.1 "
        f"AND tt <= {limit} "
        "AND bitTest(bb, k) AND NOT has(acc.3, toUInt32(jj))"
        + (" AND h[jj] = h[i]" if held else "")  # [H1]
        + ", t, b, arrayEnumerate(t))"
    )
    gap = " OR arrayExists(tt -> tt > acc.1 AND tt < t[j], t)" if strict else ""
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
    step = (
        f"arrayMap(j -> if({skip}, "
        "(acc.1, toUInt8(0), acc.3, arrayPushBack(acc.4, {skipped:Int64})), "
        f"if(j = 0{gap}{excluded}, (acc.1, toUInt8(1), acc.3, acc.4), "
        "(t[j], toUInt8(0), arrayPushBack(acc.3, toUInt32(j)), arrayPushBack(acc.4, t[j])))), "
        f"[{pick}])[1]"
    )
    return (
        f"arrayFold((acc, k) -> if(acc.2 = 1, acc, {step}), range(1, {n_steps}), "
        "(t[i], toUInt8(0), [toUInt32(i)], [t[i]])).4"
    )


def _any_attempt(funnel: Funnel) -> str:
    """any from entry i: the entry, then every other step event within the window in (ts,
    event_id) order; an event fills one of its steps not yet done ([S14]); the k-th step is
    reached when the maximum matching of these events to the steps first grows to k ([S15]).
    The attempt is a tuple (times when the matching grew, owners: step -> event index, 0 free).

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
        + (" AND h[j] = h[i]" if funnel.hold_constant else "")  # [H1]
        + ", arrayEnumerate(t)))"
    )
    steps = "arrayEnumerate(acc.2)"
    # greedy state: (times, owners, steps taken as bits); `take` gives the event the lowest
    # free step of its own mask (`free`: its steps not taken)
    take = (
        "arrayMap(low -> (arrayPushBack(acc.1, t[j]), "
        f"arrayMap((o, s) -> if(s = bitCount(toUInt64(low - 1)) + 1, j, o), acc.2, {steps}), "
        "toUInt64(bitOr(acc.3, low))), "
        "[toUInt64(bitAnd(free, bitNot(toUInt64(free - 1))))])[1]"
    )
    if not matching:
        fold = (
            f"arrayFold((acc, j) -> arrayMap(free -> if(free != 0, {take}, acc), "
            f"[toUInt64(bitAnd(b[j], bitNot(acc.3)))])[1], {window}, "
            f"(emptyArrayInt64(), arrayWithConstant({n}, toUInt32(0)), toUInt64(0)))"
        )
        return f"arrayMap(a -> (a.1, a.2), [{fold}])[1]"
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
        f"arrayMap((x, s) -> if(s = k, m, x), acc.5, {steps})), "
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
        f"acc.5, {steps}, w.4)), [w.2])[1]"
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
        f"arrayWithConstant({n}, toUInt64(0))))"
    )
    return f"arrayMap(a -> (a.1, a.2), [{fold}])[1]"


def execute(plan: Plan, source: Any) -> Outcomes:
    """Run the query; each row is one person's best attempt."""
    if not isinstance(source, ClickHouseSource):
        raise EngineError("engine clickhouse runs over a ClickHouse source (ClickHouseSource)")
    params = {name: str(value) for name, value in plan.params.items()}
    rows = source.query(plan.sql, params)
    n = len(plan.funnel.steps)
    if rows.num_rows == 0:
        return Outcomes.from_people([], n)
    people = [
        PersonOutcome(
            person, len(times), tuple(None if t == SKIPPED_US else t for t in times), None, unit
        )
        for person, unit, times in zip(
            rows.column("person").to_pylist(),
            rows.column("unit").to_pylist(),
            rows.column("times").to_pylist(),
            strict=True,
        )
    ]
    return Outcomes.from_people(people, n)


def explain(plan: Plan, source: Any) -> str:
    """The SQL with its parameters, and how each filter was pushed down."""
    params = "\n".join(f"  {name} = {value!r}" for name, value in plan.params.items())
    notes = "".join(f"\n  {note}" for note in plan.notes)
    return f"engine: {NAME}{notes}\nparameters:\n{params}\nsql:\n{plan.sql}"
