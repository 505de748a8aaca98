"""No value from a request reaches DuckDB as SQL text: hostile step names, property names and
values, breakdown names and saved-funnel names sent through the endpoints give a 200 with the
right (here: zero) counts or a 400/404/422, never a 500, and the store keeps every event and
table afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelscope.store import EventStore
from funnelscope.web.server import ServerSettings, create_app
from web_api_store import EVENTS, Keys, bearer, make_keys, make_store

HOSTILE = [
    "'); DROP TABLE events; --",
    '"; DROP TABLE events; --',
    "x' OR '1'='1",
    "a\\'b",
    "\\",
    "'",
    '"',
    "\x00",
    "a\x00b",
    "événement ✓ 事件 🎉",
    "more_properties['channel']",
    'channel" FROM events; --',
    "$1",
    "?",
    "%s",
    "",
]
# text no event, property or value of the store has ("view", "channel", "ads" ... are real)
hostile = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(min_size=1, max_size=40).map(lambda t: t + "'\";--"),
)
EVENT_ROWS = len(EVENTS.strip().splitlines()) - 1


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path, Keys]]:
    directory = tmp_path_factory.mktemp("fuzz")
    db = make_store(directory)
    keys = make_keys(db)
    with TestClient(create_app(ServerSettings(str(db))), raise_server_exceptions=False) as client:
        yield client, db, keys
        events = client.get("/api/v1/events", headers=bearer(keys.read)).json()
        assert sum(e["count"] for e in events) == EVENT_ROWS
        properties = client.get("/api/v1/properties", headers=bearer(keys.read)).json()
        assert [p["name"] for p in properties] == [
            "amount",
            "channel",
            "plan",
            "referrer",
            "variant",
        ]
    with EventStore(db, read_only=True) as store:  # after the server let the file go
        assert store.count_events() == EVENT_ROWS
        names = {
            r[0]
            for r in store.connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        assert names >= {
            "events",
            "persons",
            "event_properties",
            "api_keys",
            "saved_funnels",
            "dashboards",
            "crm_deals",
        }


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=hostile, prop=hostile, value=hostile)
def test_hostile_values_are_data_never_sql(
    served: tuple[TestClient, Path, Keys], name: str, prop: str, value: str
) -> None:
    client, _, keys = served
    read, admin = bearer(keys.read), bearer(keys.admin)
    spec = {
        "name": name or "x",
        "steps": [
            name,
            {"event": "view", "where": [{"property": prop, "op": "eq", "value": value}]},
        ],
        "window": "1d",
        "breakdown": prop,
    }
    spec_all = {
        **spec,
        "exclusions": [{"event": value, "between": [1, 2]}],
        "hold_constant": [prop],
    }
    calls: list[tuple[str, str, Any, dict[str, Any] | None]] = [
        ("POST", "/api/v1/funnel", {"spec": spec_all}, None),
        ("POST", "/api/v1/correlate", {"spec": spec, "properties": [prop]}, None),
        ("POST", "/api/v1/paths", {"spec": spec, "after_drop": 1}, None),
        ("POST", "/api/v1/retention/cohorts", {"start": [name], "return": [value]}, None),
        ("GET", "/api/v1/properties", None, {"name": prop, "event": value}),
        ("GET", "/api/v1/properties", None, {"name": "channel", "event": value}),
    ]
    for method, path, body, params in calls:
        response = client.request(method, path, json=body, params=params, headers=read)
        assert response.status_code in (200, 400, 404, 422), (path, response.text[:500])
        if path == "/api/v1/funnel" and response.status_code == 200:
            # no event is named `name`: nobody enters the funnel
            assert [s["count"] for s in response.json()["steps"]] == [0, 0]
        if params is not None and params["name"] == "channel" and response.status_code == 200:
            assert response.json()["values"] == []
    saved = client.post(
        "/api/v1/saved-funnels", json={"name": name, "spec": {"steps": [value]}}, headers=admin
    )
    assert saved.status_code in (201, 400, 422), saved.text[:500]
    if saved.status_code == 201:
        kept = client.get(f"/api/v1/saved-funnels/{saved.json()['id']}", headers=read).json()
        assert (kept["name"], kept["spec"]) == (name.strip(), {"steps": [value]})
