"""Loading CRM exports into the store and opening the pipeline for the analyses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from funnelscope.app.events import open_store
from funnelscope.errors import FunnelscopeError, SpecError
from funnelscope.model.deals import CrmData
from funnelscope.model.pipeline_settings import PipelineSettings, load_settings
from funnelscope.store.crm.load import CrmFileReport, load_crm_file
from funnelscope.store.crm.read import read_crm

if TYPE_CHECKING:
    from funnelscope.store import EventStore


@dataclass(frozen=True)
class PipelineLoad:
    files: tuple[CrmFileReport, ...]

    def to_dict(self) -> dict[str, object]:
        return {"files": [f.to_dict() for f in self.files]}

    def rows(self) -> list[dict[str, object]]:
        return [
            {k: v for k, v in f.to_dict().items() if k != "quarantined_rows"} for f in self.files
        ]


def zone_named(name: str | None) -> tzinfo:
    """A time zone by IANA name (None: UTC)."""
    if name is None or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SpecError(
            "--timezone", f"{name!r} is not a time zone", "use an IANA name like Europe/Berlin"
        ) from None


def load_pipeline_files(
    paths: Sequence[str | Path],
    db_path: str,
    *,
    layout: str | None = None,
    timezone: str | None = None,
    on_file: Callable[[CrmFileReport], None] | None = None,
) -> PipelineLoad:
    """Load each file in its own transaction; a file that cannot be read at all stops the
    command with its error after the files before it were kept."""
    zone = zone_named(timezone)
    reports = []
    store = open_store_for_writing(db_path)
    try:
        for path in paths:
            report = load_crm_file(
                store.connection, Path(path), layout=layout, zone=zone, source=str(path)
            )
            reports.append(report)
            if on_file is not None:
                on_file(report)
    finally:
        store.close()
    return PipelineLoad(tuple(reports))


def open_store_for_writing(db_path: str) -> EventStore:
    from funnelscope.store import EventStore

    return EventStore(db_path)


def settings_from(
    path: str | Path | None, settings: PipelineSettings | None = None
) -> PipelineSettings:
    """The settings given as a value (the web face's JSON, parsed), or read from `path` (the
    CLI's --settings), or the defaults."""
    if settings is not None:
        if path is not None:
            raise SpecError("--settings", "given twice", "give a settings file or settings")
        return settings
    return PipelineSettings() if path is None else load_settings(path)


def read_pipeline(db_path: str, settings: PipelineSettings) -> CrmData:
    """The store's pipeline data, with the settings' stage orders over the stored ones."""
    store = open_store(db_path)
    try:
        data = read_crm(store.connection, settings.pipelines)
    finally:
        store.close()
    if not data.deals:
        raise FunnelscopeError(
            f"no deals in {db_path}; load a CRM export first with "
            "`funnelscope pipeline load deals.csv history.csv` (or run `funnelscope demo`)"
        )
    return data


def as_of_time(text: str | None) -> datetime:
    """``--as-of`` (ISO date or time, UTC unless an offset is given); None: now."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SpecError("--as-of", f"{text!r} is not a date", "write e.g. 2026-12-04") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
