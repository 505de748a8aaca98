"""The funnel builder's reads of the store (events, properties, values), saved funnels and
dashboards kept in the store, and who may do what on every endpoint of the read API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from funnelscope.app.saved import CHART_KINDS
from funnelscope.web import api_saved
from funnelscope.web.server import ServerSettings, create_app
from web_api_store import SPEC, Keys, bearer, cli_json, make_keys, make_store


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Path, Keys]]:
    db = make_store(tmp_path)
    keys = make_keys(db)
    with TestClient(create_app(ServerSettings(str(db)))) as client:
        yield client, tmp_path, keys


def test_the_builder_lists_events_properties_and_values(
    served: tuple[TestClient, Path, Keys],
) -> None:
    client, _, keys = served
    read = bearer(keys.read)
    events = client.get("/api/v1/events", headers=read).json()
    assert [(e["name"], e["count"], e["persons"]) for e in events] == [
        ("buy", 5, 3),
        ("view", 5, 5),
        ("exposure", 4, 4),
        ("signup", 4, 4),
        ("cart", 3, 3),
        ("login", 2, 2),
        ("invite", 1, 1),
    ]
    assert len(client.get("/api/v1/events?limit=2", headers=read).json()) == 2
    assert client.get("/api/v1/properties", headers=read).json() == [
        {"name": "amount", "type": "BIGINT", "events": 5},
        {"name": "channel", "type": "VARCHAR", "events": 24},
        {"name": "plan", "type": "VARCHAR", "events": 24},
        {"name": "referrer", "type": "VARCHAR", "events": 1},
        {"name": "variant", "type": "VARCHAR", "events": 4},
    ]
    plans = client.get("/api/v1/properties?name=plan", headers=read).json()
    assert plans == {
        "name": "plan",
        "values": [{"value": "pro", "count": 15}, {"value": "free", "count": 9}],
    }
    on_view = client.get("/api/v1/properties?name=channel&event=view&limit=1", headers=read)
    assert on_view.json()["values"] == [{"value": "ads", "count": 3}]
    amounts = client.get("/api/v1/properties?name=amount&limit=2", headers=read).json()
    assert amounts["values"] == [{"value": 20, "count": 1}, {"value": 30, "count": 1}]
    missing = client.get("/api/v1/properties?name=colour", headers=read)
    assert missing.status_code == 400 and "no property 'colour'" in missing.json()["error"]


def test_a_property_beyond_the_columns_is_read_from_the_map(tmp_path: Path) -> None:
    """Properties past the store's typed columns live in its map; the builder reads them too."""
    from funnelscope.app.catalog import list_properties, property_values
    from funnelscope.store import EventStore
    from funnelscope.store.schema import MAX_PROPERTY_COLUMNS

    width = MAX_PROPERTY_COLUMNS + 2
    header = "user,event,ts," + ",".join(f"p{i}" for i in range(width))
    rows = [f"{u},view,2024-01-0{d}T10:00:00Z," + ",".join(str(d) for _ in range(width))
            for u, d in (("a", 1), ("b", 2), ("c", 2))]  # fmt: skip
    (tmp_path / "wide.csv").write_text("\n".join([header, *rows]) + "\n")
    db = tmp_path / "wide.duckdb"
    with EventStore(db) as store:
        store.ingest([str(tmp_path / "wide.csv")])
    last = f"p{width - 1}"
    kinds = {p.name: (p.type, p.events) for p in list_properties(str(db))}
    assert kinds[last] == ("BIGINT", 3)
    values = [(v.value, v.count) for v in property_values(str(db), last, 5)]
    assert values == [(2, 2), (1, 1)]


def saved_body(name: str = "Checkout", **options: Any) -> dict[str, Any]:
    return {"name": name, "spec": SPEC, "options": options}


def test_saved_funnels_are_kept_run_changed_and_deleted(
    served: tuple[TestClient, Path, Keys],
) -> None:
    client, directory, keys = served
    admin, read = bearer(keys.admin), bearer(keys.read)
    made = client.post("/api/v1/saved-funnels", json=saved_body(trend="day"), headers=admin)
    assert made.status_code == 201
    saved = made.json()
    assert (saved["id"], saved["name"], saved["spec"]) == (1, "Checkout", SPEC)
    assert saved["options"] == {"trend": "day"}
    assert client.get("/api/v1/saved-funnels/1", headers=read).json() == saved
    assert client.get("/api/v1/saved-funnels", headers=read).json() == [saved]
    ran = client.post("/api/v1/saved-funnels/1/run", headers=read).json()
    spec = str(directory / "spec.json")
    db = str(directory / "funnelscope.duckdb")
    assert ran == cli_json("funnel", spec, "--db", db, "--trend", "day")
    changed = client.put(
        "/api/v1/saved-funnels/1", json=saved_body("Checkout (week)", trend="week"), headers=admin
    ).json()
    assert (changed["name"], changed["options"], changed["created_at"]) == (
        "Checkout (week)",
        {"trend": "week"},
        saved["created_at"],
    )
    assert client.delete("/api/v1/saved-funnels/1", headers=admin).status_code == 204
    assert client.get("/api/v1/saved-funnels", headers=read).json() == []


def test_a_saved_funnel_is_checked_when_saved(served: tuple[TestClient, Path, Keys]) -> None:
    client, _, keys = served
    admin = bearer(keys.admin)
    for body, words in (
        ({"name": "x", "spec": {"steps": []}}, "steps: is required"),
        (saved_body(trend="hour"), "options.trend: 'hour'"),
        (saved_body(people=2), "options.people: unknown"),
        (saved_body(bins=3), "options.bins: only applies with time_to_convert"),
        (saved_body(trend="week", trend_timezone="Mars/Olympus"), "Mars/Olympus"),
        (saved_body(**{"from": "yesterday"}), "yesterday"),
        (saved_body("  "), "name: funnel names are 1 to 200 characters"),
    ):
        response = client.post("/api/v1/saved-funnels", json=body, headers=admin)
        assert response.status_code == 400 and words in response.json()["error"], response.text
    assert client.get("/api/v1/saved-funnels", headers=admin).json() == []


def test_a_missing_saved_funnel_or_dashboard_is_a_404(
    served: tuple[TestClient, Path, Keys],
) -> None:
    client, _, keys = served
    admin, read = bearer(keys.admin), bearer(keys.read)
    for method, path, body in (
        ("GET", "/api/v1/saved-funnels/7", None),
        ("POST", "/api/v1/saved-funnels/7/run", None),
        ("PUT", "/api/v1/saved-funnels/7", saved_body()),
        ("DELETE", "/api/v1/saved-funnels/7", None),
        ("GET", "/api/v1/dashboards/7", None),
        ("PUT", "/api/v1/dashboards/7", {"name": "d", "items": []}),
        ("DELETE", "/api/v1/dashboards/7", None),
    ):
        headers = read if method in ("GET", "POST") else admin
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 404, (method, path, response.text)
        assert "has id 7" in response.json()["detail"]
    huge = client.get(f"/api/v1/saved-funnels/{2**70}", headers=read)
    assert huge.status_code == 422 and str(2**70) not in huge.text


def test_dashboards_keep_an_ordered_list_of_saved_funnels(
    served: tuple[TestClient, Path, Keys],
) -> None:
    client, _, keys = served
    admin, read = bearer(keys.admin), bearer(keys.read)
    for name in ("one", "two"):
        client.post("/api/v1/saved-funnels", json=saved_body(name), headers=admin)
    items = [{"funnel_id": 2, "chart": "trend"}, {"funnel_id": 1, "chart": "steps"}]
    made = client.post("/api/v1/dashboards", json={"name": "Weekly", "items": items}, headers=admin)
    assert made.status_code == 201
    board = made.json()
    assert (board["id"], board["name"], board["items"]) == (1, "Weekly", items)
    assert client.get("/api/v1/dashboards", headers=read).json() == [board]
    unknown = client.post(
        "/api/v1/dashboards", json={"name": "x", "items": [{"funnel_id": 9}]}, headers=admin
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == (
        "items[0].funnel_id: no saved funnel has id 9; save it first"
    )
    in_use = client.delete("/api/v1/saved-funnels/1", headers=admin)
    assert in_use.status_code == 400 and "'Weekly'" in in_use.json()["error"]
    changed = client.put(
        "/api/v1/dashboards/1", json={"name": "Weekly", "items": items[:1]}, headers=admin
    )
    assert changed.json()["items"] == items[:1]
    assert client.delete("/api/v1/saved-funnels/1", headers=admin).status_code == 204
    assert client.delete("/api/v1/dashboards/1", headers=admin).status_code == 204
    assert client.get("/api/v1/dashboards", headers=read).json() == []


def test_the_chart_kinds_of_the_api_are_the_apps() -> None:
    field = api_saved.DashboardItemBody.model_fields["chart"]
    assert field.annotation is not None
    assert tuple(field.annotation.__args__) == CHART_KINDS


READS = [
    ("POST", "/api/v1/funnel", {"spec": SPEC}),
    ("POST", "/api/v1/funnel/explain", {"spec": SPEC}),
    ("POST", "/api/v1/correlate", {"spec": SPEC}),
    ("POST", "/api/v1/paths", {"spec": SPEC, "after_drop": 1}),
    ("POST", "/api/v1/retention/cohorts", {"start": ["signup"]}),
    ("POST", "/api/v1/retention/repurchase", {"order": ["buy"]}),
    ("POST", "/api/v1/retention/renewal", {"charge": ["buy"], "every": "7d"}),
    ("POST", "/api/v1/retention/referral", {}),
    ("POST", "/api/v1/clv", {"order": "buy", "value": "amount", "horizon": "0d"}),
    ("POST", "/api/v1/experiment", {"spec": {}}),
    ("POST", "/api/v1/diagnose", {"spec": SPEC}),
    ("POST", "/api/v1/whatif", {"spec": SPEC, "step": "2", "lift": "10%"}),
    *(
        ("POST", f"/api/v1/pipeline/{c}", {"as_of": "2026-03-01"})
        for c in ("funnel", "followups", "targets", "forecast", "velocity", "score")
    ),
    ("GET", "/api/v1/events", None),
    ("GET", "/api/v1/properties", None),
    ("GET", "/api/v1/saved-funnels", None),
    ("GET", "/api/v1/dashboards", None),
]
WRITES = [
    ("POST", "/api/v1/saved-funnels", saved_body()),
    ("POST", "/api/v1/dashboards", {"name": "d", "items": []}),
]


def test_every_endpoint_checks_the_key(served: tuple[TestClient, Path, Keys]) -> None:
    client, _, keys = served
    for method, path, body in READS + WRITES:
        assert client.request(method, path, json=body).status_code == 401, path
        wrong = client.request(method, path, json=body, headers=bearer(keys.write))
        assert wrong.status_code == 403, path
    for method, path, body in READS:  # 400s are fine here: the key was let through
        for key in (keys.read, keys.admin):
            let_in = client.request(method, path, json=body, headers=bearer(key))
            assert let_in.status_code in (200, 400), (path, let_in.text)
    for method, path, body in WRITES:
        refused = client.request(method, path, json=body, headers=bearer(keys.read))
        assert refused.status_code == 403 and "read key" in refused.json()["detail"]
        assert (
            client.request(method, path, json=body, headers=bearer(keys.admin)).status_code == 201
        )


def test_a_422_never_echoes_the_body(served: tuple[TestClient, Path, Keys]) -> None:
    client, _, keys = served
    secret = "s3cret-" + "x" * 100_000
    for body in (
        {"spec": secret},
        {"spec": SPEC, secret: 1},
        {"spec": SPEC, "people": secret},
        [secret],
    ):
        response = client.post("/api/v1/funnel", json=body, headers=bearer(keys.read))
        assert response.status_code == 422
        assert "x" * 100 not in response.text and len(response.text) < 2000, response.text[:300]


def test_the_openapi_description_documents_every_endpoint_and_field(
    served: tuple[TestClient, Path, Keys],
) -> None:
    client, _, _ = served
    described = client.get("/openapi.json").json()
    read_api = {"funnels", "analyses", "pipeline", "builder and saved"}  # other faces' aside
    operations = [
        (path, op)
        for path, ops in described["paths"].items()
        for op in ops.values()
        if read_api & set(op["tags"])
    ]
    assert len(operations) == len(READS) + len(WRITES) + 7  # + get/run/put/delete, 3 by id
    for path, op in operations:
        assert op.get("summary"), path
        ok = op["responses"].get("200") or op["responses"].get("201") or op["responses"]["204"]
        assert ok["description"] != "Successful Response" or "delete" in op["operationId"], path
        assert {"400", "401", "403", "422"} <= set(op["responses"]), path
    bodies = {"SavedFunnelBody", "DashboardBody", "DashboardItemBody", "SpecRequest"}
    for name, schema in described["components"]["schemas"].items():
        if not (name.endswith("Request") or name in bodies):
            continue
        for field, about in schema.get("properties", {}).items():
            assert about.get("description"), f"{name}.{field}"
