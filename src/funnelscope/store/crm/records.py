"""What a CRM export's rows become: deals, stage changes, activities and stage definitions, or
bad rows; and the interface every export layout implements."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol

from funnelscope.model.deals import Activity, Deal, DealStatus, StageChange, StageKind
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.crm.cells import CellError

_WON_WORDS = frozenset({"won", "closed won", "closedwon", "closed_won", "win", "deal won"})
_LOST_WORDS = frozenset({"lost", "closed lost", "closedlost", "closed_lost", "deal lost"})


@dataclass(frozen=True)
class StageRow:
    """One stage of one pipeline as an export defines it (its order, kind, stated odds)."""

    pipeline: str
    stage: str
    position: int
    kind: StageKind
    probability: float | None = None


CrmRecord = Deal | StageChange | Activity | StageRow


@dataclass(frozen=True)
class Row:
    """A data row: its physical line, its cells by normalised header, and its raw text."""

    line: int
    cells: dict[str, str]
    raw: str

    def get(self, *names: str) -> str | None:
        for name in names:
            value = self.cells.get(name)
            if value is not None:
                return value
        return None


@dataclass(frozen=True)
class CrmFile:
    source: str
    header: tuple[str, ...]  # normalised names
    rows: Sequence[Row]


class Layout(Protocol):
    """An export layout: which files it reads and how their rows become records."""

    name: str

    def matches(self, header: Sequence[str]) -> bool: ...

    def records(self, file: CrmFile, zone: tzinfo) -> Iterator[CrmRecord | BadRow]: ...


def normalise(name: str) -> str:
    """A header as layouts match it: lower case, runs of other characters as one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def status_from_stage(stage: str) -> DealStatus:
    """The status a stage name implies when an export has no status column."""
    word = stage.strip().lower()
    if word in _WON_WORDS:
        return DealStatus.WON
    if word in _LOST_WORDS:
        return DealStatus.LOST
    return DealStatus.OPEN


def kind_of_stage(stage: str) -> StageKind:
    return StageKind(status_from_stage(stage).value)


def bad_row(file: CrmFile, row: Row, error: CellError) -> BadRow:
    return BadRow(
        file.source,
        row.line,
        f"{error.field}: {error.problem}; {error.fix}",
        row.raw,
        field=error.field,
        value=error.value,
        fix=error.fix,
    )


def missing(file: CrmFile, row: Row, field: str, fix: str) -> BadRow:
    return BadRow(file.source, row.line, f"{field}: is empty; {fix}", row.raw, field=field, fix=fix)
