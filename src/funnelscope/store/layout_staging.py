"""Staging a file of a recognised export layout: each record read, flattened by its layout and
appended to the staging relation, with the record's own text kept for the quarantine.

The layout is recognised from the file's first record (:func:`first_record`) unless one is named.
"""

from __future__ import annotations

import csv
import io
import json
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import duckdb

from funnelscope.errors import IngestError
from funnelscope.store.jsonl_reader import BadLine, JsonStager, check_row, read_object
from funnelscope.store.layouts import Layout, LayoutError
from funnelscope.store.layouts.core import FILE_TIME
from funnelscope.store.readers import ProgressCallback, SourceFormat
from funnelscope.store.staging import Malformed, StagedFile
from funnelscope.store.text_files import (
    Lines,
    decode_problem,
    detect_delimiter,
    has_undecodable,
    open_lines,
    show_bytes,
)

RAW: Final = "$fs:raw"  # the record as it was in the file, kept for the quarantine
_PARQUET_BATCH: Final = 10_000
_FLUSH_ROWS: Final = 50_000
_MAX_RECORD_LINES: Final = 1_000

# line, raw text, the record (None: unreadable), why it is unreadable, whether it has bytes
# that are not UTF-8
Record = tuple[int, str, dict[str, Any] | None, str | None, bool]


def first_record(path: Path, fmt: SourceFormat) -> dict[str, Any] | None:
    """The file's first readable record (a CSV header as keys), to recognise its layout by."""
    try:
        if fmt.kind == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches(batch_size=1):
                rows = batch.to_pylist()
                return rows[0] if rows else None
            return {name: None for name in parquet.schema_arrow.names}
        for _, _, record, _, _ in _records(path, fmt, None, limit=50):
            if record is not None:
                return record
    except (OSError, UnicodeDecodeError, ValueError, csv.Error):
        return None  # the reader proper reports what is wrong with the file
    return None


def stage_layout(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: str,
    fmt: SourceFormat,
    layout: Layout,
    on_progress: ProgressCallback | None = None,
) -> StagedFile:
    """Create the staging relation from `path`, each record flattened by `layout`."""
    stager = JsonStager(con)
    file_time = path.stat().st_mtime_ns // 1_000
    malformed: list[Malformed] = []
    rows_read = 0
    try:
        for line, raw, record, problem, bad_bytes in _records(path, fmt, on_progress):
            rows_read += 1
            shown = show_bytes(raw) if bad_bytes else raw
            if record is None:
                malformed.append(Malformed(line, problem or "unreadable record", shown))
                continue
            record[FILE_TIME] = file_time
            try:
                made = layout.transform(record)
                flat = made if isinstance(made, list) else [made]
                for row in flat:
                    check_row(row, raw, bad_bytes)
            except (LayoutError, BadLine) as exc:
                malformed.append(Malformed(line, str(exc), shown))
                continue
            except RecursionError:
                malformed.append(Malformed(line, "nested too deeply to read", shown[:10_000]))
                continue
            for row in flat:
                row[RAW] = raw
                stager.add(line, row)
            if len(stager.lines) >= _FLUSH_ROWS:
                stager.flush()
    except UnicodeDecodeError as exc:
        raise IngestError(
            source,
            f"not UTF-8 text in the header ({exc.reason})",
            "save the file with UTF-8 encoding",
        ) from exc
    except (OSError, EOFError) as exc:
        raise IngestError(source, f"cannot read: {exc}", "check the file is complete") from exc
    stager.flush()
    return StagedFile(stager.columns(), rows_read, malformed)


def _records(
    path: Path, fmt: SourceFormat, on_progress: ProgressCallback | None, limit: int | None = None
) -> Iterator[Record]:
    if fmt.kind == "parquet":
        yield from _parquet_records(path, limit)
        return
    with open_lines(path, fmt.gzipped, split_cr=fmt.kind == "csv") as (text, raw_file):

        def report() -> None:
            if on_progress is not None:
                on_progress(raw_file.tell(), text.lines)

        reader = _csv_records if fmt.kind == "csv" else _json_records
        for count, record in enumerate(reader(text, fmt.delimiter), start=1):
            yield record
            if limit is not None and count >= limit:
                return
            if count % _FLUSH_ROWS == 0:
                report()
        report()


def _json_records(text: Lines, _: str | None) -> Iterator[Record]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        raw = line.rstrip("\r\n")
        bad_bytes = has_undecodable(raw)
        try:
            obj = read_object(raw, bad_bytes)
        except BadLine as exc:
            yield number, raw, None, str(exc), bad_bytes
            continue
        yield number, raw, obj, None, bad_bytes


def _csv_records(text: Lines, delimiter: str | None) -> Iterator[Record]:
    """CSV rows as dicts (header -> value, empty -> None) with their first line's number.

    A quoted field may span lines; a quote still open after ``_MAX_RECORD_LINES`` lines or at the
    end of the file makes only the record's first line bad, and reading goes on at the next line.
    """
    first = text.readline()
    if not first:
        return
    if has_undecodable(first):
        raise UnicodeDecodeError("utf-8", b"", 0, 1, decode_problem(first))
    sep = delimiter or detect_delimiter(first.rstrip("\r\n"))
    header = [name.strip() for name in next(csv.reader([first], delimiter=sep), [])]
    pending: deque[tuple[int, str]] = deque()
    number = 1

    def next_line() -> tuple[int, str] | None:
        nonlocal number
        if pending:
            return pending.popleft()
        line = text.readline()
        if not line:
            return None
        number += 1
        return number, line

    while (start := next_line()) is not None:
        line_no, chunk = start
        if not chunk.strip():
            continue
        taken = [chunk]
        while "".join(taken).count('"') % 2 and len(taken) < _MAX_RECORD_LINES:
            more = next_line()
            if more is None:
                break
            taken.append(more[1])
        buffered = "".join(taken)
        if buffered.count('"') % 2:
            extra = [(line_no + i, line) for i, line in enumerate(taken[1:], start=1)]
            pending.extendleft(reversed(extra))
            reason = "malformed CSV record: unterminated quote (starts here)"
            yield line_no, chunk.rstrip("\r\n"), None, reason, has_undecodable(chunk)
            continue
        raw = buffered.rstrip("\r\n")
        bad_bytes = has_undecodable(raw)
        try:
            record = next(csv.reader(io.StringIO(buffered), delimiter=sep), [])
        except csv.Error as exc:
            yield line_no, raw, None, f"malformed CSV record: {exc}", bad_bytes
            continue
        if len(record) != len(header):
            reason = f"malformed CSV record: expected {len(header)} fields, got {len(record)}"
            yield line_no, raw, None, reason, bad_bytes
            continue
        values = {name: value or None for name, value in zip(header, record, strict=True)}
        yield line_no, raw, values, None, bad_bytes


def _parquet_records(path: Path, limit: int | None) -> Iterator[Record]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_PARQUET_BATCH):
        for row in batch.to_pylist():
            number += 1
            raw = json.dumps(row, default=str, ensure_ascii=False, sort_keys=True)
            yield number, raw, row, None, False
            if limit is not None and number >= limit:
                return
