"""The pages beside the builder without a browser, on a small `funnelscope demo` store: each asks
for a login and renders with the nav bar; the data their scripts ask the API for is there and
equals the CLI's (the pipeline with the server's `--pipeline-settings`); saving funnels and
dashboards needs the page's CSRF token and what is saved stays in the store.
(tests/test_web_browser2.py drives the same pages in Chromium.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from funnelscope.app.access import set_user
from funnelscope.cli.main import cli, main
from funnelscope.web.server import ServerSettings, create_app

PASSWORD = "pages two"
AS_OF = "2026-12-01T09:00"
PAGES = ("/funnels", "/dashboards", "/pipeline", "/diagnose", "/experiments")
DEMO_SPEC: dict[str, Any] = {
    "name": "ecommerce-behaviour",
    "steps": ["page_opened", "product_clicked", "added_to_cart", "paid", "order_completed"],
    "window": "7d",
}
EXPERIMENT: dict[str, Any] = {
    "name": "checkout-redesign",
    "funnel": {
        "steps": ["product_viewed", "added_to_cart", "checkout_started", "order_completed"],
        "window": "7d",
    },
    "exposure": {"event": "experiment_started", "variant_property": "variant"},
    "control": "control",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo store (2,000 shoppers; the demo CRM and A/B test as always) with a user."""
    directory = tmp_path_factory.mktemp("demo-pages")
    db = directory / "funnelscope.duckdb"
    args = ["demo", "--persons", "2000", "--dir", str(directory), "--db", str(db)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    set_user(str(db), "ann", PASSWORD)
    return directory


def settings_file(demo: Path) -> str:
    return str(demo / "demo-data" / "crm" / "pipeline.yaml")


def cli_json(demo: Path, *args: str) -> Any:
    printed = CliRunner().invoke(cli, [*args, "--db", str(demo / "funnelscope.duckdb")])
    assert printed.exit_code == 0, printed.output
    return json.loads(printed.stdout)


@pytest.fixture(scope="module")
def expected(demo: Path) -> dict[str, Any]:
    """The CLI's JSON of what the pages show, taken before a server holds the store."""
    (demo / "shop.json").write_text(json.dumps(DEMO_SPEC))
    (demo / "experiment.json").write_text(json.dumps(EXPERIMENT))
    pipeline = ["--settings", settings_file(demo), "--as-of", AS_OF, "--format", "json"]
    return {
        "followups": cli_json(demo, "pipeline", "followups", *pipeline),
        "funnel": cli_json(demo, "pipeline", "funnel", "--by", "owner", *pipeline),
        "targets": cli_json(demo, "pipeline", "targets", *pipeline),
        "experiment": cli_json(
            demo, "experiment", str(demo / "experiment.json"), "--format", "json"
        ),
        "diagnose": cli_json(
            demo, "diagnose", str(demo / "shop.json"), "--by", "channel", "--format", "json"
        ),
    }


@pytest.fixture
def client(demo: Path, expected: dict[str, Any]) -> Iterator[TestClient]:
    app = create_app(
        ServerSettings(str(demo / "funnelscope.duckdb"), pipeline_settings=settings_file(demo))
    )
    with TestClient(app, base_url="http://127.0.0.1") as test:
        yield test


def log_in(client: TestClient, then: str = "/funnels") -> str:
    """Log in as ann; the CSRF token of the page `then`."""
    login = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert token is not None
    form = {"name": "ann", "password": PASSWORD, "csrf_token": token.group(1), "next": then}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    page = client.get(then)
    assert page.status_code == 200
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("path", [*PAGES[1:], "/dashboards/1", "/pipeline?q=%7B%7D"])
def test_each_page_asks_for_a_login_and_comes_back(client: TestClient, path: str) -> None:
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=%2F")
    login = client.get(answer.headers["location"])
    assert f'name="next" value="{path}"' in login.text


def test_each_page_renders_with_the_nav_bar_and_loads_only_its_own_scripts(
    client: TestClient,
) -> None:
    log_in(client)
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        nav = re.search(r'<nav class="pages".*?</nav>', page.text, re.S)
        assert nav is not None
        assert re.findall(r'href="([^"]+)"', nav.group(0)) == list(PAGES)
        assert re.findall(r'aria-current="page"', nav.group(0)) == ['aria-current="page"']
        assert f'href="{path}" class="current"' in nav.group(0)
        assert 'action="/logout"' in page.text
        scripts = re.findall(r'<script src="([^"]+)"', page.text)
        assert scripts and all(s.startswith("/static/") for s in scripts), scripts
        assert "/static/page.js" in scripts
        assert "<script>" not in page.text  # nothing inline: the CSP forbids it
        for script in scripts:
            assert client.get(script).status_code == 200, script
    pipeline = client.get("/pipeline").text
    assert "pipeline.yaml" in pipeline  # where the settings come from


def test_a_missing_dashboard_is_a_404_page(client: TestClient) -> None:
    log_in(client)
    answer = client.get("/dashboards/999")
    assert answer.status_code == 404 and "No dashboard has id 999." in answer.text
    assert client.get("/dashboards/0").status_code == 404
    assert client.get("/dashboards/x").status_code == 422  # not an id at all


def test_saving_funnels_and_dashboards_needs_the_csrf_token_and_stays_in_the_store(
    demo: Path, client: TestClient
) -> None:
    csrf = log_in(client, "/dashboards")
    funnel = {"name": "Shop", "spec": DEMO_SPEC, "options": {"time_to_convert": True}}
    refused = client.post("/api/v1/saved-funnels", json=funnel)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = client.post("/api/v1/saved-funnels", json=funnel, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    made = client.post("/api/v1/saved-funnels", json=funnel, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    funnel_id = made.json()["id"]
    board = {"name": "Weekly", "items": [{"funnel_id": funnel_id, "chart": "trend"}]}
    assert client.post("/api/v1/dashboards", json=board).status_code == 403
    created = client.post("/api/v1/dashboards", json=board, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    dashboard_id = created.json()["id"]
    changed = {**board, "items": [*board["items"], {"funnel_id": funnel_id, "chart": "table"}]}
    path = f"/api/v1/dashboards/{dashboard_id}"
    assert client.put(path, json=changed).status_code == 403
    assert client.delete(path).status_code == 403
    assert client.put(path, json=changed, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get(f"/dashboards/{dashboard_id}").status_code == 200
    client.close()  # the server stops; the store keeps what was saved

    from funnelscope.app.saved import dashboard, saved_funnel

    db = str(demo / "funnelscope.duckdb")
    kept = dashboard(db, dashboard_id)
    assert kept is not None and kept.name == "Weekly"
    assert [(i.funnel_id, i.chart) for i in kept.items] == [
        (funnel_id, "trend"),
        (funnel_id, "table"),
    ]
    saved = saved_funnel(db, funnel_id)
    assert saved is not None and saved.spec == DEMO_SPEC


def test_the_pipeline_pages_calls_equal_the_cli_with_the_servers_settings(
    client: TestClient, expected: dict[str, Any]
) -> None:
    """What pipeline.js sends (no settings: the server's) gives the CLI's numbers."""
    csrf = log_in(client, "/pipeline")
    headers = {"X-CSRF-Token": csrf}
    asked = {
        "funnel": {"as_of": AS_OF, "by": "owner", "mode": "created"},
        "followups": {"as_of": AS_OF, "limit": 20},
        "targets": {"as_of": AS_OF},
    }
    got = {}
    for name, body in asked.items():
        answer = client.post(f"/api/v1/pipeline/{name}", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        got[name] = answer.json()
    assert got["funnel"] == expected["funnel"]
    assert got["targets"] == expected["targets"]
    assert got["followups"]["deals"] == expected["followups"]["deals"]
    assert got["followups"]["call_today"] == expected["followups"]["call_today"][:20]
    assert got["followups"]["open_deals"] == 118 and len(got["targets"]["targets"]) == 8
    assert all("days_in_stage" in d for d in got["followups"]["deals"])
    sales = client.post(
        "/api/v1/pipeline/followups",
        json={"as_of": AS_OF, "pipeline": "sales", "owner": "carol"},
        headers=headers,
    ).json()
    assert {d["owner"] for d in sales["deals"]} == {"carol"}
    assert sales["open_deals"] == sum(
        1 for d in expected["followups"]["deals"] if d["owner"] == "carol"
    )


def test_the_diagnose_and_experiments_pages_calls_equal_the_cli(
    client: TestClient, expected: dict[str, Any]
) -> None:
    csrf = log_in(client, "/diagnose")
    headers = {"X-CSRF-Token": csrf}
    body = {"spec": DEMO_SPEC, "by": "channel"}
    assert (
        client.post("/api/v1/diagnose", json=body, headers=headers).json() == expected["diagnose"]
    )
    whatif = client.post(
        "/api/v1/whatif", json={**body, "step": "3", "lift": "10%"}, headers=headers
    ).json()
    assert whatif["after"]["final"] > whatif["before"]["final"]
    experiment = client.post("/api/v1/experiment", json={"spec": EXPERIMENT}, headers=headers)
    assert experiment.json() == expected["experiment"]
    variants = experiment.json()["variants"]
    assert [v["variant"] for v in variants] == ["control", "B", "C"]
    assert all(v["conversion"]["interval"][0] < v["conversion"]["rate"] for v in variants)


def test_serve_passes_its_pipeline_settings_to_the_server(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    db = str(demo / "funnelscope.duckdb")
    args = ["serve", "--db", db, "--pipeline-settings", settings_file(demo), "--port", "0"]
    assert main(args) == 0
    (app,) = served
    assert app.state.settings.pipeline_settings == settings_file(demo)
    assert [t.period.label for t in app.state.pipeline_settings.targets][:1] == ["2026-12"]
    assert main(["serve", "--db", db, "--pipeline-settings", str(demo / "none.yaml")]) == 2
