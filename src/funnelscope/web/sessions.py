"""Sessions of the server's pages: who is logged in, and the CSRF token of each session.

A session is a random token (256 bits) in an HttpOnly, SameSite=Strict cookie; the server keeps
what it stands for in memory (so a restart logs everyone out, and one server process is assumed).
Each session has its own CSRF token, which the pages send back in an ``X-CSRF-Token`` header
(scripts) or a ``csrf_token`` form field (the login and logout forms); every state-changing
request from a page must carry it. Before login a page gets an anonymous session, so the login
form is protected the same way; logging in replaces it with a new one (no session fixation).
Failed logins are counted per name and per client address (LoginThrottle).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Final

from fastapi import HTTPException, Request, Response

COOKIE: Final = "funnelscope_session"
CSRF_HEADER: Final = "x-csrf-token"
CSRF_FIELD: Final = "csrf_token"
LOGGED_IN_SECONDS: Final = 8 * 3600  # a working day; then log in again
ANONYMOUS_SECONDS: Final = 15 * 60  # a login form's session
MAX_SESSIONS: Final = 10_000  # anonymous sessions cost memory: the oldest go first
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    user: str | None  # None: not logged in yet (the login form's session)
    csrf: str
    expires: float  # time.monotonic() seconds


class SessionStore:
    """The live sessions of one server process, safe to use from request threads."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user: str | None) -> tuple[str, Session]:
        """A new session for `user` (None: anonymous): its cookie token and the session."""
        seconds = LOGGED_IN_SECONDS if user is not None else ANONYMOUS_SECONDS
        token = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), time.monotonic() + seconds)
        with self._lock:
            self._drop_expired()
            while len(self._sessions) >= MAX_SESSIONS:  # dicts keep insertion order
                del self._sessions[next(iter(self._sessions))]
            self._sessions[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        """The live session of a cookie token; None when unknown or expired."""
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is not None and session.expires <= time.monotonic():
                del self._sessions[token]
                return None
            return session

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for token in [t for t, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[token]


class LoginThrottle:
    """Failed logins per user name and per client address: after `LIMIT` failures within
    `WINDOW_SECONDS` that name (or address) may not try again until the oldest failure is older
    than the window, which bounds password guessing at the page without locking anyone out for
    long. In memory, like the sessions."""

    LIMIT: Final = 10
    WINDOW_SECONDS: Final = 15 * 60

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, keys: tuple[str, ...]) -> int:
        """0 when every key may try; else the seconds until one more try is allowed."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                recent = [t for t in self._failures.get(key, []) if t > now - self.WINDOW_SECONDS]
                self._failures[key] = recent
                if len(recent) >= self.LIMIT:
                    wait = max(wait, recent[-self.LIMIT] + self.WINDOW_SECONDS - now)
        return int(wait) + (1 if wait else 0)

    def failed(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            if len(self._failures) > MAX_SESSIONS:  # forget the oldest names and addresses
                for key in list(self._failures)[: len(self._failures) // 2]:
                    del self._failures[key]
            for key in keys:
                self._failures.setdefault(key, []).append(time.monotonic())

    def succeeded(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def sessions_of(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


def current(request: Request) -> Session | None:
    """The request's live session (logged in or not), from its cookie."""
    return sessions_of(request).get(request.cookies.get(COOKIE))


def logged_in(request: Request) -> Session | None:
    session = current(request)
    return session if session is not None and session.user is not None else None


def csrf_matches(session: Session, presented: str | None) -> bool:
    if presented is None:
        return False  # bytes: compare_digest refuses str beyond ASCII, which anyone may send
    return hmac.compare_digest(session.csrf.encode(), presented.encode("utf-8", "replace"))


def page_reader(request: Request) -> str | None:
    """For the read API: "session" when a logged-in page calls it (a state-changing method
    must carry the session's CSRF token in the X-CSRF-Token header, else 403); None without a
    logged-in session, so the caller asks for an API key."""
    session = logged_in(request)
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not csrf_matches(
        session, request.headers.get(CSRF_HEADER)
    ):
        raise HTTPException(403, "the page's CSRF token is missing or wrong: reload the page")
    return "session"


def set_cookie(response: Response, token: str, secure: bool) -> None:
    """The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
    page sends it), Secure when the request came over HTTPS."""
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/")
