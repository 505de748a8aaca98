"""Results: what each person reached, and the per-step summary every interface shows."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from funnelscope.model.spec import Funnel

if TYPE_CHECKING:  # numpy loads with the first result, not with `funnelscope --help`
    import numpy as np

STATUSES = ("reached", "dropped")


@dataclass(frozen=True)
class PersonOutcome:
    """One person's best attempt: how many steps it reached and when each was filled (µs, UTC)."""

    person_id: str
    reached: int
    times_us: tuple[int, ...]


IdResolver = Callable[["np.ndarray"], Sequence[str]]


class Outcomes:
    """Every person's best attempt, held column-wise so millions of persons stay cheap.

    ``reached[i]`` is how many steps person i's best attempt reached and ``times_us[i, k]`` when
    it filled step k+1 (columns past ``reached[i]`` mean nothing). Rows with ``reached == 0``
    (persons who never entered) may be present; they count nowhere and are not iterated.
    Person ids are looked up only when asked for (``ids(rows)``): an engine may hold integer
    keys and resolve them against the store.
    """

    def __init__(
        self,
        reached: np.ndarray,
        times_us: np.ndarray,
        resolve_ids: IdResolver,
        warnings: Sequence[str] = (),
    ):
        self.reached = reached
        self.times_us = times_us
        self._resolve_ids = resolve_ids
        self.warnings = list(warnings)  # what the engine noticed in the data (rows left out)

    @classmethod
    def from_people(cls, people: Sequence[PersonOutcome], n_steps: int) -> Outcomes:
        import numpy as np

        entered = sorted((o for o in people if o.reached >= 1), key=lambda o: o.person_id)
        reached = np.array([o.reached for o in entered], dtype=np.int16)
        times = np.zeros((len(entered), n_steps), dtype=np.int64)
        for row, outcome in enumerate(entered):
            times[row, : outcome.reached] = outcome.times_us[: outcome.reached]
        ids = [o.person_id for o in entered]
        return cls(reached, times, lambda rows: [ids[int(r)] for r in rows])

    def __len__(self) -> int:
        """Persons who entered (reached step 1)."""
        import numpy as np

        return int(np.count_nonzero(self.reached))

    def ids(self, rows: np.ndarray) -> list[str]:
        """Person ids of the given rows, sorted."""
        return sorted(self._resolve_ids(rows))

    @cached_property
    def _people(self) -> tuple[PersonOutcome, ...]:
        import numpy as np

        rows = np.flatnonzero(self.reached)
        pairs = sorted(zip(self._resolve_ids(rows), rows.tolist(), strict=True))
        return tuple(
            PersonOutcome(
                person,
                int(self.reached[row]),
                tuple(int(t) for t in self.times_us[row, : self.reached[row]]),
            )
            for person, row in pairs
        )

    def __iter__(self) -> Iterator[PersonOutcome]:
        """Every person's outcome as a PersonOutcome, sorted by person id (for small results)."""
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
class FunnelResult:
    """A computed funnel. `outcomes` holds every person who entered (reached >= 1)."""

    funnel: Funnel
    steps: tuple[StepResult, ...]
    outcomes: Outcomes
    counting: str = "persons"

    def step(self, number: int) -> StepResult:
        """Step by its 1-based number."""
        return self.steps[number - 1]

    def counts(self) -> tuple[int, ...]:
        return tuple(s.count for s in self.steps)

    def people(self, step: int, status: str = "reached") -> list[str]:
        """Persons who reached at least `step`, or who reached step-1 but not `step` (sorted)."""
        from funnelscope.errors import SpecError

        if status not in STATUSES:
            raise SpecError("status", f"{status!r} is not a status", "use reached or dropped")
        if not 1 <= step <= len(self.steps):
            raise SpecError("people", f"step {step} does not exist", f"use 1 to {len(self.steps)}")
        import numpy as np

        reached = self.outcomes.reached
        if status == "reached":
            rows = np.flatnonzero(reached >= step)
        else:
            if step == 1:
                raise SpecError(
                    "people",
                    "nobody drops at step 1 (it is the entry)",
                    f"use a step from 2 to {len(self.steps)}" if len(self.steps) > 1 else "",
                )
            rows = np.flatnonzero(reached == step - 1)
        return self.outcomes.ids(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "funnel": self.funnel.name,
            "order": self.funnel.order,
            "window_seconds": self.funnel.window_seconds,
            "counting": self.counting,
            "steps": [s.to_dict() for s in self.steps],
        }
