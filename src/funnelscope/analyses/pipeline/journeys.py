"""Each deal's path through its pipeline: the stages it entered and when, how far it got, the
stages it skipped, its moves back, reopenings, and where it was lost. Every other pipeline
analysis starts from these (docs/pipeline.md, "Stage semantics")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from funnelscope.model.deals import CrmData, Deal, DealStatus, Pipeline, StageChange, StageKind


@dataclass(frozen=True)
class Stay:
    """A time a deal spent in one stage: from entering it to its next move (``left_at`` None:
    still there, or the deal closed without a recorded move)."""

    stage: str
    entered_at: datetime
    left_at: datetime | None


@dataclass(frozen=True)
class Journey:
    deal: Deal
    pipeline: Pipeline
    stays: tuple[Stay, ...]
    has_history: bool  # False: only the deal's current stage is known
    furthest: int  # furthest position reached: 0-based open stage, len(stages) for won, -1 none
    skipped: frozenset[str]  # open stages passed over on the way forward and never entered
    regressions: int  # moves from an open stage to an earlier open stage
    reopened: int  # moves from a won or lost stage back to an open stage
    lost_from: str | None  # the open stage a lost deal was in when lost
    closed_at: datetime | None  # when it was won or lost (its last move into a closing stage)

    @property
    def status(self) -> DealStatus:
        return self.deal.status

    def entered(self, stage: str) -> datetime | None:
        """When the deal first entered ``stage`` (None: never)."""
        return next((s.entered_at for s in self.stays if s.stage == stage), None)

    def reached(self, position: int) -> bool:
        """Entered the open stage at ``position``, or a later one, or won."""
        return self.furthest >= position

    def reached_at(self, position: int) -> datetime | None:
        """When the deal first entered the stage at ``position`` or any later one (or won)."""
        times = [
            s.entered_at
            for s in self.stays
            if (p := self.pipeline.position(s.stage)) is not None and p >= position
        ]
        return min(times) if times else None


def journeys(data: CrmData, as_of: datetime | None = None) -> list[Journey]:
    """Every deal's journey, in deal id order. A deal whose pipeline is unknown gets a pipeline
    of its own stages (learned by the store)."""
    history = data.history()
    result = []
    for deal in data.deals:
        pipeline = data.pipeline(deal.pipeline) or Pipeline(deal.pipeline, (deal.stage,))
        result.append(journey(deal, pipeline, history.get(deal.deal_id, [])))
    return result


def journeys_as_of(data: CrmData, as_of: datetime) -> list[Journey]:
    """The journeys as they stood at ``as_of``: deals created later are left out, later stage
    changes are ignored, and a deal that closed later is open again, in the stage its history
    had it in (its current stage when it has no history)."""
    history = data.history()
    result = []
    for deal in data.deals:
        if deal.created_at > as_of:
            continue
        pipeline = data.pipeline(deal.pipeline) or Pipeline(deal.pipeline, (deal.stage,))
        every_change = history.get(deal.deal_id, [])
        changes = [c for c in every_change if c.changed_at <= as_of]
        closed_later = deal.closed_at is not None and deal.closed_at > as_of
        if len(changes) == len(every_change) and not closed_later:
            result.append(journey(deal, pipeline, changes))  # nothing about it came later
            continue
        if changes:
            stage = changes[-1].to_stage
            kind = pipeline.kind(stage)
            status = DealStatus(kind.value) if kind is not None else deal.status
            if status is not DealStatus.OPEN and closed_later:
                status = DealStatus.OPEN
        else:
            stage = deal.stage
            status = deal.status
        if closed_later and status is DealStatus.OPEN:
            if not changes and pipeline.kind(stage) is not StageKind.OPEN:
                stage = pipeline.stages[0] if pipeline.stages else stage
            deal = replace(deal, stage=stage, status=status, closed_at=None, lost_reason=None)
        elif changes:
            deal = replace(deal, stage=stage, status=status)
        result.append(journey(deal, pipeline, changes))
    return result


def journey(deal: Deal, pipeline: Pipeline, changes: Sequence[StageChange]) -> Journey:
    entries: list[tuple[str, datetime]] = []
    if changes:
        first = changes[0]
        if first.from_stage is not None:  # the stage it was created in was not logged as a move
            entries.append((first.from_stage, min(deal.created_at, first.changed_at)))
        entries.extend((c.to_stage, c.changed_at) for c in changes)
    else:
        at = deal.created_at
        if deal.status is not DealStatus.OPEN and deal.closed_at is not None:
            at = deal.closed_at
        entries.append((deal.stage, at))
    stays = tuple(
        Stay(stage, at, entries[i + 1][1] if i + 1 < len(entries) else None)
        for i, (stage, at) in enumerate(entries)
    )
    furthest, skipped, regressions, reopened = -1, set(), 0, 0
    entered: set[str] = set()
    previous: str | None = None
    lost_from: str | None = None
    closed_at: datetime | None = None
    for stage, at in entries:
        kind = pipeline.kind(stage)
        position = pipeline.position(stage)
        before = pipeline.kind(previous) if previous is not None else None
        if kind is StageKind.OPEN and before in (StageKind.WON, StageKind.LOST):
            reopened += 1
        elif kind is StageKind.OPEN and before is StageKind.OPEN and previous is not None:
            previous_position = pipeline.position(previous)
            if (
                position is not None
                and previous_position is not None
                and position < previous_position
            ):
                regressions += 1
        if position is not None and position > furthest:
            for passed in pipeline.stages[furthest + 1 : position]:
                if passed not in entered:
                    skipped.add(passed)
            furthest = position
        if kind is StageKind.LOST:
            lost_from = previous if before is StageKind.OPEN else lost_from
            closed_at = at
        elif kind is StageKind.WON:
            closed_at = at
        entered.add(stage)
        previous = stage
    skipped -= entered
    if not changes and deal.status is DealStatus.LOST:
        lost_from = None  # lost, from a stage the export does not say
    if deal.status is DealStatus.OPEN:
        closed_at = None
    elif deal.closed_at is not None:
        closed_at = deal.closed_at
    return Journey(
        deal=deal,
        pipeline=pipeline,
        stays=stays,
        has_history=bool(changes),
        furthest=furthest,
        skipped=frozenset(skipped),
        regressions=regressions,
        reopened=reopened,
        lost_from=lost_from,
        closed_at=closed_at,
    )
