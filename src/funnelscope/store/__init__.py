"""The DuckDB event store and its source-file readers."""

from funnelscope.store.duckdb import (
    BadRow,
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
