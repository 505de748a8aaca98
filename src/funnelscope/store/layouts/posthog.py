"""PostHog's events export (CSV with JSON text columns, or JSON Lines).

Keys of ``properties`` become properties by their own names, keys of its ``$set`` too (person
traits, read with ``scope: person``), ``person_properties`` keys ``person.<key>``.
``$identify`` links ``$anon_distinct_id`` to the ``distinct_id``; ``$create_alias`` and
``$merge_dangerously`` link their ``alias`` explicitly. ``$session_id`` is the session.
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
    SESSION,
    TIME,
    json_object,
    put,
    put_all,
    text,
)

NAME: Final = "posthog"
TITLE: Final = "PostHog events export"
_CONSUMED: Final = frozenset(
    {"uuid", "event", "properties", "timestamp", "distinct_id", "person_properties", "person_id"}
)
FIELDS: Final = {
    PERSON: "distinct_id",
    DEVICE: "$anon_distinct_id",
    EVENT: "event",
    TIME: "timestamp",
    EVENT_ID: "uuid",
    SESSION: "$session_id",
}


def recognises(first: Mapping[str, Any]) -> bool:
    keys = set(first)
    return {"event", "distinct_id", "timestamp"} <= keys and bool({"uuid", "properties"} & keys)


def transform(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    props = json_object(record.get("properties"), "properties")
    event = record.get("event")
    out[PERSON] = text(record.get("distinct_id"))
    out[DEVICE] = None
    if event == "$identify":
        out[DEVICE] = text(props.get("$anon_distinct_id"))
    elif event in ("$create_alias", "$merge_dangerously"):
        out[DEVICE] = text(props.get("alias"))
        out[LINK_KIND] = ALIAS
    out[EVENT] = event
    out[TIME] = record.get("timestamp")
    out[EVENT_ID] = record.get("uuid")
    out[SESSION] = text(props.get("$session_id"))
    traits = props.get("$set")
    for key, value in props.items():
        if key != "$set" or not isinstance(traits, dict):
            put(out, key, value)
    if isinstance(traits, dict):
        for key, value in traits.items():
            put(out, key if key not in out else f"$set.{key}", value)
    put_all(out, json_object(record.get("person_properties"), "person_properties"), "person.")
    if text(record.get("person_id")) is not None:
        put(out, "posthog_person_id", record["person_id"])
    for key, value in record.items():
        if key not in _CONSUMED and value is not None and value != "":
            put(out, key, value)
    return out
