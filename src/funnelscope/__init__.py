"""funnelscope: exact sales and marketing funnels.

>>> from funnelscope import EventStore, load_funnel, run_funnel
>>> with EventStore("funnelscope.duckdb") as store:
...     result = run_funnel(load_funnel("funnels/checkout.yaml"), store)
"""

from __future__ import annotations

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
    from funnelscope.analyses.funnel import run_funnel, summarize
    from funnelscope.store import ColumnMapping, EventStore

__all__ = [
    "ColumnMapping",
    "EngineError",
    "EventStore",
    "Filter",
    "Funnel",
    "FunnelResult",
    "FunnelscopeError",
    "IngestError",
    "PersonOutcome",
    "SpecError",
    "Step",
    "StepResult",
    "load_funnel",
    "parse_funnel",
    "run_funnel",
    "summarize",
]


def __getattr__(name: str) -> Any:
    """The store (DuckDB, pyarrow) and analyses (numpy) load on first use, keeping
    `import funnelscope` and `funnelscope --help` light."""
    if name in ("EventStore", "ColumnMapping"):
        from funnelscope import store

        return getattr(store, name)
    if name in ("run_funnel", "summarize"):
        from funnelscope.analyses import funnel

        return getattr(funnel, name)
    raise AttributeError(name)
