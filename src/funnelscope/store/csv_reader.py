"""The CSV/TSV reader: records parsed in Python with their exact physical lines, staged through
Arrow in chunks, and each column typed from its values in one SQL pass."""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Final

import duckdb

from funnelscope.errors import IngestError
from funnelscope.store.sql_text import INT_PATTERN, NUMBER_PATTERN, sql_string
from funnelscope.store.staging import (
    BIGINT,
    BOOLEAN,
    CHUNK_ROWS,
    DOUBLE,
    EXACT_DOUBLE,
    STAGE,
    VARCHAR,
    Malformed,
    StagedColumn,
    StagedFile,
    append_chunk,
    column_ident,
    create_stage,
    first_row,
)
from funnelscope.store.text_files import (
    Lines,
    decode_problem,
    detect_delimiter,
    has_undecodable,
    show_bytes,
)


class _LineTracker:
    """Feeds physical lines to csv.reader and remembers them, for exact line numbers and raw text.

    Lines handed back with :meth:`replay` are fed again (with their own line numbers) before any
    new line is read, so parsing can restart after a record that ran to the end of the file.
    """

    def __init__(self, text: Lines, first: Sequence[str] = ()) -> None:
        self._text = text
        self._replay: deque[str] = deque(first)  # lines read ahead (the header), fed first
        self.lines_read = 0
        self.exhausted = False
        self.pending: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._replay:
            line = self._replay.popleft()
        else:
            line = self._text.readline()
            if not line:
                self.exhausted = True
                raise StopIteration
        self.lines_read += 1
        self.pending.append(line)
        return line

    def take_raw(self) -> str:
        raw = "".join(self.pending).rstrip("\r\n")
        self.pending = []
        return raw

    def replay(self, lines: list[str]) -> None:
        """Feed ``lines`` (already counted in lines_read) again, before anything new."""
        self._replay.extendleft(reversed(lines))
        self.lines_read -= len(lines)
        self.exhausted = False


def _broken_quote(text: str, delimiter: str, *, stray_close: bool = True) -> bool:
    """Whether ``text`` (the lines of one CSV record) has a quote that cannot be right.

    True when the text ends inside a quoted field, or a quoted field closes and text other than a
    delimiter or line end follows (``"oops\n...,"x``: the quote on a later line "closed" it) and
    ``stray_close`` is set.
    Mirrors csv's default dialect: a quote opens a quoted field only at the start of a field, and
    inside one a doubled quote is a literal quote.
    """
    start, unquoted, quoted, quote_in_quoted = range(4)
    state = start
    for char in text:
        if state == quoted:
            if char == '"':
                state = quote_in_quoted
        elif char == delimiter or char in "\r\n":
            state = start
        elif state == start:
            state = quoted if char == '"' else unquoted
        elif state == quote_in_quoted:
            if char != '"':
                if stray_close:
                    return True
                state = unquoted
            else:
                state = quoted
    return state == quoted


_UNTERMINATED: Final = "malformed CSV record: unterminated quote (starts here)"


def _header_names(header: list[str], source: str) -> list[str]:
    names = [name.strip() or f"column_{i + 1}" for i, name in enumerate(header)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise IngestError(
                source,
                f"duplicate column name {name!r} in the header",
                "rename one of the columns",
                line=1,
            )
        seen.add(name)
    return names


def stage_csv(
    con: duckdb.DuckDBPyConnection,
    text: Lines,
    source: str,
    delimiter: str | None,
    report: Callable[[], None],
) -> StagedFile:
    """Stage a CSV/TSV file, record by record.

    A quoted field may span lines; the record keeps its first line's number. A quote that is
    never closed would swallow later lines into one field, so a multi-line record that reaches
    the end of the file (or the field size limit) inside quotes, or whose quote is "closed" by a
    stray quote followed by more text, is quarantined as an unterminated quote on its first line
    only, and parsing restarts at the next physical line.

    A record with bytes that are not UTF-8 is quarantined naming the columns that hold them
    (whether the file as a whole is refused is :func:`~funnelscope.store.readers.stage_file`'s
    rule); a header with such bytes refuses the file here.
    """
    if delimiter is None:
        first = text.readline()
        delimiter = detect_delimiter(first.rstrip("\r\n"))
        tracker = _LineTracker(text, [first] if first else [])
    else:
        tracker = _LineTracker(text)
    reader = csv.reader(tracker, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise IngestError(source, "the file is empty", "a header line with column names is needed")
    if tracker.exhausted and _broken_quote("".join(tracker.pending), delimiter, stray_close=False):
        raise IngestError(
            source,
            "unterminated quote in the header",
            'close the quote (a " inside a quoted name is written "")',
            line=1,
        )
    if text.undecodable:
        raise IngestError(
            source,
            f"not UTF-8 text in the header ({decode_problem(tracker.take_raw())})",
            "save the file with UTF-8 encoding",
            line=1,
        )
    names = _header_names(header, source)
    tracker.take_raw()
    width = len(names)
    idents = [column_ident(i) for i in range(width)]
    create_stage(con, idents)
    lines: list[int] = []
    values: list[list[str | None]] = [[] for _ in range(width)]
    bad = _BadRecords()
    rows_read = 0
    while True:
        start = tracker.lines_read + 1
        error: csv.Error | None = None
        try:
            record = next(reader, None)
        except csv.Error as exc:
            error, record = exc, None
        pending = tracker.pending
        if len(pending) > 1 and _broken_quote("".join(pending), delimiter):
            # an unterminated quote: only its own line is bad; the lines it swallowed are records
            tracker.pending = []
            tracker.replay(pending[1:])
            reader = csv.reader(tracker, delimiter=delimiter)
            rows_read += 1
            bad.add(start, _UNTERMINATED, pending[0].rstrip("\r\n"))
            continue
        if error is not None:
            raw = tracker.take_raw()
            if error.args and "unexpected end of data" in str(error):
                reason = _UNTERMINATED
            else:
                reason = f"malformed CSV record: {error}"
            rows_read += 1
            bad.add(start, reason, raw)
            reader = csv.reader(tracker, delimiter=delimiter)
            continue
        if record is None:
            break
        raw = tracker.take_raw()
        if not record:
            continue  # blank line
        if (
            len(pending) == 1
            and tracker.exhausted
            and _broken_quote(raw, delimiter, stray_close=False)
        ):
            rows_read += 1  # the last line opens a quote that never closes
            bad.add(start, _UNTERMINATED, raw)
            continue
        rows_read += 1
        if text.undecodable and has_undecodable(raw):
            bad.add(start, _undecodable_reason(record, names), raw)
            continue
        if len(record) != width:
            reason = f"malformed CSV record: expected {width} fields, got {len(record)}"
            bad.add(start, reason, raw)
            continue
        lines.append(start)
        for column, value in zip(values, record, strict=True):
            column.append(value if value != "" else None)
        if len(lines) >= CHUNK_ROWS:
            append_chunk(con, lines, dict(zip(idents, values, strict=True)))
            lines, values = [], [[] for _ in range(width)]
            report()
    if lines:
        append_chunk(con, lines, dict(zip(idents, values, strict=True)))
    columns = _infer_text_types(con, names, idents)
    return StagedFile(columns, rows_read, bad.records, bad.undecodable)


class _BadRecords:
    """The records set aside, their raw text with bytes that are not UTF-8 shown as \\xNN."""

    def __init__(self) -> None:
        self.records: list[Malformed] = []
        self.undecodable = 0

    def add(self, line: int, reason: str, raw: str) -> None:
        if has_undecodable(raw):
            self.undecodable += 1
            raw = show_bytes(raw)
        self.records.append(Malformed(line, reason, raw))


UTF8_FIX: Final = "save the file with UTF-8 encoding or correct the value"


def _undecodable_reason(record: list[str], names: list[str]) -> str:
    """Which columns of ``record`` hold bytes that are not UTF-8, with their values."""
    found = [
        (f"column {names[i]!r}" if i < len(names) else f"field {i + 1}", show_bytes(value))
        for i, value in enumerate(record)
        if has_undecodable(value)
    ]
    where = ", ".join(f"{name} ({_shorten(value)})" for name, value in found)
    return f"not UTF-8 text in {where}; {UTF8_FIX}"


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


_COLUMNS_PER_QUERY: Final = 32  # DuckDB plans a query of thousands of aggregates in GBs
_COLUMNS_PER_UNPIVOT: Final = 1024  # columns one query of a wide file turns into rows


def _infer_text_types(
    con: duckdb.DuckDBPyConnection, names: list[str], idents: list[str]
) -> list[StagedColumn]:
    """Type each VARCHAR staging column from its values.

    All non-null values integers -> BIGINT, unless one has a leading zero ("007" is a code, not a
    number) -> VARCHAR, or one does not fit BIGINT -> VARCHAR (kept digit for digit); numbers ->
    DOUBLE, unless an integer among them exceeds 2**53 in magnitude (a DOUBLE would change its
    digits) -> VARCHAR; true/false -> BOOLEAN; anything else -> VARCHAR.

    Up to :data:`_COLUMNS_PER_QUERY` columns are counted side by side in one pass. A wider file
    is turned into (column, value) rows (UNPIVOT, which also leaves out empty cells) and counted
    per column, :data:`_COLUMNS_PER_UNPIVOT` columns per query: the query's size then does not
    grow with the width (thousands of side-by-side aggregates take DuckDB GBs to plan), nor the
    number of passes over the file.
    """
    text = _text_in_sample(con, idents)
    rest = [(name, ident) for name, ident in zip(names, idents, strict=True) if ident not in text]
    proved = {column.ident: column for column in _infer_all(con, rest)}
    return [
        StagedColumn(name, ident, VARCHAR, VARCHAR) if ident in text else proved[ident]
        for name, ident in zip(names, idents, strict=True)
    ]


_SAMPLE_ROWS: Final = 10_000


def _text_in_sample(con: duckdb.DuckDBPyConnection, idents: list[str]) -> set[str]:
    """The columns that some :data:`_SAMPLE_ROWS` rows already prove to be text: a value that is
    neither a number nor true/false makes a column VARCHAR whatever the other rows hold, so only
    the other columns need the pass over every row (ids, names and times never do)."""
    if not idents or _SAMPLE_ROWS <= 0:
        return set()
    rows = first_row(con, f"SELECT count(*) FROM {STAGE}")
    if rows is not None and rows[0] <= _SAMPLE_ROWS:
        return set()  # the sample would be the whole file: one pass over every row is enough
    text: set[str] = set()
    for start in range(0, len(idents), _COLUMNS_PER_UNPIVOT):
        text |= _text_in_sample_batch(con, idents[start : start + _COLUMNS_PER_UNPIVOT])
    return text


def _text_in_sample_batch(con: duckdb.DuckDBPyConnection, idents: list[str]) -> set[str]:
    sample = f"(SELECT * FROM {STAGE} LIMIT {_SAMPLE_ROWS})"
    total, _, _, numbers, _, booleans, _ = _value_counts("__value")
    proof = f"{total} > {numbers} AND {total} > {booleans}"  # a value of neither kind
    listed = ", ".join(idents)
    rows = con.execute(
        f"SELECT __column, {proof} FROM (UNPIVOT (SELECT {listed} FROM {sample}) ON {listed} "
        "INTO NAME __column VALUE __value) GROUP BY __column"
    ).fetchall()
    return {str(ident) for ident, is_text in rows if is_text}


def _infer_all(
    con: duckdb.DuckDBPyConnection, columns: list[tuple[str, str]]
) -> list[StagedColumn]:
    names = [name for name, _ in columns]
    idents = [ident for _, ident in columns]
    if not idents:
        return []
    if len(idents) <= _COLUMNS_PER_QUERY:
        return _infer_batch(con, names, idents)
    inferred = []
    for start in range(0, len(idents), _COLUMNS_PER_UNPIVOT):
        batch = slice(start, start + _COLUMNS_PER_UNPIVOT)
        inferred += _infer_unpivot(con, names[batch], idents[batch])
    return inferred


def _value_counts(value: str) -> list[str]:
    """The 7 counts :func:`_infer_batch` reads, over the non-null text ``value``."""
    text = f"trim({value})"
    is_int = f"regexp_full_match({text}, {sql_string(INT_PATTERN)})"
    as_int = f"TRY_CAST({text} AS BIGINT)"
    return [
        f"count({value})",
        f"count(*) FILTER (WHERE {is_int})",
        f"count(*) FILTER (WHERE {is_int} AND ({as_int} IS NULL OR NOT "
        f"({as_int} BETWEEN -{EXACT_DOUBLE} AND {EXACT_DOUBLE})))",
        f"count(*) FILTER (WHERE regexp_full_match({text}, {sql_string(NUMBER_PATTERN)}))",
        f"count(*) FILTER (WHERE regexp_full_match({text}, '[+-]?0[0-9].*'))",
        f"count(*) FILTER (WHERE lower({text}) IN ('true', 'false'))",
        f"count(*) FILTER (WHERE {is_int} AND {as_int} IS NULL)",  # beyond BIGINT
    ]


def _infer_batch(
    con: duckdb.DuckDBPyConnection, names: list[str], idents: list[str]
) -> list[StagedColumn]:
    per_column = 7
    aggregates = [a for ident in idents for a in _value_counts(ident)]
    row = first_row(con, f"SELECT {', '.join(aggregates)} FROM {STAGE}")
    assert row is not None
    return [
        _typed_column(name, ident, row[per_column * i : per_column * i + per_column])
        for i, (name, ident) in enumerate(zip(names, idents, strict=True))
    ]


def _infer_unpivot(
    con: duckdb.DuckDBPyConnection, names: list[str], idents: list[str]
) -> list[StagedColumn]:
    listed = ", ".join(idents)
    rows = con.execute(
        f"SELECT __column, {', '.join(_value_counts('__value'))} "
        f"FROM (UNPIVOT (SELECT {listed} FROM {STAGE}) ON {listed} "
        "INTO NAME __column VALUE __value) GROUP BY __column"
    ).fetchall()
    counts = {str(row[0]): row[1:] for row in rows}
    empty = (0,) * 7  # a column with no value at all has no rows after UNPIVOT
    return [
        _typed_column(name, ident, counts.get(ident, empty))
        for name, ident in zip(names, idents, strict=True)
    ]


def _typed_column(name: str, ident: str, counts: Sequence[int]) -> StagedColumn:
    total, ints, wide_ints, numbers, leading_zero, bools, overflow = counts
    kind = _text_type(total, ints, numbers, leading_zero, bools)
    if (kind == BIGINT and overflow) or (kind == DOUBLE and wide_ints):
        kind = VARCHAR  # kept digit for digit
    return StagedColumn(name, ident, VARCHAR, kind)


def _text_type(total: int, ints: int, numbers: int, leading_zero: int, bools: int) -> str | None:
    if total == 0:
        return None
    if numbers == total and leading_zero == 0:
        return BIGINT if ints == total else DOUBLE
    if bools == total:
        return BOOLEAN
    return VARCHAR
