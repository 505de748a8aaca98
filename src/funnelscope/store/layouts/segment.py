"""Segment's message layout (the Tracking API's track, page, screen, identify, group, alias
calls, as a warehouse or S3 export writes them one JSON object per line).

track -> its ``event``; page -> ``Page Viewed`` with ``page_name``; screen -> ``Screen Viewed``
with ``screen_name``; identify -> ``$identify`` carrying the traits; group -> ``$group``;
alias links ``previousId`` to ``userId`` explicitly and is not an event. ``anonymousId`` on a call
with a ``userId`` links that device to the user.
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
    LINK_ONLY,
    PERSON,
    TIME,
    LayoutError,
    json_object,
    put,
    put_all,
    text,
)

NAME: Final = "segment"
TITLE: Final = "Segment track/page/screen/identify/alias messages"
TYPES: Final = frozenset({"track", "page", "screen", "identify", "group", "alias"})
_CONSUMED: Final = frozenset(
    {
        "type",
        "event",
        "userId",
        "anonymousId",
        "previousId",
        "timestamp",
        "messageId",
        "properties",
        "traits",
        "name",
        "context",
    }
)
FIELDS: Final = {
    PERSON: "userId",
    DEVICE: "anonymousId",
    EVENT: "event",
    TIME: "timestamp",
    EVENT_ID: "messageId",
}


def recognises(first: Mapping[str, Any]) -> bool:
    return first.get("type") in TYPES and bool({"messageId", "anonymousId", "userId"} & set(first))


def transform(record: dict[str, Any]) -> dict[str, Any]:
    kind = record.get("type")
    out: dict[str, Any] = {}
    user, anonymous = text(record.get("userId")), text(record.get("anonymousId"))
    out[PERSON] = user or anonymous
    out[DEVICE] = anonymous if user else None
    if kind == "track":
        out[EVENT] = record.get("event")
    elif kind == "page":
        out[EVENT] = "Page Viewed"
        put(out, "page_name", record.get("name"))
    elif kind == "screen":
        out[EVENT] = "Screen Viewed"
        put(out, "screen_name", record.get("name"))
    elif kind == "identify":
        out[EVENT] = "$identify"
    elif kind == "group":
        out[EVENT] = "$group"
    elif kind == "alias":
        out[EVENT] = "$alias"
        out[DEVICE] = text(record.get("previousId"))
        out[LINK_KIND] = ALIAS
        out[LINK_ONLY] = True
        if out[DEVICE] is None:
            raise LayoutError("alias call without 'previousId'; it names the id being merged")
    else:
        raise LayoutError(
            f"unknown Segment call type {kind!r}; expected one of {', '.join(sorted(TYPES))}"
        )
    out[TIME] = record.get("timestamp") or record.get("originalTimestamp")
    out[EVENT_ID] = record.get("messageId")
    put_all(out, json_object(record.get("properties"), "properties"))
    traits = json_object(record.get("traits"), "traits")
    put_all(out, traits, "group." if kind == "group" else "")
    put_all(out, json_object(record.get("context"), "context"), "context.")
    for key, value in record.items():
        if key not in _CONSUMED and value is not None:
            put(out, key, value)
    return out
