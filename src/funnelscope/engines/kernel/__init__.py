"""The `kernel` engine: a compiled per-person state machine over a scan with filters pushed down.

``compile`` writes the SQL of one of four routes; ``execute`` runs it; ``explain`` shows it.

- plain funnels: kernel/plain_scan.py reads person, time and step bits, kernel/plain_run.py runs
  the plain machine (plain_machine.py);
- everything beyond (kernel/unit_scan.py, unit_run.py, unit_machine.py): a breakdown alone
  (``values``), rows grouped without a sort (``grouped``), or a scan sorted by person, time and
  event_id (``sorted``), fastest first, the first that can serve the funnel.

Rows grouped by integer person keys go through the radix partition (partition.py, buckets.py).
"""

from __future__ import annotations

from funnelscope.engines.kernel.explain import explain_plan_text
from funnelscope.engines.kernel.plain_run import run_plain
from funnelscope.engines.kernel.plain_scan import plain_plan
from funnelscope.engines.kernel.unit_run import run_units
from funnelscope.engines.kernel.unit_scan import (
    breakdown_only,
    grouping_plan,
    sorted_plan,
    value_plan,
)
from funnelscope.engines.plan import Plan
from funnelscope.model.results import Outcomes
from funnelscope.model.spec import Funnel
from funnelscope.store.sources import EventSource

NAME = "kernel"
READS_FILES_IN_PLACE = True  # its SQL runs over any source's columns, Parquet read in place too


def compile(funnel: Funnel, source: EventSource) -> Plan:
    """The scan the kernel will run for `funnel` over `source` (filters pushed down)."""
    con = source.duckdb_connection
    cols = source.columns(funnel.properties)
    if funnel.is_plain:
        return plain_plan(con, funnel, cols)
    planned = value_plan(con, funnel, cols) if breakdown_only(funnel) else None
    planned = planned or grouping_plan(con, funnel, cols)
    return planned or sorted_plan(con, funnel, cols)


def execute(plan: Plan, source: EventSource) -> Outcomes:
    """Every counted attempt, by the plan's route."""
    if plan.route == "plain":
        return run_plain(plan, source)
    return run_units(plan, source)


def explain(plan: Plan, source: EventSource) -> str:
    """The phases in words, the pushed-down filters, the SQL and DuckDB's plan."""
    return explain_plan_text(plan, source)
