"""Each deal's path through its pipeline: the stages it entered and when, how far it got, the
stages it skipped, its moves back, reopenings, and where it was lost. Every other pipeline
analysis starts from these (docs/pipeline.md, "Stage semantics")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def journeys(data: CrmData) -> list[Journey]:
    """Every deal's journey, in deal id order, computed once per :class:`CrmData` (a copy of
    the list is returned). A deal whose pipeline is unknown gets a pipeline of its own stages."""
    cached = data.memo.get("journeys")
    if isinstance(cached, list):
        return list(cached)
    history = data.history()
    computed: list[Journey] = []
    for deal in data.deals:
        pipeline = data.pipeline(deal.pipeline) or Pipeline(deal.pipeline, (deal.stage,))
        computed.append(journey(deal, pipeline, history.get(deal.deal_id, [])))
    data.memo["journeys"] = computed
    return list(computed)


def journeys_as_of(data: CrmData, as_of: datetime) -> list[Journey]:
    """The journeys as they stood at ``as_of``: deals created later are left out, later stage
    changes are ignored, and each deal has the stage and status :func:`state_at` gives it then
    (a deal that closed later is open again)."""
    history = data.history()
    result = []
    for full in journeys(data):
        state = state_at(full, as_of)
        if state is None:
            continue
        every_change = history.get(full.deal.deal_id, [])
        changes = [c for c in every_change if c.changed_at <= as_of]
        if state.deal is full.deal and len(changes) == len(every_change):
            result.append(full)  # nothing about it came later
            continue
        kept = changes
        # a move into a closing stage before the export's close time: state_at reads the deal
        # as still open then, in the stage it was in before that move
        closing_later = changes and full.pipeline.kind(changes[-1].to_stage) in CLOSING
        if state.status is DealStatus.OPEN and closing_later:
            kept = changes[:-1]
        replayed = journey(state.deal, full.pipeline, kept)
        if changes and not kept:
            replayed = replace(replayed, has_history=True)
        result.append(replayed)
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


CLOSING = (StageKind.WON, StageKind.LOST)


@dataclass(frozen=True)
class DealState:
    """A deal as it stood at a moment: ``deal.stage`` and ``deal.status`` are those of then."""

    deal: Deal
    closed_at: datetime | None  # when it had closed, if it was closed then

    @property
    def status(self) -> DealStatus:
        return self.deal.status


def state_at(journey: Journey, moment: datetime) -> DealState | None:
    """Where the deal stood at ``moment``, read from its journey's stays (docs/pipeline.md,
    "Stage semantics", as of).

    A deal created after the moment did not exist (None). Otherwise its stage is the stage of
    the last stay it had entered by then. When that stay is a won or lost stage and the deal had
    closed by then (the export's close time for its last closing, the move's time for an earlier
    one), the deal was closed; otherwise it was open, in the last open stage it had entered, or,
    when it had entered none yet (a deal closed later whose history starts with the closing
    move), in its pipeline's first stage. When every stay began by then and the deal's close
    time (if any) is not later, the deal is as the export says. A deal without stage history
    keeps its current stage;
    it was closed when its status is won or lost and it closed by then (or the export gives no
    close time).
    """
    deal, pipeline = journey.deal, journey.pipeline
    if deal.created_at > moment:
        return None
    first_open = pipeline.stages[0] if pipeline.stages else deal.stage
    if not journey.has_history:
        closed = deal.status is not DealStatus.OPEN and (
            deal.closed_at is None or deal.closed_at <= moment
        )
        if closed:
            return DealState(deal, deal.closed_at)
        stage = deal.stage if pipeline.kind(deal.stage) not in CLOSING else first_open
        return DealState(_open(deal, stage), None)
    entered = [s for s in journey.stays if s.entered_at <= moment]
    if len(entered) == len(journey.stays) and (deal.closed_at is None or deal.closed_at <= moment):
        # nothing about the deal came later: it stands as the export says (a won deal in a
        # stage the pipeline does not call won is still won)
        return DealState(deal, deal.closed_at if deal.status is not DealStatus.OPEN else None)
    if entered and (kind := pipeline.kind(entered[-1].stage)) in CLOSING:
        last = entered[-1]
        at = last.entered_at
        if last is journey.stays[-1] and journey.closed_at is not None:
            at = journey.closed_at
        if at <= moment:
            status = DealStatus.WON if kind is StageKind.WON else DealStatus.LOST
            return DealState(replace(deal, stage=last.stage, status=status, closed_at=at), at)
        entered = entered[:-1]
    opened = [s for s in entered if pipeline.kind(s.stage) not in CLOSING]
    return DealState(_open(deal, opened[-1].stage if opened else first_open), None)


def _open(deal: Deal, stage: str) -> Deal:
    if deal.status is DealStatus.OPEN and deal.stage == stage:
        return deal
    return replace(deal, stage=stage, status=DealStatus.OPEN, closed_at=None, lost_reason=None)


def states_at(journeys: Iterable[Journey], moment: datetime) -> list[DealState]:
    """Every deal that existed at ``moment``, as it stood then."""
    return [s for j in journeys if (s := state_at(j, moment)) is not None]
