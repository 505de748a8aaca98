"""The `clickhouse` engine (in progress; issue 18): a funnel compiled into ClickHouse SQL.

So far only its event source (source.py): a chdb table filled from an Arrow table.
"""
