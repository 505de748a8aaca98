"""The funnel analysis: run an engine over the store, summarise per step."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np

from funnelscope.model.events import CORE_COLUMNS
from funnelscope.model.results import FunnelResult, Outcomes, StepResult
from funnelscope.model.spec import Funnel

if TYPE_CHECKING:
    from funnelscope.store.duckdb import EventStore
    from funnelscope.store.sources import EventSource


def summarize(funnel: Funnel, outcomes: Outcomes) -> FunnelResult:
    """Per-step counts, conversion, drop-off and time from the previous step.

    Times come from each person's best attempt, summed in whole microseconds and divided once (so
    0.1 s and 0.2 s average to exactly 0.15); the median of an even number of values is the mean
    of the middle two. Works on arrays, so it costs the same for any engine.
    """
    steps: list[StepResult] = []
    first = previous = 0
    for number, step in enumerate(funnel.steps, start=1):
        rows = outcomes.reached >= number
        count = int(np.count_nonzero(rows))
        avg = median = None
        if number == 1:
            first = previous = count
        elif count:
            times = outcomes.times_us
            with np.errstate(over="ignore"):  # rows past a person's reach hold anything
                every_gap = np.subtract(times[:, number - 1], times[:, number - 2])
            gaps_us = np.compress(rows, every_gap)  # one gather, not two
            avg = exact_sum(gaps_us) / count / 1e6
            median = exact_median(gaps_us) / 1e6
        steps.append(
            StepResult(
                step=number,
                label=step.display,
                event=step.event,
                count=count,
                conversion_from_previous=count / previous if previous else None,
                conversion_from_start=count / first if first else None,
                dropped_from_previous=previous - count if number > 1 else 0,
                avg_seconds_from_previous=avg,
                median_seconds_from_previous=median,
            )
        )
        previous = count
    return FunnelResult(funnel=funnel, steps=tuple(steps), outcomes=outcomes)


def exact_sum(values_us: np.ndarray) -> int:
    """The exact integer sum of int64 microseconds (no overflow: seconds and remainders apart)."""
    seconds, rest = np.divmod(values_us, 1_000_000)
    return int(seconds.sum(dtype=np.int64)) * 1_000_000 + int(rest.sum(dtype=np.int64))


def exact_median(values_us: np.ndarray) -> int | float:
    """statistics.median of the integers: the middle one, or the mean of the middle two."""
    n = values_us.size
    half = n // 2
    if n % 2:
        return int(np.partition(values_us, half)[half])
    parted = np.partition(values_us, (half - 1, half))
    return (int(parted[half - 1]) + int(parted[half])) / 2


def check_against_store(
    funnel: Funnel, store: EventStore, result: FunnelResult | None = None
) -> list[str]:
    """Warnings for names the store has never seen (usually typos), with the closest known name.

    Given the `result`, event names are checked only when a step counted nobody (a misspelt
    step always does), which spares a scan of every event on the usual run.
    """
    warnings = []
    if result is None or any(step.count == 0 for step in result.steps):
        known_events = store.event_counts()
        for step_number, step in enumerate(funnel.steps, start=1):
            if step.event not in known_events:
                warnings.append(
                    f"steps[{step_number}].event: no events named {step.event!r} in the data"
                    + _did_you_mean(step.event, known_events)
                )
    known_props = store.property_types()
    if hasattr(store, "not_numeric"):
        warnings.extend(_numeric_filters_on_text(funnel, store))
    for prop in funnel.properties:
        if prop in CORE_COLUMNS and prop not in known_props:
            warnings.append(
                f"filters read event properties, and {prop!r} is a core field, not a property; "
                "no event has it as a property, so filters on it see it as not set"
            )
        elif prop not in known_props:
            warnings.append(
                f"no event has a property {prop!r}, so filters on it see it as not set"
                + _did_you_mean(prop, known_props)
            )
    return warnings


def _numeric_filters_on_text(funnel: Funnel, store: EventStore) -> list[str]:
    """A number compared with a text property skips the values that are not plain numbers."""
    compared = {
        f.property
        for f in funnel.where + tuple(f for step in funnel.steps for f in step.where)
        if f.op in ("eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte")
        and any(
            isinstance(v, int | float) and not isinstance(v, bool)
            for v in (f.value if isinstance(f.value, tuple) else (f.value,))
        )
    }
    warnings = []
    for prop in sorted(compared):
        count, example = store.not_numeric(prop)
        if count:
            warnings.append(
                f"property {prop!r} holds text, and {count:,} of its values are not plain numbers "
                f"(e.g. {example!r}); filters comparing it with a number never match those"
            )
    return warnings


def _did_you_mean(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def run_funnel(funnel: Funnel, events: EventSource, engine: str = "kernel") -> FunnelResult:
    """Compute `funnel` over every event of a source (usually the store) with the named engine.

    Person ids in the result are looked up lazily, so list people while the source is open.
    """
    from funnelscope.engines import get_engine

    return summarize(funnel, get_engine(engine)(funnel, events))
