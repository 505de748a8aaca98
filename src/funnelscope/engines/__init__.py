"""Engines compute each person's best attempt. Every engine must agree with `reference`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from funnelscope.errors import EngineError
from funnelscope.model.results import Outcomes
from funnelscope.model.spec import Funnel

EngineFn = Callable[[Funnel, Any], Outcomes]
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
