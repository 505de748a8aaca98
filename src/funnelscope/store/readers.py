"""Readers that put one source file into a DuckDB staging relation.

Every reader yields the same shape: a relation named ``STAGE`` with a ``__line`` column (the exact
physical line of the record in the source; the 1-based row number for Parquet) and one column per
source column, named ``c0``, ``c1``, ... so that any header text (spaces, quotes, names that differ
only in case) is safe. :class:`StagedFile` maps those back to the source names and says which
property type each column carries.

CSV and JSON Lines are parsed in Python (so a malformed record is found together with its line)
and appended in chunks through Arrow; Parquet is read by DuckDB directly, never row by row.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa

from funnelscope.errors import IngestError
from funnelscope.store.sql_text import INT_PATTERN, NUMBER_PATTERN, quote_ident, sql_string
from funnelscope.store.text_files import detect_delimiter, open_text

STAGE: Final = "_fs_stage"
CHUNK_ROWS: Final = 50_000

BIGINT: Final = "BIGINT"
DOUBLE: Final = "DOUBLE"
BOOLEAN: Final = "BOOLEAN"
VARCHAR: Final = "VARCHAR"

SUPPORTED: Final = (
    ".csv, .tsv, .jsonl, .ndjson, .json (JSON Lines), each optionally .gz; .parquet, .pq"
)

ProgressCallback = Callable[[int], None]
"""Called with the number of source bytes read so far."""


@dataclass(frozen=True)
class StagedColumn:
    """One source column in the staging relation."""

    name: str  # as in the source (header, JSON key, Parquet field)
    ident: str  # quoted identifier in the staging relation
    source_type: str  # DuckDB type of the staged values
    value_type: str | None  # property type: BIGINT, DOUBLE, BOOLEAN, VARCHAR; None = no values


@dataclass(frozen=True)
class Malformed:
    """A record the reader could not split into fields."""

    line: int
    reason: str
    raw: str


@dataclass
class StagedFile:
    columns: list[StagedColumn]
    rows_read: int
    malformed: list[Malformed] = field(default_factory=list)


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
    """Create the staging relation ``STAGE`` for ``path`` (inside the caller's transaction)."""
    if fmt.kind == "parquet":
        return _stage_parquet(con, path, source)
    with open_text(path, fmt.gzipped, "" if fmt.kind == "csv" else "\n") as (text, raw):

        def report() -> None:
            if on_progress is not None:
                on_progress(raw.tell())

        try:
            if fmt.kind == "csv":
                staged = _stage_csv(con, text, source, fmt.delimiter, report)
            else:
                staged = _stage_jsonl(con, text, report)
        except UnicodeDecodeError as exc:
            raise IngestError(
                source, f"not UTF-8 text ({exc.reason})", "save the file with UTF-8 encoding"
            ) from exc
        except (gzip.BadGzipFile, EOFError, OSError) as exc:
            raise IngestError(
                source, f"cannot decompress: {exc}", "check the file is a complete gzip file"
            ) from exc
        report()
        return staged


def drop_stage(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the staging relation, whether a reader made it a table or a view."""
    row = first_row(
        con, "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [STAGE]
    )
    if row is not None:
        kind = "VIEW" if "VIEW" in str(row[0]).upper() else "TABLE"
        con.execute(f"DROP {kind} {STAGE}")


# ---------------------------------------------------------------- Arrow chunks -> staging table


def _create_stage(con: duckdb.DuckDBPyConnection, idents: list[str]) -> None:
    drop_stage(con)
    cols = "".join(f", {ident} VARCHAR" for ident in idents)
    con.execute(f"CREATE TEMP TABLE {STAGE} (__line BIGINT{cols})")


def _append_chunk(
    con: duckdb.DuckDBPyConnection,
    lines: list[int],
    columns: dict[str, list[str | None]],
) -> None:
    arrays: dict[str, pa.Array] = {"__line": pa.array(lines, pa.int64())}
    for name, values in columns.items():
        arrays[name] = pa.array(values, pa.string())
    con.register("_fs_chunk", pa.table(arrays))
    try:
        con.execute(f"INSERT INTO {STAGE} BY NAME SELECT * FROM _fs_chunk")
    finally:
        con.unregister("_fs_chunk")


def first_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()
) -> tuple[Any, ...] | None:
    """The first row of a query, reading the result to the end.

    DuckDB 2 refuses new work on a connection while a result is only partly fetched, so
    ``fetchone()`` on its own would leave the connection busy.
    """
    rows = con.execute(sql, list(params)).fetchall()
    return tuple(rows[0]) if rows else None


def _ident(index: int) -> str:
    return f"c{index}"


# ---------------------------------------------------------------- CSV


class _LineTracker:
    """Feeds physical lines to csv.reader and remembers them, for exact line numbers and raw text.

    Lines handed back with :meth:`replay` are fed again (with their own line numbers) before any
    new line is read, so parsing can restart after a record that ran to the end of the file.
    """

    def __init__(self, text: io.TextIOWrapper, first: Sequence[str] = ()) -> None:
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


def _stage_csv(
    con: duckdb.DuckDBPyConnection,
    text: io.TextIOWrapper,
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
    names = _header_names(header, source)
    tracker.take_raw()
    width = len(names)
    idents = [_ident(i) for i in range(width)]
    _create_stage(con, idents)
    lines: list[int] = []
    values: list[list[str | None]] = [[] for _ in range(width)]
    malformed: list[Malformed] = []
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
            malformed.append(Malformed(start, _UNTERMINATED, pending[0].rstrip("\r\n")))
            continue
        if error is not None:
            raw = tracker.take_raw()
            if error.args and "unexpected end of data" in str(error):
                reason = _UNTERMINATED
            else:
                reason = f"malformed CSV record: {error}"
            rows_read += 1
            malformed.append(Malformed(start, reason, raw))
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
            malformed.append(Malformed(start, _UNTERMINATED, raw))
            continue
        rows_read += 1
        if len(record) != width:
            reason = f"malformed CSV record: expected {width} fields, got {len(record)}"
            malformed.append(Malformed(start, reason, raw))
            continue
        lines.append(start)
        for column, value in zip(values, record, strict=True):
            column.append(value if value != "" else None)
        if len(lines) >= CHUNK_ROWS:
            _append_chunk(con, lines, dict(zip(idents, values, strict=True)))
            lines, values = [], [[] for _ in range(width)]
            report()
    if lines:
        _append_chunk(con, lines, dict(zip(idents, values, strict=True)))
    columns = _infer_text_types(con, names, idents)
    return StagedFile(columns, rows_read, malformed)


_EXACT_DOUBLE: Final = 2**53  # integers beyond this magnitude do not survive a DOUBLE


def _infer_text_types(
    con: duckdb.DuckDBPyConnection, names: list[str], idents: list[str]
) -> list[StagedColumn]:
    """Type each VARCHAR staging column from its values, in one SQL pass.

    All non-null values integers -> BIGINT, unless one has a leading zero ("007" is a code, not a
    number) -> VARCHAR, or one does not fit BIGINT -> VARCHAR (kept digit for digit); numbers ->
    DOUBLE, unless an integer among them exceeds 2**53 in magnitude (a DOUBLE would change its
    digits) -> VARCHAR; true/false -> BOOLEAN; anything else -> VARCHAR.
    """
    if not idents:
        return []
    per_column = 6
    aggregates = []
    for ident in idents:
        text = f"trim({ident})"
        is_int = f"regexp_full_match({text}, {sql_string(INT_PATTERN)})"
        as_int = f"TRY_CAST({text} AS BIGINT)"
        aggregates += [
            f"count({ident})",
            f"count(*) FILTER (WHERE {is_int})",
            f"count(*) FILTER (WHERE {is_int} AND ({as_int} IS NULL OR NOT "
            f"({as_int} BETWEEN -{_EXACT_DOUBLE} AND {_EXACT_DOUBLE})))",
            f"count(*) FILTER (WHERE regexp_full_match({text}, {sql_string(NUMBER_PATTERN)}))",
            f"count(*) FILTER (WHERE regexp_full_match({text}, '[+-]?0[0-9].*'))",
            f"count(*) FILTER (WHERE lower({text}) IN ('true', 'false'))",
        ]
    for ident in idents:  # integers that do not fit BIGINT
        text = f"trim({ident})"
        aggregates.append(
            f"count(*) FILTER (WHERE regexp_full_match({text}, {sql_string(INT_PATTERN)}) "
            f"AND TRY_CAST({text} AS BIGINT) IS NULL)"
        )
    row = first_row(con, f"SELECT {', '.join(aggregates)} FROM {STAGE}")
    assert row is not None
    overflow = row[per_column * len(idents) :]
    columns = []
    for i, (name, ident) in enumerate(zip(names, idents, strict=True)):
        total, ints, wide_ints, numbers, leading_zero, bools = row[
            per_column * i : per_column * i + per_column
        ]
        kind = _text_type(total, ints, numbers, leading_zero, bools)
        if (kind == BIGINT and overflow[i]) or (kind == DOUBLE and wide_ints):
            kind = VARCHAR  # kept digit for digit
        columns.append(StagedColumn(name, ident, VARCHAR, kind))
    return columns


def _text_type(total: int, ints: int, numbers: int, leading_zero: int, bools: int) -> str | None:
    if total == 0:
        return None
    if numbers == total and leading_zero == 0:
        return BIGINT if ints == total else DOUBLE
    if bools == total:
        return BOOLEAN
    return VARCHAR


# ---------------------------------------------------------------- JSON Lines


def flatten_event(obj: dict[str, Any]) -> dict[str, Any]:
    """Flatten one JSON event: nested objects become dotted keys (``item.category``).

    The keys of a nested ``properties`` object are lifted to the top level; where one collides
    with a top-level key the top-level key wins and the nested one keeps its ``properties.`` prefix.

    Nothing is lost when two keys flatten to the same name (a top-level ``"item.cat"`` and a
    nested ``{"item": {"cat": ...}}``): the first one in the object keeps the name and each later
    one is stored as ``name#2``, ``name#3``, ... (the first such name that is still free).
    """
    out: dict[str, Any] = {}
    nested = obj.get("properties")
    lifted = nested if isinstance(nested, dict) else None
    for key, value in obj.items():
        if key == "properties" and lifted is not None:
            continue
        _put(out, key, value)
    if lifted is not None:
        for key, value in lifted.items():
            _put(out, key if key not in out else f"properties.{key}", value)
    return out


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict):
        for sub, inner in value.items():
            _put(out, f"{key}.{sub}", inner)
        return
    name, suffix = key, 2
    while name in out:
        name = f"{key}#{suffix}"
        suffix += 1
    out[name] = value


_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def _json_kind(value: Any) -> str:
    """bool, int, wideint (an int64 beyond 2**53: exact as BIGINT, not as DOUBLE), float, str."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            return "str"
        return "int" if -_EXACT_DOUBLE <= value <= _EXACT_DOUBLE else "wideint"
    if isinstance(value, float):
        return "float" if math.isfinite(value) else "str"
    return "str"


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _kinds_type(kinds: set[str]) -> str | None:
    if not kinds:
        return None
    if kinds == {"bool"}:
        return BOOLEAN
    if kinds <= {"int", "wideint"}:
        return BIGINT
    if kinds <= {"int", "float"}:
        return DOUBLE
    return VARCHAR  # also ints beyond 2**53 mixed with floats: kept digit for digit


class _JsonStager:
    """Accumulates flattened JSON rows and appends them to the staging table in chunks."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.idents: dict[str, str] = {}  # key -> staging column
        self.kinds: dict[str, set[str]] = {}
        self.lines: list[int] = []
        self.rows: list[dict[str, Any]] = []
        _create_stage(con, [])

    def add(self, line: int, row: dict[str, Any]) -> None:
        for key, value in row.items():
            if key not in self.idents:
                ident = _ident(len(self.idents))
                self.idents[key] = ident
                self.kinds[key] = set()
                self.con.execute(f"ALTER TABLE {STAGE} ADD COLUMN {ident} VARCHAR")
            if value is not None:
                self.kinds[key].add(_json_kind(value))
        self.lines.append(line)
        self.rows.append(row)

    def flush(self) -> None:
        if not self.lines:
            return
        keys = {key for row in self.rows for key in row}
        columns: dict[str, list[str | None]] = {}
        for key in keys:
            columns[self.idents[key]] = [
                None if (v := row.get(key)) is None else _json_text(v) for row in self.rows
            ]
        _append_chunk(self.con, self.lines, columns)
        self.lines, self.rows = [], []

    def columns(self) -> list[StagedColumn]:
        return [
            StagedColumn(key, ident, VARCHAR, _kinds_type(self.kinds[key]))
            for key, ident in self.idents.items()
        ]


def _stage_jsonl(
    con: duckdb.DuckDBPyConnection, text: io.TextIOWrapper, report: Callable[[], None]
) -> StagedFile:
    stager = _JsonStager(con)
    malformed: list[Malformed] = []
    rows_read = 0
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        rows_read += 1
        raw = line.rstrip("\r\n")
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            reason = f"invalid JSON: {exc.msg} at column {exc.colno}"
            malformed.append(Malformed(number, reason, raw))
            continue
        if not isinstance(obj, dict):
            kind = type(obj).__name__ if not isinstance(obj, list) else "an array"
            reason = f"not a JSON object (got {kind}); each line must be one event object"
            malformed.append(Malformed(number, reason, raw))
            continue
        stager.add(number, flatten_event(obj))
        if len(stager.lines) >= CHUNK_ROWS:
            stager.flush()
            report()
    stager.flush()
    return StagedFile(stager.columns(), rows_read, malformed)


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
    """Stage a Parquet file as a view over ``read_parquet``: no copy, no per-row Python."""
    scan = f"read_parquet({sql_string(str(path))}, file_row_number = true)"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
        rows_read = first_row(con, f"SELECT count(*) FROM {scan}")
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        raise IngestError(
            source,
            f"cannot read Parquet file: {message}",
            "check the file is a complete Parquet file (re-export it)",
        ) from exc
    fields = [(name, str(kind)) for name, kind, *_ in described if name != "file_row_number"]
    wide = _wide_integer_types(con, scan, fields)
    columns = [
        StagedColumn(name, _ident(i), kind, wide.get(name) or _parquet_value_type(kind))
        for i, (name, kind) in enumerate(fields)
    ]
    select = "".join(f", {quote_ident(c.name)} AS {c.ident}" for c in columns)
    drop_stage(con)
    con.execute(
        f"CREATE TEMP VIEW {STAGE} AS SELECT file_row_number + 1 AS __line{select} FROM {scan}"
    )
    assert rows_read is not None
    return StagedFile(columns, int(rows_read[0]))
