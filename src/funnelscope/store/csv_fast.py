"""A clean CSV file staged by DuckDB's own reader, many times faster than record by record.

The Python reader (store/csv_reader.py) finds each malformed record with its exact line and
keeps the rest; DuckDB's reader is fast but stops at the first bad record and does not number
lines. So this path is taken only when it gives exactly what the Python reader would: an
uncompressed UTF-8 file that DuckDB reads with no error, whose every record is one physical line
(no field holds a line break and no line is blank, checked by counting the file's line breaks
against the records). Anything else returns None and the Python reader stages the file, so bad
rows are still found one by one. A test compares both readers on random files.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Final

import duckdb

from funnelscope.store.csv_reader import _header_names, _infer_text_types
from funnelscope.store.exact_files import has_glob
from funnelscope.store.sql_text import quote_ident, sql_string
from funnelscope.store.staging import STAGE, StagedFile, column_ident, drop_stage, first_row
from funnelscope.store.text_files import GZIP_MAGIC, detect_delimiter

_BOM: Final = b"\xef\xbb\xbf"
_BLOCK: Final = 1 << 24
MIN_BYTES: Final = 1 << 20  # smaller files are read record by record: it costs nothing


def stage_csv_fast(
    con: duckdb.DuckDBPyConnection, path: Path, source: str, delimiter: str | None
) -> StagedFile | None:
    """Stage `path` with DuckDB's reader when that is exact (see the module); None otherwise."""
    exact = str(path.resolve())
    header_line = None if has_glob(exact) else _first_line(path)  # DuckDB would glob the name
    if header_line is None:
        return None
    sep = delimiter or detect_delimiter(header_line)
    try:
        header = next(csv.reader([header_line], delimiter=sep))
    except (csv.Error, StopIteration):
        return None
    if '"' in header_line and header_line.count('"') % 2:
        return None
    names = _header_names(header, source)  # raises on duplicate names, as the slow path does
    idents = [column_ident(i) for i in range(len(names))]
    types = ", ".join(f"{sql_string(ident)}: 'VARCHAR'" for ident in idents)
    select = ", ".join(f"NULLIF({quote_ident(i)}, '') AS {quote_ident(i)}" for i in idents)
    drop_stage(con)
    try:
        con.execute(
            f"CREATE TEMP TABLE {STAGE} AS SELECT CAST(row_number() OVER () + 1 AS BIGINT) "
            f"AS __line, {select} FROM read_csv({sql_string(exact)}, header = false, "
            f"skip = 1, delim = {sql_string(sep)}, quote = '\"', escape = '\"', "
            f"columns = {{{types}}}, auto_detect = false, strict_mode = true, "
            "null_padding = false, compression = 'none', encoding = 'utf-8')"
        )
    except duckdb.Error:
        drop_stage(con)
        return None
    rows = first_row(con, f"SELECT count(*) FROM {STAGE}")
    breaks = " OR ".join(
        f"contains({i}, chr(10)) OR contains({i}, chr(13))" for i in map(quote_ident, idents)
    )
    spans = first_row(con, f"SELECT count(*) FROM {STAGE} WHERE {breaks or 'false'}")
    assert rows is not None and spans is not None
    if spans[0] or int(rows[0]) + 1 != _line_count(path):
        drop_stage(con)
        return None
    return StagedFile(_infer_text_types(con, names, idents), int(rows[0]))


def _first_line(path: Path) -> str | None:
    """The header line of a plain UTF-8 file big enough to be worth it, else None."""
    with open(path, "rb") as raw:
        head = raw.read(1 << 16)
        if head[:2] == GZIP_MAGIC or path.stat().st_size < MIN_BYTES:
            return None
        line = head.removeprefix(_BOM).split(b"\n", 1)[0]
    if b"\r" in line.rstrip(b"\r") or len(line) == len(head):
        return None  # bare carriage returns, or a header longer than the first block
    try:
        return line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None


def _line_count(path: Path) -> int:
    """Physical lines: line feeds, plus one for a last line without one."""
    count, last = 0, b""
    with open(path, "rb") as raw:
        while block := raw.read(_BLOCK):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (1 if last not in (b"", b"\n") else 0)
