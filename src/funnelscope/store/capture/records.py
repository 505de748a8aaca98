"""What every capture format shares: limits, a call's checks and errors, its corrected time, its
id, and the log record the fold reads.

A request's events become log records, one JSON line each, in the form the fold needs:

- a stored event: ``{"s": SEQ, "f": FORMAT, "id": EVENT_ID, "row": {...}}``, where ``row`` is the
  event flattened by the format's export layout (``store/layouts/``: core fields under the
  ``$fs:`` keys, properties by name);
- a rejected event: ``{"s": SEQ, "f": FORMAT, "bad": REASON, "raw": THE EVENT'S JSON}``, kept in
  the quarantine.

``SEQ`` numbers the records of a server (it goes on rising across restarts): the quarantine shows
it as the row's line, and of two records with one id the fold keeps the lower.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from funnelscope.store.layouts import Layout, LayoutError
from funnelscope.store.layouts.core import EVENT_ID

MAX_EVENT_BYTES: Final = 32 * 1024  # one event, as compact JSON (Segment's limit)
MAX_BATCH_BYTES: Final = 500 * 1024  # one request body, after decompression (Segment's limit)
MAX_ERRORS_LISTED: Final = 20  # rejected events listed in one response (all are counted)
SECRET_FIELDS: Final = frozenset({"writeKey", "api_key", "token"})  # never stored or logged
TIME_FIX: Final = "send ISO 8601 with a zone, e.g. 2024-01-31T10:00:00.000Z"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_US: Final = (datetime(1, 1, 2, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_LAST_US: Final = (datetime(9999, 12, 30, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
# orjson reads an integer beyond 64 bits as a float; a body with a run of 19 digits or more
# (found fast: every digit made "0", then one search) is read by the standard library instead
_DIGITS_AS_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS: Final = b"0" * 19


class BodyError(ValueError):
    """A request body that holds no events at all (not JSON, not the shape of the API)."""


class TooLarge(ValueError):
    """A request or one of its events is beyond a limit; nothing of the request is stored."""


class CallError(ValueError):
    """One event that cannot be stored: `field` is where, `fix` how to send it."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(f"{field}: {problem}; {fix}" if field else f"{problem}; {fix}")
        self.field, self.problem, self.fix = field, problem, fix


@dataclass(frozen=True)
class Rejected:
    """A rejected event of a request: `where` it is (``batch[3]``, or the call's name)."""

    where: str
    field: str
    problem: str
    fix: str

    @property
    def message(self) -> str:
        place = f"{self.where}.{self.field}" if self.field else self.where
        return f"{place}: {self.problem}; {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {
            "event": self.where,
            "field": self.field,
            "problem": self.problem,
            "fix": self.fix,
            "message": self.message,
        }


@dataclass(frozen=True)
class Event:
    """One event of a request, with what the request says about all of its events."""

    where: str  # batch[3], or the call's name for a single call
    body: Any  # the event as sent (a dict when it is one)
    batch: Mapping[str, Any]  # the request body's other fields (sentAt, context ...)
    call: str | None  # the call the path names (Segment: track, page ...), None for a batch
    sent_at: str | None = None  # the client's send time given outside the body (query string)


@dataclass(frozen=True)
class CaptureFormat:
    """One capture format: its name, the export layout that flattens its events, how a request
    body holds its events, and one event to the record the tool's own export would hold."""

    name: str
    layout: Layout
    events: Callable[[Any, str | None, str | None], list[Event]]  # (body, call, sent at)
    export_record: Callable[[Event, int], dict[str, Any]]  # (event, received at, µs) -> record
    body_key: Callable[[Any], str | None]  # the API key a body carries (writeKey, api_key ...)


def parse_body(body: bytes) -> Any:
    """The JSON of a request body: orjson, or the standard library when a number may be beyond
    64 bits (orjson would read it as a float; the file readers keep its digits)."""
    if body.translate(_DIGITS_AS_ZERO).find(_LONG_DIGITS) < 0:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BodyError(f"the body is not valid JSON ({exc})") from None
    try:
        parsed = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(f"the body is not valid JSON ({exc})") from None
    return _long_ints_as_text(parsed)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _long_ints_as_text(value: Any) -> Any:
    """Integers beyond 64 bits as their digits: the text the file readers store them as."""
    if isinstance(value, dict):
        return {k: _long_ints_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_long_ints_as_text(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)
    return value


def time_us(value: Any, field: str) -> int:
    """An ISO 8601 time as µs since the epoch (UTC when it has no zone)."""
    if not isinstance(value, str):
        raise CallError(field, f"not a time ({_kind(value)})", TIME_FIX)
    us = _parsed_us(value)
    if us is None:
        raise CallError(field, f"not an ISO 8601 time ({_clip(value)!r})", TIME_FIX)
    return us


@functools.lru_cache(maxsize=4096)  # a batch's sentAt, and times repeated across events
def _parsed_us(text: str) -> int | None:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    since = parsed - _EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def iso(us: int) -> str:
    """µs since the epoch as ISO 8601 in UTC with milliseconds (µs when there are any)."""
    second, fraction = divmod(us, 1_000_000)
    if fraction % 1000:
        return f"{_iso_second(second)}.{fraction:06d}Z"
    return f"{_iso_second(second)}.{fraction // 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    return (_EPOCH + timedelta(seconds=second)).replace(tzinfo=None).isoformat()


def corrected_time(
    timestamp: str | None,
    sent_at: str | None,
    received_us: int,
    timestamp_field: str = "timestamp",
    sent_field: str = "sentAt",
) -> int:
    """When the event happened, in the server's clock (µs). With the client's send time:
    ``received - (sent_at - timestamp)`` (the client's clock error cancels out); with a
    timestamp alone, the timestamp; without a timestamp, when it was received."""
    if timestamp is None:
        return received_us
    happened = time_us(timestamp, timestamp_field)
    if sent_at is not None:
        happened = received_us - (time_us(sent_at, sent_field) - happened)
    if not _FIRST_US <= happened <= _LAST_US:
        raise CallError(
            timestamp_field,
            "corrected for the client's clock, it falls outside the years 1 to 9999",
            "check the client's clock and the timestamp and sent time it sends",
        )
    return happened


def derived_id(name: str, event: Mapping[str, Any]) -> str:
    """An id for an event sent without one: the MD5 of the event's canonical JSON (keys sorted,
    the key fields left out), so a client's retry of the same event gets the same id."""
    canonical = orjson.dumps(event, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.md5(name.encode() + b"\n" + canonical, usedforsecurity=False).hexdigest()


def record_lines(
    fmt: CaptureFormat, events: list[Event], received_us: int, first_seq: int
) -> tuple[bytes, int, list[Rejected]]:
    """The log lines of a request's events (numbered from `first_seq`), how many events are
    stored, and the rejected ones (their records go to the quarantine)."""
    lines: list[bytes] = []
    rejected: list[Rejected] = []
    transform = fmt.layout.transform
    seq = first_seq
    for event in events:
        try:
            record = fmt.export_record(event, received_us)
            row = transform(record)
            if isinstance(row, list):  # not for the capture layouts; a person export's links
                raise CallError("", "one event made several rows", "send it as separate calls")
            line = orjson.dumps({"s": seq, "f": fmt.name, "id": row[EVENT_ID], "row": row})
        except (CallError, LayoutError, TypeError, OverflowError) as exc:
            error = exc if isinstance(exc, CallError) else CallError("", str(exc), "correct it")
            rejected.append(Rejected(event.where, error.field, error.problem, error.fix))
            raw = orjson.dumps(
                _without_keys(event.body), default=str, option=orjson.OPT_NON_STR_KEYS
            )
            line = orjson.dumps({"s": seq, "f": fmt.name, "bad": str(error), "raw": raw.decode()})
        lines.append(line)
        seq += 1
    return b"\n".join(lines) + b"\n" if lines else b"", len(events) - len(rejected), rejected


def _without_keys(body: Any) -> Any:
    """An event as kept in the quarantine: without the API key a client may put in it."""
    if not isinstance(body, dict):
        return body
    kept = {k: v for k, v in body.items() if k not in SECRET_FIELDS}
    if isinstance(kept.get("properties"), dict):
        kept["properties"] = {k: v for k, v in kept["properties"].items() if k not in SECRET_FIELDS}
    return kept


def check_size(event: Any, where: str) -> None:
    """Refuse an event beyond MAX_EVENT_BYTES as compact JSON (raises :class:`TooLarge`)."""
    size = len(orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS))
    if size > MAX_EVENT_BYTES:
        raise TooLarge(
            f"{where} is {size:,} bytes; an event may be at most {MAX_EVENT_BYTES // 1024} KB "
            "(32,768 bytes as JSON): send less in its properties"
        )


def object_field(event: Mapping[str, Any], field: str, fix: str) -> dict[str, Any]:
    """An optional object field ({} when missing or null)."""
    value = event.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CallError(field, f"not an object ({_kind(value)})", fix)
    return value


def id_text(event: Mapping[str, Any], field: str) -> str | None:
    """An id field as text (numbers as digits); None when missing or blank."""
    value = event.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise CallError(field, f"not an id ({_kind(value)})", 'send a string, e.g. "user-42"')
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
