"""Amplitude's Export API files: one event object per line (``event_type``, ``event_time``).

``event_properties`` keys become properties by their own names, ``user_properties`` keys
``user.<key>``. The event's own id is ``user_id`` when set, else ``device_id``; ``device_id``
links to ``user_id``. ``session_id`` (epoch ms, -1 for none) is the session; ``uuid`` (or
``$insert_id``) the event id; ``event_time`` is UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from funnelscope.store.layouts.core import (
    DEVICE,
    EVENT,
    EVENT_ID,
    PERSON,
    SESSION,
    TIME,
    json_object,
    put,
    put_all,
    text,
)

NAME: Final = "amplitude"
TITLE: Final = "Amplitude export"
_CONSUMED: Final = frozenset(
    {
        "event_type",
        "event_time",
        "user_id",
        "device_id",
        "uuid",
        "$insert_id",
        "insert_id",
        "session_id",
        "event_properties",
        "user_properties",
    }
)
FIELDS: Final = {
    PERSON: "user_id",
    DEVICE: "device_id",
    EVENT: "event_type",
    TIME: "event_time",
    EVENT_ID: "uuid",
    SESSION: "session_id",
}


def recognises(first: Mapping[str, Any]) -> bool:
    keys = set(first)
    return {"event_type", "event_time"} <= keys and bool({"device_id", "amplitude_id"} & keys)


def transform(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    user, device = text(record.get("user_id")), text(record.get("device_id"))
    if user is None and device is None:
        device = text(record.get("amplitude_id"))
    out[PERSON] = user or device
    out[DEVICE] = device if user and device != user else None
    out[EVENT] = record.get("event_type")
    out[TIME] = record.get("event_time")
    out[EVENT_ID] = record.get("uuid") or record.get("$insert_id") or record.get("insert_id")
    session = text(record.get("session_id"))
    out[SESSION] = None if session in (None, "-1") else f"{device or user}:{session}"
    put_all(out, json_object(record.get("event_properties"), "event_properties"))
    put_all(out, json_object(record.get("user_properties"), "user_properties"), "user.")
    for key, value in record.items():
        if key not in _CONSUMED and value is not None:
            put(out, key, value)
    return out
