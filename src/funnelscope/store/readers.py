"""Reading one source file into the DuckDB staging relation (see :mod:`.staging`).

The file name chooses the reader: CSV/TSV (:mod:`.csv_reader`) and JSON Lines
(:mod:`.jsonl_reader`) are parsed in Python (so a malformed record is found together with its
line) and appended in chunks through Arrow; Parquet is read by DuckDB directly, never row by row.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from funnelscope.errors import IngestError
from funnelscope.store.csv_fast import stage_csv_fast
from funnelscope.store.csv_reader import stage_csv
from funnelscope.store.exact_files import ROW_NUMBER, ParquetScan, parquet_scan
from funnelscope.store.jsonl_reader import stage_jsonl
from funnelscope.store.sql_text import quote_ident
from funnelscope.store.staging import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    STAGE,
    VARCHAR,
    StagedColumn,
    StagedFile,
    column_ident,
    drop_stage,
    first_row,
)
from funnelscope.store.text_files import open_lines

SUPPORTED: Final = (
    ".csv, .tsv, .jsonl, .ndjson, .json (JSON Lines), each optionally .gz; .parquet, .pq"
)

ProgressCallback = Callable[[int, int], None]
"""Called with the number of source bytes read so far."""


@dataclass(frozen=True)
class SourceFormat:
    kind: str  # csv, jsonl or parquet
    gzipped: bool
    delimiter: str | None = None  # CSV only; None = detect from the header line


def detect_format(path: Path, source: str) -> SourceFormat:
    """Choose the reader from the file name; unknown extensions raise IngestError."""
    name = path.name.lower()
    gzipped = name.endswith(".gz")
    if gzipped:
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix in (".parquet", ".pq") and not gzipped:
        return SourceFormat("parquet", False)
    if suffix == ".csv":
        return SourceFormat("csv", gzipped, None)
    if suffix == ".tsv":
        return SourceFormat("csv", gzipped, "\t")
    if suffix in (".jsonl", ".ndjson", ".json"):
        return SourceFormat("jsonl", gzipped)
    problem = (
        "a gzipped Parquet file is not supported"
        if gzipped and suffix in (".parquet", ".pq")
        else f"unknown file type {path.name!r}"
    )
    return _raise_unsupported(source, problem)


def _raise_unsupported(source: str, problem: str) -> SourceFormat:
    raise IngestError(source, problem, f"supported: {SUPPORTED}; rename the file accordingly")


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: str,
    fmt: SourceFormat,
    on_progress: ProgressCallback | None = None,
) -> StagedFile:
    """Create the staging relation ``STAGE`` for ``path`` (inside the caller's transaction).

    Text files are decoded as UTF-8 line by line: a record with bytes that are not UTF-8 is
    quarantined on its own (its raw text shows them as ``\\xNN``) and the rest loads. A file
    that is mostly in another encoding is refused as a whole instead, naming its first bad line
    and asking for UTF-8: when its header (CSV) is not UTF-8, or when more than half of its
    records are not (one bad record in two still loads the other). Gzip data is read as such
    whatever the file name says.
    """
    if fmt.kind == "parquet":
        return _stage_parquet(con, path, source)
    if fmt.kind == "csv" and not fmt.gzipped:
        fast = stage_csv_fast(con, path, source, fmt.delimiter)
        if fast is not None:
            if on_progress is not None:
                on_progress(path.stat().st_size, fast.rows_read)
            return fast
    with open_lines(path, fmt.gzipped, split_cr=fmt.kind == "csv") as (lines, raw):

        def report() -> None:
            if on_progress is not None:
                on_progress(raw.tell(), lines.lines)

        try:
            if fmt.kind == "csv":
                staged = stage_csv(con, lines, source, fmt.delimiter, report)
            else:
                staged = stage_jsonl(con, lines, report)
        except (gzip.BadGzipFile, EOFError, OSError, zlib.error) as exc:
            raise IngestError(
                source, f"cannot decompress: {exc}", "check the file is a complete gzip file"
            ) from exc
        report()
    if staged.undecodable * 2 > staged.rows_read and lines.first_error is not None:
        line, problem = lines.first_error
        raise IngestError(
            source,
            f"not UTF-8 text ({problem})",
            f"save the file with UTF-8 encoding ({staged.undecodable:,} of "
            f"{staged.rows_read:,} rows are not UTF-8 text)",
            line=line,
        )
    return staged


# ---------------------------------------------------------------- Parquet


_WIDE_INTEGERS: Final = frozenset({"UBIGINT", "HUGEINT", "UHUGEINT"})


def _parquet_value_type(duck_type: str) -> str:
    """The property type of a Parquet column (wide integers are decided by their values).

    DATE and TIMESTAMP columns become VARCHAR holding ISO 8601 text (see the store's value SQL).
    """
    if duck_type in (
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
    ):
        return BIGINT
    if duck_type in ("FLOAT", "DOUBLE") or duck_type.startswith("DECIMAL"):
        return DOUBLE
    if duck_type == "BOOLEAN":
        return BOOLEAN
    return VARCHAR


def _wide_integer_types(
    con: duckdb.DuckDBPyConnection, scan: str, fields: list[tuple[str, str]]
) -> dict[str, str]:
    """UBIGINT/HUGEINT/UHUGEINT columns: BIGINT when every value fits, else VARCHAR (exact)."""
    wide = [name for name, kind in fields if kind in _WIDE_INTEGERS]
    if not wide:
        return {}
    checks = ", ".join(
        f"count(*) FILTER (WHERE {quote_ident(name)} IS NOT NULL "
        f"AND TRY_CAST({quote_ident(name)} AS BIGINT) IS NULL)"
        for name in wide
    )
    row = first_row(con, f"SELECT {checks} FROM {scan}")
    assert row is not None
    return {name: VARCHAR if misfits else BIGINT for name, misfits in zip(wide, row, strict=True)}


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, source: str) -> StagedFile:
    """Stage a Parquet file as a view over ``read_parquet``: no copy, no per-row Python. A name
    DuckDB cannot read literally is staged as a table from pyarrow (see :mod:`.exact_files`)."""
    scan: ParquetScan | None = None
    try:
        scan = parquet_scan(con, path, _EXACT_PARQUET)
        described = con.execute(f"DESCRIBE SELECT * FROM {scan.sql}").fetchall()
        rows_read = first_row(con, f"SELECT count(*) FROM {scan.sql}")
        fields = [(name, str(kind)) for name, kind, *_ in described if name != ROW_NUMBER]
        wide = _wide_integer_types(con, scan.sql, fields)
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        _forget(con, scan)
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IngestError(
            source,
            f"cannot read Parquet file: {message}",
            "check the file is a complete Parquet file (re-export it)",
        ) from exc
    columns = [
        StagedColumn(name, column_ident(i), kind, wide.get(name) or _parquet_value_type(kind))
        for i, (name, kind) in enumerate(fields)
    ]
    select = "".join(f", {quote_ident(c.name)} AS {c.ident}" for c in columns)
    drop_stage(con)
    kind = "VIEW" if scan.registered is None else "TABLE"
    try:
        con.execute(
            f"CREATE TEMP {kind} {STAGE} AS "
            f"SELECT {ROW_NUMBER} + 1 AS __line{select} FROM {scan.sql}"
        )
    finally:
        _forget(con, scan)
    assert rows_read is not None
    return StagedFile(columns, int(rows_read[0]))


_EXACT_PARQUET: Final = "_fs_exact_parquet"


def _forget(con: duckdb.DuckDBPyConnection, scan: ParquetScan | None) -> None:
    if scan is not None and scan.registered is not None:
        con.unregister(scan.registered)
