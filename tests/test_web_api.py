"""The read API returns what the CLI's `--format json` writes for the same inputs, endpoint by
endpoint, on a small hand-made store (tests/web_api_store.py); a few figures exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from funnelscope.web.server import ServerSettings, create_app
from web_api_store import AS_OF, SETTINGS, SPEC, Keys, bearer, cli_json, make_keys, make_store


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path, Keys]]:
    directory = tmp_path_factory.mktemp("api")
    db = make_store(directory)
    keys = make_keys(db)
    with TestClient(create_app(ServerSettings(str(db)))) as client:
        yield client, directory, keys


def post(served: tuple[TestClient, Path, Keys], path: str, body: dict[str, Any]) -> Any:
    client, _, keys = served
    response = client.post(f"/api/v1{path}", json=body, headers=bearer(keys.read))
    assert response.status_code == 200, response.text
    return response.json()


def cli(served: tuple[TestClient, Path, Keys], *args: str) -> Any:
    _, directory, _ = served
    expanded = [str(directory / a) if a in ("spec.json", "settings.json") else a for a in args]
    return cli_json(*expanded, "--db", str(directory / "funnelscope.duckdb"))


def spec_file(served: tuple[TestClient, Path, Keys], name: str, spec: dict[str, Any]) -> str:
    path = served[1] / name
    path.write_text(json.dumps(spec))
    return str(path)


FUNNEL_CASES = [
    ({}, []),
    ({"from": "2024-01-02", "to": "2024-01-03"}, ["--from", "2024-01-02", "--to", "2024-01-03"]),
    ({"engine": "reference"}, ["--engine", "reference"]),
    ({"people": 2, "status": "dropped"}, ["--people", "2", "--status", "dropped"]),
    ({"people": 3}, ["--people", "3"]),
    (
        {"time_to_convert": True, "time_from": 1, "time_to": 3, "bins": 4},
        ["--time-to-convert", "--time-from", "1", "--time-to", "3", "--bins", "4"],
    ),
    (
        {"trend": "day", "trend_timezone": "Europe/Berlin"},
        ["--trend", "day", "--trend-timezone", "Europe/Berlin"],
    ),
    (
        {"segments": True, "min_n": 1, "correction": "holm", "alpha": 0.1},
        ["--segments", "--min-n", "1", "--correction", "holm", "--alpha", "0.1"],
    ),
]


@pytest.mark.parametrize(("body", "flags"), FUNNEL_CASES)
def test_the_funnel_endpoint_equals_the_cli_for_every_option(
    served: tuple[TestClient, Path, Keys], body: dict[str, Any], flags: list[str]
) -> None:
    assert post(served, "/funnel", {"spec": SPEC, **body}) == cli(
        served, "funnel", "spec.json", *flags
    )


def test_the_spec_features_reach_the_engine(served: tuple[TestClient, Path, Keys]) -> None:
    spec = {
        "name": "features",
        "steps": [{"event": "view"}, {"event": "cart", "optional": True}, {"event": "buy"}],
        "window": "1h",
        "where": [{"property": "plan", "op": "in", "value": ["pro", "free"]}],
        "exclusions": [{"event": "login", "between": [1, 3]}],
        "hold_constant": ["plan"],
        "count": "totals",
        "breakdown": {"property": "channel", "attribution": "last_touch"},
        "date_range": {"from": "2024-01-01", "to": "2024-01-31"},
    }
    path = spec_file(served, "features.json", spec)
    assert post(served, "/funnel", {"spec": spec}) == cli(served, "funnel", path)


def test_the_funnel_figures_are_exact(served: tuple[TestClient, Path, Keys]) -> None:
    got = post(served, "/funnel", {"spec": SPEC})
    assert [s["count"] for s in got["steps"]] == [5, 3, 2]
    by_value = {b["value"]: [s["count"] for s in b["steps"]] for b in got["breakdown"]}
    assert by_value == {"ads": [3, 2, 2], "seo": [2, 1, 0]}
    dropped = post(served, "/funnel", {"spec": SPEC, "people": 2, "status": "dropped"})
    assert dropped == {"step": 2, "status": "dropped", "people": ["c", "e"]}


def test_explain_names_the_store_and_the_plan(served: tuple[TestClient, Path, Keys]) -> None:
    got = post(served, "/funnel/explain", {"spec": SPEC})
    assert got["where"].startswith("the event store ") and "SELECT" in got["plan"]


def test_options_without_their_feature_are_refused_as_the_cli_refuses_them(
    served: tuple[TestClient, Path, Keys],
) -> None:
    client, _, keys = served
    for body, words in (
        ({"status": "dropped"}, "status only applies with people"),
        ({"bins": 3}, "bins only applies with time_to_convert"),
        ({"people": 1, "trend": "day"}, "ask for the extras without it"),
        ({"spec": SPEC, "typo": 1}, "Extra inputs are not permitted"),
    ):
        response = client.post(
            "/api/v1/funnel", json={"spec": SPEC, **body}, headers=bearer(keys.read)
        )
        assert response.status_code == 422 and words in response.text, response.text
    bad = client.post(
        "/api/v1/funnel",
        json={"spec": {"steps": ["view"], "window": "1 fortnight"}},
        headers=bearer(keys.read),
    )
    assert bad.status_code == 400 and "window" in bad.json()["error"]


def test_correlate_and_paths_equal_the_cli(served: tuple[TestClient, Path, Keys]) -> None:
    body = {"spec": SPEC, "properties": ["plan"], "min_count": 1, "until": "window"}
    flags = ["--properties", "plan", "--min-count", "1", "--until", "window"]
    assert post(served, "/correlate", body) == cli(served, "correlate", "spec.json", *flags)
    body = {"spec": SPEC, "after_drop": 1, "steps": 2, "within": "1d"}
    flags = ["--after-drop", "1", "--steps", "2", "--within", "1d"]
    after = post(served, "/paths", body)
    assert after == cli(served, "paths", "spec.json", *flags)
    body = {"spec": SPEC, "between": 1, "collapse_repeats": True}
    flags = ["--between", "1", "--collapse-repeats"]
    assert post(served, "/paths", body) == cli(served, "paths", "spec.json", *flags)


RETENTION_CASES = [
    (
        "cohorts",
        {"start": ["signup"], "return": ["login"], "period": "day", "periods": 3},
        ["--start", "signup", "--return", "login", "--period", "day", "--periods", "3"],
    ),
    (
        "cohorts",
        {
            "start": ["signup"],
            "type": "recurring",
            "criterion": "on-or-after",
            "from": "2024-01-02",
        },
        [
            "--start",
            "signup",
            "--type",
            "recurring",
            "--criterion",
            "on-or-after",
            "--from",
            "2024-01-02",
        ],
    ),
    (
        "repurchase",
        {"order": ["buy"], "within": "7d,30d"},
        ["--order", "buy", "--within", "7d,30d"],
    ),
    (
        "renewal",
        {"charge": ["buy"], "every": "7d", "grace": "2d"},
        ["--charge", "buy", "--every", "7d", "--grace", "2d"],
    ),
    ("referral", {"timezone": "Europe/Berlin"}, ["--timezone", "Europe/Berlin"]),
]


@pytest.mark.parametrize(("kind", "body", "flags"), RETENTION_CASES)
def test_retention_equals_the_cli(
    served: tuple[TestClient, Path, Keys], kind: str, body: dict[str, Any], flags: list[str]
) -> None:
    assert post(served, f"/retention/{kind}", body) == cli(served, "retention", kind, *flags)


def test_repurchase_figures_are_exact(served: tuple[TestClient, Path, Keys]) -> None:
    got = post(served, "/retention/repurchase", {"order": ["buy"], "within": "7d,30d"})
    total = got["total"]
    # a, c and d bought; a again 7d 23h40m later, d 16d 23h50m later: none within 7 days
    assert (total["customers"], total["with_second_order"]) == (3, 2)
    assert total["within"][0] == {
        "days": 7,
        "eligible": 3,
        "repurchased": 0,
        "rate": 0.0,
        "not_yet_observable": 0,
    }
    assert total["median_days_to_second"] == 12.489583333  # the mean of those two, in days


def test_experiment_equals_the_cli_and_refuses_a_funnel_file(
    served: tuple[TestClient, Path, Keys],
) -> None:
    spec = {
        "name": "test",
        "funnel": {"steps": ["view", "buy"], "window": "1d"},
        "exposure": {"event": "exposure", "variant_property": "variant"},
        "control": "A",
    }
    path = spec_file(served, "experiment.json", spec)
    assert post(served, "/experiment", {"spec": spec}) == cli(served, "experiment", path)
    client, _, keys = served
    named = client.post(
        "/api/v1/experiment",
        json={"spec": {**spec, "funnel": "/etc/passwd"}},
        headers=bearer(keys.read),
    )
    assert named.status_code == 400 and "inline" in named.json()["error"]


def test_diagnose_and_whatif_of_a_spec_equal_the_cli(served: tuple[TestClient, Path, Keys]) -> None:
    window = {"period": "day", "current": 2, "baseline": 2, "value": 40.0}
    flags = ["--period", "day", "--current", "2", "--baseline", "2", "--value", "40"]
    assert post(served, "/diagnose", {"spec": SPEC, **window, "all": True}) == cli(
        served, "diagnose", "spec.json", *flags, "--all"
    )
    body = {"spec": SPEC, **window, "step": "2", "lift": "10%", "spend": 100.0}
    assert post(served, "/whatif", body) == cli(
        served, "whatif", "spec.json", *flags, "--step", "2", "--lift", "10%", "--spend", "100"
    )


def test_clv_errors_as_the_cli_does(served: tuple[TestClient, Path, Keys]) -> None:
    """Too few repeat customers to fit (the fit itself is tests/test_clv.py's): the same
    message as the CLI's, as a 400."""
    from click.testing import CliRunner

    from funnelscope.cli.main import cli as command

    client, directory, keys = served
    for body, flags in (
        ({"order": "buy", "value": "amount"}, []),
        ({"order": "buy", "value": "amount", "horizon": "0d"}, ["--horizon", "0d"]),
    ):
        response = client.post("/api/v1/clv", json=body, headers=bearer(keys.read))
        assert response.status_code == 400
        db = str(directory / "funnelscope.duckdb")
        said = CliRunner().invoke(
            command, ["clv", "--order", "buy", "--value", "amount", *flags, "--db", db]
        )
        assert str(said.exception) == response.json()["error"]


PIPELINE_CASES = [
    ("funnel", {"by": "owner", "min_deals": 1}, ["--by", "owner", "--min-deals", "1"]),
    (
        "funnel",
        {"mode": "active", "period": "2026-01"},
        ["--mode", "active", "--period", "2026-01"],
    ),
    ("followups", {"owner": "ana"}, ["--owner", "ana"]),
    ("followups", {"pipeline": "sales"}, ["--pipeline", "sales"]),
    ("targets", {}, []),
    (
        "forecast",
        {"period": "2026-03", "min_closed": 1},
        ["--period", "2026-03", "--min-closed", "1"],
    ),
    ("forecast", {"backtest": True, "min_closed": 1}, ["--backtest", "--min-closed", "1"]),
    ("velocity", {"days": 60, "by": "team"}, ["--days", "60", "--by", "team"]),
    (
        "score",
        {"min_count": 1, "test_share": 0.5, "limit": 1},
        ["--min-count", "1", "--test-share", "0.5", "--limit", "1"],
    ),
]


@pytest.mark.parametrize(("command", "body", "flags"), PIPELINE_CASES)
def test_the_pipeline_equals_the_cli(
    served: tuple[TestClient, Path, Keys], command: str, body: dict[str, Any], flags: list[str]
) -> None:
    got = post(served, f"/pipeline/{command}", {"settings": SETTINGS, "as_of": AS_OF, **body})
    expected = cli(
        served, "pipeline", command, "--settings", "settings.json", "--as-of", AS_OF, *flags
    )
    assert got == expected


def test_the_pipeline_funnel_figures_are_exact(served: tuple[TestClient, Path, Keys]) -> None:
    body = {"settings": SETTINGS, "as_of": AS_OF, "pipeline": "sales"}
    got = post(served, "/pipeline/funnel", body)
    [overall] = got["funnels"]
    assert (overall["deals"], overall["won"], overall["lost"], overall["open"]) == (6, 2, 2, 2)
    assert [(s["stage"], s["reached"]) for s in overall["stages"]] == [("lead", 6), ("proposal", 4)]


def test_bad_pipeline_settings_are_a_400_naming_the_setting(
    served: tuple[TestClient, Path, Keys],
) -> None:
    client, _, keys = served
    response = client.post(
        "/api/v1/pipeline/funnel", json={"settings": {"colour": "red"}}, headers=bearer(keys.read)
    )
    assert response.status_code == 400 and "colour" in response.json()["error"]


def test_pipeline_requests_without_settings_use_the_servers_pipeline_settings(
    tmp_path: Path,
) -> None:
    db = make_store(tmp_path)  # a store of its own: the module's server holds the other
    keys = make_keys(db)
    target = {"period": "2026-02", "owner": "ana", "revenue": 1000}
    settings = tmp_path / "pipeline.json"
    settings.write_text(json.dumps({**SETTINGS, "targets": [target]}))
    expected = cli_json(
        "pipeline", "targets", "--settings", str(settings), "--as-of", AS_OF, "--db", str(db)
    )
    app = create_app(ServerSettings(str(db), pipeline_settings=str(settings)))
    with TestClient(app) as client:
        response = client.post(
            "/api/v1/pipeline/targets", json={"as_of": AS_OF}, headers=bearer(keys.read)
        )
        none_sent = response.json()
        sent = client.post(
            "/api/v1/pipeline/targets",
            json={"as_of": AS_OF, "settings": {}},
            headers=bearer(keys.read),
        ).json()
    assert response.status_code == 200 and none_sent == expected
    assert expected["targets"]  # the settings' targets, which no request sent
    assert sent["targets"] == []  # settings sent win over the server's


def test_bad_server_pipeline_settings_stop_the_server_before_it_serves(tmp_path: Path) -> None:
    from funnelscope.errors import SpecError

    (tmp_path / "pipeline.yaml").write_text("colour: red\n")
    db = make_store(tmp_path)
    with pytest.raises(SpecError, match="colour"):
        create_app(ServerSettings(str(db), pipeline_settings=str(tmp_path / "pipeline.yaml")))
