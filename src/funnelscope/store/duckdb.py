"""The DuckDB event store: schema, ingest (validate, dedupe, quarantine) and what engines read.

Layout of the ``events`` table: five core columns (``event_id``, ``person_id``, ``event``,
``timestamp``, ``session_id``) and then **one typed column per event property** (BIGINT, DOUBLE,
BOOLEAN or VARCHAR), added with ALTER TABLE as new properties appear. A filter on a property then
reads one typed, compressed column that DuckDB can push into the scan, instead of parsing a JSON
blob on every row. ``event_properties`` maps each property name to its column.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from funnelscope.errors import FunnelscopeError, IngestError
from funnelscope.model.events import CORE_COLUMNS, scan_column
from funnelscope.store.columns import EventColumns
from funnelscope.store.readers import (
    BIGINT,
    DOUBLE,
    STAGE,
    VARCHAR,
    Malformed,
    ProgressCallback,
    SourceFormat,
    StagedColumn,
    StagedFile,
    detect_format,
    drop_stage,
    first_row,
    stage_file,
)
from funnelscope.store.timeparse import (
    TIME_UNITS,
    UNIT_NAMES,
    epoch_unit_sql,
    gap_sql,
    implausible_epoch_sql,
    iso_utc_sql,
    quote_ident,
    sql_string,
    time_sql,
    timestamp_utc_sql,
)

_REQUIRED_COLUMNS: Final = CORE_COLUMNS[:5]  # stores made before the loads registry lack load_id
MAX_BAD_ROWS_REPORTED: Final = 20

ROLE_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "person": (
        "person_id",
        "distinct_id",
        "user_id",
        "person",
        "user",
        "customer_id",
        "user_pseudo_id",
        "anonymous_id",
        "visitor_id",
        "client_id",
        "contact_id",
        "customer_email",
        "email",
        "customer",
    ),
    "event": ("event", "event_name", "event_type", "name", "action", "type", "stage", "activity"),
    "time": (
        "timestamp",
        "time",
        "ts",
        "event_time",
        "event_timestamp",
        "timestamp_utc",
        "occurred_at",
        "datetime",
        "date",
        "created_at",
        "sent_at",
        "received_at",
    ),
    "id": ("event_id", "uuid", "id", "message_id", "insert_id"),
    "session": ("session_id", "session", "$session_id"),
}
REQUIRED_ROLES: Final = ("person", "event", "time")
# Words that make a column a plausible suggestion for a role nothing was detected for.
_ROLE_HINTS: Final[dict[str, tuple[str, ...]]] = {
    "person": ("user", "person", "customer", "visitor", "client", "contact", "email", "id"),
    "time": ("time", "date", "ts", "at", "created"),
    "event": ("event", "name", "action", "type", "stage"),
}
DELIMITERS: Final = (",", ";", "\t", "|")

_NORM: Final = "_fs_norm"
_BAD: Final = "_fs_bad"
_TIME_HINT: Final = "use ISO 8601 like 2024-01-31T10:00:00Z or epoch seconds/milliseconds"
_TIMEZONE_HINT: Final = "use an IANA time zone name such as UTC, Europe/Berlin or America/New_York"
_MISSING_PERSON: Final = "missing person_id; every event needs a person"
_EXACT_DOUBLE: Final = 2**53  # integers beyond this magnitude do not survive a DOUBLE


@dataclass(frozen=True)
class ColumnMapping:
    """Which source columns hold the core fields.

    ``None`` means detect from common names; ``""`` for ``id_col`` or ``session_col`` means the
    file has none (ids are then derived from the content).
    """

    person_col: str | None = None
    event_col: str | None = None
    time_col: str | None = None
    id_col: str | None = None
    session_col: str | None = None
    timezone: str = "UTC"  # naive times are read in this IANA zone
    time_unit: str = "auto"  # auto | s | ms | us, for epoch numbers
    delimiter: str | None = None  # CSV field separator; None = detect from the header line

    def explicit(self, role: str) -> str | None:
        value: str | None = getattr(self, f"{role}_col")
        return value

    def canonical(self) -> str:
        """These options as canonical JSON (sorted keys), as kept in the loads registry."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class BadRow:
    source: str
    line: int
    reason: str
    raw: str = ""  # the row as read (CSV line, JSON object)


@dataclass(frozen=True)
class LoadInfo:
    """One load of a source file: which options it was read with and how many events it added."""

    load_id: int
    source: str  # absolute, resolved path
    options: str  # canonical JSON of the ColumnMapping
    loaded_at: datetime  # UTC
    rows_loaded: int


@dataclass(frozen=True)
class FileReport:
    source: str
    rows_read: int
    rows_loaded: int
    duplicates_skipped: int
    rows_quarantined: int
    bad_rows: tuple[BadRow, ...]  # the first 20; all are in the quarantine table
    columns: dict[str, str] = field(default_factory=dict)  # role -> source column used


@dataclass(frozen=True)
class IngestReport:
    files: tuple[FileReport, ...]

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def duplicates_skipped(self) -> int:
        return sum(f.duplicates_skipped for f in self.files)


class PartialIngestError(IngestError):
    """One or more files could not be read; the others were loaded.

    The message is the first failure's. ``report`` covers the files that did load and
    ``failures`` lists every file error.
    """

    def __init__(self, failures: Sequence[IngestError], report: IngestReport) -> None:
        first = failures[0]
        super().__init__(first.source, first.problem, first.hint, first.line, first.column)
        self.failures = tuple(failures)
        self.report = report


# ---------------------------------------------------------------- column roles


def _find_column(names: Sequence[str], wanted: str) -> str | None:
    if wanted in names:
        return wanted
    lowered = wanted.lower()
    return next((name for name in names if name.lower() == lowered), None)


def normalize_name(name: str) -> str:
    """A column name for alias matching: lower case without spaces, ``_``, ``-``, ``$`` or ``.``."""
    return "".join(ch for ch in name.lower() if ch not in " _-$.")


def _find_alias(names: Sequence[str], alias: str) -> str | None:
    """The column matching ``alias``: exactly, ignoring case, or by :func:`normalize_name`."""
    found = _find_column(names, alias)
    if found is not None:
        return found
    wanted = normalize_name(alias)
    return next((name for name in names if normalize_name(name) == wanted), None)


def shell_quote(name: str) -> str:
    """A column name as typed in a shell: quoted when it holds spaces or shell characters."""
    return shlex.quote(name)


def _delimiter_hint(names: Sequence[str]) -> str:
    for name in names:
        for sep in (";", "|"):
            if sep in name:
                return f"the header looks {sep!r}-separated; use --delimiter {shlex.quote(sep)}; "
    return ""


def resolve_roles(names: Sequence[str], mapping: ColumnMapping, source: str) -> dict[str, str]:
    """Map each role (person, event, time, id, session) to a source column name.

    Explicit mapping names must exist (exact name first, then case-insensitively); otherwise the
    first alias present is used, matched exactly, then ignoring case, then ignoring case, spaces,
    ``_``, ``-``, ``$`` and ``.`` (``Created at`` and ``$distinct_id`` match). Missing
    person/event/time columns raise IngestError.
    """
    roles: dict[str, str] = {}
    for role, aliases in ROLE_ALIASES.items():
        explicit = mapping.explicit(role)
        if explicit == "" and role not in REQUIRED_ROLES:
            continue  # an empty name switches an optional role off
        if explicit is not None:
            found = _find_column(names, explicit)
            if found is None:
                raise IngestError(
                    source,
                    f"no column {explicit!r} for --{role}-col",
                    f"{_delimiter_hint(names)}columns are: {', '.join(names)}; "
                    f"use --{role}-col with one of them",
                )
            roles[role] = found
            continue
        for alias in aliases:
            found = _find_alias(names, alias)
            if found is not None and found not in roles.values():
                roles[role] = found
                break
    for role in REQUIRED_ROLES:
        if role not in roles:
            _missing_role(names, roles, role, source)
    return roles


def _missing_role(names: Sequence[str], roles: dict[str, str], role: str, source: str) -> None:
    claimed = set(roles.values()) | {
        n for other in REQUIRED_ROLES for a in ROLE_ALIASES[other] if (n := _find_alias(names, a))
    }
    free = [n for n in names if n not in claimed]
    words = _ROLE_HINTS[role]
    plausible = [n for n in free if any(w in n.lower() for w in words)]
    suggestion = next(iter(plausible or free), None)
    shown = shell_quote(suggestion) if suggestion is not None else "<column>"
    raise IngestError(
        source,
        f"no {role} column (looked for {', '.join(ROLE_ALIASES[role])})",
        f"{_delimiter_hint(names)}columns are: {', '.join(names)}; use --{role}-col {shown}",
    )


# ---------------------------------------------------------------- property typing


def widen(old: str, new: str | None) -> str:
    """The type able to hold both: BIGINT+DOUBLE -> DOUBLE, any other conflict -> VARCHAR."""
    if new is None or new == old:
        return old
    if {old, new} == {BIGINT, DOUBLE}:
        return DOUBLE
    return VARCHAR


@dataclass(frozen=True)
class _PropertyPlan:
    column: StagedColumn
    target_column: str  # column in events
    file_type: str  # the type this file's values are read as
    target_type: str  # the (possibly widened) column type in events


def _value_sql(col: StagedColumn, file_type: str) -> str:
    """A staged value converted to the file's property type.

    Dates become ``2024-01-31`` and timestamps UTC ISO 8601 text (``2024-01-01T10:00:00Z``, with
    ``.ffffff`` only when there are sub-seconds; naive ones are read in --timezone like the time
    column), so they compare correctly with ISO strings from CSV or JSON. FLOAT (float32) values
    go through their shortest text, so 0.1f is stored as 0.1, not 0.10000000149011612.
    """
    source = col.source_type
    if source.endswith("]") or source.startswith(("STRUCT", "MAP", "UNION")):
        return f"CAST(to_json({col.ident}) AS VARCHAR)"
    if source == "DATE":
        return f"CAST(strftime({col.ident}, '%Y-%m-%d') AS {file_type})"
    stamp = timestamp_utc_sql(col.ident, source)
    if stamp is not None:
        return f"CAST({iso_utc_sql(stamp)} AS {file_type})"
    if source in ("FLOAT", "REAL"):
        return f"CAST(CAST({col.ident} AS VARCHAR) AS {file_type})"
    if file_type == VARCHAR or source == file_type:
        return f"CAST({col.ident} AS {file_type})"
    if source == VARCHAR:
        return f"CAST(trim({col.ident}) AS {file_type})"
    return f"CAST({col.ident} AS {file_type})"


def _canonical_text_sql(plan: _PropertyPlan) -> str:
    """A property value as text that does not depend on the column type inferred for the file.

    Integral numbers are written as integers (10 and 10.0 -> ``10``), other numbers in shortest
    round-trip form, booleans ``true``/``false``, text as is. The same row from CSV, JSON Lines or
    Parquet, or from two files whose columns were typed differently, gives the same text.
    """
    value = _value_sql(plan.column, plan.file_type)
    if plan.file_type == DOUBLE:
        return (
            f"CASE WHEN isfinite({value}) AND {value} = trunc({value}) AND abs({value}) < 1e38 "
            f"THEN CAST(CAST({value} AS HUGEINT) AS VARCHAR) ELSE CAST({value} AS VARCHAR) END"
        )
    return f"CAST({value} AS VARCHAR)"  # BIGINT as digits, BOOLEAN as true/false, text as is


def _props_json_sql(plans: Sequence[_PropertyPlan]) -> str:
    """Canonical JSON of a row's non-null properties, keys sorted (for derived event ids).

    Each value is a JSON string of :func:`_canonical_text_sql`, so ids do not depend on types.
    """
    parts = []
    for plan in sorted(plans, key=lambda p: p.column.name):
        key = json.dumps(plan.column.name, ensure_ascii=False) + ":"
        text = _canonical_text_sql(plan)
        parts.append(f"CASE WHEN {text} IS NOT NULL THEN {sql_string(key)} || to_json({text}) END")
    if not parts:
        return "'{}'"
    return f"'{{' || concat_ws(',', {', '.join(parts)}) || '}}'"


# ---------------------------------------------------------------- progress


class _Progress:
    """A rich progress display (one task per file), or nothing when disabled."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Progress | None = None
        if enabled:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),  # stdout stays clean for --format json/csv
                transient=False,
            )

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def file(self, source: str, total_bytes: int | None) -> _FileProgress:
        task = None
        if self._bar is not None:
            task = self._bar.add_task(f"reading {source}", total=total_bytes)
        return _FileProgress(self._bar, task, source)


class _FileProgress:
    def __init__(self, bar: Progress | None, task: TaskID | None, source: str) -> None:
        self._bar = bar
        self._task = task
        self._source = source

    def bytes_read(self, count: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=count)

    def step(self, what: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=f"{what} {self._source}")

    def done(self, ok: bool) -> None:
        if self._bar is not None and self._task is not None:
            total = self._bar.tasks[self._task].total
            what = "loaded" if ok else "failed"
            self._bar.update(self._task, completed=total or 1, total=total or 1)
            self.step(what)

    def callback(self) -> ProgressCallback | None:
        return self.bytes_read if self._bar is not None else None


# ---------------------------------------------------------------- the store


class EventStore:
    """Events in a DuckDB file (or ``":memory:"``), ingested from CSV, JSON Lines or Parquet."""

    def __init__(self, path: str | Path = "funnelscope.duckdb", *, read_only: bool = False) -> None:
        try:
            self._con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            raise FunnelscopeError(
                f"cannot open the event store {path}: {exc}",
            ) from exc
        if not read_only:
            self._create_schema()
        self._check_schema(path)
        if not read_only:
            self._upgrade_schema()
        self._has_loads = self._has_core_column("load_id") and self._has_column("loads", "load_id")

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        return self._con

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _create_schema(self) -> None:
        self._con.execute(
            """
            CREATE TABLE IF NOT EXISTS events (
                event_id VARCHAR NOT NULL,
                person_id VARCHAR NOT NULL,
                event VARCHAR NOT NULL,
                "timestamp" TIMESTAMP NOT NULL,
                session_id VARCHAR,
                load_id INTEGER,
                person_key BIGINT
            );
            CREATE TABLE IF NOT EXISTS persons (person_key BIGINT, person_id VARCHAR);
            CREATE TABLE IF NOT EXISTS event_properties (
                name VARCHAR PRIMARY KEY, column_name VARCHAR, type VARCHAR
            );
            CREATE TABLE IF NOT EXISTS quarantine (
                source VARCHAR, line BIGINT, reason VARCHAR, raw VARCHAR, ingested_at TIMESTAMP,
                load_id INTEGER
            );
            CREATE SEQUENCE IF NOT EXISTS load_ids START 1;
            CREATE TABLE IF NOT EXISTS loads (
                load_id INTEGER, source VARCHAR, size BIGINT, options VARCHAR,
                loaded_at TIMESTAMP, rows_loaded BIGINT
            );
            """
        )

    def _has_column(self, table: str, column: str) -> bool:
        return bool(
            self._count_params(
                "SELECT count(*) FROM duckdb_columns() "
                "WHERE table_name = ? AND lower(column_name) = ? AND schema_name = 'main'",
                [table, column],
            )
        )

    def _upgrade_schema(self) -> None:
        """Give a store made before the loads registry its ``load_id`` columns (old rows: NULL).

        A property that already has a column named ``load_id`` (any case) moves to
        ``prop:load_id`` first, as a new property of that name would.
        """
        if not self._has_core_column("load_id"):
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._move_property_column("load_id")
                self._con.execute("ALTER TABLE events ADD COLUMN load_id INTEGER")
                self._con.execute("COMMIT")
            except duckdb.Error:
                self._con.execute("ROLLBACK")
                raise
        if not self._has_column("quarantine", "load_id"):
            self._con.execute("ALTER TABLE quarantine ADD COLUMN load_id INTEGER")
        if not self._has_core_column("person_key"):
            self._con.execute("BEGIN TRANSACTION")
            try:
                self._move_property_column("person_key")
                self._con.execute("ALTER TABLE events ADD COLUMN person_key BIGINT")
                self._con.execute(
                    "CREATE TABLE IF NOT EXISTS persons (person_key BIGINT, person_id VARCHAR)"
                )
                self._add_persons("SELECT DISTINCT person_id FROM events")
                self._con.execute(
                    "UPDATE events SET person_key = p.person_key FROM persons p "
                    "WHERE events.person_id = p.person_id"
                )
                self._con.execute("COMMIT")
            except duckdb.Error:
                self._con.execute("ROLLBACK")
                raise

    def _has_core_column(self, name: str) -> bool:
        """Whether events has core column `name` (not a property column of that name)."""
        properties = {column.lower() for column, _ in self._property_columns().values()}
        return self._has_column("events", name) and name not in properties

    def _add_persons(self, person_ids_sql: str) -> None:
        """Give each person id from `person_ids_sql` that has no key yet the next free key."""
        self._con.execute(
            "INSERT INTO persons SELECT "
            "(SELECT coalesce(max(person_key), -1) FROM persons) + row_number() OVER (), "
            f"n.person_id FROM ({person_ids_sql}) AS n "
            "WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.person_id = n.person_id)"
        )

    def person_ids(self, keys: np.ndarray) -> list[str]:
        """The person ids of integer person keys, in the keys' order."""
        keys = np.asarray(keys, dtype=np.int64)
        table = pa.table({"person_key": pa.array(keys), "position": pa.array(np.arange(keys.size))})
        self._con.register("_fs_keys", table)
        try:
            rows = self._con.execute(
                "SELECT p.person_id FROM _fs_keys k JOIN persons p USING (person_key) "
                "ORDER BY k.position"
            ).fetchall()
        finally:
            self._con.unregister("_fs_keys")
        return [str(row[0]) for row in rows]

    def _move_property_column(self, core: str) -> None:
        registry = self._property_columns()
        used = {c.lower() for c in CORE_COLUMNS} | {col.lower() for col, _ in registry.values()}
        for name, (column, _) in registry.items():
            if column.lower() == core:
                target = _column_name(name, used)
                used.add(target.lower())
                self._con.execute(
                    f"ALTER TABLE events RENAME COLUMN {quote_ident(column)} "
                    f"TO {quote_ident(target)}"
                )
                self._con.execute(
                    "UPDATE event_properties SET column_name = ? WHERE name = ?", [target, name]
                )

    def _check_schema(self, path: str | Path) -> None:
        """Refuse a database whose tables are not ours, instead of failing later mid-ingest."""
        columns = {
            (str(table), str(column))
            for table, column in self._con.execute(
                "SELECT table_name, column_name FROM duckdb_columns() "
                "WHERE table_name IN ('events', 'event_properties', 'quarantine')"
            ).fetchall()
        }
        needed = {("events", c) for c in _REQUIRED_COLUMNS} | {
            ("event_properties", "column_name"),
            ("quarantine", "reason"),
        }
        if not needed <= columns:
            raise FunnelscopeError(
                f"{path} is not a funnelscope event store (its tables differ); "
                "choose another file with --db, or load events into it with funnelscope ingest"
            )

    # ------------------------------------------------------------ queries

    def count_events(self) -> int:
        return self._count("SELECT count(*) FROM events")

    def event_counts(self) -> dict[str, int]:
        """Event name -> number of events with that name."""
        rows = self._con.execute("SELECT event, count(*) FROM events GROUP BY event").fetchall()
        return {str(name): int(count) for name, count in rows}

    def not_numeric(self, name: str) -> tuple[int, str | None]:
        """For a text property: how many values are not plain decimal numbers, and one of them
        (numeric filters skip such values, e.g. '1,049.00')."""
        registry = self._property_columns()
        if name not in registry or registry[name][1] != "VARCHAR":
            return 0, None
        column = quote_ident(registry[name][0])
        row = self._con.execute(
            f"SELECT count(*), min({column}) FROM events WHERE {column} IS NOT NULL AND NOT "
            f"regexp_full_match(trim({column}), "
            "'[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?')"
        ).fetchone()
        return (int(row[0]), row[1]) if row else (0, None)

    def property_types(self) -> dict[str, str]:
        """Property name -> DuckDB type of its column."""
        rows = self._con.execute("SELECT name, type FROM event_properties ORDER BY name").fetchall()
        return {str(name): str(kind) for name, kind in rows}

    def _property_columns(self) -> dict[str, tuple[str, str]]:
        rows = self._con.execute("SELECT name, column_name, type FROM event_properties").fetchall()
        return {str(name): (str(column), str(kind)) for name, column, kind in rows}

    def quarantine(self, source: str | None = None, limit: int | None = None) -> list[BadRow]:
        """Quarantined rows (with their raw text), ordered by source and line.

        ``source`` may be the path as given at ingest, its absolute path, or its file name alone
        when only one loaded file has that name. ``limit`` must be 0 or more.
        """
        if limit is not None and limit < 0:
            raise IngestError(
                "limit", f"limit must be 0 or more, got {limit}", "leave it out to list every row"
            )
        where, params = self._source_filter(source)
        sql = f"SELECT source, line, reason, raw FROM quarantine{where}"
        sql += " ORDER BY source, line, reason"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._con.execute(sql, params).fetchall()
        return [
            BadRow(str(s), int(line), str(reason), "" if raw is None else str(raw))
            for s, line, reason, raw in rows
        ]

    def quarantine_count(self, source: str | None = None) -> int:
        """How many rows are quarantined (for ``source``, named as :meth:`quarantine` accepts)."""
        where, params = self._source_filter(source)
        return self._count_params(f"SELECT count(*) FROM quarantine{where}", params)

    def _source_filter(self, source: str | None) -> tuple[str, list[object]]:
        if source is None:
            return "", []
        names = self._matching_sources(source)
        if not names:
            return " WHERE false", []
        return f" WHERE source IN ({', '.join('?' * len(names))})", list(names)

    def _known_sources(self) -> list[tuple[str, str]]:
        """(source as given at ingest, absolute path) of every quarantined or loaded file."""
        if self._has_loads:
            rows = self._con.execute(
                "SELECT DISTINCT q.source, l.source FROM quarantine q "
                "LEFT JOIN loads l USING (load_id)"
            ).fetchall()
        else:
            rows = self._con.execute("SELECT DISTINCT source, NULL FROM quarantine").fetchall()
        return [
            (str(given), str(full) if full is not None else _absolute(str(given)))
            for given, full in rows
        ]

    def _matching_sources(self, source: str) -> list[str]:
        """The stored source names meaning ``source``: as given, its absolute path, or basename."""
        known = self._known_sources()
        exact = sorted({given for given, _ in known if given == source})
        if exact:
            return exact
        full = _absolute(source)
        same = sorted({given for given, path in known if path == full})
        if same:
            return same
        if os.sep in source or "/" in source:
            return []
        by_name = {path for _, path in known if Path(path).name == source}
        if len(by_name) > 1:
            raise IngestError(
                source,
                "several loaded files have this name",
                f"give the path of one of them: {', '.join(sorted(by_name))}",
            )
        return sorted({given for given, path in known if path in by_name})

    def loads(self) -> list[LoadInfo]:
        """Every load in the registry, oldest first."""
        if not self._has_loads:
            return []
        rows = self._con.execute(
            "SELECT load_id, source, options, loaded_at, rows_loaded FROM loads ORDER BY load_id"
        ).fetchall()
        return [
            LoadInfo(int(load_id), str(src), str(options), loaded_at, int(loaded))
            for load_id, src, options, loaded_at, loaded in rows
        ]

    def forget(self, source: str) -> int:
        """Remove a source's events, quarantined rows and loads; returns the events removed.

        ``source`` is the path (as given or absolute) or, when unambiguous, the file name.
        Events loaded before the loads registry existed carry no load and are not removed.
        """
        self._require_loads()
        load_ids = self._loads_of(source)
        if not load_ids:
            by_name = self._con.execute(
                "SELECT DISTINCT source FROM loads ORDER BY source"
            ).fetchall()
            matches = [str(r[0]) for r in by_name if Path(str(r[0])).name == source]
            if len(matches) > 1:
                raise IngestError(
                    source,
                    "several loaded files have this name",
                    f"give the path of one of them: {', '.join(matches)}",
                )
            if matches:
                load_ids = self._loads_of(matches[0])
        if not load_ids:
            known = [
                str(r[0])
                for r in self._con.execute(
                    "SELECT DISTINCT source FROM loads ORDER BY source"
                ).fetchall()
            ]
            listed = ", ".join(known) if known else "none"
            raise IngestError(source, "was never loaded", f"loaded sources are: {listed}")
        self._con.execute("BEGIN TRANSACTION")
        try:
            removed = self._remove_loads(load_ids)
            self._con.execute("COMMIT")
        except duckdb.Error:
            self._con.execute("ROLLBACK")
            raise
        return removed

    def _require_loads(self) -> None:
        if not self._has_loads:
            raise IngestError(
                "store",
                "this store has no loads registry (it was opened read-only before an upgrade)",
                "open it once without read_only to upgrade it",
            )

    def _loads_of(self, source: str) -> list[int]:
        rows = self._con.execute(
            "SELECT load_id FROM loads WHERE source = ? ORDER BY load_id", [_absolute(source)]
        ).fetchall()
        return [int(r[0]) for r in rows]

    def _remove_loads(self, load_ids: Sequence[int]) -> int:
        """Delete the events, quarantined rows and registry rows of ``load_ids`` (no commit)."""
        marks = ", ".join("?" * len(load_ids))
        params = list(load_ids)
        removed = self._count_params(
            f"SELECT count(*) FROM events WHERE load_id IN ({marks})", params
        )
        self._con.execute(f"DELETE FROM events WHERE load_id IN ({marks})", params)
        self._con.execute(f"DELETE FROM quarantine WHERE load_id IN ({marks})", params)
        self._con.execute(f"DELETE FROM loads WHERE load_id IN ({marks})", params)
        return removed

    def scan(
        self,
        event_names: Collection[str] | None,
        properties: Collection[str] = (),
        sessions: bool = False,
    ) -> pa.Table:
        """Events for the funnel engine, sorted by person_id, ts, event_id (and ``session_id``
        last when `sessions` is asked for).

        Columns: ``person_id``, ``event_id``, ``event`` (strings), ``ts`` (int64 microseconds
        since the Unix epoch, UTC), then one column per requested property named by the property
        name (all null if never ingested). A property whose name is itself one of those four
        columns comes out as ``prop:<name>`` so the core column is never shadowed.
        """
        registry = self._property_columns()
        select = ["person_id", "event_id", "event", 'epoch_us("timestamp") AS ts']
        for name in dict.fromkeys(properties):
            alias = quote_ident(scan_column(name))
            if name in registry:
                select.append(f"{quote_ident(registry[name][0])} AS {alias}")
            else:
                select.append(f"CAST(NULL AS VARCHAR) AS {alias}")
        if sessions:
            select.append("session_id")
        sql = f"SELECT {', '.join(select)} FROM events"
        params: list[str] = []
        if event_names is not None:
            params = list(dict.fromkeys(event_names))
            sql += f" WHERE event IN ({', '.join('?' * len(params))})" if params else " WHERE false"
        sql += " ORDER BY person_id, ts, event_id"
        return self._con.sql(sql, params=params or None).to_arrow_table()

    @property
    def duckdb_connection(self) -> duckdb.DuckDBPyConnection:
        """The connection engines run their SQL on (an EventSource's name for `connection`)."""
        return self._con

    def columns(self, properties: Collection[str] = ()) -> EventColumns:
        """The events table as SQL sees it (every property; `properties` is for the Protocol:
        sources that read files in place build only the columns asked for)."""
        person = "person_key" if self._has_core_column("person_key") else "person_id"
        return EventColumns(
            source="events",
            person=person,
            ts='epoch_us("timestamp")',
            event="event",
            event_id="event_id",
            properties={
                name: (quote_ident(column), kind)
                for name, (column, kind) in self._property_columns().items()
            },
            integer_person=person == "person_key",
            session="session_id",
        )

    # ------------------------------------------------------------ ingest

    def ingest(
        self,
        paths: Sequence[str | Path],
        mapping: ColumnMapping = ColumnMapping(),
        *,
        progress: bool = False,
        replace: bool = False,
    ) -> IngestReport:
        """Load files, one transaction each.

        Bad rows go to the quarantine table and never stop the good ones. A file that cannot be
        read at all loads nothing; the other files still load, and afterwards a
        :class:`PartialIngestError` (an IngestError) is raised for the first failing file.

        Each load is recorded in the ``loads`` registry under the file's absolute path and the
        mapping's options. Loading a file again with the same options adds only new events; with
        other options it is refused (its events would be loaded twice under new ids) unless
        ``replace`` is set, which removes the earlier loads' events and quarantined rows in the
        same transaction and then loads the file afresh.
        """
        if mapping.time_unit not in TIME_UNITS:
            raise IngestError(
                "time_unit",
                f"unknown epoch unit {mapping.time_unit!r}",
                f"use one of {', '.join(TIME_UNITS)}",
            )
        if mapping.delimiter is not None and (
            len(mapping.delimiter) != 1 or mapping.delimiter in '"\r\n'
        ):
            raise IngestError(
                "delimiter",
                f"a delimiter is one character, not {mapping.delimiter!r}",
                "use one of , ; | or a tab, or leave it out to detect it from the header",
            )
        self._require_loads()
        reports: list[FileReport] = []
        failures: list[IngestError] = []
        with _Progress(progress) as display, self._timezone(mapping.timezone):
            for path in paths:
                try:
                    reports.append(
                        self._ingest_file(Path(path), str(path), mapping, display, replace)
                    )
                except IngestError as exc:
                    failures.append(exc)
        report = IngestReport(tuple(reports))
        if failures:
            raise PartialIngestError(failures, report)
        return report

    @contextmanager
    def _timezone(self, zone: str) -> Iterator[None]:
        """Read naive times in ``zone``: DuckDB casts naive text to TIMESTAMPTZ in this setting."""
        row = first_row(self._con, "SELECT current_setting('TimeZone')")
        previous = str(row[0]) if row else "UTC"
        try:
            self._con.execute(f"SET TimeZone = {sql_string(zone)}")
        except duckdb.Error as exc:
            raise IngestError("timezone", f"unknown time zone {zone!r}", _TIMEZONE_HINT) from exc
        try:
            yield
        finally:
            self._con.execute(f"SET TimeZone = {sql_string(previous)}")

    def _ingest_file(
        self, path: Path, source: str, mapping: ColumnMapping, display: _Progress, replace: bool
    ) -> FileReport:
        fmt = detect_format(path, source)
        if fmt.kind == "csv" and mapping.delimiter is not None:
            fmt = SourceFormat(fmt.kind, fmt.gzipped, mapping.delimiter)
        if not path.is_file():
            problem = "is a directory, not a file" if path.is_dir() else "file not found"
            raise IngestError(source, problem, "check the path")
        full, size, options = _absolute(source), path.stat().st_size, mapping.canonical()
        earlier = self._con.execute(
            "SELECT load_id, options FROM loads WHERE source = ? ORDER BY load_id", [full]
        ).fetchall()
        same = [int(load_id) for load_id, opts in earlier if opts == options]
        other = [(int(load_id), str(opts)) for load_id, opts in earlier if opts != options]
        if other and not replace:
            raise IngestError(
                source,
                f"was loaded before with other options ({_options_diff(other[-1][1], options)})",
                "add --replace to remove that load's events and load it again",
            )
        shown = display.file(source, size)  # Parquet: full once DuckDB has read it
        self._con.execute("BEGIN TRANSACTION")
        try:
            if replace and earlier:
                self._remove_loads([load_id for load_id, _ in earlier])
                same = []
            if replace:  # rows quarantined before the loads registry existed
                self._con.execute(
                    "DELETE FROM quarantine WHERE load_id IS NULL AND source = ?", [source]
                )
            load_id = same[-1] if same else self._new_load(full, size, options)
            staged = stage_file(self._con, path, source, fmt, shown.callback())
            shown.step("checking")
            report = self._load_staged(staged, source, mapping, load_id)
            self._con.execute(
                "UPDATE loads SET size = ?, loaded_at = timezone('UTC', now()), "
                "rows_loaded = rows_loaded + ? WHERE load_id = ?",
                [size, report.rows_loaded, load_id],
            )
            self._drop_temporaries()
            self._con.execute("COMMIT")
        except IngestError:
            self._con.execute("ROLLBACK")
            shown.done(ok=False)
            raise
        except duckdb.Error as exc:
            self._con.execute("ROLLBACK")
            shown.done(ok=False)
            message = str(exc).splitlines()[0]
            raise IngestError(source, f"could not load: {message}") from exc
        shown.done(ok=True)
        return report

    def _new_load(self, full: str, size: int, options: str) -> int:
        load_id = self._count("SELECT nextval('load_ids')")  # never reused, even after forget
        self._con.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, timezone('UTC', now()), 0)",
            [load_id, full, size, options],
        )
        return load_id

    def _drop_temporaries(self) -> None:
        drop_stage(self._con)
        self._con.execute(f"DROP TABLE IF EXISTS {_NORM}")
        self._con.execute(f"DROP TABLE IF EXISTS {_BAD}")

    def _load_staged(
        self, staged: StagedFile, source: str, mapping: ColumnMapping, load_id: int
    ) -> FileReport:
        roles: dict[str, str] = {}
        good = loaded = 0
        if staged.columns:  # else the file held only blank or malformed lines
            by_name = {c.name: c for c in staged.columns}
            roles = resolve_roles(list(by_name), mapping, source)
            role_columns = {role: by_name[name] for role, name in roles.items()}
            mapped = set(roles.values())
            plans = self._plan_properties([c for c in staged.columns if c.name not in mapped])
            id_col = role_columns.get("id")
            derives_ids = id_col is None or bool(
                self._count(f"SELECT count(*) FROM {STAGE} WHERE {_blank(_text_sql(id_col))}")
            )
            self._con.execute(
                _normalize_sql(
                    role_columns,
                    plans,
                    mapping.time_unit,
                    derives_ids=derives_ids,
                    zone=mapping.timezone,
                )
            )
            if id_col is not None:
                self._quarantine_id_conflicts(source)
            good = self._count(f"SELECT count(*) FROM {_NORM} WHERE __reason IS NULL")
        bad_count = self._quarantine_bad_rows(source, staged, load_id)
        if staged.columns:
            loaded = self._insert_events(plans, load_id)
        first_bad = self._con.execute(
            f"SELECT line, reason, raw FROM {_BAD} ORDER BY line LIMIT {MAX_BAD_ROWS_REPORTED}"
        ).fetchall()
        return FileReport(
            source=source,
            rows_read=staged.rows_read,
            rows_loaded=loaded,
            duplicates_skipped=good - loaded,
            rows_quarantined=bad_count,
            bad_rows=tuple(
                BadRow(source, int(line), str(reason), str(raw or ""))
                for line, reason, raw in first_bad
            ),
            columns=dict(roles),
        )

    def _count(self, sql: str) -> int:
        row = first_row(self._con, sql)
        return int(row[0]) if row else 0

    def _count_params(self, sql: str, params: Sequence[object]) -> int:
        row = first_row(self._con, sql, params)
        return int(row[0]) if row else 0

    def _plan_properties(self, columns: Sequence[StagedColumn]) -> list[_PropertyPlan]:
        """Register new properties and widen existing columns so this file's values fit."""
        registry = self._property_columns()
        used = {c.lower() for c in CORE_COLUMNS} | {col.lower() for col, _ in registry.values()}
        plans = []
        for col in columns:
            if col.name in registry:
                target, old = registry[col.name]
                new = widen(old, col.value_type)
                if new == DOUBLE and self._loses_digits_as_double(col, target, old):
                    new = VARCHAR  # integers beyond 2**53 would change as DOUBLE
                if new != old:
                    self._con.execute(
                        f"ALTER TABLE events ALTER COLUMN {quote_ident(target)} TYPE {new}"
                    )
                    self._con.execute(
                        "UPDATE event_properties SET type = ? WHERE name = ?", [new, col.name]
                    )
            else:
                target, new = _column_name(col.name, used), col.value_type or VARCHAR
                used.add(target.lower())
                self._con.execute(f"ALTER TABLE events ADD COLUMN {quote_ident(target)} {new}")
                self._con.execute(
                    "INSERT INTO event_properties VALUES (?, ?, ?)", [col.name, target, new]
                )
            plans.append(_PropertyPlan(col, target, col.value_type or new, new))
        return plans

    def _loses_digits_as_double(self, col: StagedColumn, target: str, old: str) -> bool:
        """Whether widening BIGINT+DOUBLE to DOUBLE would change a stored or staged integer."""
        if old == BIGINT and self._beyond_double(quote_ident(target)):
            return True
        return col.value_type == BIGINT and self._beyond_double(_value_sql(col, BIGINT), STAGE)

    def _beyond_double(self, value: str, table: str = "events") -> bool:
        """Whether an integer ``value`` in ``table`` has a magnitude beyond 2**53."""
        limit = _EXACT_DOUBLE
        return bool(
            self._count(
                f"SELECT count(*) FROM {table} WHERE NOT ({value} BETWEEN -{limit} AND {limit})"
            )
        )

    def _quarantine_id_conflicts(self, source: str) -> None:
        """Quarantine rows whose given event_id is already used by a different event.

        A row whose id is in the store, or on an earlier row of this file, is a duplicate only
        when person, event name and time are equal too; otherwise loading it would silently drop
        it. Only rows whose id collides are compared (an id that is already stored is compared
        with the stored event alone).
        """
        hint = (
            "; map a column that is unique per event with --id-col, "
            "or leave --id-col out so ids are derived"
        )
        used = "'event_id ''' || n.event_id || ''' is already used by a different event ('"
        given = f"NOT {_blank('n.__given_id')}"
        same = 'e.person_id = n.person_id AND e.event = n.event AND e."timestamp" = n."timestamp"'
        self._con.execute(
            f"UPDATE {_NORM} AS n SET __reason = {used} || "
            f"{sql_string('already in the store)' + hint)} "
            f"WHERE n.__reason IS NULL AND {given} "
            "AND n.event_id IN (SELECT event_id FROM events) "
            f"AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = n.event_id AND {same})"
        )
        of_file = f" of {source})" + hint
        colliding = (
            f"SELECT event_id FROM {_NORM} AS n WHERE __reason IS NULL AND {given} "
            "GROUP BY event_id HAVING count(*) > 1"
        )
        firsts = (
            "SELECT event_id, min(__line) AS first_line, "
            "arg_min(person_id, __line) AS person_id, arg_min(event, __line) AS event, "
            'arg_min("timestamp", __line) AS "timestamp" '
            f"FROM {_NORM} AS n WHERE __reason IS NULL AND {given} "
            f"AND event_id IN ({colliding}) "
            "AND event_id NOT IN (SELECT event_id FROM events) GROUP BY event_id"
        )
        self._con.execute(
            f"UPDATE {_NORM} AS n SET __reason = {used} || 'line ' || f.first_line || "
            f"{sql_string(of_file)} FROM ({firsts}) AS f "
            f"WHERE n.event_id = f.event_id AND n.__reason IS NULL AND {given} "
            "AND n.__line > f.first_line AND NOT (n.person_id = f.person_id "
            'AND n.event = f.event AND n."timestamp" = f."timestamp")'
        )

    def _quarantine_bad_rows(self, source: str, staged: StagedFile, load_id: int) -> int:
        """Collect this file's bad rows in _BAD and add the new ones to the quarantine table."""
        raw = "json_object(" + ", ".join(
            f"{sql_string(c.name)}, s.{c.ident}" for c in staged.columns
        )
        self._con.execute(f"CREATE TEMP TABLE {_BAD} (line BIGINT, reason VARCHAR, raw VARCHAR)")
        if staged.columns and self._count(
            f"SELECT count(*) FROM {_NORM} WHERE __reason IS NOT NULL"
        ):
            self._con.execute(
                f"INSERT INTO {_BAD} SELECT n.__line, n.__reason, CAST({raw}) AS VARCHAR) "
                f"FROM {_NORM} n JOIN {STAGE} s USING (__line) WHERE n.__reason IS NOT NULL"
            )
        if not staged.columns:
            # rows without a single field (JSON ``{}``): no person column exists to name
            self._con.execute(
                f"INSERT INTO {_BAD} SELECT __line, {sql_string(_MISSING_PERSON)}, '{{}}' "
                f"FROM {STAGE}"
            )
        if staged.malformed:
            self._add_malformed(staged.malformed)
        self._con.execute(
            f"INSERT INTO quarantine SELECT ?, b.line, b.reason, b.raw, "
            f"timezone('UTC', now()), ? FROM {_BAD} b WHERE NOT EXISTS (SELECT 1 FROM quarantine q "
            "WHERE (q.load_id = ? OR (q.load_id IS NULL AND q.source = ?)) AND q.line = b.line "
            "AND q.raw IS NOT DISTINCT FROM b.raw)",
            [source, load_id, load_id, source],
        )
        return self._count(f"SELECT count(*) FROM {_BAD}")

    def _add_malformed(self, malformed: Sequence[Malformed]) -> None:
        table = pa.table(
            {
                "line": pa.array([m.line for m in malformed], pa.int64()),
                "reason": pa.array([m.reason for m in malformed], pa.string()),
                "raw": pa.array([m.raw for m in malformed], pa.string()),
            }
        )
        self._con.register("_fs_malformed", table)
        try:
            self._con.execute(f"INSERT INTO {_BAD} SELECT line, reason, raw FROM _fs_malformed")
        finally:
            self._con.unregister("_fs_malformed")

    def _insert_events(self, plans: Sequence[_PropertyPlan], load_id: int) -> int:
        """Insert valid rows whose event_id is new (to the store and earlier in the file)."""
        targets = "".join(f", {quote_ident(p.target_column)}" for p in plans)
        values = "".join(f", n.p{i}" for i in range(len(plans)))
        self._add_persons(f"SELECT DISTINCT person_id FROM {_NORM} WHERE __reason IS NULL")
        row = self._con.execute(
            "INSERT INTO events "
            f'(event_id, person_id, event, "timestamp", session_id, load_id, person_key{targets}) '
            'SELECT n.event_id, n.person_id, n.event, n."timestamp", n.session_id, '
            f"{int(load_id)}, k.person_key{values} "
            f"FROM {_NORM} n JOIN persons k ON k.person_id = n.person_id WHERE __reason IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = n.event_id) "
            "QUALIFY row_number() OVER (PARTITION BY n.event_id ORDER BY __line) = 1"
        ).fetchone()
        return int(row[0]) if row else 0


def _options_diff(old: str, new: str) -> str:
    """The options that differ between two mappings: ``timezone: UTC -> Europe/Berlin``."""
    before, after = json.loads(old), json.loads(new)

    def shown(value: object) -> str:
        return "auto" if value is None else "none" if value == "" else str(value)

    changed = [
        f"{key}: {shown(before.get(key))} -> {shown(after.get(key))}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    return ", ".join(changed)


def _absolute(source: str) -> str:
    """``source`` as an absolute path with symlinks resolved (how the loads registry names it)."""
    return str(Path(source).expanduser().resolve())


def _column_name(name: str, used: set[str]) -> str:
    """The events column for a new property: its name, or ``prop:<name>`` on a collision.

    DuckDB identifiers are case-insensitive, so collisions are checked case-insensitively.
    """
    candidate = name if name.lower() not in used else f"prop:{name}"
    suffix = 2
    while candidate.lower() in used:
        candidate = f"prop:{name}:{suffix}"
        suffix += 1
    return candidate


def _text_sql(col: StagedColumn | None) -> str:
    return "CAST(NULL AS VARCHAR)" if col is None else f"CAST({col.ident} AS VARCHAR)"


def _blank(expr: str) -> str:
    return f"(NULLIF(trim({expr}), '') IS NULL)"


def _reason_sql(roles: dict[str, StagedColumn], unit: str, zone: str = "UTC") -> str:
    person, event, time = roles["person"], roles["event"], roles["time"]

    def col(c: StagedColumn) -> str:
        return repr(c.name)

    missing_person = f"missing person_id (column {col(person)}); every event needs a person"
    missing_event = f"missing event name (column {col(event)}); every event needs an event name"
    missing_time = f"missing time (column {col(time)}); every event needs a time"
    unparseable = f"' in column {col(time)}; {_TIME_HINT}"
    implausible = ""
    if unit == "auto":
        names = " ".join(
            f"WHEN {sql_string(k)} THEN {sql_string(v)}" for k, v in UNIT_NAMES.items()
        )
        reads_as = f" in column {col(time)} reads as epoch "
        implausible = (
            f"WHEN __epoch_unit IS NOT NULL AND {implausible_epoch_sql('__ts')} THEN "
            f"'time ' || trim(__time_text) || {sql_string(reads_as)} "
            f"|| CASE __epoch_unit {names} END || ' = ' || {iso_utc_sql('__ts')} || "
            "', which is implausible; write ISO dates (2024-01-31) or pass --time-unit ' || "
            "__epoch_unit || ' to accept it' "
        )
    gap = ""
    if time.source_type == VARCHAR:
        jumped = (
            f"' does not exist in {zone} (clocks jumped forward); "
            "fix the source or give the time with an offset"
        )
        gap = (
            f"WHEN {gap_sql('__time_text', '__ts')} THEN "
            f"'time ''' || trim(__time_text) || {sql_string(jumped)} "
        )
    return (
        f"CASE WHEN {_blank('person_id')} THEN {sql_string(missing_person)} "
        f"WHEN {_blank('event')} THEN {sql_string(missing_event)} "
        f"WHEN {_blank('__time_text')} THEN {sql_string(missing_time)} "
        f"WHEN __ts IS NULL OR NOT isfinite(__ts) THEN 'unparseable time ''' || __time_text || "
        f"{sql_string(unparseable)} {gap}{implausible}END"
    )


def _normalize_sql(
    roles: dict[str, StagedColumn],
    plans: Sequence[_PropertyPlan],
    unit: str,
    *,
    derives_ids: bool = True,
    zone: str = "UTC",
) -> str:
    """SQL creating _NORM: one row per staged row with core fields, properties and a reason.

    ``__reason`` is NULL for a valid row. Epoch numbers are read in ``unit``; in ``auto`` mode
    each value's unit comes from its magnitude and a result before 1990 or more than a year ahead
    is quarantined as implausible (a compact date such as 20240131 is not silently 1970).

    Derived event ids (no id column, or an empty id) hash the row's content: person, event,
    microseconds, session and the canonical property JSON of :func:`_props_json_sql`, so the same
    event gets the same id from any file and format. Identical rows within one file are distinct
    events: the first copy hashes the plain content, the n-th further copy the content plus
    ``#n``. Re-ingesting a file, or an overlapping export holding the row once, so adds nothing,
    while two genuine identical events in one file both load. When every row carries its own id
    (``derives_ids=False``) the copy count, a window over the whole file, is skipped.
    """
    time = roles["time"]
    props = "".join(
        f", CAST({_value_sql(p.column, p.file_type)} AS {p.target_type}) AS p{i}"
        for i, p in enumerate(plans)
    )
    given_id = _text_sql(roles.get("id"))
    copies = (
        "SELECT *, row_number() OVER (PARTITION BY __hash ORDER BY __line) - 1 AS __copy "
        "FROM hashed"
        if derives_ids
        else "SELECT *, 0 AS __copy FROM hashed"
    )
    content = (
        "json_array(person_id, event, CAST(epoch_us(__ts) AS VARCHAR), session_id, __props_json)"
    )
    return f"""
        CREATE TEMP TABLE {_NORM} AS
        WITH parsed AS (
            SELECT __line,
                {_text_sql(roles["person"])} AS person_id,
                {_text_sql(roles["event"])} AS event,
                {_text_sql(time)} AS __time_text,
                {time_sql(time.ident, time.source_type, unit)} AS __ts,
                {epoch_unit_sql(time.ident, time.source_type, unit)} AS __epoch_unit,
                {_text_sql(roles.get("session"))} AS session_id,
                {given_id} AS __given_id{props},
                CASE WHEN {_blank(given_id)} THEN {_props_json_sql(plans)} END AS __props_json
            FROM {STAGE}
        ),
        checked AS (SELECT *, {_reason_sql(roles, unit, zone)} AS __reason FROM parsed),
        keyed AS (
            SELECT *,
                CASE WHEN __reason IS NULL AND {_blank("__given_id")} THEN {content} END
                    AS __content
            FROM checked
        ),
        hashed AS (SELECT *, md5(__content) AS __hash FROM keyed),
        counted AS ({copies})
        SELECT *,
            CASE WHEN __reason IS NULL THEN __ts END AS "timestamp",
            CASE WHEN __reason IS NOT NULL THEN NULL
                 WHEN NOT {_blank("__given_id")} THEN __given_id
                 WHEN __copy = 0 THEN __hash
                 ELSE md5(__content || '#' || __copy) END AS event_id
        FROM counted
    """
