"""What happens around a funnel, timed beside the plain funnel: time to convert, the weekly
trend, segments of a breakdown, correlation drivers and paths after a drop, on funnel_bench's
seeded event log loaded into a store.

Not a test. Run:  .venv/bin/python bench/around_bench.py --events 50M [--runs 3]

Every row is a whole process on the same cached store (bench/data/store-N-seed1.duckdb, made by
`funnelscope ingest` the first time, as funnel_bench.py makes it), the 5-step ordered funnel in
7 days of funnel_bench.py. Beside them, the competitor: ClickHouse's windowFunnel (chdb) over
the same Parquet file for the plain funnel, which computes none of the extras. The table shows
the median wall time, the peak RSS and the ratio to the plain funnel on the store; one untimed
warm-up run of each comes first (numba compiles a kernel route on its first use, then caches
it on disk). chdb is in the bench extra: `make bench` installs it.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from funnel_bench import (  # the script's own folder is on sys.path
    CHDB_PROGRAM,
    FUNNELS,
    FUNNELSCOPE,
    chdb_sql,
    ensure_events,
    ensure_store,
    parse_count,
    run_process,
    short_count,
    write_spec,
)
from rich.console import Console
from rich.table import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=parse_count, default=parse_count("10M"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args()
    console = Console(width=max(110, Console().width))
    events, note = ensure_events(args.events, args.seed, console)
    console.print(note)
    store = ensure_store(events, args.events, args.seed, console, args.timeout)
    if store.error is not None:
        raise SystemExit(f"the store could not be loaded: {store.error}")
    funnel = FUNNELS["5"]
    spec = str(write_spec(funnel))
    db = ["--db", str(store.path)]
    fs = [*FUNNELSCOPE]
    rows: dict[str, list[str]] = {
        "funnelscope funnel (plain)": [*fs, "funnel", spec, *db, "--format", "json"],
        "+ time to convert": [*fs, "funnel", spec, *db, "--time-to-convert", "--format", "json"],
        "+ trend by week": [*fs, "funnel", spec, *db, "--trend", "week", "--format", "json"],
        "+ breakdown channel, segments": [
            *fs, "funnel", spec, *db, "--breakdown", "channel", "--segments", "--format", "json",
        ],
        "correlate (events, channel)": [
            *fs, "correlate", spec, *db, "--properties", "channel", "--format", "json",
        ],
        "paths --after-drop 2": [*fs, "paths", spec, *db, "--after-drop", "2", "--format", "json"],
        "chdb windowFunnel (plain funnel, Parquet)": [
            sys.executable, "-c", CHDB_PROGRAM, chdb_sql(events, funnel), str(len(funnel.steps)),
        ],
    }  # fmt: skip
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in rows}
    failed: dict[str, str] = {}
    for i in range(-1, args.runs):  # run -1 warms the compiled kernels' disk cache, not timed
        for name, cmd in rows.items():
            if name in failed:
                continue
            console.print(f"run {i + 1}/{args.runs}: {name}" if i >= 0 else f"warm-up: {name}")
            outcome = run_process(cmd, args.timeout)
            if outcome.error is not None:
                failed[name] = outcome.error
            elif i >= 0:
                results[name].append((outcome.seconds, outcome.rss))
    plain = statistics.median(t for t, _ in results["funnelscope funnel (plain)"])
    title = f"Around a funnel, {short_count(args.events)} events (median of {args.runs})"
    table = Table(title=title)
    for column in ("contender", "median s", "peak RSS MB", "x plain funnel"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, runs in results.items():
        if name in failed:
            table.add_row(name, "failed", failed[name], "")
            continue
        median = statistics.median(t for t, _ in runs)
        rss = max(r for _, r in runs) / 2**20
        table.add_row(name, f"{median:.2f}", f"{rss:,.0f}", f"{median / plain:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
