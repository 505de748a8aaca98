"""Access to the server: API keys in an ``Authorization: Bearer KEY`` (or ``X-API-Key``)
header, or as HTTP basic auth's user name with an empty password (as Segment's libraries send
their write key). A read or admin key reads the API; a write key only captures (an admin key may
too). The read API also serves the logged-in pages (web/sessions.py), with their CSRF token."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from fastapi import Depends, HTTPException, Request

READ_KINDS = frozenset({"read", "admin"})
WRITE_KINDS = frozenset({"write", "admin"})


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            user, _, _ = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    return request.headers.get("x-api-key") or None


def refuse_unless(kind: str | None, kinds: frozenset[str]) -> None:
    """401 without a live key (`kind` None), 403 for a key of another kind."""
    if kind is None:
        raise HTTPException(
            401,
            "an API key is needed: send `Authorization: Bearer KEY` "
            "(make one with `funnelscope keys create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if kind not in kinds:
        raise HTTPException(403, f"a {kind} key cannot do this")


def require_key(kinds: frozenset[str], pages: bool = False) -> Callable[[Request], Any]:
    """A dependency refusing requests without a live key of one of `kinds`: 401 without a key
    (or with an unknown one), 403 with a key of another kind. With `pages`, a request without a
    key may come from a logged-in page instead (403 when its CSRF token is missing)."""

    def check(request: Request) -> str:
        from funnelscope.app.access import key_kind
        from funnelscope.web.sessions import page_reader

        secret = presented_key(request)
        if secret is None and pages and (reader := page_reader(request)) is not None:
            return reader
        kind = None if secret is None else key_kind(db_path(request), secret)
        refuse_unless(kind, kinds)
        assert kind is not None
        return kind

    return check


def db_path(request: Request) -> str:
    return str(request.app.state.settings.db_path)


read_access = Depends(require_key(READ_KINDS, pages=True))
# saving funnels and dashboards: an admin key, or a logged-in page user (with the CSRF token)
admin_access = Depends(require_key(frozenset({"admin"}), pages=True))
