"""The `reference` engine: plain Python over each person's sorted events (reference/machine.py).

Slow, short, obviously right: the oracle every other engine must agree with. It reads whole
events through the source's ``scan`` (no SQL of its own to show).
"""

from __future__ import annotations

from funnelscope.engines.plan import Plan
from funnelscope.engines.reference.machine import people_outcomes
from funnelscope.model.results import Outcomes
from funnelscope.model.spec import Funnel
from funnelscope.store.sources import EventSource

NAME = "reference"
READS_FILES_IN_PLACE = False  # reads whole events (scan), which only a store or a table offers


def compile(funnel: Funnel, source: EventSource) -> Plan:
    """What the reference reads: the step (and exclusion) events, or every event when the
    funnel needs them, with the properties it filters, holds or breaks down by."""
    reads = "every event" if funnel.reads_all_events else "the events named by the steps"
    if funnel.exclusions and not funnel.reads_all_events:
        reads += " and exclusions"
    note = (
        f"scan: {reads} with the {len(funnel.properties)} filtered properties, "
        "sorted by person, time and event_id"
    )
    if funnel.date_range is not None:
        note += f"; attempts start only in {funnel.date_range.text}"
    return Plan(NAME, funnel, "", notes=(note,), route="scan")


def execute(plan: Plan, source: EventSource) -> Outcomes:
    """Every counted attempt, person by person in Python (ids attached: the scan reads them)."""
    funnel = plan.funnel
    names = None if funnel.reads_all_events else funnel.scan_event_names
    table = source.scan(names, funnel.properties, sessions=funnel.sessions_by_column)
    people, warnings = people_outcomes(funnel, table)
    outcomes = Outcomes.from_people(people, len(funnel.steps))
    outcomes.warnings.extend(warnings)
    return outcomes


def explain(plan: Plan, source: EventSource) -> str:
    """The three phases in words."""
    return "\n".join(
        [
            f"engine: {NAME}",
            f"  1. {plan.notes[0]}",
            "  2. per person in Python: every entry starts an attempt, filled step by step as "
            "docs/semantics.md says; the best attempt is kept",
            "  3. summary: counts, conversion and times from the best attempts",
        ]
    )
