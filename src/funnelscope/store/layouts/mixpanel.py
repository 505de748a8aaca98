"""Mixpanel's raw event export: one ``{"event", "properties"}`` object per line.

``properties.time`` is the time (epoch seconds, or milliseconds in newer exports),
``$insert_id`` the event id. The event's own id is ``$user_id`` when set, else ``$device_id``,
else ``distinct_id`` (a ``$device:`` prefix removed); ``$device_id`` links to ``$user_id``, and an
``$identify`` event links ``$anon_distinct_id`` to ``$identified_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from funnelscope.model.identities import ALIAS
from funnelscope.store.layouts.core import (
    DEVICE,
    EVENT,
    EVENT_ID,
    LINK_KIND,
    PERSON,
    TIME,
    json_object,
    put,
    text,
)

NAME: Final = "mixpanel"
TITLE: Final = "Mixpanel raw export"
_CONSUMED: Final = frozenset({"time", "distinct_id", "$insert_id", "$user_id", "$device_id"})
_DEVICE_PREFIX: Final = "$device:"
FIELDS: Final = {
    PERSON: "distinct_id",
    DEVICE: "$device_id",
    EVENT: "event",
    TIME: "properties.time",
    EVENT_ID: "$insert_id",
}


def recognises(first: Mapping[str, Any]) -> bool:
    props = first.get("properties")
    return (
        "event" in first
        and isinstance(props, dict)
        and "distinct_id" not in first
        and bool({"distinct_id", "time"} & set(props))
    )


def transform(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    props = json_object(record.get("properties"), "properties")
    user, device = text(props.get("$user_id")), text(props.get("$device_id"))
    distinct = text(props.get("distinct_id"))
    if distinct is not None and distinct.startswith(_DEVICE_PREFIX):
        distinct = distinct[len(_DEVICE_PREFIX) :] or None
    out[PERSON] = user or device or distinct
    out[DEVICE] = device if user and device != user else None
    event = record.get("event")
    if event == "$identify" and out[DEVICE] is None:
        out[PERSON] = text(props.get("$identified_id")) or out[PERSON]
        out[DEVICE] = text(props.get("$anon_distinct_id"))
    elif event == "$create_alias":
        out[DEVICE] = text(props.get("alias"))
        out[LINK_KIND] = ALIAS
    out[EVENT] = event
    out[TIME] = props.get("time")
    out[EVENT_ID] = props.get("$insert_id")
    for key, value in props.items():
        if key not in _CONSUMED:
            put(out, key, value)
    for key, value in record.items():
        if key not in ("event", "properties") and value is not None:
            put(out, key, value)
    return out
