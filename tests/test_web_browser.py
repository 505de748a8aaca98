"""The pages and the HTML report in Debian's Chromium (driven by playwright; DEVELOPERS.md):
the funnel builder shows the CLI's numbers and draws its charts, a permalink reopens the same
funnel, a page refuses a POST without its CSRF token, and the report draws with the network off.

The server runs in a thread (uvicorn, 127.0.0.1, a free port) for the module and stops at its
end; every wait has a timeout."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
import uvicorn
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, sync_playwright

from funnelscope.app.access import set_user
from funnelscope.app.funnels import EventInput, compute_funnel
from funnelscope.cli.main import cli, main
from funnelscope.model.spec import parse_funnel
from funnelscope.web.server import ServerSettings, create_app
from test_web_pages import EVENTS, PASSWORD, SPEC

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 20_000
STEP_KEYS = (
    "step",
    "label",
    "count",
    "conversion_from_previous",
    "conversion_from_start",
    "dropped_from_previous",
    "median_seconds_from_previous",
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium missing: `make test` installs it (DEVELOPERS.md)"
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pages")


@pytest.fixture(scope="module")
def expected(workdir: Path) -> dict[str, Any]:
    """The store (made before the server holds it), the CLI's JSON and an HTML report."""
    (workdir / "events.csv").write_text(EVENTS)
    db = str(workdir / "funnelscope.duckdb")
    assert main(["ingest", str(workdir / "events.csv"), "--db", db, "--no-progress"]) == 0
    set_user(db, "ann", PASSWORD)
    spec = str(workdir / "shop.json")
    (workdir / "shop.json").write_text(json.dumps(SPEC))
    flags = ["--db", db, "--time-to-convert", "--trend", "week"]
    assert main(["report-html", spec, "-o", str(workdir / "report.html"), *flags]) == 0
    printed = CliRunner().invoke(cli, ["funnel", spec, "--db", db, "--format", "json"])
    assert printed.exit_code == 0, printed.output
    result: dict[str, Any] = json.loads(printed.stdout)
    return result


@pytest.fixture(scope="module")
def base_url(workdir: Path, expected: dict[str, Any]) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(ServerSettings(str(workdir / "funnelscope.duckdb")))
    server = uvicorn.Server(uvicorn.Config(app, "127.0.0.1", port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=WAIT_MS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def log_in(page: Page, base_url: str, then: str = "/funnels") -> None:
    page.goto(base_url + then)
    assert "/login?next=" in page.url  # no session: the login page, which comes back here
    page.fill("input[name=name]", "ann")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/funnels.*"))


def shown_steps(page: Page, table: str = "#table-funnel") -> list[dict[str, Any]]:
    """The step table as numbers: each cell's exact value (its data-value)."""
    rows = page.eval_on_selector_all(
        f"{table} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.getAttribute('data-value')))",
    )
    keys = STEP_KEYS if table == "#table-funnel" else ("value", *STEP_KEYS)
    parsed = []
    for row in rows:
        values: dict[str, Any] = {}
        for key, text in zip(keys, row, strict=True):
            if key in ("label", "value"):
                values[key] = text
            else:
                values[key] = None if text == "" else float(text)
        parsed.append(values)
    return parsed


def expected_steps(steps: list[dict[str, Any]], value: str | None = None) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        row = {key: step[key] for key in STEP_KEYS}
        if value is not None:
            row["value"] = value
        out.append(row)
    return out


def painted_pixels(page: Page, chart: str) -> int:
    """How many pixels of the chart's canvas are not transparent (0: nothing was drawn)."""
    count: int = page.evaluate(
        """selector => {
            const canvas = document.querySelector(selector + ' canvas');
            const context = canvas.getContext('2d');
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
            return painted;
        }""",
        f"#chart-{chart}",
    )
    return count


def test_the_builder_shows_the_clis_funnel_and_its_permalink_reopens_it(
    page: Page, base_url: str, expected: dict[str, Any]
) -> None:
    log_in(page, base_url)
    page.wait_for_selector("#funnel-form[data-ready=yes]")
    # build view -> cart -> buy in 1h by plan: from the default two steps, add two, pick them
    # in the wrong order, move one up and remove the last
    page.click("#add-step")
    page.click("#add-step")
    events = page.locator("select.step-event")
    assert events.count() == 4
    for index, name in enumerate(["cart", "view", "buy", "buy"]):
        events.nth(index).select_option(name)
    page.locator("li.step").nth(1).locator("button.move-up").click()
    page.locator("li.step").nth(3).locator("button.remove-step").click()
    assert [events.nth(i).input_value() for i in range(events.count())] == ["view", "cart", "buy"]
    page.fill("#funnel-name", "shop")
    page.fill("#window", "1h")
    page.select_option("#breakdown", "plan")
    page.click("#compute")
    page.wait_for_selector("#status[data-state=done]", state="attached")
    assert shown_steps(page) == expected_steps(expected["steps"])
    assert [row["count"] for row in shown_steps(page)] == [4.0, 3.0, 2.0]
    breakdown = [
        row
        for group in expected["breakdown"]
        for row in expected_steps(group["steps"], group["value"])
    ]
    assert shown_steps(page, "#table-breakdown") == breakdown
    for chart in ("funnel", "breakdown", "time-to-convert", "trend"):
        assert painted_pixels(page, chart) > 1000, chart
    with page.expect_download() as csv_download:
        page.click("#panel-funnel button[data-export=csv]")
    csv_text = Path(csv_download.value.path()).read_text()
    assert csv_download.value.suggested_filename == "funnel.csv"
    assert csv_text.splitlines()[:2] == [
        "Step,Label,Count,From previous,From start,Dropped,Median time",
        "1,view,4,1,1,0,",
    ]
    with page.expect_download() as png_download:
        page.click("#panel-trend button[data-export=png]")
    assert Path(png_download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    link = page.get_attribute("#permalink", "href")
    assert link is not None and link.startswith("/funnels?q=")

    reopened = page.context.new_page()
    reopened.goto(base_url + link)
    reopened.wait_for_selector("#status[data-state=done]", state="attached")
    assert shown_steps(reopened) == expected_steps(expected["steps"])
    assert reopened.input_value("#window") == "1h"
    assert reopened.input_value("#breakdown") == "plan"
    assert [reopened.locator("select.step-event").nth(i).input_value() for i in range(3)] == [
        "view",
        "cart",
        "buy",
    ]


def test_a_linked_spec_keeps_what_the_form_has_no_field_for(
    page: Page, base_url: str, workdir: Path
) -> None:
    spec = {
        "name": "linked",
        "steps": [{"event": "view", "label": "Viewed"}, "cart", "buy"],
        "window": "1h",
        "breakdown": {"property": "plan", "limit": 1},
        "date_range": {"from": "2024-01-02", "timezone": "Europe/Berlin"},
    }
    query = json.dumps({"spec": spec, "trend": None}, separators=(",", ":"))
    log_in(page, base_url, f"/funnels?q={quote(query)}")  # the login comes back to the link
    page.wait_for_selector("#status[data-state=done]", state="attached")
    store = EventInput(str(workdir / "funnelscope.duckdb"))  # a cursor of the server's store
    expected = compute_funnel(parse_funnel(spec), store).result.to_dict()
    shown = shown_steps(page)
    assert shown == expected_steps(expected["steps"])
    assert [row["label"] for row in shown] == ["Viewed", "cart", "buy"]
    assert [row["count"] for row in shown] == [2.0, 2.0, 1.0]
    groups = expected["breakdown"]
    breakdown = [row for g in groups for row in expected_steps(g["steps"], g["value"])]
    assert shown_steps(page, "#table-breakdown") == breakdown
    assert len(groups) == 2 and groups[1]["value"] == "Other"  # limit 1: the rest folds
    assert page.locator("#chart-trend").count() == 0  # no trend asked for
    link = unquote(page.get_attribute("#permalink", "href") or "")
    assert '"timezone":"Europe/Berlin"' in link and '"limit":1' in link

    # a filter on the second step: cart where plan eq pro
    page.locator("li.step").nth(1).get_by_text("+ filter").click()
    page.select_option("li.step >> nth=1 >> select.filter-property", "plan")
    page.select_option("li.step >> nth=1 >> select.filter-op", "eq")
    page.fill("li.step >> nth=1 >> input.filter-value", "pro")
    page.click("#compute")
    page.wait_for_selector("#status[data-state=done]", state="attached")
    pro_cart = {"event": "cart", "where": [{"property": "plan", "op": "eq", "value": "pro"}]}
    filtered = {**spec, "steps": [spec["steps"][0], pro_cart, "buy"]}
    expected = compute_funnel(parse_funnel(filtered), store).result.to_dict()
    assert shown_steps(page) == expected_steps(expected["steps"])
    assert [row["count"] for row in shown_steps(page)] == [2.0, 1.0, 0.0]


def test_a_page_post_without_the_csrf_token_is_refused(page: Page, base_url: str) -> None:
    log_in(page, base_url)
    statuses = page.evaluate(
        """async () => {
            const body = JSON.stringify({spec: {steps: ['view', 'buy']}});
            const headers = {'Content-Type': 'application/json'};
            const bare = await fetch('/api/v1/funnel', {method: 'POST', headers, body});
            const token = document.querySelector('meta[name=csrf-token]').content;
            headers['X-CSRF-Token'] = token;
            const signed = await fetch('/api/v1/funnel', {method: 'POST', headers, body});
            return [bare.status, signed.status];
        }"""
    )
    assert statuses == [403, 200]


def test_the_html_report_draws_with_the_network_off(
    browser: Browser, workdir: Path, expected: dict[str, Any]
) -> None:
    context = browser.new_context(offline=True)
    context.set_default_timeout(WAIT_MS)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    page.goto((workdir / "report.html").as_uri())
    page.wait_for_selector("#chart-trend canvas")
    assert shown_steps(page) == expected_steps(expected["steps"])
    for chart in ("funnel", "breakdown", "time-to-convert", "trend"):
        assert painted_pixels(page, chart) > 1000, chart
    assert all(url.startswith(("file:", "data:")) for url in requested), requested
    context.close()
