"""Ingest benchmark: funnelscope ingest vs a bare DuckDB load of the same Parquet file.

Not a test. Run:  .venv/bin/python bench/ingest_bench.py --rows 10000000 [--format csv]
Each contender runs as a whole process, 3 times, into a fresh store (with the file's event ids,
and with ids derived from each row's content); the table shows the median
wall time, peak RSS and the ratio to the bare load (DuckDB CREATE TABLE AS read_parquet, which
does no validation, no time parsing, no de-duplication and no quarantine: the floor). A second
bare row writes the same file into the store's own ``events`` table (11 columns: the person's key
and the id it was sent with are stored on every row) with one INSERT and no check: what the
store's layout costs before funnelscope validates anything.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

EVENTS = [f"event_{i:02d}" for i in range(20)]


def make_events(rows: int, path: Path, seed: int = 1) -> None:
    """Seeded log: ~rows/10 persons, 20 event names, whole-second times, 2 properties."""
    rng = np.random.default_rng(seed)
    start = 1_700_000_000
    persons = rng.integers(0, max(1, rows // 10), rows)
    table = pa.table(
        {
            "event_id": pa.array(np.char.add("e", np.arange(rows).astype(str))),
            "person_id": pa.array(np.char.add("p", persons.astype(str))),
            "event": pa.array(np.array(EVENTS)[rng.integers(0, len(EVENTS), rows)]),
            "timestamp": pa.array(
                np.sort(rng.integers(start, start + 60 * 86400, rows)) * 1_000_000,
                type=pa.timestamp("us", tz="UTC"),
            ),
            "channel": pa.array(np.array(["ads", "seo", "email", "social"])[persons % 4]),
            "price": pa.array(np.round(rng.random(rows) * 100, 2)),
        }
    )
    pq.write_table(table, path, row_group_size=1_000_000)


LAUNCHER = """\
import os, sys, time
started = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(f"{time.perf_counter() - started} {usage.ru_maxrss} {status}")
"""


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one whole process.

    A bare Python launcher spawns and waits for the command: Linux starts a child's ru_maxrss at
    its parent's RSS, and this script holds the generated table, so measuring from here would
    put the table's memory under every figure.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report")
        subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(report), *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        elapsed, rss_kb, status = report.read_text().split()
    if int(status) != 0:
        raise SystemExit(f"{cmd[:3]} failed with status {status}")
    return float(elapsed), int(rss_kb) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--format", choices=["parquet", "csv"], default="parquet", help="the file loaded"
    )
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    console = Console(width=max(110, Console().width))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "events.parquet"
        no_ids = work / "events_without_ids.parquet"
        with console.status(f"writing {args.rows:,} events"):
            make_events(args.rows, data)
            pq.write_table(pq.read_table(data).drop_columns(["event_id"]), no_ids)
            if args.format == "csv":  # the same rows as CSV: what most exports are
                import duckdb

                for parquet in (data, no_ids):
                    csv_path = parquet.with_suffix(".csv")
                    duckdb.sql(f"COPY (FROM read_parquet('{parquet}')) TO '{csv_path}' (HEADER)")
                data, no_ids = data.with_suffix(".csv"), no_ids.with_suffix(".csv")
        reader = "read_csv" if args.format == "csv" else "read_parquet"
        db = work / "bench.duckdb"
        bare = (
            f"import duckdb; c = duckdb.connect({str(db)!r}); "
            f"c.execute(\"CREATE TABLE events AS SELECT * FROM {reader}('{data}')\")"
        )
        layout = (  # the store's own table, written with no check at all
            "import duckdb; from funnelscope.store.schema import create_schema; "
            f"c = duckdb.connect({str(db)!r}); c.execute(\"SET TimeZone = 'UTC'\"); "
            "create_schema(c); "
            "c.execute('ALTER TABLE events ADD COLUMN channel VARCHAR'); "
            "c.execute('ALTER TABLE events ADD COLUMN price DOUBLE'); "
            'c.execute("INSERT INTO events SELECT event_id, person_id, event, '
            "CAST(timestamp AS TIMESTAMP), NULL, 1, (hash(person_id) >> 1)::BIGINT, person_id, "
            f"NULL, channel, price FROM {reader}('{data}')\")"
        )
        contenders = {
            "duckdb CTAS (floor)": [sys.executable, "-c", bare],
            "duckdb INSERT, store layout, no checks": [sys.executable, "-c", layout],
            "funnelscope ingest (ids derived)": [
                str(bin_dir / "funnelscope"),
                "ingest",
                str(no_ids),
                "--db",
                str(db),
                "--no-progress",
            ],
            "funnelscope ingest": [
                str(bin_dir / "funnelscope"),
                "ingest",
                str(data),
                "--db",
                str(db),
                "--no-progress",
            ],
        }  # fmt: skip (funnelscope last: the re-ingest below reuses its store)
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in contenders}
        for i in range(args.runs):
            for name, cmd in contenders.items():
                for leftover in (db, Path(f"{db}.wal")):
                    leftover.unlink(missing_ok=True)
                console.print(f"run {i + 1}/{args.runs}: {name}")
                results[name].append(run(cmd))
        again = run(contenders["funnelscope ingest"])  # store already holds the file
        shutil.rmtree(work, ignore_errors=True)
    floor = statistics.median(t for t, _ in results["duckdb CTAS (floor)"])
    kind = args.format.upper() if args.format == "csv" else "Parquet"
    table = Table(title=f"Ingest {args.rows:,} {kind} rows (median of {args.runs}, whole process)")
    for column in ("contender", "median s", "peak RSS MB", "rows/s", "x floor"):
        table.add_column(column, justify="left" if column == "contender" else "right", no_wrap=True)
    for name, runs in results.items():
        median = statistics.median(t for t, _ in runs)
        rss = max(r for _, r in runs) / 2**20
        table.add_row(name, f"{median:.2f}", f"{rss:,.0f}", f"{args.rows / median:,.0f}",
                      f"{median / floor:.2f}")  # fmt: skip
    table.add_row("funnelscope re-ingest (all duplicates)", f"{again[0]:.2f}",
                  f"{again[1] / 2**20:,.0f}", f"{args.rows / again[0]:,.0f}",
                  f"{again[0] / floor:.2f}")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
