"""Parquet files read in place by the kernel give what loading them first gives.

`funnelscope funnel --events FILE.parquet` reads in place with the kernel engine and through an
in-memory store with the reference engine, so comparing the two engines' output on the same
files checks the in-place reader (ingest's parsing, rows left out, property typing) as well.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from funnelscope.cli.main import main

BASE = datetime(2024, 3, 1, tzinfo=UTC)
SPECS = {
    "ordered": {"steps": ["visit", "view", "buy"], "window": "30m"},
    "strict": {"steps": ["visit", "view", "buy"], "window": "30m", "order": "strict"},
    "any": {"steps": ["visit", "view", "buy"], "window": "30m", "order": "any"},
    "filters": {
        "steps": [
            {
                "event": "visit",
                "where": [{"property": "plan", "op": "in", "value": ["pro", "team"]}],
            },
            {"event": "view", "where": [{"property": "price", "op": "gt", "value": 20}]},
            {"event": "buy", "where": [{"property": "plan", "op": "contains", "value": "PR"}]},
        ],
        "window": "1h",
    },
    "repeated": {"steps": ["visit", "view", "visit", "buy"], "window": "1h"},
    "ranged": {
        "steps": ["visit", "view", "buy"],
        "window": "30m",
        "order": "strict",
        "date_range": {"from": "2024-03-01T00:30:00Z", "to": "2024-03-01T01:15:00+00:00"},
    },
}


def events(seed: int, persons: Any, times: str) -> pa.Table:
    """A shuffled log with ties, a few rows ingest rejects, and two property columns."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for p in range(300):
        start = BASE + timedelta(seconds=rng.randrange(0, 7200))
        for _ in range(rng.randint(1, 12)):
            at = start + timedelta(seconds=rng.randrange(0, 2400))
            rows.append(
                {
                    "user": persons(p),
                    "event": rng.choice(["visit", "view", "buy", "scroll"]),
                    "time": at,
                    "plan": rng.choice(["pro", "team", "free", None]),
                    "price": rng.choice([5.0, 20.0, 25.5, None]),
                }
            )
    rows += [
        {"user": None, "event": "visit", "time": BASE, "plan": "pro", "price": 1.0},
        {"user": persons(1), "event": None, "time": BASE, "plan": "pro", "price": 1.0},
        {"user": persons(2), "event": "view", "time": None, "plan": "pro", "price": 1.0},
    ]
    rng.shuffle(rows)
    if times == "text":
        for row in rows:
            if row["time"] is not None:
                row["time"] = row["time"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")
    return pa.Table.from_pylist(rows)


def funnel_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main(["funnel", *args, "--format", "json", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out), captured.err


@pytest.mark.parametrize("spec_name", sorted(SPECS))
@pytest.mark.parametrize(
    ("persons", "times"),
    [(lambda p: 1000 + p * 7, "typed"), (lambda p: f"u{p:04d}", "typed"), (str, "text")],
    ids=["int-persons", "text-persons", "text-times"],
)
def test_read_in_place_equals_loading_first(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    spec_name: str,
    persons: Any,
    times: str,
) -> None:
    path = tmp_path / "events.parquet"
    pq.write_table(events(7, persons, times), path)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPECS[spec_name]))
    files = ["--events", str(path)]
    kernel, kernel_err = funnel_json(tmp_path, capsys, str(spec), *files, "--engine", "kernel")
    reference, _ = funnel_json(tmp_path, capsys, str(spec), *files, "--engine", "reference")
    assert kernel == reference
    assert kernel["steps"][-1]["count"] > 0
    for step in (2, 3):
        for status in ("reached", "dropped"):
            people = [str(spec), *files, "--people", str(step), "--status", status]
            assert (
                funnel_json(tmp_path, capsys, *people, "--engine", "kernel")[0]
                == (funnel_json(tmp_path, capsys, *people, "--engine", "reference")[0])
            )
    if spec_name != "repeated":  # read in place: the rows ingest rejects are named
        assert "were left out" in kernel_err
        assert "events.parquet:" in kernel_err and "missing person_id" in kernel_err


def test_explain_says_where_events_come_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.parquet"
    table = events(3, lambda p: p, "typed")
    pq.write_table(table, path)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPECS["filters"]))
    assert main(["funnel", str(spec), "--events", str(path), "--explain"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("events: files read in place")
    assert "plan in ('pro', 'team'): pushed down as SQL (VARCHAR)" in out
    assert "price gt 20: distinct values tested in Python, 1 pass (25.5)" in out
    assert "Seq Scan" in out or "READ_PARQUET" in out.upper()

    with_ids = tmp_path / "with_ids.parquet"
    pq.write_table(
        table.append_column("event_id", pa.array([str(i) for i in range(len(table))])), with_ids
    )
    assert main(["funnel", str(spec), "--events", str(with_ids), "--explain", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("events: files loaded into a store in memory (the files carry event ids")


def test_naive_times_are_read_in_the_given_time_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """01:30 and 03:10 Berlin time on 2024-03-31 are 40 minutes apart (clocks jumped at 2:00)."""
    path = tmp_path / "local.parquet"
    local = [datetime(2024, 3, 31, 1, 30), datetime(2024, 3, 31, 3, 10)]
    pq.write_table(
        pa.table(
            {
                "user": [1, 1],
                "event": ["visit", "view"],
                "time": pa.array(local, pa.timestamp("us")),
            }
        ),
        path,
    )
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"steps": ["visit", "view"], "window": "1h"}))
    args = [str(spec), "--events", str(path), "--timezone", "Europe/Berlin"]
    for engine in ("kernel", "reference"):
        result, _ = funnel_json(tmp_path, capsys, *args, "--engine", engine)
        assert result["steps"][1]["count"] == 1
        assert result["steps"][1]["avg_seconds_from_previous"] == 2400.0
