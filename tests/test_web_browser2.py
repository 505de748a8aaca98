"""The pipeline, dashboards, diagnose and experiments pages in Debian's Chromium (playwright;
DEVELOPERS.md) over a small `funnelscope demo` store: the board's cards and overdue ones in red,
a dashboard made in the page showing a saved funnel's numbers equal to the CLI's JSON, the
what-if changing the outcome, the experiment's variants equal to the API's, and a permalink
restoring a query.

The server runs in a thread for the module (uvicorn, 127.0.0.1, a free port); every wait has a
timeout (WAIT_MS), so no test hangs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, sync_playwright

from funnelscope.app.access import set_user
from funnelscope.cli.main import cli
from funnelscope.web.server import ServerSettings, create_app
from test_web_browser import CHROMIUM, CHROMIUM_ARGS, STEP_KEYS, WAIT_MS, painted_pixels
from test_web_pages2 import AS_OF, DEMO_SPEC, EXPERIMENT, PASSWORD

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium missing: `make test` installs it (DEVELOPERS.md)"
)
EXPERIMENT_QUERY = {
    "name": "checkout-redesign",
    "assign": "event",
    "exposure_event": "experiment_started",
    "property": "variant",
    "control": "control",
    "funnel": EXPERIMENT["funnel"],
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo store with a page user, and the CLI's funnel JSON (before serving)."""
    directory = tmp_path_factory.mktemp("pages2")
    db = str(directory / "funnelscope.duckdb")
    args = ["demo", "--persons", "2000", "--dir", str(directory), "--db", db]
    assert CliRunner().invoke(cli, args).exit_code == 0
    set_user(db, "ann", PASSWORD)
    (directory / "shop.json").write_text(json.dumps(DEMO_SPEC))
    flags = ["--db", db, "--format", "json", "--time-to-convert", "--trend", "week"]
    printed = CliRunner().invoke(cli, ["funnel", str(directory / "shop.json"), *flags])
    assert printed.exit_code == 0, printed.output
    (directory / "expected-funnel.json").write_text(printed.stdout)
    return directory


@pytest.fixture(scope="module")
def base_url(workdir: Path) -> Iterator[str]:
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ServerSettings(
        str(workdir / "funnelscope.duckdb"),
        pipeline_settings=str(workdir / "demo-data" / "crm" / "pipeline.yaml"),
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), "127.0.0.1", port, log_level="error")
    )
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
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A logged-in page (a context of its own: its own session)."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(base_url + "/login")
    opened.fill("input[name=name]", "ann")
    opened.fill("input[name=password]", PASSWORD)
    opened.click("button[type=submit]")
    opened.wait_for_url("**/funnels")
    yield opened
    context.close()
    assert not errors, errors  # no script error on any page


def link(path: str, query: dict[str, Any]) -> str:
    return f"{path}?q={quote(json.dumps(query, separators=(',', ':')))}"


def done(page: Page, status: str = "#status") -> None:
    page.wait_for_selector(f"{status}[data-state=done]", state="attached")


def api(page: Page, path: str, body: dict[str, Any]) -> Any:
    """The API's JSON for `body`, asked from the page with its session and CSRF token."""
    return page.evaluate(
        """async ([path, body]) => {
            const token = document.querySelector('meta[name=csrf-token]').content;
            const response = await fetch(path, {method: 'POST', body: JSON.stringify(body),
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}});
            return await response.json();
        }""",
        [path, body],
    )


def cells(page: Page, table: str) -> list[list[str]]:
    """A table's rows as each cell's exact value (data-value)."""
    rows: list[list[str]] = page.eval_on_selector_all(
        f"{table} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.getAttribute('data-value')))",
    )
    return rows


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def test_the_pipeline_board_shows_every_open_deal_and_overdue_ones_in_red(
    page: Page, base_url: str
) -> None:
    page.goto(base_url + link("/pipeline", {"as_of": AS_OF}))
    done(page)
    followups = api(page, "/api/v1/pipeline/followups", {"as_of": AS_OF, "limit": 20})
    funnel = api(page, "/api/v1/pipeline/funnel", {"as_of": AS_OF, "by": "owner"})
    stages = [s["stage"] for s in funnel["funnels"][0]["stages"]]
    assert (
        page.eval_on_selector_all(".board .column", "cs => cs.map(c => c.dataset.stage)") == stages
    )
    shown = page.eval_on_selector_all(
        ".deal-card",
        """cards => cards.map(c => [c.dataset.dealId, c.closest('.column').dataset.stage,
            c.dataset.overdue, Number(c.querySelector('.deal-days').dataset.value),
            getComputedStyle(c).borderLeftColor])""",
    )
    deals = {d["deal_id"]: d for d in followups["deals"]}
    assert len(shown) == followups["open_deals"] == len(deals) == 118
    red = "rgb(198, 40, 40)"
    for deal_id, stage, overdue, days, border in shown:
        deal = deals[deal_id]
        late = deal["overdue"] > 0 or any(p["overdue"] for p in deal["planned"])
        assert (stage, overdue == "yes", days) == (deal["stage"], late, deal["days_in_stage"])
        assert (border == red) is late, (deal_id, border)
    assert sum(1 for card in shown if card[2] == "yes") >= followups["overdue_deals"] > 0
    card = page.locator(f'.deal-card[data-deal-id="{shown[0][0]}"]')
    deal = deals[shown[0][0]]
    assert deal["name"] in card.inner_text() and deal["owner"] in card.inner_text()
    # the stage funnel, the targets and the call-today list are the API's numbers
    reached = [number(row[1]) for row in cells(page, "#table-stage-funnel-1")]
    assert reached == [s["reached"] for s in funnel["funnels"][0]["stages"]]
    targets = api(page, "/api/v1/pipeline/targets", {"as_of": AS_OF})
    assert [number(row[4]) for row in cells(page, "#table-targets")] == [
        t["won_revenue"] for t in targets["targets"]
    ]
    assert [row[1] for row in cells(page, "#table-call-today")] == [
        r["deal_id"] for r in followups["call_today"]
    ]
    for chart in ("stage-funnel-1", "targets"):
        assert painted_pixels(page, chart) > 1000, chart


def test_a_permalink_restores_the_pipeline_query(page: Page, base_url: str) -> None:
    page.goto(base_url + link("/pipeline", {"as_of": AS_OF}))
    done(page)
    page.select_option("#owner", "carol")
    page.fill("#period", "2026")
    page.click("#compute")
    done(page)
    carol = api(page, "/api/v1/pipeline/followups", {"as_of": AS_OF, "owner": "carol"})
    assert page.locator(".deal-card").count() == carol["open_deals"] > 0
    href = page.get_attribute("#permalink", "href")
    assert href is not None and href.startswith("/pipeline?q=")

    reopened = page.context.new_page()
    reopened.goto(base_url + href)
    done(reopened)
    assert reopened.input_value("#owner") == "carol"
    assert (reopened.input_value("#as-of"), reopened.input_value("#period")) == (AS_OF, "2026")
    owners = reopened.eval_on_selector_all(".deal-owner", "spans => spans.map(s => s.textContent)")
    assert set(owners) == {"carol"} and len(owners) == carol["open_deals"]
    assert cells(reopened, "#table-stage-funnel-1") == cells(page, "#table-stage-funnel-1")


def test_a_dashboard_made_in_the_page_shows_the_saved_funnels_numbers(
    page: Page, base_url: str, workdir: Path
) -> None:
    expected = json.loads((workdir / "expected-funnel.json").read_text())
    page.goto(base_url + link("/funnels", {"spec": DEMO_SPEC, "trend": "week"}))
    done(page)
    page.click("#save-funnel")
    page.wait_for_selector("#saved[data-id]", state="attached")
    funnel_id = page.get_attribute("#saved", "data-id")
    page.click("nav.pages >> text=Dashboards")
    page.wait_for_selector("body[data-ready=yes]", state="attached")
    assert page.locator(f'#saved-funnels tr[data-id="{funnel_id}"]').count() == 1
    page.fill("#dashboard-name", "Weekly review")
    page.click("#new-dashboard button[type=submit]")
    page.wait_for_url("**/dashboards/*")
    page.wait_for_selector("#add-item[data-ready=yes]", state="attached")
    assert page.text_content("#dashboard-title") == "Weekly review"
    for chart in ("steps", "trend"):
        page.select_option("#add-funnel", str(funnel_id))
        page.select_option("#add-chart", chart)
        page.click("#add-button")
        page.wait_for_selector(f'.dash-item[data-chart="{chart}"]', state="attached")
        done(page)
    shown = cells(page, "#table-item1-funnel")
    assert [[number(v) if k not in ("label",) else v for k, v in zip(STEP_KEYS, row, strict=True)]
            for row in shown] == [[s[k] for k in STEP_KEYS] for s in expected["steps"]]  # fmt: skip
    trend = cells(page, "#table-item2-trend")
    assert [(row[0], number(row[1])) for row in trend] == [
        (p["period"], p["n"]) for p in expected["trend"]["points"]
    ]
    assert painted_pixels(page, "item1-funnel") > 1000

    # it is in the store: a new page shows it; removing an item is saved too
    page.reload()
    page.wait_for_selector("#item-2", state="attached")
    done(page)
    page.locator("#item-1 button.remove-item").click()
    page.wait_for_selector("#item-2", state="detached")
    done(page)
    assert page.get_attribute("#item-1", "data-chart") == "trend"


def test_the_diagnose_page_what_if_changes_the_outcome(page: Page, base_url: str) -> None:
    query = {"diagnose": {"spec": DEMO_SPEC, "period": "day", "by": "channel", "all": True}}
    page.goto(base_url + link("/diagnose", query))
    done(page)
    diagnosis = api(page, "/api/v1/diagnose", query["diagnose"])
    leaks = cells(page, "#table-leaks")
    assert [number(row[7]) for row in leaks] == [leak["lost_final"] for leak in diagnosis["leaks"]]
    assert len(leaks) > 0 and painted_pixels(page, "leaks") > 1000
    outcomes = []
    for lift in ("10%", "30%"):
        page.select_option("#whatif-step", "3")
        page.fill("#whatif-lift", lift)
        page.click("#whatif")
        done(page, "#whatif-status")
        answer = api(page, "/api/v1/whatif", {**query["diagnose"], "step": "3", "lift": lift})
        final = cells(page, "#table-whatif")[0]
        assert (number(final[1]), number(final[2])) == (
            answer["before"]["final"],
            answer["after"]["final"],
        )
        outcomes.append(number(final[2]))
        assert painted_pixels(page, "whatif") > 1000
    before = answer["before"]["final"]
    assert before < outcomes[0] < outcomes[1]  # a larger lift, more conversions
    linked = json.loads(parse_qs(urlparse(page.url).query)["q"][0])  # the permalink has both
    diagnose = {**query["diagnose"], "engine": "kernel"}  # the form's engine, always set
    assert linked == {"diagnose": diagnose, "whatif": {"step": "3", "lift": "30%"}}


def test_the_experiments_page_shows_the_apis_variants(page: Page, base_url: str) -> None:
    page.goto(base_url + link("/experiments", EXPERIMENT_QUERY))
    done(page)
    result = api(page, "/api/v1/experiment", {"spec": EXPERIMENT})
    rows = cells(page, "#table-variants")
    assert [row[0] for row in rows] == [v["variant"] for v in result["variants"]]
    for row, variant in zip(rows, result["variants"], strict=True):
        conversion = variant["conversion"]
        assert [number(v) for v in row[1:]] == [
            variant["exposed"],
            *variant["steps"],
            conversion["rate"],
            *conversion["interval"],
        ]
    steps = cells(page, "#table-steps")
    assert [(int(r[0]), r[2], number(r[5])) for r in steps] == [
        (s["step"], s["variant"], s["relative_lift"]) for s in result["steps"]
    ]
    assert page.locator("#verdict li").all_text_contents() == result["verdict"]
    for chart in ("variants", "steps"):
        assert painted_pixels(page, chart) > 1000, chart
    assert page.input_value("#exposure-event") == "experiment_started"
