"""Where an engine reads events from: the store, an Arrow table, or files read in place.

Every source offers the two reads the engines need: ``scan`` (whole events, for the reference
engine) and ``step_scan`` (person, time and step bits only, for the kernel engine).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

import duckdb
import pyarrow as pa

from funnelscope.model.events import scan_column
from funnelscope.model.spec import Funnel
from funnelscope.store.step_scan import (
    EventColumns,
    StepArrays,
    StepQuery,
    fetch_steps,
    property_columns,
    step_query,
)


class EventSource(Protocol):
    def scan(
        self, event_names: Collection[str] | None, properties: Collection[str] = ()
    ) -> pa.Table: ...

    def step_query(self, funnel: Funnel) -> StepQuery: ...

    def step_scan(self, funnel: Funnel) -> StepArrays: ...


class TableSource:
    """Events already in the scan format (person_id, event_id, event, ts, properties...)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def scan(
        self, event_names: Collection[str] | None, properties: Collection[str] = ()
    ) -> pa.Table:
        return self.table

    def _columns(self, con: duckdb.DuckDBPyConnection, funnel: Funnel) -> EventColumns:
        con.register("scanned_events", self.table)
        present = property_columns(
            con, "scanned_events", [scan_column(p) for p in funnel.properties]
        )
        return EventColumns(
            source="scanned_events",
            person="person_id",
            ts="ts",
            event="event",
            event_id="event_id",
            properties={
                p: present[scan_column(p)] for p in funnel.properties if scan_column(p) in present
            },
        )

    def step_query(self, funnel: Funnel) -> StepQuery:
        with duckdb.connect() as con:
            return step_query(con, funnel, self._columns(con, funnel))

    def step_scan(self, funnel: Funnel) -> StepArrays:
        with duckdb.connect() as con:
            return fetch_steps(con, step_query(con, funnel, self._columns(con, funnel)))


def as_source(events: EventSource | pa.Table) -> EventSource:
    """An Arrow table in the scan format becomes a TableSource; a source stays itself."""
    return TableSource(events) if isinstance(events, pa.Table) else events
