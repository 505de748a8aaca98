"""Use cases over the event store: load files, list loads and quarantined rows, forget a file,
forget persons for privacy, and delete old quarantined rows.

Each function opens the store it needs, does one job and returns values; faces render them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funnelscope.errors import FunnelscopeError, IngestError

if TYPE_CHECKING:
    from funnelscope.store import BadRow, ColumnMapping, EventStore, FileReport, LoadInfo
    from funnelscope.store.privacy import PersonsForgotten
    from funnelscope.store.rewrite import Rewrite


@dataclass(frozen=True)
class FileLoad:
    """What loading one file did: its report, or the error that kept all of it out."""

    path: str
    report: FileReport | None = None
    error: IngestError | None = None
    max_rejected: float = 0.5  # a larger share of rows quarantined fails the load

    @property
    def failed(self) -> bool:
        """The file could not be read, or it had rows and every one of them was rejected."""
        if self.report is None:
            return True
        return bool(self.report.rows_read) and self.report.rows_quarantined == self.report.rows_read

    @property
    def rejected_share(self) -> float:
        """The share of the file's rows that were quarantined (0 for an empty file)."""
        if self.report is None or not self.report.rows_read:
            return 0.0
        return self.report.rows_quarantined / self.report.rows_read

    @property
    def too_many_rejected(self) -> bool:
        """More rows were quarantined than the load allows (default: more than half)."""
        return self.report is not None and self.rejected_share > self.max_rejected


@dataclass(frozen=True)
class LoadResult:
    """Every file's load in the order given, and the store's event count afterwards."""

    files: tuple[FileLoad, ...]
    events_in_store: int

    @property
    def failed(self) -> int:
        """Files that could not be read, or that quarantined more rows than allowed."""
        return sum(load.failed or load.too_many_rejected for load in self.files)


OnLoaded = Callable[[FileLoad], None]


@dataclass(frozen=True)
class LoadOptions:
    """How files are read: the column mapping, progress bars, and whether a file loaded before
    with other options replaces its earlier load."""

    mapping: ColumnMapping | None = None  # None: every column detected, times in UTC
    progress: bool = False
    replace: bool = False
    max_rejected: float = 0.5  # fail a file when a larger share of its rows is quarantined


def load_into(
    store: EventStore,
    files: Sequence[str],
    options: LoadOptions | None = None,
    on_loaded: OnLoaded | None = None,
) -> LoadResult:
    """Ingest each file in its own transaction into an open store; one file's failure never
    stops the others. `on_loaded` hears of each file as soon as it is done (for faces that
    report as they go)."""
    from funnelscope.store import ColumnMapping

    options = options or LoadOptions()
    mapping = options.mapping or ColumnMapping()
    loads = []
    for path in files:
        try:
            report = store.ingest(
                [path], mapping, progress=options.progress, replace=options.replace
            )
            load = FileLoad(path, report=report.files[0], max_rejected=options.max_rejected)
        except IngestError as exc:
            load = FileLoad(path, error=exc, max_rejected=options.max_rejected)
        loads.append(load)
        if on_loaded is not None:
            on_loaded(load)
    return LoadResult(tuple(loads), store.count_events())


def ingest_files(
    db_path: str,
    files: Sequence[str],
    options: LoadOptions | None = None,
    on_loaded: OnLoaded | None = None,
) -> LoadResult:
    """Load files into the store at `db_path` (created if missing); see :func:`load_into`. A
    ClickHouse `db_path` (``clickhouse://...``, ``chdb:PATH``) loads them all in one run
    (app/clickhouse.py)."""
    from funnelscope.app import clickhouse
    from funnelscope.store import EventStore

    if clickhouse.is_clickhouse(db_path):
        return _load_clickhouse(db_path, files, options or LoadOptions(), on_loaded)
    with EventStore(db_path) as store:
        return load_into(store, files, options, on_loaded)


def _load_clickhouse(
    db_path: str, files: Sequence[str], options: LoadOptions, on_loaded: OnLoaded | None
) -> LoadResult:
    """Files loaded into a ClickHouse store, reported file by file as for a DuckDB store."""
    from funnelscope.app import clickhouse
    from funnelscope.store.schema import absolute

    done = clickhouse.load(db_path, files, options.mapping, options.progress, options.replace)
    reports = list(done.report.files)  # in the order given; a file given twice, twice
    errors = {absolute(e.source): e for e in done.failures}
    loads = []
    for path in files:
        report = next((f for f in reports if absolute(f.source) == absolute(path)), None)
        if report is not None:
            reports.remove(report)
        error = None if report is not None else errors.get(absolute(path))
        if report is None and error is None:  # never expected: say so rather than pass it by
            error = IngestError(path, "was not loaded", "run the ingest again")
        load = FileLoad(path, report=report, error=error, max_rejected=options.max_rejected)
        loads.append(load)
        if on_loaded is not None:
            on_loaded(load)
    return LoadResult(tuple(loads), done.events_in_store)


@dataclass(frozen=True)
class QuarantineList:
    rows: tuple[BadRow, ...]
    total: int  # every quarantined row matching the source, shown or not

    def to_dict(self) -> dict[str, Any]:
        """As `funnelscope quarantine --format json` writes it."""
        listed = [
            {"source": r.source, "line": r.line, "reason": r.reason, "raw": r.raw}
            for r in self.rows
        ]
        return {"total": self.total, "rows": listed}


def list_quarantine(
    db_path: str,
    source: str | None = None,
    limit: int | None = None,
    older_than: int | None = None,
) -> QuarantineList:
    """The rows ingest could not load (optionally of one file, quarantined more than
    `older_than` seconds ago, at most `limit` of them)."""
    from funnelscope.app import clickhouse

    if clickhouse.is_clickhouse(db_path):
        rows, total = clickhouse.quarantine(db_path, source, limit, older_than)
        return QuarantineList(tuple(rows), total)
    with open_store(db_path) as store:
        rows = store.quarantine(source=source, limit=limit, older_than=older_than)
        return QuarantineList(tuple(rows), store.quarantine_count(source, older_than))


@dataclass(frozen=True)
class QuarantineDeleted:
    """How many quarantined rows were deleted, and the rewrite that took their bytes out of
    the file (None for a store in memory)."""

    rows: int
    rewrite: Rewrite | None

    def to_dict(self) -> dict[str, Any]:
        return {"deleted": self.rows, **_rewrite_dict(self.rewrite)}


def delete_quarantine(
    db_path: str, older_than: int, source: str | None = None
) -> QuarantineDeleted:
    """Delete the rows quarantined more than `older_than` seconds ago (optionally of one file)
    and rewrite the store so their raw text leaves the file."""
    with open_store(db_path, read_only=False) as store:
        deleted = store.delete_quarantine(source, older_than)
        return QuarantineDeleted(deleted, store.rewrite())


def list_loads(db_path: str) -> list[LoadInfo]:
    """Every load in the store's registry, oldest first."""
    with open_store(db_path) as store:
        return store.loads()


@dataclass(frozen=True)
class Forgotten:
    source: str
    events_removed: int
    events_left: int
    rewrite: Rewrite | None = None  # the store file rewritten without them (None: in memory)


def forget_source(db_path: str, source: str) -> Forgotten:
    """Remove every event and quarantined row a loaded file added, and rewrite the store file so
    their values leave it (a file loaded by mistake may hold what must not be kept)."""
    with open_store(db_path, read_only=False) as store:
        removed = store.forget(source)
        rewrite = store.rewrite()
        return Forgotten(source, removed, store.count_events(), rewrite)


@dataclass(frozen=True)
class PersonsRemoved:
    """What forgetting persons removed, the rewrite of the store file, and the events left."""

    removed: PersonsForgotten
    rewrite: Rewrite | None
    events_left: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.removed.to_dict(),
            "events_left": self.events_left,
            **_rewrite_dict(self.rewrite),
        }


def forget_persons(
    db_path: str, ids: Sequence[str] = (), ids_file: str | None = None
) -> PersonsRemoved:
    """Remove persons for privacy: each id given (and those of `ids_file`: one per line, or a
    CSV with a person_id/id column) with every id stitched to it, their events, traits, links
    and quarantined rows; keep their ids out of later loads; rewrite the store file so the
    removed values are not in it any more (store/privacy.py, store/rewrite.py)."""
    from funnelscope.store.privacy import read_id_file

    given = [member for member in ids if member]
    if ids_file is not None:
        given += read_id_file(Path(ids_file), ids_file)
    if not given:
        raise IngestError(
            ids_file or "--person",
            "no ids to forget",
            "give --person ID, or a file with one id per line (or a person_id column)",
        )
    with open_store(db_path, read_only=False) as store:
        removed = store.forget_persons(given)
        rewrite = store.rewrite()
        return PersonsRemoved(removed, rewrite, store.count_events())


def _rewrite_dict(rewrite: Rewrite | None) -> dict[str, Any]:
    if rewrite is None:
        return {"rewritten": False}
    return {
        "rewritten": True,
        "bytes_before": rewrite.bytes_before,
        "bytes_after": rewrite.bytes_after,
    }


def open_store(db_path: str, read_only: bool = True) -> EventStore:
    """An existing store (read-only unless asked); a missing file is a clear error, not a new
    empty store."""
    from funnelscope.app.clickhouse import refuse_other_use
    from funnelscope.store import EventStore

    refuse_other_use(db_path)

    if db_path != ":memory:" and not Path(db_path).exists():
        raise FunnelscopeError(
            f"no event store at {db_path}; load events first with `funnelscope ingest FILE` "
            "(or run `funnelscope demo`), or compute from files with --events FILE"
        )
    return EventStore(db_path, read_only=read_only)
