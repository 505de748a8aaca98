"""How a source's events look to SQL: which expressions give person, time, event and properties.

Every place events live (the store's table, Parquet files read in place, an Arrow table) describes
itself with one :class:`EventColumns`, over a DuckDB connection the source offers. Engines build
their own SQL over it; the store knows nothing of engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import duckdb

from funnelscope.store.sql_text import quote_ident


@dataclass(frozen=True)
class EventColumns:
    """SQL expressions over one FROM clause that give the fields of every event."""

    source: str  # the FROM clause: a table, a view or read_parquet(...)
    person: str
    ts: str  # int64 microseconds since the epoch, UTC
    event: str
    event_id: str | None  # orders events with equal times (None: the source has no ids)
    properties: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # name -> (sql, type)
    invalid: str | None = None  # a row ingest would quarantine (files read in place)
    integer_person: bool = False  # person is an integer key (the source's person key)
    session: str | None = None  # the session id column, when the source has one
    # each person's value of a property (docs/semantics.md [B5]), when `source` joins them in
    person_values: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def property_columns(
    con: duckdb.DuckDBPyConnection, source: str, names: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """For an Arrow table or view: column -> (quoted column, DuckDB type) of the ones present."""
    described = {
        str(row[0]): str(row[1])
        for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    }
    return {name: (quote_ident(name), described[name]) for name in names if name in described}
