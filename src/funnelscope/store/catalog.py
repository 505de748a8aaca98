"""What a store holds, for choosing steps and filters: event names with their counts, property
names with their types and how many events carry them, and the most common values of one
property. Every name from a request is a parameter or a quoted identifier, never SQL text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from funnelscope.store.schema import MORE_PROPERTIES, property_columns
from funnelscope.store.sql_text import quote_ident


@dataclass(frozen=True)
class EventName:
    name: str
    count: int  # events of this name
    persons: int  # distinct persons who did it

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count, "persons": self.persons}


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    type: str  # DuckDB type of its values: BIGINT, DOUBLE, BOOLEAN or VARCHAR
    events: int  # events that carry a value of it

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "events": self.events}


@dataclass(frozen=True)
class ValueCount:
    value: Any  # typed as the property's values are (a number, a boolean or text)
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "count": self.count}


def event_names(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> list[EventName]:
    """Event names, the most frequent first (ties by name)."""
    rows = con.execute(
        "SELECT event, count(*) AS n, count(DISTINCT person_id) FROM events GROUP BY event "
        "ORDER BY n DESC, event LIMIT ?",
        [limit if limit is not None else 2**62],
    ).fetchall()
    return [EventName(str(name), int(n), int(persons)) for name, n, persons in rows]


def properties(con: duckdb.DuckDBPyConnection) -> list[PropertyInfo]:
    """Every event property with its type and how many events carry it, by name."""
    columns = property_columns(con)
    if not columns:
        return []
    counts = []
    params: list[Any] = []
    for name, (column, _) in sorted(columns.items()):
        counts.append(f"count({_value_sql(column)})")
        if column is None:
            params.append(name)
    row = con.execute(f"SELECT {', '.join(counts)} FROM events", params).fetchall()[0]
    return [
        PropertyInfo(name, kind, int(n))
        for (name, (_, kind)), n in zip(sorted(columns.items()), row, strict=True)
    ]


def top_values(
    con: duckdb.DuckDBPyConnection, name: str, limit: int, event: str | None = None
) -> list[ValueCount] | None:
    """The `limit` most common values of property `name` (on events named `event` only, when
    given), most common first; None when the store has no such property."""
    columns = property_columns(con)
    if name not in columns:
        return None
    column, kind = columns[name]
    raw = _value_sql(column)
    by_name: list[Any] = [] if column is not None else [name]  # the map's key, per use of raw
    value = raw if column is not None or kind == "VARCHAR" else f"TRY_CAST({raw} AS {kind})"
    where, where_params = f"{raw} IS NOT NULL", list(by_name)
    if event is not None:
        where += " AND event = ?"
        where_params.append(event)
    rows = con.execute(
        f"SELECT {value} AS v, count(*) AS n FROM events WHERE {where} "
        "GROUP BY v ORDER BY n DESC, v LIMIT ?",
        [*by_name, *where_params, limit],
    ).fetchall()
    return [ValueCount(v, int(n)) for v, n in rows]


def _value_sql(column: str | None) -> str:
    """A property's value: its column, or its entry in the map (the name as a parameter)."""
    return quote_ident(column) if column is not None else f"{MORE_PROPERTIES}[?]"
