"""The expected funnel of an export, from the rows its writer says it wrote.

Nothing here uses funnelscope. A writer describes each event the reader must load as a `Row` (its
name, time, own id, the anonymous/device id and known user id it links, the breakdown values), plus
the links and merges that are not events (Segment alias), the bad lines it planted and how many
rows repeat an event id. `compute_truth` then applies the identity rule of the export readers and
a plain ordered-funnel search (docs/semantics.md [S6]-[S10], [S16], [S19], [B2], [B5], [C2]):

- own id: the user id when the row carries one, else the anonymous/device id;
- an anonymous/device id seen with user ids joins the first of them by time (ties: the smaller
  id text); user ids are merged only by an explicit merge (alias of a former user id);
- a person is shown by their known user id (after a merge: the id merged into), else by the
  anonymous/device id.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

K = TypeVar("K")

WINDOW_US: Final = 7 * 86_400 * 1_000_000
NONE: Final = "(none)"


@dataclass(frozen=True)
class Row:
    """One event the reader must load."""

    name: str
    time_us: int  # as written (the layout's precision)
    own_id: str
    link: tuple[str, str] | None  # (anonymous/device id, known user id) this row joins
    device: int  # the physical device (population model), for cross-device purchases
    source: str | None  # value of the layout's traffic-source property, None = not set
    plan: str | None  # value of the layout's plan property, None = not set
    session: str | None = None  # the session id the reader maps to the session


@dataclass(frozen=True)
class Link:
    anon: str
    user: str
    time_us: int


@dataclass(frozen=True)
class BadLine:
    """A planted bad record: its line (1-based; CSV counts the header; Parquet: the row)."""

    line: int
    kind: str  # missing event | missing time | unparseable time | broken line | broken properties
    #            | missing person

    @property
    def keywords(self) -> tuple[str, ...]:
        """Words one of which the quarantine reason should contain (case-insensitive)."""
        return {
            "missing event": ("event",),
            "missing time": ("time",),
            "unparseable time": ("time",),
            "broken line": ("json", "malformed", "csv"),
            "broken properties": ("properties", "json"),
            "missing person": ("person", "id"),
        }[self.kind]


@dataclass(frozen=True)
class Written:
    """What a writer wrote, in the terms above."""

    rows: list[Row]
    links: list[Link]  # links that are not events (alias)
    merges: list[tuple[str, str]]  # (former user id, user id it is merged into)
    bad: list[BadLine]
    repeated: int  # rows whose event id repeats an earlier row's (loaded once)
    records: int  # records in the file (lines after the header, or Parquet rows)


Counts = tuple[int, int, int]


@dataclass(frozen=True)
class Truth:
    """The expected answers for the export's 3-step funnel (ordered, 7d window)."""

    layout: str  # the name `funnelscope ingest` prints after "layout: "
    steps: tuple[str, str, str]
    source_property: str  # the nested traffic source, for --breakdown (first touch)
    plan_property: str  # the plan trait, for --breakdown-scope person
    counts: Counts  # persons per step, stitched
    counts_unstitched: Counts  # persons per step when every own id is its own person
    by_source: dict[str, Counts]
    by_plan: dict[str, Counts]  # person scope: the plan on the person's latest event with one
    session_counts: Counts | None  # count: sessions (layouts whose session is known)
    reached_last: tuple[str, ...]  # people who reached step 3, sorted
    cross_device: tuple[str, ...]  # of those: bought on another device than they entered on
    quarantined: tuple[BadLine, ...]
    events_loaded: int
    records: int

    def spec(self, name: str = "checkout") -> str:
        """The funnel spec as YAML."""
        steps = "".join(f"  - {_yaml_text(s)}\n" for s in self.steps)
        return f"name: {name}\nsteps:\n{steps}window: 7d\norder: ordered\n"


def _yaml_text(text: str) -> str:
    return text if text.replace("_", "").isalnum() else '"' + text.replace('"', '\\"') + '"'


class Identity:
    """The identity rule over one export's rows and extra links."""

    def __init__(
        self,
        rows: Iterable[Row],
        links: Iterable[Link],
        merges: Iterable[tuple[str, str]],
        *,
        latest: bool = False,  # a wrong rule (the last link wins), to show the rule matters
    ) -> None:
        seen: list[Link] = [Link(r.link[0], r.link[1], r.time_us) for r in rows if r.link]
        seen += links
        self.first: dict[str, tuple[int, str]] = {}
        for link in seen:
            candidate = (-link.time_us if latest else link.time_us, link.user)
            if link.anon not in self.first or candidate < self.first[link.anon]:
                self.first[link.anon] = candidate
        self.merged: dict[str, str] = dict(merges)

    def user(self, user_id: str) -> str:
        while user_id in self.merged:
            user_id = self.merged[user_id]
        return user_id

    def person(self, own_id: str) -> str:
        if own_id in self.first:
            return self.user(self.first[own_id][1])
        return self.user(own_id)


@dataclass(frozen=True)
class _Attempt:
    rows: tuple[Row, ...]  # the events that did steps 1..k


def best_attempt(rows: list[Row], steps: tuple[str, str, str]) -> _Attempt | None:
    """[S6]-[S10] for an ordered funnel whose steps have distinct names and no filters: each entry
    takes the earliest later event of each next step inside the window; the best attempt goes
    furthest, then enters earliest. Rows must be in time order with distinct entry times."""
    by_step: list[list[Row]] = [[r for r in rows if r.name == name] for name in steps]
    times = [[r.time_us for r in found] for found in by_step]
    best: _Attempt | None = None
    for entry in by_step[0]:
        done = [entry]
        at, limit = entry.time_us, entry.time_us + WINDOW_US
        for k in (1, 2):
            i = bisect.bisect_left(times[k], at)
            if i == len(times[k]) or times[k][i] > limit:
                break
            done.append(by_step[k][i])
            at = times[k][i]
        if best is None or len(done) > len(best.rows):
            best = _Attempt(tuple(done))
            if len(done) == 3:
                break
    return best


def _tally(attempts: Iterable[_Attempt]) -> Counts:
    counts = [0, 0, 0]
    for attempt in attempts:
        for k in range(len(attempt.rows)):
            counts[k] += 1
    return (counts[0], counts[1], counts[2])


def _group(rows: list[Row], key: Callable[[Row], K | None]) -> dict[K, list[Row]]:
    groups: dict[K, list[Row]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.time_us):
        k = key(row)
        if k is not None:
            groups[k].append(row)
    return groups


def _attempts(groups: dict[str, list[Row]], steps: tuple[str, str, str]) -> dict[str, _Attempt]:
    found = {k: best_attempt(v, steps) for k, v in groups.items()}
    return {k: v for k, v in found.items() if v is not None}


def compute_truth(
    layout: str,
    written: Written,
    steps: tuple[str, str, str],
    source_property: str,
    plan_property: str,
    *,
    sessions: bool = False,
    latest: bool = False,
) -> Truth:
    rows = written.rows
    identity = Identity(rows, written.links, written.merges, latest=latest)
    persons = _group(rows, lambda r: identity.person(r.own_id))
    for person_rows in persons.values():  # no ties for [S1]'s event_id order to decide
        stamps = [r.time_us for r in person_rows if r.name in steps]
        assert len(stamps) == len(set(stamps)), "two step events of one person at one time"
    attempts = _attempts(persons, steps)
    unstitched = _attempts(_group(rows, lambda r: r.own_id), steps)

    by_source: dict[str, list[_Attempt]] = defaultdict(list)
    by_plan: dict[str, list[_Attempt]] = defaultdict(list)
    for person, attempt in attempts.items():
        by_source[attempt.rows[0].source or NONE].append(attempt)
        plans = [r.plan for r in persons[person] if r.plan is not None]
        by_plan[plans[-1] if plans else NONE].append(attempt)

    session_counts: Counts | None = None
    if sessions:
        units = _group(
            rows, lambda r: None if r.session is None else (identity.person(r.own_id), r.session)
        )
        found = (best_attempt(v, steps) for v in units.values())
        session_counts = _tally(a for a in found if a is not None)

    reached = sorted(p for p, a in attempts.items() if len(a.rows) == 3)
    cross = sorted(p for p in reached if attempts[p].rows[0].device != attempts[p].rows[2].device)
    return Truth(
        layout=layout,
        steps=steps,
        source_property=source_property,
        plan_property=plan_property,
        counts=_tally(attempts.values()),
        counts_unstitched=_tally(unstitched.values()),
        by_source={k: _tally(v) for k, v in by_source.items()},
        by_plan={k: _tally(v) for k, v in by_plan.items()},
        session_counts=session_counts,
        reached_last=tuple(reached),
        cross_device=tuple(cross),
        quarantined=tuple(sorted(written.bad, key=lambda b: b.line)),
        events_loaded=len(rows),
        records=written.records,
    )
