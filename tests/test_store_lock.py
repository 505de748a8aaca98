"""A command that finds the store being written waits for the writer, saying so, and past
FUNNELSCOPE_WAIT fails with a message about funnelscope's options, not DuckDB's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from funnelscope.cli.main import main
from funnelscope.store import EventStore


def hold_store(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that opens the store for writing and keeps it for `seconds`."""
    code = (
        "import sys, time, duckdb\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "print('held', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "s.duckdb"
    events = tmp_path / "e.csv"
    events.write_text("user_id,event,timestamp\na,view,2024-03-01T10:00:00Z\n")
    with EventStore(path) as store:
        store.ingest([events])
    return path


def test_a_reader_waits_for_the_writer_and_then_reads(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FUNNELSCOPE_WAIT", "30")
    writer = hold_store(db, 1.5)
    started = time.monotonic()
    assert main(["sources", "--db", str(db), "--format", "json"]) == 0
    assert time.monotonic() - started >= 0.5
    err = capsys.readouterr().err
    assert "which is writing the store (0 of 30 s; FUNNELSCOPE_WAIT sets how long)" in err
    assert f"(PID {writer.pid})" not in err and f"process {writer.pid}" in err
    writer.wait()


def test_past_the_wait_the_message_names_funnelscopes_options(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FUNNELSCOPE_WAIT", "0.3")
    writer = hold_store(db, 5)
    try:
        assert main(["sources", "--db", str(db)]) == 1
    finally:
        writer.kill()
        writer.wait()
    err = capsys.readouterr().err
    assert f"is being written by process {writer.pid}" in err
    assert "FUNNELSCOPE_WAIT=600" in err and "--db COPY" in err
    assert "duckdb.org" not in err
