"""Funnel experiments: who saw which variant, and each variant's funnel from its first exposure.

A person is in the experiment from their first exposure event (``experiment_started`` with a
``variant`` property, say) and in the variant that event names. Only their events at or after
that moment count, so what they did before the experiment cannot move its result. A person whose
exposures name two variants crossed over and is left out of every variant (and counted). The
statistics over these counts live in `funnelscope.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from funnelscope.analyses.experiments.spec import ExperimentSpec, Exposure
from funnelscope.engines import DEFAULT_ENGINE
from funnelscope.errors import SpecError

if TYPE_CHECKING:
    import pyarrow as pa

    from funnelscope.model.results import FunnelResult
    from funnelscope.store.sources import EventSource


@dataclass(frozen=True)
class Assignment:
    """Who is in which variant, and since when (µs), from the exposure events."""

    persons: np.ndarray
    """Person ids (text) of everyone exposed to exactly one variant."""
    variants: np.ndarray
    since_us: np.ndarray
    crossovers: int
    """Persons whose exposures named two or more variants: left out."""
    unnamed: int
    """Exposure events without a variant value: ignored."""


def assign(exposures: pa.Table, exposure: Exposure, since_us: int | None = None) -> Assignment:
    """Each person's variant and first exposure time from their exposure events (scan format:
    person_id, event_id, event, ts, then the variant property). With `since_us` (a date range's
    start, docs/semantics.md [R7]) only persons first exposed then or later take part: the
    others, crossovers among them, are left out and not counted, and so are unnamed exposures
    before it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = exposures
    if exposure.event is not None:
        table = table.filter(pc.equal(table.column("event"), exposure.event))
    if exposure.variant_property in table.column_names:
        variant = table.column(exposure.variant_property).cast("string")
    else:
        variant = pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    named = pc.is_valid(variant)
    # Only exposure events without a value are "unnamed"; with a person property, events
    # without it are simply not exposures.
    unnamed = 0
    if exposure.event is not None:
        late = pc.invert(named)
        if since_us is not None:
            late = pc.and_(late, pc.greater_equal(table.column("ts"), since_us))
        unnamed = int(pc.sum(late).as_py() or 0)
    table = table.filter(named)
    persons = np.asarray(table.column("person_id").cast("string").to_pylist(), dtype=object)
    ts = table.column("ts").to_numpy()
    ids = np.asarray(table.column("event_id").cast("string").to_pylist(), dtype=object)
    names = np.asarray(variant.filter(named).to_pylist(), dtype=object)
    order = np.lexsort((ids, ts, persons))  # by person, then time, then event_id ([S1])
    persons, ts, names = persons[order], ts[order], names[order]
    first = np.ones(len(persons), dtype=bool)
    first[1:] = persons[1:] != persons[:-1]
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    labels, codes = np.unique(names.astype(str), return_inverse=True)
    pairs = np.unique(group * max(len(labels), 1) + codes.reshape(-1))
    per_person = np.bincount(pairs // max(len(labels), 1), minlength=len(starts))
    single = per_person == 1
    inside = np.ones(len(starts), dtype=bool) if since_us is None else ts[starts] >= since_us
    return Assignment(
        persons=persons[starts][single & inside],
        variants=names[starts][single & inside],
        since_us=ts[starts][single & inside].astype(np.int64),
        crossovers=int((~single & inside).sum()),
        unnamed=unnamed,
    )


@dataclass(frozen=True)
class VariantFunnel:
    """One variant's exposed persons and its funnel over their events since exposure."""

    variant: str
    exposed: int
    result: FunnelResult

    def reached(self, step: int) -> int:
        return self.result.step(step).count


@dataclass(frozen=True)
class ExperimentCounts:
    """Every variant's funnel (control first, then by name), and who was left out."""

    spec: ExperimentSpec
    variants: tuple[VariantFunnel, ...]
    crossovers: int
    unnamed: int

    def variant(self, name: str) -> VariantFunnel:
        for v in self.variants:
            if v.variant == name:
                return v
        raise KeyError(name)


def experiment_counts(
    spec: ExperimentSpec, source: EventSource, engine: str = DEFAULT_ENGINE
) -> ExperimentCounts:
    """Assign persons from the exposure events, keep each person's events from their first
    exposure on, and run the funnel per variant with the named engine. Under a date range only
    persons first exposed inside it take part (exposures after it are not read, [R7])."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from funnelscope.analyses.funnel import run_funnel

    exposure = spec.exposure
    names_read = None if exposure.event is None else [exposure.event]
    exposures = source.scan(names_read, [exposure.variant_property])
    dates = spec.funnel.date_range
    if dates is not None and dates.end_us is not None:
        exposures = exposures.filter(pc.less(exposures.column("ts"), dates.end_us))
    assignment = assign(exposures, exposure, None if dates is None else dates.start_us)
    if not len(assignment.persons):
        what = "event" if exposure.event is None else f"{exposure.event!r} event"
        raise SpecError(
            "exposure",
            f"no {what} with a {exposure.variant_property!r} value",
            "check the exposure event and property names",
        )
    seen_variants = set(assignment.variants.tolist())
    if spec.control not in seen_variants:
        seen = ", ".join(sorted(seen_variants))
        raise SpecError("control", f"no person saw {spec.control!r}", f"the variants are: {seen}")
    unplanned = sorted(seen_variants - set(spec.weights)) if spec.weights else []
    if unplanned:
        raise SpecError(
            "weights",
            f"has no share for {unplanned[0]!r}, which persons saw",
            f"give every variant a share: {', '.join(sorted(seen_variants))}",
        )
    funnel = spec.funnel
    names = None if funnel.reads_all_events else list(funnel.scan_event_names)
    events = source.scan(names, list(funnel.properties), sessions=funnel.sessions_by_column)
    if names is not None:
        events = events.filter(pc.is_in(events.column("event"), pa.array(names)))
    lookup = {p: i for i, p in enumerate(assignment.persons.tolist())}
    person_index = np.array(
        [lookup.get(p, -1) for p in events.column("person_id").cast("string").to_pylist()],
        dtype=np.int64,
    )
    exposed = person_index >= 0
    since = np.where(exposed, assignment.since_us[np.maximum(person_index, 0)], 0)
    keep = exposed & (events.column("ts").to_numpy() >= since)
    kept = events.filter(pa.array(keep))
    kept_variants = assignment.variants[person_index[keep]]
    order = [spec.control, *sorted(set(assignment.variants.tolist()) - {spec.control})]
    out = []
    for variant in order:
        rows = pa.array(kept_variants == variant)
        exposed_count = int((assignment.variants == variant).sum())
        result = run_funnel(funnel, kept.filter(rows), engine)  # closes its table source
        out.append(VariantFunnel(str(variant), exposed_count, result))
    return ExperimentCounts(spec, tuple(out), assignment.crossovers, assignment.unnamed)
