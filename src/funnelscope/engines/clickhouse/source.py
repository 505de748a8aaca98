"""A ClickHouse event source: a table ``(person String, event_id String, event String, ts Int64,
session_id, p0, p1...)`` (p0... are the properties), ordered by ``(person, ts, event_id)``: what the
clickhouse engine reads.

Two kinds: :meth:`ClickHouseSource.from_table` loads an Arrow table in the scan format
(store/sources.py) into a table of its own (a fresh name) in the process's embedded chdb session,
dropped on close; :meth:`ClickHouseSource.over_store` reads the ``events`` table of a ClickHouse
store (store/clickhouse/: a server through clickhouse-connect, or embedded chdb at a path), its
properties mapped to columns by the store's catalog. Both have a ``session_id`` column
(NULL for none). The connections live in store/clickhouse/connection.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Self

import pyarrow as pa

from funnelscope.store.clickhouse.connection import (
    ChdbConnection,
    Connection,
    param_text,
    session,
)

_NUMBERS = itertools.count()

__all__ = ["BASE_COLUMNS", "PROPERTY_TYPES", "ClickHouseSource", "param_text", "session"]


# Arrow property types the table keeps, as ClickHouse types (other properties are not loaded:
# a filter on one is refused by the engine)
PROPERTY_TYPES = {
    pa.string(): "String",
    pa.large_string(): "String",
    pa.int64(): "Int64",
    pa.int32(): "Int64",  # narrower numbers widen exactly
    pa.int16(): "Int64",
    pa.int8(): "Int64",
    pa.uint32(): "Int64",
    pa.uint16(): "Int64",
    pa.uint8(): "Int64",
    pa.float64(): "Float64",
    pa.float32(): "Float64",
    pa.bool_(): "Bool",
    pa.null(): "String",  # never set
}
BASE_COLUMNS = ("person_id", "event_id", "event", "ts")


class ClickHouseSource:
    """Events in a ClickHouse table the engine reads by ``table_name``.

    Properties are ``Nullable`` columns named by position (``p0``, ``p1``...; ``properties`` maps
    each property to its column and ClickHouse type), so no property name is ever written into
    SQL; ``unloaded`` names the properties of a type not loaded (a filter on one is refused).
    """

    def __init__(self, table: pa.Table | None = None) -> None:
        """A fresh table in the process's embedded chdb session, filled from `table` (in the
        scan format) when given; closing the source drops it."""
        self._connection: Connection = ChdbConnection(None, database="default")
        self._owned = True
        self.where = "embedded ClickHouse in memory"
        self.table_name = f"funnelscope_events_{next(_NUMBERS)}"
        self.properties: dict[str, tuple[str, str]] = {}
        self.unloaded: dict[str, str] = {}  # property -> its Arrow type, not loaded
        self._events: Any = None  # the store this source reads, when it reads one
        columns = {
            "person": pa.array([], pa.string()),
            "event_id": pa.array([], pa.string()),
            "event": pa.array([], pa.string()),
            "ts": pa.array([], pa.int64()),
            "session_id": pa.array([], pa.string()),
        }
        if table is not None:
            columns = {
                "person": table.column("person_id").cast(pa.string()),
                "event_id": table.column("event_id").cast(pa.string()),
                "event": table.column("event").cast(pa.string()),
                "ts": table.column("ts").cast(pa.int64()),
            }
            columns["session_id"] = (  # a scan's session column (sessions=True), or none
                table.column("session_id").cast(pa.string())
                if "session_id" in table.column_names
                else pa.nulls(table.num_rows, pa.string())
            )
            for name in table.column_names:
                if name in (*BASE_COLUMNS, "session_id"):
                    continue
                kind = PROPERTY_TYPES.get(table.schema.field(name).type)
                prop = name.removeprefix("prop:")  # a property named like a scan column
                if kind is None:
                    self.unloaded[prop] = str(table.schema.field(name).type)
                    continue
                column = f"p{len(self.properties)}"
                self.properties[prop] = (column, kind)
                arrow_type = {
                    "String": pa.string(),
                    "Int64": pa.int64(),
                    "Float64": pa.float64(),
                }.get(kind, table.schema.field(name).type)
                columns[column] = table.column(name).cast(arrow_type)
        extra = ", session_id Nullable(String)"
        extra += "".join(f", {c} Nullable({kind})" for c, kind in self.properties.values())
        self._open = True
        self.query(
            f"CREATE TABLE {self.table_name} (person String, event_id String, event String, "
            f"ts Int64{extra}) ENGINE = MergeTree ORDER BY (person, ts, event_id)"
        )
        self._connection.insert_arrow(self.table_name, pa.table(columns))

    @classmethod
    def from_table(cls, table: pa.Table) -> ClickHouseSource:
        return cls(table)

    @classmethod
    def over_store(cls, store: Any) -> ClickHouseSource:
        """The ``events`` table of an open ClickHouse store (store/clickhouse/store.py's
        ClickHouseStore); closing the source leaves the table, and the store, as they are."""
        source = cls.__new__(cls)
        source._connection = store.connection
        source._owned = False
        source._open = True
        source._events = store
        source.where = store.where
        source.table_name = store.table("events")
        source.properties = store.properties()
        source.unloaded = {}
        return source

    def query(self, sql: str, params: Mapping[str, str] | None = None) -> pa.Table:
        """Run `sql` with named parameters ({name:Type} placeholders, values as ClickHouse's
        escaped text: :func:`param_text`), sent apart from the SQL."""
        return self._connection.query(sql, params)

    def event_counts(self) -> dict[str, int]:
        """Event name -> how many events have it (names a funnel may be checked against)."""
        rows = self.query(f"SELECT event, count() AS n FROM {self.table_name} GROUP BY event")
        if not rows.num_rows:
            return {}
        return dict(
            zip(rows.column("event").to_pylist(), rows.column("n").to_pylist(), strict=True)
        )

    def last_event_us(self, names: list[str]) -> int | None:
        """The time (µs UTC) of the last event with one of `names` (None: there is none)."""
        params = {f"n{k}": param_text(name) for k, name in enumerate(names)}
        wanted = ", ".join(f"{{n{k}:String}}" for k in range(len(names))) or "''"
        rows = self.query(
            f"SELECT max(ts) AS last, count() AS n FROM {self.table_name} "
            f"WHERE event IN ({wanted})",
            params,
        )
        if not rows.num_rows or not rows.column("n")[0].as_py():
            return None
        return int(rows.column("last")[0].as_py())

    def property_types(self) -> dict[str, str]:
        """Property name -> its ClickHouse type (String, Int64, Float64, Bool)."""
        return {name: kind for name, (_, kind) in self.properties.items()}

    def close(self) -> None:
        if self._open and self._owned:
            self.query(f"DROP TABLE IF EXISTS {self.table_name}")
        self._open = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
