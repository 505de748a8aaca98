"""The funnel analysis: run an engine over the store, summarise per step."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from funnelscope.analyses.steps import best_rows, step_results, step_results_by_group
from funnelscope.engines import DEFAULT_ENGINE
from funnelscope.model.events import CORE_COLUMNS
from funnelscope.model.results import OTHER_TEXT, BreakdownRow, FunnelResult, Outcomes, StepResult
from funnelscope.model.spec import Funnel

if TYPE_CHECKING:
    import pyarrow as pa

    from funnelscope.store.event_store import EventStore
    from funnelscope.store.sources import EventSource, NameCatalog


def summarize(funnel: Funnel, outcomes: Outcomes) -> FunnelResult:
    """Per-step counts, conversion, drop-off and time from the previous step, in total and per
    breakdown value.

    Times come from each counted attempt, summed in whole microseconds and divided once (so
    0.1 s and 0.2 s average to exactly 0.15); the median of an even number of values is the mean
    of the middle two. Works on arrays, so it costs the same for any engine.
    """
    by_code = None
    if outcomes.units is None:  # every row counts: no gather
        rows = None
        if funnel.breakdown is not None and outcomes.groups is not None:
            steps, by_code = step_results_by_group(
                funnel, outcomes.reached, outcomes.times_us, outcomes.groups
            )
        else:
            steps = step_results(funnel, outcomes.reached, outcomes.times_us)
    else:
        rows = best_rows(funnel, outcomes, np.flatnonzero(outcomes.reached))
        steps = step_results(funnel, outcomes.reached[rows], outcomes.times_us[rows])
    breakdown: tuple[BreakdownRow, ...] = ()
    if funnel.breakdown is not None:
        breakdown = breakdown_rows(funnel, outcomes, by_code)
    return FunnelResult(
        funnel=funnel,
        steps=steps,
        outcomes=outcomes,
        counting=funnel.count,
        breakdown=breakdown,
        rows=rows,
    )


def breakdown_rows(
    funnel: Funnel,
    outcomes: Outcomes,
    by_code: dict[int, tuple[StepResult, ...]] | None = None,
) -> tuple[BreakdownRow, ...]:
    """One row per breakdown value, the largest first (by step-1 count, then by text); values
    past the limit fold into "Other", which keeps each unit's best attempt among them
    (docs/semantics.md [B7]). `by_code`: each value's table, when already computed."""
    assert funnel.breakdown is not None
    if outcomes.groups is None:
        return ()
    groups = outcomes.groups
    entered = outcomes.reached > 0

    def results(codes: np.ndarray) -> tuple[StepResult, ...]:
        where = np.isin(groups, codes) if codes.size > 1 else groups == codes[0]
        if outcomes.units is None:
            return step_results(funnel, outcomes.reached, outcomes.times_us, where)
        rows = best_rows(funnel, outcomes, np.flatnonzero(where & entered))
        return step_results(funnel, outcomes.reached[rows], outcomes.times_us[rows])

    if by_code is None:
        present = np.unique(groups[entered]).tolist()
        by_code = {code: results(np.array([code])) for code in present}
    values = outcomes.group_values
    ranked = sorted(
        by_code, key=lambda c: (-by_code[c][0].count, BreakdownRow(values[c], ()).label)
    )
    limit = funnel.breakdown.limit
    out = [BreakdownRow(values[c], by_code[c]) for c in ranked[:limit]]
    folded = ranked[limit:]
    if folded:
        out.append(BreakdownRow((OTHER_TEXT,), results(np.array(folded)), other=True))
    return tuple(out)


def check_names(
    funnel: Funnel, store: NameCatalog, result: FunnelResult | None = None
) -> list[str]:
    """Warnings for names the data has never seen (usually typos), with the closest known name.
    A store also warns of numeric filters on text properties (the files read in place cannot
    tell cheaply).

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
    from funnelscope.store.event_store import EventStore

    if isinstance(store, EventStore):
        warnings.extend(_numeric_filters_on_text(funnel, store))
    for prop in funnel.properties:
        if prop in CORE_COLUMNS and prop not in known_props:
            warnings.append(
                f"filters read event properties, and {prop!r} is a core field, not a property; "
                "no event has it as a property, so the funnel sees it as not set"
            )
        elif prop not in known_props:
            warnings.append(
                f"no event has a property {prop!r}, so the funnel sees it as not set"
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


def run_funnel(
    funnel: Funnel,
    events: EventSource | pa.Table,
    engine: str = DEFAULT_ENGINE,
    person_ids: bool = True,
) -> FunnelResult:
    """Compute `funnel` over every event of a source (usually the store) with the named engine.

    With `person_ids` (the default) the ids of the persons who entered are fetched from the
    source in one call and attached, so ``result.people(step)`` and iterating the outcomes work
    after the source is closed. Without, the result holds integer person keys only; ask for one
    step's people with :func:`people` (cheaper when there are millions of persons).
    """
    from funnelscope.engines import get_engine
    from funnelscope.store.sources import source_of

    with source_of(events) as source:
        result = summarize(funnel, get_engine(engine)(funnel, source))
        return with_person_ids(result, source) if person_ids else result


def with_person_ids(result: FunnelResult, source: EventSource) -> FunnelResult:
    """`result` with the id of every entered row's person attached (one bulk lookup of the
    distinct keys; a result that has ids already is returned as it is)."""
    outcomes = result.outcomes
    if outcomes.person_ids is not None:
        return result
    entered = outcomes.reached > 0
    keys, inverse = np.unique(outcomes.person_keys[entered], return_inverse=True)
    ids = np.full(outcomes.reached.size, "", dtype=object)
    if keys.size:
        ids[entered] = np.asarray(source.person_ids(keys), dtype=object)[inverse]
    return replace(result, outcomes=outcomes.with_person_ids(ids))


def people(
    result: FunnelResult, source: EventSource, step: int, status: str = "reached"
) -> list[str]:
    """The persons counted at `step` (or dropped there), sorted, each once: only this step's
    keys are looked up in the source (attached ids are used when there are some)."""
    if result.outcomes.person_ids is not None:
        return result.people(step, status)
    return sorted(source.person_ids(result.people_keys(step, status)))
