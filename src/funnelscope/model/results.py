"""Results: what each person reached, and the per-step summary every interface shows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from funnelscope.errors import FunnelscopeError
from funnelscope.model.spec import Funnel

if TYPE_CHECKING:  # numpy loads with the first result, not with `funnelscope --help`
    import numpy as np

STATUSES = ("reached", "dropped")


SKIPPED_US = -(2**63)  # in times_us: an optional step the attempt skipped

BreakdownValue = tuple[Any, ...]  # one raw value per breakdown property (None: not set)


@dataclass(frozen=True)
class PersonOutcome:
    """One counted attempt: how many steps it reached and when each was done (µs, UTC; None for
    an optional step it skipped). `value` is its breakdown value; `unit` tells apart a person's
    sessions or attempts and is not compared."""

    person_id: str
    reached: int
    times_us: tuple[int | None, ...]
    value: BreakdownValue | None = None
    unit: Any = field(default=None, compare=False)

    def sort_key(self) -> tuple[Any, ...]:
        times = tuple(-1 if t is None else t for t in self.times_us)
        return (self.person_id, repr(self.value), self.reached, times)


def no_session_warning(count: int) -> str:
    """What every engine says of step events without a session id under ``count: sessions``."""
    return (
        f"{count:,} step events have no session_id; under count: sessions they belong to no "
        "session and fill no step (load sessions with --session-col, or use session_gap: 30m)"
    )


def previous_required(optional: Sequence[bool], k: int) -> int:
    """The nearest step before 0-based step k that is not optional (step 0 never is)."""
    j = k - 1
    while j > 0 and optional[j]:
        j -= 1
    return j


def done_at(reached: np.ndarray, times: np.ndarray, optional: Sequence[bool], k: int) -> np.ndarray:
    """Which rows did 0-based step k: reached past it, and not skipped when it is optional."""
    done = reached > k
    if optional[k]:
        done &= times[:, k] != SKIPPED_US
    return done


class Outcomes:
    """Every counted attempt, held column-wise so millions of them stay cheap. Plain data: no
    link back to the source it was computed from.

    A row is one attempt: a person's best attempt (``count: persons``), a session's
    (``sessions``) or every attempt (``totals``); with a breakdown by ``all_events`` a person
    has one row per value. ``reached[i]`` is how many steps row i reached, ``times_us[i, k]``
    when it did step k+1 (``SKIPPED_US`` for a skipped optional step; columns past
    ``reached[i]`` mean nothing). Rows with ``reached == 0`` may be present and count nowhere.
    ``groups[i]`` indexes ``group_values`` (the breakdown value of row i); rows sharing a
    ``units`` entry are alternatives for one person or session, of which a total keeps the best.

    ``person_keys[i]`` is the integer key of row i's person: the source's own key (the store's
    persons.person_key, a TableSource's person number), which ``source.person_ids(keys)``
    turns into ids. ``person_ids``, when attached, holds row i's person id (an engine that read
    the ids as text attaches them itself, and its keys then only tell persons apart).
    """

    def __init__(
        self,
        reached: np.ndarray,
        times_us: np.ndarray,
        person_keys: np.ndarray,
        warnings: Sequence[str] = (),
        groups: np.ndarray | None = None,
        group_values: Sequence[BreakdownValue] = (),
        units: np.ndarray | None = None,
        person_ids: np.ndarray | None = None,
    ):
        self.reached = reached
        self.times_us = times_us
        self.person_keys = person_keys
        self.warnings = list(warnings)  # what the engine noticed in the data (rows left out)
        self.groups = groups
        self.group_values = list(group_values)
        self.units = units
        self.person_ids = person_ids  # object array of str, one per row (None: not attached)

    def with_person_ids(self, ids: Sequence[str] | np.ndarray) -> Outcomes:
        """The same outcomes with a person id attached to every row."""
        import numpy as np

        attached = np.asarray(ids, dtype=object)
        if attached.shape != self.reached.shape:
            raise ValueError(f"{attached.size} person ids for {self.reached.size} rows")
        return Outcomes(
            self.reached,
            self.times_us,
            self.person_keys,
            self.warnings,
            self.groups,
            self.group_values,
            self.units,
            attached,
        )

    @classmethod
    def from_people(cls, people: Sequence[PersonOutcome], n_steps: int) -> Outcomes:
        """Outcomes of PersonOutcomes (ids attached; keys number the ids in sorted order)."""
        import numpy as np

        entered = sorted((o for o in people if o.reached >= 1), key=PersonOutcome.sort_key)
        reached = np.array([o.reached for o in entered], dtype=np.int16)
        times = np.zeros((len(entered), n_steps), dtype=np.int64)
        for row, outcome in enumerate(entered):
            times[row, : outcome.reached] = [
                SKIPPED_US if t is None else t for t in outcome.times_us[: outcome.reached]
            ]
        ids = np.array([o.person_id for o in entered], dtype=object)
        _, keys = np.unique(ids.astype(str), return_inverse=True)
        groups = values = units = None
        if any(o.value is not None for o in entered):
            codes: dict[Any, int] = {}
            groups = np.array(
                [codes.setdefault(o.value, len(codes)) for o in entered], dtype=np.int32
            )
            values = list(codes)
        if any(o.unit is not None for o in entered):
            unit_codes: dict[Any, int] = {}
            units = np.array(
                [unit_codes.setdefault(o.unit, len(unit_codes)) for o in entered], np.int64
            )
        return cls(reached, times, keys.astype(np.int64), (), groups, values or (), units, ids)

    def __len__(self) -> int:
        """Rows that entered (reached step 1)."""
        import numpy as np

        return int(np.count_nonzero(self.reached))

    def ids(self, rows: np.ndarray) -> list[str]:
        """Person ids of the given rows, sorted, each once (needs attached ids)."""
        return sorted(set(self._attached_ids()[rows].tolist()))

    def _attached_ids(self) -> np.ndarray:
        if self.person_ids is None:
            raise FunnelscopeError(
                "these outcomes hold person keys, not ids: fetch ids with the source "
                "(source.person_ids(keys), or analyses.funnel.people(result, source, step)), or "
                "attach them (analyses.funnel.with_person_ids(result, source); run_funnel does "
                "so by default)"
            )
        return self.person_ids

    @cached_property
    def _people(self) -> tuple[PersonOutcome, ...]:
        import numpy as np

        rows = np.flatnonzero(self.reached)
        ids = self._attached_ids()
        people = []
        for row in rows.tolist():
            n = int(self.reached[row])
            value = None
            if self.groups is not None:
                value = self.group_values[int(self.groups[row])]
            times = tuple(None if t == SKIPPED_US else int(t) for t in self.times_us[row, :n])
            unit = None if self.units is None else int(self.units[row])
            people.append(PersonOutcome(str(ids[row]), n, times, value, unit))
        return tuple(sorted(people, key=PersonOutcome.sort_key))

    def __iter__(self) -> Iterator[PersonOutcome]:
        """Every counted attempt as a PersonOutcome, sorted by person id (for small results;
        needs attached ids)."""
        return iter(self._people)

    def __getitem__(self, index: int) -> PersonOutcome:
        return self._people[index]


@dataclass(frozen=True)
class StepResult:
    step: int
    label: str
    event: str
    count: int
    conversion_from_previous: float | None
    conversion_from_start: float | None
    dropped_from_previous: int
    avg_seconds_from_previous: float | None
    median_seconds_from_previous: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "label": self.label,
            "count": self.count,
            "conversion_from_previous": self.conversion_from_previous,
            "conversion_from_start": self.conversion_from_start,
            "dropped_from_previous": self.dropped_from_previous,
            "avg_seconds_from_previous": self.avg_seconds_from_previous,
            "median_seconds_from_previous": self.median_seconds_from_previous,
        }


@dataclass(frozen=True)
class BreakdownRow:
    """One breakdown value's full step result. `value` holds one raw value per property (None:
    not set); the "Other" row folds the values past the limit."""

    value: BreakdownValue
    steps: tuple[StepResult, ...]
    other: bool = False

    @property
    def texts(self) -> tuple[str, ...]:
        from funnelscope.model.filters import text_form

        if self.other:
            return ("Other",)
        return tuple(NONE_TEXT if v is None else text_form(v) for v in self.value)

    @property
    def label(self) -> str:
        return " / ".join(self.texts)

    def to_dict(self) -> dict[str, Any]:
        texts = self.texts
        return {
            "value": texts[0] if len(texts) == 1 else list(texts),
            "steps": [s.to_dict() for s in self.steps],
        }


NONE_TEXT = "(none)"
OTHER_TEXT = "Other"


@dataclass(frozen=True)
class FunnelResult:
    """A computed funnel. `outcomes` holds every counted attempt; `rows` picks the ones the
    total counts (None: all of them), `breakdown` the per-value results."""

    funnel: Funnel
    steps: tuple[StepResult, ...]
    outcomes: Outcomes
    counting: str = "persons"
    breakdown: tuple[BreakdownRow, ...] = ()
    rows: np.ndarray | None = None

    def step(self, number: int) -> StepResult:
        """Step by its 1-based number."""
        return self.steps[number - 1]

    def counts(self) -> tuple[int, ...]:
        return tuple(s.count for s in self.steps)

    def people_rows(self, step: int, status: str = "reached") -> np.ndarray:
        """Outcome rows counted at `step`, or that did the step before it (the previous required
        step) but not `step`."""
        from funnelscope.errors import SpecError

        if status not in STATUSES:
            raise SpecError("status", f"{status!r} is not a status", "use reached or dropped")
        if not 1 <= step <= len(self.steps):
            raise SpecError("people", f"step {step} does not exist", f"use 1 to {len(self.steps)}")
        import numpy as np

        rows: np.ndarray = np.flatnonzero(self.outcomes.reached) if self.rows is None else self.rows
        reached, times = self.outcomes.reached[rows], self.outcomes.times_us[rows]
        optional = [s.optional for s in self.funnel.steps]
        if status == "reached":
            done: np.ndarray = rows[done_at(reached, times, optional, step - 1)]
            return done
        if step == 1:
            raise SpecError(
                "people",
                "nobody drops at step 1 (it is the entry)",
                f"use a step from 2 to {len(self.steps)}" if len(self.steps) > 1 else "",
            )
        before = done_at(reached, times, optional, previous_required(optional, step - 1))
        dropped: np.ndarray = rows[before & ~done_at(reached, times, optional, step - 1)]
        return dropped

    def people_keys(self, step: int, status: str = "reached") -> np.ndarray:
        """Person keys counted at `step` (or dropped there), each once, sorted by key; turn
        them into ids with the source (``source.person_ids(keys)``)."""
        import numpy as np

        return np.unique(self.outcomes.person_keys[self.people_rows(step, status)])

    def people(self, step: int, status: str = "reached") -> list[str]:
        """Persons counted at `step`, or who did the step before it (the previous required step)
        but not `step` (sorted, each once). Needs person ids attached to the outcomes
        (run_funnel attaches them by default)."""
        return self.outcomes.ids(self.people_rows(step, status))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "funnel": self.funnel.name,
            "order": self.funnel.order.value,
            "window_seconds": self.funnel.window_seconds,
            "counting": self.counting,
            "steps": [s.to_dict() for s in self.steps],
        }
        if self.funnel.breakdown is not None:
            out["breakdown_by"] = self.funnel.breakdown.to_dict()
            out["breakdown"] = [row.to_dict() for row in self.breakdown]
        if self.funnel.date_range is not None:
            out["date_range"] = self.funnel.date_range.bounds_dict()
        return out
