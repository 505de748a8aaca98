"""A ClickHouse event source: an embedded chdb session holding one ``events`` table.

The table is ``(person String, event_id String, event String, ts Int64, session, p0, p1...)``
(``session``: the session_id, NULL for none; p0... are the properties), a MergeTree ordered
by ``(person, ts, event_id)``, filled from an Arrow table in the scan format
(store/sources.py): what the clickhouse engine reads. Every source gets a table of its own (a
fresh name) in one chdb session shared by the process (chdb runs one engine per process);
closing the source drops its table. A server (clickhouse-connect) is not wired yet.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Self

import pyarrow as pa

_SESSION: Any = None
_NUMBERS = itertools.count()


def session() -> Any:
    """The process's chdb session (started on first use)."""
    global _SESSION
    if _SESSION is None:
        from chdb import session as chdb_session

        _SESSION = chdb_session.Session()
    return _SESSION


def param_text(value: str) -> str:
    """`value` as ClickHouse reads a query parameter (its escaped text form): backslashes and
    control characters escaped, nothing else; quotes are data, never SQL."""
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
    )


# Arrow property types the table keeps, as ClickHouse types (other properties are not loaded:
# a filter on one is refused by the engine)
PROPERTY_TYPES = {
    pa.string(): "String",
    pa.large_string(): "String",
    pa.int64(): "Int64",
    pa.float64(): "Float64",
    pa.bool_(): "Bool",
    pa.null(): "String",  # never set
}
BASE_COLUMNS = ("person_id", "event_id", "event", "ts")


class ClickHouseSource:
    """Events in a chdb table, loaded from an Arrow table in the scan format.

    Properties of the types in PROPERTY_TYPES become ``Nullable`` columns named by position
    (``p0``, ``p1``...; ``properties`` maps each property to its column and ClickHouse type), so
    no property name is ever written into SQL.
    """

    def __init__(self, table: pa.Table | None = None) -> None:
        self.table_name = f"funnelscope_events_{next(_NUMBERS)}"
        self.properties: dict[str, tuple[str, str]] = {}
        self.unloaded: dict[str, str] = {}  # property -> its Arrow type, not loaded
        columns = {
            "person": pa.array([], pa.string()),
            "event_id": pa.array([], pa.string()),
            "event": pa.array([], pa.string()),
            "ts": pa.array([], pa.int64()),
            "session": pa.array([], pa.string()),
        }
        if table is not None:
            columns = {
                "person": table.column("person_id").cast(pa.string()),
                "event_id": table.column("event_id").cast(pa.string()),
                "event": table.column("event").cast(pa.string()),
                "ts": table.column("ts").cast(pa.int64()),
            }
            columns["session"] = (  # a scan's session column (sessions=True), or none
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
                arrow_type = pa.string() if kind == "String" else table.schema.field(name).type
                columns[column] = table.column(name).cast(arrow_type)
        extra = ", session Nullable(String)"
        extra += "".join(f", {c} Nullable({kind})" for c, kind in self.properties.values())
        self._open = True
        self.query(
            f"CREATE TABLE {self.table_name} (person String, event_id String, event String, "
            f"ts Int64{extra}) ENGINE = MergeTree ORDER BY (person, ts, event_id)"
        )
        rows = pa.table(columns)  # read by chdb's Python() table function, by this local name
        if rows.num_rows:
            session().query(f"INSERT INTO {self.table_name} SELECT * FROM Python(rows)")

    @classmethod
    def from_table(cls, table: pa.Table) -> ClickHouseSource:
        return cls(table)

    def query(self, sql: str, params: Mapping[str, str] | None = None) -> pa.Table:
        """Run `sql` with named parameters ({name:Type} placeholders, values as text)."""
        result = session().query(sql, "Arrow", params=dict(params or {}))
        data = result.bytes()
        if not data:
            return pa.table({})
        return pa.ipc.open_file(pa.py_buffer(data)).read_all()

    def close(self) -> None:
        if self._open:
            session().query(f"DROP TABLE IF EXISTS {self.table_name}")
            self._open = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
