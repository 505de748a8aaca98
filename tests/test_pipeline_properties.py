"""Random deal histories: the stage funnel against a brute-force count written from the rules of
docs/pipeline.md ("Stage semantics"), and replaying the history to a moment after everything
gives the same journeys and funnel as not replaying it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from funnelscope.analyses.pipeline.journeys import journeys, journeys_as_of
from funnelscope.analyses.pipeline.stage_funnel import stage_funnel
from funnelscope.model.deals import CrmData, Deal, DealStatus, Pipeline, StageChange

PIPELINE = Pipeline("p", ("a", "b", "c", "d"))
STAGES = (*PIPELINE.stages, "won", "lost")
START = datetime(2026, 1, 1, tzinfo=UTC)
LATER = datetime(2030, 1, 1, tzinfo=UTC)


@st.composite
def histories(draw: st.DrawFn) -> CrmData:
    deals, changes = [], []
    for number in range(draw(st.integers(1, 12))):
        deal_id = f"D{number}"
        created = START + timedelta(hours=draw(st.integers(0, 500)))
        moves = draw(st.lists(st.sampled_from(STAGES), min_size=0, max_size=6))
        logged_creation = draw(st.booleans())
        at, previous = created, None
        path = ["a", *moves] if logged_creation else moves
        for stage in path:
            changes.append(StageChange(deal_id, previous, stage, at))
            previous = stage
            at += timedelta(hours=draw(st.integers(1, 300)))
        stage = previous or draw(st.sampled_from(STAGES))
        kind = PIPELINE.kind(stage)
        assert kind is not None
        status = DealStatus(kind.value)
        closed = None
        if status is not DealStatus.OPEN:
            closed = changes[-1].changed_at if path else created + timedelta(hours=5)
        deals.append(Deal(deal_id, "p", stage, status, created, closed_at=closed))
    return CrmData(tuple(deals), tuple(changes), (), (PIPELINE,))


def brute_force(data: CrmData) -> list[tuple[int, int, int]]:
    """(reached, entered, skipped) per open stage, straight from the rules."""
    rows = []
    for position, stage in enumerate(PIPELINE.stages):
        reached = entered = skipped = 0
        for deal in data.deals:
            own = [c for c in data.changes if c.deal_id == deal.deal_id]
            if own:
                visited = [c.to_stage for c in own]
                if own[0].from_stage is not None:
                    visited.insert(0, own[0].from_stage)
            else:
                visited = [deal.stage]
            places = [PIPELINE.position(s) for s in visited]
            furthest = max((p for p in places if p is not None), default=-1)
            if furthest >= position:
                reached += 1
                if stage in visited:
                    entered += 1
                else:
                    skipped += 1
        rows.append((reached, entered, skipped))
    return rows


@settings(deadline=None)
@given(histories())
def test_stage_counts_match_a_brute_force_count(data: CrmData) -> None:
    funnel = stage_funnel(journeys(data), PIPELINE, as_of=LATER)
    assert [(r.reached, r.entered, r.skipped) for r in funnel.stages] == brute_force(data)
    reached = [r.reached for r in funnel.stages]
    assert reached == sorted(reached, reverse=True)
    for row, after in zip(funnel.stages, funnel.stages[1:], strict=False):
        assert row.advanced == after.reached  # advancing from a stage is reaching a later one
    assert funnel.won + funnel.lost + funnel.open == funnel.deals == len(data.deals)


@settings(deadline=None)
@given(histories())
def test_replaying_to_a_moment_after_everything_changes_nothing(data: CrmData) -> None:
    now, replayed = journeys(data), journeys_as_of(data, LATER)
    assert replayed == now
    assert stage_funnel(replayed, PIPELINE, as_of=LATER) == stage_funnel(now, PIPELINE, as_of=LATER)


@settings(deadline=None)
@given(histories(), st.integers(0, 3000))
def test_replayed_journeys_hold_only_what_happened_by_then(data: CrmData, hours: int) -> None:
    moment = START + timedelta(hours=hours)
    for journey in journeys_as_of(data, moment):
        assert journey.deal.created_at <= moment
        assert all(stay.entered_at <= moment for stay in journey.stays)
        assert journey.closed_at is None or journey.closed_at <= moment
        if journey.status is DealStatus.OPEN:
            assert PIPELINE.kind(journey.deal.stage) is not None
