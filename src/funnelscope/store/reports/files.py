"""Opening report files: CSV (plain, gzipped, UTF-16 or Windows-1252, with title lines above
the header) and Parquet, and :func:`read_report`, the entry point."""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Iterator
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from funnelscope.errors import IngestError
from funnelscope.store.reports.cell_parsing import NumberReader
from funnelscope.store.reports.columns import (
    ColumnPlan,
    ReportMapping,
    Vocabulary,
    find_column,
    flag_for,
    make_plan,
    one_unit,
    quoted,
)
from funnelscope.store.reports.rows import ColumnCells, ReportSource, RowAssembler
from funnelscope.store.text_files import detect_delimiter, open_text

HEADER_SEARCH_LINES: Final = 30
_CHUNK_ROWS: Final = 65_536


# ---------------------------------------------------------------------------------------------
# CSV


def _sniff_encoding(path: Path, gz: bool, source: str) -> str:
    try:
        with open_text(path, gz) as (text, _):
            head = bytes(text.buffer.read(4))
    except (OSError, EOFError) as exc:
        raise IngestError(
            source, f"cannot read the file: {exc}", "check it is a gzip file"
        ) from exc
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return "utf-8-sig"


def _read_csv(source: str, path: Path, mapping: ReportMapping, gz: bool, tsv: bool) -> ReportSource:
    encoding = _sniff_encoding(path, gz, source)
    notes: list[str] = []
    if encoding == "utf-16":
        notes.append("read as UTF-16 text (an Excel 'Unicode text' export)")
    try:
        return _read_csv_as(source, path, mapping, gz, tsv, encoding, notes)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8-sig":
            raise IngestError(
                source, "the file is not valid UTF-16 text", "save it as UTF-8"
            ) from exc
    notes.append("the file is not UTF-8; read it as Windows-1252 (cp1252)")
    return _read_csv_as(source, path, mapping, gz, tsv, "cp1252", notes)


def _find_header(
    source: str, path: Path, head: list[str], mapping: ReportMapping, tsv: bool
) -> tuple[int, str, list[str]]:
    """Index of the header among the first lines, its delimiter and its fields."""
    vocab = Vocabulary(mapping)
    forced = mapping.delimiter or ("\t" if tsv else None)
    start = 0
    if head and not forced:
        sep = re.fullmatch(r"sep=(.)\s*", head[0])
        if sep:
            forced, start = sep[1], 1
    candidates: list[tuple[int, str, list[str]]] = []
    for index in range(start, len(head)):
        line = head[index]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        delimiter = forced or detect_delimiter(line.rstrip("\r\n"))
        fields = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])
        candidates.append((index, delimiter, fields))
    for min_fields in (2, 1):
        for index, delimiter, fields in candidates:
            named = [f for f in fields if f.strip()]
            if len(named) >= min_fields and vocab.header_score(fields, head[index]):
                return index, delimiter, [f.strip() for f in fields]
    if not candidates:
        raise IngestError(source, "the file is empty: no header line", "export the report again")
    seen = max(candidates, key=lambda c: len(c[2]))[2]
    columns = [f.strip() for f in seen if f.strip()]
    for key, name in mapping.columns.items():
        find_column(source, name, columns or [""], f'{flag_for(key)}"{name}"')
    stage = mapping.stages[0] if mapping.stages else "visits"
    example = columns[-1] if columns else "Sessions"
    raise IngestError(
        source,
        f"no header with a date or measure column in the first {HEADER_SEARCH_LINES} lines"
        + f" (columns found: {quoted(columns)})",
        f'name the columns: use --stage {stage}="{example}" for a count, --date-column for the '
        f"date, or --count-rows {path.name}={stage} if each row is one {one_unit(stage)}",
    )


def _read_csv_as(
    source: str,
    path: Path,
    mapping: ReportMapping,
    gz: bool,
    tsv: bool,
    encoding: str,
    notes: list[str],
) -> ReportSource:
    notes = list(notes)
    with open_text(path, gz, encoding=encoding) as (f, _):
        try:
            head = [line for line in (f.readline() for _ in range(HEADER_SEARCH_LINES)) if line]
        except (OSError, EOFError) as exc:
            raise IngestError(source, f"cannot read the file: {exc}") from exc
        index, delimiter, headers = _find_header(source, path, head, mapping, tsv)
        titles = index
        if head and re.fullmatch(r"sep=(.)\s*", head[0]) and not (mapping.delimiter or tsv):
            notes.append(f"read the separator {delimiter!r} from the 'sep=' line")
            titles -= 1
        if titles:
            notes.append(f"skipped {titles} title line{'s' * (titles != 1)} before the header")
        if delimiter != "," and not (tsv and delimiter == "\t"):
            shown = "tabs" if delimiter == "\t" else repr(delimiter)
            notes.append(f"columns are separated by {shown}")
        plan = make_plan(source, path, headers, mapping)
        assembler = RowAssembler(
            source, plan, mapping, NumberReader(comma_decimal=delimiter == ";")
        )
        ragged = _scan_rows(source, f, head[index:], index, delimiter, headers, plan, assembler)

    def raw(spans: list[tuple[int, int]]) -> dict[int, str]:
        return _raw_lines(path, gz, encoding, spans)

    return assembler.finish(raw, notes, ragged)


def _scan_rows(
    source: str,
    f: Iterator[str],
    first: list[str],
    offset: int,
    delimiter: str,
    headers: list[str],
    plan: ColumnPlan,
    assembler: RowAssembler,
) -> list[tuple[int, int, str]]:
    """Feed the data rows to the assembler in chunks; returns the ragged rows (start, end, why)."""
    reader = csv.reader(chain(first, f), delimiter=delimiter)
    ncols = len(headers)
    getters = [(j, itemgetter(j)) for j in plan.needed()]
    ragged: list[tuple[int, int, str]] = []
    rows: list[list[str]] = []
    starts: list[int] = []
    ends: list[int] = []

    def flush() -> None:
        cols = {j: ColumnCells(text=list(map(get, rows))) for j, get in getters}
        assembler.add(cols, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))
        rows.clear()
        starts.clear()
        ends.clear()

    try:
        next(reader)
        previous = reader.line_num + offset
        for row in reader:
            end = reader.line_num + offset
            start, previous = previous + 1, end
            if len(row) != ncols:
                fitted = _fit(row, headers)
                if fitted is None:
                    if any(c.strip() for c in row):
                        why = f"has {len(row)} fields, the header has {ncols}"
                        ragged.append((start, end, why))
                    continue
                row = fitted
            rows.append(row)
            starts.append(start)
            ends.append(end)
            if len(rows) >= _CHUNK_ROWS:
                flush()
    except csv.Error as exc:
        raise IngestError(
            source,
            f"the CSV cannot be parsed: {exc}",
            "check quoting",
            line=reader.line_num + offset,
        ) from exc
    if rows or not assembler.rows:
        flush()
    return ragged


def _fit(row: list[str], headers: list[str]) -> list[str] | None:
    """A row with trailing empty extras trimmed (or short by unnamed columns padded); None if
    it cannot be lined up with the header."""
    n, ncols = len(row), len(headers)
    if n > ncols and not any(c.strip() for c in row[ncols:]):
        return row[:ncols]
    if 0 < n < ncols and not any(headers[n:]):
        return row + [""] * (ncols - n)
    return None


def _raw_lines(path: Path, gz: bool, encoding: str, spans: list[tuple[int, int]]) -> dict[int, str]:
    """The raw text of the records at (start, end) physical lines, read again from the file."""
    if not spans:
        return {}
    owner: dict[int, int] = {}
    for start, end in spans:
        for k in range(start, end + 1):
            owner[k] = start
    last = max(end for _, end in spans)
    parts: dict[int, list[str]] = {}
    with open_text(path, gz, encoding=encoding) as (f, _):
        for number, line in enumerate(f, 1):
            if number > last:
                break
            first = owner.get(number)
            if first is not None:
                parts.setdefault(first, []).append(line.rstrip("\r\n"))
    return {start: "\n".join(lines) for start, lines in parts.items()}


# ---------------------------------------------------------------------------------------------
# Parquet


def _read_parquet(source: str, path: Path, mapping: ReportMapping) -> ReportSource:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(source, f"not a readable Parquet file: {exc}") from exc
    headers = [str(name) for name in table.column_names]
    typed_dates = frozenset(
        j
        for j, f in enumerate(table.schema)
        if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)
    )
    plan = make_plan(source, path, headers, mapping, typed_dates)
    measure_columns = set(plan.measures.values())
    cols: dict[int, ColumnCells] = {}
    for j in plan.needed():
        column = table.column(j)
        kind = column.type
        if j == plan.date and j in typed_dates:
            cols[j] = ColumnCells(days=_arrow_days(column))
        elif j in measure_columns and (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        ):
            numbers = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            cols[j] = ColumnCells(numbers=np.asarray(numbers, dtype=np.float64))
        else:
            cols[j] = ColumnCells(text=_arrow_text(column))
    n = table.num_rows
    lines = np.arange(1, n + 1, dtype=np.int64)
    assembler = RowAssembler(source, plan, mapping, NumberReader(comma_decimal=False))
    assembler.add(cols, lines, lines)

    def raw(spans: list[tuple[int, int]]) -> dict[int, str]:
        out: dict[int, str] = {}
        for start, _ in spans:
            record = table.slice(start - 1, 1).to_pylist()[0]
            out[start] = ", ".join(f"{k}={'' if v is None else v}" for k, v in record.items())
        return out

    return assembler.finish(raw, [])


def _arrow_days(column: Any) -> npt.NDArray[np.datetime64]:
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        column = pc.local_timestamp(column)  # the calendar date where it was recorded
    days = pc.cast(column, pa.date32()).to_numpy(zero_copy_only=False)
    return np.asarray(days, dtype="datetime64[D]")


def _arrow_text(column: Any) -> list[str]:
    try:
        values = pc.cast(column, pa.string()).to_pylist()
    except (pa.ArrowException, NotImplementedError):
        values = [None if v is None else str(v) for v in column.to_pylist()]
    return ["" if v is None else v for v in values]


# ---------------------------------------------------------------------------------------------
# entry point


def read_report(path: str | Path, mapping: ReportMapping) -> ReportSource:
    """Read one report file (CSV, TSV, optionally gzipped, or Parquet) under `mapping`.

    Raises IngestError when the file cannot be used at all; single bad rows are returned in
    ``rejected`` and the other rows are kept.
    """
    source = str(path)
    p = Path(path)
    if not p.exists():
        near: list[str] = []
        if p.parent.is_dir():
            names = [c.name for c in p.parent.iterdir()]
            near = difflib.get_close_matches(p.name, names, n=1, cutoff=0.6)
        hint = f"did you mean {str(p.parent / near[0])!r}?" if near else "check the path"
        raise IngestError(source, "file not found", hint)
    if p.is_dir():
        raise IngestError(source, "is a directory, not a report file", "pass the file itself")
    name = p.name.casefold()
    gz = name.endswith(".gz")
    base = name.removesuffix(".gz")
    if base.endswith((".parquet", ".pq")) and not gz:
        return _read_parquet(source, p, mapping)
    if base.endswith((".csv", ".tsv", ".txt")):
        return _read_csv(source, p, mapping, gz, tsv=base.endswith(".tsv"))
    suffix = "".join(p.suffixes[-2:]) or "(none)"
    hint = "save it as CSV from Excel" if base.endswith((".xlsx", ".xls")) else ""
    raise IngestError(
        source,
        f"cannot read {suffix} files",
        (hint + "; " if hint else "") + "use .csv or .tsv (optionally .gz) or .parquet",
    )
