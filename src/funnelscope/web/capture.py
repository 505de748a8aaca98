"""Capture endpoints: Segment's HTTP Tracking API (``/v1/...``) and PostHog's capture API
(``/capture``, ``/batch``, ``/e/``, ``/i/v0/e/``), and the capture status for admins.

Each request: the key (header, else the body's ``writeKey``/``api_key``/``token``) must be a
write or admin key; the body is read within the limits (gzip decompressed with a bound, so a
gzip bomb costs no memory), parsed, and handed to the app (app/capture.py) in one call; the
answer waits until the request's records are durable in the capture log.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from funnelscope.store.capture.log import LogClosed
from funnelscope.store.capture.records import (
    MAX_BATCH_BYTES,
    MAX_ERRORS_LISTED,
    BodyError,
    TooLarge,
    iso,
    parse_body,
)
from funnelscope.web.access import WRITE_KINDS, admin_access, presented_key, refuse_unless

SEGMENT_CALLS: Final = frozenset({"track", "identify", "page", "screen", "alias", "group"})
SEGMENT_BATCHES: Final = frozenset({"batch", "import"})
POSTHOG_PATHS: Final = ("/capture", "/batch", "/e", "/i/v0/e")
_GZIP_SLACK: Final = 64 * 1024  # a gzip body may be a little larger than what it holds
_BATCH_LIMIT: Final = f"{MAX_BATCH_BYTES // 1024} KB per request, after decompression"
_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {
        "description": "Events rejected (named, each with its field and a fix), or a body "
        "that is not of the API's shape; the valid events of the request are stored"
    },
    401: {"description": "No key, or an unknown or revoked one"},
    403: {"description": "A read key (capture needs a write or admin key)"},
    413: {"description": "Beyond a limit: 32 KB per event, 500 KB per request; nothing stored"},
    503: {
        "description": "The capture log could not be written, or the server is stopping: "
        "nothing of the request was acknowledged, send it again"
    },
}

router = APIRouter(tags=["capture"])


@router.post(
    "/v1/{call}",
    summary="Segment's Tracking API: track, identify, page, screen, alias, group, batch, import",
    responses=_RESPONSES,
)
async def segment_call(call: str, request: Request) -> JSONResponse:
    """One Segment call (the body is the message) or a batch (`{"batch": [...]}`, each call with
    its `type`). The write key as basic auth's user name, a bearer token or `writeKey`."""
    if call not in SEGMENT_CALLS and call not in SEGMENT_BATCHES:
        raise HTTPException(
            404,
            f"no Segment call {call!r}; use one of track, identify, "
            "page, screen, alias, group, batch, import",
        )
    return await _capture(request, "segment", None if call in SEGMENT_BATCHES else call)


async def posthog_capture(request: Request) -> JSONResponse:
    """PostHog events: one event, a list of them, or `{"api_key": ..., "batch": [...]}`."""
    sent = request.query_params.get("_")  # posthog-js: the time it sent the request, in ms
    sent_at = iso(int(sent) * 1000) if sent and sent.isdigit() and len(sent) < 16 else None
    return await _capture(request, "posthog", None, sent_at)


for _path in POSTHOG_PATHS:
    for _shown in (_path, _path + "/"):
        router.add_api_route(
            _shown,
            posthog_capture,
            methods=["POST"],
            summary="PostHog's capture API",
            responses=_RESPONSES,
            include_in_schema=_shown in ("/capture", "/batch"),
        )


@router.get("/api/v1/capture/status", dependencies=[admin_access], summary="Capture status")
def capture_status(request: Request) -> dict[str, Any]:
    """The capture log and the fold: bytes on disk, records acknowledged, folded and waiting,
    and the last fold's time and error (an admin key or a logged-in page user)."""
    return dict(request.app.state.capture.status().to_dict())


async def _capture(
    request: Request, fmt: str, call: str | None, sent_at: str | None = None
) -> JSONResponse:
    capture = request.app.state.capture
    received = time.time_ns() // 1000
    key = presented_key(request)
    if key is not None:  # refused before the body is read
        refuse_unless(capture.key_kind(key), WRITE_KINDS)
    try:
        body = await _read_body(request)
        payload = parse_body(body)
    except TooLarge as exc:
        return _error(fmt, 413, str(exc), limit=_BATCH_LIMIT)
    except BodyError as exc:
        return _error(fmt, 400, str(exc))
    if key is None:
        from funnelscope.app.capture import FORMATS

        body_key = FORMATS[fmt].body_key(payload)
        refuse_unless(None if body_key is None else capture.key_kind(body_key), WRITE_KINDS)
    try:
        submitted = capture.submit(
            fmt, payload, call, received, sent_at=sent_at, body_bytes=len(body)
        )
        await asyncio.wrap_future(submitted.durable)
    except BodyError as exc:
        return _error(fmt, 400, str(exc))
    except TooLarge as exc:
        return _error(fmt, 413, str(exc), limit="32 KB per event")
    except (LogClosed, OSError) as exc:
        problem = "the server is stopping" if isinstance(exc, LogClosed) else "a disk error"
        return _error(
            fmt,
            503,
            f"the capture log could not take this request ({problem}); nothing of it "
            "was acknowledged: send it again",
        )
    counts = {"accepted": submitted.accepted, "rejected": len(submitted.rejected)}
    if not submitted.rejected:
        return JSONResponse({**_ok(fmt, True), **counts})
    listed = [r.to_dict() for r in submitted.rejected[:MAX_ERRORS_LISTED]]
    first = submitted.rejected[0].message
    more = len(submitted.rejected) - 1
    error = first + (f" (and {more} more rejected)" if more else "")
    if submitted.accepted == 1:
        error += "; the request's 1 valid event was stored"
    elif submitted.accepted:
        error += f"; the request's {submitted.accepted} valid events were stored"
    body_out = {**_ok(fmt, False), "error": error, **counts, "errors": listed}
    return JSONResponse(body_out, status_code=400)


def _ok(fmt: str, ok: bool) -> dict[str, Any]:
    return {"success": ok} if fmt == "segment" else {"status": 1 if ok else 0}


def _error(fmt: str, status: int, message: str, **extra: str) -> JSONResponse:
    return JSONResponse({**_ok(fmt, False), "error": message, **extra}, status_code=status)


async def _read_body(request: Request) -> bytes:
    """The body, decompressed, within MAX_BATCH_BYTES (raises TooLarge, BodyError)."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    gzipped = encoding == "gzip" or request.query_params.get("compression") in (
        "gzip",
        "gzip-js",
    )
    if encoding not in ("", "identity", "gzip"):
        raise BodyError(f"Content-Encoding {encoding!r} is not supported; send gzip or none")
    wire_limit = MAX_BATCH_BYTES + (_GZIP_SLACK if gzipped else 0)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > wire_limit:
        raise TooLarge(f"the body is {int(declared):,} bytes; the limit is {_BATCH_LIMIT}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > wire_limit:
            raise TooLarge(f"the body is over {wire_limit:,} bytes; the limit is {_BATCH_LIMIT}")
        chunks.append(chunk)
    body = b"".join(chunks)
    return _gunzip(body, MAX_BATCH_BYTES) if gzipped else body


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress gzip members, never holding more than `limit` + 1 bytes of output."""
    out: list[bytes] = []
    size = 0
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            piece = inflater.decompress(data, limit + 1 - size)
        except zlib.error as exc:
            raise BodyError(f"the body is not valid gzip ({exc})") from None
        size += len(piece)
        if size > limit:
            raise TooLarge(
                f"the body is over {limit:,} bytes decompressed; the limit is {_BATCH_LIMIT}"
            )
        if not inflater.eof:
            raise BodyError("the gzip body is cut short")
        out.append(piece)
        data = inflater.unused_data
    return b"".join(out)
