"""The funnel analysis: run an engine over the store, summarise per step."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING

from funnelscope.model.results import FunnelResult, PersonOutcome, StepResult
from funnelscope.model.spec import Funnel

if TYPE_CHECKING:
    from funnelscope.store.duckdb import EventStore

ENGINES = ("reference",)


def summarize(funnel: Funnel, outcomes: Sequence[PersonOutcome]) -> FunnelResult:
    """Per-step counts, conversion, drop-off and time from the previous step.

    Times come from each person's best attempt; the median of an even number of values is the
    mean of the middle two.
    """
    entered = tuple(sorted((o for o in outcomes if o.reached >= 1), key=lambda o: o.person_id))
    steps: list[StepResult] = []
    first = previous = 0
    for number, step in enumerate(funnel.steps, start=1):
        reached = [o for o in entered if o.reached >= number]
        count = len(reached)
        if number == 1:
            first = previous = count
            gaps: list[float] = []
        else:
            gaps = [(o.times_us[number - 1] - o.times_us[number - 2]) / 1e6 for o in reached]
        steps.append(
            StepResult(
                step=number,
                label=step.display,
                event=step.event,
                count=count,
                conversion_from_previous=count / previous if previous else None,
                conversion_from_start=count / first if first else None,
                dropped_from_previous=previous - count if number > 1 else 0,
                avg_seconds_from_previous=sum(gaps) / len(gaps) if gaps else None,
                median_seconds_from_previous=statistics.median(gaps) if gaps else None,
            )
        )
        previous = count
    return FunnelResult(funnel=funnel, steps=tuple(steps), outcomes=entered)


def run_funnel(funnel: Funnel, store: EventStore, engine: str = "reference") -> FunnelResult:
    """Compute `funnel` over every event in `store` with the named engine."""
    from funnelscope.engines import get_engine

    runner = get_engine(engine)
    names = None if funnel.order == "strict" else funnel.event_names
    events = store.scan(names, funnel.properties)
    return summarize(funnel, runner(funnel, events))
