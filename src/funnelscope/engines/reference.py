"""The reference engine: plain Python over one person's sorted events. Slow, short, the oracle.

It transcribes docs/semantics.md directly. A person's events are ordered by (timestamp, event_id);
"earliest" below always means first in that order.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from funnelscope.model.events import scan_column
from funnelscope.model.results import Outcomes, PersonOutcome
from funnelscope.model.spec import Funnel

US_PER_SECOND = 1_000_000


@dataclass(frozen=True)
class Event:
    ts: int  # microseconds since the epoch, UTC
    steps: frozenset[int]  # 0-based steps this event can fill (name and every filter match)


def compute(funnel: Funnel, events: Any) -> Outcomes:
    """Best attempt of every person in `events`: an event source or an Arrow table in the scan
    format (person_id, event_id, event, ts, properties...)."""
    from funnelscope.store.sources import as_source

    names = None if funnel.order == "strict" else funnel.event_names
    table = as_source(events).scan(names, funnel.properties)
    return Outcomes.from_people(people_outcomes(funnel, table), len(funnel.steps))


def people_outcomes(funnel: Funnel, table: Any) -> list[PersonOutcome]:
    """Best attempt of every person in an Arrow `table` who entered the funnel."""
    outcomes = []
    for person_id, events in _persons(funnel, table):
        reached, times = best_attempt(funnel, events)
        if reached:
            outcomes.append(PersonOutcome(person_id, reached, times))
    return outcomes


def _persons(funnel: Funnel, table: Any) -> Iterator[tuple[str, list[Event]]]:
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    props = {p: columns.get(scan_column(p), [None] * table.num_rows) for p in funnel.properties}
    rows = sorted(
        zip(
            columns["person_id"],
            columns["ts"],
            columns["event_id"],
            range(table.num_rows),
            strict=True,
        )
    )
    for person_id, group in groupby(rows, key=lambda row: row[0]):
        events = []
        for _, ts, _, row in group:
            name = columns["event"][row]
            steps = frozenset(
                k
                for k, step in enumerate(funnel.steps)
                if step.event == name
                and all(f.matches(props[f.property][row]) for f in funnel.filters_for(k))
            )
            events.append(Event(ts, steps))
        yield person_id, events


def best_attempt(funnel: Funnel, events: Sequence[Event]) -> tuple[int, tuple[int, ...]]:
    """Furthest attempt over all entries, the earliest among equals: (reached, step times)."""
    attempt = _any_order_attempt if funnel.order == "any" else _sequential_attempt
    best: tuple[int, ...] = ()
    for entry, event in enumerate(events):
        can_enter = bool(event.steps) if funnel.order == "any" else 0 in event.steps
        if not can_enter:
            continue
        times = attempt(funnel, events, entry)
        if len(times) > len(best):
            best = times
    return len(best), best


def _sequential_attempt(funnel: Funnel, events: Sequence[Event], entry: int) -> tuple[int, ...]:
    """ordered / strict: fill steps one by one with the earliest unused event that fits."""
    all_ts = [e.ts for e in events]
    deadline = events[entry].ts + funnel.window_seconds * US_PER_SECOND
    used = {entry}
    times = [events[entry].ts]
    for k in range(1, len(funnel.steps)):
        last = times[-1]
        start = bisect_left(all_ts, last)  # ties with the previous step count as in order
        chosen = next(
            (
                j
                for j in range(start, len(events))
                if j not in used and k in events[j].steps and events[j].ts <= deadline
            ),
            None,
        )
        if chosen is None:
            break
        ts = events[chosen].ts
        if funnel.order == "strict" and bisect_left(all_ts, ts) > bisect_right(all_ts, last):
            break  # another event of the person happened strictly between the two steps
        used.add(chosen)
        times.append(ts)
    return tuple(times)


def _any_order_attempt(funnel: Funnel, events: Sequence[Event], entry: int) -> tuple[int, ...]:
    """any: distinct steps done by distinct events within the window of the entry event.

    Steps are assigned by maximum matching (an event that fits several steps takes the one that
    lets the most steps count); the k-th step is reached when the matching first grows to k.
    """
    start_ts = events[entry].ts
    deadline = start_ts + funnel.window_seconds * US_PER_SECOND
    window = [entry] + [
        j for j, e in enumerate(events) if j != entry and start_ts <= e.ts <= deadline and e.steps
    ]
    owner: dict[int, int] = {}  # step -> event index filling it
    times: list[int] = []
    for j in window:
        if _augment(j, events, owner, set()):
            times.append(events[j].ts)
    return tuple(times)


def _augment(j: int, events: Sequence[Event], owner: dict[int, int], seen: set[int]) -> bool:
    for k in sorted(events[j].steps):
        if k in seen:
            continue
        seen.add(k)
        if k not in owner or _augment(owner[k], events, owner, seen):
            owner[k] = j
            return True
    return False
