"""Breakdown cost: the 5-step benchmark funnel with and without a 6-value breakdown.

Runs `funnelscope funnel` (kernel engine, the store made by bench/funnel_bench.py) as whole
processes, 3 times each, and prints the median time, peak RSS and the ratio to the plain
funnel, with ClickHouse (chdb) windowFunnel grouped by the first-touch channel beside it.
Target (issue 4): breakdown within 1.3x of the plain funnel.

    .venv/bin/python bench/breakdown_bench.py --events 50M
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).parent
TARGET = 1.3


def run(command: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and stdout of one process (GNU time reads the RSS)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, check=True
    )
    took = time.perf_counter() - started
    return took, int(done.stderr.strip().splitlines()[-1]) / 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="10M", help="10M or 50M (store from funnel_bench.py)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = int(float(args.events.rstrip("M")) * 1_000_000)
    store = ROOT / "data" / f"store-{n}-seed7.duckdb"
    parquet = ROOT / "data" / f"events-{n}-seed7.parquet"
    if not store.exists():
        sys.exit(f"{store} is missing: run `make bench EVENTS={args.events}` first")
    specs = ROOT / "data" / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    steps = "".join(
        f"  - event: {s}\n" for s in ("visit", "view_item", "add_to_cart", "checkout", "purchase")
    )
    plain = specs / "bench-5.yaml"
    plain.write_text(f"name: bench-5\norder: ordered\nwindow: 7d\nsteps:\n{steps}")
    split = specs / "bench-5-breakdown.yaml"
    split.write_text(plain.read_text() + "breakdown: {property: channel, limit: 10}\n")
    exe = str(Path(sys.executable).parent / "funnelscope")
    chdb_sql = (
        "SELECT ch, countIf(level >= 1), countIf(level >= 5) FROM (SELECT person_id, "
        "argMin(channel, timestamp) AS ch, windowFunnel(604800)(toUnixTimestamp(timestamp), "
        "event = 'visit', event = 'view_item', event = 'add_to_cart', event = 'checkout', "
        f"event = 'purchase') AS level FROM file('{parquet}', Parquet) GROUP BY person_id) "
        "GROUP BY ch ORDER BY ch SETTINGS schema_inference_make_columns_nullable = 0"
    )
    reads = ["--db", str(store), "--format", "json"]
    contenders = {
        "funnelscope plain": [exe, "funnel", str(plain), *reads],
        "funnelscope breakdown": [exe, "funnel", str(split), *reads],
        "chdb windowFunnel by channel*": [
            sys.executable, "-c", f"import chdb; print(chdb.query({chdb_sql!r}, 'CSV'))"
        ],
    }  # fmt: skip
    console = Console()
    rows = {}
    for name, command in contenders.items():
        with console.status(f"{name}: {args.runs} runs"):
            results = [run(command) for _ in range(args.runs)]
        rows[name] = (
            statistics.median(r[0] for r in results),
            max(r[1] for r in results),
            results[-1][2],
        )
    counts = json.loads(rows["funnelscope breakdown"][2])
    total = [s["count"] for s in counts["steps"]]
    summed = [sum(b["steps"][k]["count"] for b in counts["breakdown"]) for k in range(5)]
    base = rows["funnelscope plain"][0]
    table = Table(title=f"breakdown by channel, {args.events} events, median of {args.runs}")
    for column in ("contender", "seconds", "peak RSS MB", "x plain"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, (seconds, rss, _) in rows.items():
        table.add_row(name, f"{seconds:.2f}", f"{rss:,.0f}", f"{seconds / base:.2f}")
    console.print(table)
    ratio = rows["funnelscope breakdown"][0] / base
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    console.print(f"breakdown / plain = {ratio:.2f} (target <= {TARGET}): {verdict}")
    console.print(f"values add up to the total at every step: {summed == total} ({total})")
    console.print(
        "* chdb's argMin(channel) is the person's first channel, not the first touch of the "
        "counted attempt: shown for scale, its counts are not comparable"
    )


if __name__ == "__main__":
    main()
