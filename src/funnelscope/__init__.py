"""funnelscope: exact sales and marketing funnels.

>>> from funnelscope import EventStore, load_funnel, run_funnel
>>> with EventStore("funnelscope.duckdb") as store:
...     result = run_funnel(load_funnel("funnels/checkout.yaml"), store)

Everything a program needs is here without deep imports: the store and file loading, funnel
specs and results (breakdowns included), the marketing report diagnosis and what-if, and funnel
experiments. The use-case functions (`compute_funnel`, `diagnose`, `run_experiment` ...) are the
ones the command line calls, so they return the same numbers. Heavy modules (DuckDB, pyarrow,
numpy) load on first use of a name that needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from funnelscope.errors import EngineError, FunnelscopeError, IngestError, SpecError
from funnelscope.model import (
    Filter,
    Funnel,
    FunnelResult,
    PersonOutcome,
    Step,
    StepResult,
    load_funnel,
    parse_funnel,
)

if TYPE_CHECKING:
    from funnelscope.analyses.experiments import (
        ExperimentResult,
        ExperimentSpec,
        StepComparison,
        analyze_experiment,
        experiment_counts,
        load_experiment,
    )
    from funnelscope.analyses.funnel import people, run_funnel, summarize, with_person_ids
    from funnelscope.analyses.marketing.diagnosis import Diagnosis
    from funnelscope.analyses.marketing.leaks import Leak
    from funnelscope.app.events import (
        LoadOptions,
        LoadResult,
        forget_source,
        ingest_files,
        list_loads,
        list_quarantine,
    )
    from funnelscope.app.experiments import run_experiment
    from funnelscope.app.funnels import EventInput, FunnelRun, compute_funnel, explain_funnel
    from funnelscope.app.marketing import (
        DiagnoseSettings,
        ReportMetrics,
        ReportReading,
        WhatIfOutcome,
        diagnose,
        load_reports,
        report_metrics,
        what_if,
    )
    from funnelscope.app.templates import list_templates, template_spec
    from funnelscope.engines import DEFAULT_ENGINE, ENGINE_NAMES
    from funnelscope.model.results import BreakdownRow
    from funnelscope.model.spec import Breakdown, Exclusion, Order
    from funnelscope.store import BadRow, ColumnMapping, EventStore
    from funnelscope.store.sources import TableSource

# name -> the module that defines it, imported on first use
_LAZY = {
    "LoadOptions": "funnelscope.app.events",
    "LoadResult": "funnelscope.app.events",
    "list_quarantine": "funnelscope.app.events",
    "list_loads": "funnelscope.app.events",
    "forget_source": "funnelscope.app.events",
    "FunnelRun": "funnelscope.app.funnels",
    "ReportMetrics": "funnelscope.app.marketing",
    "WhatIfOutcome": "funnelscope.app.marketing",
    "StepComparison": "funnelscope.analyses.experiments",
    "TableSource": "funnelscope.store.sources",
    "ENGINE_NAMES": "funnelscope.engines",
    "DEFAULT_ENGINE": "funnelscope.engines",
    "list_templates": "funnelscope.app.templates",
    "template_spec": "funnelscope.app.templates",
    "EventStore": "funnelscope.store",
    "ColumnMapping": "funnelscope.store",
    "BadRow": "funnelscope.store",
    "ingest_files": "funnelscope.app.events",
    "Breakdown": "funnelscope.model.spec",
    "Exclusion": "funnelscope.model.spec",
    "Order": "funnelscope.model.spec",
    "BreakdownRow": "funnelscope.model.results",
    "run_funnel": "funnelscope.analyses.funnel",
    "summarize": "funnelscope.analyses.funnel",
    "people": "funnelscope.analyses.funnel",
    "with_person_ids": "funnelscope.analyses.funnel",
    "EventInput": "funnelscope.app.funnels",
    "compute_funnel": "funnelscope.app.funnels",
    "explain_funnel": "funnelscope.app.funnels",
    "diagnose": "funnelscope.app.marketing",
    "what_if": "funnelscope.app.marketing",
    "report_metrics": "funnelscope.app.marketing",
    "load_reports": "funnelscope.app.marketing",
    "ReportReading": "funnelscope.app.marketing",
    "DiagnoseSettings": "funnelscope.app.marketing",
    "Diagnosis": "funnelscope.analyses.marketing.diagnosis",
    "Leak": "funnelscope.analyses.marketing.leaks",
    "run_experiment": "funnelscope.app.experiments",
    "load_experiment": "funnelscope.analyses.experiments",
    "experiment_counts": "funnelscope.analyses.experiments",
    "analyze_experiment": "funnelscope.analyses.experiments",
    "ExperimentSpec": "funnelscope.analyses.experiments",
    "ExperimentResult": "funnelscope.analyses.experiments",
}

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINE_NAMES",
    "BadRow",
    "Breakdown",
    "BreakdownRow",
    "ColumnMapping",
    "DiagnoseSettings",
    "Diagnosis",
    "EngineError",
    "EventInput",
    "EventStore",
    "Exclusion",
    "ExperimentResult",
    "ExperimentSpec",
    "Filter",
    "Funnel",
    "FunnelResult",
    "FunnelRun",
    "FunnelscopeError",
    "IngestError",
    "Leak",
    "LoadOptions",
    "LoadResult",
    "Order",
    "PersonOutcome",
    "ReportMetrics",
    "ReportReading",
    "SpecError",
    "Step",
    "StepComparison",
    "StepResult",
    "TableSource",
    "WhatIfOutcome",
    "analyze_experiment",
    "compute_funnel",
    "diagnose",
    "experiment_counts",
    "explain_funnel",
    "forget_source",
    "ingest_files",
    "list_loads",
    "list_quarantine",
    "list_templates",
    "load_experiment",
    "load_funnel",
    "load_reports",
    "parse_funnel",
    "people",
    "report_metrics",
    "run_experiment",
    "run_funnel",
    "summarize",
    "template_spec",
    "what_if",
    "with_person_ids",
]


def __getattr__(name: str) -> Any:
    """The store (DuckDB, pyarrow), the analyses (numpy) and the app load on first use, keeping
    `import funnelscope` and `funnelscope --help` light."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funnelscope' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
