"""A ClickHouse event store: a server through clickhouse-connect or embedded chdb, its tables,
and files loaded into it through the DuckDB store's ingest (docs/clickhouse.md)."""

from funnelscope.store.clickhouse.connection import (
    ClickHouseError,
    is_clickhouse,
    param_text,
    parse_url,
)
from funnelscope.store.clickhouse.store import ClickHouseStore

__all__ = ["ClickHouseError", "ClickHouseStore", "is_clickhouse", "param_text", "parse_url"]
