"""Opening text source files and finding their CSV delimiter, for every reader in the store.

The event readers (:mod:`funnelscope.store.readers`) and the report readers
(:mod:`funnelscope.store.reports`) open files and sniff delimiters here, so the two agree.
The event readers read :class:`Lines`: each physical line decoded as UTF-8 on its own, so a line
that is not UTF-8 is set aside alone instead of failing the whole file.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Final

CSV_DELIMITERS: Final = (",", ";", "\t", "|")
GZIP_MAGIC: Final = b"\x1f\x8b"
_BOM: Final = b"\xef\xbb\xbf"
_BARE_CR: Final = re.compile(rb"(?<=\r)(?!\n)")  # splits after a \r not followed by \n
_ESCAPED_BYTE: Final = re.compile("[\udc80-\udcff]")  # a byte surrogateescape could not decode


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


class Lines:
    """The physical lines of a byte stream, each decoded as UTF-8 on its own.

    A line that is not UTF-8 does not stop the reading: it is decoded with each bad byte as a lone
    surrogate (Python's ``surrogateescape``), so it can still be split into fields; the readers set
    aside every record holding such a byte (:func:`has_undecodable`) and keep its text with the
    bytes written as ``\\xNN`` (:func:`show_bytes`). ``undecodable`` counts those lines and
    ``first_error`` holds the first one's line number and decoding problem.

    With ``split_cr`` a bare \\r ends a line too (CSV, as csv and universal newlines read it);
    JSON Lines ends lines at \\n only. A UTF-8 byte order mark at the start is dropped.
    """

    def __init__(self, stream: IO[bytes], *, split_cr: bool) -> None:
        self._stream = stream
        self._split_cr = split_cr
        self._held: deque[bytes] = deque()  # the rest of a read line split at bare \r
        self._started = False
        self.lines = 0
        self.undecodable = 0
        self.first_error: tuple[int, str] | None = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readline(self) -> str:
        """The next line with its line end, or "" at the end of the stream."""
        if self._held:
            data = self._held.popleft()
        else:
            data = self._stream.readline()
            if not self._started:
                self._started = True
                data = data.removeprefix(_BOM)
            if not data:
                return ""
            if self._split_cr:
                cr = data.find(b"\r")
                if cr >= 0 and not (cr == len(data) - 2 and data.endswith(b"\n")):
                    first, *rest = (piece for piece in _BARE_CR.split(data) if piece)
                    data = first
                    self._held.extend(rest)
        self.lines += 1
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.undecodable += 1
            if self.first_error is None:
                self.first_error = (self.lines, exc.reason)
            return data.decode("utf-8", "surrogateescape")


@contextmanager
def open_lines(path: Path, gzipped: bool, *, split_cr: bool) -> Iterator[tuple[Lines, IO[bytes]]]:
    """Open a possibly gzipped file as :class:`Lines`; also hand out the raw file for progress.

    A file whose bytes start with the gzip magic number is read as gzip whatever its name
    (``events.csv`` that is really ``events.csv.gz``).
    """
    with open(path, "rb") as raw:
        gzipped = gzipped or raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[assignment]
        yield Lines(stream, split_cr=split_cr), raw


def has_undecodable(text: str) -> bool:
    """Whether ``text`` (from :class:`Lines`) holds a byte that is not UTF-8."""
    return _ESCAPED_BYTE.search(text) is not None


def show_bytes(text: str) -> str:
    """``text`` from :class:`Lines` with each byte that is not UTF-8 written as ``\\xNN``."""
    return _ESCAPED_BYTE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def decode_problem(text: str) -> str:
    """Why ``text`` from :class:`Lines` is not UTF-8 (``invalid start byte``), or ""."""
    try:
        text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeDecodeError as exc:
        return str(exc.reason)
    return ""
