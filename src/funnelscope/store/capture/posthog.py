"""PostHog's capture API: ``/capture`` (one event, or ``{"batch": [...]}``), ``/batch``
(``{"api_key": ..., "batch": [...]}``) and posthog-js's ``/e/`` and ``/i/v0/e/`` (one event or a
list of them).

Each event becomes the row PostHog's events export holds (``uuid``, ``event``, ``distinct_id``,
``properties``, ``timestamp`` corrected for the client's clock), and the PostHog export layout
(``store/layouts/posthog.py``) flattens it: ``$identify`` links ``$anon_distinct_id``,
``$create_alias`` its ``alias``, ``$set`` holds person traits. The key (``api_key``, or the
``token`` property posthog-js sends) is never stored.
"""

from __future__ import annotations

from typing import Any, Final

from funnelscope.store.capture.records import (
    BodyError,
    CallError,
    CaptureFormat,
    Event,
    corrected_time,
    derived_id,
    id_text,
    iso,
    object_field,
)
from funnelscope.store.layouts import LAYOUTS

NAME: Final = "posthog"
_TRANSPORT: Final = frozenset({"api_key", "token", "sent_at", "offset", "type", "properties"})
_SECRET_PROPERTIES: Final = frozenset({"token", "api_key", "distinct_id"})
_TRAITS: Final = ("$set", "$set_once")


def events(body: Any, call: str | None = None, sent_at: str | None = None) -> list[Event]:
    """The events of a body: a list, ``{"batch": [...]}``, or one event."""
    if isinstance(body, list):
        return [Event(f"batch[{i}]", item, {}, None, sent_at) for i, item in enumerate(body)]
    if not isinstance(body, dict):
        raise BodyError('the body is not a JSON object; send {"api_key": ..., "batch": [...]}')
    if "batch" not in body:
        return [Event("capture", body, {}, None, sent_at)]
    batch = body["batch"]
    if not isinstance(batch, list):
        raise BodyError('"batch" is not a list; send {"api_key": ..., "batch": [{...}, ...]}')
    shared = {k: v for k, v in body.items() if k != "batch"}
    return [Event(f"batch[{i}]", item, shared, None, sent_at) for i, item in enumerate(batch)]


def body_key(body: Any) -> str | None:
    """The project key in the body: ``api_key`` (or ``token``), else the first event's."""
    first = body
    if isinstance(body, dict) and isinstance(body.get("batch"), list):
        key = body.get("api_key") or body.get("token")
        if isinstance(key, str) and key:
            return key
        first = body["batch"][0] if body["batch"] else None
    elif isinstance(body, list):
        first = body[0] if body else None
    if not isinstance(first, dict):
        return None
    props = first.get("properties")
    key = first.get("api_key") or first.get("token")
    if not key and isinstance(props, dict):
        key = props.get("token") or props.get("api_key")
    return key if isinstance(key, str) and key else None


def export_record(event: Event, received_us: int) -> dict[str, Any]:
    """The event as PostHog's export holds it; raises :class:`CallError` naming the field."""
    body = event.body
    if not isinstance(body, dict):
        raise CallError("", "not a JSON object", 'send each event as an object: {"event": ...}')
    name = body.get("event")
    if not isinstance(name, str) or not name.strip():
        problem = "missing" if name is None or name == "" else "not a name"
        raise CallError("event", problem, 'every event needs "event", e.g. "$pageview"')
    props = object_field(body, "properties", 'send "properties" as an object')
    person = id_text(body, "distinct_id") or id_text(props, "distinct_id")
    if person is None:
        raise CallError(
            "distinct_id", "missing", 'every event needs "distinct_id" (or properties.distinct_id)'
        )
    kept = {k: v for k, v in props.items() if k not in _SECRET_PROPERTIES}
    for traits in _TRAITS:  # posthog-python sends an identify's traits beside the properties
        if isinstance(body.get(traits), dict):
            kept[traits] = {**body[traits], **(kept.get(traits) or {})}
    record = {k: v for k, v in body.items() if k not in _TRANSPORT and k not in _TRAITS}
    record["distinct_id"] = person
    record["properties"] = kept
    uuid = id_text(body, "uuid") or derived_id(NAME, record)
    timestamp = body.get("timestamp")
    sent = body.get("sent_at") or event.batch.get("sent_at") or event.sent_at
    happened = corrected_time(timestamp, sent, received_us, "timestamp", "sent_at")
    offset = body.get("offset")
    if timestamp is None and offset is not None:
        if isinstance(offset, bool) or not isinstance(offset, int | float) or offset < 0:
            raise CallError(
                "offset", "not a number of milliseconds", "send e.g. 1500, or leave it out"
            )
        happened = received_us - int(offset * 1000)
    record["timestamp"] = iso(happened)
    record["uuid"] = uuid
    return record


FORMAT: Final = CaptureFormat(NAME, LAYOUTS[NAME], events, export_record, body_key)
