"""The server's pages without a browser: login and logout, the session cookie, CSRF on every
state-changing request, the read API serving a logged-in page, the builder's endpoints equal to
the CLI, and no secret in a log line. (tests/test_web_browser.py drives the pages in Chromium.)"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from funnelscope.app.access import set_user
from funnelscope.cli.main import main
from funnelscope.web import sessions
from funnelscope.web.server import ServerSettings, create_app

EVENTS = """\
user,event,ts,plan
a,view,2024-01-01T10:00:00Z,pro
a,cart,2024-01-01T10:02:00Z,pro
a,buy,2024-01-01T10:05:00Z,pro
b,view,2024-01-01T11:00:00Z,free
c,view,2024-01-09T09:00:00Z,free
c,cart,2024-01-09T09:10:00Z,free
c,buy,2024-01-09T09:30:00Z,free
d,view,2024-01-09T12:00:00Z,pro
d,cart,2024-01-09T12:01:00Z,pro
"""
SPEC = {"name": "shop", "steps": ["view", "cart", "buy"], "window": "1h", "breakdown": "plan"}
PASSWORD = "correct horse"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "events.csv").write_text(EVENTS)
    assert main(["ingest", "events.csv", "--no-progress"]) == 0
    set_user("funnelscope.duckdb", "ann", PASSWORD)
    return tmp_path / "funnelscope.duckdb"


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServerSettings(str(store))), base_url="http://127.0.0.1") as test:
        yield test


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def page_token(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert found is not None
    return found.group(1)


def log_in(client: TestClient) -> str:
    """Log in as ann; the builder page's CSRF token."""
    token = form_token(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"name": "ann", "password": PASSWORD, "csrf_token": token, "next": "/funnels"},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/funnels")
    return page_token(client.get("/funnels").text)


def cli_json(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, object]:
    Path("shop.json").write_text(json.dumps(SPEC))
    capsys.readouterr()
    assert main(["funnel", "shop.json", "--format", "json", *flags]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_a_page_without_login_redirects_to_the_login_page(client: TestClient) -> None:
    answer = client.get("/funnels?q=%7B%7D", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Ffunnels%3Fq%3D%257B%257D"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    for elsewhere in ("https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil"):
        login = client.get("/login", params={"next": elsewhere})  # only paths here are followed
        assert 'name="next" value="/funnels"' in login.text, elsewhere
    kept = client.get("/login", params={"next": "/funnels?q=%7B%7D"})
    assert 'name="next" value="/funnels?q=%7B%7D"' in kept.text


def test_login_gives_a_strict_httponly_session_and_logout_ends_it(client: TestClient) -> None:
    anonymous = client.get("/login")
    anonymous_cookie = client.cookies[sessions.COOKIE]
    token = form_token(anonymous.text)
    assert "Content-Security-Policy" in anonymous.headers
    wrong = client.post("/login", data={"name": "ann", "password": "x" * 9, "csrf_token": token})
    assert wrong.status_code == 401 and "Wrong name or password." in wrong.text
    assert 'name="name" value="ann"' in wrong.text and "x" * 9 not in wrong.text
    no_token = client.post("/login", data={"name": "ann", "password": PASSWORD})
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    answer = client.post(
        "/login",
        data={"name": "ann", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.cookies[sessions.COOKIE] != anonymous_cookie  # a fresh token once logged in
    builder = client.get("/funnels", follow_redirects=False)
    assert builder.status_code == 200 and "ann" in builder.text
    csrf = page_token(builder.text)
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.get("/funnels", follow_redirects=False).status_code == 200  # still logged in
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    client.cookies.set(sessions.COOKIE, cookie.split(";")[0].split("=", 1)[1])
    assert client.get("/funnels", follow_redirects=False).status_code == 303  # token is dead


def test_the_read_api_serves_a_logged_in_page_with_its_csrf_token(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"spec": SPEC}
    assert client.post("/api/v1/funnel", json=body).status_code == 401
    csrf = log_in(client)
    refused = client.post("/api/v1/funnel", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = client.post("/api/v1/funnel", json=body, headers={"X-CSRF-Token": csrf[:-1] + "x"})
    assert wrong.status_code == 403
    odd = client.post("/api/v1/funnel", json=body, headers={"X-CSRF-Token": "é".encode()})
    assert odd.status_code == 403  # not ASCII: refused, not a server error
    answer = client.post("/api/v1/funnel", json=body, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200
    assert answer.json() == cli_json(capsys)
    assert [s["count"] for s in answer.json()["steps"]] == [4, 3, 2]
    assert client.get("/api/v1/events").status_code == 200  # a GET needs no CSRF token


def test_the_builders_funnel_with_timing_equals_the_cli(
    store: Path, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    csrf = log_in(client)
    names = client.get("/api/v1/events").json()
    assert [(e["name"], e["count"]) for e in names] == [("view", 4), ("cart", 3), ("buy", 2)]
    body = {"spec": SPEC, "time_to_convert": True, "trend": "week"}
    timed = client.post("/api/v1/funnel", json=body, headers={"X-CSRF-Token": csrf}).json()
    assert timed == cli_json(capsys, "--time-to-convert", "--trend", "week")
    assert [p["n"] for p in timed["trend"]["points"]] == [2, 2]
    assert timed["time_to_convert"]["median_seconds"] == 1050.0  # 5 and 30 minutes


def test_no_secret_reaches_a_log_line(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    csrf = log_in(client)
    session_token = client.cookies[sessions.COOKIE]
    client.post("/api/v1/funnel", json={"spec": SPEC}, headers={"X-CSRF-Token": csrf})
    client.post("/login", data={"name": "ann", "password": "wrong password", "csrf_token": csrf})
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert caplog.records  # httpx logs each request: there are lines to look at
    for secret in (PASSWORD, "wrong password", session_token, csrf):
        assert secret not in logged


def test_sessions_expire_and_the_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(sessions.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    table = sessions.SessionStore()
    token, made = table.create("ann")
    assert table.get(token) == made and made.user == "ann"
    now[0] += sessions.LOGGED_IN_SECONDS - 1
    assert table.get(token) is not None
    now[0] += 1
    assert table.get(token) is None
    anonymous = [table.create(None)[0] for _ in range(4)]
    assert len(table) == 3 and table.get(anonymous[0]) is None  # the oldest went first
    now[0] += sessions.ANONYMOUS_SECONDS
    assert table.get(anonymous[-1]) is None


def test_the_html_report_is_one_file_with_the_clis_data_and_no_network(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = cli_json(capsys, "--time-to-convert", "--trend", "week", "--from", "2024-01-02")
    flags = ["--time-to-convert", "--trend", "week", "--from", "2024-01-02"]
    assert main(["report-html", "shop.json", "-o", "shop.html", *flags]) == 0
    assert "wrote shop.html" in capsys.readouterr().err
    html = Path("shop.html").read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html)
    assert found is not None and json.loads(found.group(1)) == expected
    assert [s["count"] for s in expected["steps"]] == [2, 2, 1]  # type: ignore[index]
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    markup = re.sub(r"(<script\b[^>]*>).*?</script>", r"\1</script>", html, flags=re.S | re.I)
    assert not re.search(r"\s(?:src|href)\s*=", markup, re.I)  # nothing loaded, even locally
    assert "<link" not in markup and "@import" not in html
    assert markup.count("<script") == 4  # data, echarts, charts.js, the drawing; nothing else
    assert "echarts" in html and "FunnelCharts.renderTiming" in html


def test_report_html_tells_a_bad_date(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("shop.json").write_text(json.dumps(SPEC))
    assert main(["report-html", "shop.json", "-o", "x.html", "--from", "soon"]) == 2
    assert "--from" in capsys.readouterr().err and not Path("x.html").exists()


def test_failed_logins_are_throttled(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    token = form_token(client.get("/login").text)
    attempt = {"name": "ann", "password": "not the one", "csrf_token": token}
    for _ in range(sessions.LoginThrottle.LIMIT):
        assert client.post("/login", data=attempt).status_code == 401
    blocked = client.post("/login", data={**attempt, "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    assert 0 < int(blocked.headers["retry-after"]) <= sessions.LoginThrottle.WINDOW_SECONDS
    other = client.post("/login", data={**attempt, "name": "bob"})  # the same client: blocked
    assert other.status_code == 429


def test_the_throttle_forgets_failures_after_its_window(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [50.0]
    monkeypatch.setattr(sessions.time, "monotonic", lambda: now[0])
    throttle = sessions.LoginThrottle()
    who = ("name:ann", "client:1.2.3.4")
    for _ in range(throttle.LIMIT - 1):
        throttle.failed(who)
    assert throttle.wait_seconds(who) == 0
    now[0] += 60
    throttle.failed(who)
    assert throttle.wait_seconds(who) == throttle.WINDOW_SECONDS - 60 + 1
    assert throttle.wait_seconds(("name:bob", "client:5.6.7.8")) == 0
    now[0] += throttle.WINDOW_SECONDS - 60  # the first nine failures are now out of the window
    assert throttle.wait_seconds(who) == 0
    throttle.succeeded(who[:1])
    assert throttle.wait_seconds(("name:ann",)) == 0
