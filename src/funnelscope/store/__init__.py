"""The DuckDB event store and its source-file readers."""

from funnelscope.store.bad_rows import BadRow
from funnelscope.store.event_store import EventStore, LoadInfo
from funnelscope.store.ingest import FileReport, IngestReport, PartialIngestError
from funnelscope.store.mapping import ColumnMapping

__all__ = [
    "BadRow",
    "ColumnMapping",
    "EventStore",
    "FileReport",
    "IngestReport",
    "LoadInfo",
    "PartialIngestError",
]
