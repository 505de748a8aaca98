"""The event schema every layer shares: the store's core columns and what an engine scans."""

from __future__ import annotations

from typing import Final

# Columns of the events table that are not properties (a property of the same name is renamed).
CORE_COLUMNS: Final = (
    "event_id",
    "person_id",
    "event",
    "timestamp",
    "session_id",
    "load_id",
    "person_key",  # integer code of person_id (table ``persons``), so engines group by integers
    "distinct_id",  # the id the event was sent with; person_id is the person it resolves to
)

# Columns of the table an engine consumes (EventStore.scan); properties follow, named as such,
# except that a property named like one of these comes as ``prop:<name>``.
SCAN_COLUMNS: Final = ("person_id", "event_id", "event", "ts")


def scan_column(prop: str) -> str:
    """The scan column holding property `prop`."""
    return f"prop:{prop}" if prop in SCAN_COLUMNS else prop
