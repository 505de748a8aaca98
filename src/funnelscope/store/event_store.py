"""The DuckDB event store: opened, queried, its quarantine listed and loads forgotten; events
are loaded by store/ingest.py, and the tables are described in store/schema.py."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import pyarrow as pa

from funnelscope.errors import FunnelscopeError, IngestError
from funnelscope.model.events import scan_column
from funnelscope.model.identities import MANUAL, Link
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.event_columns import EventColumns
from funnelscope.store.identities import (
    IdentityChange,
    IdentityMapLoad,
    IdentityOverview,
    PersonIdentity,
    add_link,
    apply_identities,
    identity_overview,
    person_identity,
    read_mapping_file,
    rejoin,
    set_apart,
)
from funnelscope.store.ingest import IngestReport, Loader, check_mapping
from funnelscope.store.locking import connect, is_held
from funnelscope.store.mapping import ColumnMapping
from funnelscope.store.privacy import ForgottenIds, PersonsForgotten, forget_persons
from funnelscope.store.rewrite import Rewrite, rewrite_file
from funnelscope.store.schema import (
    absolute,
    check_schema,
    count,
    create_schema,
    has_column,
    has_core_column,
    property_reads,
    remove_loads,
    transaction,
    upgrade_schema,
)
from funnelscope.store.sources import OwnConnection
from funnelscope.store.sql_text import quote_ident
from funnelscope.store.staging import first_row

DEFAULT_MAPPING: Final = ColumnMapping()  # every column detected, times read in UTC


@dataclass(frozen=True)
class LoadInfo:
    """One load of a source file: which options it was read with and how many events it added."""

    load_id: int
    source: str  # absolute, resolved path
    options: str  # canonical JSON of the ColumnMapping
    loaded_at: datetime  # UTC
    rows_loaded: int

    def to_dict(self) -> dict[str, Any]:
        """As `funnelscope sources --format json` lists it (options as an object)."""
        return {
            "source": self.source,
            "events": self.rows_loaded,
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
            "options": json.loads(self.options),
        }


class EventStore(OwnConnection):
    """Events in a DuckDB file (or ``":memory:"``), ingested from CSV, JSON Lines or Parquet."""

    def __init__(self, path: str | Path = "funnelscope.duckdb", *, read_only: bool = False) -> None:
        self._path, self._read_only = str(path), read_only
        self._con = self._connect()
        if not read_only:
            create_schema(self._con)
        check_schema(self._con, path)
        if not read_only:
            upgrade_schema(self._con)
        self._has_loads = has_core_column(self._con, "load_id") and has_column(
            self._con, "loads", "load_id"
        )

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            con = connect(self._path, self._read_only)
        except duckdb.Error as exc:
            raise FunnelscopeError(
                f"cannot open the event store {self._path}: {exc}",
            ) from exc
        # DuckDB draws its own progress bar on stdout past 2 s, which would break --format json
        con.execute("SET enable_progress_bar = false")
        return con

    def rewrite(self) -> Rewrite | None:
        """Rewrite the store's file so that the bytes of deleted rows leave it (store/rewrite.py);
        the store stays open. None for a store in memory, which has no file."""
        if self._path == ":memory:" or self._read_only:
            return None
        if is_held(self._path):
            raise FunnelscopeError(
                f"the event store {self._path} is held open by a running `funnelscope serve`: "
                "stop the server, then run this again (its file cannot be rewritten under it)"
            )
        self._con.execute("CHECKPOINT")  # empties the write-ahead log into the file
        self._con.close()
        try:
            return rewrite_file(Path(self._path))
        finally:
            self._con = self._connect()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The store's connection (the same as `duckdb_connection`, which engines use)."""
        return self._con

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

    # ------------------------------------------------------------ queries

    def count_events(self) -> int:
        return count(self._con, "SELECT count(*) FROM events")

    def event_counts(self) -> dict[str, int]:
        """Event name -> number of events with that name."""
        rows = self._con.execute("SELECT event, count(*) FROM events GROUP BY event").fetchall()
        return {str(name): int(count) for name, count in rows}

    def not_numeric(self, name: str) -> tuple[int, str | None]:
        """For a text property: how many values are not plain decimal numbers, and one of them
        (numeric filters skip such values, e.g. '1,049.00')."""
        registry = property_reads(self._con)
        if name not in registry or registry[name][1] != "VARCHAR":
            return 0, None
        column = registry[name][0]
        row = self._con.execute(
            f"SELECT count(*), min({column}) FROM events WHERE {column} IS NOT NULL AND NOT "
            f"regexp_full_match(trim({column}), "
            "'[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?')"
        ).fetchone()
        return (int(row[0]), row[1]) if row else (0, None)

    def last_event_us(self, names: Sequence[str]) -> int | None:
        """The time (µs) of the last event with one of these names (None: there is none)."""
        marks = ", ".join("?" for _ in names)
        row = first_row(
            self._con,
            f'SELECT epoch_us(max("timestamp")) FROM events WHERE event IN ({marks})',
            list(names),
        )
        return None if row is None or row[0] is None else int(row[0])

    def property_types(self) -> dict[str, str]:
        """Property name -> DuckDB type of its column."""
        rows = self._con.execute("SELECT name, type FROM event_properties ORDER BY name").fetchall()
        return {str(name): str(kind) for name, kind in rows}

    def quarantine(
        self, source: str | None = None, limit: int | None = None, older_than: int | None = None
    ) -> list[BadRow]:
        """Quarantined rows (with their raw text), ordered by source and line.

        ``source`` may be the path as given at ingest, its absolute path, or its file name alone
        when only one loaded file has that name. ``limit`` must be 0 or more. ``older_than``
        (seconds) keeps the rows quarantined longer ago than that.
        """
        if limit is not None and limit < 0:
            raise IngestError(
                "limit", f"limit must be 0 or more, got {limit}", "leave it out to list every row"
            )
        where, params = self._quarantine_filter(source, older_than)
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

    def quarantine_count(self, source: str | None = None, older_than: int | None = None) -> int:
        """How many rows are quarantined (for ``source`` and ``older_than`` as
        :meth:`quarantine` takes them)."""
        where, params = self._quarantine_filter(source, older_than)
        return count(self._con, f"SELECT count(*) FROM quarantine{where}", params)

    def delete_quarantine(self, source: str | None = None, older_than: int | None = None) -> int:
        """Delete the quarantined rows :meth:`quarantine` would list; returns how many. Their
        bytes stay in the file until :meth:`rewrite`."""
        where, params = self._quarantine_filter(source, older_than)
        with transaction(self._con):
            row = self._con.execute(f"DELETE FROM quarantine{where}", params).fetchone()
        return int(row[0]) if row else 0

    def _quarantine_filter(
        self, source: str | None, older_than: int | None
    ) -> tuple[str, list[object]]:
        conditions: list[str] = []
        params: list[object] = []
        if source is not None:
            names = self._matching_sources(source)
            conditions.append(f"source IN ({', '.join('?' * len(names))})" if names else "false")
            params += names
        if older_than is not None:  # rows of stores before ingested_at was kept have none
            conditions.append(
                "ingested_at < timezone('UTC', now()) - to_seconds(CAST(? AS BIGINT))"
            )
            params.append(older_than)
        return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), params

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
            (str(given), str(full) if full is not None else absolute(str(given)))
            for given, full in rows
        ]

    def _matching_sources(self, source: str) -> list[str]:
        """The stored source names meaning ``source``: as given, its absolute path, or basename."""
        known = self._known_sources()
        exact = sorted({given for given, _ in known if given == source})
        if exact:
            return exact
        full = absolute(source)
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
        with transaction(self._con):
            removed = remove_loads(self._con, load_ids)
            apply_identities(self._con)
            # ids only this source brought: their person keys go too (a later load adds anew)
            self._con.execute(
                "DELETE FROM persons WHERE person_id NOT IN (SELECT person_id FROM events) "
                "AND person_id NOT IN (SELECT person_id FROM identity_map)"
            )
            return removed

    def forget_persons(self, ids: Sequence[str]) -> PersonsForgotten:
        """Remove the persons of ``ids`` (each id and every id stitched to it): their events,
        links and quarantined rows, and keep their ids out of later loads (store/privacy.py).
        Their bytes stay in the file until :meth:`rewrite`."""
        with transaction(self._con):
            return forget_persons(self._con, ids)

    def _require_loads(self) -> None:
        if not self._has_loads:
            raise IngestError(
                "store",
                "this store has no loads registry (it was opened read-only before an upgrade)",
                "open it once without read_only to upgrade it",
            )

    def _loads_of(self, source: str) -> list[int]:
        rows = self._con.execute(
            "SELECT load_id FROM loads WHERE source = ? ORDER BY load_id", [absolute(source)]
        ).fetchall()
        return [int(r[0]) for r in rows]

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
        registry = property_reads(self._con)
        select = ["person_id", "event_id", "event", 'epoch_us("timestamp") AS ts']
        for name in dict.fromkeys(properties):
            alias = quote_ident(scan_column(name))
            if name in registry:
                select.append(f"{registry[name][0]} AS {alias}")
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

    def columns(self, properties: Collection[str] = ()) -> EventColumns:
        """The events table as SQL sees it (every property; `properties` is for the Protocol:
        sources that read files in place build only the columns asked for)."""
        person = "person_key" if has_core_column(self._con, "person_key") else "person_id"
        return EventColumns(
            source="events",
            person=person,
            ts='epoch_us("timestamp")',
            event="event",
            event_id="event_id",
            properties=property_reads(self._con),
            integer_person=person == "person_key",
            session="session_id",
        )

    # ------------------------------------------------------------ identities

    def identities(self) -> IdentityOverview:
        """How many ids were merged into how many persons, and the links behind them."""
        return identity_overview(self._con)

    def identity(self, member: str) -> PersonIdentity:
        """The person `member` belongs to: its ids, the links that joined them, those set aside."""
        return person_identity(self._con, member)

    def unmerge(self, member: str) -> IdentityChange:
        """Set `member` apart: every link from or to it is ignored until :meth:`rejoin`."""
        self._require_known_id(member)
        with transaction(self._con):
            set_apart(self._con, member)
            return apply_identities(self._con)

    def rejoin(self, member: str) -> IdentityChange:
        """Undo :meth:`unmerge` of `member`."""
        with transaction(self._con):
            if not rejoin(self._con, member):
                raise IngestError(member, "was not unmerged", "list unmerged ids: identities")
            return apply_identities(self._con)

    def merge(self, member: str, into: str) -> IdentityChange:
        """Record by hand that `member` belongs to the person of `into`."""
        self._require_known_id(member)
        self._require_known_id(into)
        now = int(datetime.now(UTC).timestamp() * 1_000_000)
        with transaction(self._con):
            add_link(self._con, Link(member, into, MANUAL, now, "funnelscope identities --merge"))
            return apply_identities(self._con)

    def load_identity_map(self, path: str | Path) -> IdentityMapLoad:
        """Load a mapping file (id -> person) as explicit links, registered as a load so that
        `forget` removes them; rows without both ids are quarantined."""
        self._require_loads()
        source = str(path)
        full = absolute(source)
        if not Path(full).is_file():
            raise IngestError(source, "file not found", "check the path")
        now = datetime.now(UTC)
        links, bad = read_mapping_file(Path(full), source, int(now.timestamp() * 1_000_000))
        forgotten = ForgottenIds(self._con)
        kept = [
            (line, link)
            for line, link in links
            if link.from_id not in forgotten and link.to_id not in forgotten
        ]
        kept_bad = [row for row in bad if not forgotten.in_text(row.raw)]
        skipped = len(links) - len(kept) + len(bad) - len(kept_bad)
        links, bad = kept, kept_bad
        with transaction(self._con):
            for load_id in self._loads_of(source):
                remove_loads(self._con, [load_id])
            load_id = count(self._con, "SELECT nextval('load_ids')")
            self._con.execute(
                "INSERT INTO loads VALUES (?, ?, ?, ?, timezone('UTC', now()), 0)",
                [load_id, full, Path(full).stat().st_size, '{"identity_map": true}'],
            )
            for line, link in links:
                add_link(self._con, link, load_id, line)
            for row in bad:
                self._con.execute(
                    "INSERT INTO quarantine VALUES (?, ?, ?, ?, timezone('UTC', now()), ?)",
                    [source, row.line, row.reason, row.raw, load_id],
                )
            change = apply_identities(self._con)
        return IdentityMapLoad(source, len(links), tuple(bad), change, skipped)

    def _require_known_id(self, member: str) -> None:
        known = count(
            self._con,
            "SELECT EXISTS (SELECT 1 FROM events WHERE distinct_id = ?) "
            "OR EXISTS (SELECT 1 FROM identity_links WHERE from_id = ? OR to_id = ?)",
            [member, member, member],
        )
        if not known:
            raise IngestError(
                member,
                "is not an id of any event or link in the store",
                "ids are case-sensitive; list persons with: funnelscope identities",
            )

    # ------------------------------------------------------------ ingest

    def ingest(
        self,
        paths: Sequence[str | Path],
        mapping: ColumnMapping = DEFAULT_MAPPING,
        *,
        progress: bool = False,
        replace: bool = False,
    ) -> IngestReport:
        """Load files, one transaction each (store/ingest.py).

        Bad rows go to the quarantine table and never stop the good ones. A file that cannot be
        read at all loads nothing; the other files still load, and afterwards a
        :class:`PartialIngestError` (an IngestError) is raised for the first failing file.

        Each load is recorded in the ``loads`` registry under the file's absolute path and the
        mapping's options. Loading a file again with the same options adds only new events; with
        other options it is refused (its events would be loaded twice under new ids) unless
        ``replace`` is set, which removes the earlier loads' events and quarantined rows in the
        same transaction and then loads the file afresh.
        """
        check_mapping(mapping)
        self._require_loads()
        return Loader(self._con).load(paths, mapping, progress, replace)
