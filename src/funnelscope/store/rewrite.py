"""Rewriting a store file so that deleted values leave it.

DuckDB marks deleted rows and frees their blocks, but it does not overwrite them: until a block
is reused, the bytes of a deleted value stay in the file (CHECKPOINT reclaims space only in part,
and VACUUM does not reclaim deletes). A rewrite copies every table, sequence and their contents
into a fresh file with ``COPY FROM DATABASE`` (which writes live rows only), forces it to disk
and renames it over the old file in one step, so the store is always either the old file or the
new one, never half of each.

The caller closes its own connection first, after a CHECKPOINT: the write-ahead log (``.wal``)
then holds nothing, and a log left beside the new file would be replayed into it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from funnelscope.errors import FunnelscopeError
from funnelscope.store.sql_text import sql_string


@dataclass(frozen=True)
class Rewrite:
    """What a rewrite did: the file's size before and after (bytes), and how long it took."""

    bytes_before: int
    bytes_after: int
    seconds: float


def wal_of(path: Path) -> Path:
    """The write-ahead log DuckDB keeps beside the database file."""
    return path.with_name(path.name + ".wal")


def rewrite_file(path: Path) -> Rewrite:
    """Copy the closed DuckDB file at ``path`` into a fresh file and put it in its place.

    Only live rows are written, so deleted values are not in the new file. The old file's
    write-ahead log must be empty (checkpointed); the new file is fsynced before it is renamed
    over the old one and the directory after, so a crash leaves one whole store.
    """
    started = time.perf_counter()
    wal = wal_of(path)
    if wal.exists() and wal.stat().st_size:
        raise FunnelscopeError(
            f"cannot rewrite {path}: its write-ahead log {wal} is not empty; "
            "close every program using the store and run the command again"
        )
    before = path.stat().st_size
    fresh = path.with_name(path.name + ".rewrite")
    spill = path.with_name(path.name + ".rewrite.tmp")
    _remove(fresh, wal_of(fresh))
    con = duckdb.connect(":memory:")
    failure: duckdb.Error | None = None
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET temp_directory = {sql_string(str(spill))}")
        con.execute(f"ATTACH {sql_string(str(path))} AS fs_old (READ_ONLY)")
        con.execute(f"ATTACH {sql_string(str(fresh))} AS fs_new")
        con.execute("COPY FROM DATABASE fs_old TO fs_new")
        con.execute("CHECKPOINT fs_new")
        con.execute("DETACH fs_new")
        con.execute("DETACH fs_old")
    except duckdb.Error as exc:
        failure = exc
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    if failure is not None:
        _remove(fresh, wal_of(fresh))
        raise FunnelscopeError(
            f"cannot rewrite {path}: {str(failure).splitlines()[0]}; nothing was lost, but the "
            "deleted values may still be in the file: run the command again to rewrite it"
        ) from failure
    if wal_of(fresh).exists():  # a checkpointed, detached database leaves no log
        _remove(fresh, wal_of(fresh))
        raise FunnelscopeError(f"cannot rewrite {path}: the new file kept a write-ahead log")
    _fsync(fresh)
    os.replace(fresh, path)
    _fsync_directory(path.parent)
    _remove(wal)  # an empty log of the old file; DuckDB starts a new one when needed
    return Rewrite(before, path.stat().st_size, time.perf_counter() - started)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX; where directories cannot be opened this is skipped)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
