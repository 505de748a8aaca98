"""Reading one CRM export file: its rows, and which layout it is."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from funnelscope.errors import IngestError
from funnelscope.store.crm.layouts import LAYOUTS
from funnelscope.store.crm.records import CrmFile, Layout, Row, normalise
from funnelscope.store.text_files import GZIP_MAGIC, detect_delimiter, open_text

MAX_FIELD = 10 * 2**20  # one cell may hold a long note, not a whole file


def read_crm_file(path: Path) -> CrmFile:
    """The file's rows, keyed by normalised header; UTF-8 (with or without BOM), else
    Windows-1252, gzip or plain, any of , ; tab | as delimiter."""
    if not path.is_file():
        raise IngestError(str(path), "no such file", "check the path")
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == GZIP_MAGIC
    try:
        return _read(path, gzipped, "utf-8-sig")
    except UnicodeDecodeError:
        return _read(path, gzipped, "cp1252")


def _read(path: Path, gzipped: bool, encoding: str) -> CrmFile:
    csv.field_size_limit(MAX_FIELD)
    with open_text(path, gzipped, encoding=encoding) as (stream, _):
        text = stream.read()
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise IngestError(str(path), "the file has no header line", "export it with headers", 1)
    delimiter = detect_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header_cells = next(reader)
    except csv.Error as exc:
        raise IngestError(str(path), f"the header cannot be read: {exc}", "", 1) from exc
    header = tuple(normalise(cell) for cell in header_cells)
    duplicates = sorted({name for name in header if header.count(name) > 1 and name})
    if duplicates:
        raise IngestError(
            str(path),
            f"the header names {duplicates[0]!r} twice",
            "rename one of the columns",
            1,
            duplicates[0],
        )
    rows: list[Row] = []
    previous_end = reader.line_num
    lines = text.splitlines()
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise IngestError(
                str(path),
                f"the CSV cannot be read: {exc}",
                "check the quoting near that line",
                reader.line_num,
            ) from exc
        start = previous_end + 1
        previous_end = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        raw = "\n".join(lines[start - 1 : reader.line_num])
        if len(cells) != len(header):
            cells = [*cells, *[""] * (len(header) - len(cells))][: max(len(header), len(cells))]
        row_cells = dict(zip(header, cells, strict=False))
        if len(cells) > len(header):
            row_cells["__extra__"] = delimiter.join(cells[len(header) :])
        rows.append(Row(start, row_cells, raw))
    return CrmFile(str(path), header, rows)


def pick_layout(file: CrmFile, wanted: str | None = None) -> Layout:
    """The layout named ``wanted``, or the first that recognises the header."""
    if wanted is not None:
        for layout in LAYOUTS:
            if layout.name == wanted:
                return layout
        names = ", ".join(layout.name for layout in LAYOUTS)
        raise IngestError(file.source, f"no CRM layout is named {wanted!r}", f"use one of {names}")
    for layout in LAYOUTS:
        if layout.matches(file.header):
            return layout
    raise IngestError(
        file.source,
        "this is not a CRM export funnelscope knows: " + _shown(file.header),
        "give deals a deal_id and stage column, stage changes deal_id, to_stage and changed_at, "
        "activities deal_id, kind and due_at/done_at (docs/pipeline.md), or name --layout",
        1,
    )


def _shown(header: Sequence[str]) -> str:
    names = ", ".join(header[:12])
    return f"columns {names}" + (" ..." if len(header) > 12 else "")
