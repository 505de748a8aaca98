"""`diagnose`: the ranked, explained leaks of a report set or of an event funnel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from funnelscope.analyses.marketing.cells import NOT_SET, DiagnosisInput, Layer, LayerCells, Periods
from funnelscope.analyses.marketing.knowledge import KnowledgeBase
from funnelscope.analyses.marketing.leaks import DiagnoseOptions, Leak, find_leaks
from funnelscope.analyses.marketing.periods import (
    calendar,
    index_of,
    period_end,
    window_notes,
    windows,
)
from funnelscope.analyses.marketing.report import ReportSet, Unmatched, diagnosis_input
from funnelscope.analyses.marketing.yields import ChainYields
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.results import FunnelResult, done_at, previous_required
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.event_store import EventStore

if TYPE_CHECKING:
    from funnelscope.model.spec import Funnel

US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class Diagnosis:
    """Leaks ranked by lost final conversions, with what was compared and what was noticed."""

    leaks: tuple[Leak, ...]
    periods: Periods
    final_label: str
    notes: tuple[str, ...] = ()
    unmatched: tuple[Unmatched, ...] = ()
    rejected: tuple[BadRow, ...] = ()
    ranges_used: bool = False
    """Some rate was compared with a typical range."""
    input: DiagnosisInput | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        p = self.periods
        return {
            "leaks": [leak.to_dict() for leak in self.leaks],
            "final_stage": self.final_label,
            "period": p.grain,
            "current": [p.labels[i] for i in p.current],
            "baseline": [p.labels[i] for i in p.baseline],
            "notes": list(self.notes),
            "unmatched": [
                {
                    "source": u.source,
                    "other": u.other,
                    "rows": u.rows,
                    "totals": u.totals,
                    "examples": list(u.examples),
                }
                for u in self.unmatched
            ],
            "rejected_rows": [r.to_dict() for r in self.rejected],
        }


def ranges_judge(data: DiagnosisInput, options: DiagnoseOptions | None) -> bool:
    """Does any rate of `data` have a typical range?"""
    ranges = (options or DiagnoseOptions()).ranges
    return any(c.layer.key in ranges for c in data.layers if not c.layer.is_volume)


def range_notes(data: DiagnosisInput, options: DiagnoseOptions | None) -> tuple[str, ...]:
    """Your typical ranges that judge nothing here: a misspelt layer, or the top stage's volume
    (ranges are for rates)."""
    if options is None:
        return ()
    rates = [c.layer.key for c in data.layers if not c.layer.is_volume]
    notes = []
    for layer, typical in options.ranges.items():
        if typical.heuristic or layer in rates:
            continue
        why = (
            "is the top stage's volume, which has no rate"
            if layer == data.layers[0].layer.key
            else "is not a layer here"
        )
        notes.append(
            f"the typical range for {layer!r} ({typical.source}) is not used: {layer!r} {why}; "
            f"the rates are {', '.join(rates)}"
        )
    return tuple(notes)


def only_dimensions(data: DiagnosisInput, by: Sequence[str] | None) -> DiagnosisInput:
    """Keep only the dimensions in `by` (None: all) for the segments."""
    if by is None:
        return data
    wanted = list(by)
    known = {d for cells in data.layers for d in cells.dims}
    unknown = [d for d in wanted if d not in known]
    if unknown:
        from funnelscope.errors import SpecError

        raise SpecError(
            "--by",
            f"no layer has a dimension {unknown[0]!r}",
            f"use any of: {', '.join(sorted(known))}",
        )
    layers = tuple(
        replace(cells, dims={d: v for d, v in cells.dims.items() if d in wanted})
        for cells in data.layers
    )
    return replace(data, layers=layers)


def diagnose_report(
    report: ReportSet,
    knowledge: KnowledgeBase,
    options: DiagnoseOptions | None = None,
    grain: str = "week",
    current: int = 4,
    baseline: int = 8,
    by: Sequence[str] | None = None,
) -> Diagnosis:
    """The leaks of a report set: every stage-to-stage rate by every dimension its sources share."""
    data = only_dimensions(diagnosis_input(report, grain, current, baseline), by)
    leaks = find_leaks(data, knowledge, options)
    return Diagnosis(
        leaks=tuple(leaks),
        periods=data.periods,
        final_label=data.final_label,
        notes=(*report.notes, *data.notes, *range_notes(data, options)),
        ranges_used=ranges_judge(data, options),
        unmatched=report.unmatched,
        rejected=tuple(r for s in report.sources for r in s.rejected),
        input=data,
    )


def step_keys(funnel: Funnel) -> list[str]:
    """A layer key per step: the event name, numbered when a name repeats."""
    seen: dict[str, int] = {}
    keys = []
    for step in funnel.steps:
        seen[step.event] = seen.get(step.event, 0) + 1
        keys.append(step.event if seen[step.event] == 1 else f"{step.event}#{seen[step.event]}")
    return keys


def event_input(
    funnel: Funnel,
    result: FunnelResult,
    grain: str = "week",
    current: int = 4,
    baseline: int = 8,
    value_per_conversion: float | None = None,
    last_event_us: int | None = None,
) -> DiagnosisInput:
    """An event funnel's layers as cells: per breakdown value and entry period, the counted
    attempts that did each step. An attempt belongs to the period of its entry; attempts whose
    window had not closed by the last funnel event of the data are left out (they may still
    convert), so recent periods are not made to look worse. `last_event_us` is the data's last
    funnel event (see `last_funnel_event_us`); without it, the last event of a counted attempt."""
    outcomes = result.outcomes
    reached = outcomes.reached
    times = outcomes.times_us
    rows = np.flatnonzero(reached > 0) if result.rows is None else result.rows
    reached, times = reached[rows], times[rows]
    groups = None if outcomes.groups is None else outcomes.groups[rows]
    notes: list[str] = []
    if len(rows) == 0:
        raise _no_data()
    entry = times[:, 0]
    done_steps = reached.astype(np.int64) - 1
    last = int(np.take_along_axis(times, done_steps[:, None], axis=1).max())
    if last_event_us is not None:
        last = max(last, last_event_us)
    closed = entry + funnel.window_seconds * US_PER_SECOND <= last
    if not closed.all():
        notes.append(
            f"{int((~closed).sum()):,} attempts that entered in the last "
            f"{funnel.window_seconds / 86_400:g} days are left out: their window had not "
            "closed by the data's last funnel event"
        )
    if not closed.any():
        raise _no_data()
    reached, times, entry = reached[closed], times[closed], entry[closed]
    if groups is not None:
        groups = groups[closed]
    days = (entry // US_PER_DAY).astype("datetime64[D]")
    starts = calendar(days.min(), days.max(), grain)
    period = index_of(days, starts, grain)
    ends = np.array([period_end(s, grain) for s in starts], dtype="datetime64[D]")
    begin = np.maximum(starts.astype("datetime64[D]"), days.min())
    day_counts = ((np.minimum(ends, days.max()) - begin).astype(np.int64) + 1).astype(np.int64)
    periods = windows(starts, day_counts, grain, current, baseline)
    properties = funnel.breakdown.properties if funnel.breakdown is not None else ()
    values = outcomes.group_values
    dims_per_row: dict[str, np.ndarray] = {}
    for i, prop in enumerate(properties):
        texts = np.array([NOT_SET if v[i] is None else str(v[i]) for v in values], dtype=object)
        dims_per_row[prop] = texts[groups] if groups is not None else texts[:0]
    codes = np.stack(
        [period]
        + [
            np.unique(t.astype(str), return_inverse=True)[1].reshape(-1)
            for t in dims_per_row.values()
        ],
        axis=1,
    )
    keys, inverse = np.unique(codes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    first = np.zeros(len(keys), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]
    cell_dims = {prop: texts[first] for prop, texts in dims_per_row.items()}
    cell_period = keys[:, 0].astype(np.int64)
    optional = [step.optional for step in funnel.steps]
    keys_of = step_keys(funnel)
    labels = {key: step.display for key, step in zip(keys_of, funnel.steps, strict=True)}
    layers: list[LayerCells] = []
    for k in range(len(funnel.steps)):
        did = done_at(reached, times, optional, k).astype(np.float64)
        to = np.bincount(inverse, weights=did, minlength=len(keys)).astype(np.float64)
        if k == 0:
            layer = Layer(keys_of[0], None, labels[keys_of[0]], None)
            layers.append(LayerCells(layer, cell_dims, cell_period, np.zeros_like(to), to))
            continue
        j = previous_required(optional, k)
        before = done_at(reached, times, optional, j).astype(np.float64)
        n = np.bincount(inverse, weights=before, minlength=len(keys)).astype(np.float64)
        layer = Layer(keys_of[k], keys_of[j], labels[keys_of[k]], labels[keys_of[j]])
        layers.append(LayerCells(layer, cell_dims, cell_period, n, to))
    yields = ChainYields(layers, periods, keys_of, value_per_conversion)
    return DiagnosisInput(
        layers=tuple(layers),
        periods=periods,
        yields=yields,
        final_stage=keys_of[-1],
        final_label=labels[keys_of[-1]],
        stage_labels=labels,
        notes=(*notes, *window_notes(periods, current, baseline)),
        unit=result.counting,
    )


def last_funnel_event_us(funnel: Funnel, source: Any) -> int | None:
    """The time of the data's last event whose name is one of the funnel's steps ([D11])."""
    names = sorted({step.event for step in funnel.steps})
    if isinstance(source, EventStore):  # one aggregate, no scan
        return source.last_event_us(names)
    table = source.scan(names)
    if table.num_rows == 0:
        return None
    import pyarrow.compute as pc

    return int(pc.max(table.column("ts")).as_py())


def _no_data() -> Exception:
    from funnelscope.errors import EngineError

    return EngineError(
        "no attempt whose conversion window has closed: the funnel has nothing to diagnose yet"
    )


def diagnose_funnel(
    funnel: Funnel,
    result: FunnelResult,
    knowledge: KnowledgeBase,
    options: DiagnoseOptions | None = None,
    grain: str = "week",
    current: int = 4,
    baseline: int = 8,
    value_per_conversion: float | None = None,
    last_event_us: int | None = None,
) -> Diagnosis:
    """The leaks of an event funnel's steps, by its breakdown properties and over time."""
    data = event_input(
        funnel, result, grain, current, baseline, value_per_conversion, last_event_us
    )
    leaks = find_leaks(data, knowledge, options)
    return Diagnosis(
        leaks=tuple(leaks),
        periods=data.periods,
        final_label=data.final_label,
        notes=(*result.outcomes.warnings, *data.notes, *range_notes(data, options)),
        ranges_used=ranges_judge(data, options),
        input=data,
    )
