"""Engines compute each person's best attempt. Every engine must agree with `reference`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from funnelscope.errors import EngineError
from funnelscope.model.results import PersonOutcome
from funnelscope.model.spec import Funnel

EngineFn = Callable[[Funnel, Any], Sequence[PersonOutcome]]
ENGINE_NAMES = ("reference",)


def get_engine(name: str) -> EngineFn:
    """The engine function for `name`: ``(funnel, events_table) -> outcomes``."""
    if name == "reference":
        from funnelscope.engines.reference import compute

        return compute
    raise EngineError(f"unknown engine {name!r}; use one of: {', '.join(ENGINE_NAMES)}")
