"""The bound on a request body, for every route of the server.

Without it a client could send a body of any size and the server would read it whole into
memory before a route looked at it. The bound is checked twice: a declared Content-Length over
it is refused before anything is read, and a body sent in chunks (no length, or a false one) is
counted as it arrives and refused once it passes the bound. Either way the answer is a 413 whose
JSON names the limit. Routes with a tighter rule of their own (capture's per-event and per-batch
limits) check it themselves; this is the outer bound.
"""

from __future__ import annotations

import json
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES: Final = 1024 * 1024  # a funnel spec, a saved dashboard or a capture batch


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes the bound. An HTTPException, so FastAPI's body
    reading lets it through (it turns other errors into "error parsing the body")."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))
        self.limit = limit


def install(app: FastAPI, limit: int = MAX_BODY_BYTES) -> None:
    """Bound every request body of `app` at `limit` bytes, with a 413 in the API's error form."""

    async def too_large(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BodyTooLarge)
        return JSONResponse({"error": str(exc.detail)}, status_code=413)

    app.add_exception_handler(BodyTooLarge, too_large)
    app.add_middleware(BodyLimit, limit=limit)


def too_large_message(limit: int) -> str:
    return (
        f"the request body is larger than {limit:,} bytes, the most this server takes: "
        "send less per request (split a batch)"
    )


class BodyLimit:
    """ASGI middleware: refuse request bodies over `limit` bytes with a 413."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:  # a route answered before it read the whole body: nothing more to say
                return
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": too_large_message(self.limit)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
