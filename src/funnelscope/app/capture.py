"""Live capture for `funnelscope serve`: tracking calls checked and made durable in the capture
log (store/capture/log.py), then folded into the store by a worker thread of the server
(store/capture/fold.py).

The server holds the store open (store/locking.py), so the worker folds on its own cursor of the
held connection; no other process writes the store meanwhile. :meth:`Capture.start` first folds
what an earlier run's log holds that the store lacks (after a crash), then starts the log's
writer and the worker. A request's events are acknowledged once their records are on disk
(:attr:`Submitted.durable`); the worker folds each closed segment within about a fold interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from funnelscope.store.capture import posthog, segment
from funnelscope.store.capture.records import (
    MAX_EVENT_BYTES,
    CaptureFormat,
    Rejected,
    check_size,
    record_lines,
)

FORMATS: Final[Mapping[str, CaptureFormat]] = {
    segment.NAME: segment.FORMAT,
    posthog.NAME: posthog.FORMAT,
}
KEY_CACHE_SECONDS: Final = 1.0  # a revoked key may capture for this long after revoking it
RETRY_SECONDS: Final = 5.0  # a failed fold is tried again after this long
_LOG: Final = logging.getLogger("funnelscope.capture")


@dataclass(frozen=True)
class Submitted:
    """A request's events: how many will be stored, the rejected ones (quarantined), and the
    future that completes once all of their records are durable."""

    accepted: int
    rejected: tuple[Rejected, ...]
    durable: Future[None]


@dataclass(frozen=True)
class CaptureStatus:
    log_directory: str
    log_bytes: int  # capture-log bytes on disk: acknowledged, not yet folded
    log_segments: int
    acknowledged: int  # records made durable since the server started
    folded: int  # records folded since the server started (with those found at start)
    stored: int  # events added to the store by those folds
    duplicates: int  # records whose id the store had already
    quarantined: int  # rejected events kept in the quarantine
    waiting: int  # acknowledged records not folded yet
    folds: int
    recovered: int  # records found in the log at start and folded then
    last_fold_at: str | None
    last_fold_seconds: float | None
    last_fold_error: str | None  # None once a fold succeeds again

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_log_directory(db_path: str) -> Path:
    """Where the capture log of a store lives unless told: beside it, ``STORE.capture/``."""
    return Path(f"{db_path}.capture")


class Capture:
    """The capture log and the fold worker of one server; see the module docstring."""

    def __init__(self, db_path: str, log_directory: Path, fold_interval: float = 1.0) -> None:
        from funnelscope.store.capture.log import CaptureLog

        self._db_path = db_path
        self._log = CaptureLog(log_directory, self._closed, rotate_seconds=fold_interval)
        self._cond = threading.Condition()
        self._queue: list[Any] = []  # closed segments to fold, oldest first
        self._queued_records = 0
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._seq = 1
        self._seq_lock = threading.Lock()
        self._keys: dict[str, tuple[str, float]] = {}
        self._key_con: Any = None
        self._fold_con: Any = None
        self._store: Any = None
        self.folded = self.stored = self.duplicates = self.quarantined = 0
        self.folds = self.recovered = 0
        self.last_fold_at: str | None = None
        self.last_fold_seconds: float | None = None
        self.last_fold_error: str | None = None

    # ------------------------------------------------------------ life

    def start(self) -> None:
        """Fold what the log holds from an earlier run, then take events (the store must be
        held open by this process: store/locking.py)."""
        from funnelscope.store import EventStore
        from funnelscope.store.capture.fold import create_tables, last_numbers
        from funnelscope.store.locking import held_cursor

        self._store = EventStore(self._db_path)
        self._fold_con = self._store.connection
        self._key_con = held_cursor(self._db_path) or self._store.connection.cursor()
        create_tables(self._fold_con)
        left = [replace(s, records=_count_lines(s.path)) for s in self._log.recover()]
        if left:
            self._queue = list(left)
            self._queued_records = recovered = sum(s.records or 0 for s in left)
            self._fold_waiting()
            if not self._queue:
                self.recovered = recovered
                _LOG.warning("folded %d captured records left in the log at start", recovered)
        last_segment, last_seq = last_numbers(self._fold_con)
        for left_segment in self._queue:  # not folded (the error is in the status): keep clear
            last_segment = max(last_segment, left_segment.number)
            last_seq = max(last_seq, _last_seq(left_segment.path))
        self._seq = last_seq + 1
        self._log.start(last_segment + 1)
        self._worker = threading.Thread(target=self._work, name="capture-fold", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Take no more events, close the open segment and fold everything waiting (what a
        failing fold leaves stays in the log for the next start)."""
        self._log.stop()
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._worker is not None:
            self._worker.join()
        for con in (self._key_con, self._store):
            if con is not None:
                con.close()

    # ------------------------------------------------------------ requests

    def key_kind(self, secret: str) -> str | None:
        """The kind of a live key (write, read, admin), None for anything else; a key found is
        remembered for KEY_CACHE_SECONDS (the capture path checks a key per request)."""
        from funnelscope.store.access import key_digest, kind_of_key

        digest = key_digest(secret)
        now = time.monotonic()
        known = self._keys.get(digest)
        if known is not None and known[1] > now:
            return known[0]
        kind = kind_of_key(self._key_con, secret)
        if kind is None:
            self._keys.pop(digest, None)
        else:
            if len(self._keys) > 1000:
                self._keys.clear()
            self._keys[digest] = (kind, now + KEY_CACHE_SECONDS)
        return kind

    def submit(
        self,
        fmt: str,
        body: Any,
        call: str | None,
        received_us: int,
        *,
        sent_at: str | None = None,
        body_bytes: int = 0,
    ) -> Submitted:
        """Check a request's events and queue their records for the log. Raises BodyError
        (no events: the body is not of the API's shape), TooLarge (an event beyond 32 KB:
        nothing is stored) and LogClosed (the server is stopping)."""
        capture_format = FORMATS[fmt]
        events = capture_format.events(body, call, sent_at)
        if body_bytes > MAX_EVENT_BYTES:
            for event in events:
                check_size(event.body, event.where)
        with self._seq_lock:
            first = self._seq
            self._seq += len(events)
        lines, accepted, rejected = record_lines(capture_format, events, received_us, first)
        durable = self._log.append(lines, len(events))
        return Submitted(accepted, tuple(rejected), durable)

    def status(self) -> CaptureStatus:
        from funnelscope.store.capture.log import list_segments

        on_disk = list_segments(self._log.directory) if self._log.directory.exists() else []
        with self._cond:
            waiting = self._queued_records + self._log.open_records
        return CaptureStatus(
            log_directory=str(self._log.directory),
            log_bytes=sum(s.size for s in on_disk),
            log_segments=len(on_disk),
            acknowledged=self._log.acknowledged,
            folded=self.folded,
            stored=self.stored,
            duplicates=self.duplicates,
            quarantined=self.quarantined,
            waiting=waiting,
            folds=self.folds,
            recovered=self.recovered,
            last_fold_at=self.last_fold_at,
            last_fold_seconds=self.last_fold_seconds,
            last_fold_error=self.last_fold_error,
        )

    # ------------------------------------------------------------ the fold worker

    def _closed(self, closed: Any) -> None:
        """The log closed a segment (on its writer thread): queue it for the worker."""
        with self._cond:
            self._queue.append(closed)
            self._queued_records += closed.records or 0
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return  # stopping, and everything is folded
                stopping = self._stopping
            if self._fold_waiting():
                continue
            if stopping:
                return  # the fold fails: what is left is folded at the next start
            with self._cond:  # try again later, unless told to stop
                self._cond.wait_for(lambda: self._stopping, timeout=RETRY_SECONDS)

    def _fold_waiting(self) -> bool:
        """Fold every queued segment in one transaction, then delete their files. False when
        the fold failed (the segments stay queued and on disk)."""
        from funnelscope.store.capture.fold import fold
        from funnelscope.store.capture.log import cut_after_last_line

        with self._cond:
            segments = list(self._queue)
        if not segments:
            return True
        try:
            for waiting in segments:  # a write that failed half-way left no whole record
                cut_after_last_line(waiting.path)
            report = fold(self._fold_con, [(s.number, s.path) for s in segments])
        except Exception as exc:  # a fold must never end the worker; the status shows it
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            self.last_fold_error = f"{type(exc).__name__}: {first_line}"[:500]
            _LOG.error("folding captured events failed (tried again): %s", self.last_fold_error)
            return False
        for folded in segments:
            folded.path.unlink(missing_ok=True)
        with self._cond:
            del self._queue[: len(segments)]
            self._queued_records -= sum(s.records or 0 for s in segments)
        self.folded += report.records
        self.stored += report.stored
        self.duplicates += report.duplicates
        self.quarantined += report.quarantined
        self.folds += 1
        self.last_fold_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.last_fold_seconds = round(report.seconds, 4)
        self.last_fold_error = None
        return True


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as file:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))


def _last_seq(path: Path) -> int:
    import orjson

    from funnelscope.store.capture.log import last_line

    line = last_line(path)
    try:
        return int(orjson.loads(line)["s"]) if line else 0
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return 0


def start_capture(db_path: str, log_directory: str | None, fold_interval: float) -> Capture:
    """Start capture for the store at `db_path` (held open by this process)."""
    directory = Path(log_directory) if log_directory else default_log_directory(db_path)
    capture = Capture(db_path, directory, fold_interval)
    capture.start()
    return capture
