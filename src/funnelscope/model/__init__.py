"""The model: frozen dataclasses for specs and results. Validation, no I/O beyond reading a spec."""

from funnelscope.model.filters import Filter
from funnelscope.model.results import FunnelResult, PersonOutcome, StepResult
from funnelscope.model.spec import Funnel, Order, Step, load_funnel, parse_funnel

__all__ = [
    "Filter",
    "Funnel",
    "FunnelResult",
    "Order",
    "PersonOutcome",
    "Step",
    "StepResult",
    "load_funnel",
    "parse_funnel",
]
