"""Progress bars of a load: one per file, on stderr, or nothing."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from funnelscope.store.readers import ProgressCallback


class LoadProgress:
    """A rich progress display (one task per file), or nothing when disabled."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Progress | None = None
        if enabled:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TextColumn("{task.fields[rows]:>12,} rows {task.fields[rate]:>9,.0f} rows/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),  # stdout stays clean for --format json/csv
                transient=False,
            )

    def __enter__(self) -> LoadProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def file(self, source: str, total_bytes: int | None) -> FileProgress:
        task = None
        if self._bar is not None:
            task = self._bar.add_task(f"reading {source}", total=total_bytes, rows=0, rate=0.0)
        return FileProgress(self._bar, task, source)


class FileProgress:
    def __init__(self, bar: Progress | None, task: TaskID | None, source: str) -> None:
        self._bar = bar
        self._task = task
        self._source = source

    def bytes_read(self, count: int, rows: int) -> None:
        if self._bar is not None and self._task is not None:
            elapsed = self._bar.tasks[self._task].elapsed or 0.0
            rate = rows / elapsed if elapsed > 0 else 0.0
            self._bar.update(self._task, completed=count, rows=rows, rate=rate)

    def step(self, what: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=f"{what} {self._source}")

    def done(self, ok: bool) -> None:
        if self._bar is not None and self._task is not None:
            total = self._bar.tasks[self._task].total
            what = "loaded" if ok else "failed"
            self._bar.update(self._task, completed=total or 1, total=total or 1)
            self.step(what)

    def callback(self) -> ProgressCallback | None:
        return self.bytes_read if self._bar is not None else None
