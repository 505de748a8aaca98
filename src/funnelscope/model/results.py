"""Results: what each person reached, and the per-step summary every interface shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from funnelscope.model.spec import Funnel

STATUSES = ("reached", "dropped")


@dataclass(frozen=True)
class PersonOutcome:
    """One person's best attempt: how many steps it reached and when each was filled (µs, UTC)."""

    person_id: str
    reached: int
    times_us: tuple[int, ...]


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
    outcomes: tuple[PersonOutcome, ...]
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
        if status == "reached":
            chosen = [o.person_id for o in self.outcomes if o.reached >= step]
        else:
            if step == 1:
                raise SpecError(
                    "people",
                    "nobody drops at step 1 (it is the entry)",
                    f"use a step from 2 to {len(self.steps)}" if len(self.steps) > 1 else "",
                )
            chosen = [o.person_id for o in self.outcomes if o.reached == step - 1]
        return sorted(chosen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "funnel": self.funnel.name,
            "order": self.funnel.order,
            "window_seconds": self.funnel.window_seconds,
            "counting": self.counting,
            "steps": [s.to_dict() for s in self.steps],
        }
