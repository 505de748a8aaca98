"""Loading files into a ClickHouse store, through the DuckDB store's own ingest.

The files are read, recognised, checked, de-duplicated within the run and stitched by
store/ingest.py into a scratch DuckDB store in a temporary directory (the very code a DuckDB
store loads with: one parser, one set of quarantine rules). Then, file by file's load:

1. the scratch store is seeded with the ClickHouse store's identity links first, so a new event
   resolves to the person earlier links name; when this run's links would move ids whose events
   are stored already, the run is refused before anything is written (stored events are not
   moved yet);
2. the valid events go to a staging table in ClickHouse in Arrow batches (bounded memory), and
   from there into ``events`` except those whose event id is stored already (an anti-join on
   the server: loading a file again adds nothing); an id stored for a different event (person,
   name or time) is quarantined, as the DuckDB store does;
3. quarantined rows, identity links and the loads are appended to their tables.

ClickHouse has no transactions: a run that stops half-way can be run again, and adds only what
is missing (the anti-join) — except quarantined rows and links, which are kept once per
(load, line) and (pair, load).
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from funnelscope.errors import IngestError
from funnelscope.model.identities import Resolution
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.clickhouse.connection import quote_name
from funnelscope.store.clickhouse.store import (
    CLICKHOUSE_TYPES,
    EVENT_COLUMNS,
    STORE_TYPES,
    ClickHouseStore,
)
from funnelscope.store.event_store import EventStore
from funnelscope.store.identities import apply_identities, current_resolution
from funnelscope.store.ingest import (
    FileReport,
    IngestReport,
    PartialIngestError,
    check_mapping,
)
from funnelscope.store.ingest_sql import widen
from funnelscope.store.mapping import ColumnMapping, options_diff
from funnelscope.store.schema import absolute, property_reads
from funnelscope.store.staging import BIGINT, DOUBLE, EXACT_DOUBLE, VARCHAR, first_row

BATCH_ROWS: Final = 100_000  # events per Arrow batch sent to ClickHouse
STITCH_HINT: Final = (
    "the ClickHouse store stitches identities when events are loaded and does not move stored "
    "events yet: load the files that link these ids in the same ingest as their events (into a "
    "fresh database), or use a DuckDB store (--db PATH.duckdb)"
)


def load_files(
    store: ClickHouseStore,
    paths: Sequence[str | Path],
    mapping: ColumnMapping,
    *,
    progress: bool = False,
    replace: bool = False,
) -> IngestReport:
    """Load `paths` into `store` (see the module's docstring). Raises PartialIngestError (an
    IngestError) after loading the others when some files could not be read."""
    check_options(mapping, replace)
    store.create_schema()
    failures: list[IngestError] = []
    loads = _stored_loads(store)
    options = mapping.canonical()
    kept: list[str] = []
    for path in paths:
        other = [
            opts
            for source, opts in loads.values()
            if source == absolute(str(path)) and not ColumnMapping.same_options(opts, options)
        ]
        if other:
            failures.append(
                IngestError(
                    str(path),
                    f"was loaded before with other options ({options_diff(other[-1], options)})",
                    "load it with the same options, or into a fresh database",
                )
            )
        else:
            kept.append(str(path))
    with (
        tempfile.TemporaryDirectory(prefix="funnelscope-clickhouse-") as scratch,
        EventStore(Path(scratch) / "staging.duckdb") as staging,
    ):
        con = staging.connection
        before = _seed_links(store, con)
        report = IngestReport(())
        if kept:
            try:
                report = staging.ingest(kept, mapping, progress=progress)
            except PartialIngestError as exc:
                report, failures = exc.report, [*failures, *exc.failures]
        _refuse_moves(store, before, current_resolution(con), report)
        report = _copy(store, con, report, loads)
    if failures:
        raise PartialIngestError(failures, report)
    return report


def check_options(mapping: ColumnMapping, replace: bool) -> None:
    """Refuse options no load into a ClickHouse store could use, before anything is made."""
    check_mapping(mapping)
    if replace:
        raise IngestError(
            "--replace",
            "is not supported for a ClickHouse store yet",
            "load the files into a fresh database (clickhouse://.../NEW_DATABASE)",
        )


def _stored_loads(store: ClickHouseStore) -> dict[int, tuple[str, str]]:
    """load_id -> (absolute source, options) of the loads in ClickHouse."""
    rows = store.connection.query(
        f"SELECT load_id, any(source) AS source, any(options) AS options "
        f"FROM {store.table('loads')} GROUP BY load_id"
    ).to_pylist()
    return {int(r["load_id"]): (str(r["source"]), str(r["options"])) for r in rows}


def _seed_links(store: ClickHouseStore, con: duckdb.DuckDBPyConnection) -> Resolution:
    """Copy the stored identity links into the scratch store (load_id NULL: not this run's) and
    resolve them, so this run's events go to the persons they name."""
    links = store.connection.query(
        "SELECT from_id, to_id, kind, toUnixTimestamp64Micro(linked_at) AS at_us, source, line "
        f"FROM {store.table('identity_links')}"
    )
    if links.num_rows:
        con.register("_fs_seed_links", links)
        try:
            con.execute(
                "INSERT INTO identity_links SELECT from_id, to_id, kind, make_timestamp(at_us), "
                "source, NULL, line FROM _fs_seed_links"
            )
        finally:
            con.unregister("_fs_seed_links")
        apply_identities(con)  # fills identity_map, so every file's load applies it
    return current_resolution(con)


def _refuse_moves(
    store: ClickHouseStore, before: Resolution, after: Resolution, report: IngestReport
) -> None:
    """Refuse a run whose links would put ids with stored events in another person."""
    ids = before.person_of.keys() | after.person_of.keys()
    moved = sorted(i for i in ids if before.person_of.get(i, i) != after.person_of.get(i, i))
    if not moved:
        return
    with _Scratch(store, [("id", "String")]) as scratch:
        store.connection.insert_arrow(scratch.name, pa.table({"id": pa.array(moved, pa.string())}))
        stored = store.connection.query(
            f"SELECT DISTINCT distinct_id FROM {store.table('events')} "
            f"WHERE distinct_id IN (SELECT id FROM {scratch.sql}) ORDER BY distinct_id LIMIT 3"
        ).to_pylist()
    if stored:
        files = [f.source for f in report.files if f.links_added] or ["these files"]
        example = ", ".join(repr(str(r["distinct_id"])) for r in stored)
        raise IngestError(
            files[0],
            f"links ids whose events are stored already to another person ({example}); "
            "nothing was loaded",
            STITCH_HINT,
        )


class _Scratch:
    """A table of the store's database for one step of a load, dropped afterwards."""

    def __init__(self, store: ClickHouseStore, columns: Sequence[tuple[str, str]]) -> None:
        self.store = store
        self.name = f"_fs_scratch_{uuid.uuid4().hex}"
        self.sql = store.table(self.name)
        listed = ", ".join(f"{quote_name(name)} {kind}" for name, kind in columns)
        store.connection.command(
            f"CREATE TABLE {self.sql} ({listed}) ENGINE = MergeTree ORDER BY tuple()"
        )

    def __enter__(self) -> _Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.connection.command(f"DROP TABLE IF EXISTS {self.sql}")


def _copy(
    store: ClickHouseStore,
    con: duckdb.DuckDBPyConnection,
    report: IngestReport,
    loads: dict[int, tuple[str, str]],
) -> IngestReport:
    """Move the scratch store's events, quarantine, links and loads to ClickHouse; the report
    with each file's counts as ClickHouse took them."""
    load_map = _load_ids(con, loads)
    if not load_map:
        return report
    con.register(
        "_fs_load_map",
        pa.table(
            {
                "stage_load": pa.array(list(load_map), pa.int64()),
                "ch_load": pa.array(list(load_map.values()), pa.int64()),
            }
        ),
    )
    try:
        columns = _plan_properties(store, con)
        skipped, conflicts = _copy_events(store, con, columns)
        quarantined = _copy_quarantine(store, con, conflicts)
        _copy_links(store, con)
        files = []
        for file in report.files:  # a file given twice shares its load: counted at the first
            ch_load = _file_load(con, file.source, load_map)
            bad = [row for row in quarantined if row[0] == ch_load]
            quarantined = [row for row in quarantined if row[0] != ch_load]
            dup = min(skipped.get(ch_load, 0), file.rows_loaded - len(bad))
            skipped[ch_load] = skipped.get(ch_load, 0) - dup
            corrected = replace(
                file,
                rows_loaded=file.rows_loaded - dup - len(bad),
                duplicates_skipped=file.duplicates_skipped + dup,
                rows_quarantined=file.rows_quarantined + len(bad),
                bad_rows=(*file.bad_rows, *(row[1] for row in bad))[:20],
            )
            files.append(corrected)
            _add_load(store, con, corrected, ch_load)
        return IngestReport(tuple(files))
    finally:
        con.unregister("_fs_load_map")


def _load_ids(con: duckdb.DuckDBPyConnection, loads: dict[int, tuple[str, str]]) -> dict[int, int]:
    """Scratch load id -> ClickHouse load id: the stored load of the same file and options, or
    a new id."""
    mapping: dict[int, int] = {}
    following = max(loads, default=0) + 1
    for load_id, source, options in con.execute(
        "SELECT load_id, source, options FROM loads ORDER BY load_id"
    ).fetchall():
        same = [
            ch
            for ch, (s, o) in loads.items()
            if s == source and ColumnMapping.same_options(o, str(options))
        ]
        if same:
            mapping[int(load_id)] = same[0]
        else:
            mapping[int(load_id)] = following
            following += 1
    return mapping


def _file_load(con: duckdb.DuckDBPyConnection, source: str, load_map: dict[int, int]) -> int:
    row = first_row(con, "SELECT max(load_id) FROM loads WHERE source = ?", [absolute(source)])
    return load_map.get(int(row[0]), -1) if row and row[0] is not None else -1


def _plan_properties(
    store: ClickHouseStore, con: duckdb.DuckDBPyConnection
) -> list[tuple[str, str, str]]:
    """(SQL reading the property in the scratch store, its ClickHouse column, the DuckDB type it
    is sent as) per property of this run: new ones get a column, widened ones a new type."""
    stored = store.properties()
    versions = {
        str(r["name"]): int(r["v"])
        for r in store.connection.query(
            f"SELECT name, max(version) AS v FROM {store.table('event_properties')} GROUP BY name"
        ).to_pylist()
    }
    used = {column for column, _ in stored.values()}
    planned = []
    catalog: list[tuple[str, str, str, int]] = []
    for name, (read, kind) in sorted(property_reads(con).items()):
        if name in stored:
            column, ch_kind = stored[name]
            old = STORE_TYPES[ch_kind]
            new = widen(old, kind)
            if new == DOUBLE and BIGINT in (old, kind) and _beyond_double(store, con, column, read):
                new = VARCHAR  # integers beyond 2**53 would change as DOUBLE
            if new != old:
                store.connection.command(
                    f"ALTER TABLE {store.table('events')} MODIFY COLUMN {quote_name(column)} "
                    f"Nullable({CLICKHOUSE_TYPES[new]}) SETTINGS mutations_sync = 2"
                )
                catalog.append((name, column, CLICKHOUSE_TYPES[new], versions.get(name, 0) + 1))
        else:
            n = len(used)
            while f"p{n}" in used:
                n += 1
            column, new = f"p{n}", kind if kind in CLICKHOUSE_TYPES else VARCHAR
            used.add(column)
            store.connection.command(
                f"ALTER TABLE {store.table('events')} ADD COLUMN IF NOT EXISTS "
                f"{quote_name(column)} Nullable({CLICKHOUSE_TYPES[new]})"
            )
            catalog.append((name, column, CLICKHOUSE_TYPES[new], 1))
        planned.append((read, column, new))
    if catalog:
        names, columns, kinds, numbers = (list(v) for v in zip(*catalog, strict=True))
        store.connection.insert_arrow(
            "event_properties",
            pa.table(
                {
                    "name": pa.array(names, pa.string()),
                    "column": pa.array(columns, pa.string()),
                    "type": pa.array(kinds, pa.string()),
                    "version": pa.array(numbers, pa.uint64()),
                }
            ),
        )
    return planned


def _beyond_double(
    store: ClickHouseStore, con: duckdb.DuckDBPyConnection, column: str, read: str
) -> bool:
    """Whether a stored or scratch integer of this property has a magnitude beyond 2**53."""
    limit = EXACT_DOUBLE
    stored = store.connection.query(
        f"SELECT count() AS n FROM {store.table('events')} WHERE {quote_name(column)} "
        f"IS NOT NULL AND NOT (toFloat64({quote_name(column)}) BETWEEN -{limit} AND {limit})"
    )
    if int(stored.column("n")[0].as_py()):
        return True
    row = first_row(
        con,
        f"SELECT count(*) FROM events WHERE TRY_CAST({read} AS BIGINT) IS NOT NULL "
        f"AND NOT (TRY_CAST({read} AS BIGINT) BETWEEN -{limit} AND {limit})",
    )
    return bool(row and row[0])


def _copy_events(
    store: ClickHouseStore,
    con: duckdb.DuckDBPyConnection,
    properties: Sequence[tuple[str, str, str]],
) -> tuple[dict[int, int], list[dict[str, object]]]:
    """Send the scratch events to ClickHouse through a staging table; insert those whose id is
    new. Returns the ids stored already per load, and the rows whose id a different stored
    event has."""
    kinds = dict(EVENT_COLUMNS)
    columns = [*kinds, *(column for _, column, _ in properties)]
    staged_kinds = [*kinds.values(), *(f"Nullable({CLICKHOUSE_TYPES[k]})" for *_, k in properties)]
    reads = "".join(f", CAST({read} AS {kind})" for read, _, kind in properties)
    select = (
        'SELECT e.person_id, e.event_id, e.event, epoch_us(e."timestamp"), '
        "coalesce(e.distinct_id, e.person_id), e.session_id, m.ch_load"
        f"{reads} FROM events e JOIN _fs_load_map m ON m.stage_load = e.load_id"
    )
    events = store.table("events")
    listed = ", ".join(quote_name(c) for c in columns)
    with _Scratch(store, list(zip(columns, staged_kinds, strict=True))) as scratch:
        reader = con.sql(select).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            store.connection.insert_arrow(
                scratch.name, pa.Table.from_batches([batch]).rename_columns(columns)
            )
        stored_ids = (
            f"(SELECT event_id FROM {events} "
            f"WHERE event_id IN (SELECT event_id FROM {scratch.sql}))"
        )
        skipped = {
            int(r["load_id"]): int(r["n"])
            for r in store.connection.query(
                f"SELECT s.load_id AS load_id, count() AS n FROM {scratch.sql} AS s "
                f"WHERE s.event_id IN {stored_ids} GROUP BY s.load_id"
            ).to_pylist()
        }
        conflicts = store.connection.query(
            "SELECT s.load_id AS load_id, s.event_id AS event_id, s.distinct_id AS person, "
            f"s.event AS event, s.ts AS ts FROM {scratch.sql} AS s "
            f"INNER JOIN (SELECT event_id, distinct_id, event, ts FROM {events} "
            f"WHERE event_id IN (SELECT event_id FROM {scratch.sql})) AS e "
            "ON e.event_id = s.event_id "
            "WHERE NOT (e.distinct_id = s.distinct_id AND e.event = s.event AND e.ts = s.ts) "
            "ORDER BY load_id, event_id"
        ).to_pylist()
        for row in conflicts:
            load = int(str(row["load_id"]))
            skipped[load] = skipped.get(load, 0) - 1
        store.connection.command(
            f"INSERT INTO {events} ({listed}) SELECT {listed} FROM {scratch.sql} "
            f"WHERE event_id NOT IN {stored_ids}"
        )
    return skipped, conflicts


def _copy_quarantine(
    store: ClickHouseStore, con: duckdb.DuckDBPyConnection, conflicts: list[dict[str, object]]
) -> list[tuple[int, BadRow]]:
    """Append the run's quarantined rows not kept already, and the id conflicts (line 0: the
    line is not known once the row went through the scratch store); returns the conflicts."""
    rows = con.execute(
        "SELECT q.source, q.line, q.reason, coalesce(q.raw, ''), m.ch_load "
        "FROM quarantine q JOIN _fs_load_map m ON m.stage_load = q.load_id"
    ).fetchall()
    sources = dict(
        con.execute(
            "SELECT m.ch_load, any_value(q.source) FROM quarantine q "
            "JOIN _fs_load_map m ON m.stage_load = q.load_id GROUP BY ALL"
        ).fetchall()
    )
    found: list[tuple[int, BadRow]] = []
    for row in conflicts:
        load = int(str(row["load_id"]))
        source = str(sources.get(load) or _source_of(con, load))
        reason = (
            f"event_id '{row['event_id']}' is already used by a different event (already in the "
            "ClickHouse store); map a column that is unique per event with --id-col, or leave "
            "--id-col out so ids are derived"
        )
        raw = json.dumps(
            {k: row[k] for k in ("event_id", "person", "event", "ts")}, ensure_ascii=False
        )
        rows.append((source, 0, reason, raw, load))
        found.append((load, BadRow(source, 0, reason, raw)))
    if not rows:
        return found
    table = pa.table(
        {
            "source": pa.array([str(r[0]) for r in rows], pa.string()),
            "line": pa.array([int(r[1]) for r in rows], pa.int64()),
            "reason": pa.array([str(r[2]) for r in rows], pa.string()),
            "raw": pa.array([str(r[3]) for r in rows], pa.string()),
            "load_id": pa.array([int(r[4]) for r in rows], pa.int64()),
        }
    )
    quarantine = store.table("quarantine")
    with _Scratch(
        store,
        [
            ("source", "String"),
            ("line", "Int64"),
            ("reason", "String"),
            ("raw", "String"),
            ("load_id", "Int64"),
        ],
    ) as scratch:
        store.connection.insert_arrow(scratch.name, table)
        store.connection.command(
            f"INSERT INTO {quarantine} (source, line, reason, raw, ingested_at, load_id) "
            f"SELECT source, line, reason, raw, now64(6, 'UTC'), load_id FROM {scratch.sql} "
            f"WHERE (load_id, line, raw) NOT IN (SELECT load_id, line, raw FROM {quarantine})"
        )
    return found


def _source_of(con: duckdb.DuckDBPyConnection, ch_load: int) -> str:
    row = first_row(
        con,
        "SELECT l.source FROM loads l JOIN _fs_load_map m ON m.stage_load = l.load_id "
        "WHERE m.ch_load = ?",
        [ch_load],
    )
    return str(row[0]) if row else ""


def _copy_links(store: ClickHouseStore, con: duckdb.DuckDBPyConnection) -> None:
    """Append this run's identity links that are not stored for their load already."""
    links = con.sql(
        "SELECT l.from_id, l.to_id, l.kind, epoch_us(l.linked_at) AS at_us, "
        "coalesce(l.source, '') AS source, m.ch_load AS load_id, coalesce(l.line, 0) AS line "
        "FROM identity_links l JOIN _fs_load_map m ON m.stage_load = l.load_id"
    ).to_arrow_table()
    if not links.num_rows:
        return
    known = {
        (str(r["from_id"]), str(r["to_id"]), int(r["load_id"]))
        for r in store.connection.query(
            f"SELECT from_id, to_id, load_id FROM {store.table('identity_links')}"
        ).to_pylist()
    }
    rows = [
        r
        for r in links.to_pylist()
        if (str(r["from_id"]), str(r["to_id"]), int(r["load_id"])) not in known
    ]
    if not rows:
        return
    store.connection.insert_arrow(
        "identity_links",
        pa.table(
            {
                "from_id": pa.array([r["from_id"] for r in rows], pa.string()),
                "to_id": pa.array([r["to_id"] for r in rows], pa.string()),
                "kind": pa.array([r["kind"] for r in rows], pa.string()),
                "linked_at": pa.array([r["at_us"] for r in rows], pa.timestamp("us", "UTC")),
                "source": pa.array([r["source"] for r in rows], pa.string()),
                "load_id": pa.array([r["load_id"] for r in rows], pa.int64()),
                "line": pa.array([r["line"] for r in rows], pa.int64()),
            }
        ),
    )


def _add_load(
    store: ClickHouseStore, con: duckdb.DuckDBPyConnection, file: FileReport, ch_load: int
) -> None:
    row = first_row(
        con,
        "SELECT source, size, options FROM loads WHERE source = ? ORDER BY load_id DESC LIMIT 1",
        [absolute(file.source)],
    )
    if row is None or ch_load < 0:
        return
    store.connection.insert_arrow(
        "loads",
        pa.table(
            {
                "load_id": pa.array([ch_load], pa.int64()),
                "source": pa.array([str(row[0])], pa.string()),
                "size": pa.array([int(row[1])], pa.int64()),
                "options": pa.array([str(row[2])], pa.string()),
                "loaded_at": pa.array([datetime.now(UTC)], pa.timestamp("us", "UTC")),
                "rows_loaded": pa.array([file.rows_loaded], pa.int64()),
            }
        ),
    )
