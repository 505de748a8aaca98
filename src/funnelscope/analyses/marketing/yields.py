"""What a to-stage unit is worth further down the funnel, from the layers' cells."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from funnelscope.analyses.marketing.cells import Layer, LayerCells, Periods


class ChainYields:
    """A to-stage unit's final conversions: the product of the later rates in the current
    window, each measured on the segment when that rate has the segment's dimension, else on
    the coarser value the segment lies wholly inside (a keyword's campaign), else on everything.
    Revenue per final conversion is a constant `value` (None: unknown)."""

    def __init__(
        self,
        cells: Sequence[LayerCells],
        periods: Periods,
        order: Sequence[str],
        value: float | None = None,
    ) -> None:
        self.cells = {c.layer.key: c for c in cells}
        self.periods = periods
        self.order = list(order)
        self.value = value
        self._codes: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, dict[str, int]]] = {}

    def _coded(self, layer: str, dimension: str) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """A layer dimension's value code per cell, its texts, and text -> code (made once)."""
        key = (layer, dimension)
        if key not in self._codes:
            texts, codes = np.unique(
                self.cells[layer].dims[dimension].astype(str), return_inverse=True
            )
            lookup = {str(t): i for i, t in enumerate(texts)}
            self._codes[key] = (codes.reshape(-1), texts, lookup)
        return self._codes[key]

    def _mask(self, layer: str, dimension: str, value: str | None) -> np.ndarray:
        codes, _, lookup = self._coded(layer, dimension)
        code = lookup.get(str(value))
        return codes == code if code is not None else np.zeros(len(codes), dtype=bool)

    def rate(self, layer: str, dimension: str | None, value: str | None) -> float | None:
        """The layer's current rate on one segment (None: no such dimension, or no data)."""
        cells = self.cells[layer]
        mask = np.isin(cells.period, self.periods.current)
        if dimension is not None:
            if dimension not in cells.dims:
                return None
            mask &= self._mask(layer, dimension, value)
        n = cells.n[mask].sum()
        return float(cells.k[mask].sum() / n) if n > 0 else None

    def context(self, layer: str, dimension: str | None, value: str | None) -> dict[str, str]:
        """Other dimensions with a single value over the segment's cells."""
        if dimension is None:
            return {}
        cells = self.cells[layer]
        mask = self._mask(layer, dimension, value)
        if not mask.any():
            return {}
        out = {}
        for other in cells.dims:
            if other == dimension:
                continue
            codes, texts, _ = self._coded(layer, other)
            inside = codes[mask]
            if inside.min() == inside.max():
                out[other] = str(texts[inside[0]])
        return out

    def final_per_to(self, layer: Layer, dimension: str | None, value: str | None) -> float:
        """The product of the rates along the path from `layer`'s to-stage to the final stage.
        The path goes from a stage to the furthest stage whose rate starts there, so it passes
        over an optional step (whose next rate starts at the step before it, [O3]); a lost
        optional step on its own costs nothing further down."""
        context = self.context(layer.key, dimension, value)
        stage = layer.to_stage
        product = 1.0
        while stage != self.order[-1]:
            after = [c for c in self.cells.values() if c.layer.from_stage == stage]
            if not after:
                return 0.0
            step = max(after, key=lambda c: self.order.index(c.layer.to_stage)).layer.key
            rate = self.rate(step, dimension, value)
            if rate is None:
                dims = self.cells[step].dims
                inside = sorted(
                    (d for d in context if d in dims), key=lambda d: -len(set(dims[d].tolist()))
                )
                rate = self.rate(step, inside[0], context[inside[0]]) if inside else None
            if rate is None:
                rate = self.rate(step, None, None)
            product *= rate or 0.0
            stage = step
        return product

    def revenue_per_final(self, dimension: str | None, value: str | None) -> float | None:
        return self.value

    def cost_per_top(self, dimension: str | None, value: str | None) -> float | None:
        return None
