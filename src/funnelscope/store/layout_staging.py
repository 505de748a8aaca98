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
from funnelscope.store.layouts import Layout, LayoutError
from funnelscope.store.readers import (
    Malformed,
    ProgressCallback,
    SourceFormat,
    StagedFile,
    _JsonStager,
)
from funnelscope.store.text_files import detect_delimiter, open_text

RAW: Final = "$fs:raw"  # the record as it was in the file, kept for the quarantine
_PARQUET_BATCH: Final = 10_000
_FLUSH_ROWS: Final = 50_000
_MAX_RECORD_LINES: Final = 1_000

Record = tuple[int, str, dict[str, Any] | None, str | None]  # line, raw, record, why unreadable


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
        for _, _, record, _ in _records(path, fmt, None, limit=50):
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
    stager = _JsonStager(con)
    malformed: list[Malformed] = []
    rows_read = 0
    try:
        for line, raw, record, problem in _records(path, fmt, on_progress):
            rows_read += 1
            if record is None:
                malformed.append(Malformed(line, problem or "unreadable record", raw))
                continue
            try:
                row = layout.transform(record)
            except LayoutError as exc:
                malformed.append(Malformed(line, str(exc), raw))
                continue
            except RecursionError:
                malformed.append(Malformed(line, "nested too deeply to read", raw[:10_000]))
                continue
            row[RAW] = raw
            stager.add(line, row)
            if len(stager.lines) >= _FLUSH_ROWS:
                stager.flush()
    except UnicodeDecodeError as exc:
        raise IngestError(
            source, f"not UTF-8 text ({exc.reason})", "save the file with UTF-8 encoding"
        ) from exc
    except OSError as exc:
        raise IngestError(source, f"cannot read: {exc}", "check the file is complete") from exc
    stager.flush()
    return StagedFile(stager.columns(), rows_read, malformed)


def _records(
    path: Path, fmt: SourceFormat, on_progress: ProgressCallback | None, limit: int | None = None
) -> Iterator[Record]:
    if fmt.kind == "parquet":
        yield from _parquet_records(path, limit)
        return
    with open_text(path, fmt.gzipped, "" if fmt.kind == "csv" else "\n") as (text, raw_file):

        def report() -> None:
            if on_progress is not None:
                on_progress(raw_file.tell())

        reader = _csv_records if fmt.kind == "csv" else _json_records
        for count, record in enumerate(reader(text, fmt.delimiter), start=1):
            yield record
            if limit is not None and count >= limit:
                return
            if count % _FLUSH_ROWS == 0:
                report()
        report()


def _json_records(text: io.TextIOWrapper, _: str | None) -> Iterator[Record]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        raw = line.rstrip("\r\n")
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, raw, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
            continue
        except RecursionError:
            yield number, raw[:10_000], None, "invalid JSON: nested too deeply to read"
            continue
        if not isinstance(obj, dict):
            kind = "an array" if isinstance(obj, list) else type(obj).__name__
            yield number, raw, None, f"not a JSON object (got {kind}); each line must be one event"
            continue
        yield number, raw, obj, None


def _csv_records(text: io.TextIOWrapper, delimiter: str | None) -> Iterator[Record]:
    """CSV rows as dicts (header -> value, empty -> None) with their first line's number.

    A quoted field may span lines; a quote still open after ``_MAX_RECORD_LINES`` lines or at the
    end of the file makes only the record's first line bad, and reading goes on at the next line.
    """
    first = text.readline()
    if not first:
        return
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
            yield line_no, chunk.rstrip("\r\n"), None, reason
            continue
        raw = buffered.rstrip("\r\n")
        try:
            record = next(csv.reader(io.StringIO(buffered), delimiter=sep), [])
        except csv.Error as exc:
            yield line_no, raw, None, f"malformed CSV record: {exc}"
            continue
        if len(record) != len(header):
            reason = f"malformed CSV record: expected {len(header)} fields, got {len(record)}"
            yield line_no, raw, None, reason
            continue
        values = {name: value or None for name, value in zip(header, record, strict=True)}
        yield line_no, raw, values, None


def _parquet_records(path: Path, limit: int | None) -> Iterator[Record]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_PARQUET_BATCH):
        for row in batch.to_pylist():
            number += 1
            raw = json.dumps(row, default=str, ensure_ascii=False, sort_keys=True)
            yield number, raw, row, None
            if limit is not None and number >= limit:
                return
