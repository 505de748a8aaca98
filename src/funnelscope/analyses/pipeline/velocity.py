"""Pipeline velocity: how much revenue the pipeline turns out per day, overall and per owner
(docs/pipeline.md, "Pipeline velocity").

For a window [start, end): velocity = open deals x win rate x average won amount / average sales
cycle, where open deals are those open at the window's end (their state then, from their
journeys), the win rate is won / (won + lost) over the deals closed in the window, the average
won amount is over the deals won in the window (in the report currency; deals without amount or
whose currency has no rate are left out of the average), and the sales cycle is the days from
creation to close of the deals won in the window. The same is computed for the previous window
of equal length, with the change (difference and ratio)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from funnelscope.analyses.pipeline.forecast import GROUP_FIELDS, group_value
from funnelscope.analyses.pipeline.journeys import DealState, Journey, journeys, states_at
from funnelscope.analyses.pipeline.money import NO_RATE, Money
from funnelscope.model.deals import CrmData, DealStatus

DEFAULT_DAYS = 90


@dataclass(frozen=True)
class VelocityWindow:
    start: datetime
    end: datetime
    open_deals: int  # open at the window's end
    won: int  # closed won in the window
    lost: int  # closed lost in the window
    average_won: float | None  # report currency, over the won deals with a converted amount
    amounts: int  # won deals the average is over
    not_converted: int  # won deals whose currency has no rate
    average_cycle_days: float | None  # creation to close, won deals

    @property
    def win_rate(self) -> float | None:
        closed = self.won + self.lost
        return self.won / closed if closed else None

    @property
    def velocity(self) -> float | None:
        """Revenue per day: open x win rate x average won / average cycle (None when a part is
        unknown or the cycle is 0 days)."""
        rate, amount, cycle = self.win_rate, self.average_won, self.average_cycle_days
        if rate is None or amount is None or cycle is None or cycle <= 0:
            return None
        return self.open_deals * rate * amount / cycle

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "open_deals": self.open_deals,
            "won": self.won,
            "lost": self.lost,
            "win_rate": self.win_rate,
            "average_won": self.average_won,
            "won_with_amount": self.amounts,
            "not_converted": self.not_converted,
            "average_cycle_days": self.average_cycle_days,
            "velocity": self.velocity,
        }


@dataclass(frozen=True)
class VelocityRow:
    name: str  # the owner (team, source), or "all"
    current: VelocityWindow
    previous: VelocityWindow

    @property
    def change(self) -> float | None:
        now, before = self.current.velocity, self.previous.velocity
        return None if now is None or before is None else now - before

    @property
    def ratio(self) -> float | None:
        now, before = self.current.velocity, self.previous.velocity
        return None if now is None or before is None or before == 0 else now / before

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "current": self.current.to_dict(),
            "previous": self.previous.to_dict(),
            "change": self.change,
            "ratio": self.ratio,
        }

    def row(self) -> dict[str, object]:
        return {
            "name": self.name,
            "open_deals": self.current.open_deals,
            "win_rate": self.current.win_rate,
            "average_won": self.current.average_won,
            "average_cycle_days": self.current.average_cycle_days,
            "velocity": self.current.velocity,
            "previous_velocity": self.previous.velocity,
            "change": self.change,
            "ratio": self.ratio,
        }


@dataclass(frozen=True)
class Velocity:
    as_of: datetime
    days: int
    by: str
    currency: str | None
    overall: VelocityRow
    groups: tuple[VelocityRow, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "window_days": self.days,
            "by": self.by,
            "currency": self.currency,
            "overall": self.overall.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
        }

    def rows(self) -> list[dict[str, object]]:
        return [self.overall.row(), *(g.row() for g in self.groups)]


def window(
    states: Sequence[DealState],
    full: dict[str, Journey],
    money: Money,
    start: datetime,
    end: datetime,
) -> VelocityWindow:
    """One window's parts from the deals' states at its end."""
    closed = [s for s in states if s.closed_at is not None and start <= s.closed_at < end]
    won = [s for s in closed if s.status is DealStatus.WON]
    amounts, not_converted = [], 0
    for state in won:
        amount, conversion = money.convert(state.deal)
        not_converted += conversion == NO_RATE
        if amount is not None:
            amounts.append(amount)
    cycles = [
        (s.closed_at - full[s.deal.deal_id].deal.created_at).total_seconds() / 86_400
        for s in won
        if s.closed_at is not None
    ]
    return VelocityWindow(
        start=start,
        end=end,
        open_deals=sum(1 for s in states if s.status is DealStatus.OPEN),
        won=len(won),
        lost=sum(1 for s in closed if s.status is DealStatus.LOST),
        average_won=sum(amounts) / len(amounts) if amounts else None,
        amounts=len(amounts),
        not_converted=not_converted,
        average_cycle_days=sum(cycles) / len(cycles) if cycles else None,
    )


def velocity(
    data: CrmData,
    money: Money,
    as_of: datetime,
    *,
    days: int = DEFAULT_DAYS,
    by: str = "owner",
) -> Velocity:
    if by not in GROUP_FIELDS:
        raise ValueError(f"group by one of {GROUP_FIELDS}, not {by!r}")
    if days < 1:
        raise ValueError("the window must be at least 1 day")
    full = journeys(data)
    by_id = {j.deal.deal_id: j for j in full}
    length = timedelta(days=days)
    now = states_at(full, as_of)
    before = states_at(full, as_of - length)

    def row(name: str, pick: str | None) -> VelocityRow:
        mine_now = [s for s in now if pick is None or group_value(s.deal, by) == pick]
        mine_before = [s for s in before if pick is None or group_value(s.deal, by) == pick]
        return VelocityRow(
            name,
            window(mine_now, by_id, money, as_of - length, as_of),
            window(mine_before, by_id, money, as_of - 2 * length, as_of - length),
        )

    names = sorted({group_value(s.deal, by) for s in (*now, *before)})
    return Velocity(
        as_of=as_of,
        days=days,
        by=by,
        currency=money.currency,
        overall=row("all", None),
        groups=tuple(r for name in names if _active(r := row(name, name))),
    )


def _active(row: VelocityRow) -> bool:
    """A group with an open deal or a closing in either window."""
    return any(w.open_deals or w.won or w.lost for w in (row.current, row.previous))
