"""Live capture (issue 17): Segment's and PostHog's APIs on `funnelscope serve`, the rows they
store (the same as the export layouts store), dedupe, quarantine, identities, keys and limits."""

from __future__ import annotations

import base64
import gzip
import json
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from funnelscope.app.access import create_key
from funnelscope.store import ColumnMapping, EventStore
from funnelscope.store.capture.records import MAX_BATCH_BYTES, TooLarge
from funnelscope.web.capture import _gunzip
from funnelscope.web.server import ServerSettings, create_app


class Server:
    """A store with one key of each kind, and a test client of the server over it."""

    def __init__(self, db: Path) -> None:
        self.db = str(db)
        self.write = create_key(self.db, "write", "website").secret
        self.read = create_key(self.db, "read", "dashboard").secret
        self.admin = create_key(self.db, "admin", "ops").secret

    def client(self, fold_interval: float = 0.05) -> TestClient:
        return TestClient(create_app(ServerSettings(self.db, fold_interval=fold_interval)))

    def basic(self, key: str | None = None) -> dict[str, str]:
        token = base64.b64encode(f"{key or self.write}:".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with EventStore(self.db, read_only=True) as store:
            return store.connection.execute(sql).fetchall()

    def events(self) -> list[dict[str, Any]]:
        """Every stored event as a dict of its set columns (properties by name)."""
        with EventStore(self.db, read_only=True) as store:
            con = store.connection
            result = con.execute("SELECT * EXCLUDE (load_id, person_key) FROM events")
            names = [d[0] for d in result.description]
            rows = result.fetchall()
        found = [{k: v for k, v in zip(names, row, strict=True) if v is not None} for row in rows]
        return sorted(found, key=lambda e: (e["timestamp"], e["event_id"]))


@pytest.fixture
def server(tmp_path: Path) -> Server:
    EventStore(tmp_path / "funnelscope.duckdb").close()
    return Server(tmp_path / "funnelscope.duckdb")


@pytest.fixture
def client(server: Server) -> Iterator[TestClient]:
    with server.client() as test_client:
        yield test_client


def sent(client: TestClient, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    answer = client.post(path, json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def us(text: str) -> int:
    from funnelscope.store.capture.records import time_us

    return time_us(text, "t")


# ---------------------------------------------------------------- Segment


def test_each_segment_call_stores_the_rows_its_export_would(server: Server, tmp_path: Path) -> None:
    calls = [
        (
            "track",
            {
                "userId": "u1",
                "anonymousId": "a1",
                "event": "Order Completed",
                "messageId": "m-track",
                "timestamp": "2024-05-01T10:00:00.000Z",
                "properties": {"revenue": 9.5, "items": 2, "coupon": None},
                "context": {"page": {"path": "/checkout"}},
            },
        ),
        (
            "page",
            {
                "anonymousId": "a1",
                "name": "Home",
                "messageId": "m-page",
                "timestamp": "2024-05-01T09:59:00.000Z",
                "properties": {"path": "/"},
            },
        ),
        (
            "screen",
            {
                "userId": "u1",
                "name": "Cart",
                "messageId": "m-screen",
                "timestamp": "2024-05-01T10:01:00.000Z",
            },
        ),
        (
            "identify",
            {
                "userId": "u1",
                "anonymousId": "a1",
                "traits": {"plan": "pro"},
                "messageId": "m-identify",
                "timestamp": "2024-05-01T09:59:30.000Z",
            },
        ),
        (
            "group",
            {
                "userId": "u1",
                "groupId": "g1",
                "traits": {"name": "Acme"},
                "messageId": "m-group",
                "timestamp": "2024-05-01T10:02:00.000Z",
            },
        ),
        (
            "alias",
            {
                "previousId": "old-u1",
                "userId": "u1",
                "messageId": "m-alias",
                "timestamp": "2024-05-01T10:03:00.000Z",
            },
        ),
    ]
    with server.client() as client:
        for call, body in calls:
            answer = sent(client, f"/v1/{call}", body, server.basic())
            assert answer == {"success": True, "accepted": 1, "rejected": 0}
    stored = server.events()
    by_id = {e["event_id"]: e for e in stored}
    assert set(by_id) == {"m-track", "m-page", "m-screen", "m-identify", "m-group"}
    track = by_id["m-track"]
    assert (track["event"], track["distinct_id"], track["person_id"]) == (
        "Order Completed",
        "u1",
        "u1",
    )
    assert (track["revenue"], track["items"], track["context.page.path"]) == (9.5, 2, "/checkout")
    assert "coupon" not in track  # a null property is no value
    assert str(track["timestamp"]) == "2024-05-01 10:00:00"  # no sentAt: as the client said
    assert track["originalTimestamp"] == "2024-05-01T10:00:00.000Z" and "receivedAt" in track
    assert (by_id["m-page"]["event"], by_id["m-page"]["page_name"]) == ("Page Viewed", "Home")
    assert by_id["m-page"]["person_id"] == "u1"  # a1 was identified as u1
    assert (by_id["m-screen"]["event"], by_id["m-screen"]["screen_name"]) == (
        "Screen Viewed",
        "Cart",
    )
    assert (by_id["m-identify"]["event"], by_id["m-identify"]["plan"]) == ("$identify", "pro")
    assert (by_id["m-group"]["event"], by_id["m-group"]["group.name"]) == ("$group", "Acme")
    assert by_id["m-group"]["groupId"] == "g1"
    links = server.rows("SELECT from_id, to_id, kind FROM identity_links ORDER BY from_id")
    assert links == [("a1", "u1", "identify"), ("old-u1", "u1", "alias")]
    # the same messages from Segment's export, loaded from a file: the same rows
    exported = tmp_path / "export.jsonl"
    lines = []
    for call, body in calls:
        record = {**body, "type": call}
        record["originalTimestamp"] = record["timestamp"]
        record["receivedAt"] = by_id.get(body["messageId"], track)["receivedAt"]
        lines.append(json.dumps(record))
    exported.write_text("\n".join(lines) + "\n")
    with EventStore(tmp_path / "file.duckdb") as other:
        other.ingest([exported], ColumnMapping(layout="segment"))
        result = other.connection.execute("SELECT * EXCLUDE (load_id, person_key) FROM events")
        names = [d[0] for d in result.description]
        from_file = [
            {k: v for k, v in zip(names, r, strict=True) if v is not None}
            for r in result.fetchall()
        ]
    assert sorted(from_file, key=lambda e: (e["timestamp"], e["event_id"])) == stored


def test_the_clock_skew_rule(server: Server) -> None:
    """timestamp = receivedAt - (sentAt - timestamp); without sentAt the timestamp as sent;
    without a timestamp receivedAt."""
    batch = {
        "sentAt": "2030-01-01T12:00:10.000Z",  # the client's clock is years ahead
        "batch": [
            {
                "type": "track",
                "event": "a",
                "userId": "u",
                "messageId": "skewed",
                "timestamp": "2030-01-01T12:00:00.000Z",
            },
            {
                "type": "track",
                "event": "b",
                "userId": "u",
                "messageId": "own-sent",
                "timestamp": "2030-01-01T12:00:00.000Z",
                "sentAt": "2030-01-01T12:00:00.500Z",
            },
            {"type": "track", "event": "c", "userId": "u", "messageId": "no-time"},
        ],
    }
    with server.client() as client:
        before = time.time()
        sent(client, "/v1/batch", batch, server.basic())
        sent(
            client,
            "/v1/track",
            {
                "event": "d",
                "userId": "u",
                "messageId": "no-sent",
                "timestamp": "2020-02-02T02:02:02.123Z",
            },
            server.basic(),
        )
        after = time.time()
    stored = {e["event_id"]: e for e in server.events()}
    received = us(stored["skewed"]["receivedAt"])
    assert before - 1 <= received / 1e6 <= after + 1
    assert us(stored["skewed"]["timestamp"].isoformat() + "Z") == received - 10_000_000
    assert us(stored["own-sent"]["timestamp"].isoformat() + "Z") == received - 500_000
    assert us(stored["no-time"]["timestamp"].isoformat() + "Z") == received
    assert str(stored["no-sent"]["timestamp"]) == "2020-02-02 02:02:02.123000"


def test_the_write_key_in_the_body_or_as_a_bearer(server: Server) -> None:
    with server.client() as client:
        sent(client, "/v1/track", {"event": "v", "userId": "u", "writeKey": server.write}, {})
        bearer = {"Authorization": f"Bearer {server.write}"}
        sent(client, "/v1/import", {"batch": [{"type": "page", "userId": "u"}]}, bearer)
        sent(client, "/v1/page", {"userId": "u", "name": "Pricing"}, {"X-API-Key": server.admin})
    assert sorted(e["event"] for e in server.events()) == ["Page Viewed", "Page Viewed", "v"]
    assert server.write not in Path(server.db).read_bytes().decode("latin-1")


# ---------------------------------------------------------------- PostHog


def test_each_posthog_path_and_the_rows_of_its_export(server: Server, tmp_path: Path) -> None:
    sent_at = "2030-01-01T00:00:05.000Z"
    with server.client() as client:
        sent(
            client,
            "/capture/",
            {
                "api_key": server.write,
                "event": "$pageview",
                "distinct_id": "anon-1",
                "uuid": "e-1",
                "timestamp": "2024-05-01T10:00:00Z",
                "properties": {"$current_url": "https://x/", "$session_id": "s1"},
            },
            {},
        )
        sent(
            client,
            "/batch/",
            {
                "api_key": server.write,
                "sent_at": sent_at,
                "batch": [
                    {
                        "event": "$identify",
                        "distinct_id": "user-1",
                        "uuid": "e-2",
                        "timestamp": "2030-01-01T00:00:04.000Z",
                        "properties": {"$anon_distinct_id": "anon-1", "$set": {"plan": "pro"}},
                    },
                    {
                        "event": "$create_alias",
                        "distinct_id": "user-1",
                        "uuid": "e-3",
                        "properties": {"alias": "anon-2"},
                    },
                ],
            },
            {},
        )
        body = gzip.compress(
            json.dumps(
                [
                    {
                        "event": "purchase",
                        "uuid": "e-4",
                        "timestamp": "2024-05-01T10:05:00Z",
                        "properties": {
                            "distinct_id": "anon-2",
                            "token": server.write,
                            "amount": 30,
                        },
                    },
                ]
            ).encode()
        )
        answer = client.post("/e/?compression=gzip-js", content=body)
        assert answer.status_code == 200 and answer.json()["status"] == 1
        answer = client.post(
            "/i/v0/e/",
            json={"event": "x", "distinct_id": "d", "properties": {"token": server.write}},
        )
        assert answer.status_code == 200
    stored = {e["event_id"]: e for e in server.events()}
    assert {"e-1", "e-2", "e-3", "e-4"} <= set(stored) and len(stored) == 5
    assert (stored["e-1"]["person_id"], stored["e-1"]["session_id"]) == ("user-1", "s1")
    assert stored["e-2"]["plan"] == "pro"
    assert (stored["e-4"]["person_id"], stored["e-4"]["amount"]) == ("user-1", 30)
    assert "token" not in stored["e-4"] and stored["e-4"]["distinct_id"] == "anon-2"
    assert not [name for name in stored["e-4"] if "distinct_id" in name and name != "distinct_id"]
    assert str(stored["e-2"]["timestamp"])[:4] != "2030"  # corrected by sent_at
    links = server.rows("SELECT from_id, to_id, kind FROM identity_links ORDER BY from_id")
    assert links == [("anon-1", "user-1", "identify"), ("anon-2", "user-1", "alias")]
    # the events as PostHog's export has them load to the same rows
    exported = tmp_path / "posthog.jsonl"
    records = []
    for event in sorted(stored.values(), key=lambda e: e["event_id"]):
        properties = {
            k: v
            for k, v in event.items()
            if k not in ("event_id", "person_id", "event", "timestamp", "distinct_id", "session_id")
        }
        if event["event"] == "$identify":
            properties = {"$anon_distinct_id": "anon-1", "$set": {"plan": "pro"}}
        if event["event"] == "$create_alias":
            properties = {"alias": "anon-2"}
        if event.get("session_id"):
            properties["$session_id"] = event["session_id"]
        records.append(
            {
                "uuid": event["event_id"],
                "event": event["event"],
                "distinct_id": event["distinct_id"],
                "properties": properties,
                "timestamp": event["timestamp"].isoformat() + "Z",
            }
        )
    exported.write_text("".join(json.dumps(r) + "\n" for r in records))
    with EventStore(tmp_path / "file.duckdb") as other:
        other.ingest([exported], ColumnMapping(layout="posthog"))
        rows = other.connection.execute(
            "SELECT event_id, person_id, event, timestamp FROM events ORDER BY event_id"
        ).fetchall()
    assert rows == server.rows(
        "SELECT event_id, person_id, event, timestamp FROM events ORDER BY event_id"
    )


# ---------------------------------------------------------------- dedupe


def test_an_id_is_stored_once_across_requests_and_restarts(server: Server) -> None:
    call = {"event": "v", "userId": "u", "messageId": "once", "timestamp": "2024-01-01T00:00:00Z"}
    anonymous_retry = {"event": "w", "userId": "u", "properties": {"n": 1}}
    with server.client() as client:
        sent(client, "/v1/track", call, server.basic())
        sent(client, "/v1/track", anonymous_retry, server.basic())
        sent(client, "/v1/batch", {"batch": [{**call, "type": "track"}] * 3}, server.basic())
    with server.client() as client:  # after a restart, and a later send with new content
        later = {**call, "timestamp": "2025-06-01T00:00:00Z", "sentAt": "2025-06-01T00:00:01Z"}
        sent(client, "/v1/track", later, server.basic())
        sent(client, "/v1/track", anonymous_retry, server.basic())  # its derived id again
        status = client.get("/api/v1/capture/status", headers={"X-API-Key": server.admin})
    first = server.events()[0]
    assert (first["event_id"], first["event"]) == ("once", "v")
    assert server.rows("SELECT count(*), count(DISTINCT event_id) FROM events") == [(2, 2)]
    assert status.json()["acknowledged"] == 2
    assert str(server.events()[0]["timestamp"]) == "2024-01-01 00:00:00"  # the first one kept


# ---------------------------------------------------------------- bad events


def test_bad_events_are_named_quarantined_and_the_good_ones_stored(server: Server) -> None:
    batch = {
        "writeKey": server.write,
        "batch": [
            {"type": "track", "event": "ok", "userId": "u1", "messageId": "good-1"},
            {"type": "track", "userId": "u1", "messageId": "no-event"},
            {"type": "track", "event": "x", "messageId": "no-user"},
            {"type": "track", "event": "ok", "userId": "u2", "messageId": "good-2"},
            {"type": "fly", "userId": "u1"},
            {"type": "track", "event": "t", "userId": "u1", "timestamp": "yesterday"},
            "not an object",
            {"type": "alias", "userId": "u1"},
        ],
    }
    with server.client() as client:
        answer = client.post("/v1/batch", json=batch)
    assert answer.status_code == 400
    body = answer.json()
    assert (body["success"], body["accepted"], body["rejected"]) == (False, 2, 6)
    assert body["error"].startswith(
        'batch[1].event: missing; a track call needs "event": the name of what happened'
    )
    assert "2 valid events were stored" in body["error"]
    named = [(e["event"], e["field"], e["problem"]) for e in body["errors"]]
    assert named == [
        ("batch[1]", "event", "missing"),
        ("batch[2]", "userId", "missing"),
        ("batch[4]", "type", "unknown call type 'fly'"),
        ("batch[5]", "timestamp", "not an ISO 8601 time ('yesterday')"),
        ("batch[6]", "", "not a JSON object"),
        ("batch[7]", "previousId", "missing"),
    ]
    assert all(e["fix"] for e in body["errors"])
    assert [e["event_id"] for e in server.events()] == ["good-1", "good-2"]
    quarantined = server.rows("SELECT source, reason, raw FROM quarantine ORDER BY line")
    assert [q[0] for q in quarantined] == ["capture:segment"] * 6
    assert quarantined[0][1].startswith("event: missing; a track call needs")
    assert json.loads(quarantined[0][2]) == {
        "type": "track",
        "userId": "u1",
        "messageId": "no-event",
    }
    assert server.write not in json.dumps(quarantined)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"batch": {}}', '"batch": a list of calls'),
        (b"[1, 2]", "not a JSON object"),
    ],
)
def test_a_body_of_no_events_is_a_400(
    server: Server, client: TestClient, body: bytes, problem: str
) -> None:
    answer = client.post("/v1/batch", content=body, headers=server.basic())
    assert answer.status_code == 400 and problem in answer.json()["error"]


# ---------------------------------------------------------------- identities and funnels


def test_identify_and_alias_stitch_persons_for_funnels(server: Server, client: TestClient) -> None:
    batch = {
        "batch": [
            {
                "type": "page",
                "anonymousId": "dev-1",
                "name": "Home",
                "timestamp": "2024-01-01T10:00:00Z",
            },
            {
                "type": "identify",
                "anonymousId": "dev-1",
                "userId": "ann",
                "timestamp": "2024-01-01T10:01:00Z",
            },
            {
                "type": "track",
                "userId": "ann",
                "event": "Order Completed",
                "timestamp": "2024-01-01T10:02:00Z",
            },
            {
                "type": "page",
                "anonymousId": "dev-2",
                "name": "Home",
                "timestamp": "2024-01-01T11:00:00Z",
            },
            {
                "type": "alias",
                "previousId": "dev-2",
                "userId": "bob",
                "timestamp": "2024-01-01T11:00:30Z",
            },
            {
                "type": "track",
                "userId": "bob",
                "event": "Order Completed",
                "timestamp": "2024-01-01T11:01:00Z",
            },
            {
                "type": "page",
                "anonymousId": "dev-3",
                "name": "Home",
                "timestamp": "2024-01-01T12:00:00Z",
            },
        ]
    }
    sent(client, "/v1/batch", batch, server.basic())
    deadline = time.monotonic() + 20
    admin = {"Authorization": f"Bearer {server.admin}"}
    while client.get("/api/v1/capture/status", headers=admin).json()["waiting"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    spec = {"steps": ["Page Viewed", "Order Completed"], "window": "1h"}
    answer = client.post("/api/v1/funnel", json={"spec": spec}, headers=admin)
    assert [s["count"] for s in answer.json()["steps"]] == [3, 2]


# ---------------------------------------------------------------- keys


def test_capture_needs_a_write_key_and_a_write_key_reads_nothing(
    server: Server, client: TestClient
) -> None:
    call = {"event": "v", "userId": "u"}
    assert client.post("/v1/track", json=call).status_code == 401
    assert client.post("/v1/track", json=call, headers=server.basic("fsw_x_y")).status_code == 401
    refused = client.post("/v1/track", json=call, headers=server.basic(server.read))
    assert refused.status_code == 403 and "read key" in refused.json()["detail"]
    assert client.post("/v1/track", json={**call, "writeKey": server.read}).status_code == 403
    assert client.post("/batch", json={"api_key": server.read, "batch": []}).status_code == 403
    assert client.post("/batch", json={"batch": []}).status_code == 401
    bad_basic = {"Authorization": "Basic !!!"}
    assert client.post("/v1/track", json=call, headers=bad_basic).status_code == 401
    write = server.basic()
    spec = {"spec": {"steps": ["v"]}}
    assert client.post("/api/v1/funnel", json=spec, headers=write).status_code == 403
    assert client.get("/api/v1/events", headers=write).status_code == 403
    assert client.get("/api/v1/capture/status", headers=write).status_code == 403
    read = {"Authorization": f"Bearer {server.read}"}
    assert client.get("/api/v1/capture/status", headers=read).status_code == 403
    assert client.get("/api/v1/capture/status").status_code == 401
    assert client.post("/v1/track", json=call, headers=write).status_code == 200
    assert client.post("/v1/fly", json=call, headers=write).status_code == 404


def test_no_key_reaches_the_log_or_the_store(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    with server.client(fold_interval=30) as client:  # the segment stays open to be read
        client.post("/v1/track", json={"event": "v", "userId": "u", "writeKey": server.write})
        client.post("/v1/track", json={"userId": "u", "writeKey": server.write})  # quarantined
        client.post(
            "/capture",
            json={"event": "e", "distinct_id": "d", "properties": {"token": server.write}},
        )
        client.post("/v1/track", json={"event": "v"}, headers=server.basic(server.read))
        log = Path(f"{server.db}.capture")
        segments = b"".join(p.read_bytes() for p in log.glob("*.jsonl"))
    assert segments.count(b"\n") == 3
    for secret in (server.write, server.read):
        assert secret not in caplog.text
        assert secret.encode() not in segments
        assert secret not in Path(server.db).read_bytes().decode("latin-1")


# ---------------------------------------------------------------- limits


def test_limits_are_413s_naming_them(server: Server) -> None:
    with server.client() as client:
        _over_the_limits(server, client)
    assert server.rows("SELECT count(*) FROM events") == [(0,)]


def _over_the_limits(server: Server, client: TestClient) -> None:
    big = {"event": "v", "userId": "u", "properties": {"text": "x" * 33_000}}
    answer = client.post("/v1/track", json=big, headers=server.basic())
    assert answer.status_code == 413
    assert "32 KB" in answer.json()["error"] and answer.json()["limit"] == "32 KB per event"
    in_batch = {"batch": [{"type": "track", "event": "v", "userId": "u"}, {**big, "type": "track"}]}
    answer = client.post("/v1/batch", json=in_batch, headers=server.basic())
    assert answer.status_code == 413 and "batch[1] is" in answer.json()["error"]
    many = {
        "batch": [{"type": "track", "event": "v", "userId": "u", "properties": {"t": "y" * 20_000}}]
        * 30
    }
    answer = client.post("/v1/batch", json=many, headers=server.basic())
    assert answer.status_code == 413 and "500 KB" in answer.json()["limit"]
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]")
    answer = client.post(
        "/v1/batch", content=bomb, headers={**server.basic(), "Content-Encoding": "gzip"}
    )
    assert answer.status_code == 413 and "decompressed" in answer.json()["error"]


def test_a_gzip_bomb_is_refused_without_taking_memory() -> None:
    bomb = gzip.compress(b"0" * 200_000_000, compresslevel=9)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            _gunzip(bomb, MAX_BATCH_BYTES)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_BATCH_BYTES


def test_gzip_bodies_and_their_errors(server: Server, client: TestClient) -> None:
    body = gzip.compress(json.dumps({"batch": [{"type": "page", "userId": "u"}]}).encode())
    gz = {**server.basic(), "Content-Encoding": "gzip"}
    assert client.post("/v1/batch", content=body, headers=gz).json()["accepted"] == 1
    assert client.post("/v1/batch", content=body[:-9], headers=gz).status_code == 400
    assert client.post("/v1/batch", content=b"plain", headers=gz).status_code == 400
    brotli = {**server.basic(), "Content-Encoding": "br"}
    assert client.post("/v1/batch", content=body, headers=brotli).status_code == 400


def test_the_status_counts_what_was_captured(server: Server, client: TestClient) -> None:
    sent(client, "/v1/batch", {"batch": [{"type": "page", "userId": "u"}] * 2}, server.basic())
    admin = {"Authorization": f"Bearer {server.admin}"}
    deadline = time.monotonic() + 20
    while (status := client.get("/api/v1/capture/status", headers=admin).json())["waiting"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status["acknowledged"] == 2 and status["folded"] == 2
    assert (status["stored"], status["duplicates"], status["quarantined"]) == (1, 1, 0)
    assert status["last_fold_error"] is None and status["folds"] >= 1
    assert status["log_directory"].endswith("funnelscope.duckdb.capture")
    assert set(status) >= {"log_bytes", "log_segments", "waiting", "last_fold_at"}


# ---------------------------------------------------------------- the fold against file ingest


def _fold_and_load(tmp_path: Path, fmt: Any, body: Any, layout: str) -> None:
    """Fold a request's records, and load the same events as the tool's export writes them:
    the two stores hold the same rows."""
    from funnelscope.store.capture.fold import create_tables, fold
    from funnelscope.store.capture.records import record_lines

    received = us("2024-05-01T10:10:02Z")
    events = fmt.events(body, None, None)
    lines, _, _ = record_lines(fmt, events, received, 1)
    segment = tmp_path / "000000000001.jsonl"
    segment.write_bytes(lines)
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(fmt.export_record(e, received)) + "\n" for e in events))
    tables = []
    for name in ("folded", "loaded"):
        with EventStore(tmp_path / f"{name}.duckdb") as store:
            if name == "folded":
                create_tables(store.connection)
                fold(store.connection.cursor(), [(1, segment)])
            else:
                store.ingest([export], ColumnMapping(layout=layout))
            tables.append(_typed_rows(store))
    assert tables[0] == tables[1]


def _typed_rows(store: EventStore) -> tuple[Any, ...]:
    """Every event with each property read as the store types it (a column or the map), and
    each property's type."""
    from funnelscope.store.schema import property_reads

    reads = sorted(property_reads(store.connection).items())
    values = "".join(f", {sql} AS {json.dumps(name)}" for name, (sql, _) in reads)
    rows = store.connection.execute(
        "SELECT event_id, person_id, distinct_id, event, timestamp, session_id"
        f"{values} FROM events ORDER BY event_id"
    ).fetchall()
    return rows, [(name, kind) for name, (_, kind) in reads]


def test_the_fold_stores_what_file_ingest_stores_segment(tmp_path: Path) -> None:
    from funnelscope.store.capture import segment

    wide = {f"p{i:03d}": i for i in range(300)}  # beyond the 256 keys staged as columns
    body = {
        "sentAt": "2024-05-01T10:10:00Z",
        "batch": [
            {
                "type": "track",
                "event": "view",
                "userId": "u1",
                "anonymousId": "a1",
                "messageId": "m1",
                "timestamp": "2024-05-01T10:00:00.000Z",
                "properties": {
                    "price": 1.5,
                    "n": 2,
                    "f": 1e-5,
                    "big": 2**60,
                    "huge": 2**63 + 5,
                    "flag": True,
                    "tags": ["a", "b"],
                    "nested": {"x": 1},
                    "none": None,
                    "mixed": 1e16,
                },
            },
            {
                "type": "track",
                "event": "buy",
                "userId": "u1",
                "messageId": "m2",
                "timestamp": "2024-05-01T10:05:00Z",
                "properties": {
                    "price": "cheap",
                    "n": 3,
                    "f": "x",
                    "flag": False,
                    "mixed": "text",
                    "big": 5,
                },
            },
            {"type": "identify", "userId": "u2", "anonymousId": "a2", "traits": {"plan": "pro"}},
            {"type": "page", "anonymousId": "a9", "name": "Home", "properties": wide},
        ],
    }
    _fold_and_load(tmp_path, segment.FORMAT, body, "segment")


def test_the_fold_stores_what_file_ingest_stores_posthog(tmp_path: Path) -> None:
    from funnelscope.store.capture import posthog

    body = {
        "api_key": "k",
        "sent_at": "2024-05-01T10:10:00Z",
        "batch": [
            {
                "event": "$pageview",
                "distinct_id": "d1",
                "uuid": "u-1",
                "timestamp": "2024-05-01T10:00:00Z",
                "properties": {"$current_url": "http://x", "$session_id": "s1", "n": 1.25},
            },
            {
                "event": "$identify",
                "distinct_id": "user1",
                "$set": {"plan": "pro"},
                "properties": {"$anon_distinct_id": "d1"},
            },
            {"event": "$create_alias", "distinct_id": "user1", "properties": {"alias": "d2"}},
            {"event": "buy", "properties": {"distinct_id": "d2", "amount": 10, "n": "many"}},
        ],
    }
    _fold_and_load(tmp_path, posthog.FORMAT, body, "posthog")


def test_a_segment_is_folded_once_even_when_its_file_is_left(tmp_path: Path) -> None:
    """A crash after the fold's commit, before its file is deleted, folds nothing twice (not
    even its quarantined rows and links, which have no event id to dedupe by)."""
    from funnelscope.store.capture import segment
    from funnelscope.store.capture.fold import create_tables, fold
    from funnelscope.store.capture.records import record_lines

    events = segment.events(
        {
            "batch": [
                {"type": "alias", "previousId": "a", "userId": "b"},
                {"type": "track", "userId": "b"},
            ]
        },
        None,
    )
    lines, _, _ = record_lines(segment.FORMAT, events, us("2024-01-01T00:00:00Z"), 1)
    path = tmp_path / "000000000007.jsonl"
    path.write_bytes(lines)
    with EventStore(tmp_path / "s.duckdb") as store:
        create_tables(store.connection)
        first = fold(store.connection.cursor(), [(7, path)])
        again = fold(store.connection.cursor(), [(7, path)])
        counts = store.connection.execute(
            "SELECT (SELECT count(*) FROM quarantine), (SELECT count(*) FROM identity_links)"
        ).fetchall()
    assert (first.segments, first.records, first.quarantined) == ((7,), 2, 1)
    assert (again.segments, again.records) == ((), 0)
    assert counts == [(1, 1)]


def test_a_failing_fold_loses_nothing_and_is_tried_again(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import funnelscope.app.capture as app_capture
    import funnelscope.store.capture.fold as fold_module

    real_fold = fold_module.fold
    failures = [RuntimeError("disk full")]

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_fold(*args, **kwargs)

    monkeypatch.setattr(fold_module, "fold", failing_once)
    monkeypatch.setattr(app_capture, "RETRY_SECONDS", 0.3)
    admin = {"Authorization": f"Bearer {server.admin}"}
    with server.client() as client:
        sent(client, "/v1/track", {"event": "v", "userId": "u"}, server.basic())
        deadline = time.monotonic() + 20
        while (status := client.get("/api/v1/capture/status", headers=admin).json())[
            "last_fold_error"
        ] is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert status["last_fold_error"] == "RuntimeError: disk full"
        assert status["waiting"] == 1 and status["log_bytes"] > 0
        while (status := client.get("/api/v1/capture/status", headers=admin).json())["waiting"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert status["last_fold_error"] is None and status["stored"] == 1
    assert server.rows("SELECT event FROM events") == [("v",)]
