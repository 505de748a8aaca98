"""Capture benchmark: `funnelscope serve` taking Segment batches on loopback, beside baselines.

Not a test. Run:  .venv/bin/python bench/capture_bench.py [--events 400000] [--batch 250]
                      [--clients 8] [--seconds 60]

In one run, on 127.0.0.1 only, each contender gets the same pre-serialized bodies from
`--clients` client processes (one keep-alive connection each, http.client, so a client costs
little), for at most `--events` events and `--seconds` seconds:

- **funnelscope serve**: a fresh store; every body is a `/v1/batch` of `--batch` analytics.js-like
  calls (track and page calls with context, anonymousId on all, userId on half, an identify now
  and then; all with a messageId). Acknowledged ev/s, p50/p99 request latency; then the time
  until the fold has stored everything acknowledged (the fold lag), and the events found in the
  store (read after the server stopped), which must equal the events acknowledged.
- **bare uvicorn**: a minimal ASGI app on the same uvicorn (httptools/uvloop when installed) that
  reads each body and answers 200: the HTTP floor.
- **append + fsync**: the same bodies appended to a file with one fdatasync each, one thread, no
  HTTP: the disk's floor for one sync per request (the server shares one sync among every
  request waiting).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

SRC = Path(__file__).resolve().parent.parent / "src"
PAGES = ["/", "/pricing", "/products/shoes", "/products/bags", "/cart", "/checkout"]
EVENTS = ["Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Order Completed"]


def make_bodies(client: int, events: int, batch: int) -> list[bytes]:
    """This client's bodies: `events` calls in batches of `batch`, each call unique."""
    bodies = []
    sent_at = "2024-05-01T10:00:05.000Z"
    for start in range(0, events, batch):
        calls = []
        for i in range(start, min(events, start + batch)):
            n = client * 10_000_000 + i
            device = f"anon-{client}-{i // 20:07d}"
            call: dict[str, Any] = {
                "messageId": f"bench-{n}",
                "anonymousId": device,
                "timestamp": f"2024-05-01T10:00:{(i % 60):02d}.{(i % 1000):03d}Z",
                "context": {
                    "library": {"name": "analytics.js", "version": "4.1.0"},
                    "page": {"path": PAGES[i % 6], "url": "https://shop.example" + PAGES[i % 6]},
                    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0",
                    "locale": "en-US",
                    "campaign": {"source": ["ads", "seo", "email"][n % 3], "medium": "cpc"},
                },
            }
            if (i // 20) % 2:
                call["userId"] = f"user-{client}-{i // 20:07d}"
            if i % 20 == 0 and "userId" in call:
                call.update(type="identify", traits={"plan": ["free", "pro"][n % 2]})
            elif i % 4 == 0:
                call.update(type="page", name=PAGES[i % 6])
            else:
                call.update(
                    type="track",
                    event=EVENTS[i % 5],
                    properties={
                        "product_id": f"p-{i % 97}",
                        "price": (i % 50) + 0.99,
                        "quantity": 1 + i % 3,
                        "currency": "EUR",
                    },
                )
            calls.append(call)
        bodies.append(json.dumps({"batch": calls, "sentAt": sent_at}).encode())
    return bodies


def client_main(
    port: int,
    path: str,
    auth: str,
    client: int,
    events: int,
    batch: int,
    ready: Any,
    go: Any,
    deadline_s: float,
    out: Any,
) -> None:
    bodies = make_bodies(client, events, batch)
    counts = [min(batch, events - start) for start in range(0, events, batch)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    ready.put(client)
    go.wait()
    deadline = time.monotonic() + deadline_s
    results = []
    for body, n in zip(bodies, counts, strict=True):
        if time.monotonic() > deadline:
            break
        started = time.monotonic()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        results.append((started, time.monotonic(), response.status, n))
    conn.close()
    out.put(results)


def run_clients(port: int, path: str, auth: str, args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    per_client = args.events // args.clients
    procs = [
        ctx.Process(
            target=client_main,
            args=(port, path, auth, c, per_client, args.batch, ready, go, args.seconds, out),
        )
        for c in range(args.clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    go.set()
    results = [r for _ in procs for r in out.get(timeout=args.seconds + 120)]
    for p in procs:
        p.join()
    ok = [r for r in results if r[2] == 200]
    if len(ok) != len(results):
        bad = sorted({r[2] for r in results if r[2] != 200})
        print(f"  {len(results) - len(ok)} requests failed with {bad}", file=sys.stderr)
    first, last = min(r[0] for r in results), max(r[1] for r in results)
    latencies = sorted((r[1] - r[0]) * 1000 for r in results)
    acked = sum(r[3] for r in ok)
    return {
        "events": acked,
        "seconds": last - first,
        "rate": acked / (last - first),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "last_ack": last,
        "requests": len(results),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, headers: dict[str, str], timeout: float = 120) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers=headers)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server on port {port} did not come up")


def status(port: int, admin: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/api/v1/capture/status", headers={"Authorization": f"Bearer {admin}"})
    return dict(json.loads(conn.getresponse().read()))


def bench_serve(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sys.path.insert(0, str(SRC))
    from funnelscope.app.access import create_key
    from funnelscope.store import EventStore

    db = work / "capture.duckdb"
    EventStore(db).close()
    write = create_key(str(db), "write", "bench").secret
    admin = create_key(str(db), "admin", "bench").secret
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
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
            str(args.fold_interval),
        ],
        env=env,
    )
    try:
        wait_ready(port, "/api/v1/capture/status", {"Authorization": f"Bearer {admin}"})
        auth = "Basic " + base64.b64encode(f"{write}:".encode()).decode()
        result = run_clients(port, "/v1/batch", auth, args)
        while (now := status(port, admin))["waiting"] or now["last_fold_error"]:
            if now["last_fold_error"]:
                print("fold error:", now["last_fold_error"], file=sys.stderr)
            time.sleep(0.02)
        result["lag"] = time.monotonic() - result["last_ack"]
        result["status"] = now
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=120)
    con = duckdb.connect(str(db), read_only=True)
    result["stored"], result["ids"] = con.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM events"
    ).fetchone()
    result["links"] = con.execute("SELECT count(*) FROM identity_links").fetchone()[0]
    con.close()
    return result


BARE_APP = """\
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"success":true}'})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
"""


def bench_bare(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port)])
    try:
        wait_ready(port, "/", {})
        return run_clients(port, "/v1/batch", "Basic eDo=", args)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


def bench_fsync(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    per_client = args.events // args.clients
    bodies = [b for c in range(args.clients) for b in make_bodies(c, per_client, args.batch)]
    counts = [min(args.batch, per_client - s) for s in range(0, per_client, args.batch)]
    counts = counts * args.clients
    fd = os.open(work / "append.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    latencies, events = [], 0
    started = time.monotonic()
    try:
        for body, n in zip(bodies, counts, strict=True):
            t = time.monotonic()
            os.write(fd, body + b"\n")
            os.fdatasync(fd)
            latencies.append((time.monotonic() - t) * 1000)
            events += n
            if time.monotonic() - started > args.seconds:
                break
    finally:
        os.close(fd)
    seconds = time.monotonic() - started
    latencies.sort()
    return {
        "events": events,
        "seconds": seconds,
        "rate": events / seconds,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400_000, help="events in all (bounded)")
    parser.add_argument("--batch", type=int, default=250, help="events per request")
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--seconds", type=float, default=60.0, help="time limit per contender")
    parser.add_argument("--fold-interval", type=float, default=1.0)
    parser.add_argument("--only", choices=["serve", "bare", "fsync"], action="append")
    args = parser.parse_args(argv)
    args.events = min(args.events, 5_000_000)
    args.seconds = min(args.seconds, 300.0)
    only = set(args.only or ["serve", "bare", "fsync"])
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="capture-bench-") as tmp:
        work = Path(tmp)
        results: dict[str, dict[str, Any]] = {}
        if "serve" in only:
            results["funnelscope serve (/v1/batch)"] = bench_serve(args, work)
        if "bare" in only:
            results["bare uvicorn (read body, 200)"] = bench_bare(args)
        if "fsync" in only:
            results["append + fdatasync per body (no HTTP)"] = bench_fsync(args, work)
    table = Table(
        title=f"Capture on 127.0.0.1: {args.clients} clients, {args.batch} events per request, "
        f"{os.cpu_count()} cores (load before: {load[0]:.2f})",
        title_justify="left",
    )
    for column in (
        "contender",
        "events acked",
        "seconds",
        "ev/s acked",
        "p50 ms",
        "p99 ms",
        "in store",
        "fold lag s",
    ):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, r in results.items():
        stored = f"{r['stored']:,} ({r['ids']:,} ids)" if "stored" in r else "-"
        lag = f"{r['lag']:.2f}" if "lag" in r else "-"
        table.add_row(
            name,
            f"{r['events']:,}",
            f"{r['seconds']:.2f}",
            f"{r['rate']:,.0f}",
            f"{r['p50']:.1f}",
            f"{r['p99']:.1f}",
            stored,
            lag,
        )
    Console(width=150).print(table)
    serve = next((r for n, r in results.items() if "stored" in r), None)
    if serve is not None:
        s = serve["status"]
        print(
            f"fold: {s['folds']} folds, last {s['last_fold_seconds']} s; "
            f"{serve['links']:,} identity links; store == acknowledged: "
            f"{serve['stored'] == serve['events'] == serve['ids']}"
        )


if __name__ == "__main__":
    main()
