"""Use case: what a store holds to build funnels from (event names, property names), for the
funnel builder page and `GET /api/v1/event-names`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from funnelscope.app.events import open_store


@dataclass(frozen=True)
class EventCatalog:
    """Event names with their number of events (most frequent first, then by name) and the
    properties events carry with their DuckDB type (by name)."""

    events: tuple[tuple[str, int], ...]
    properties: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": [{"name": name, "count": count} for name, count in self.events],
            "properties": [{"name": name, "type": kind} for name, kind in self.properties],
        }


def event_catalog(db_path: str) -> EventCatalog:
    """The event names and properties of the store at `db_path`."""
    with open_store(db_path) as store:
        counts = store.event_counts()
        properties = store.property_types()
    events = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return EventCatalog(tuple(events), tuple(sorted(properties.items())))
