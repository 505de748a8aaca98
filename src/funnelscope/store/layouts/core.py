"""What every layout shares: the names of the core fields in a flattened row, and flattening."""

from __future__ import annotations

import json
from typing import Any, Final

# Keys of the core fields in a layout's flattened row (no source column is named like these).
PERSON: Final = "$fs:person"  # the event's own id: the known id when the record has one
DEVICE: Final = "$fs:device"  # the device/anonymous id that this record links to PERSON
LINK_KIND: Final = "$fs:link"  # how that link was made: identify (default) or alias
EVENT: Final = "$fs:event"
TIME: Final = "$fs:time"
EVENT_ID: Final = "$fs:id"
SESSION: Final = "$fs:session"
FILE_TIME: Final = "$fs:file_time"  # put in every record: the file's modification time (µs)
LINK_ONLY: Final = "$fs:link_only"  # set: the row only links ids and is not an event
CORE: Final = (PERSON, DEVICE, LINK_KIND, LINK_ONLY, EVENT, TIME, EVENT_ID, SESSION, FILE_TIME)


class LayoutError(ValueError):
    """A record of a recognised layout that cannot be read; its row is quarantined with this."""


def text(value: Any) -> str | None:
    """An id as text: None for a missing or blank value, numbers without a trailing .0."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    shown = str(value).strip()
    return shown or None


def put(out: dict[str, Any], key: str, value: Any) -> None:
    """Set `key`, flattening objects to dotted keys; a taken name gets ``#2``, ``#3`` ..."""
    if isinstance(value, dict):
        for sub, inner in value.items():
            put(out, f"{key}.{sub}", inner)
        return
    if isinstance(value, list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    name, suffix = key, 2
    while name in out:
        name = f"{key}#{suffix}"
        suffix += 1
    out[name] = value


def put_all(out: dict[str, Any], values: Any, prefix: str = "") -> None:
    """Every key of the object `values` (nothing when it is not an object), under `prefix`."""
    if isinstance(values, dict):
        for key, value in values.items():
            put(out, f"{prefix}{key}", value)


def json_list(value: Any, field: str) -> list[Any]:
    """A list given as a list or as JSON text (CSV exports); [] when empty."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise LayoutError(
                f"invalid JSON in field {field!r}: {exc.msg} at column {exc.colno}; "
                "fix the quoting of that field or remove the row"
            ) from exc
    if not isinstance(value, list):
        raise LayoutError(f"field {field!r} is not a JSON list")
    return value


def json_object(value: Any, field: str) -> dict[str, Any]:
    """A nested object given as an object or as JSON text (CSV exports); {} when empty."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise LayoutError(
                f"invalid JSON in field {field!r}: {exc.msg} at column {exc.colno}; "
                "fix the quoting of that field or remove the row"
            ) from exc
    if not isinstance(value, dict):
        raise LayoutError(f"field {field!r} is not a JSON object; it must hold key-value pairs")
    return value
