"""The ClickHouse event store: its tables in one database, their catalog, and what faces read
of it (counts, names, the quarantine). Files are loaded by store/clickhouse/ingest.py.

Tables (all in the store's database):

- ``events (person, event_id, event, ts, distinct_id, session_id, load_id, p0, p1...)``: a
  ReplacingMergeTree ordered by ``(person, ts, event_id)``, ``ts`` in µs since the epoch (UTC);
  each property a ``Nullable`` column named by position, so no property name is SQL text;
- ``event_properties (name, column, type, version)``: which column holds which property, and
  its type (the row of the highest version counts: a type widens by adding a row);
- ``quarantine (source, line, reason, raw, ingested_at, load_id)``: rows set aside by ingest;
- ``loads (load_id, source, size, options, loaded_at, rows_loaded)``: the files loaded;
- ``identity_links (from_id, to_id, kind, linked_at, source, load_id, line)``: ids linked by
  the files (device ids seen with a person id), resolved at load time.
"""

from __future__ import annotations

from typing import Final, Self

from funnelscope.errors import IngestError
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.clickhouse.connection import (
    ClickHouseError,
    Connection,
    connect,
    param_text,
    quote_name,
)
from funnelscope.store.schema import absolute

# ClickHouse type of each store (DuckDB) property type
CLICKHOUSE_TYPES: Final = {
    "VARCHAR": "String",
    "BIGINT": "Int64",
    "DOUBLE": "Float64",
    "BOOLEAN": "Bool",
}
STORE_TYPES: Final = {kind: duck for duck, kind in CLICKHOUSE_TYPES.items()}
EVENT_COLUMNS: Final = (
    ("person", "String"),
    ("event_id", "String"),
    ("event", "String"),
    ("ts", "Int64"),
    ("distinct_id", "String"),
    ("session_id", "Nullable(String)"),
    ("load_id", "Int64"),
)


class ClickHouseStore:
    """A funnelscope store in ClickHouse: a server (``clickhouse://...``) or embedded chdb
    (``chdb:PATH``); see store/clickhouse/connection.py for the spelling."""

    def __init__(self, db: str, *, create: bool = False) -> None:
        self.db = db
        self.connection: Connection = connect(db)
        self.where = self.connection.where
        if create:
            self.create_schema()
        elif not self.has_schema():
            raise ClickHouseError(
                f"{self.where}: no funnelscope events here yet; load files first: "
                f"funnelscope ingest FILES --db {self.where}"
            )

    def table(self, name: str) -> str:
        """A table of the store, qualified by its database, as SQL."""
        return f"{quote_name(self.connection.database)}.{quote_name(name)}"

    def create_schema(self) -> None:
        """The store's database and tables, when missing."""
        c = self.connection
        c.command(f"CREATE DATABASE IF NOT EXISTS {quote_name(c.database)}")
        columns = ", ".join(f"{name} {kind}" for name, kind in EVENT_COLUMNS)
        c.command(
            f"CREATE TABLE IF NOT EXISTS {self.table('events')} ({columns}, "
            "INDEX event_ids event_id TYPE bloom_filter GRANULARITY 4) "
            "ENGINE = ReplacingMergeTree ORDER BY (person, ts, event_id)"
        )
        c.command(
            f"CREATE TABLE IF NOT EXISTS {self.table('event_properties')} (name String, "
            "column String, type String, version UInt64) ENGINE = MergeTree ORDER BY name"
        )
        c.command(
            f"CREATE TABLE IF NOT EXISTS {self.table('quarantine')} (source String, line Int64, "
            "reason String, raw String, ingested_at DateTime64(6, 'UTC'), load_id Int64) "
            "ENGINE = MergeTree ORDER BY (source, line)"
        )
        c.command(
            f"CREATE TABLE IF NOT EXISTS {self.table('loads')} (load_id Int64, source String, "
            "size Int64, options String, loaded_at DateTime64(6, 'UTC'), rows_loaded Int64) "
            "ENGINE = MergeTree ORDER BY load_id"
        )
        c.command(
            f"CREATE TABLE IF NOT EXISTS {self.table('identity_links')} (from_id String, "
            "to_id String, kind String, linked_at DateTime64(6, 'UTC'), source String, "
            "load_id Int64, line Int64) ENGINE = MergeTree ORDER BY (from_id, to_id)"
        )

    def has_schema(self) -> bool:
        rows = self.connection.query(
            "SELECT count() AS n FROM system.tables WHERE database = {db:String} "
            "AND name IN ('events', 'event_properties')",
            {"db": self.connection.database},
        )
        return bool(rows.num_rows) and int(rows.column("n")[0].as_py()) == 2

    # ------------------------------------------------------------ reads

    def properties(self) -> dict[str, tuple[str, str]]:
        """Property name -> (its column in events, its ClickHouse type)."""
        rows = self.connection.query(
            f"SELECT name, any(column) AS column, argMax(type, version) AS type "
            f"FROM {self.table('event_properties')} GROUP BY name ORDER BY name"
        )
        if not rows.num_rows:
            return {}
        return {
            str(n): (str(c), str(k))
            for n, c, k in zip(
                rows.column("name").to_pylist(),
                rows.column("column").to_pylist(),
                rows.column("type").to_pylist(),
                strict=True,
            )
        }

    def property_types(self) -> dict[str, str]:
        """Property name -> its type as the DuckDB store names it (VARCHAR, BIGINT...)."""
        return {name: STORE_TYPES[kind] for name, (_, kind) in self.properties().items()}

    def count_events(self) -> int:
        return self._number(f"SELECT count() AS n FROM {self.table('events')}")

    def event_counts(self) -> dict[str, int]:
        rows = self.connection.query(
            f"SELECT event, count() AS n FROM {self.table('events')} GROUP BY event ORDER BY event"
        )
        if not rows.num_rows:
            return {}
        return dict(
            zip(
                rows.column("event").to_pylist(),
                (int(n) for n in rows.column("n").to_pylist()),
                strict=True,
            )
        )

    def quarantine(self, source: str | None = None, limit: int | None = None) -> list[BadRow]:
        """Quarantined rows, ordered by source and line (``source``: the file as given at
        ingest, or its absolute path)."""
        if limit is not None and limit < 0:
            raise IngestError(
                "limit", f"limit must be 0 or more, got {limit}", "leave it out to list every row"
            )
        where, params = self._quarantine_filter(source)
        sql = f"SELECT source, line, reason, raw FROM {self.table('quarantine')}{where}"
        sql += " ORDER BY source, line, reason"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self.connection.query(sql, params).to_pylist()
        return [
            BadRow(str(r["source"]), int(r["line"]), str(r["reason"]), str(r["raw"])) for r in rows
        ]

    def quarantine_count(self, source: str | None = None) -> int:
        """How many rows are quarantined (of `source`, as :meth:`quarantine` takes it)."""
        where, params = self._quarantine_filter(source)
        return self._number(f"SELECT count() AS n FROM {self.table('quarantine')}{where}", params)

    def _quarantine_filter(self, source: str | None) -> tuple[str, dict[str, str]]:
        if source is None:
            return "", {}
        where = (
            " WHERE source = {source:String} OR load_id IN (SELECT load_id FROM "
            f"{self.table('loads')} WHERE source = {{full:String}})"
        )
        return where, {"source": param_text(source), "full": param_text(absolute(source))}

    def _number(self, sql: str, params: dict[str, str] | None = None) -> int:
        rows = self.connection.query(sql, params)
        return int(rows.column(0)[0].as_py()) if rows.num_rows else 0

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
