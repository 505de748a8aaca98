"""The reference machine: plain Python over one person's sorted events. Slow, short, the oracle.

It transcribes docs/semantics.md directly. A person's events are ordered by (timestamp, event_id);
"earliest" below always means first in that order.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from funnelscope.model.durations import US_PER_SECOND
from funnelscope.model.events import scan_column
from funnelscope.model.filters import Filter
from funnelscope.model.results import PersonOutcome, no_session_warning
from funnelscope.model.spec import Funnel, Order


@dataclass(frozen=True)
class Event:
    ts: int  # microseconds since the epoch, UTC
    steps: frozenset[int]  # 0-based steps this event can fill (name and every filter match)
    exclusions: frozenset[int] = frozenset()  # exclusions it matches (name and their filters)
    held: tuple[Any, ...] = ()  # values of the hold_constant properties
    value: tuple[Any, ...] = ()  # breakdown value (event scope) or the person's (person scope)


@dataclass
class Attempt:
    entry: int
    times: list[int | None]  # per step: when it was done (None: not done)
    events: list[int | None]  # per step: the event that did it
    end: float | None  # a next attempt (count: totals) may start at an event at or after this
    used: set[int] = field(default_factory=set)

    @property
    def reached(self) -> int:
        return max(k + 1 for k, t in enumerate(self.times) if t is not None)

    def score(self, funnel: Funnel) -> tuple[int, int]:
        """[S10] + [O4]: required steps done, then steps done."""
        required = sum(
            1 for k, t in enumerate(self.times) if t is not None and not funnel.steps[k].optional
        )
        return required, sum(1 for t in self.times if t is not None)


def people_outcomes(funnel: Funnel, table: Any) -> tuple[list[PersonOutcome], list[str]]:
    """Every counted attempt of the persons in an Arrow `table`, and warnings about the data."""
    outcomes: list[PersonOutcome] = []
    sessionless = 0
    r = funnel.date_range
    last_use = None if r is None else r.last_use_us(funnel.window_seconds * US_PER_SECOND)
    for person_id, events, sessions in _persons(funnel, table):
        if funnel.sessions_by_column:  # step events the funnel could use, without a session
            sessionless += sum(
                1
                for e, s in zip(events, sessions, strict=True)
                if s is None
                and e.name in funnel.event_names
                and (last_use is None or e.ts <= last_use)
            )
        for unit, unit_events in enumerate(_units(funnel, events, sessions)):
            for value, attempt in _unit_attempts(funnel, unit_events):
                times = tuple(attempt.times[: attempt.reached])
                outcomes.append(
                    PersonOutcome(person_id, attempt.reached, times, value, (person_id, unit))
                )
    b = funnel.breakdown
    if b is None:
        outcomes = [PersonOutcome(o.person_id, o.reached, o.times_us) for o in outcomes]
    elif b.attribution != "all_events" or b.scope == "person" or funnel.count == "totals":
        # every row is a unit of its own: only a unit's several values are alternatives
        outcomes = [PersonOutcome(o.person_id, o.reached, o.times_us, o.value) for o in outcomes]
    return outcomes, [no_session_warning(sessionless)] if sessionless else []


@dataclass(frozen=True)
class _Named(Event):
    name: str = ""


def _persons(funnel: Funnel, table: Any) -> Iterator[tuple[str, list[_Named], list[Any]]]:
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    none = [None] * table.num_rows
    props = {p: columns.get(scan_column(p), none) for p in funnel.properties}
    session_column = columns.get("session_id", none)
    rows = sorted(
        zip(
            columns["person_id"],
            columns["ts"],
            columns["event_id"],
            range(table.num_rows),
            strict=True,
        )
    )
    breakdown = funnel.breakdown
    date_range = funnel.date_range
    for person_id, group in groupby(rows, key=lambda row: row[0]):
        events, sessions = [], []
        person_rows = [row for _, _, _, row in group]
        # [B5] the person's value: their latest event carrying it, up to the range's end [R4]
        known = [r for r in person_rows if date_range is None or date_range.end_us is None
                 or columns["ts"][r] < date_range.end_us]  # fmt: skip
        person = {
            p: next((props[p][r] for r in reversed(known) if props[p][r] is not None), None)
            for p in funnel.person_properties
        }
        person_value: tuple[Any, ...] = ()
        if breakdown is not None and breakdown.scope == "person":
            person_value = tuple(_same(person[p]) for p in breakdown.properties)
        start = None if date_range is None else date_range.start_us
        for row in person_rows:
            if start is not None and columns["ts"][row] < start:
                continue  # [R3] events before the range are not in the data
            name = columns["event"][row]
            steps = frozenset(
                k
                for k, step in enumerate(funnel.steps)
                if step.event == name and _passes(funnel.filters_for(k), person, props, row)
            )
            excluded = frozenset(
                x
                for x, exclusion in enumerate(funnel.exclusions)
                if exclusion.event == name and _passes(exclusion.where, person, props, row)
            )
            held = tuple(_same(props[p][row]) for p in funnel.hold_constant)
            value = person_value
            if breakdown is not None and breakdown.scope == "event":
                value = tuple(_same(props[p][row]) for p in breakdown.properties)
            events.append(_Named(columns["ts"][row], steps, excluded, held, value, name))
            sessions.append(session_column[row])
        yield person_id, events, sessions


def _passes(
    filters: tuple[Filter, ...], person: dict[str, Any], props: dict[str, list[Any]], row: int
) -> bool:
    """[S4], [P1]: every filter holds, a person-scope one on the person's value."""
    return all(
        f.matches(person[f.property] if f.on_person else props[f.property][row]) for f in filters
    )


class _NaN:
    """Every NaN is one value when values are compared ([H2]): Python's nan != nan."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NaN)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "nan"


def _same(value: Any) -> Any:
    """A value as compared for "the same value": -0.0 is 0.0, every NaN is one value."""
    if isinstance(value, float):
        if math.isnan(value):
            return _NaN()
        return value + 0.0
    return value


def _units(funnel: Funnel, events: list[_Named], sessions: list[Any]) -> list[list[_Named]]:
    """What one counted attempt must lie in ([C1]-[C2]): the person, or each of their sessions."""
    if funnel.count != "sessions":
        return [events]
    if funnel.session_gap_seconds is None:  # the session_id column; events without one: none
        by_id: dict[Any, list[_Named]] = {}
        for event, session in zip(events, sessions, strict=True):
            if session is not None:
                by_id.setdefault(session, []).append(event)
        return list(by_id.values())
    gap = funnel.session_gap_seconds * US_PER_SECOND
    units: list[list[_Named]] = []
    for i, event in enumerate(events):
        if i == 0 or event.ts - events[i - 1].ts > gap:
            units.append([])
        units[-1].append(event)
    return units


def _unit_attempts(
    funnel: Funnel, events: Sequence[Event]
) -> Iterator[tuple[tuple[Any, ...] | None, Attempt]]:
    """The counted attempts of one unit with their breakdown values."""
    breakdown = funnel.breakdown
    if (
        breakdown is not None
        and breakdown.scope == "event"
        and breakdown.attribution == "all_events"
    ):
        values = dict.fromkeys(e.value for e in events if _can_enter(funnel, e))
        for value in values:  # [B4] each value on its own, held constant
            for attempt in _counted(funnel, events, value):
                yield value, attempt
        return
    for attempt in _counted(funnel, events, None):
        yield (_attributed(funnel, events, attempt) if breakdown else None), attempt


def _attributed(funnel: Funnel, events: Sequence[Event], attempt: Attempt) -> tuple[Any, ...]:
    """[B2]-[B3]: the breakdown value an attempt is counted under."""
    breakdown = funnel.breakdown
    assert breakdown is not None
    if breakdown.scope == "person":
        return events[attempt.entry].value
    if breakdown.attribution == "first_touch":
        index: int | None = attempt.entry
    elif breakdown.attribution == "last_touch":
        index = attempt.events[attempt.reached - 1]
    else:
        assert breakdown.step is not None
        index = attempt.events[breakdown.step - 1]
    if index is None:
        return (None,) * len(breakdown.properties)
    return events[index].value


def _can_enter(funnel: Funnel, event: Event) -> bool:
    """[S6], [S14]; and [R1] only inside the date range (its start: [R3] left the rest out)."""
    r = funnel.date_range
    if r is not None and r.end_us is not None and event.ts >= r.end_us:
        return False
    return bool(event.steps) if funnel.order == Order.ANY else 0 in event.steps


def _counted(funnel: Funnel, events: Sequence[Event], value: Any) -> list[Attempt]:
    """[S10] the best attempt, or under count: totals every attempt in turn ([C3])."""
    attempt_from = _any_order_attempt if funnel.order == Order.ANY else _sequential_attempt

    def enters(e: Event) -> bool:
        return _can_enter(funnel, e) and (value is None or e.value == value)

    if funnel.count == "totals":
        attempts: list[Attempt] = []
        taken: set[int] = set()
        start: float = -math.inf
        while True:
            entry = next(
                (j for j, e in enumerate(events) if e.ts >= start and j not in taken and enters(e)),
                None,
            )
            if entry is None:
                return attempts
            attempt = attempt_from(funnel, events, entry, taken, value)
            attempts.append(attempt)
            taken |= attempt.used
            assert attempt.end is not None
            start = attempt.end
    best: Attempt | None = None
    for entry, event in enumerate(events):
        if enters(event):
            attempt = attempt_from(funnel, events, entry, set(), value)
            if best is None or attempt.score(funnel) > best.score(funnel):
                best = attempt
    return [best] if best is not None else []


def _sequential_attempt(
    funnel: Funnel, events: Sequence[Event], entry: int, taken: set[int], value: Any
) -> Attempt:
    """ordered / strict: fill steps one by one with the earliest unused event that fits."""
    n = len(funnel.steps)
    all_ts = [e.ts for e in events]
    start = events[entry]
    deadline = start.ts + funnel.window_seconds * US_PER_SECOND
    attempt = Attempt(entry, [start.ts] + [None] * (n - 1), [entry] + [None] * (n - 1), None)
    attempt.used = {entry}
    last = start.ts

    def fits(j: int, k: int) -> bool:
        e = events[j]
        return (
            k in e.steps
            and j not in attempt.used
            and j not in taken
            and (not funnel.hold_constant or e.held == start.held)  # [H1]
            and (value is None or e.value == value)
        )

    def limit(k: int) -> int:
        """The last moment step k can be done ([S8], [W1])."""
        within = funnel.steps[k].within_seconds
        return deadline if within is None else min(deadline, last + within * US_PER_SECOND)

    def earliest(k: int) -> int | None:
        first = bisect_left(all_ts, last)  # ties with the previous step count as in order
        return next(
            (j for j in range(first, len(events)) if all_ts[j] <= limit(k) and fits(j, k)), None
        )

    for k in range(1, n):
        chosen = earliest(k)
        if funnel.steps[k].optional:  # [O2]
            r = next(s for s in range(k + 1, n) if not funnel.steps[s].optional)
            rival = earliest(r)
            if chosen is None or (
                rival is not None and (chosen == rival or all_ts[chosen] > all_ts[rival])
            ):
                continue
        bound = limit(k) + 1 if chosen is None else all_ts[chosen]
        stop = _first_exclusion(funnel, events, attempt, k, bound)
        if stop is not None:  # [X2]
            attempt.end = events[stop].ts
            break
        if chosen is None:
            attempt.end = limit(k) + 1  # [C3] step k can no longer be done
            break
        ts = all_ts[chosen]
        breaker = bisect_right(all_ts, last)
        if funnel.order == Order.STRICT and bisect_left(all_ts, ts) > breaker:
            attempt.end = all_ts[breaker]  # [C3] the event that broke the sequence
            break
        attempt.used.add(chosen)
        attempt.times[k] = ts
        attempt.events[k] = chosen
        last = ts
    if attempt.times[n - 1] is not None:
        attempt.end = attempt.times[n - 1]  # [C3] completed
    assert attempt.end is not None
    return attempt


def _first_exclusion(
    funnel: Funnel, events: Sequence[Event], attempt: Attempt, k: int, bound: int
) -> int | None:
    """[X1]: the earliest event, not used by the attempt, matching an exclusion between steps
    i < k <= j, after the latest step done at or before step i and strictly before `bound`."""
    found: int | None = None
    for x, exclusion in enumerate(funnel.exclusions):
        if not exclusion.start - 1 < k <= exclusion.end - 1:
            continue
        since = max(t for t in attempt.times[: exclusion.start] if t is not None)
        for j, e in enumerate(events):
            if since < e.ts < bound and x in e.exclusions and j not in attempt.used:
                if found is None or j < found:
                    found = j
                break
    return found


def _any_order_attempt(
    funnel: Funnel, events: Sequence[Event], entry: int, taken: set[int], value: Any
) -> Attempt:
    """any: distinct steps done by distinct events within the window of the entry event.

    Steps are assigned by maximum matching (an event that fits several steps takes the one that
    lets the most steps count); the k-th step is reached when the matching first grows to k.
    """
    n = len(funnel.steps)
    start = events[entry]
    deadline = start.ts + funnel.window_seconds * US_PER_SECOND
    window = [entry] + [
        j
        for j, e in enumerate(events)
        if j != entry
        and start.ts <= e.ts <= deadline
        and e.steps
        and j not in taken
        and (not funnel.hold_constant or e.held == start.held)
        and (value is None or e.value == value)
    ]
    owner: dict[int, int] = {}  # step -> event index filling it
    times: list[int | None] = []
    firsts: list[int | None] = []
    for j in window:
        if _augment(j, events, owner, set()):
            times.append(events[j].ts)
            firsts.append(j)
    reached = len(times)
    attempt = Attempt(
        entry,
        times + [None] * (n - reached),
        firsts + [None] * (n - reached),
        times[-1] if reached == n else deadline + 1,
    )
    attempt.used = set(owner.values())
    return attempt


def _augment(j: int, events: Sequence[Event], owner: dict[int, int], seen: set[int]) -> bool:
    for k in sorted(events[j].steps):
        if k in seen:
            continue
        seen.add(k)
        if k not in owner or _augment(owner[k], events, owner, seen):
            owner[k] = j
            return True
    return False
