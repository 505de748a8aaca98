"""Engines compute every person's counted attempts. Every engine must agree with `reference`.

A registry of small backends. Each backend is a package (engines/reference/, engines/kernel/)
offering three functions:

- ``compile(funnel, source) -> Plan``: the SQL (or other plan) it will run, with parameters and
  notes; a plain value (engines/plan.py);
- ``execute(plan, source) -> Outcomes``: run it;
- ``explain(plan, source) -> str``: show it (``funnelscope funnel --explain``).

A source (store/sources.py) offers columns, a DuckDB connection and person ids; an engine builds
its own reads over them. A backend that runs over a source of its own kind (clickhouse: a table
in ClickHouse) also offers ``open_source(funnel, source)``, a context manager giving that kind
of source for any other (the events the funnel reads, copied over). Adding an engine: one
package and one line in ``BACKENDS`` (docs/architecture.md, "Engines").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

from funnelscope.errors import EngineError
from funnelscope.model.spec import Funnel

if TYPE_CHECKING:
    from funnelscope.engines.plan import Plan
    from funnelscope.model.results import Outcomes
    from funnelscope.store.sources import EventSource


class Backend(Protocol):
    NAME: str
    READS_FILES_IN_PLACE: bool  # can run over Parquet files read in place (store/in_place.py)

    def compile(self, funnel: Funnel, source: EventSource) -> Plan: ...

    def execute(self, plan: Plan, source: EventSource) -> Outcomes: ...

    def explain(self, plan: Plan, source: EventSource) -> str: ...


# name -> the package holding the backend (imported when first used: numba loads with the kernel)
BACKENDS: dict[str, str] = {
    "kernel": "funnelscope.engines.kernel",
    "reference": "funnelscope.engines.reference",
    "clickhouse": "funnelscope.engines.clickhouse",
}
ENGINE_NAMES = tuple(BACKENDS)
DEFAULT_ENGINE = "kernel"

EngineFn = Callable[[Funnel, Any], "Outcomes"]


def backend(name: str) -> Backend:
    """The backend registered as `name`."""
    if name not in BACKENDS:
        raise EngineError(f"unknown engine {name!r}; use one of: {', '.join(ENGINE_NAMES)}")
    return cast(Backend, importlib.import_module(BACKENDS[name]))


def get_engine(name: str) -> EngineFn:
    """The engine function for `name`: ``(funnel, events) -> outcomes``; `events` is an event
    source (the store, files read in place) or an Arrow table in the scan format."""
    chosen = backend(name)

    def run(funnel: Funnel, events: Any) -> Outcomes:
        from funnelscope.store.sources import source_of

        with source_of(events) as given, _source_for(chosen, funnel, given) as source:
            return chosen.execute(chosen.compile(funnel, source), source)

    return run


@contextmanager
def _source_for(chosen: Backend, funnel: Funnel, source: Any) -> Iterator[Any]:
    """`source` as the backend runs over it (its ``open_source``, when it has one)."""
    open_source = getattr(chosen, "open_source", None)
    if open_source is None:
        yield source
        return
    with open_source(funnel, source) as own:
        yield own


def explain(name: str, funnel: Funnel, events: Any) -> str:
    """What engine `name` will do for `funnel` over `events`, as text for people."""
    from funnelscope.store.sources import source_of

    chosen = backend(name)
    with source_of(events) as given, _source_for(chosen, funnel, given) as source:
        return chosen.explain(chosen.compile(funnel, source), source)
