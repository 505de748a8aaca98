"""The store's tables and the few statements both the store and ingest run on them.

Layout of the ``events`` table: core columns (``event_id``, ``person_id``, ``event``,
``timestamp``, ``session_id``, ``load_id``, ``person_key``, ``distinct_id``) and then **one typed
column per event property** (BIGINT, DOUBLE, BOOLEAN or VARCHAR), added with ALTER TABLE as new
properties appear. A filter on a property then reads one typed, compressed column that DuckDB
can push into the scan, instead of parsing a JSON blob on every row. ``event_properties`` maps
each property name to its column; ``persons`` gives every person id an integer key; ``loads``
registers each load of a file and ``quarantine`` keeps the rows that could not be loaded.
A store keeps at most :data:`MAX_PROPERTY_COLUMNS` property columns: properties beyond them live
in one ``more_properties`` map (name -> the value as text), read back typed through
:func:`property_reads`, so a file of thousands of columns neither widens the table without end
nor takes memory in proportion to its width. ``event_properties.column_name`` is NULL for them.
``distinct_id`` is the id an event was sent with and ``person_id`` the person it resolves to; the
``identity_*`` tables hold the links between ids (store/identities.py). ``forgotten_ids`` holds
the salted SHA-256 of every id forgotten for privacy and ``privacy_salt`` the store's salt
(store/privacy.py): ingest skips rows of those ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import duckdb

from funnelscope.errors import FunnelscopeError
from funnelscope.model.events import CORE_COLUMNS
from funnelscope.store.access import create_tables as create_access_tables
from funnelscope.store.saved import create_tables as create_saved_tables
from funnelscope.store.sql_text import quote_ident, sql_string
from funnelscope.store.staging import first_row

REQUIRED_COLUMNS: Final = CORE_COLUMNS[:5]  # stores made before the loads registry lack load_id
MORE_PROPERTIES: Final = "more_properties"  # the map of properties beyond the columns
MAX_PROPERTY_COLUMNS: Final = 256  # property columns a store keeps before using the map
STORE_COLUMNS: Final = (*CORE_COLUMNS, MORE_PROPERTIES)  # the events columns not a property's

Connection = duckdb.DuckDBPyConnection


def create_schema(con: Connection) -> None:
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS events (
            event_id VARCHAR NOT NULL,
            person_id VARCHAR NOT NULL,
            event VARCHAR NOT NULL,
            "timestamp" TIMESTAMP NOT NULL,
            session_id VARCHAR,
            load_id INTEGER,
            person_key BIGINT,
            distinct_id VARCHAR,
            more_properties MAP(VARCHAR, VARCHAR)
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
        CREATE TABLE IF NOT EXISTS identity_links (
            from_id VARCHAR NOT NULL, to_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
            linked_at TIMESTAMP NOT NULL, source VARCHAR, load_id INTEGER, line BIGINT
        );
        CREATE TABLE IF NOT EXISTS identity_apart (id VARCHAR, unmerged_at TIMESTAMP);
        CREATE TABLE IF NOT EXISTS identity_map (distinct_id VARCHAR, person_id VARCHAR);
        CREATE TABLE IF NOT EXISTS loads (
            load_id INTEGER, source VARCHAR, size BIGINT, options VARCHAR,
            loaded_at TIMESTAMP, rows_loaded BIGINT
        );
        CREATE TABLE IF NOT EXISTS forgotten_ids (id_hash VARCHAR, forgotten_at TIMESTAMP);
        CREATE TABLE IF NOT EXISTS privacy_salt (salt VARCHAR);
        """
    )


def check_schema(con: Connection, path: str | Path) -> None:
    """Refuse a database whose tables are not ours, instead of failing later mid-ingest."""
    columns = {
        (str(table), str(column))
        for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE table_name IN ('events', 'event_properties', 'quarantine')"
        ).fetchall()
    }
    needed = {("events", c) for c in REQUIRED_COLUMNS} | {
        ("event_properties", "column_name"),
        ("quarantine", "reason"),
    }
    if not needed <= columns:
        raise FunnelscopeError(
            f"{path} is not a funnelscope event store (its tables differ); "
            "choose another file with --db, or load events into it with funnelscope ingest"
        )


def upgrade_schema(con: Connection) -> None:
    """Give a store made before the loads registry its ``load_id`` columns (old rows: NULL).

    A property that already has a column named ``load_id`` (any case) moves to
    ``prop:load_id`` first, as a new property of that name would.
    """
    if not has_core_column(con, "load_id"):
        with transaction(con):
            _move_property_column(con, "load_id")
            con.execute("ALTER TABLE events ADD COLUMN load_id INTEGER")
    if not has_column(con, "quarantine", "load_id"):
        con.execute("ALTER TABLE quarantine ADD COLUMN load_id INTEGER")
    if not has_core_column(con, "distinct_id"):
        with transaction(con):
            _move_property_column(con, "distinct_id")
            con.execute("ALTER TABLE events ADD COLUMN distinct_id VARCHAR")
            con.execute("UPDATE events SET distinct_id = person_id")
    if not has_core_column(con, MORE_PROPERTIES):
        with transaction(con):
            _move_property_column(con, MORE_PROPERTIES)
            con.execute(f"ALTER TABLE events ADD COLUMN {MORE_PROPERTIES} MAP(VARCHAR, VARCHAR)")
    if not has_core_column(con, "person_key"):
        with transaction(con):
            _move_property_column(con, "person_key")
            con.execute("ALTER TABLE events ADD COLUMN person_key BIGINT")
            con.execute("CREATE TABLE IF NOT EXISTS persons (person_key BIGINT, person_id VARCHAR)")
            add_persons(con, "SELECT DISTINCT person_id FROM events")
            con.execute(
                "UPDATE events SET person_key = p.person_key FROM persons p "
                "WHERE events.person_id = p.person_id"
            )
    create_access_tables(con)  # the team server's keys and users (store/access.py)
    create_saved_tables(con)  # the team server's saved funnels and dashboards (store/saved.py)


@contextmanager
def transaction(con: Connection) -> Iterator[None]:
    """The block's statements as one transaction: committed at its end, rolled back on a
    database error (which is raised again)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def count(con: Connection, sql: str, params: Sequence[object] = ()) -> int:
    """The integer a one-value query returns (0 when it returns no row)."""
    row = first_row(con, sql, params)
    return int(row[0]) if row else 0


def has_column(con: Connection, table: str, column: str) -> bool:
    return bool(
        count(
            con,
            "SELECT count(*) FROM duckdb_columns() "
            "WHERE table_name = ? AND lower(column_name) = ? AND schema_name = 'main'",
            [table, column],
        )
    )


def has_core_column(con: Connection, name: str) -> bool:
    """Whether events has core column `name` (not a property column of that name)."""
    properties = {c.lower() for c, _ in property_columns(con).values() if c is not None}
    return has_column(con, "events", name) and name not in properties


def property_columns(con: Connection) -> dict[str, tuple[str | None, str]]:
    """Property name -> (its column in events, None when it lives in the map; its type)."""
    rows = con.execute("SELECT name, column_name, type FROM event_properties").fetchall()
    return {
        str(name): (None if column is None else str(column), str(kind))
        for name, column, kind in rows
    }


def property_reads(con: Connection) -> dict[str, tuple[str, str]]:
    """Property name -> (SQL over events giving its typed value, the type)."""
    return {
        name: (quote_ident(column) if column is not None else map_read(name, kind), kind)
        for name, (column, kind) in property_columns(con).items()
    }


def map_read(name: str, kind: str, table: str = "") -> str:
    """SQL reading property `name` of type `kind` from the map (NULL where it is not set)."""
    value = f"{table}{MORE_PROPERTIES}[{sql_string(name)}]"
    return value if kind == "VARCHAR" else f"CAST({value} AS {kind})"


def add_persons(con: Connection, person_ids_sql: str) -> None:
    """Give each person id from `person_ids_sql` that has no key yet the next free key."""
    con.execute(
        "INSERT INTO persons SELECT "
        "(SELECT coalesce(max(person_key), -1) FROM persons) + row_number() OVER (), "
        f"n.person_id FROM ({person_ids_sql}) AS n "
        "WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.person_id = n.person_id)"
    )


def remove_loads(con: Connection, load_ids: Sequence[int]) -> int:
    """Delete the events, quarantined rows and registry rows of ``load_ids`` (no commit)."""
    marks = ", ".join("?" * len(load_ids))
    params = list(load_ids)
    removed = count(con, f"SELECT count(*) FROM events WHERE load_id IN ({marks})", params)
    con.execute(f"DELETE FROM events WHERE load_id IN ({marks})", params)
    con.execute(f"DELETE FROM quarantine WHERE load_id IN ({marks})", params)
    con.execute(f"DELETE FROM loads WHERE load_id IN ({marks})", params)
    con.execute(f"DELETE FROM identity_links WHERE load_id IN ({marks})", params)
    return removed


def column_name(name: str, used: set[str]) -> str:
    """The events column for a new property: its name, or ``prop:<name>`` on a collision.

    DuckDB identifiers are case-insensitive, so collisions are checked case-insensitively.
    """
    candidate = name if name.lower() not in used else f"prop:{name}"
    suffix = 2
    while candidate.lower() in used:
        candidate = f"prop:{name}:{suffix}"
        suffix += 1
    return candidate


def absolute(source: str) -> str:
    """``source`` as an absolute path with symlinks resolved (how the loads registry names it)."""
    return str(Path(source).expanduser().resolve())


def _move_property_column(con: Connection, core: str) -> None:
    registry = property_columns(con)
    used = {c.lower() for c in STORE_COLUMNS} | {
        col.lower() for col, _ in registry.values() if col is not None
    }
    for name, (column, _) in registry.items():
        if column is not None and column.lower() == core:
            target = column_name(name, used)
            used.add(target.lower())
            con.execute(
                f"ALTER TABLE events RENAME COLUMN {quote_ident(column)} TO {quote_ident(target)}"
            )
            con.execute(
                "UPDATE event_properties SET column_name = ? WHERE name = ?", [target, name]
            )
