"""Segments that differ: each breakdown value's step conversion against every other value pooled.

For each value the breakdown shows (the `--breakdown-limit` largest; "Other" is not a value and
is not tested) and each step after the first, two rates are tested:

* from the previous step (the previous required step, as the step table's conversion), and
* from step 1 (overall), unless the previous required step is step 1 (then it is the same test).

The value's counted attempts are compared with all other counted attempts (every other value,
also those folded into "Other"): a two-sided pooled two-proportion z-test
(`stats.ab.compare_proportions`). A test is made only when both sides have at least `min_n`
attempts in the rate's denominator; the p-values of all tests made are corrected together,
Benjamini-Hochberg (false discovery rate, the default: this is a screen over many segments,
where a few false leads among many findings are acceptable and power matters) or Holm
(family-wise error: no false lead at all with probability 1 - alpha). Significant means
adjusted p < alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelscope.analyses.steps import best_rows, step_results
from funnelscope.errors import SpecError
from funnelscope.model.results import FunnelResult, previous_required
from funnelscope.stats.ab import compare_proportions, holm
from funnelscope.stats.multiple import benjamini_hochberg
from funnelscope.stats.proportions import Proportion

CORRECTIONS = ("bh", "holm")
DEFAULT_MIN_N = 30
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class SegmentTest:
    """One value's rate at one step (from `from_step`) against the rest pooled."""

    value: str
    step: int
    label: str
    from_step: int
    n: int
    conversions: int
    rate: float | None
    rest_n: int
    rest_conversions: int
    rest_rate: float | None
    p: float | None  # None: not tested (below min_n)
    p_adjusted: float | None
    significant: bool
    direction: str | None  # "higher" / "lower" than the rest; None when equal or untested

    @property
    def tested(self) -> bool:
        return self.p is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "step": self.step,
            "label": self.label,
            "from_step": self.from_step,
            "n": self.n,
            "conversions": self.conversions,
            "rate": self.rate,
            "rest_n": self.rest_n,
            "rest_conversions": self.rest_conversions,
            "rest_rate": self.rest_rate,
            "tested": self.tested,
            "p": self.p,
            "p_adjusted": self.p_adjusted,
            "significant": self.significant,
            "direction": self.direction,
        }


@dataclass(frozen=True)
class Segments:
    correction: str
    alpha: float
    min_n: int
    tests: tuple[SegmentTest, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "correction": self.correction,
            "alpha": self.alpha,
            "min_n": self.min_n,
            "tests": [t.to_dict() for t in self.tests],
        }

    def rows(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self.tests]


def _counts(result: FunnelResult, where: np.ndarray) -> list[int]:
    """Each step's count over the rows `where` marks (each unit's best among them)."""
    outcomes = result.outcomes
    if outcomes.units is None:
        steps = step_results(result.funnel, outcomes.reached, outcomes.times_us, where)
    else:
        rows = best_rows(result.funnel, outcomes, np.flatnonzero(where & (outcomes.reached > 0)))
        steps = step_results(result.funnel, outcomes.reached[rows], outcomes.times_us[rows])
    return [s.count for s in steps]


def segments(
    result: FunnelResult,
    min_n: int = DEFAULT_MIN_N,
    correction: str = "bh",
    alpha: float = DEFAULT_ALPHA,
) -> Segments:
    """Every shown breakdown value's step conversion against the rest, corrected p-values."""
    funnel = result.funnel
    if funnel.breakdown is None:
        raise SpecError("--segments", "needs a breakdown", "add --breakdown PROP")
    if correction not in CORRECTIONS:
        raise SpecError("--correction", f"{correction!r} is unknown", "use bh or holm")
    if min_n < 1:
        raise SpecError("--min-n", f"{min_n} is below 1", "use 1 or more")
    if not 0 < alpha < 1:
        raise SpecError("--alpha", f"{alpha} is not between 0 and 1", "use e.g. 0.05")
    outcomes = result.outcomes
    codes = {value: code for code, value in enumerate(outcomes.group_values)}
    optional = [step.optional for step in funnel.steps]
    totals = [s.count for s in result.steps]
    pending: list[dict[str, Any]] = []
    for row in result.breakdown:
        if row.other or outcomes.groups is None:
            continue
        mine = [s.count for s in row.steps]
        if outcomes.units is None:  # rows partition by value: the rest is the total less it
            rest = [t - m for t, m in zip(totals, mine, strict=True)]
        else:
            rest = _counts(result, outcomes.groups != codes[row.value])
        for k in range(1, len(funnel.steps)):
            before = previous_required(optional, k)
            for base in (before, 0) if before else (0,):
                pending.append(
                    {
                        "value": row.label,
                        "step": k + 1,
                        "label": funnel.steps[k].display,
                        "from_step": base + 1,
                        "n": mine[base],
                        "conversions": mine[k],
                        "rest_n": rest[base],
                        "rest_conversions": rest[k],
                    }
                )
    p_values: list[float] = []
    tested: list[int] = []
    for i, item in enumerate(pending):
        item["rate"] = Proportion(item["n"], item["conversions"]).rate
        item["rest_rate"] = Proportion(item["rest_n"], item["rest_conversions"]).rate
        item.update(p=None, p_adjusted=None, significant=False, direction=None)
        if item["n"] >= min_n and item["rest_n"] >= min_n:
            compared = compare_proportions(
                Proportion(item["rest_n"], item["rest_conversions"]),
                Proportion(item["n"], item["conversions"]),
            )
            item["p"] = compared.p_value
            if compared.absolute_lift:
                item["direction"] = "higher" if compared.absolute_lift > 0 else "lower"
            p_values.append(compared.p_value)
            tested.append(i)
    adjust = benjamini_hochberg if correction == "bh" else holm
    for i, adjusted in zip(tested, adjust(p_values), strict=True):
        pending[i]["p_adjusted"] = adjusted
        pending[i]["significant"] = adjusted < alpha
    return Segments(correction, alpha, min_n, tuple(SegmentTest(**item) for item in pending))
