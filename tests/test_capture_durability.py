"""Capture survives a crash: the real server, loaded from threads, is SIGKILLed at a random point
(while requests wait for their fsync, while a fold runs), restarted on the same store, and every
event it acknowledged is in the store exactly once; the clients then send again what was never
acknowledged, as clients do, and that is stored once too."""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb

from funnelscope.app.access import create_key
from funnelscope.store import EventStore

SRC = Path(__file__).resolve().parent.parent / "src"
THREADS = 4
BATCH = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(db: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from funnelscope.cli.main import run; run()",
            "serve",
            "--db",
            str(db),
            "--port",
            str(port),
            "--fold-interval",
            "0.1",
        ],
        env={**os.environ, "PYTHONPATH": str(SRC), "FUNNELSCOPE_WAIT": "30"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    until = time.monotonic() + 30
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            assert server.poll() is None, "the server stopped while starting"
            time.sleep(0.05)
    server.kill()
    raise AssertionError("the server did not start in 30 s")


def body(thread: int, number: int) -> bytes:
    """A batch; every third event has no messageId (its id is derived from its content)."""
    calls = []
    for i in range(BATCH):
        n = (thread * 100_000 + number) * BATCH + i
        call = {
            "type": "track",
            "event": "e",
            "userId": f"u{n % 50}",
            "properties": {"n": n},
            "timestamp": "2024-01-01T00:00:00Z",
        }
        if n % 3:
            call["messageId"] = f"m{n}"
        calls.append(call)
    return json.dumps({"batch": calls}).encode()


def send(port: int, auth: str, data: bytes) -> int | None:
    """The status, or None when the connection broke (the server died mid-request)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/batch", body=data, headers={"Authorization": auth})
        status = conn.getresponse().status
        conn.close()
        return status
    except (OSError, http.client.HTTPException):
        return None


def test_every_acknowledged_event_survives_a_kill_exactly_once(tmp_path: Path) -> None:
    seed = int(os.environ.get("FUNNELSCOPE_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    db = tmp_path / "funnelscope.duckdb"
    EventStore(db).close()
    write = create_key(str(db), "write", "load").secret
    auth = "Basic " + base64.b64encode(f"{write}:".encode()).decode()
    started = time.monotonic()
    acked: list[tuple[int, int]] = []
    unacked: list[tuple[int, int]] = []
    lock = threading.Lock()
    for round_ in range(2):  # two kills: the second server recovers the first one's log too
        port = free_port()
        server = start(db, port)
        stop = threading.Event()

        def load(
            thread: int, round_: int = round_, port: int = port, stop: threading.Event = stop
        ) -> None:
            number = round_ * 10_000
            while not stop.is_set():
                status = send(port, auth, body(thread, number))
                with lock:
                    (acked if status == 200 else unacked).append((thread, number))
                if status is None:
                    return  # the server is gone
                number += 1

        threads = [threading.Thread(target=load, args=(t,)) for t in range(THREADS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 2.5))
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert acked, f"nothing was acknowledged before the kill (seed {seed})"
    port = free_port()
    server = start(db, port)  # folds what the log holds, then serves
    try:
        for thread, number in unacked:  # the clients send again what was never acknowledged
            assert send(port, auth, body(thread, number)) == 200
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        stored = Counter(int(n) for (n,) in con.execute("SELECT n FROM events").fetchall())
    sent = {
        (thread * 100_000 + number) * BATCH + i
        for thread, number in acked + unacked
        for i in range(BATCH)
    }
    print(
        f"seed {seed}: {len(acked)} batches acknowledged, {len(unacked)} sent again, "
        f"{len(stored)} events stored"
    )
    duplicates = [n for n, times in stored.items() if times > 1]
    assert not duplicates, f"stored twice: {duplicates[:5]} (seed {seed})"
    assert set(stored) == sent, f"lost: {sorted(sent - set(stored))[:5]} (seed {seed})"
    assert len(acked) * BATCH <= len(stored)
    assert time.monotonic() - started < 60
