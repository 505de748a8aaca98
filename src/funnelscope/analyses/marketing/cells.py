"""The input of a diagnosis: per layer, counts per cell (dimension values x period).

A *layer* is one rate of a funnel, named by the stage it leads to: ``visits`` is clicks -> visits.
The top stage is a *volume* layer: its count per day, compared only with its own history. Report
funnels and event funnels both reduce to these cells, so one leak finder serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
TextArray = npt.NDArray[np.object_]

NOT_SET = "(not set)"


@dataclass(frozen=True)
class Layer:
    """One rate of the funnel: `from_stage` -> `to_stage` (from_stage None: the top's volume)."""

    to_stage: str
    from_stage: str | None
    to_label: str
    from_label: str | None

    @property
    def key(self) -> str:
        return self.to_stage

    @property
    def is_volume(self) -> bool:
        return self.from_stage is None


@dataclass(frozen=True)
class Periods:
    """The periods of the data in order, and which are current and which the baseline."""

    labels: tuple[str, ...]
    """Each period's first day (months: YYYY-MM)."""
    ends: tuple[str, ...]
    """Each period's last day."""
    days: tuple[int, ...]
    """Days with data in each period (a volume's exposure)."""
    current: tuple[int, ...]
    baseline: tuple[int, ...]
    grain: str

    def span(self, indices: tuple[int, ...]) -> str:
        if not indices:
            return "-"
        first, last = self.labels[indices[0]], self.labels[indices[-1]]
        if self.grain == "month":
            return first if first == last else f"{first}..{last}"
        end = self.ends[indices[-1]]
        return first if first == end else f"{first}..{end}"

    def describe(self, indices: tuple[int, ...]) -> str:
        count = len(indices)
        return f"{count} {self.grain}{'s' if count != 1 else ''} ({self.span(indices)})"


@dataclass
class LayerCells:
    """One layer's counts per cell. `n` is the from-stage count (for a volume layer, unused: the
    exposure is the period's days), `k` the to-stage count; `period` indexes `Periods.labels`."""

    layer: Layer
    dims: dict[str, TextArray]
    period: IntArray
    n: FloatArray
    k: FloatArray
    count_ratio: bool = False
    """True when some cell has more to- than from-counts: the rate is a ratio of counts (visits
    from other sources), tested with Poisson rather than binomial variance."""
    nested_in: dict[str, str] = field(default_factory=dict)
    """A dimension -> the dimension it lies inside (keyword -> campaign), for yields."""

    def __len__(self) -> int:
        return int(self.period.shape[0])


class Yields(Protocol):
    """What one more to-stage unit is worth downstream, for turning a lost rate into lost
    final conversions and revenue."""

    def final_per_to(self, layer: Layer, dimension: str | None, value: str | None) -> float: ...

    def revenue_per_final(self, dimension: str | None, value: str | None) -> float | None: ...

    def cost_per_top(self, dimension: str | None, value: str | None) -> float | None:
        """Cost of one more unit of the top stage (None: the top stage is not paid per unit)."""
        ...


@dataclass(frozen=True)
class DiagnosisInput:
    """Everything the leak finder needs, from a report set or an event funnel."""

    layers: tuple[LayerCells, ...]
    periods: Periods
    yields: Yields
    final_stage: str
    final_label: str
    stage_labels: Mapping[str, str]
    notes: tuple[str, ...] = ()
    unit: str | None = None
    """What an event funnel counts (persons, attempts); None for report counts."""
    final_total: float | None = None
    """Final conversions in the current window, also those outside any rate's cells ([M5])."""
