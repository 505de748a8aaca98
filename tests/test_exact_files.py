"""A file name is never a glob pattern: `x*.parquet` reads that file, not `xa.parquet` too.

DuckDB expands `*`, `?` and `[...]` in every path given to its readers; funnelscope escapes
them or reads through pyarrow (store/exact_files.py). Each test puts files the name would match
next to the named one, with other events, so reading any of them shows in the counts.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from funnelscope.cli.main import main
from funnelscope.store import EventStore
from funnelscope.store.exact_files import escape_glob, parquet_scan
from funnelscope.store.reports import ReportMapping, read_report

BASE = datetime(2024, 3, 1, tzinfo=UTC)

# (the named file, files its name matches as a pattern)
NAMES = [
    ("x*.parquet", ["xa.parquet", "xb.parquet"]),
    ("a[1].parquet", ["a1.parquet"]),
    ("events?.parquet", ["events1.parquet", "eventsA.parquet"]),
    ("[!x]*.parquet", ["y.parquet"]),
    ("d*/**/e.parquet", ["dz/e.parquet", "d*/sub/e.parquet"]),
]
if sys.platform != "win32":  # DuckDB's glob cannot see a backslash name: read through pyarrow
    NAMES.append(("b\\*.parquet", ["bz.parquet"]))


def journeys(persons: int, offset: int) -> pa.Table:
    """`persons` people who visit then buy; person ids start at `offset` (files never share)."""
    rows: list[dict[str, Any]] = []
    for p in range(persons):
        at = BASE + timedelta(minutes=p)
        rows.append({"user": f"u{offset + p}", "event": "visit", "time": at})
        rows.append({"user": f"u{offset + p}", "event": "buy", "time": at + timedelta(minutes=1)})
    return pa.Table.from_pylist(rows)


def lay_out(tmp_path: Path, named: str, others: list[str]) -> Path:
    """The named file with 2 persons; each other file with 5 more."""
    for i, other in enumerate(others):
        (tmp_path / other).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(journeys(5, 100 * (i + 1)), tmp_path / other)
    path = tmp_path / named
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(journeys(2, 0), path)
    return path


@pytest.mark.parametrize(("named", "others"), NAMES, ids=[n for n, _ in NAMES])
def test_ingest_reads_only_the_named_file(tmp_path: Path, named: str, others: list[str]) -> None:
    path = lay_out(tmp_path, named, others)
    with EventStore(":memory:") as store:
        report = store.ingest([str(path)])
        assert report.rows_loaded == 4
        people = store.connection.execute(
            "SELECT DISTINCT person_id FROM events ORDER BY 1"
        ).fetchall()
        assert people == [("u0",), ("u1",)]
        for left in ("_fs_stage", "_fs_exact_parquet"):  # staging and any Arrow table behind it
            with pytest.raises(duckdb.CatalogException):
                store.connection.execute(f"SELECT count(*) FROM {left}")


@pytest.mark.parametrize(("named", "others"), NAMES, ids=[n for n, _ in NAMES])
@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_funnel_events_reads_only_the_named_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    named: str,
    others: list[str],
    engine: str,
) -> None:
    """The kernel reads Parquet in place, the reference loads it into a store first."""
    path = lay_out(tmp_path, named, others)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"steps": ["visit", "buy"], "window": "1h"}))
    args = ["funnel", str(spec), "--events", str(path), "--engine", engine]
    assert main([*args, "--format", "json", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [step["count"] for step in result["steps"]] == [2, 2]


def test_explain_of_an_escaped_name_still_reads_parquet_natively(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = lay_out(tmp_path, "x*.parquet", ["xa.parquet"])
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"steps": ["visit", "buy"], "window": "1h"}))
    assert main(["funnel", str(spec), "--events", str(path), "--explain"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("events: files read in place")
    assert "READ_PARQUET" in out  # DuckDB's own reader, not an Arrow table


def test_the_escape_matches_only_the_literal_name(tmp_path: Path) -> None:
    lay_out(tmp_path, "a[1]?*.parquet", ["a1xy.parquet", "a[1]?z.parquet"])
    pattern = escape_glob(str(tmp_path / "a[1]?*.parquet"))
    assert pattern.endswith("a[[]1][?][*].parquet")
    found = duckdb.connect().execute("SELECT file FROM glob(?)", [pattern]).fetchall()
    assert found == [(str(tmp_path / "a[1]?*.parquet"),)]


def test_a_plain_name_is_read_natively_and_a_backslash_name_through_arrow(tmp_path: Path) -> None:
    con = duckdb.connect()
    plain = lay_out(tmp_path, "plain.parquet", [])
    scan = parquet_scan(con, plain, "unused")
    assert scan.registered is None and scan.sql.startswith("read_parquet(")
    if sys.platform == "win32":
        return
    odd = lay_out(tmp_path, "c\\?.parquet", ["cz.parquet"])
    scan = parquet_scan(con, odd, "_odd")
    assert scan.registered == "_odd"
    rows = con.execute(f"SELECT file_row_number, user FROM {scan.sql} LIMIT 2").fetchall()
    assert rows == [(0, "u0"), (1, "u0")]


def test_a_report_file_named_like_a_pattern_reads_only_itself(tmp_path: Path) -> None:
    mapping = ReportMapping(stages=("impressions", "clicks"))
    for name, clicks in [("r*.parquet", 1), ("ra.parquet", 10), ("rb.parquet", 100)]:
        table = pa.table({"Day": ["2024-03-01"], "Impressions": [1000], "Clicks": [clicks]})
        pq.write_table(table, tmp_path / name)
    (tmp_path / "r*.csv").write_text("Day,Impressions,Clicks\n2024-03-01,1000,2\n")
    (tmp_path / "ra.csv").write_text("Day,Impressions,Clicks\n2024-03-01,1000,20\n")
    assert read_report(tmp_path / "r*.parquet", mapping).values["clicks"].tolist() == [1.0]
    assert read_report(tmp_path / "r*.csv", mapping).values["clicks"].tolist() == [2.0]
