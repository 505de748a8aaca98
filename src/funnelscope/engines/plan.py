"""What an engine compiled for a funnel over a source: the SQL it will run, and why.

Every backend's ``compile`` returns a Plan; its ``execute`` runs one and its ``explain`` shows
one (``funnelscope funnel --explain``). A Plan is a plain value: no connection, no arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from funnelscope.model.spec import Funnel


@dataclass(frozen=True)
class Plan:
    engine: str
    funnel: Funnel
    sql: str  # the read the engine runs on the source's connection
    params: Mapping[str, object] = field(default_factory=dict)  # named: $p0, $p1, ...
    notes: tuple[str, ...] = ()  # how each filter was pushed down, for --explain
    route: str = ""  # which way the engine runs it (each engine names its own)
    sorted: bool = True  # rows come sorted by person and time; else the engine groups them
    group_values: tuple[tuple[Any, ...], ...] = ()  # breakdown values of codes made in SQL


class Params(dict[str, object]):
    """Named query parameters, added as SQL is written."""

    def add(self, value: object) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return f"${name}"
