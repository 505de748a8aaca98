"""Opening a store another process is writing: wait for it, saying so, instead of failing.

DuckDB lets one process write a database file, and no other process open it meanwhile. A
command that finds the store locked (usually by `funnelscope ingest`) waits, retrying, for up to
``FUNNELSCOPE_WAIT`` seconds (default 60), reporting the wait through the hook a face installs
(:func:`funnelscope.waits.report_waits_to`); past that it fails with a message about
funnelscope's options.

In a process that holds the store open for its whole life (the web server: :func:`held_open`),
every open of that path is instead a cursor of the held connection. DuckDB lets one process
hold a database file, so a server that answers requests and folds captured events into the
store at once opens it once and gives each reader and writer its own cursor (a cursor sees
every committed write, and threads may use their cursors at the same time); `EventStore(path)`
and every app function then work unchanged inside the server.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import duckdb

from funnelscope.errors import FunnelscopeError
from funnelscope.waits import report_wait

DEFAULT_WAIT_SECONDS: Final = 60.0
_HOLDER: Final = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def wait_seconds() -> float:
    """How long to wait for a locked store: ``FUNNELSCOPE_WAIT`` seconds, default 60."""
    text = os.environ.get("FUNNELSCOPE_WAIT", "")
    try:
        return max(0.0, float(text)) if text else DEFAULT_WAIT_SECONDS
    except ValueError as exc:
        raise FunnelscopeError(
            f"FUNNELSCOPE_WAIT={text!r} is not a number of seconds; set it to e.g. 600"
        ) from exc


def connect(path: str | Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the store, waiting while another process holds it (see the module docstring); in a
    process that holds the store open (the web server, store/shared.py) a cursor of that."""
    cursor = held_cursor(path)
    if cursor is not None:
        return cursor
    allowed = wait_seconds()
    started = time.monotonic()
    pause = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            holder = _holder(str(exc))
            if holder is None:
                raise
            waited = time.monotonic() - started
            if waited >= allowed:
                raise FunnelscopeError(
                    f"the event store {path} is being written by {holder} and stayed locked "
                    f"for {waited:.0f} s; run this again when that finishes (a load shows its "
                    "progress with funnelscope ingest --progress), wait longer with "
                    "FUNNELSCOPE_WAIT=600, or work on a copy: cp the store file and pass "
                    "--db COPY"
                ) from exc
            report_wait(holder, waited, allowed)
            time.sleep(min(pause, max(0.0, allowed - waited)))
            pause = min(pause * 2, 1.0)


def _holder(message: str) -> str | None:
    """Who holds the lock, from DuckDB's message ("process 1234 (python3)"), or None when the
    error is not a lock conflict."""
    if "Could not set lock" not in message:
        return None
    found = _HOLDER.search(message)
    if found is None:
        return "another process"
    program = Path(found.group(1)).name
    return f"process {found.group(2)} ({program})"


_HELD: dict[str, duckdb.DuckDBPyConnection] = {}  # resolved path -> the held connection
_LOCK = threading.Lock()


def _key(path: str | Path) -> str:
    return str(Path(path).resolve())


@contextmanager
def held_open(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the store file at `path` read-write for the block and share it with every store
    opened on that path in this process meanwhile."""
    if str(path) == ":memory:":
        raise ValueError("a store in memory cannot be shared: give a file")
    con = connect(path, read_only=False)
    key = _key(path)
    with _LOCK:
        if key in _HELD:
            con.close()
            raise RuntimeError(f"the store {path} is already held open in this process")
        _HELD[key] = con
    try:
        yield con
    finally:
        with _LOCK:
            del _HELD[key]
        con.close()


def held_cursor(path: str | Path) -> duckdb.DuckDBPyConnection | None:
    """A new cursor of the connection holding `path` open, or None when none does."""
    if str(path) == ":memory:":
        return None
    with _LOCK:
        con = _HELD.get(_key(path))
        return None if con is None else con.cursor()


def is_held(path: str | Path) -> bool:
    with _LOCK:
        return str(path) != ":memory:" and _key(path) in _HELD
