"""Use cases over the event store: load files, list loads and quarantined rows, forget a file.

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
    """Load files into the store at `db_path` (created if missing); see :func:`load_into`."""
    from funnelscope.store import EventStore

    with EventStore(db_path) as store:
        return load_into(store, files, options, on_loaded)


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
    db_path: str, source: str | None = None, limit: int | None = None
) -> QuarantineList:
    """The rows ingest could not load (optionally of one file, at most `limit` of them)."""
    with open_store(db_path) as store:
        rows = store.quarantine(source=source, limit=limit)
        return QuarantineList(tuple(rows), store.quarantine_count(source=source))


def list_loads(db_path: str) -> list[LoadInfo]:
    """Every load in the store's registry, oldest first."""
    with open_store(db_path) as store:
        return store.loads()


@dataclass(frozen=True)
class Forgotten:
    source: str
    events_removed: int
    events_left: int


def forget_source(db_path: str, source: str) -> Forgotten:
    """Remove every event and quarantined row a loaded file added."""
    with open_store(db_path, read_only=False) as store:
        removed = store.forget(source)
        return Forgotten(source, removed, store.count_events())


def open_store(db_path: str, read_only: bool = True) -> EventStore:
    """An existing store (read-only unless asked); a missing file is a clear error, not a new
    empty store."""
    from funnelscope.store import EventStore

    if db_path != ":memory:" and not Path(db_path).exists():
        raise FunnelscopeError(
            f"no event store at {db_path}; load events first with `funnelscope ingest FILE` "
            "(or run `funnelscope demo`), or compute from files with --events FILE"
        )
    return EventStore(db_path, read_only=read_only)
