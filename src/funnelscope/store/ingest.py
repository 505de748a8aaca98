"""Loading files into the store: each file staged, checked, de-duplicated and inserted in one
transaction, with its bad rows quarantined and the load registered."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from funnelscope.errors import IngestError
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.identities import IdentityChange, add_links_from_staging, apply_identities
from funnelscope.store.ingest_progress import LoadProgress
from funnelscope.store.ingest_sql import (
    BAD,
    MISSING_PERSON,
    NORM,
    TIMEZONE_HINT,
    PropertyPlan,
    blank,
    normalize_sql,
    number_copies_sql,
    text_sql,
    value_sql,
    widen,
)
from funnelscope.store.layout_staging import RAW, first_record, stage_layout
from funnelscope.store.layouts import GENERIC, LAYOUT_NAMES, LAYOUTS, Layout, recognise
from funnelscope.store.layouts.core import (
    CORE,
    DEVICE,
    EVENT,
    EVENT_ID,
    LINK_KIND,
    LINK_ONLY,
    PERSON,
)
from funnelscope.store.layouts.core import SESSION as SESSION_KEY
from funnelscope.store.layouts.core import TIME as TIME_KEY
from funnelscope.store.mapping import (
    SPARSE_PERSON,
    ColumnMapping,
    options_diff,
    person_candidates,
    resolve_roles,
)
from funnelscope.store.privacy import skip_forgotten_bad_rows, skip_forgotten_rows
from funnelscope.store.readers import SourceFormat, detect_format, stage_file
from funnelscope.store.schema import (
    MAX_PROPERTY_COLUMNS,
    MORE_PROPERTIES,
    STORE_COLUMNS,
    absolute,
    add_persons,
    column_name,
    count,
    map_read,
    property_columns,
    remove_loads,
)
from funnelscope.store.sql_text import quote_ident, sql_string
from funnelscope.store.staging import (
    BIGINT,
    DOUBLE,
    EXACT_DOUBLE,
    STAGE,
    VARCHAR,
    Malformed,
    StagedColumn,
    StagedFile,
    drop_stage,
    execute_with_table,
    first_row,
    long_values_sql,
    row_json_sql,
    stage_column,
)
from funnelscope.store.timeparse import TIME_UNITS
from funnelscope.store.wide_properties import (
    PLAN_TABLE,
    long_properties_sql,
    plan_table,
    reads_long,
)

MAX_BAD_ROWS_REPORTED: Final = 20
REPEATED: Final = "_fs_repeated"  # event ids on more than one valid row of the file
STORED: Final = "_fs_stored"  # lines of valid rows whose event id the store holds already
SAME_EVENT: Final = (  # a stored event e and a row n of the file are the same event
    'e.distinct_id = n.person_id AND e.event = n.event AND e."timestamp" = n."timestamp"'
)
REPEATS: Final = "_fs_repeats"  # lines of valid rows whose event id an earlier row has
SPARSE_SHARE: Final = 0.01  # a JSON key on fewer rows than this share lives in the map
SPARSE_MIN_ROWS: Final = 1000  # ... in a file of at least this many rows
LOAD_MEMORY_LIMIT: Final = "512MB"  # DuckDB's share of memory while loading; beyond, it spills
NEEDED_MEMORY: Final = (
    f"this file needed more than the load's {LOAD_MEMORY_LIMIT} of memory and was loaded again "
    "with DuckDB's default limit (up to 80% of the machine's memory)"
)


@dataclass(frozen=True)
class FileReport:
    source: str
    rows_read: int
    rows_loaded: int
    duplicates_skipped: int
    rows_quarantined: int
    bad_rows: tuple[BadRow, ...]  # the first 20; all are in the quarantine table
    columns: dict[str, str] = field(default_factory=dict)  # role -> source column used
    layout: str = GENERIC  # the export layout the file was read as
    notes: tuple[str, ...] = ()  # choices made that the user should know of
    links_added: int = 0  # identity links this file added
    link_rows: int = 0  # rows that only link ids (Segment alias calls): no event
    identities: IdentityChange | None = None  # the store's identities after this file
    forgotten_skipped: int = 0  # rows of forgotten persons (store/privacy.py): not stored at all


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

    @property
    def forgotten_skipped(self) -> int:
        return sum(f.forgotten_skipped for f in self.files)

    @property
    def identities(self) -> IdentityChange | None:
        """The store's identities after the last file that changed them."""
        changed = [f.identities for f in self.files if f.identities is not None]
        return changed[-1] if changed else None


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


class _NeedsMemory(Exception):
    """A file needed more memory than the load's budget (one huge value); it is loaded again
    with DuckDB's default limit."""

    def __init__(self, error: IngestError) -> None:
        super().__init__(str(error))
        self.error = error


def check_mapping(mapping: ColumnMapping) -> None:
    """Refuse mapping options no file could be read with, before anything is loaded."""
    if mapping.time_unit not in TIME_UNITS:
        raise IngestError(
            "time_unit",
            f"unknown epoch unit {mapping.time_unit!r}",
            f"use one of {', '.join(TIME_UNITS)}",
        )
    if mapping.layout is not None and mapping.layout not in LAYOUT_NAMES:
        raise IngestError(
            "layout",
            f"unknown layout {mapping.layout!r}",
            f"use one of {', '.join(LAYOUT_NAMES)}, or leave it out to recognise it",
        )
    if mapping.delimiter is not None and (
        len(mapping.delimiter) != 1 or mapping.delimiter in '"\r\n'
    ):
        raise IngestError(
            "delimiter",
            f"a delimiter is one character, not {mapping.delimiter!r}",
            "use one of , ; | or a tab, or leave it out to detect it from the header",
        )


class Loader:
    """Loads files into the store on connection `con` (its schema already there)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def load(
        self, paths: Sequence[str | Path], mapping: ColumnMapping, progress: bool, replace: bool
    ) -> IngestReport:
        """Load each file in its own transaction (see :meth:`EventStore.ingest`)."""
        reports: list[FileReport] = []
        failures: list[IngestError] = []
        with (
            LoadProgress(progress) as display,
            self._timezone(mapping.timezone),
            self._memory_budget(),
        ):
            for path in paths:
                try:
                    try:
                        file = self._ingest_file(Path(path), str(path), mapping, display, replace)
                    except _NeedsMemory:  # one huge value: give this file DuckDB's default
                        with self._memory_budget(None):
                            file = self._ingest_file(
                                Path(path), str(path), mapping, display, replace
                            )
                        file = dataclass_replace(file, notes=(*file.notes, NEEDED_MEMORY))
                    reports.append(file)
                except _NeedsMemory as exc:
                    failures.append(exc.error)
                except IngestError as exc:
                    failures.append(exc)
        report = IngestReport(tuple(reports))
        if failures:
            raise PartialIngestError(failures, report)
        return report

    @contextmanager
    def _memory_budget(self, limit: str | None = LOAD_MEMORY_LIMIT) -> Iterator[None]:
        """Hold DuckDB to `limit` while loading, spilling to disk beyond it (by default DuckDB
        may take 80% of the machine's memory; None restores that default)."""
        before = first_row(
            self._con,
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')",
        )
        assert before is not None
        if limit is None:
            self._con.execute("RESET memory_limit")
        else:
            self._con.execute(f"SET memory_limit = {sql_string(limit)}")
        spill = None
        if not before[1]:  # an in-memory store has nowhere to spill by default
            spill = tempfile.mkdtemp(prefix="funnelscope-spill-")
            self._con.execute(f"SET temp_directory = {sql_string(spill)}")
        try:
            yield
        finally:
            self._con.execute(f"SET memory_limit = {sql_string(str(before[0]))}")
            if spill is not None:
                shutil.rmtree(spill, ignore_errors=True)

    @contextmanager
    def _timezone(self, zone: str) -> Iterator[None]:
        """Read naive times in ``zone``: DuckDB casts naive text to TIMESTAMPTZ in this setting."""
        row = first_row(self._con, "SELECT current_setting('TimeZone')")
        previous = str(row[0]) if row else "UTC"
        try:
            self._con.execute(f"SET TimeZone = {sql_string(zone)}")
        except duckdb.Error as exc:
            raise IngestError("timezone", f"unknown time zone {zone!r}", TIMEZONE_HINT) from exc
        try:
            yield
        finally:
            self._con.execute(f"SET TimeZone = {sql_string(previous)}")

    def _ingest_file(
        self, path: Path, source: str, mapping: ColumnMapping, display: LoadProgress, replace: bool
    ) -> FileReport:
        fmt = detect_format(path, source)
        if fmt.kind == "csv" and mapping.delimiter is not None:
            fmt = SourceFormat(fmt.kind, fmt.gzipped, mapping.delimiter)
        if not path.is_file():
            problem = "is a directory, not a file" if path.is_dir() else "file not found"
            raise IngestError(source, problem, "check the path")
        full, size, options = absolute(source), path.stat().st_size, mapping.canonical()
        earlier = self._con.execute(
            "SELECT load_id, options FROM loads WHERE source = ? ORDER BY load_id", [full]
        ).fetchall()
        same = [
            int(load_id) for load_id, opts in earlier if ColumnMapping.same_options(opts, options)
        ]
        other = [
            (int(load_id), str(opts))
            for load_id, opts in earlier
            if not ColumnMapping.same_options(opts, options)
        ]
        if other and not replace:
            raise IngestError(
                source,
                f"was loaded before with other options ({options_diff(other[-1][1], options)})",
                "add --replace to remove that load's events and load it again",
            )
        shown = display.file(source, size)  # Parquet: full once DuckDB has read it
        try:
            # Staging appends the file chunk by chunk into a temporary table, outside the
            # load's transaction: DuckDB keeps every append made inside one transaction in
            # memory, so staging there would grow with the file. The temporary table is the
            # connection's own, so a crash leaves nothing of it in the store.
            layout = _layout_of(path, fmt, mapping)
            if layout is None:
                staged = stage_file(self._con, path, source, fmt, shown.callback())
            else:
                staged = stage_layout(self._con, path, source, fmt, layout, shown.callback())
        except IngestError:
            self.drop_temporaries()
            shown.done(ok=False)
            raise
        except duckdb.Error as exc:
            self.drop_temporaries()
            shown.done(ok=False)
            message = str(exc).splitlines()[0]
            error = IngestError(source, f"could not read: {message}")
            if isinstance(exc, duckdb.OutOfMemoryException):
                raise _NeedsMemory(error) from exc
            raise error from exc
        shown.step("checking")
        self._con.execute("BEGIN TRANSACTION")
        try:
            if replace and earlier:
                remove_loads(self._con, [load_id for load_id, _ in earlier])
                same = []
            if replace:  # rows quarantined before the loads registry existed
                self._con.execute(
                    "DELETE FROM quarantine WHERE load_id IS NULL AND source = ?", [source]
                )
            load_id = same[-1] if same else self._new_load(full, size, options)
            report = self.load_staged(staged, source, mapping, load_id, layout)
            if report.links_added or (replace and earlier) or self._has_merged_ids():
                report = dataclass_replace(report, identities=apply_identities(self._con))
            self._con.execute(
                "UPDATE loads SET size = ?, loaded_at = timezone('UTC', now()), "
                "rows_loaded = rows_loaded + ? WHERE load_id = ?",
                [size, report.rows_loaded, load_id],
            )
            self._con.execute("COMMIT")
        except IngestError:
            self._con.execute("ROLLBACK")
            self.drop_temporaries()
            shown.done(ok=False)
            raise
        except duckdb.Error as exc:
            self._con.execute("ROLLBACK")
            self.drop_temporaries()
            shown.done(ok=False)
            message = str(exc).splitlines()[0]
            error = IngestError(source, f"could not load: {message}")
            if isinstance(exc, duckdb.OutOfMemoryException):
                raise _NeedsMemory(error) from exc
            raise error from exc
        self.drop_temporaries()
        shown.done(ok=True)
        return report

    def _has_merged_ids(self) -> bool:
        return bool(count(self._con, "SELECT count(*) FROM identity_map"))

    def _new_load(self, full: str, size: int, options: str) -> int:
        load_id = count(self._con, "SELECT nextval('load_ids')")  # never reused, even after forget
        self._con.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, timezone('UTC', now()), 0)",
            [load_id, full, size, options],
        )
        return load_id

    def drop_temporaries(self) -> None:
        drop_stage(self._con)
        self._con.execute(f"DROP TABLE IF EXISTS {NORM}")
        self._con.execute(f"DROP TABLE IF EXISTS {BAD}")
        self._con.execute(f"DROP TABLE IF EXISTS {REPEATS}")
        self._con.execute(f"DROP TABLE IF EXISTS {REPEATED}")
        self._con.execute(f"DROP TABLE IF EXISTS {STORED}")
        self._con.execute(f"DROP TABLE IF EXISTS {PLAN_TABLE}")

    def load_staged(
        self,
        staged: StagedFile,
        source: str,
        mapping: ColumnMapping,
        load_id: int,
        layout: Layout | None,
    ) -> FileReport:
        """Check staged rows and insert the good ones, inside the caller's transaction (a file's
        load, or a fold of captured events: store/capture/fold.py)."""
        roles: dict[str, str] = {}
        role_columns: dict[str, StagedColumn] = {}
        notes: list[str] = []
        good = loaded = links = link_rows = forgotten = 0
        plans: list[PropertyPlan] = []
        if staged.columns:  # else the file held only blank or malformed lines
            by_name = {c.name: c for c in staged.columns}
            if layout is None:
                roles = resolve_roles(list(by_name), mapping, source)
                if mapping.person_col is None and mapping.device_col is None:
                    roles, note = self._fill_person(roles, by_name)
                    notes += [note] if note else []
                role_columns = {role: by_name[name] for role, name in roles.items()}
            else:
                role_columns = _layout_roles(layout, by_name)
                roles = {role: layout.fields.get(_ROLE_KEYS[role], role) for role in role_columns}
            # a key found only late in a JSON file is staged as rows: copied into a column here
            role_columns = {r: stage_column(self._con, c) for r, c in role_columns.items()}
            mapped = set(roles.values()) if layout is None else set()
            internal = set(CORE) | {RAW}
            properties = [c for c in staged.columns if c.name not in mapped | internal]
            plans = self._plan_properties(properties, staged.rows_read)
            id_col = role_columns.get("id")
            long = reads_long(plans)
            # The canonical JSON of derived ids is made per row whose id is blank; read as rows
            # it is made for every row, so there only when some id is blank.
            with_json = (
                id_col is None
                or not long
                or bool(
                    count(
                        self._con, f"SELECT count(*) FROM {STAGE} WHERE {blank(text_sql(id_col))}"
                    )
                )
            )
            unit = mapping.time_unit
            if layout is not None and unit == "auto":
                unit = layout.time_unit
            long_properties = None
            if long:  # a wide text file: its properties are read as rows
                execute_with_table(
                    self._con,
                    "_fs_plan_rows",
                    plan_table(plans),
                    f"CREATE TEMP TABLE {PLAN_TABLE} AS SELECT * FROM _fs_plan_rows",
                )
                long_properties = long_properties_sql(plans, with_json=with_json)
            self._con.execute(
                normalize_sql(
                    role_columns,
                    plans,
                    unit,
                    zone=mapping.timezone,
                    derives_ids=with_json,
                    long_properties=long_properties,
                )
            )
            self._con.execute(number_copies_sql())  # a filter and nothing more when none repeat
            forgotten, unlinked = skip_forgotten_rows(self._con, NORM)
            if unlinked:
                notes.append(
                    f"{unlinked:,} rows carry a forgotten device id: their events are loaded "
                    "without it and make no link to it"
                )
            # Ids on more than one valid row: the only ones that can conflict or be copies
            # (none, usually), so later checks group these alone instead of the whole file.
            # Derived ids are unique within a file by construction (copies are numbered).
            self._con.execute(
                f"CREATE TEMP TABLE {REPEATED} AS SELECT event_id FROM {NORM} "
                f"WHERE __reason IS NULL {'AND false ' if id_col is None else ''}"
                "GROUP BY event_id HAVING count(*) > 1"
            )
            # Lines whose id the store holds already, and whether the stored event with that id
            # is the same event (person, name, time): one join for the checks and the insert.
            # An id is on one stored event at most: ingest never stores an id twice.
            self._con.execute(
                f"CREATE TEMP TABLE {STORED} AS SELECT n.__line, {SAME_EVENT} AS same "
                f"FROM {NORM} AS n JOIN events AS e ON e.event_id = n.event_id "
                "WHERE n.__reason IS NULL"
            )
            if id_col is not None:
                self._quarantine_id_conflicts(source)
            good = count(
                self._con, f"SELECT count(*) FROM {NORM} WHERE __reason IS NULL AND NOT __link_only"
            )
            link_rows = count(
                self._con, f"SELECT count(*) FROM {NORM} WHERE __reason IS NULL AND __link_only"
            )
        bad_count, forgotten_bad = self._quarantine_bad_rows(source, staged, load_id)
        if staged.columns:
            loaded = self._insert_events(plans, load_id)
            if "device" in role_columns:
                links = add_links_from_staging(self._con, NORM, source, load_id)
        first_bad = self._con.execute(
            f"SELECT line, reason, raw FROM {BAD} ORDER BY line LIMIT {MAX_BAD_ROWS_REPORTED}"
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
            layout=GENERIC if layout is None else layout.name,
            notes=tuple(notes),
            links_added=links,
            link_rows=link_rows,
            forgotten_skipped=forgotten + forgotten_bad,
        )

    def _fill_person(
        self, roles: dict[str, str], by_name: dict[str, StagedColumn]
    ) -> tuple[dict[str, str], str | None]:
        """Use a fuller person-like column where the detected one is often empty.

        When the detected person column is empty on more than 2% of the rows and another column
        named like a person id is filled on more of them, the fullest such column becomes the
        device id: the event's own id is the person column where set and the device column
        elsewhere, and a device id seen with a person id joins that person.
        """
        candidates = person_candidates(list(by_name), roles)
        if not candidates:
            return roles, None
        filled = [
            f"count(*) FILTER (WHERE NOT {blank(text_sql(stage_column(self._con, by_name[n])))})"
            for n in [roles["person"], *candidates]
        ]
        row = first_row(self._con, f"SELECT count(*), {', '.join(filled)} FROM {STAGE}")
        assert row is not None
        total, person_filled, *others = (int(v) for v in row)
        if total == 0 or total - person_filled <= SPARSE_PERSON * total:
            return roles, None
        best_filled, best = max(zip(others, candidates, strict=True), key=lambda fc: fc[0])
        if best_filled <= person_filled:
            return roles, None
        empty = 100 * (total - person_filled) / total
        note = (
            f"person: {roles['person']} where set, else {best} ({roles['person']} is empty on "
            f"{empty:.1f}% of rows); a {best} seen with a {roles['person']} joins that person; "
            f"to use one column, pass --person-col {best} (or --person-col {roles['person']})"
        )
        return {**roles, "device": best}, note

    def _plan_properties(self, columns: Sequence[StagedColumn], rows: int) -> list[PropertyPlan]:
        """Register new properties and widen existing ones so this file's values fit.

        A new property gets a column of its own while the store has fewer than
        MAX_PROPERTY_COLUMNS of them, and lives in the ``more_properties`` map beyond (see
        store/schema.py), as does a sparse JSON key (:func:`_sparse`); a property keeps its
        place for good."""
        registry = property_columns(self._con)
        in_columns = [column for column, _ in registry.values() if column is not None]
        used = {c.lower() for c in STORE_COLUMNS} | {c.lower() for c in in_columns}
        free = MAX_PROPERTY_COLUMNS - len(in_columns)
        plans = []
        added: list[tuple[str, str | None, str]] = []
        for col in columns:
            target: str | None
            if col.name in registry:
                target, old = registry[col.name]
                new = widen(old, col.value_type)
                if new == DOUBLE and self._loses_digits_as_double(col, target, old):
                    new = VARCHAR  # integers beyond 2**53 would change as DOUBLE
                if new != old:
                    if target is not None:  # values in the map are text: read as the new type
                        self._con.execute(
                            f"ALTER TABLE events ALTER COLUMN {quote_ident(target)} TYPE {new}"
                        )
                    self._con.execute(
                        "UPDATE event_properties SET type = ? WHERE name = ?", [new, col.name]
                    )
            else:
                target, new = None, col.value_type or VARCHAR
                if free > 0 and not _sparse(col, rows):
                    target, free = column_name(col.name, used), free - 1
                    used.add(target.lower())
                    self._con.execute(f"ALTER TABLE events ADD COLUMN {quote_ident(target)} {new}")
                added.append((col.name, target, new))
            if target is not None:  # read as a column: a long-staged one is copied to STAGE
                col = stage_column(self._con, col)
            plans.append(PropertyPlan(col, target, col.value_type or new, new))
        if added:  # one statement: a file may bring thousands
            names, targets, kinds = (list(values) for values in zip(*added, strict=True))
            execute_with_table(
                self._con,
                "_fs_new_properties",
                pa.table(
                    {"name": names, "column_name": pa.array(targets, pa.string()), "type": kinds}
                ),
                "INSERT INTO event_properties SELECT name, column_name, type "
                "FROM _fs_new_properties",
            )
        return plans

    def _loses_digits_as_double(self, col: StagedColumn, target: str | None, old: str) -> bool:
        """Whether widening BIGINT+DOUBLE to DOUBLE would change a stored or staged integer."""
        stored = quote_ident(target) if target is not None else map_read(col.name, BIGINT)
        if old == BIGINT and self._beyond_double(stored):
            return True
        if col.value_type != BIGINT:
            return False
        staged = stage_column(self._con, col)
        return self._beyond_double(value_sql(staged, BIGINT), STAGE)

    def _beyond_double(self, value: str, table: str = "events") -> bool:
        """Whether an integer ``value`` in ``table`` has a magnitude beyond 2**53."""
        limit = EXACT_DOUBLE
        return bool(
            count(
                self._con,
                f"SELECT count(*) FROM {table} WHERE NOT ({value} BETWEEN -{limit} AND {limit})",
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
        given = f"NOT {blank('n.__given_id')}"
        if count(self._con, f"SELECT count(*) FROM {STORED} WHERE NOT same"):
            self._con.execute(
                f"UPDATE {NORM} AS n SET __reason = {used} || "
                f"{sql_string('already in the store)' + hint)} "
                f"WHERE n.__reason IS NULL AND {given} "
                f"AND n.__line IN (SELECT __line FROM {STORED} WHERE NOT same)"
            )
        of_file = f" of {source})" + hint
        colliding = (
            f"SELECT event_id FROM {NORM} AS n WHERE __reason IS NULL AND {given} "
            f"AND event_id IN (SELECT event_id FROM {REPEATED}) "
            "GROUP BY event_id HAVING count(*) > 1"
        )
        firsts = (
            "SELECT event_id, min(__line) AS first_line, "
            "arg_min(person_id, __line) AS person_id, arg_min(event, __line) AS event, "
            'arg_min("timestamp", __line) AS "timestamp" '
            f"FROM {NORM} AS n WHERE __reason IS NULL AND {given} "
            f"AND event_id IN ({colliding}) "
            f"AND __line NOT IN (SELECT __line FROM {STORED}) GROUP BY event_id"
        )
        self._con.execute(
            f"UPDATE {NORM} AS n SET __reason = {used} || 'line ' || f.first_line || "
            f"{sql_string(of_file)} FROM ({firsts}) AS f "
            f"WHERE n.event_id = f.event_id AND n.__reason IS NULL AND {given} "
            "AND n.__line > f.first_line AND NOT (n.person_id = f.person_id "
            'AND n.event = f.event AND n."timestamp" = f."timestamp")'
        )

    def _quarantine_bad_rows(
        self, source: str, staged: StagedFile, load_id: int
    ) -> tuple[int, int]:
        """Collect this file's bad rows in BAD and add the new ones to the quarantine table,
        except those holding a forgotten id (never stored). Returns (quarantined, skipped)."""
        kept = next((c for c in staged.columns if c.name == RAW), None)
        if kept is not None:
            raw = f"CAST(s.{stage_column(self._con, kept).ident} AS VARCHAR"
        else:
            raw = f"CAST({row_json_sql(staged.columns)} AS VARCHAR"
        long_values = ""
        if any(c.long for c in staged.columns):
            long_values = f"LEFT JOIN ({long_values_sql(staged.columns)}) AS l USING (__line) "
        self._con.execute(f"CREATE TEMP TABLE {BAD} (line BIGINT, reason VARCHAR, raw VARCHAR)")
        if staged.columns and count(
            self._con, f"SELECT count(*) FROM {NORM} WHERE __reason IS NOT NULL"
        ):
            self._con.execute(
                f"INSERT INTO {BAD} SELECT n.__line, n.__reason, {raw}) "
                f"FROM {NORM} n JOIN {STAGE} s USING (__line) {long_values}"
                "WHERE n.__reason IS NOT NULL"
            )
        if not staged.columns:
            # rows without a single field (JSON ``{}``): no person column exists to name
            self._con.execute(
                f"INSERT INTO {BAD} SELECT __line, {sql_string(MISSING_PERSON)}, '{{}}' "
                f"FROM {STAGE}"
            )
        if staged.malformed:
            self._add_malformed(staged.malformed)
        forgotten = skip_forgotten_bad_rows(self._con, BAD)
        self._con.execute(
            f"INSERT INTO quarantine SELECT ?, b.line, b.reason, b.raw, "
            f"timezone('UTC', now()), ? FROM {BAD} b WHERE NOT EXISTS (SELECT 1 FROM quarantine q "
            "WHERE (q.load_id = ? OR (q.load_id IS NULL AND q.source = ?)) AND q.line = b.line "
            "AND q.raw IS NOT DISTINCT FROM b.raw)",
            [source, load_id, load_id, source],
        )
        return count(self._con, f"SELECT count(*) FROM {BAD}"), forgotten

    def _add_malformed(self, malformed: Sequence[Malformed]) -> None:
        table = pa.table(
            {
                "line": pa.array([m.line for m in malformed], pa.int64()),
                "reason": pa.array([m.reason for m in malformed], pa.string()),
                "raw": pa.array([m.raw for m in malformed], pa.string()),
            }
        )
        execute_with_table(
            self._con,
            "_fs_malformed",
            table,
            f"INSERT INTO {BAD} SELECT line, reason, raw FROM _fs_malformed",
        )

    def _insert_events(self, plans: Sequence[PropertyPlan], load_id: int) -> int:
        """Insert valid rows whose event_id is new (to the store and earlier in the file)."""
        targets = "".join(
            f", {quote_ident(p.target_column)}" for p in plans if p.target_column is not None
        )
        values = "".join(f", n.p{i}" for i, p in enumerate(plans) if p.target_column is not None)
        if any(p.target_column is None for p in plans):
            targets += f", {MORE_PROPERTIES}"
            values += ", n.__more"
        add_persons(self._con, f"SELECT DISTINCT person_id FROM {NORM} WHERE __reason IS NULL")
        # An id on several valid rows (copies of one event) is inserted from its first line.
        # Only the repeated ids are grouped: a window over every row's id would sort the file.
        valid = "__reason IS NULL AND NOT __link_only"
        self._con.execute(
            f"CREATE TEMP TABLE {REPEATS} AS SELECT n.__line FROM {NORM} n JOIN "
            f"(SELECT event_id, min(__line) AS first_line FROM {NORM} WHERE {valid} "
            f"AND event_id IN (SELECT event_id FROM {REPEATED}) "
            "GROUP BY event_id HAVING count(*) > 1) f "
            f"ON n.event_id = f.event_id AND n.__line > f.first_line WHERE n.{valid}"
        )
        later_copies = (  # a hash anti-join on the line, and none at all in the usual case
            f"AND NOT EXISTS (SELECT 1 FROM {REPEATS} r WHERE r.__line = n.__line)"
            if count(self._con, f"SELECT count(*) FROM {REPEATS}")
            else ""
        )
        row = self._con.execute(
            "INSERT INTO events "
            '(event_id, person_id, event, "timestamp", session_id, load_id, person_key, '
            f"distinct_id{targets}) "
            'SELECT n.event_id, n.person_id, n.event, n."timestamp", n.session_id, '
            f"{int(load_id)}, k.person_key, n.person_id{values} "
            f"FROM {NORM} n JOIN persons k ON k.person_id = n.person_id WHERE __reason IS NULL "
            "AND NOT n.__link_only "
            f"AND NOT EXISTS (SELECT 1 FROM {STORED} s WHERE s.__line = n.__line) "
            f"{later_copies}"
        ).fetchone()
        return int(row[0]) if row else 0


_ROLE_KEYS: Final = {
    "person": PERSON,
    "device": DEVICE,
    "link_kind": LINK_KIND,
    "link_only": LINK_ONLY,
    "event": EVENT,
    "time": TIME_KEY,
    "id": EVENT_ID,
    "session": SESSION_KEY,
}


def _sparse(column: StagedColumn, rows: int) -> bool:
    """A JSON key set on fewer than SPARSE_SHARE of a file's rows (of SPARSE_MIN_ROWS or
    more): it goes to the map even while columns are free, so thousands of rare keys do not
    take the store's columns. Keys staged as rows (beyond a file's first) always do."""
    if column.long:
        return True
    if column.filled is None or rows < SPARSE_MIN_ROWS:
        return False
    return column.filled < SPARSE_SHARE * rows


def _layout_of(path: Path, fmt: SourceFormat, mapping: ColumnMapping) -> Layout | None:
    """The layout named by the mapping, or the one the file's first record shows (None:
    plain columns)."""
    if mapping.layout == GENERIC:
        return None
    if mapping.layout is not None:
        return LAYOUTS[mapping.layout]
    first = first_record(path, fmt)
    return None if first is None else recognise(first)


def _layout_roles(layout: Layout, by_name: dict[str, StagedColumn]) -> dict[str, StagedColumn]:
    """The staged columns of a layout's core fields, named for messages by their source field."""
    roles = {}
    for role, key in _ROLE_KEYS.items():
        column = by_name.get(key)
        if column is not None:
            roles[role] = dataclass_replace(column, name=layout.fields.get(key, column.name))
    return roles
