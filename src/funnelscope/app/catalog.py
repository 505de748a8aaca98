"""Use cases of the funnel builder: which events and properties the store holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnelscope.app.events import open_store
from funnelscope.errors import SpecError, shown

if TYPE_CHECKING:
    from funnelscope.store.catalog import EventName, PropertyInfo, ValueCount

MAX_LIMIT = 10_000


def list_events(db_path: str, limit: int | None = None) -> list[EventName]:
    """Event names with their counts and persons, the most frequent first."""
    from funnelscope.store.catalog import event_names

    _check_limit(limit, "limit")
    with open_store(db_path) as store:
        return event_names(store.connection, limit)


def list_properties(db_path: str) -> list[PropertyInfo]:
    """Every event property: its name, type and how many events carry it."""
    from funnelscope.store.catalog import properties

    with open_store(db_path) as store:
        return properties(store.connection)


def property_values(
    db_path: str, name: str, limit: int = 20, event: str | None = None
) -> list[ValueCount]:
    """The most common values of property `name` (on `event` only, when given)."""
    from funnelscope.store.catalog import top_values

    _check_limit(limit, "limit")
    with open_store(db_path) as store:
        found = top_values(store.connection, name, limit, event)
    if found is None:
        raise SpecError("property", f"the store has no property {shown(name)}", "list them first")
    return found


def _check_limit(limit: int | None, where: str) -> None:
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise SpecError(where, f"{limit} is out of range", f"give 1 to {MAX_LIMIT}")
