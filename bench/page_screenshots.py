"""Screenshots of the server's pages and of the HTML report, for docs/screenshots/.

Not a test. Run from the repository root (Chromium from Debian, see DEVELOPERS.md):

    PYTHONPATH=src .venv/bin/python bench/page_screenshots.py [--store DIR/funnelscope.duckdb]

Without --store it runs `funnelscope demo` in a temporary directory first (about 20 s). It
writes the HTML report (before serving: the server holds the store), adds a page user, serves
the store on 127.0.0.1 (a free port), and in headless Chromium takes:
login.png (the login page), funnel-builder.png (the demo's e-commerce funnel computed with a
breakdown by channel, time to convert and the weekly trend) and html-report.png (the same funnel
written by `funnelscope report-html`, opened from disk with the network off), dashboards.png (a
dashboard made in the page from that funnel, saved in the builder), pipeline.png (the demo CRM
as of 2026-12-01 09:00 with the demo's pipeline settings), diagnose.png (the e-commerce funnel's
leaks by channel and device per day, and a what-if) and experiments.png (the demo's A/B test).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import uvicorn
from playwright.sync_api import Page, sync_playwright

from funnelscope.app.access import set_user
from funnelscope.web.server import ServerSettings, create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USER, PASSWORD = "analyst", "screenshots only"
STEPS = ["page_opened", "product_clicked", "added_to_cart", "paid", "order_completed"]
QUERY = {
    "spec": {
        "name": "ecommerce-behaviour",
        "steps": STEPS,
        "window": "7d",
        "order": "ordered",
        "breakdown": "channel",
    },
    "trend": "week",
}
AS_OF = "2026-12-01T09:00"
DIAGNOSE = {
    "diagnose": {"spec": {"name": "ecommerce-behaviour", "steps": STEPS, "window": "7d"},
                 "engine": "kernel", "period": "day",
                 "by": "channel,device", "all": True, "value": 50},
    "whatif": {"step": "3", "lift": "10%"},
}  # fmt: skip
EXPERIMENT = {
    "name": "checkout-redesign", "assign": "event", "exposure_event": "experiment_started",
    "property": "variant", "control": "control", "engine": "kernel",
    "funnel": {"steps": ["product_viewed", "added_to_cart", "checkout_started", "order_completed"],
               "window": "7d"},
}  # fmt: skip


def link(path: str, query: dict[str, object]) -> str:
    return f"{path}?q={quote(json.dumps(query, separators=(',', ':')))}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def funnelscope(*args: str, cwd: Path) -> None:
    command = [sys.executable, "-m", "funnelscope.cli.main", *args]
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(Path(p).resolve()) for p in paths if p)}
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, env=env)


def shoot(store: Path, out_dir: Path) -> None:
    # the report first: the server holds the store while it runs
    spec_file = store.parent / "screenshot-funnel.json"
    spec_file.write_text(json.dumps(QUERY["spec"]))
    report = store.parent / "screenshot-report.html"
    funnelscope(
        "report-html", str(spec_file), "-o", str(report), "--db", str(store),
        "--time-to-convert", "--trend", "week", cwd=store.parent,
    )  # fmt: skip
    set_user(str(store), USER, PASSWORD)
    port = free_port()
    pipeline = store.parent / "demo-data" / "crm" / "pipeline.yaml"
    settings = ServerSettings(
        str(store), pipeline_settings=str(pipeline) if pipeline.exists() else None
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), "127.0.0.1", port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("pageerror", lambda error: print(f"page error: {error}", file=sys.stderr))
            page.goto(f"{base}/login")
            page.screenshot(path=out_dir / "login.png")
            page.fill("input[name=name]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{base}/funnels?q={quote(json.dumps(QUERY, separators=(',', ':')))}")
            page.wait_for_selector("#status[data-state=done]", state="attached", timeout=20_000)
            page.screenshot(path=out_dir / "funnel-builder.png", full_page=True)
            shoot_pages(page, base, out_dir)
            offline = browser.new_context(offline=True, viewport={"width": 1360, "height": 900})
            report_page = offline.new_page()
            report_page.goto(report.as_uri())
            report_page.wait_for_selector("#chart-trend canvas", timeout=30_000)
            report_page.screenshot(path=out_dir / "html-report.png", full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def done(page: Page, status: str = "#status") -> None:
    page.wait_for_selector(f"{status}[data-state=done]", state="attached", timeout=60_000)


def shoot_pages(page: Page, base: str, out_dir: Path) -> None:
    """The pages beside the builder (the builder's funnel is on the page, computed)."""
    page.click("#save-funnel")
    page.wait_for_selector("#saved[data-id]", state="attached", timeout=20_000)
    funnel_id = page.get_attribute("#saved", "data-id") or ""
    page.goto(f"{base}/dashboards")
    page.wait_for_selector("body[data-ready=yes]", state="attached", timeout=20_000)
    page.fill("#dashboard-name", "Weekly review")
    page.click("#new-dashboard button[type=submit]")
    page.wait_for_url("**/dashboards/*")
    page.wait_for_selector("#add-item[data-ready=yes]", state="attached", timeout=20_000)
    for chart in ("steps", "trend", "breakdown"):
        page.select_option("#add-funnel", funnel_id)
        page.select_option("#add-chart", chart)
        page.click("#add-button")
        page.wait_for_selector(f'.dash-item[data-chart="{chart}"]', state="attached")
        done(page)
    page.screenshot(path=out_dir / "dashboards.png", full_page=True)
    page.goto(base + link("/pipeline", {"as_of": AS_OF}))
    done(page)
    page.screenshot(path=out_dir / "pipeline.png", full_page=True)
    page.goto(base + link("/diagnose", DIAGNOSE))
    done(page, "#whatif-status")
    page.screenshot(path=out_dir / "diagnose.png", full_page=True)
    page.goto(base + link("/experiments", EXPERIMENT))
    done(page)
    page.screenshot(path=out_dir / "experiments.png", full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a store to serve (default: a fresh demo)")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    out_dir = args.out.resolve()
    if args.store is not None:
        shoot(args.store.resolve(), out_dir)
        return
    with tempfile.TemporaryDirectory() as temp:
        funnelscope("demo", cwd=Path(temp))
        shoot(Path(temp) / "funnelscope.duckdb", out_dir)
    print(f"screenshots in {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
