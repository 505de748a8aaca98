"""Google Analytics 4 BigQuery export (``events_YYYYMMDD`` as JSON Lines or Parquet).

``event_params`` and ``user_properties`` are lists of ``{key, value: {string_value, int_value,
float_value, double_value}}``; each key becomes a property holding whichever value is set
(``user.<key>`` for user properties). ``user_pseudo_id`` is the device, ``user_id`` the known id,
``event_timestamp`` microseconds, and the ``ga_session_id`` parameter the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from funnelscope.store.layouts.core import (
    DEVICE,
    EVENT,
    PERSON,
    SESSION,
    TIME,
    LayoutError,
    put,
    text,
)

NAME: Final = "ga4"
TITLE: Final = "GA4 BigQuery export"
_VALUE_FIELDS: Final = ("string_value", "int_value", "double_value", "float_value")
_CONSUMED: Final = frozenset(
    {
        "event_name",
        "event_timestamp",
        "user_id",
        "user_pseudo_id",
        "event_params",
        "user_properties",
        "items",
    }
)
FIELDS: Final = {
    PERSON: "user_id",
    DEVICE: "user_pseudo_id",
    EVENT: "event_name",
    TIME: "event_timestamp",
    SESSION: "ga_session_id",
}


def recognises(first: Mapping[str, Any]) -> bool:
    return {"event_name", "event_timestamp", "user_pseudo_id"} <= set(first)


def _param_value(value: Any) -> Any:
    """The one value a GA4 parameter holds (BigQuery's JSON writes INT64 as text)."""
    if not isinstance(value, dict):
        return value
    for field in _VALUE_FIELDS:
        held = value.get(field)
        if held is None:
            continue
        if field == "int_value" and isinstance(held, str):
            try:
                return int(held)
            except ValueError:
                return held
        if field in ("double_value", "float_value") and isinstance(held, str):
            try:
                return float(held)
            except ValueError:
                return held
        return held
    return None


def _params(out: dict[str, Any], params: Any, prefix: str, field: str) -> None:
    if params is None:
        return
    if not isinstance(params, list):
        raise LayoutError(f"field {field!r} is not a list of {{key, value}} parameters")
    for param in params:
        if not isinstance(param, dict) or not isinstance(param.get("key"), str):
            raise LayoutError(f"an entry of {field!r} has no text 'key'")
        value = _param_value(param.get("value"))
        if value is not None:
            put(out, f"{prefix}{param['key']}", value)


def transform(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    known, device = text(record.get("user_id")), text(record.get("user_pseudo_id"))
    out[PERSON] = known or device
    out[DEVICE] = device if known else None
    out[EVENT] = record.get("event_name")
    out[TIME] = record.get("event_timestamp")
    _params(out, record.get("event_params"), "", "event_params")
    session = out.get("ga_session_id")
    out[SESSION] = None if session is None else f"{device}:{text(session)}"
    _params(out, record.get("user_properties"), "user.", "user_properties")
    items = record.get("items")
    if isinstance(items, list) and items:
        put(out, "items.count", len(items))
        first = items[0]
        if isinstance(first, dict):
            for key, value in first.items():
                if value is not None and not isinstance(value, list | dict):
                    put(out, f"items.{key}", value)
    for key, value in record.items():
        if key not in _CONSUMED and value is not None:
            put(out, key, value)
    return out
