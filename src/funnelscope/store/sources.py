"""Where an engine reads events from: the store, an Arrow table, or files read in place.

Every source offers the two reads the engines need: ``scan`` (whole events, for the reference
engine) and ``step_scan`` (person, time and step bits only, for the kernel engine).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelscope.model.events import scan_column
from funnelscope.model.spec import Funnel
from funnelscope.store.depth_scan import (
    DepthArrays,
    depth_segments,
    fetch_depth,
    scan_query,
    value_segments,
)
from funnelscope.store.step_scan import (
    EventColumns,
    StepArrays,
    StepQuery,
    explain_plan,
    fetch_steps,
    property_columns,
    step_query,
)


class EventSource(Protocol):
    def scan(
        self,
        event_names: Collection[str] | None,
        properties: Collection[str] = (),
        sessions: bool = False,
    ) -> pa.Table: ...

    def step_query(self, funnel: Funnel) -> StepQuery: ...

    def step_scan(self, funnel: Funnel) -> StepArrays: ...

    def depth_scan(self, funnel: Funnel, persons: np.ndarray | None = None) -> DepthArrays: ...

    def value_segments(self, funnel: Funnel) -> Any: ...

    def depth_segments(self, funnel: Funnel) -> Any: ...

    def plan(self, query: StepQuery) -> str: ...


class TableSource:
    """Events already in the scan format (person_id, event_id, event, ts, properties...).

    Person ids are text, as in the store (an integer column becomes its decimal text). With
    `integer_persons` (the default) they are numbered first, so the kernel groups rows by
    integer keys as it does for the store; without, the scan sorts by the id text.
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

    def scan(
        self,
        event_names: Collection[str] | None,
        properties: Collection[str] = (),
        sessions: bool = False,
    ) -> pa.Table:
        """The whole table (a ``session_id`` column, if any, holds the session)."""
        return self.table

    def _columns(self, con: duckdb.DuckDBPyConnection, funnel: Funnel) -> EventColumns:
        con.register("scanned_events", self._scanned)
        wanted = {
            p: self._names[scan_column(p)]
            for p in funnel.properties
            if scan_column(p) in self._names
        }
        present = property_columns(con, "scanned_events", list(wanted.values()))
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

    def step_query(self, funnel: Funnel) -> StepQuery:
        with duckdb.connect() as con:
            if funnel.has_depth:
                return scan_query(con, funnel, self._columns(con, funnel))
            return step_query(con, funnel, self._columns(con, funnel))

    def depth_scan(self, funnel: Funnel, persons: np.ndarray | None = None) -> DepthArrays:
        with duckdb.connect() as con:
            return fetch_depth(con, funnel, self._columns(con, funnel), self._ids, persons)

    def depth_segments(self, funnel: Funnel) -> Any:
        with duckdb.connect() as con:
            return depth_segments(con, funnel, self._columns(con, funnel))

    def value_segments(self, funnel: Funnel) -> Any:
        with duckdb.connect() as con:
            return value_segments(con, funnel, self._columns(con, funnel))

    def step_scan(self, funnel: Funnel) -> StepArrays:
        with duckdb.connect() as con:
            query = step_query(con, funnel, self._columns(con, funnel))
            return fetch_steps(con, query, self._ids)

    def person_ids(self, numbers: np.ndarray) -> list[str]:
        """Person ids of person numbers (the integer keys the kernel groups by)."""
        return self._ids(numbers)

    def _ids(self, numbers: np.ndarray) -> list[str]:
        return [str(v) for v in self._person_names.take(pa.array(numbers)).to_pylist()]

    def plan(self, query: StepQuery) -> str:
        with duckdb.connect() as con:
            con.register("scanned_events", self._scanned)
            return explain_plan(con, query)


def as_source(events: EventSource | pa.Table) -> EventSource:
    """An Arrow table in the scan format becomes a TableSource; a source stays itself."""
    return TableSource(events) if isinstance(events, pa.Table) else events
