"""Use cases over a ClickHouse store (``--db clickhouse://...`` or ``--db chdb:PATH``): load
files, list quarantined rows, compute and explain a funnel with the clickhouse engine.

app/events.py and app/funnels.py send a ClickHouse ``--db`` here; this module returns the
store's own values (reports, results) and they wrap them as for a DuckDB store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from funnelscope.errors import EngineError, FunnelscopeError, IngestError

if TYPE_CHECKING:
    from funnelscope.model.results import FunnelResult
    from funnelscope.model.spec import Funnel
    from funnelscope.store import BadRow, ColumnMapping, IngestReport

ENGINE = "clickhouse"
SUPPORTED = (
    "ingest, quarantine and funnel (with --people, --explain, --time-to-convert, --trend and "
    "--segments)"
)


def is_clickhouse(db: str) -> bool:
    """Whether `db` names a ClickHouse store rather than a DuckDB file."""
    from funnelscope.store.clickhouse import is_clickhouse as named

    return named(db)


def refuse_other_use(db: str, what: str = "this command") -> None:
    """Raise for a use a ClickHouse store does not offer yet (a DuckDB store does)."""
    if is_clickhouse(db):
        raise FunnelscopeError(
            f"{what} reads a DuckDB store; over a ClickHouse store (--db {shown_db(db)}) "
            f"funnelscope offers {SUPPORTED} so far"
        )


def shown_db(db: str) -> str:
    """`db` as messages show it: a server URL without its password."""
    from funnelscope.store.clickhouse.connection import parse_url

    if db.startswith("chdb:"):
        return db
    try:
        return str(parse_url(db, environ={}))
    except FunnelscopeError:
        return db.split("@")[-1]


def engine_for(db: str, engine: str | None) -> str | None:
    """The engine over `db`: clickhouse for a ClickHouse store (another one is refused), and
    `engine` as given otherwise (None: the default)."""
    if not is_clickhouse(db):
        return engine
    if engine not in (None, ENGINE):
        raise EngineError(
            f"engine {engine} reads a DuckDB store or files; a ClickHouse store "
            f"(--db {shown_db(db)}) is computed by the clickhouse engine on the server: "
            "leave --engine out"
        )
    return ENGINE


@dataclass(frozen=True)
class ClickHouseLoad:
    """What loading files into a ClickHouse store did."""

    report: IngestReport
    failures: tuple[IngestError, ...]
    events_in_store: int


def load(
    db: str,
    files: Sequence[str],
    mapping: ColumnMapping | None,
    progress: bool = False,
    replace: bool = False,
) -> ClickHouseLoad:
    """Load `files` in one run (identity links across them are resolved together)."""
    from funnelscope.store import ColumnMapping, PartialIngestError
    from funnelscope.store.clickhouse import ClickHouseStore
    from funnelscope.store.clickhouse.ingest import check_options, load_files

    check_options(mapping or ColumnMapping(), replace)
    with ClickHouseStore(db, create=True) as store:
        try:
            report = load_files(
                store, list(files), mapping or ColumnMapping(), progress=progress, replace=replace
            )
            failures: tuple[IngestError, ...] = ()
        except PartialIngestError as exc:
            report, failures = exc.report, exc.failures
        return ClickHouseLoad(report, failures, store.count_events())


def quarantine(
    db: str, source: str | None, limit: int | None, older_than: int | None
) -> tuple[list[BadRow], int]:
    """Quarantined rows (at most `limit`) and how many there are in all."""
    from funnelscope.store.clickhouse import ClickHouseStore

    if older_than is not None:
        raise FunnelscopeError(
            "--older-than is not offered for a ClickHouse store yet; list every row without it"
        )
    with ClickHouseStore(db) as store:
        return store.quarantine(source=source, limit=limit), store.quarantine_count(source)


@dataclass(frozen=True)
class ClickHouseFunnel:
    result: FunnelResult
    warnings: tuple[str, ...]
    where: str
    people: tuple[str, ...] | None


def compute(
    funnel: Funnel, db: str, people_step: int | None = None, status: str = "reached"
) -> ClickHouseFunnel:
    """`funnel` computed by the clickhouse engine over the store's events."""
    from funnelscope.analyses.funnel import check_names, run_funnel

    with opened_source(db) as (source, where):
        result = run_funnel(funnel, source, ENGINE, person_ids=False)  # ids come attached
        warnings = (*result.outcomes.warnings, *check_names(funnel, source, result))
        listed = None
        if people_step is not None:
            listed = tuple(result.people(people_step, status))
        return ClickHouseFunnel(result, warnings, where, listed)


@contextmanager
def opened_source(db: str) -> Iterator[tuple[Any, str]]:
    """(the engine's source over the store's events, where they are), open for the block."""
    from funnelscope.engines.clickhouse.source import ClickHouseSource
    from funnelscope.store.clickhouse import ClickHouseStore

    with ClickHouseStore(db) as store, ClickHouseSource.over_store(store) as source:
        yield source, f"the ClickHouse store {store.where}"


def explain(funnel: Funnel, db: str) -> tuple[str, str]:
    """(where the events are, what the clickhouse engine will run) for `funnel`."""
    from funnelscope.engines import explain as explain_plan

    with opened_source(db) as (source, where):
        return where, explain_plan(ENGINE, funnel, source)
