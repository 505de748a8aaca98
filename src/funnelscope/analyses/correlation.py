"""Funnel correlation: which events and property values go with converting or dropping.

Among the persons who entered the funnel, those whose counted attempt reached the last step
converted, the others dropped. For every event name the attempts did (and every value of the
properties asked for) a 2x2 table counts converted and dropped attempts with and without it;
its odds ratio (PostHog's +1 prior in every cell), Wald interval and p-value come from
``funnelscope.stats.odds_ratio``, the p-values are Benjamini-Hochberg adjusted over every
tested item, and the items are ranked by significance and split into "more likely to convert"
(odds ratio > 1) and "less likely" (the rest).

The engine's :class:`Outcomes` give each attempt's person, entry and conversion time; one SQL
query over the source joins them to the events (correlation_sql.py). Docs: the correlation
section of docs/semantics.md ([K1]-[K9]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from funnelscope.analyses.correlation_sql import ATTEMPTS, person_values_query, presence_query
from funnelscope.analyses.funnel import summarize
from funnelscope.engines import DEFAULT_ENGINE, get_engine
from funnelscope.errors import SpecError
from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.results import NONE_TEXT, FunnelResult, Outcomes
from funnelscope.stats.multiple import benjamini_hochberg
from funnelscope.stats.odds_ratio import PRIOR_COUNT, Table2x2, odds_ratio_tests

if TYPE_CHECKING:
    from funnelscope.model.spec import Funnel
    from funnelscope.store.event_columns import EventColumns
    from funnelscope.store.sources import EventSource

EVENT = "event"
EVENT_PROPERTY = "event_property"
PERSON_PROPERTY = "person_property"
UNTIL = ("conversion", "window")
MIN_PERSONS = 25  # PostHog's default floor: an item needs min(25, 2% of entered) persons
MIN_SHARE = 0.02
SKEW = 10  # converted/dropped more than 10:1 either way is a skewed split


@dataclass(frozen=True)
class CorrelationOptions:
    """What to test and how. `min_count` None: PostHog's rule, min(25, 2% of entered)."""

    properties: tuple[str, ...] = ()  # event properties, read on the counted events
    person_properties: tuple[str, ...] = ()  # the person's value ([B5])
    include_steps: bool = False  # count the funnel's own step events too
    exclude_events: tuple[str, ...] = ()
    until: str = "conversion"  # or "window": every attempt's events up to entry + window
    min_count: int | None = None
    top: int = 10
    alpha: float = 0.05
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.until not in UNTIL:
            raise SpecError("until", f"{self.until!r} is not a choice", "use conversion or window")
        if self.top < 1:
            raise SpecError("top", f"must be 1 or more, got {self.top}", "e.g. --top 10")
        if self.min_count is not None and self.min_count < 1:
            raise SpecError("min_count", f"must be 1 or more, got {self.min_count}", "")
        if not 0 < self.alpha < 1:
            raise SpecError("alpha", f"must be between 0 and 1, got {self.alpha}", "e.g. 0.05")


@dataclass(frozen=True)
class Driver:
    """One tested item: an event name, or a property's value, and its 2x2 table."""

    kind: str  # "event", "event_property" or "person_property"
    name: str  # the event name or the property name
    value: str | None  # the value's text ([F2]); "(none)": a person property not set
    converted_with: int
    dropped_with: int
    converted_without: int
    dropped_without: int
    odds_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str  # "fisher" or "chi2"
    p_adjusted: float  # Benjamini-Hochberg over every tested item
    significant: bool  # p_adjusted < alpha

    @property
    def direction(self) -> str:
        """ "more" likely to convert when the odds ratio is above 1, else "less"."""
        return "more" if self.odds_ratio > 1 else "less"

    @property
    def label(self) -> str:
        if self.kind == EVENT:
            return self.name
        prefix = "person." if self.kind == PERSON_PROPERTY else ""
        return f"{prefix}{self.name} = {self.value}"

    @property
    def persons(self) -> int:
        return self.converted_with + self.dropped_with

    @property
    def conversion_with(self) -> float | None:
        return self.converted_with / self.persons if self.persons else None

    @property
    def conversion_without(self) -> float | None:
        without = self.converted_without + self.dropped_without
        return self.converted_without / without if without else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "value": self.value,
            "direction": self.direction,
            "converted_with": self.converted_with,
            "dropped_with": self.dropped_with,
            "converted_without": self.converted_without,
            "dropped_without": self.dropped_without,
            "conversion_with": self.conversion_with,
            "conversion_without": self.conversion_without,
            "odds_ratio": self.odds_ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "test": self.test,
            "p_adjusted": self.p_adjusted,
            "significant": self.significant,
        }


@dataclass(frozen=True)
class CorrelationResult:
    funnel: Funnel
    options: CorrelationOptions
    entered: int
    converted: int
    min_count: int
    tested: tuple[Driver, ...]  # every tested item, most significant first
    untested: int  # items seen on fewer than min_count attempts (not tested, not corrected for)
    excluded_events: tuple[str, ...]
    notes: tuple[str, ...] = ()
    funnel_result: FunnelResult | None = field(default=None, compare=False, repr=False)

    @property
    def dropped(self) -> int:
        return self.entered - self.converted

    @property
    def skewed(self) -> bool:
        """Converted and dropped more than 10:1 apart (or one of them empty), as PostHog warns:
        the odds ratios then rest on few persons on one side."""
        c, d = self.converted, self.dropped
        return c == 0 or d == 0 or c > SKEW * d or d > SKEW * c

    @property
    def more_likely(self) -> tuple[Driver, ...]:
        return tuple(d for d in self.tested if d.direction == "more")[: self.options.top]

    @property
    def less_likely(self) -> tuple[Driver, ...]:
        return tuple(d for d in self.tested if d.direction == "less")[: self.options.top]

    def to_dict(self) -> dict[str, Any]:
        o = self.options
        return {
            "funnel": self.funnel.name,
            "order": self.funnel.order.value,
            "window_seconds": self.funnel.window_seconds,
            "entered": self.entered,
            "converted": self.converted,
            "dropped": self.dropped,
            "skewed": self.skewed,
            "until": o.until,
            "excluded_events": list(self.excluded_events),
            "properties": list(o.properties),
            "person_properties": list(o.person_properties),
            "min_count": self.min_count,
            "tested": len(self.tested),
            "untested": self.untested,
            "alpha": o.alpha,
            "confidence": o.confidence,
            "prior_count": PRIOR_COUNT,
            "more_likely": [d.to_dict() for d in self.more_likely],
            "less_likely": [d.to_dict() for d in self.less_likely],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Attempts:
    """The counted attempts as the correlation sees them: one row per entered person."""

    keys: np.ndarray  # the person in the source's terms (its integer key, or the id text)
    start_us: np.ndarray  # entry: times_us[:, 0]
    end_us: np.ndarray  # conversion time, or entry + window
    converted: np.ndarray  # bool


def correlation_funnel(funnel: Funnel) -> tuple[Funnel, list[str]]:
    """The funnel whose attempts are correlated: a breakdown is dropped (each person's best
    attempt over all values counts once); counting sessions or every attempt is refused."""
    notes = []
    if funnel.count != "persons":
        raise SpecError(
            "count",
            f"correlation counts persons, not {funnel.count}",
            "remove count (or --count) from the spec for the correlation",
        )
    if funnel.breakdown is not None:
        funnel = replace(funnel, breakdown=None)
        notes.append("the spec's breakdown is ignored: each person's best attempt counts once")
    return funnel, notes


def attempts_of(
    funnel: Funnel, outcomes: Outcomes, until: str = "conversion"
) -> tuple[np.ndarray, Attempts]:
    """Rows of `outcomes` that entered, and their windows: [entry, conversion] for those that
    reached the last step (until "conversion"), else [entry, entry + window]."""
    rows = np.flatnonzero(outcomes.reached > 0)
    n = len(funnel.steps)
    times = outcomes.times_us[rows]
    start = times[:, 0].astype(np.int64)
    converted = outcomes.reached[rows] >= n
    end = start + np.int64(funnel.window_seconds) * US_PER_SECOND
    if until == "conversion":
        end = np.where(converted, times[:, n - 1], end)
    return rows, Attempts(outcomes.person_keys[rows], start, end, converted)


def _source_keys(
    outcomes: Outcomes, rows: np.ndarray, source: EventSource, cols: EventColumns
) -> np.ndarray:
    """Each row's person as `cols.person` names it: the engine's keys are the source's own
    unless it attached ids (the reference engine), which are then looked up."""
    if outcomes.person_ids is None:
        own: np.ndarray = outcomes.person_keys[rows]
        return own
    ids = outcomes.person_ids[rows]
    if not cols.integer_person:
        texts: np.ndarray = ids.astype(str)
        return texts
    con = source.duckdb_connection
    found = con.execute(f"SELECT DISTINCT {cols.person} FROM {cols.source}").fetchall()
    keys = np.array([int(row[0]) for row in found], dtype=np.int64)
    by_id = dict(zip(source.person_ids(keys), keys.tolist(), strict=True))
    return np.array([by_id[str(i)] for i in ids.tolist()], dtype=np.int64)


def correlate(
    funnel: Funnel,
    source: EventSource,
    engine: str = DEFAULT_ENGINE,
    options: CorrelationOptions = CorrelationOptions(),
) -> CorrelationResult:
    """Run the funnel with `engine` and correlate each event and property value of the
    entered persons' counted events with conversion."""
    funnel, notes = correlation_funnel(funnel)
    outcomes = get_engine(engine)(funnel, source)
    result = summarize(funnel, outcomes)
    rows, attempts = attempts_of(funnel, outcomes, options.until)
    excluded = tuple(
        dict.fromkeys(
            [*(() if options.include_steps else funnel.event_names), *options.exclude_events]
        )
    )
    cols = source.columns([*options.properties, *options.person_properties])
    missing = [
        p for p in (*options.properties, *options.person_properties) if p not in cols.properties
    ]
    notes.extend(f"no event has a property {p!r}: it has no values to test" for p in missing)
    entered, converted = int(rows.size), int(attempts.converted.sum())
    min_count = options.min_count
    if min_count is None:
        min_count = max(1, math.ceil(min(MIN_PERSONS, MIN_SHARE * entered)))
    if converted == 0 or converted == entered:
        notes.append("nobody converted" if converted == 0 else "everybody who entered converted")
        notes.append("with one side empty nothing can be told apart: nothing was tested")
        return CorrelationResult(
            funnel, options, entered, converted, min_count, (), 0, excluded, tuple(notes), result
        )
    counts = _counts(
        source,
        cols,
        replace(attempts, keys=_source_keys(outcomes, rows, source, cols)),
        excluded,
        [p for p in options.properties if p not in missing],
        [p for p in options.person_properties if p not in missing],
        funnel,
    )
    kept = [c for c in counts if c[3] + c[4] >= min_count]
    drivers = _tested(kept, converted, entered - converted, options)
    return CorrelationResult(
        funnel,
        options,
        entered,
        converted,
        min_count,
        drivers,
        len(counts) - len(kept),
        excluded,
        tuple(notes),
        result,
    )


Count = tuple[str, str, str | None, int, int]  # kind, name, value text, converted, dropped


def _counts(
    source: EventSource,
    cols: EventColumns,
    attempts: Attempts,
    excluded: Sequence[str],
    properties: Sequence[str],
    person_properties: Sequence[str],
    funnel: Funnel,
) -> list[Count]:
    """Converted and dropped attempts with each event name and value (one SQL pass over the
    events, and one more for person values)."""
    from funnelscope.model.filters import text_form

    n = attempts.keys.size
    keys = attempts.keys
    table = pa.Table.from_arrays(
        [
            _int64s(np.arange(n, dtype=np.int64)),
            _int64s(keys) if keys.dtype.kind in "iu" else pa.array(keys.tolist(), pa.string()),
            _int64s(attempts.start_us),
            _int64s(attempts.end_us),
            pa.Array.from_buffers(
                pa.bool_(),
                n,
                [None, pa.py_buffer(np.packbits(attempts.converted, bitorder="little"))],
            ),
        ],
        names=["row_id", "pkey", "t0", "t1", "converted"],
    )
    con = source.duckdb_connection
    con.register(ATTEMPTS, table)
    out: list[Count] = []
    try:
        q = presence_query(cols, excluded, properties)
        for row in con.execute(q.sql, q.params or None).fetchall():
            group, converted, dropped = int(row[0]), int(row[-2]), int(row[-1])
            if group == 0:
                out.append((EVENT, str(row[1]), None, converted, dropped))
            else:
                value = text_form(row[1 + group])
                out.append((EVENT_PROPERTY, properties[group - 1], value, converted, dropped))
        if person_properties:
            until = None if funnel.date_range is None else funnel.date_range.end_us
            q = person_values_query(cols, person_properties, until)
            for row in con.execute(q.sql).fetchall():
                group, converted, dropped = int(row[0]), int(row[-2]), int(row[-1])
                raw = row[1 + group]
                value = NONE_TEXT if raw is None else text_form(raw)
                out.append((PERSON_PROPERTY, person_properties[group], value, converted, dropped))
    finally:
        con.unregister(ATTEMPTS)
    return out


def _int64s(values: np.ndarray) -> pa.Array:
    """An Arrow int64 array over the numpy buffer (pa.array would import pandas: ~0.3 s)."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), data.size, [None, pa.py_buffer(data)])


def _tested(
    counts: Sequence[Count], converted: int, dropped: int, options: CorrelationOptions
) -> tuple[Driver, ...]:
    """Each count's table and tests, BH-adjusted over all of them, most significant first."""
    tables = [Table2x2(s, f, converted - s, dropped - f) for _, _, _, s, f in counts]
    tests = odds_ratio_tests(tables, PRIOR_COUNT, options.confidence)
    adjusted = benjamini_hochberg([t.p_value for t in tests])
    drivers = [
        Driver(
            kind,
            name,
            value,
            t.a,
            t.b,
            t.c,
            t.d,
            r.odds_ratio,
            r.low,
            r.high,
            r.p_value,
            r.test,
            q,
            q < options.alpha,
        )
        for (kind, name, value, _, _), t, r, q in zip(counts, tables, tests, adjusted, strict=True)
    ]
    drivers.sort(
        key=lambda d: (
            d.p_adjusted,
            d.p_value,
            -abs(math.log(d.odds_ratio)),
            d.kind,
            d.name,
            d.value or "",
        )
    )
    return tuple(drivers)
