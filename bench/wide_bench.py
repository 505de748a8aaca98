"""Wide-file benchmark: funnelscope ingest vs a bare DuckDB load of the same wide file.

Not a test. Run:  .venv/bin/python bench/wide_bench.py
Three files, each loaded by both contenders as a whole process (peak RSS measured from a bare
launcher, see ingest_bench.py), into a fresh store:
- a CSV of 500 columns x 10 rows, and one of 10,000 columns x 10 rows;
- JSON Lines of 100,000 rows whose properties are 3 of 3,000 sparse keys each.
The floor is DuckDB's CREATE TABLE AS read_csv / read_json (no validation, no types checked
value by value, no quarantine, no de-duplication).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
from pathlib import Path

from ingest_bench import run
from rich.console import Console
from rich.table import Table


def write_wide_csv(path: Path, width: int, rows: int) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["person_id", "event", "timestamp", *(f"prop_{i}" for i in range(width - 3))]
        )
        for r in range(rows):
            writer.writerow(
                [f"p{r}", "view", f"2024-01-0{1 + r % 9}T10:00:00Z"]
                + [str(r * i) if i % 3 else f"v{i}" for i in range(width - 3)]
            )


def write_sparse_jsonl(path: Path, rows: int, keys: int, per_row: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with path.open("w") as out:
        for r in range(rows):
            record: dict[str, object] = {
                "person_id": f"p{r % 10_000}",
                "event": rng.choice(["view", "signup", "buy"]),
                "timestamp": 1_700_000_000 + r,
            }
            for key in rng.sample(range(keys), per_row):
                record[f"key_{key}"] = rng.choice([rng.randint(0, 999), f"v{key}", True])
            out.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sparse-rows", type=int, default=100_000)
    args = parser.parse_args()
    funnelscope = str(Path(sys.executable).parent / "funnelscope")
    console = Console(width=max(110, Console().width))
    table = Table(title="Wide files (one run each, whole process)")
    for column in ("file", "contender", "s", "peak RSS MB", "x floor"):
        table.add_column(column, justify="left" if column in ("file", "contender") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = {
            "500 columns x 10 rows (CSV)": work / "w500.csv",
            "10,000 columns x 10 rows (CSV)": work / "w10000.csv",
            f"{args.sparse_rows:,} rows, 3,000 sparse keys (JSONL)": work / "sparse.jsonl",
        }
        paths = list(files.values())
        with console.status("writing the files"):
            write_wide_csv(paths[0], 500, 10)
            write_wide_csv(paths[1], 10_000, 10)
            write_sparse_jsonl(paths[2], args.sparse_rows, 3000, 3)
        for label, path in files.items():
            db = work / "bench.duckdb"
            reader = "read_json" if path.suffix == ".jsonl" else "read_csv"
            bare = (
                f"import duckdb; c = duckdb.connect({str(db)!r}); "
                f"c.execute(\"CREATE TABLE events AS SELECT * FROM {reader}('{path}')\")"
            )
            contenders = {
                "duckdb CTAS (floor)": [sys.executable, "-c", bare],
                "funnelscope ingest": [funnelscope, "ingest", str(path), "--db", str(db),
                                       "--no-progress"],
            }  # fmt: skip
            floor = None
            for name, cmd in contenders.items():
                for leftover in (db, Path(f"{db}.wal")):
                    leftover.unlink(missing_ok=True)
                console.print(f"{label}: {name}")
                seconds, rss = run(cmd)
                floor = floor or seconds
                table.add_row(label, name, f"{seconds:.2f}", f"{rss / 2**20:,.0f}",
                              f"{seconds / floor:.2f}")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
