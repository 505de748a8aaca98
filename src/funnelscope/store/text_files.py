"""Opening text source files and finding their CSV delimiter, for every reader in the store.

The event readers (:mod:`funnelscope.store.readers`) and the report readers
(:mod:`funnelscope.store.reports`) open files and sniff delimiters here, so the two agree.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Final

CSV_DELIMITERS: Final = (",", ";", "\t", "|")


@contextmanager
def open_text(
    path: Path, gzipped: bool, newline: str = "", encoding: str = "utf-8-sig"
) -> Iterator[tuple[io.TextIOWrapper, IO[bytes]]]:
    """Open a possibly gzipped text file; also hand out the raw byte stream for progress.

    ``newline`` is "" for CSV (csv handles \\r\\n, \\r and quoted line breaks itself) and "\\n" for
    JSON Lines, where only \\n ends a record (a bare \\r inside a record does not split it).
    Windows-1252 text is read with undecodable bytes replaced; any other encoding is strict.
    """
    errors = "replace" if encoding == "cp1252" else "strict"
    with open(path, "rb") as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[assignment]
        yield io.TextIOWrapper(stream, encoding=encoding, errors=errors, newline=newline), raw


def detect_delimiter(header_line: str) -> str:
    """The one of , ; tab | splitting ``header_line`` into the most fields (ties: first)."""
    best, most = ",", 0
    for candidate in CSV_DELIMITERS:
        try:
            fields = next(csv.reader([header_line], delimiter=candidate), [])
        except csv.Error:
            continue
        if len(fields) > most:
            best, most = candidate, len(fields)
    return best
