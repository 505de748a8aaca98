"""Where an engine reads events from: the store, an Arrow table, or files read in place.

Every source offers what an engine needs to compile and run its own reads: ``columns`` (an
:class:`EventColumns` describing its events to SQL), ``duckdb_connection`` to run that SQL on,
``person_ids`` (the ids of its integer person keys) and ``scan`` (whole events, sorted, for the
reference engine). Sources know nothing of engines.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Protocol, Self

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelscope.model.events import scan_column
from funnelscope.store.event_columns import EventColumns, property_columns


class EventSource(Protocol):
    @property
    def duckdb_connection(self) -> duckdb.DuckDBPyConnection: ...

    def columns(self, properties: Collection[str] = ()) -> EventColumns: ...

    def person_ids(self, keys: np.ndarray) -> list[str]: ...

    def scan(
        self,
        event_names: Collection[str] | None,
        properties: Collection[str] = (),
        sessions: bool = False,
    ) -> pa.Table: ...


class NameCatalog(Protocol):
    """What a source knows of the names in its data, to warn of names it never saw."""

    def event_counts(self) -> dict[str, int]: ...

    def property_types(self) -> dict[str, str]: ...


class OwnConnection:
    """A source that owns one DuckDB connection: the SQL of engines runs on it, and closing the
    source (or leaving its `with` block) closes it."""

    _con: duckdb.DuckDBPyConnection

    @property
    def duckdb_connection(self) -> duckdb.DuckDBPyConnection:
        return self._con

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TableSource:
    """Events already in the scan format (person_id, event_id, event, ts, properties...).

    Person ids are text, as in the store (an integer column becomes its decimal text). With
    `integer_persons` (the default) the columns offer each person's number as its integer key,
    so an engine can group rows by integers as it does for the store; without, the person is
    the id text.
    """

    def __init__(self, table: pa.Table, integer_persons: bool = True) -> None:
        persons = table.column("person_id").cast(pa.string())
        self.table = table.set_column(table.column_names.index("person_id"), "person_id", persons)
        self.integer_persons = integer_persons
        encoded = pc.dictionary_encode(persons).combine_chunks()
        self._person_names = encoded.dictionary
        # DuckDB matches column names without regard to case, so `TS` next to `ts` would
        # collide: the registered table names its columns by position instead.
        self._names = {name: f"c{i}" for i, name in enumerate(self.table.column_names)}
        self._scanned = pa.table(
            [*self.table.columns, encoded.indices.cast(pa.int64())],
            names=[*self._names.values(), "person_number"],
        )
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def duckdb_connection(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own, on which the table is the view ``scanned_events`` (opened on
        first use; `close` or the end of a `with` block closes it)."""
        if self._con is None:
            self._con = duckdb.connect()
            self._con.register("scanned_events", self._scanned)
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scan(
        self,
        event_names: Collection[str] | None,
        properties: Collection[str] = (),
        sessions: bool = False,
    ) -> pa.Table:
        """The whole table (a ``session_id`` column, if any, holds the session)."""
        return self.table

    def columns(self, properties: Collection[str] = ()) -> EventColumns:
        """The table as SQL sees it, with the given properties (those present)."""
        wanted = {
            p: self._names[scan_column(p)] for p in properties if scan_column(p) in self._names
        }
        present = property_columns(self.duckdb_connection, "scanned_events", list(wanted.values()))
        names = self._names
        return EventColumns(
            source="scanned_events",
            person="person_number" if self.integer_persons else names["person_id"],
            ts=names["ts"],
            event=names["event"],
            event_id=names["event_id"],
            integer_person=self.integer_persons,
            properties={p: present[column] for p, column in wanted.items() if column in present},
            session=names.get("session_id"),
        )

    def person_ids(self, keys: np.ndarray) -> list[str]:
        """Person ids of person numbers (the integer keys the columns offer), in one take."""
        taken = self._person_names.take(pa.array(np.asarray(keys, dtype=np.int64)))
        return [str(v) for v in taken.to_pylist()]


def as_source(events: EventSource | pa.Table) -> EventSource:
    """An Arrow table in the scan format becomes a TableSource; a source stays itself."""
    return TableSource(events) if isinstance(events, pa.Table) else events


@contextmanager
def source_of(events: EventSource | pa.Table) -> Iterator[EventSource]:
    """`events` as a source for the block: a table's TableSource is closed at its end, a source
    that was given stays open (its owner closes it)."""
    if not isinstance(events, pa.Table):
        yield events
        return
    with TableSource(events) as source:
        yield source
