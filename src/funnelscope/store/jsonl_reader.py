"""The JSON Lines reader: one event object per line, flattened to dotted keys, staged through
Arrow in chunks, each key typed from the JSON kinds of its values."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any, Final

import duckdb
import pyarrow as pa

from funnelscope.store.staging import (
    BIGINT,
    BOOLEAN,
    CHUNK_ROWS,
    DOUBLE,
    EXACT_DOUBLE,
    LONG_STAGE,
    STAGE,
    VARCHAR,
    WIDE_STAGE_KEYS,
    Malformed,
    StagedColumn,
    StagedFile,
    append_chunk,
    column_ident,
    create_long_stage,
    create_stage,
    execute_with_table,
)
from funnelscope.store.text_files import Lines, decode_problem, has_undecodable, show_bytes

MAX_DEPTH: Final = 64
"""How deep objects and arrays may nest in one event (the event object is level 1)."""


class NestingTooDeep(ValueError):
    """An event nests objects deeper than :data:`MAX_DEPTH` levels; ``key`` is where."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key!r} is nested deeper than {MAX_DEPTH} levels")
        self.key = key


def flatten_event(obj: dict[str, Any]) -> dict[str, Any]:
    """Flatten one JSON event: nested objects become dotted keys (``item.category``).

    The keys of a nested ``properties`` object are lifted to the top level; where one collides
    with a top-level key the top-level key wins and the nested one keeps its ``properties.`` prefix.

    Nothing is lost when two keys flatten to the same name (a top-level ``"item.cat"`` and a
    nested ``{"item": {"cat": ...}}``): the first one in the object keeps the name and each later
    one is stored as ``name#2``, ``name#3``, ... (the first such name that is still free).

    An object nested deeper than :data:`MAX_DEPTH` levels raises :class:`NestingTooDeep` (the
    reader refuses such lines before parsing them; this bounds the recursion for any caller).
    """
    out: dict[str, Any] = {}
    nested = obj.get("properties")
    lifted = nested if isinstance(nested, dict) else None
    for key, value in obj.items():
        if key == "properties" and lifted is not None:
            continue
        _put(out, key, value, 2)
    if lifted is not None:
        for key, value in lifted.items():
            _put(out, key if key not in out else f"properties.{key}", value, 3)
    return out


def _put(out: dict[str, Any], key: str, value: Any, level: int) -> None:
    """Put ``value`` (at nesting ``level``) into ``out`` under ``key``, flattening objects."""
    if isinstance(value, dict):
        if level > MAX_DEPTH:
            raise NestingTooDeep(key)
        for sub, inner in value.items():
            _put(out, f"{key}.{sub}", inner, level + 1)
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
        return "int" if -EXACT_DOUBLE <= value <= EXACT_DOUBLE else "wideint"
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


def kinds_type(kinds: set[str]) -> str | None:
    if not kinds:
        return None
    if kinds == {"bool"}:
        return BOOLEAN
    if kinds <= {"int", "wideint"}:
        return BIGINT
    if kinds <= {"int", "float"}:
        return DOUBLE
    return VARCHAR  # also ints beyond 2**53 mixed with floats: kept digit for digit


class JsonStager:
    """Accumulates flattened JSON rows and appends them to the staging table in chunks."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.idents: dict[str, str] = {}  # key -> staging column
        self.long: set[str] = set()  # keys staged as rows (beyond the first WIDE_STAGE_KEYS)
        self.kinds: dict[str, set[str]] = {}
        self.filled: dict[str, int] = {}  # key -> rows where it has a value
        self.lines: list[int] = []
        self.rows: list[dict[str, Any]] = []
        create_stage(con, [])

    def add(self, line: int, row: dict[str, Any]) -> None:
        for key, value in row.items():
            if key not in self.idents:
                ident = column_ident(len(self.idents))
                self.idents[key] = ident
                self.kinds[key] = set()
                self.filled[key] = 0
                if len(self.idents) <= WIDE_STAGE_KEYS:
                    self.con.execute(f"ALTER TABLE {STAGE} ADD COLUMN {ident} VARCHAR")
                else:
                    if not self.long:
                        create_long_stage(self.con)
                    self.long.add(key)
            if value is not None:
                self.kinds[key].add(_json_kind(value))
                self.filled[key] += 1
        self.lines.append(line)
        self.rows.append(row)

    def flush(self) -> None:
        if not self.lines:
            return
        columns: dict[str, list[str | None]] = {}
        height = len(self.rows)
        for i, row in enumerate(self.rows):  # row by row: the cost is the values, not the keys
            for key, value in row.items():
                if key in self.long:
                    continue
                ident = self.idents[key]
                if ident not in columns:
                    columns[ident] = [None] * height
                if value is not None:
                    columns[ident][i] = _json_text(value)
        append_chunk(self.con, self.lines, columns)
        if self.long:
            self._flush_long()
        self.lines, self.rows = [], []

    def _flush_long(self) -> None:
        """Append the set values of the long keys as (line, column, value) rows."""
        lines: list[int] = []
        idents: list[str] = []
        values: list[str] = []
        for line, row in zip(self.lines, self.rows, strict=True):
            for key, value in row.items():
                if value is not None and key in self.long:
                    lines.append(line)
                    idents.append(self.idents[key])
                    values.append(_json_text(value))
        chunk = pa.table(
            {
                "__line": pa.array(lines, pa.int64()),
                "__column": pa.array(idents, pa.string()),
                "__value": pa.array(values, pa.string()),
            }
        )
        execute_with_table(
            self.con,
            "_fs_long_chunk",
            chunk,
            f"INSERT INTO {LONG_STAGE} SELECT * FROM _fs_long_chunk",
        )

    def columns(self) -> list[StagedColumn]:
        return [
            StagedColumn(
                key,
                ident,
                VARCHAR,
                kinds_type(self.kinds[key]),
                key in self.long,
                self.filled[key],
            )
            for key, ident in self.idents.items()
        ]


def stage_jsonl(
    con: duckdb.DuckDBPyConnection, text: Lines, report: Callable[[], None]
) -> StagedFile:
    """Stage a JSON Lines file: one event object per non-blank line.

    A bad line is quarantined on its own, naming the key at fault where there is one: a line that
    is not a JSON object, holds bytes that are not UTF-8 (kept with them shown as ``\\xNN``), holds
    a lone surrogate escape (``"\\ud800"``: Python reads it, but it is not Unicode text and cannot
    be stored), or nests objects or arrays deeper than :data:`MAX_DEPTH` levels (found before
    parsing, so a line nested 5,000 deep costs no recursion).
    """
    stager = JsonStager(con)
    malformed: list[Malformed] = []
    rows_read = undecodable = 0
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        rows_read += 1
        raw = line.rstrip("\r\n")
        bad_bytes = bool(text.undecodable) and has_undecodable(raw)
        undecodable += bad_bytes
        try:
            row = _parse_line(raw, bad_bytes)
        except BadLine as exc:
            malformed.append(Malformed(number, str(exc), show_bytes(raw) if bad_bytes else raw))
            continue
        stager.add(number, row)
        if len(stager.lines) >= CHUNK_ROWS:
            stager.flush()
            report()
    stager.flush()
    return StagedFile(stager.columns(), rows_read, malformed, undecodable)


class BadLine(Exception):
    """A line to quarantine; the message is the reason."""


UTF8_FIX: Final = "save the file with UTF-8 encoding"


def _parse_line(raw: str, bad_bytes: bool) -> dict[str, Any]:
    """The flattened event of one line; raises :class:`BadLine` with the reason."""
    obj = read_object(raw, bad_bytes)
    try:
        row = flatten_event(obj)
    except NestingTooDeep as exc:
        raise BadLine(_deep_reason(exc.key)) from None
    check_row(row, raw, bad_bytes)
    return row


def read_object(raw: str, bad_bytes: bool) -> dict[str, Any]:
    """The JSON object of one line, before flattening; raises :class:`BadLine` with the reason
    (nested too deep, not JSON, not an object)."""
    deep = _too_deep(raw)
    if deep is not None:
        raise BadLine(_deep_reason(deep))
    try:
        obj = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, or an integer too long for Python to read
        if bad_bytes:
            problem = decode_problem(raw)
            raise BadLine(
                f"not UTF-8 text ({problem}) and not valid JSON; {UTF8_FIX} or correct the line"
            ) from None
        if isinstance(exc, json.JSONDecodeError):
            raise BadLine(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
        problem = str(exc).split(";")[0]
        raise BadLine(f"invalid JSON: {problem}; write such a number as a string") from None
    except RecursionError:  # not reached after the depth check; never let it escape
        raise BadLine(_deep_reason("")) from None
    if not isinstance(obj, dict):
        kind = type(obj).__name__ if not isinstance(obj, list) else "an array"
        raise BadLine(f"not a JSON object (got {kind}); each line must be one event object")
    return obj


def check_row(row: dict[str, Any], raw: str, bad_bytes: bool) -> None:
    """Raise :class:`BadLine` when a flattened row holds text that cannot be stored: bytes that
    are not UTF-8, or a lone surrogate."""
    if bad_bytes:
        raise BadLine(_undecodable_reason(row))
    if _SURROGATE_ESCAPE.search(raw):
        reason = _lone_surrogate_reason(row)
        if reason is not None:
            raise BadLine(reason)


# ---------------------------------------------------------------- nesting depth

_JSON_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_KEY_OR_BRACKET: Final = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")(\s*:)?|[\[\]{}]')
_DEPTH_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


def _too_deep(raw: str) -> str | None:
    """None when the JSON text ``raw`` nests at most :data:`MAX_DEPTH` levels; otherwise the
    top-level key under which it goes deeper ("" when there is none).

    Only a line with more than MAX_DEPTH opening brackets is looked at closely: brackets inside
    strings are dropped and the running depth of the rest is measured, all without recursion.
    """
    if raw.count("{") + raw.count("[") <= MAX_DEPTH:
        return None
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", raw))
    if max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) <= MAX_DEPTH:
        return None
    depth, key = 0, ""
    for match in _KEY_OR_BRACKET.finditer(raw):
        text, colon = match.group(1), match.group(2)
        if text is not None:
            if colon is not None and depth == 1:
                key = _string_text(text)
        elif match.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return key
        else:
            depth -= 1
    return ""


def _string_text(quoted: str) -> str:
    try:
        text = json.loads(quoted)
    except ValueError:
        return quoted[1:-1]
    return text if isinstance(text, str) else quoted[1:-1]


def _deep_reason(key: str) -> str:
    where = f"key {_shown(key)} is nested" if key else "nested"
    return (
        f"{where} deeper than {MAX_DEPTH} levels; keep events at most {MAX_DEPTH} levels deep "
        "(store a deeper part as a JSON string)"
    )


# ---------------------------------------------------------------- text that cannot be stored

_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _escape_surrogates(text: str) -> str:
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _shown(key: str) -> str:
    """A key quoted for a reason, any byte that is not UTF-8 as \\xNN, any surrogate as \\uNNNN."""
    return "'" + _escape_surrogates(show_bytes(key)).replace("'", "\\'") + "'"


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _offending(row: dict[str, Any], bad: Callable[[str], bool]) -> tuple[str, str] | None:
    """The first key whose name or value text is ``bad``, with that text."""
    for key, value in row.items():
        if bad(key):
            return key, key
        if isinstance(value, str | list) and bad(text := _json_text(value)):
            return key, text
    return None


def _undecodable_reason(row: dict[str, Any]) -> str:
    found = _offending(row, has_undecodable)
    if found is None:  # not reached: a bad byte that parsed sits in a key or a string
        return f"not UTF-8 text; {UTF8_FIX}"
    key, text = found
    value = "" if text is key else f" ({_shorten(show_bytes(text))})"
    return f"not UTF-8 text in key {_shown(key)}{value}; {UTF8_FIX} or correct the value"


def _lone_surrogate_reason(row: dict[str, Any]) -> str | None:
    found = _offending(row, lambda text: _SURROGATE.search(text) is not None)
    if found is None:  # the escapes formed pairs (one character) or were escaped themselves
        return None
    key, text = found
    return (
        f"key {_shown(key)} holds a lone surrogate escape ({_shorten(_escape_surrogates(text))}), "
        "which is not Unicode text; write the character itself or remove the escape"
    )
