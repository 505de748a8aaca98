"""Durations as users write them: 30s, 15m, 12h, 7d, 2w or {value: 7, unit: day}."""

from __future__ import annotations

import math
import re
from typing import Any

from funnelscope.errors import SpecError, shown

US_PER_SECOND = 1_000_000  # event times are int64 microseconds since the epoch, UTC
UNIT_SECONDS: dict[str, int] = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}
_UNIT_ALIASES: dict[str, str] = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "w": "w", "wk": "w", "week": "w", "weeks": "w",
}  # fmt: skip
_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")
_HINT = "use e.g. 30s, 15m, 12h, 7d, 2w or {value: 7, unit: day}"


def parse_duration(raw: Any, path: str) -> int:
    """Return the duration in whole seconds; `path` names the spec field for errors."""
    if isinstance(raw, bool):
        raise SpecError(path, f"{shown(raw)} is not a duration", _HINT)
    if isinstance(raw, dict):
        unknown = set(raw) - {"value", "unit"}
        if unknown or "value" not in raw or "unit" not in raw:
            raise SpecError(path, f"{shown(raw)} is not a duration", _HINT)
        return _to_seconds(raw["value"], str(raw["unit"]), raw, path)
    if isinstance(raw, str):
        match = _TEXT.match(raw)
        if not match:
            raise SpecError(path, f"{shown(raw)} is not a duration", _HINT)
        return _to_seconds(float(match.group(1)), match.group(2), raw, path)
    raise SpecError(path, f"{shown(raw)} is not a duration", _HINT)


# Longer than any real journey, and small enough that time + window never overflows the
# microsecond arithmetic of the engines.
MAX_SECONDS = 365_250 * 86400


def _to_seconds(value: Any, unit: str, raw: Any, path: str) -> int:
    key = _UNIT_ALIASES.get(unit.lower())
    if key is None or isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(path, f"{shown(raw)} is not a duration", _HINT)
    seconds = value * UNIT_SECONDS[key]
    whole = f"{shown(raw)} must be a positive whole number of seconds"
    if (isinstance(seconds, float) and math.isnan(seconds)) or seconds <= 0:
        raise SpecError(path, whole, _HINT)
    if seconds > MAX_SECONDS:  # before int(): 1e400 reads as infinity
        raise SpecError(
            path,
            f"{shown(raw)} is longer than 1000 years",
            f"use at most {MAX_SECONDS // 86400}d (a longer window counts the same)",
        )
    if seconds != int(seconds):
        raise SpecError(path, whole, _HINT)
    return int(seconds)


def format_duration(seconds: int) -> str:
    """An exact text form in the largest whole unit up to days: 604800 -> '7d', 90 -> '90s'."""
    for unit in ("d", "h", "m"):
        size = UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
