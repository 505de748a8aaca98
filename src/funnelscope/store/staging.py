"""The staging relation every reader fills, and the types that describe what was staged.

Every reader yields the same shape: a relation named ``STAGE`` with a ``__line`` column (the exact
physical line of the record in the source; the 1-based row number for Parquet) and one column per
source column, named ``c0``, ``c1``, ... so that any header text (spaces, quotes, names that differ
only in case) is safe. :class:`StagedFile` maps those back to the source names and says which
property type each column carries.

JSON keys beyond the first :data:`WIDE_STAGE_KEYS` of a file are staged as rows of ``LONG_STAGE``
(line, column, value) instead, so that thousands of sparse keys cost their values, not a column
each over every row; such a column is ``long``, and :func:`stage_column` copies one into
``STAGE`` where a column is needed (a person, event or time key found only late in the file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import duckdb
import pyarrow as pa

from funnelscope.store.sql_text import sql_string

STAGE: Final = "_fs_stage"
LONG_STAGE: Final = "_fs_stage_long"  # (__line, __column, __value) of the keys beyond the first
WIDE_STAGE_KEYS: Final = 256
CHUNK_ROWS: Final = 50_000

BIGINT: Final = "BIGINT"
DOUBLE: Final = "DOUBLE"
BOOLEAN: Final = "BOOLEAN"
VARCHAR: Final = "VARCHAR"

EXACT_DOUBLE: Final = 2**53  # integers beyond this magnitude do not survive a DOUBLE


@dataclass(frozen=True)
class StagedColumn:
    """One source column in the staging relation."""

    name: str  # as in the source (header, JSON key, Parquet field)
    ident: str  # quoted identifier in the staging relation
    source_type: str  # DuckDB type of the staged values
    value_type: str | None  # property type: BIGINT, DOUBLE, BOOLEAN, VARCHAR; None = no values
    long: bool = False  # its values are rows of LONG_STAGE, not a column of STAGE
    filled: int | None = None  # rows with a value, where the reader counted them (JSON keys)


@dataclass(frozen=True)
class Malformed:
    """A record the reader could not split into fields."""

    line: int
    reason: str
    raw: str


@dataclass
class StagedFile:
    columns: list[StagedColumn]
    rows_read: int
    malformed: list[Malformed] = field(default_factory=list)
    undecodable: int = 0  # records among ``malformed`` set aside for bytes that are not UTF-8


def drop_stage(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the staging relation, whether a reader made it a table or a view."""
    row = first_row(
        con, "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [STAGE]
    )
    if row is not None:
        kind = "VIEW" if "VIEW" in str(row[0]).upper() else "TABLE"
        con.execute(f"DROP {kind} {STAGE}")
    con.execute(f"DROP TABLE IF EXISTS {LONG_STAGE}")


def create_long_stage(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {LONG_STAGE} "
        "(__line BIGINT, __column VARCHAR, __value VARCHAR)"
    )


def stage_column(con: duckdb.DuckDBPyConnection, column: StagedColumn) -> StagedColumn:
    """The column itself when it is in ``STAGE``; a long column is first copied there."""
    if not column.long:
        return column
    con.execute(f"ALTER TABLE {STAGE} ADD COLUMN IF NOT EXISTS {column.ident} VARCHAR")
    con.execute(
        f"UPDATE {STAGE} SET {column.ident} = l.__value FROM {LONG_STAGE} AS l "
        f"WHERE l.__line = {STAGE}.__line AND l.__column = ?",
        [column.ident],
    )
    return StagedColumn(
        column.name, column.ident, column.source_type, column.value_type, filled=column.filled
    )


def create_stage(con: duckdb.DuckDBPyConnection, idents: list[str]) -> None:
    """(Re)create ``STAGE`` as a table: ``__line`` and one VARCHAR column per ident."""
    drop_stage(con)
    cols = "".join(f", {ident} VARCHAR" for ident in idents)
    con.execute(f"CREATE TEMP TABLE {STAGE} (__line BIGINT{cols})")


def append_chunk(
    con: duckdb.DuckDBPyConnection,
    lines: list[int],
    columns: dict[str, list[str | None]],
) -> None:
    """Append rows (their lines and each staging column's values) to the ``STAGE`` table."""
    arrays: dict[str, pa.Array] = {"__line": pa.array(lines, pa.int64())}
    for name, values in columns.items():
        arrays[name] = pa.array(values, pa.string())
    execute_with_table(
        con, "_fs_chunk", pa.table(arrays), f"INSERT INTO {STAGE} BY NAME SELECT * FROM _fs_chunk"
    )


def execute_with_table(
    con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, sql: str
) -> None:
    """Run `sql` with the Arrow `table` readable as `name` for that statement only."""
    con.register(name, table)
    try:
        con.execute(sql)
    finally:
        con.unregister(name)


def first_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()
) -> tuple[Any, ...] | None:
    """The first row of a query, reading the result to the end.

    DuckDB 2 refuses new work on a connection while a result is only partly fetched, so
    ``fetchone()`` on its own would leave the connection busy.
    """
    rows = con.execute(sql, list(params)).fetchall()
    return tuple(rows[0]) if rows else None


def column_ident(index: int) -> str:
    """The name of the staging column of the source column at ``index``."""
    return f"c{index}"


def row_json_sql(columns: Sequence[StagedColumn]) -> str:
    """JSON text of a staged row's values (for the quarantine), the long-staged ones merged in
    from the relation ``l`` of :func:`long_values_sql`."""
    pairs = ", ".join(f"{sql_string(c.name)}, s.{c.ident}" for c in columns if not c.long)
    wide = f"json_object({pairs})"
    if not any(c.long for c in columns):
        return wide
    return f"json_merge_patch({wide}, coalesce(l.__values, '{{}}'))"


def long_values_sql(columns: Sequence[StagedColumn]) -> str:
    """(__line, __values): each line's long-staged values as one JSON object by key name."""
    names = " ".join(
        f"WHEN {sql_string(c.ident)} THEN {sql_string(c.name)}" for c in columns if c.long
    )
    return (
        f"SELECT __line, json_group_object(CASE __column {names} END, __value) AS __values "
        f"FROM {LONG_STAGE} GROUP BY __line"
    )
