"""What-if: the final conversions, revenue and cost per acquisition if one rate changed.

A rate's change moves its to-stage count by from-count x (new rate - old rate); everything
below follows at the current downstream rates (the segment's yield, as in the diagnosis). Cost is
what was spent in the current window and does not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelscope.analyses.marketing.cells import DiagnosisInput, LayerCells
from funnelscope.analyses.marketing.leaks import Leak
from funnelscope.errors import SpecError


@dataclass(frozen=True)
class Outlook:
    """Final conversions, revenue, cost and cost per final conversion of one scenario."""

    final: float
    revenue: float | None
    cost: float | None

    @property
    def cpa(self) -> float | None:
        if self.cost is None or self.final <= 0:
            return None
        return self.cost / self.final

    def to_dict(self) -> dict[str, Any]:
        return {"final": self.final, "revenue": self.revenue, "cost": self.cost, "cpa": self.cpa}


@dataclass(frozen=True)
class WhatIf:
    """One scenario against the current window."""

    layer: str
    from_stage: str | None
    segment: dict[str, str]
    rate: float
    new_rate: float
    change: str
    before: Outlook
    after: Outlook
    notes: tuple[str, ...] = ()

    @property
    def gained_final(self) -> float:
        return self.after.final - self.before.final

    def to_dict(self) -> dict[str, Any]:
        def delta(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else b - a

        return {
            "layer": self.layer,
            "from_stage": self.from_stage,
            "segment": self.segment,
            "rate": self.rate,
            "new_rate": self.new_rate,
            "change": self.change,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "delta": {
                "final": self.gained_final,
                "revenue": delta(self.before.revenue, self.after.revenue),
                "cpa": delta(self.before.cpa, self.after.cpa),
            },
            "notes": list(self.notes),
        }


def layer_at(data: DiagnosisInput, step: str) -> LayerCells:
    """The layer for `--step`: a 1-based stage number (3: the rate into stage 3) or a key."""
    keys = [cells.layer.key for cells in data.layers]
    if step.isdigit():
        number = int(step)
        if not 1 <= number <= len(keys):
            raise SpecError("--step", f"there is no step {number}", f"use 1..{len(keys)}")
        return data.layers[number - 1]
    if step in keys:
        return data.layers[keys.index(step)]
    raise SpecError(
        "--step", f"unknown step {step!r}", f"use a number or one of: {', '.join(keys)}"
    )


def _segment_mask(cells: LayerCells, segment: Mapping[str, str]) -> np.ndarray:
    mask = np.ones(len(cells), dtype=bool)
    for dimension, value in segment.items():
        if dimension not in cells.dims:
            raise SpecError(
                "--segment",
                f"the {cells.layer.key} rate has no dimension {dimension!r}",
                f"it has: {', '.join(cells.dims) or 'none'}"
                + ("" if cells.dims else f" (for a funnel spec, add --by {dimension})"),
            )
        texts = cells.dims[dimension].astype(str)
        hit = np.array([t.casefold() for t in texts.tolist()]) == value.strip().casefold()
        if not hit.any():
            raise SpecError(
                "segment", f"no {dimension} {value!r} in the data", "check the spelling"
            )
        mask &= hit
    return mask


def what_if(
    data: DiagnosisInput,
    step: str,
    *,
    lift: float | None = None,
    leaks: tuple[Leak, ...] = (),
    segment: Mapping[str, str] | None = None,
    cost: float | None = None,
) -> WhatIf:
    """Lift one rate by `lift` (0.10: +10%, relative), or bring it to its reference (`leaks`:
    the diagnosis's leaks of that layer; with a segment, that segment's leak)."""
    cells = layer_at(data, step)
    layer = cells.layer
    segment = dict(segment or {})
    if len(segment) > 1:
        raise SpecError(
            "--segment", "one dimension at a time", "use e.g. --segment campaign=Spring-Brand"
        )
    current = np.isin(cells.period, data.periods.current)
    mask = _segment_mask(cells, segment) & current
    dimension, value = next(iter(segment.items())) if segment else (None, None)
    if dimension is not None:
        value = str(cells.dims[dimension][mask][0]) if mask.any() else value
    days = float(sum(data.periods.days[p] for p in data.periods.current))
    # A rate's base: its from-count; a volume's: the current window's days.
    base = days if layer.is_volume else float(cells.n[mask].sum())
    rate = float(cells.k[mask].sum()) / base if base > 0 else 0.0
    notes: list[str] = []
    gained_revenue: float | None = None
    if lift is not None:
        change = f"{lift:+.1%}"
        new_rate = _bounded(rate * (1 + lift), rate, change, cells, notes)
        units = (new_rate - rate) * base
        gained = units * data.yields.final_per_to(layer, dimension, value)
    else:
        change = "to reference"
        chosen = _leaks_to_fix(cells, leaks, segment, dimension, value, current)
        if segment:
            rate, new_rate = chosen[0].rate, chosen[0].reference_rate
        else:
            new_rate = _bounded(
                rate + sum(leak.lost_to for leak in chosen) / base if base > 0 else rate,
                rate,
                change,
                cells,
                notes,
            )
            notes.append(
                "brought to their reference: "
                + "; ".join(
                    f"{_segment_text(leak.segment)} ({_rate(leak.rate, layer.is_volume)} -> "
                    f"{_rate(leak.reference_rate, layer.is_volume)})"
                    for leak in chosen
                )
            )
        skipped = [leak for leak in leaks if leak.layer == layer.key and leak not in chosen]
        if skipped and not segment:
            notes.append(
                "not added again (they overlap a larger leak): "
                + "; ".join(_segment_text(leak.segment) for leak in skipped)
            )
        units = sum(leak.lost_to for leak in chosen)
        gained = sum(leak.lost_final for leak in chosen)
        if all(leak.lost_revenue is not None for leak in chosen):
            gained_revenue = sum(leak.lost_revenue or 0.0 for leak in chosen)
    final_before = data.final_total if data.final_total is not None else _final(data)
    revenue_per_final = data.yields.revenue_per_final(None, None)
    revenue_before = None if revenue_per_final is None else final_before * revenue_per_final
    revenue_after = None
    if revenue_before is not None:
        if gained_revenue is None:
            per_final = data.yields.revenue_per_final(dimension, value)
            gained_revenue = gained * (per_final or revenue_per_final or 0.0)
        revenue_after = revenue_before + gained_revenue
    cost_after = cost
    unit_cost = data.yields.cost_per_top(dimension, value) if layer.is_volume else None
    if cost is not None and unit_cost is not None:
        cost_after = cost + units * unit_cost
        notes.append(
            f"{'more' if units >= 0 else 'fewer'} {layer.to_label.lower()} cost "
            f"{'more' if units >= 0 else 'less'}: {units:+,.0f} at the current "
            f"{unit_cost:,.4g} each"
        )
    return WhatIf(
        layer=layer.key,
        from_stage=layer.from_stage,
        segment=segment if not dimension else {dimension: str(value)},
        rate=rate,
        new_rate=new_rate,
        change=change,
        before=Outlook(final_before, revenue_before, cost),
        after=Outlook(final_before + gained, revenue_after, cost_after),
        notes=tuple(notes),
    )


def _bounded(
    new_rate: float, rate: float, change: str, cells: LayerCells, notes: list[str]
) -> float:
    """A proportion stays within 0..100%; a volume or a ratio of counts only above 0."""
    if not cells.layer.is_volume and not cells.count_ratio and new_rate > 1:
        notes.append(f"a rate cannot pass 100%: {rate:.1%} {change} is capped at 100%")
        return 1.0
    if new_rate < 0:
        notes.append(f"a rate cannot fall below 0: {change} is floored at 0")
        return 0.0
    return new_rate


def _leaks_to_fix(
    cells: LayerCells,
    leaks: tuple[Leak, ...],
    segment: Mapping[str, str],
    dimension: str | None,
    value: str | None,
    current: np.ndarray,
) -> list[Leak]:
    """The leaks `--to-reference` fixes: the segment's, or every leak of the layer that does not
    overlap a larger one (overlapping leaks are not additive: [D9])."""
    own = [leak for leak in leaks if leak.layer == cells.layer.key]
    if segment:
        own = [leak for leak in own if leak.segment == {dimension: value}]
    if not own:
        where = f" on {dimension}={value}" if dimension else ""
        raise SpecError(
            "--to-reference",
            f"the diagnosis found no leak in {cells.layer.key}{where}",
            "use --lift to try a change, or run diagnose to see the leaks",
        )
    chosen: list[Leak] = []
    taken = np.zeros(len(cells), dtype=bool)
    for leak in sorted(own, key=lambda leak: -leak.lost_final):
        cover = _exact_mask(cells, leak.segment) & current
        if not (cover & taken).any():
            chosen.append(leak)
            taken |= cover
    return chosen


def _exact_mask(cells: LayerCells, segment: Mapping[str, str]) -> np.ndarray:
    mask = np.ones(len(cells), dtype=bool)
    for dimension, value in segment.items():
        mask &= cells.dims[dimension].astype(str) == value
    return mask


def _segment_text(segment: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in segment.items()) or "everything"


def _rate(rate: float, volume: bool) -> str:
    return f"{rate:,.1f}/day" if volume else f"{rate:.1%}"


def _final(data: DiagnosisInput) -> float:
    cells = data.layers[-1]
    mask = np.isin(cells.period, data.periods.current)
    return float(cells.k[mask].sum())
