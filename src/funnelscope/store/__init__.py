"""The DuckDB event store and its source-file readers."""

from funnelscope.store.bad_rows import BadRow
from funnelscope.store.duckdb import (
    ColumnMapping,
    EventStore,
    FileReport,
    IngestReport,
    LoadInfo,
    PartialIngestError,
)

__all__ = [
    "BadRow",
    "ColumnMapping",
    "EventStore",
    "FileReport",
    "IngestReport",
    "LoadInfo",
    "PartialIngestError",
]
