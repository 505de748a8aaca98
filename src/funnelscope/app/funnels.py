"""Use cases of funnels: compute one over the store or straight from files, explain it, list
the people at a step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from funnelscope.app.events import LoadOptions, OnLoaded, load_into, open_store
from funnelscope.engines import DEFAULT_ENGINE, backend
from funnelscope.errors import FunnelscopeError

if TYPE_CHECKING:
    from funnelscope.model.results import FunnelResult
    from funnelscope.model.spec import Funnel
    from funnelscope.store import ColumnMapping


@dataclass(frozen=True)
class OpenEvents:
    """Where a funnel reads its events from: an open source and those words for people."""

    source: Any  # an event source: the store, or files read in place
    where: str


@dataclass(frozen=True)
class FunnelRun:
    """A computed funnel, what was noticed on the way, and the people asked for."""

    result: FunnelResult
    warnings: tuple[str, ...]  # rows the engine left out, names the data never has
    where: str
    people: tuple[str, ...] | None = None  # with people_step: the persons at that step
    people_step: int | None = None
    status: str = "reached"

    def people_dict(self) -> dict[str, Any]:
        """The people asked for, as `funnel --people N --format json` writes them."""
        return {"step": self.people_step, "status": self.status, "people": list(self.people or ())}


@dataclass(frozen=True)
class EventInput:
    """Which events to read: the store at `db_path`, or `files` (with their column mapping)."""

    db_path: str = "funnelscope.duckdb"
    files: tuple[str, ...] = ()
    mapping: ColumnMapping | None = None
    progress: bool = False  # progress bars while files load


@contextmanager
def events_for(
    funnel: Funnel,
    events: EventInput,
    engine: str = DEFAULT_ENGINE,
    on_loaded: OnLoaded | None = None,
) -> Iterator[OpenEvents]:
    """The events a funnel runs over, open for the block.

    Parquet files are read in place by the kernel when that is exact; anything else is loaded
    into a store in memory first (with ingest's checks and quarantine report, through
    `on_loaded`). A ClickHouse store is computed on its server (:func:`compute_funnel`)."""
    from funnelscope.store import ColumnMapping, EventStore

    mapping = events.mapping or ColumnMapping()
    files = events.files
    if not files:
        with open_store(events.db_path) as store:
            yield OpenEvents(store, f"the event store {events.db_path}")
        return
    why = f"the {engine} engine reads through a store"
    if backend(engine).READS_FILES_IN_PLACE:
        from funnelscope.store.in_place import ParquetSource, why_not_in_place

        why_not = why_not_in_place(tuple(files), funnel)
        if why_not is None:
            direct = ParquetSource(tuple(files), mapping, funnel)
            if direct.refusal is None:
                with direct:
                    yield OpenEvents(
                        direct, "files read in place (only the columns the funnel needs)"
                    )
                return
            why_not = direct.refusal
            direct.close()
        why = why_not
    with EventStore(":memory:") as store:
        loaded = load_into(store, files, LoadOptions(mapping, events.progress), on_loaded)
        if loaded.failed or not loaded.events_in_store:
            raise FunnelscopeError(
                "no funnel computed: the files above could not be loaded completely; fix the "
                "mapping flags or the rows reported, then run again"
            )
        yield OpenEvents(store, f"files loaded into a store in memory ({why})")


def compute_funnel(
    funnel: Funnel,
    events: EventInput,
    engine: str | None = DEFAULT_ENGINE,
    *,
    people_step: int | None = None,
    status: str = "reached",
    on_loaded: OnLoaded | None = None,
) -> FunnelRun:
    """Compute `funnel` over the store or files; with `people_step`, also list who reached
    (or dropped at) that step. Warnings name rows the engine left out and names the data never
    has (usually typos). Over a ClickHouse store (``clickhouse://...``, ``chdb:PATH``) the
    clickhouse engine computes it (`engine` None, or "clickhouse"; others are refused); else
    None means the default engine."""
    from funnelscope.analyses.funnel import check_names, people, run_funnel
    from funnelscope.app import clickhouse

    if clickhouse.is_clickhouse(events.db_path) and not events.files:
        clickhouse.engine_for(events.db_path, engine)
        done = clickhouse.compute(funnel, events.db_path, people_step, status)
        return FunnelRun(done.result, done.warnings, done.where, done.people, people_step, status)
    engine = engine or DEFAULT_ENGINE
    with events_for(funnel, events, engine, on_loaded) as opened:
        result = run_funnel(funnel, opened.source, engine=engine, person_ids=False)
        warnings = (*result.outcomes.warnings, *check_names(funnel, opened.source, result))
        listed = None
        if people_step is not None:
            listed = tuple(people(result, opened.source, people_step, status))
    return FunnelRun(result, warnings, opened.where, listed, people_step, status)


@dataclass(frozen=True)
class Explanation:
    where: str
    plan: str  # what the engine will do: its compiled query or plan, in words and SQL


def explain_funnel(
    funnel: Funnel,
    events: EventInput,
    engine: str | None = DEFAULT_ENGINE,
    on_loaded: OnLoaded | None = None,
) -> Explanation:
    """What `engine` will do for `funnel` over these events, without computing it."""
    from funnelscope.app import clickhouse
    from funnelscope.engines import explain

    if clickhouse.is_clickhouse(events.db_path) and not events.files:
        clickhouse.engine_for(events.db_path, engine)
        return Explanation(*clickhouse.explain(funnel, events.db_path))
    engine = engine or DEFAULT_ENGINE
    with events_for(funnel, events, engine, on_loaded) as opened:
        return Explanation(opened.where, explain(engine, funnel, opened.source))
