"""A funnel's date range: when attempts may start (docs/semantics.md, "Date range").

Users write whole days (``{from: 2024-01-01, to: 2024-01-31}``, the ``to`` day included) read in
an IANA time zone (default UTC), or instants (``2024-01-31T18:00:00+01:00``, ``...Z``; a time
without an offset is read in the zone). Either end may be left out. The range is kept as UTC
microseconds, ``start_us`` inclusive and ``end_us`` exclusive, beside the text it was given as.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from funnelscope.errors import SpecError, shown

DEFAULT_ZONE = "UTC"
_KEYS = ("from", "to", "timezone")
_DATE = re.compile(r"\d{4}-?\d{2}-?\d{2}")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
_FORM_HINT = "write a day as 2024-01-31, or an instant as 2024-01-31T18:00:00Z or +01:00"
_EXAMPLE = "write date_range: {from: 2024-01-01, to: 2024-01-31}"


@dataclass(frozen=True)
class DateRange:
    """Attempts may start at events with ``start_us <= ts < end_us`` (None: no bound)."""

    start_us: int | None
    end_us: int | None  # exclusive: the end of the ``to`` day, or just after the ``to`` instant
    start_text: str | None = None  # the ends as given (normalised), for specs and titles
    end_text: str | None = None
    timezone: str = DEFAULT_ZONE

    def contains(self, ts: int) -> bool:
        return (self.start_us is None or ts >= self.start_us) and (
            self.end_us is None or ts < self.end_us
        )

    def last_use_us(self, window_us: int) -> int | None:
        """The latest time an event can matter: the end of the window of an attempt entering
        at the last moment of the range (None: no end)."""
        return None if self.end_us is None else self.end_us - 1 + window_us

    @property
    def text(self) -> str:
        """``2024-01-01..2024-01-31`` (an open end is left blank), with a zone other than UTC."""
        zone = "" if self.timezone == DEFAULT_ZONE else f" {self.timezone}"
        return f"{self.start_text or ''}..{self.end_text or ''}{zone}"

    def to_dict(self) -> dict[str, Any]:
        """The spec form: what `parse_date_range` reads back to this range."""
        out: dict[str, Any] = {}
        if self.start_text is not None:
            out["from"] = self.start_text
        if self.end_text is not None:
            out["to"] = self.end_text
        if self.timezone != DEFAULT_ZONE:
            out["timezone"] = self.timezone
        return out

    def bounds_dict(self) -> dict[str, Any]:
        """The spec form plus the UTC bounds it stands for (results' JSON)."""
        return {
            **self.to_dict(),
            "timezone": self.timezone,
            "start": None if self.start_us is None else _iso_utc(self.start_us),
            "end_exclusive": None if self.end_us is None else _iso_utc(self.end_us),
        }


def parse_date_range(raw: Any, path: str = "date_range") -> DateRange:
    """``{from, to, timezone}`` (either end optional) -> DateRange; errors name the field."""
    if not isinstance(raw, Mapping):
        raise SpecError(path, f"{shown(raw)} is not a date range", _EXAMPLE)
    for key in raw:
        if key not in _KEYS:
            key_text = shown(key, quote=False)
            close = difflib.get_close_matches(key_text, _KEYS, n=1)
            hint = f"did you mean {close[0]}?" if close else "the keys are from, to, timezone"
            raise SpecError(f"{path}.{key_text}", "unknown key", hint)
    return date_range_of(
        raw.get("from"), raw.get("to"), raw.get("timezone"), (f"{path}.from", f"{path}.to"), path
    )


def date_range_of(
    start: Any,
    end: Any,
    timezone: Any = None,
    paths: tuple[str, str] = ("date_range.from", "date_range.to"),
    path: str = "date_range",
) -> DateRange:
    """A range from its two ends (None: open) in `timezone`; `paths` name the ends in errors."""
    if start is None and end is None:
        raise SpecError(path, "has neither from nor to", _EXAMPLE)
    zone_name = DEFAULT_ZONE if timezone is None else timezone
    zone = _zone(zone_name, f"{path}.timezone")
    first = None if start is None else _instant(start, zone, paths[0], end_of_day=False)
    last = None if end is None else _instant(end, zone, paths[1], end_of_day=True)
    if first is not None and last is not None and first[0] >= last[0]:
        raise SpecError(
            path,
            f"from {first[1]} is after to {last[1]}",
            "give from before to (both ends are included), or swap them",
        )
    return DateRange(
        None if first is None else first[0],
        None if last is None else last[0],
        None if first is None else first[1],
        None if last is None else last[1],
        str(zone_name),
    )


def _zone(name: Any, path: str) -> dt.tzinfo:
    if not isinstance(name, str) or not name.strip():
        raise SpecError(
            path, f"{shown(name)} is not a time zone", "use an IANA name: Europe/Berlin"
        )
    if name in ("UTC", "Z"):
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, _zone_names(), n=1)
        hint = f"did you mean {close[0]}?" if close else "use an IANA name, e.g. Europe/Berlin"
        raise SpecError(path, f"unknown time zone {shown(name)}", hint) from None


@cache
def _zone_names() -> list[str]:
    return sorted(available_timezones())


def _instant(raw: Any, zone: dt.tzinfo, path: str, *, end_of_day: bool) -> tuple[int, str]:
    """An end as (UTC µs, its normalised text): a day starts (`from`) or ends (`to`, so the
    exclusive bound is the next midnight) in `zone`; an instant is itself (`to`: plus 1 µs)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and len(str(raw)) == 8:
        raw = str(raw)  # YAML reads an unquoted 20240131 as a number
    if isinstance(raw, dt.datetime):
        moment = raw
    elif isinstance(raw, dt.date):
        moment, day = None, raw
    elif isinstance(raw, str) and raw.strip():
        text = raw.strip()
        try:
            if _DATE.fullmatch(text):
                moment, day = None, dt.date.fromisoformat(text)
            elif "T" in text.upper() or " " in text:
                moment = dt.datetime.fromisoformat(text)
            else:
                raise ValueError(text)
        except ValueError:
            raise SpecError(path, f"{shown(raw)} is not a date or time", _FORM_HINT) from None
    else:
        raise SpecError(path, f"{shown(raw)} is not a date or time", _FORM_HINT)
    if moment is None:
        text = day.isoformat()
        if end_of_day and day == dt.date.max:
            us = _LAST_US + 1  # its end, the next midnight, is past the last time there is
        else:
            if end_of_day:
                day += dt.timedelta(days=1)
            us = _micros(dt.datetime.combine(day, dt.time(), zone))
    else:
        text = moment.isoformat().replace("+00:00", "Z")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        us = _micros(moment) + (1 if end_of_day else 0)
    if not _FIRST_US <= us <= _LAST_US:
        raise SpecError(
            path,
            f"{shown(raw)} is outside the years 1 to 9999 (in UTC)",
            "give a date from 0001-01-02 to 9999-12-30",
        )
    return us, text


def _micros(moment: dt.datetime) -> int:
    """µs since the epoch, by arithmetic on the aware datetime (never a datetime out of range)."""
    return (moment - _EPOCH) // _US


_FIRST_US = _micros(dt.datetime.min.replace(tzinfo=dt.UTC))
_LAST_US = _micros(dt.datetime.max.replace(tzinfo=dt.UTC))  # every bound is a datetime


def _iso_utc(us: int) -> str:
    return (_EPOCH + dt.timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")
