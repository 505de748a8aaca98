"""A load killed at any moment (SIGKILL: no cleanup runs) leaves nothing or all of the file, and
loading the file again afterwards gives exactly the file's events, each once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from funnelscope.store import EventStore

ROWS = 60_000
BAD_EVERY = 1_000  # one row in a thousand has no time: quarantined


def write_csv(path: Path) -> int:
    """A file of ROWS events, some of them bad; returns how many are good."""
    lines = ["user_id,event,timestamp,price"]
    good = 0
    for i in range(ROWS):
        time_text = (
            ""
            if i % BAD_EVERY == 7
            else f"2024-03-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"
        )
        good += bool(time_text)
        lines.append(f"p{i % 5000},e{i % 7},{time_text},{i % 100}")
    path.write_text("\n".join(lines) + "\n")
    return good


def ingest(db: Path, file: Path) -> subprocess.Popen[bytes]:
    code = (
        "import sys\nfrom funnelscope.cli.main import main\n"
        f"sys.exit(main(['ingest', {str(file)!r}, '--db', {str(db)!r}, '--no-progress']))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def state(db: Path) -> tuple[int, int, int, int]:
    """Events, distinct event ids, quarantined rows, registered loads."""
    with EventStore(db) as store:
        con = store.connection
        row = con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(DISTINCT event_id) FROM events), "
            "(SELECT count(*) FROM quarantine), (SELECT count(*) FROM loads)"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_load_killed_at_random_moments_leaves_nothing_or_all(tmp_path: Path) -> None:
    file = tmp_path / "events.csv"
    good = write_csv(file)
    bad = ROWS - good
    started = time.perf_counter()
    full = ingest(tmp_path / "timing.duckdb", file)
    assert full.wait() == 0
    duration = time.perf_counter() - started
    assert state(tmp_path / "timing.duckdb") == (good, good, bad, 1)

    rng = random.Random(13)
    outcomes = set()
    for attempt in range(5):
        db = tmp_path / f"killed{attempt}.duckdb"
        process = ingest(db, file)
        time.sleep(rng.uniform(0.05, 1.0) * duration)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        if not db.exists():
            outcomes.add("nothing")
            continue
        found = state(db)
        assert found in ((0, 0, 0, 0), (good, good, bad, 1)), found
        outcomes.add("nothing" if found[0] == 0 else "all")
        process = ingest(db, file)  # loading it again: exactly the file, each event once
        assert process.wait() == 0
        assert state(db) == (good, good, bad, 1)
    assert outcomes  # each kill left the store whole, whichever moment it hit


def test_a_file_loaded_again_with_more_memory_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from funnelscope.errors import IngestError
    from funnelscope.store import ingest as ingest_module

    file = tmp_path / "e.csv"
    file.write_text("person_id,event,timestamp\nu1,view,2024-01-01T10:00:00Z\n")
    real = ingest_module.Loader._ingest_file
    calls: list[str | None] = []

    def first_runs_out(self: Any, *args: Any) -> Any:
        limit = self._con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        calls.append(limit)
        if len(calls) == 1:  # as DuckDB's OutOfMemoryException under the load's budget
            raise ingest_module._NeedsMemory(
                IngestError(str(file), "could not load: out of memory")
            )
        return real(self, *args)

    monkeypatch.setattr(ingest_module.Loader, "_ingest_file", first_runs_out)
    with EventStore(tmp_path / "s.duckdb") as store:
        report = store.ingest([file])
    assert report.rows_loaded == 1
    assert report.files[0].notes == (ingest_module.NEEDED_MEMORY,)
    assert calls[0] == "488.2 MiB" and calls[1] != calls[0]  # 512MB, then DuckDB's default
