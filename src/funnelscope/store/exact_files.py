"""A Parquet file read by DuckDB as exactly that file, never as a glob pattern.

DuckDB's file readers expand ``*``, ``?`` and ``[...]`` in every path they are given (and
``**`` across directories), with no option to turn that off, so a file named ``x*.parquet`` next
to ``xa.parquet`` would read both. A path with such characters is escaped by putting each of
them in a one-character class (``*`` -> ``[*]``, ``[`` -> ``[[]``), and DuckDB's own ``glob()``
must then name exactly this file; a name the escape cannot express (DuckDB's glob does not see
files whose names hold a backslash) is read through pyarrow from the exact path instead and
handed to DuckDB as an Arrow table. Paths are made absolute first, so ``~`` and ``s3://``-like
prefixes are never interpreted either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa

from funnelscope.store.sql_text import quote_ident, sql_string

GLOB_CHARACTERS: Final = frozenset("*?[")
ROW_NUMBER: Final = "file_row_number"


@dataclass(frozen=True)
class ParquetScan:
    """How to read one Parquet file in SQL: ``sql`` is a relation with the file's columns and a
    0-based ``file_row_number``. ``registered`` is the name of an Arrow table registered on the
    connection (the pyarrow route), to ``con.unregister`` once nothing refers to it."""

    sql: str
    registered: str | None = None


def has_glob(path: str) -> bool:
    """Whether DuckDB would take this path for a pattern."""
    return any(ch in GLOB_CHARACTERS for ch in path)


def escape_glob(path: str) -> str:
    """The pattern that matches only the literal path (each glob character in its own class)."""
    return "".join(f"[{ch}]" if ch in GLOB_CHARACTERS else ch for ch in path)


def parquet_scan(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> ParquetScan:
    """Read exactly the Parquet file at `path` (never the files its name would match as a
    pattern). `name` is used only when the file must be registered as an Arrow table; it must
    not be registered on `con` already. Unreadable files raise pyarrow's or DuckDB's error."""
    exact = str(path.resolve())
    if not has_glob(exact):
        return ParquetScan(_read_parquet(exact))
    pattern = escape_glob(exact)
    matched = con.execute("SELECT file FROM glob(?)", [pattern]).fetchall()
    if [str(row[0]) for row in matched] == [exact]:
        return ParquetScan(_read_parquet(pattern))
    con.register(name, _arrow_with_row_numbers(path))
    return ParquetScan(quote_ident(name), registered=name)


def _read_parquet(pattern: str) -> str:
    return f"read_parquet({sql_string(pattern)}, {ROW_NUMBER} = true)"


def _arrow_with_row_numbers(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read()  # opens this one file; pyarrow never globs
    rows = pa.array(np.arange(table.num_rows, dtype=np.int64))
    return table.append_column(ROW_NUMBER, rows)
