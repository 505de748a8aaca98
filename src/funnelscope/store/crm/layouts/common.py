"""What the CRM export layouts share: reading a cell under any of its names, amounts as the
exports write them (currency symbols, thousands separators, decimal commas), yes/no flags,
percentages, the export's other columns, and turning a reader's errors into bad rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from funnelscope.model.deals import StageChange
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.crm.cells import (
    CellError,
    blank,
    parse_amount,
    parse_time,
    plain_number,
    text,
)
from funnelscope.store.crm.records import CrmFile, CrmRecord, Row, bad_row, missing

_TRUE = frozenset({"true", "yes", "1", "y", "x", "t", "checked", "wahr", "vrai"})
_FALSE = frozenset({"false", "no", "0", "n", "f", "", "unchecked", "falsch", "faux"})


class Missing(Exception):
    """A required cell is empty: the row becomes a bad row naming the field and the fix."""

    def __init__(self, field: str, fix: str) -> None:
        super().__init__(field)
        self.field, self.fix = field, fix


def has(header: Sequence[str], *names: str) -> bool:
    return any(name in header for name in names)


def cell(row: Row, names: Sequence[str]) -> str | None:
    return text(row.get(*names))


def required(row: Row, names: Sequence[str], field: str, fix: str) -> str:
    value = cell(row, names)
    if value is None:
        raise Missing(field, fix)
    return value


def when(row: Row, names: Sequence[str], field: str, zone: tzinfo) -> datetime | None:
    return parse_time(row.get(*names), field, zone)


def required_time(row: Row, names: Sequence[str], field: str, zone: tzinfo, fix: str) -> datetime:
    moment = when(row, names, field, zone)
    if moment is None:
        raise Missing(field, fix)
    return moment


def money(value: str | None, field: str) -> tuple[float | None, str | None]:
    """An amount and its currency: :func:`funnelscope.store.crm.cells.parse_amount`, the one
    amount reader of every CRM layout."""
    return parse_amount(value, field)


def flag(value: str | None, field: str) -> bool | None:
    """A yes/no cell (true/false, 1/0, yes/no, x); None when the column is absent."""
    if value is None:
        return None
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise CellError(field, value, f"{value!r} is not true or false", "write true or false")


def percent(value: str | None, field: str, out_of_100: bool = False) -> float | None:
    """A probability as 0-1: ``25``, ``25%`` and ``0.25`` are all a quarter (a value of 1 or
    less without a % sign is read as a share, unless the export always writes 0-100)."""
    if blank(value):
        return None
    assert value is not None
    raw = value.strip()
    try:
        number = float(plain_number(raw.rstrip("%").strip()))
    except ValueError:
        raise CellError(field, raw, f"{raw!r} is not a probability", "write 25 or 25%") from None
    share = number / 100 if out_of_100 or raw.endswith("%") or number > 1 else number
    if not 0 <= share <= 1:
        raise CellError(field, raw, f"{raw!r} is not between 0 and 100%", "write 0 to 100")
    return share


def extras(row: Row, used: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """The row's other non-empty cells, kept on the deal for lead scoring."""
    taken = set(used)
    return tuple(
        (name, value.strip())
        for name, value in row.cells.items()
        if name not in taken and name != "__extra__" and text(value) is not None
    )


Reader = Callable[[Row], Iterable[CrmRecord]]


def each_row(file: CrmFile, reader: Reader) -> Iterator[CrmRecord | BadRow]:
    """Every row through ``reader``; a bad cell or a missing one makes the row a bad row and the
    rest of the file loads."""
    for row in file.rows:
        try:
            records = list(reader(row))
        except CellError as error:
            yield bad_row(file, row, error)
        except Missing as gap:
            yield missing(file, row, gap.field, gap.fix)
        else:
            yield from records


@dataclass(frozen=True)
class Snapshot:
    """One row of a history export: a deal was in ``stage`` from ``at``."""

    deal_id: str
    stage: str
    at: datetime
    by: str | None
    order: int


def changes_from(snapshots: Iterable[Snapshot]) -> list[StageChange]:
    """Each deal's snapshots in time order (ties in file order) become a change whenever the
    stage differs from the one before; the first is the stage the deal started in."""
    by_deal: dict[str, list[Snapshot]] = {}
    for snapshot in snapshots:
        by_deal.setdefault(snapshot.deal_id, []).append(snapshot)
    changes = []
    for deal_id in sorted(by_deal):
        previous: str | None = None
        for snap in sorted(by_deal[deal_id], key=lambda s: (s.at, s.order)):
            if snap.stage != previous:
                changes.append(StageChange(deal_id, previous, snap.stage, snap.at, snap.by))
            previous = snap.stage
    return changes
