"""Segment's HTTP Tracking API: ``/v1/track``, ``identify``, ``page``, ``screen``, ``alias``,
``group`` (one call) and ``/v1/batch`` or ``/v1/import`` (``{"batch": [...]}``, each call with
its ``type``).

Each call becomes the message Segment's own export writes (its ``receivedAt``; ``sentAt`` and
``originalTimestamp`` as the client sent them; ``timestamp`` corrected for the client's clock;
a ``messageId``), and the Segment export layout (``store/layouts/segment.py``) flattens it, so a
captured call and the same message loaded from an export are the same row.
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

NAME: Final = "segment"
CALLS: Final = ("alias", "group", "identify", "page", "screen", "track")
_TYPES_FIX: Final = f"give each call its type: one of {', '.join(CALLS)}"
_TRANSPORT: Final = frozenset({"writeKey", "sentAt"})  # about the request, not the event


def events(body: Any, call: str | None, sent_at: str | None = None) -> list[Event]:
    """The calls of a request body: the body itself for one call (`call` names it), the list
    under ``batch`` for /v1/batch and /v1/import (`call` None)."""
    if not isinstance(body, dict):
        raise BodyError('the body is not a JSON object; send {"batch": [...]} or one call')
    if call is not None:
        return [Event(call, body, {}, call, sent_at)]
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise BodyError('a batch needs "batch": a list of calls, each with its "type"')
    shared = {k: v for k, v in body.items() if k != "batch"}
    return [Event(f"batch[{i}]", item, shared, None, sent_at) for i, item in enumerate(batch)]


def body_key(body: Any) -> str | None:
    """The write key in the body (``writeKey``, as analytics.js sends it), if any."""
    if not isinstance(body, dict):
        return None
    key = body.get("writeKey")
    if key is None and isinstance(body.get("batch"), list) and body["batch"]:
        first = body["batch"][0]
        key = first.get("writeKey") if isinstance(first, dict) else None
    return key if isinstance(key, str) and key else None


def export_record(event: Event, received_us: int) -> dict[str, Any]:
    """The message as Segment's export holds it; raises :class:`CallError` naming the field."""
    body = event.body
    if not isinstance(body, dict):
        raise CallError("", "not a JSON object", 'send each call as an object: {"type": ...}')
    call = event.call or body.get("type")
    if call not in CALLS:
        problem = "missing" if call is None else f"unknown call type {call!r}"
        raise CallError("type", problem, _TYPES_FIX)
    user, anonymous = id_text(body, "userId"), id_text(body, "anonymousId")
    if user is None and anonymous is None:
        raise CallError(
            "userId", "missing", f'a {call} call needs "userId" or "anonymousId" (or both)'
        )
    _check_call(call, body)
    for field in ("properties", "traits", "context"):
        object_field(body, field, f'send "{field}" as an object of names and values')
    record = {k: v for k, v in body.items() if k not in _TRANSPORT}
    record["type"] = call
    shared_context = event.batch.get("context")
    if isinstance(shared_context, dict):  # a batch's context applies to every call in it
        record["context"] = {**shared_context, **(record.get("context") or {})}
    message_id = id_text(body, "messageId") or derived_id(NAME, record)
    timestamp, sent = body.get("timestamp"), body.get("sentAt") or event.batch.get("sentAt")
    sent = sent or event.sent_at
    happened = corrected_time(timestamp, sent, received_us, "timestamp")
    record["receivedAt"] = iso(received_us)
    if sent is not None:
        record["sentAt"] = sent
    if timestamp is not None:
        record["originalTimestamp"] = timestamp
    record["timestamp"] = iso(happened)
    record["messageId"] = message_id
    return record


def _check_call(call: str, body: dict[str, Any]) -> None:
    if call == "track":
        name = body.get("event")
        if not isinstance(name, str) or not name.strip():
            problem = "missing" if name is None or name == "" else "not a name"
            raise CallError(
                "event",
                problem,
                'a track call needs "event": the name of what happened, e.g. "Order Completed"',
            )
    elif call == "alias":
        if id_text(body, "previousId") is None:
            raise CallError(
                "previousId", "missing", 'an alias call needs "previousId": the id being merged'
            )
        if id_text(body, "userId") is None:
            raise CallError("userId", "missing", 'an alias call needs "userId": the id kept')
    elif call == "group" and id_text(body, "groupId") is None:
        raise CallError("groupId", "missing", 'a group call needs "groupId"')


FORMAT: Final = CaptureFormat(NAME, LAYOUTS[NAME], events, export_record, body_key)
