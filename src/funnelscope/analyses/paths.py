"""Paths: what the counted attempts did after dropping at a step, or between two steps.

The funnel's engine says which attempts count and when each did its steps (``Outcomes``); this
module reads every event of those attempts' persons in a span of time through the source's SQL
(``source.columns`` + ``source.duckdb_connection``) and counts, once per attempt, the first
event of the span and the sequence of its first N events (docs/paths.md):

- after the drop at step K: attempts whose furthest step is K; the span runs from just after
  their step-K time to the end of the funnel window (entry + window), or to step K + ``within``;
- between K and K+1: attempts that did both steps; the span is strictly between their times.

A person's events in a span are ordered by time, then by event name, so the result never
depends on the order rows were stored in. With ``collapse_repeats`` consecutive events of one
name count as one. A sequence ends with "(end)" when the span held no event after the ones
shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from funnelscope.errors import SpecError
from funnelscope.model.results import SKIPPED_US, FunnelResult

if TYPE_CHECKING:
    import duckdb

    from funnelscope.store.event_columns import EventColumns
    from funnelscope.store.sources import EventSource

AFTER_DROP = "after_drop"
BETWEEN = "between"
MODES = (AFTER_DROP, BETWEEN)
END_TEXT = "(end)"  # shown where the span held nothing more
DEFAULT_SEQUENCE_STEPS = 3
DEFAULT_TOP = 10
MAX_SEQUENCE_STEPS = 20
_ATTEMPTS_VIEW = "__funnelscope_path_attempts"


@dataclass(frozen=True)
class PathQuery:
    """Which attempts and span: `mode` after_drop or between, `step` K (1-based), the sequence
    length `steps`, the `top` rows shown, consecutive repeats merged or not, and for after_drop
    an optional `within_seconds` after step K instead of the funnel window."""

    mode: str
    step: int
    steps: int = DEFAULT_SEQUENCE_STEPS
    top: int = DEFAULT_TOP
    collapse_repeats: bool = False
    within_seconds: int | None = None

    def check(self, n_steps: int, optional: Sequence[bool] = ()) -> None:
        """Errors that teach, before any row is read."""
        if self.mode not in MODES:
            raise SpecError(
                "paths", f"{self.mode!r} is not a kind of paths", "use after_drop or between"
            )
        flag = "--after-drop" if self.mode == AFTER_DROP else "--between"
        last = n_steps - 1
        if last < 1:
            raise SpecError(
                flag, "the funnel has one step, so nobody drops or moves on", "add a step"
            )
        if not 1 <= self.step <= last:
            raise SpecError(flag, f"step {self.step} has no step after it", f"use 1 to {last}")
        if optional and optional[self.step - 1]:
            raise SpecError(
                flag,
                f"step {self.step} is optional, so its time is no anchor",
                "use a required step",
            )
        if self.mode == BETWEEN and optional and optional[self.step]:
            raise SpecError(
                flag,
                f"step {self.step + 1} is optional",
                "use two required steps next to each other",
            )
        if not 1 <= self.steps <= MAX_SEQUENCE_STEPS:
            raise SpecError("--steps", f"{self.steps} events", f"use 1 to {MAX_SEQUENCE_STEPS}")
        if self.top < 1:
            raise SpecError("--top", f"{self.top} rows", "use 1 or more")
        if self.within_seconds is not None:
            if self.mode != AFTER_DROP:
                raise SpecError(
                    "--within",
                    "only bounds the span after a drop",
                    "between two steps the next step ends the span",
                )
            if self.within_seconds <= 0:
                raise SpecError("--within", "must be longer than 0", "use e.g. 30m, 1d")


@dataclass(frozen=True)
class PathRow:
    """One next event or one sequence: the events in order (`ended`: the span held nothing
    after them, shown as "(end)"), how many attempts did exactly this, of how many persons,
    and their share of the attempts looked at."""

    events: tuple[str, ...]
    ended: bool
    attempts: int
    persons: int
    share: float

    @property
    def items(self) -> tuple[str, ...]:
        return self.events + ((END_TEXT,) if self.ended else ())

    def text(self, arrow: str = " → ") -> str:
        return arrow.join(self.items)


@dataclass(frozen=True)
class Folded:
    """The rows past `top`, together: how many distinct rows, attempts and persons."""

    rows: int
    attempts: int
    persons: int
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "attempts": self.attempts,
            "persons": self.persons,
            "share": self.share,
        }


@dataclass(frozen=True)
class PathsResult:
    """The top next events and sequences of the attempts that dropped at (or moved on from)
    step `query.step`."""

    funnel: str
    counting: str
    query: PathQuery
    step_label: str
    next_label: str
    window_seconds: int
    attempts: int  # attempts looked at (each counted once in every table)
    persons: int
    next_events: tuple[PathRow, ...]
    next_other: Folded | None
    sequences: tuple[PathRow, ...]
    sequences_other: Folded | None

    def to_dict(self) -> dict[str, Any]:
        q = self.query
        return {
            "funnel": self.funnel,
            "counting": self.counting,
            "paths": q.mode,
            "step": q.step,
            "step_label": self.step_label,
            "next_step_label": self.next_label,
            "window_seconds": self.window_seconds,
            "within_seconds": q.within_seconds,
            "sequence_steps": q.steps,
            "collapse_repeats": q.collapse_repeats,
            "top": q.top,
            "attempts": self.attempts,
            "persons": self.persons,
            "next_events": [
                {
                    "event": row.items[0],
                    "end": row.ended,
                    "attempts": row.attempts,
                    "persons": row.persons,
                    "share": row.share,
                }
                for row in self.next_events
            ],
            "next_events_other": None if self.next_other is None else self.next_other.to_dict(),
            "sequences": [
                {
                    "events": list(row.items),
                    "ended": row.ended,
                    "attempts": row.attempts,
                    "persons": row.persons,
                    "share": row.share,
                }
                for row in self.sequences
            ],
            "sequences_other": None
            if self.sequences_other is None
            else self.sequences_other.to_dict(),
        }

    def rows(self) -> list[dict[str, Any]]:
        """CSV rows: one per next event and per sequence, the folded rest as "Other"."""
        out: list[dict[str, Any]] = []
        for kind, rows, other in (
            ("next_event", self.next_events, self.next_other),
            ("sequence", self.sequences, self.sequences_other),
        ):
            for rank, row in enumerate(rows, start=1):
                out.append(
                    {
                        "table": kind,
                        "rank": rank,
                        "path": row.text(" > "),
                        "ended": row.ended,
                        "attempts": row.attempts,
                        "persons": row.persons,
                        "share": row.share,
                    }
                )
            if other is not None:
                out.append(
                    {
                        "table": kind,
                        "rank": "",
                        "path": "Other",
                        "ended": "",
                        "attempts": other.attempts,
                        "persons": other.persons,
                        "share": other.share,
                    }
                )
        return out


@dataclass(frozen=True)
class Spans:
    """The attempts looked at: row of the outcomes, person (key or id), and the span of time
    (µs) each one's events are read from: ``lo < t <= hi``."""

    rows: np.ndarray
    persons: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def spans(result: FunnelResult, query: PathQuery) -> Spans:
    """The attempts `query` asks about, among those the funnel's total counts, with their spans.

    after_drop K: attempts whose furthest step is K (they did K and no later step); the span is
    (t_K, t_1 + window], or (t_K, t_K + within] with `within_seconds`. between K: attempts that
    did K and K+1; the span is (t_K, t_K+1), both ends left out."""
    funnel = result.funnel
    query.check(len(funnel.steps), [s.optional for s in funnel.steps])
    outcomes = result.outcomes
    rows = np.flatnonzero(outcomes.reached) if result.rows is None else result.rows
    reached = outcomes.reached[rows].astype(np.int64)
    times = outcomes.times_us[rows]
    k = query.step - 1
    if query.mode == AFTER_DROP:
        keep = (reached == k + 1) & (times[:, k] != SKIPPED_US)
    else:
        keep = (reached >= k + 2) & (times[:, k] != SKIPPED_US) & (times[:, k + 1] != SKIPPED_US)
    rows, times = rows[keep], times[keep]
    lo = times[:, k].astype(np.int64)
    if query.mode == BETWEEN:
        hi = times[:, k + 1].astype(np.int64) - 1  # strictly before step K+1
    elif query.within_seconds is not None:
        hi = lo + query.within_seconds * 1_000_000
    else:
        hi = times[:, 0].astype(np.int64) + funnel.window_seconds * 1_000_000
    persons = (
        outcomes.person_keys[rows] if outcomes.person_ids is None else outcomes.person_ids[rows]
    )
    return Spans(rows, persons, lo, hi)


def funnel_paths(result: FunnelResult, source: EventSource, query: PathQuery) -> PathsResult:
    """The paths of `query` for a computed funnel, reading the events of `source` (the source
    the funnel was computed over, still open)."""
    chosen = spans(result, query)
    cols = source.columns(())
    con = source.duckdb_connection
    persons = _persons_as_columns(chosen, cols, source)
    import pyarrow as pa

    table = pa.table(
        {
            "attempt": pa.array(np.arange(chosen.rows.size, dtype=np.int64)),
            "person": persons,
            "lo": pa.array(chosen.lo),
            "hi": pa.array(chosen.hi),
        }
    )
    con.register(_ATTEMPTS_VIEW, table)
    try:
        (next_shown, next_other), (seq_shown, seq_other), attempts, n_persons = _count(
            con, cols, query
        )
    finally:
        con.unregister(_ATTEMPTS_VIEW)
    labels = [s.label for s in result.steps]
    return PathsResult(
        funnel=result.funnel.name,
        counting=result.counting,
        query=query,
        step_label=labels[query.step - 1],
        next_label=labels[query.step],
        window_seconds=result.funnel.window_seconds,
        attempts=attempts,
        persons=n_persons,
        next_events=next_shown,
        next_other=next_other,
        sequences=seq_shown,
        sequences_other=seq_other,
    )


def _persons_as_columns(chosen: Spans, cols: EventColumns, source: EventSource) -> Any:
    """The attempts' persons as the values of ``cols.person``: integer keys as they are; ids
    (an engine that attached them) turned into the source's keys when its persons are keys."""
    import pyarrow as pa

    if chosen.persons.dtype != object:
        return pa.array(chosen.persons.astype(np.int64))
    if not cols.integer_person:
        return pa.array(chosen.persons.astype(str).tolist(), type=pa.string())
    keys = np.array(
        [
            int(r[0])
            for r in source.duckdb_connection.execute(
                f"SELECT DISTINCT {cols.person} FROM {cols.source}"
            ).fetchall()
        ],
        dtype=np.int64,
    )
    key_of = dict(zip(source.person_ids(keys), keys.tolist(), strict=True))
    return pa.array([key_of[str(p)] for p in chosen.persons.tolist()], type=pa.int64())


Group = tuple[int, tuple[str, ...], bool, int, int]  # id, events, ended, attempts, persons
_TABLE = "__funnelscope_paths"


def _count(
    con: duckdb.DuckDBPyConnection, cols: EventColumns, query: PathQuery
) -> tuple[
    tuple[tuple[PathRow, ...], Folded | None], tuple[tuple[PathRow, ...], Folded | None], int, int
]:
    """Next events and sequences per attempt, in SQL; the groups ranked and folded past top."""
    valid = f" WHERE NOT ({cols.invalid})" if cols.invalid is not None else ""
    order = "ORDER BY ts, event"
    collapse = " WHERE prev IS NULL OR prev <> event" if query.collapse_repeats else ""
    n = query.steps
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_TABLE} AS
        WITH ev AS (
            SELECT {cols.person} AS person, {cols.ts} AS ts, CAST({cols.event} AS VARCHAR) AS event
            FROM {cols.source}{valid}
        ),
        span AS (
            SELECT a.attempt, e.ts, e.event
            FROM {_ATTEMPTS_VIEW} a JOIN ev e
              ON e.person = a.person AND e.ts > a.lo AND e.ts <= a.hi
        ),
        marked AS (
            SELECT attempt, ts, event, lag(event) OVER (PARTITION BY attempt {order}) AS prev
            FROM span
        ),
        kept AS (SELECT attempt, ts, event FROM marked{collapse}),
        ranked AS (
            SELECT attempt, event, row_number() OVER (PARTITION BY attempt {order}) AS rn
            FROM kept
        ),
        firsts AS (
            SELECT attempt, list(event ORDER BY rn) FILTER (WHERE rn <= {n}) AS path,
                   max(rn) AS seen
            FROM ranked WHERE rn <= {n + 1} GROUP BY attempt
        ),
        per_attempt AS (
            SELECT a.person, coalesce(f.path, []::VARCHAR[]) AS path,
                   coalesce(f.seen, 0) <= {n} AS ended
            FROM {_ATTEMPTS_VIEW} a LEFT JOIN firsts f USING (attempt)
        )
        SELECT person, path, ended, dense_rank() OVER (ORDER BY path, ended) AS seq_id,
               path[1:1] AS next_path, len(path) = 0 AS next_ended,
               dense_rank() OVER (ORDER BY path[1:1], len(path) = 0) AS next_id
        FROM per_attempt
    """)
    try:
        total = con.execute(f"SELECT count(*), count(DISTINCT person) FROM {_TABLE}").fetchone()
        assert total is not None
        attempts = int(total[0])
        nexts = _ranked(con, "next", attempts, query.top)
        sequences = _ranked(con, "seq", attempts, query.top)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_TABLE}")
    return nexts, sequences, attempts, int(total[1])


def _ranked(
    con: duckdb.DuckDBPyConnection, kind: str, attempts: int, top: int
) -> tuple[tuple[PathRow, ...], Folded | None]:
    """The `top` groups by attempts (ties: by the events' names in order, a shorter sequence
    first, then one that ended after one that did not); the rest folded into one, whose
    persons are counted once each."""
    path, ended = ("path", "ended") if kind == "seq" else ("next_path", "next_ended")
    groups: list[Group] = [
        (int(r[0]), tuple(r[1]), bool(r[2]), int(r[3]), int(r[4]))
        for r in con.execute(
            f"SELECT {kind}_id, any_value({path}), any_value({ended}), count(*), "
            f"count(DISTINCT person) FROM {_TABLE} GROUP BY {kind}_id"
        ).fetchall()
    ]
    groups.sort(key=lambda g: (-g[3], g[1], g[2]))

    def share(count: int) -> float:
        return count / attempts if attempts else 0.0

    shown = tuple(PathRow(g[1], g[2], g[3], g[4], share(g[3])) for g in groups[:top])
    rest = groups[top:]
    if not rest:
        return shown, None
    folded = sum(g[3] for g in rest)
    kept = [g[0] for g in groups[:top]]
    persons = con.execute(
        f"SELECT count(DISTINCT person) FROM {_TABLE} WHERE NOT list_contains(?, {kind}_id)",
        [kept],
    ).fetchone()
    assert persons is not None
    return shown, Folded(len(rest), folded, int(persons[0]), share(folded))
