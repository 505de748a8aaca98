"""Engines compute each person's best attempt. Every engine must agree with `reference`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from funnelscope.errors import EngineError
from funnelscope.model.spec import Funnel

if TYPE_CHECKING:
    from funnelscope.model.results import Outcomes

EngineFn = Callable[[Funnel, Any], "Outcomes"]
ENGINE_NAMES = ("kernel", "reference")
DEFAULT_ENGINE = "kernel"


def get_engine(name: str) -> EngineFn:
    """The engine function for `name`: ``(funnel, events) -> outcomes``; `events` is an event
    source (the store, files read in place) or an Arrow table in the scan format."""
    if name == "reference":
        from funnelscope.engines.reference import compute

        return compute
    if name == "kernel":
        from funnelscope.engines.kernel import compute as kernel_compute

        return kernel_compute
    raise EngineError(f"unknown engine {name!r}; use one of: {', '.join(ENGINE_NAMES)}")


def explain(name: str, funnel: Funnel, events: Any) -> str:
    """What engine `name` will do for `funnel` over `events`, as text for people."""
    if name == "kernel":
        from funnelscope.engines.kernel import explain as kernel_explain

        return kernel_explain(funnel, events)
    get_engine(name)
    reads = "every event" if funnel.reads_all_events else "the events named by the steps"
    if funnel.exclusions and not funnel.reads_all_events:
        reads += " and exclusions"
    return "\n".join(
        [
            f"engine: {name}",
            f"  1. scan: {reads} with the {len(funnel.properties)} filtered properties, "
            "sorted by person, time and event_id",
            "  2. per person in Python: every entry starts an attempt, filled step by step as "
            "docs/semantics.md says; the best attempt is kept",
            "  3. summary: counts, conversion and times from the best attempts",
        ]
    )
