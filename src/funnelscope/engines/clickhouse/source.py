"""A ClickHouse event source: an embedded chdb session holding one ``events`` table.

The table is ``(person String, event_id String, event String, ts Int64)``, a MergeTree ordered
by ``(person, ts, event_id)``, filled from an Arrow table in the scan format (store/sources.py):
what the clickhouse engine reads. Every source gets a table of its own (a fresh name) in one
chdb session shared by the process (chdb runs one engine per process); closing the source drops
its table. A server (clickhouse-connect) is not wired yet.
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


class ClickHouseSource:
    """Events in a chdb table, loaded from an Arrow table in the scan format."""

    def __init__(self) -> None:
        self.table_name = f"funnelscope_events_{next(_NUMBERS)}"
        self._open = True
        self.query(
            f"CREATE TABLE {self.table_name} (person String, event_id String, event String, "
            "ts Int64) ENGINE = MergeTree ORDER BY (person, ts, event_id)"
        )

    @classmethod
    def from_table(cls, table: pa.Table) -> ClickHouseSource:
        source = cls()
        source.load(table)
        return source

    def load(self, table: pa.Table) -> None:
        """Add the events of an Arrow table in the scan format (person ids become text)."""
        rows = pa.table(  # read by chdb's Python() table function, by this local name
            {
                "person": table.column("person_id").cast(pa.string()),
                "event_id": table.column("event_id").cast(pa.string()),
                "event": table.column("event").cast(pa.string()),
                "ts": table.column("ts").cast(pa.int64()),
            }
        )
        if rows.num_rows:
            session().query(
                f"INSERT INTO {self.table_name} SELECT person, event_id, event, ts "
                "FROM Python(rows)"
            )

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
