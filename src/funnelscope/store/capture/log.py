"""The capture log: an append-only directory of segment files beside the store, one JSON record
per line (store/capture/records.py), written with group commit.

A request hands its records to :meth:`CaptureLog.append` and waits on the future it gets back.
One writer thread takes every request waiting, writes their bytes with one ``write`` and makes
them durable with one ``fdatasync``, then completes all their futures: requests arriving while a
sync runs share the next one. A request is acknowledged only after that.

The open segment is closed once it is ``rotate_seconds`` old (or ``rotate_bytes`` large) and
handed to ``on_closed``, which folds it into the store (store/capture/fold.py) and then deletes
it. After a crash every segment left is closed: :meth:`CaptureLog.recover` cuts each one after
its last whole line (a record cut short was never acknowledged) and returns them to be folded.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SUFFIX: Final = ".jsonl"
DEFAULT_ROTATE_SECONDS: Final = 1.0
DEFAULT_ROTATE_BYTES: Final = 64 * 1024 * 1024
_TAIL: Final = 64 * 1024  # bytes read at a time when looking for a segment's last line


@dataclass(frozen=True)
class Segment:
    """A closed segment: its number (rising for good), file, size and records (None when not
    counted: a segment found at start)."""

    number: int
    path: Path
    size: int
    records: int | None


class LogClosed(RuntimeError):
    """The log takes no more records (the server is stopping)."""


@dataclass
class _Waiting:
    data: bytes
    records: int
    done: Future[None]


def segment_path(directory: Path, number: int) -> Path:
    return directory / f"{number:012d}{SUFFIX}"


def segment_number(path: Path) -> int | None:
    stem = path.name.removesuffix(SUFFIX)
    return int(stem) if path.name.endswith(SUFFIX) and stem.isdigit() else None


def list_segments(directory: Path) -> list[Segment]:
    """The segment files in `directory`, oldest first."""
    found = []
    for path in directory.glob(f"*{SUFFIX}"):
        number = segment_number(path)
        if number is not None:
            found.append(Segment(number, path, path.stat().st_size, None))
    return sorted(found, key=lambda s: s.number)


def cut_after_last_line(path: Path) -> int:
    """Truncate `path` after its last newline (a crash may have left part of a record, never
    acknowledged); returns the size kept."""
    with path.open("r+b") as file:
        end = file.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(0, position - _TAIL)
            file.seek(start)
            chunk = file.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        else:
            keep = 0
        if keep != end:
            file.truncate(keep)
            file.flush()
            os.fsync(file.fileno())
    return keep


def last_line(path: Path) -> bytes | None:
    """The last whole line of a segment (None when it has none)."""
    with path.open("rb") as file:
        end = file.seek(0, os.SEEK_END)
        start = max(0, end - _TAIL)
        file.seek(start)
        lines = file.read().rstrip(b"\n").rsplit(b"\n", 1)
    return lines[-1] if lines and lines[-1] else None


class CaptureLog:
    """Segments in `directory`, appended with group commit by one writer thread."""

    def __init__(
        self,
        directory: Path,
        on_closed: Callable[[Segment], None],
        rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
    ) -> None:
        self.directory = directory
        self._on_closed = on_closed
        self._rotate_seconds, self._rotate_bytes = rotate_seconds, rotate_bytes
        self._cond = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._next_number = 1
        self._fd: int | None = None
        self._number = 0
        self._size = self._records = 0
        self._opened_at = 0.0
        self.acknowledged = 0  # records made durable since the log started
        self.syncs = 0  # fdatasync calls (each acknowledges every request waiting)

    def recover(self) -> list[Segment]:
        """Make the directory (owner only: events may be personal data); cut every segment
        left by an earlier run after its last whole line and return them, oldest first."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        left = []
        for segment in list_segments(self.directory):
            size = cut_after_last_line(segment.path)
            left.append(Segment(segment.number, segment.path, size, None))
        return left

    def start(self, next_number: int) -> None:
        """Start the writer; new segments are numbered from `next_number`."""
        self._next_number = next_number
        self._thread = threading.Thread(target=self._run, name="capture-log", daemon=True)
        self._thread.start()

    def append(self, data: bytes, records: int) -> Future[None]:
        """Queue `data` (whole lines); the future completes once it is on disk (or fails with
        the OSError that kept it off)."""
        done: Future[None] = Future()
        if not data:
            done.set_result(None)
            return done
        with self._cond:
            if self._stopping:
                raise LogClosed("the server is stopping")
            self._waiting.append(_Waiting(data, records, done))
            self._cond.notify()
        return done

    def stop(self) -> None:
        """Write what is queued, close the open segment (handed to ``on_closed``), stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def open_bytes(self) -> int:
        """Bytes in the open segment (acknowledged, not yet handed on to be folded)."""
        return self._size

    @property
    def open_records(self) -> int:
        return self._records

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # never leave a request waiting on a writer that died
            with self._cond:
                self._stopping = True
                waiting, self._waiting = self._waiting, []
            for w in waiting:
                w.done.set_exception(OSError(f"the capture log's writer stopped: {exc!r}"))
            raise

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    wait = self._until_rotation()
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                waiting, self._waiting = self._waiting, []
                stopping = self._stopping
            if waiting:
                self._write(waiting)
            due = self._until_rotation()
            if self._fd is not None and (stopping or (due is not None and due <= 0)):
                self._close_segment()
            if stopping:
                with self._cond:
                    if not self._waiting:
                        return

    def _until_rotation(self) -> float | None:
        if self._fd is None:
            return None
        if self._size >= self._rotate_bytes:
            return 0.0
        return self._opened_at + self._rotate_seconds - time.monotonic()

    def _write(self, waiting: list[_Waiting]) -> None:
        data = b"".join(w.data for w in waiting)
        try:
            if self._fd is None:
                self._open_segment()
            assert self._fd is not None
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fdatasync(self._fd)
        except OSError as exc:
            self._undo_partial_write()
            for w in waiting:
                w.done.set_exception(exc)
            return
        records = sum(w.records for w in waiting)
        self._size += len(data)
        self._records += records
        self.acknowledged += records
        self.syncs += 1
        for w in waiting:
            w.done.set_result(None)

    def _undo_partial_write(self) -> None:
        """After a failed write, cut the segment back to its last acknowledged byte."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:  # the disk is failing: start a new segment next time
            self._close_segment()

    def _open_segment(self) -> None:
        number = self._next_number
        path = segment_path(self.directory, number)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._next_number = number + 1
        self._number, self._size, self._records = number, 0, 0
        self._opened_at = time.monotonic()
        directory = os.open(self.directory, os.O_RDONLY)
        try:  # the new file's name is durable too
            os.fsync(directory)
        finally:
            os.close(directory)

    def _close_segment(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        path = segment_path(self.directory, self._number)
        closed = Segment(self._number, path, self._size, self._records)
        self._size = self._records = 0
        if closed.size:
            self._on_closed(closed)
        else:
            path.unlink(missing_ok=True)
