"""`funnelscope ingest/quarantine/funnel --db chdb:DIR`: an embedded ClickHouse store on disk.

chdb runs one engine per process, at one path, and the test process's engine is in memory
(the engine tests and the HTTP shim use it), so each command runs as its own process here, as a
user runs it: the store must persist between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("chdb")

from funnelscope.app.events import LoadOptions, ingest_files
from funnelscope.app.funnels import EventInput, compute_funnel
from funnelscope.model.spec import Funnel
from funnelscope.store import ColumnMapping

from test_clickhouse_server import SPECS, write_csv

SRC = str(Path(__file__).resolve().parent.parent / "src")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "funnelscope.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_ingest_quarantine_and_a_second_run(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "events.csv")
    db = f"chdb:{tmp_path / 'ch'}"
    first = cli("ingest", str(csv), "--db", db)
    assert first.returncode == 0, first.stderr
    assert f"{csv}: 10 loaded, 0 duplicates skipped, 2 quarantined (of 12 rows)" in first.stderr
    assert f"  {csv}:6: unparseable time 'not-a-time' in column 'timestamp'" in first.stderr
    assert f"  {csv}:7: missing person_id (column 'person_id')" in first.stderr
    assert f"10 events in {db}" in first.stderr
    again = cli("ingest", str(csv), "--db", db)
    assert again.returncode == 0, again.stderr
    assert f"{csv}: 0 loaded, 10 duplicates skipped, 2 quarantined (of 12 rows)" in again.stderr
    assert f"10 events in {db}" in again.stderr
    listed = cli("quarantine", "--db", db, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert rows["total"] == 2
    assert [(r["source"], r["line"]) for r in rows["rows"]] == [(str(csv), 6), (str(csv), 7)]


def test_a_funnel_over_chdb_equals_the_kernel_on_duckdb(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "events.csv")
    db = f"chdb:{tmp_path / 'ch'}"
    assert cli("ingest", str(csv), "--db", db).returncode == 0
    duck = str(tmp_path / "store.duckdb")
    ingest_files(duck, [str(csv)], LoadOptions())
    for n, spec in enumerate(SPECS):
        path = tmp_path / f"spec{n}.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        got = cli("funnel", str(path), "--db", db, "--format", "json")
        assert got.returncode == 0, got.stderr
        expected = compute_funnel(Funnel.from_dict(spec), EventInput(duck), "kernel")
        assert [s["count"] for s in json.loads(got.stdout)["steps"]] == [
            s.count for s in expected.result.steps
        ], spec
    path = tmp_path / "spec0.json"
    people = cli("funnel", str(path), "--db", db, "--people", "2", "--format", "json")
    assert json.loads(people.stdout)["people"] == ["u1", "u3"]
    refused = cli("funnel", str(path), "--db", db, "--engine", "kernel")
    assert refused.returncode == 1
    assert "leave --engine out" in refused.stderr
    other = cli("sources", "--db", db)
    assert other.returncode == 1
    assert "offers ingest, quarantine and funnel" in other.stderr


STITCHED = (
    "user_id,anon_id,event,timestamp\n"
    ",a1,view,2024-01-01T09:00:00Z\n"
    "u1,a1,signup,2024-01-01T09:30:00Z\n"
    ",a2,view,2024-01-01T09:00:00Z\n"
    "u2,,signup,2024-01-01T10:00:00Z\n"
)


def test_identities_stitch_at_load_time_as_in_the_duckdb_store(tmp_path: Path) -> None:
    csv = tmp_path / "stitched.csv"
    csv.write_text(STITCHED, encoding="utf-8")
    db = f"chdb:{tmp_path / 'ch'}"
    flags = ("--person-col", "user_id", "--device-col", "anon_id")
    loaded = cli("ingest", str(csv), "--db", db, *flags)
    assert loaded.returncode == 0, loaded.stderr
    duck = str(tmp_path / "store.duckdb")
    mapping = ColumnMapping(person_col="user_id", device_col="anon_id")
    ingest_files(duck, [str(csv)], LoadOptions(mapping))
    spec = tmp_path / "f.json"
    spec.write_text(json.dumps({"steps": ["view", "signup"], "window": "1d"}), encoding="utf-8")
    got = json.loads(cli("funnel", str(spec), "--db", db, "--format", "json").stdout)
    expected = compute_funnel(Funnel.from_dict(json.loads(spec.read_text())), EventInput(duck))
    counts = [s["count"] for s in got["steps"]]
    assert counts == [s.count for s in expected.result.steps] == [2, 1]  # a1 is u1; a2 alone
    # a later file linking a2 (whose events are stored under a2) to u2 is refused, not ignored
    late = tmp_path / "late.csv"
    late.write_text("user_id,anon_id,event,timestamp\nu2,a2,buy,2024-01-02T10:00:00Z\n")
    refused = cli("ingest", str(late), "--db", db, *flags)
    assert refused.returncode == 1
    assert "links ids whose events are stored already to another person ('a2')" in refused.stderr
    assert "nothing was loaded" in refused.stderr
    assert "4 events" not in refused.stderr
    after = json.loads(cli("funnel", str(spec), "--db", db, "--format", "json").stdout)
    assert [s["count"] for s in after["steps"]] == [2, 1]
