"""The team server's foundation: keys and users kept as digests, the read API's key checks,
its funnel JSON equal to the CLI's, and the store held open for the server's threads."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from funnelscope.app.access import create_key, login_ok, revoke_key, set_user
from funnelscope.cli.main import main
from funnelscope.errors import FunnelscopeError
from funnelscope.store import EventStore
from funnelscope.store.locking import held_open
from funnelscope.web.server import ServerSettings, create_app

EVENTS = """\
user,event,ts,plan
a,view,2024-01-01T10:00:00Z,pro
a,buy,2024-01-01T10:05:00Z,pro
b,view,2024-01-01T11:00:00Z,free
c,view,2024-01-02T09:00:00Z,free
c,buy,2024-01-02T09:30:00Z,free
"""
SPEC = {"name": "shop", "steps": ["view", "buy"], "window": "1h", "breakdown": "plan"}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "events.csv").write_text(EVENTS)
    assert main(["ingest", "events.csv", "--no-progress"]) == 0
    return tmp_path / "funnelscope.duckdb"


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServerSettings(str(store)))) as test_client:
        yield test_client


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_keys_are_kept_as_digests_and_printed_once(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "create", "--kind", "read", "--name", "dashboard"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("fsr_") and len(secret) > 40
    assert main(["keys", "list", "--format", "json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["kind"], listed["name"], listed["revoked_at"]) == ("read", "dashboard", None)
    assert secret not in store.read_bytes().decode("latin-1")
    with EventStore(store, read_only=True) as opened:
        [(digest,)] = opened.connection.execute("SELECT digest FROM api_keys").fetchall()
    assert len(digest) == 64 and secret not in digest


def test_the_read_api_checks_the_key_kind(store: Path, client: TestClient) -> None:
    read = create_key(str(store), "read", "dashboard").secret
    write = create_key(str(store), "write", "website").secret
    admin = create_key(str(store), "admin", "ops").secret
    body = {"spec": SPEC}
    assert client.post("/api/v1/funnel", json=body).status_code == 401
    assert client.post("/api/v1/funnel", json=body, headers=bearer("fsr_x_y")).status_code == 401
    refused = client.post("/api/v1/funnel", json=body, headers=bearer(write))
    assert refused.status_code == 403 and "write key" in refused.json()["detail"]
    assert client.post("/api/v1/funnel", json=body, headers=bearer(read)).status_code == 200
    assert client.post("/api/v1/funnel", json=body, headers={"X-API-Key": admin}).status_code == 200
    key_id = read.split("_")[1]
    revoke_key(str(store), key_id)
    assert client.post("/api/v1/funnel", json=body, headers=bearer(read)).status_code == 401


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_the_funnel_endpoint_returns_the_clis_json(
    store: Path, client: TestClient, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    (store.parent / "shop.json").write_text(json.dumps(SPEC))
    capsys.readouterr()
    assert main(["funnel", "shop.json", "--engine", engine, "--format", "json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    read = create_key(str(store), "read", "dashboard").secret
    answer = client.post(
        "/api/v1/funnel", json={"spec": SPEC, "engine": engine}, headers=bearer(read)
    )
    assert answer.json() == expected
    assert [s["count"] for s in answer.json()["steps"]] == [3, 2]


def test_a_bad_spec_is_a_400_with_the_clis_message(store: Path, client: TestClient) -> None:
    read = create_key(str(store), "read", "dashboard").secret
    answer = client.post(
        "/api/v1/funnel", json={"spec": {"steps": ["view"], "window": "soon"}}, headers=bearer(read)
    )
    assert answer.status_code == 400 and "window" in answer.json()["error"]
    assert "/api/v1/funnel" in client.get("/openapi.json").json()["paths"]


def test_passwords_are_scrypt_hashes_and_checked(store: Path) -> None:
    assert set_user(str(store), "ann", "correct horse") is True
    assert login_ok(str(store), "ann", "correct horse")
    assert not login_ok(str(store), "ann", "correct hors")
    assert not login_ok(str(store), "bob", "correct horse")
    with pytest.raises(FunnelscopeError, match="shorter than 8"):
        set_user(str(store), "bob", "short")
    assert set_user(str(store), "ann", "battery staple") is False  # a new password
    assert login_ok(str(store), "ann", "battery staple")
    with EventStore(store, read_only=True) as opened:
        [(stored,)] = opened.connection.execute("SELECT password_hash FROM web_users").fetchall()
    assert stored.startswith("scrypt$16384$8$1$") and "staple" not in stored


def test_a_held_store_is_shared_by_threads_and_not_rewritten(store: Path) -> None:
    counts: list[int] = []
    with held_open(store) as held:
        readers = [
            threading.Thread(
                target=lambda: counts.append(EventStore(store, read_only=True).count_events())
            )
            for _ in range(4)
        ]
        for thread in readers:
            thread.start()
        held.execute("INSERT INTO events SELECT * REPLACE ('z' AS person_id) FROM events LIMIT 1")
        for thread in readers:
            thread.join()
        assert set(counts) <= {5, 6} and len(counts) == 4
        with EventStore(store) as writer, pytest.raises(FunnelscopeError, match="serve"):
            writer.rewrite()
    with EventStore(store, read_only=True) as reopened:
        assert reopened.count_events() == 6


def test_a_body_that_is_not_json_is_a_400_saying_where(store: Path, client: TestClient) -> None:
    read = bearer(create_key(str(store), "read", "dashboard").secret)
    headers = {**read, "Content-Type": "application/json"}
    response = client.post("/api/v1/funnel", content=b'{"spec": {"steps": [}', headers=headers)
    assert response.status_code == 400
    assert response.json()["error"].startswith("the request body is not valid JSON at character 20")


def test_a_body_over_the_bound_is_a_413_declared_or_streamed(
    store: Path, client: TestClient
) -> None:
    from funnelscope.web.limits import MAX_BODY_BYTES

    read = bearer(create_key(str(store), "read", "dashboard").secret)
    headers = {**read, "Content-Type": "application/json"}
    declared = client.post("/api/v1/funnel", content=b" " * (MAX_BODY_BYTES + 1), headers=headers)
    assert declared.status_code == 413
    assert "larger than 1,048,576 bytes" in declared.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(11):
            yield b" " * 100_000

    streamed = client.post("/api/v1/funnel", content=chunks(), headers=headers)
    assert streamed.status_code == 413 and "split a batch" in streamed.json()["error"]
    body = json.dumps({"spec": SPEC}).encode()
    at_the_bound = body + b" " * (MAX_BODY_BYTES - len(body))
    assert client.post("/api/v1/funnel", content=at_the_bound, headers=headers).status_code == 200
    login = client.post("/login", content=b"a" * (MAX_BODY_BYTES + 1))
    assert login.status_code == 413
