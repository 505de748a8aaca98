"""What the kernel will do for a plan, as text for people (``funnelscope funnel --explain``)."""

from __future__ import annotations

from funnelscope.engines.kernel.fetch import explain_plan
from funnelscope.engines.kernel.partition import THREADS
from funnelscope.engines.kernel.unit_scan import sorted_plan
from funnelscope.engines.plan import Plan
from funnelscope.model.spec import Breakdown, Funnel, Order
from funnelscope.store.sources import EventSource


def explain_plan_text(plan: Plan, source: EventSource) -> str:
    """The phases, the filters, the scan query with its parameters and DuckDB's plan; for the
    grouped route also the sorted query that re-runs persons whose ties matter."""
    lines = ["engine: kernel", *_phases(plan)]
    dates = plan.funnel.date_range
    if dates is not None:
        lines.append(
            f"  date range {dates.text}: the scan reads events from its start to its end plus "
            "the window; attempts start only inside it"
        )
    if plan.funnel.person_properties:
        lines.append(
            f"  person values ({', '.join(plan.funnel.person_properties)}): each person's latest, "
            "joined beside every event"
        )
    lines += [
        "",
        "filters:",
        *[f"  {note}" for note in plan.notes or ["(none)"]],
        *_query_lines("scan query", plan),
    ]
    if plan.route == "grouped":
        cols = source.columns(plan.funnel.properties)
        again = sorted_plan(source.duckdb_connection, plan.funnel, cols)
        lines += _query_lines("re-run query (persons whose tied events matter)", again)
    lines += ["", "scan plan:", explain_plan(source.duckdb_connection, plan)]
    return "\n".join(lines)


def _query_lines(title: str, plan: Plan) -> list[str]:
    return [
        "",
        f"{title}:",
        f"  {plan.sql}",
        "parameters:",
        *[f"  ${name} = {value!r}" for name, value in plan.params.items()],
    ]


def _breakdown_words(b: Breakdown) -> str:
    read = b.attribution_text if b.scope == "event" else "person property"
    return f"breakdown by {' / '.join(b.properties)} ({read})"


def _phases(plan: Plan) -> list[str]:
    """The three phases in words, as they apply to the plan's funnel and route."""
    funnel: Funnel = plan.funnel
    mode = funnel.order.value
    n = len(funnel.steps)
    every = " (every event: strict needs them all)" if funnel.order == Order.STRICT else ""
    machine = f"numba, compiled once and cached on disk; {THREADS} threads"
    window = f"within {funnel.window_seconds:,} s of its entry"
    if plan.route == "plain":
        return [
            f"  1. scan (DuckDB): person, time in µs and a bitmask of the {n} steps each event "
            f"can fill, sorted by person and time{every}",
            f"  2. plain machine ({machine}): per person, the best {mode} attempt {window}",
            "  3. summary: counts, conversion and times from the best attempts (numpy)",
        ]
    b = funnel.breakdown
    if plan.route == "values" and b is not None:
        return [
            f"  1. scan (DuckDB): person, time in µs and a bitmask of the {n} steps each event "
            f"can fill, with the code of its {' / '.join(b.properties)} value packed above the "
            f"step bits (distinct values read first); grouped by person without a sort{every}",
            f"  2. plain machine ({machine}): per person, the best {mode} attempt {window}, "
            f"counted under the value of {b.attribution_text}; a person whose attributed event "
            "has a tied twin with another value is computed again in event_id order",
            "  3. summary: the total and every value's counts, conversion and times in one pass "
            f"per step; past {b.limit} values, Other (numpy)",
        ]
    unit = {"persons": "person", "sessions": "session", "totals": "person"}[funnel.count]
    counted = "every attempt in turn" if funnel.count == "totals" else "the best attempt"
    features = [
        f"{len(funnel.exclusions)} exclusion(s)" if funnel.exclusions else "",
        f"held constant: {', '.join(funnel.hold_constant)}" if funnel.hold_constant else "",
        "optional steps" if any(s.optional for s in funnel.steps) else "",
        "per-step limits" if any(s.within_seconds for s in funnel.steps) else "",
        _breakdown_words(b) if b is not None else "",
    ]
    shown = "; ".join(f for f in features if f)
    sorted_by = (
        "sorted by person"
        + (", session" if funnel.sessions_by_column else "")
        + f", time and event_id{every}"
    )
    if plan.route == "grouped":
        read = (
            f"grouped by person without a sort{every}; persons whose tied events could change a "
            f"result are read again, {sorted_by}"
        )
    else:
        read = sorted_by
    return [
        "  1. scan (DuckDB): person, time in µs, step and exclusion bitmasks and the held and "
        f"broken-down values of each event, {read}",
        f"  2. unit machine ({machine}): per {unit}, {counted} ({mode}) {window}"
        + (f"; {shown}" if shown else ""),
        "  3. summary: counts, conversion and times from the counted attempts (numpy)",
    ]
