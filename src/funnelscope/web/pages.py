"""The server's pages: login, logout, the funnel builder, dashboards, the pipeline board, the
diagnosis and experiments (Jinja2 templates in templates/, scripts, styles and the vendored
ECharts in static/). The pages compute nothing themselves: their scripts call the read API under
/api/v1 with the session (web/sessions.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from funnelscope.web.access import db_path
from funnelscope.web.sessions import (
    COOKIE,
    LoginThrottle,
    Session,
    csrf_matches,
    current,
    logged_in,
    sessions_of,
    set_cookie,
)

WEB_DIR: Final = Path(__file__).parent
STATIC_DIR: Final = WEB_DIR / "static"
templates = Jinja2Templates(directory=WEB_DIR / "templates")

# Everything a page loads comes from this server; ECharts sets inline styles on its elements.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

_LOCAL_PATH: Final = re.compile(r"/(?![/\\])[^\\\s\x00-\x1f\x7f]*")

router = APIRouter(include_in_schema=False)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _to_login(request: Request) -> RedirectResponse:
    """303 to the login page, which comes back here (path and query) after logging in."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


def _local(target: str | None) -> str:
    """Where to go after logging in: a path on this server only, never another site (browsers
    read `//host`, `/\\host` and `/<tab>/host` as another host, so no slash may follow the first
    and no backslash, space or control character may appear at all)."""
    if target and _LOCAL_PATH.fullmatch(target):
        return target
    return "/funnels"


def _login_page(
    request: Request,
    session: Session,
    target: str,
    error: str | None,
    status: int,
    name: str = "",
) -> Response:
    context = {"csrf": session.csrf, "next": target, "error": error, "name": name}
    return _page(request, "login.html", context, status)


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/funnels" if logged_in(request) else "/login", status_code=303)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    target = _local(next)
    if logged_in(request) is not None:
        return RedirectResponse(target, status_code=303)
    session = current(request)
    token = None
    if session is None:  # an anonymous session carries the login form's CSRF token
        token, session = sessions_of(request).create(None)
    response = _login_page(request, session, target, None, 200)
    if token is not None:
        set_cookie(response, token, request.url.scheme == "https")
    return response


@router.post("/login")
def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/funnels"),
) -> Response:
    from funnelscope.app.access import login_ok

    target = _local(next)
    session = current(request)
    if session is None or not csrf_matches(session, csrf_token):
        return Response(
            "the login form's CSRF token is missing or stale: open /login again",
            status_code=403,
            media_type="text/plain",
        )
    throttle: LoginThrottle = request.app.state.login_throttle
    who = (f"name:{name}", f"client:{request.client.host if request.client else '-'}")
    wait = throttle.wait_seconds(who)
    if wait:
        message = f"Too many failed logins; try again in {wait // 60 + 1} minutes."
        response = _login_page(request, session, target, message, 429, name)
        response.headers["Retry-After"] = str(wait)
        return response
    if not login_ok(db_path(request), name, password):
        throttle.failed(who)
        return _login_page(request, session, target, "Wrong name or password.", 401, name)
    throttle.succeeded(who[:1])
    sessions = sessions_of(request)
    sessions.drop(request.cookies.get(COOKIE))  # a fresh token once logged in
    token, _ = sessions.create(name)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, token, request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")) -> Response:
    session = current(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if not csrf_matches(session, csrf_token):
        return Response(
            "the logout form's CSRF token is missing or wrong: reload the page",
            status_code=403,
            media_type="text/plain",
        )
    sessions_of(request).drop(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _logged_in_page(
    request: Request, name: str, extra: dict[str, Any] | None = None, status: int = 200
) -> Response:
    """A page for the logged-in user (else 303 to the login page, which comes back here)."""
    session = logged_in(request)
    if session is None:
        return _to_login(request)
    context = {"csrf": session.csrf, "user": session.user, "store": Path(db_path(request)).name}
    return _page(request, name, {**context, **(extra or {})}, status)


@router.get("/funnels")
def funnel_builder(request: Request) -> Response:
    """The funnel builder; its query string `q` (a permalink) holds the whole query."""
    return _logged_in_page(request, "builder.html")


@router.get("/dashboards")
def dashboards_page(request: Request) -> Response:
    """The dashboards and the saved funnels; a new dashboard is made here."""
    return _logged_in_page(request, "dashboards.html")


@router.get("/dashboards/{dashboard_id}")
def dashboard_page(request: Request, dashboard_id: int) -> Response:
    """One dashboard: each of its saved funnels computed now, as its chart and table."""
    from funnelscope.app.saved import dashboard

    if logged_in(request) is None:
        return _to_login(request)
    if not 1 <= dashboard_id <= 2**62 or dashboard(db_path(request), dashboard_id) is None:
        extra = {"missing": f"No dashboard has id {dashboard_id}."}
        return _logged_in_page(request, "dashboards.html", extra, 404)
    return _logged_in_page(request, "dashboard.html", {"dashboard_id": dashboard_id})


@router.get("/pipeline")
def pipeline_page(request: Request) -> Response:
    """The sales pipeline: the board, the stage funnel, targets and the call-today list, with
    the settings the server was started with (`serve --pipeline-settings`)."""
    settings = request.app.state.settings.pipeline_settings
    extra = {"settings_file": None if settings is None else Path(settings).name}
    return _logged_in_page(request, "pipeline.html", extra)


@router.get("/diagnose")
def diagnose_page(request: Request) -> Response:
    """Where a funnel leaks most and why, and what changing one rate would bring."""
    return _logged_in_page(request, "diagnose.html")


@router.get("/experiments")
def experiments_page(request: Request) -> Response:
    """An A/B experiment over a funnel: each variant's conversion and the comparison."""
    return _logged_in_page(request, "experiments.html")
