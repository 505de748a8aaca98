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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import duckdb
import pyarrow as pa

from funnelscope.errors import IngestError
from funnelscope.store.timeparse import INT_PATTERN, NUMBER_PATTERN, quote_ident, sql_string

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
    delimiter: str = ","


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
        return SourceFormat("csv", gzipped)
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
    with _open_text(path, fmt.gzipped) as (text, raw):

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


@contextmanager
def _open_text(path: Path, gzipped: bool) -> Iterator[tuple[io.TextIOWrapper, IO[bytes]]]:
    """Open a possibly gzipped UTF-8 file; also hand out the raw byte stream for progress."""
    with open(path, "rb") as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[assignment]
        yield io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""), raw


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
    """Feeds lines to csv.reader and remembers them, for exact line numbers and raw text."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self._text = text
        self.lines_read = 0
        self.pending: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._text:
            self.lines_read += 1
            self.pending.append(line)
            yield line

    def take_raw(self) -> str:
        raw = "".join(self.pending).rstrip("\r\n")
        self.pending = []
        return raw


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
    delimiter: str,
    report: Callable[[], None],
) -> StagedFile:
    tracker = _LineTracker(text)
    reader = csv.reader(tracker, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise IngestError(source, "the file is empty", "a header line with column names is needed")
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
        try:
            record = next(reader, None)
        except csv.Error as exc:
            rows_read += 1
            malformed.append(Malformed(start, f"malformed CSV record: {exc}", tracker.take_raw()))
            continue
        if record is None:
            break
        raw = tracker.take_raw()
        if not record:
            continue  # blank line
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


def _infer_text_types(
    con: duckdb.DuckDBPyConnection, names: list[str], idents: list[str]
) -> list[StagedColumn]:
    """Type each VARCHAR staging column from its values, in one SQL pass.

    All non-null values integers -> BIGINT, unless one has a leading zero ("007" is a code, not a
    number) -> VARCHAR; numbers -> DOUBLE; true/false -> BOOLEAN; anything else -> VARCHAR.
    """
    if not idents:
        return []
    aggregates = []
    for ident in idents:
        text = f"trim({ident})"
        aggregates += [
            f"count({ident})",
            f"count(*) FILTER (WHERE regexp_full_match({text}, {sql_string(INT_PATTERN)}) "
            f"AND TRY_CAST({text} AS BIGINT) IS NOT NULL)",
            f"count(*) FILTER (WHERE regexp_full_match({text}, {sql_string(NUMBER_PATTERN)}))",
            f"count(*) FILTER (WHERE regexp_full_match({text}, '[+-]?0[0-9].*'))",
            f"count(*) FILTER (WHERE lower({text}) IN ('true', 'false'))",
        ]
    row = first_row(con, f"SELECT {', '.join(aggregates)} FROM {STAGE}")
    assert row is not None
    columns = []
    for i, (name, ident) in enumerate(zip(names, idents, strict=True)):
        total, ints, numbers, leading_zero, bools = row[5 * i : 5 * i + 5]
        columns.append(
            StagedColumn(
                name, ident, VARCHAR, _text_type(total, ints, numbers, leading_zero, bools)
            )
        )
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
    else:
        out[key] = value


_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if _INT64_MIN <= value <= _INT64_MAX else "str"
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
    if kinds == {"int"}:
        return BIGINT
    if kinds <= {"int", "float"}:
        return DOUBLE
    return VARCHAR


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


def _parquet_value_type(duck_type: str) -> str:
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
    columns = [
        StagedColumn(name, _ident(i), kind, _parquet_value_type(kind))
        for i, (name, kind) in enumerate(fields)
    ]
    select = "".join(f", {quote_ident(c.name)} AS {c.ident}" for c in columns)
    drop_stage(con)
    con.execute(
        f"CREATE TEMP VIEW {STAGE} AS SELECT file_row_number + 1 AS __line{select} FROM {scan}"
    )
    assert rows_read is not None
    return StagedFile(columns, int(rows_read[0]))
