"""Odds ratios of 2x2 tables: a smoothed estimate, its Wald interval and a test of association.

A table counts the units that converted or dropped, with and without some trait::

                 converted   dropped
    with             a          b
    without          c          d

The estimate adds a prior count to every cell (1, as PostHog's funnel correlation does), so a
zero cell gives a finite ratio: ``(a+1)(d+1) / ((b+1)(c+1))``. The interval is the Wald interval
of the log odds ratio over the same corrected cells (so the estimate always lies inside it); the
classical Haldane-Anscombe correction adds 0.5 instead, which gives a slightly wider interval
around a ratio further from 1. The p-value is two-sided: Fisher's exact test when any expected
cell count is below 5 (Cochran's rule), else Pearson's chi-square test with one degree of
freedom and no continuity correction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from funnelscope.stats.proportions import z_for

PRIOR_COUNT = 1
MIN_EXPECTED = 5.0  # Cochran's rule: below this expected count in any cell, the exact test
FISHER = "fisher"
CHI_SQUARE = "chi2"


@dataclass(frozen=True)
class Table2x2:
    """Units that converted / dropped with the trait (a, b) and without it (c, d)."""

    a: int
    b: int
    c: int
    d: int

    @property
    def n(self) -> int:
        return self.a + self.b + self.c + self.d


@dataclass(frozen=True)
class OddsRatioTest:
    odds_ratio: float  # with the prior count in every cell
    low: float  # the confidence interval of the odds ratio
    high: float
    p_value: float  # two-sided
    test: str  # "fisher" or "chi2"


def smoothed_odds_ratio(t: Table2x2, prior: float = PRIOR_COUNT) -> float:
    """(a+prior)(d+prior) / ((b+prior)(c+prior)); exact for whole counts and a whole prior."""
    if float(prior).is_integer():
        p = int(prior)
        return ((t.a + p) * (t.d + p)) / ((t.b + p) * (t.c + p))
    return ((t.a + prior) * (t.d + prior)) / ((t.b + prior) * (t.c + prior))


def log_odds_interval(
    t: Table2x2, prior: float = PRIOR_COUNT, confidence: float = 0.95
) -> tuple[float, float]:
    """Wald interval exp(log OR +- z * sqrt(sum of 1/(cell+prior))) of the smoothed ratio."""
    if prior <= 0:
        raise ValueError("the interval needs a positive prior count in every cell")
    centre = math.log(smoothed_odds_ratio(t, prior))
    se = math.sqrt(sum(1.0 / (x + prior) for x in (t.a, t.b, t.c, t.d)))
    half = z_for(confidence) * se
    return math.exp(centre - half), math.exp(centre + half)


def needs_exact_test(t: Table2x2, min_expected: float = MIN_EXPECTED) -> bool:
    """Whether any expected cell count (row total x column total / n) is below `min_expected`
    (an empty row or column makes every expected count of it 0)."""
    n = t.n
    if n == 0:
        return True
    rows, cols = (t.a + t.b, t.c + t.d), (t.a + t.c, t.b + t.d)
    return min(r * c for r in rows for c in cols) < min_expected * n


def association_p_value(t: Table2x2, min_expected: float = MIN_EXPECTED) -> tuple[float, str]:
    """Two-sided p-value of no association, and which test gave it ("fisher" or "chi2")."""
    if needs_exact_test(t, min_expected):
        from scipy.stats import fisher_exact

        p = float(fisher_exact([[t.a, t.b], [t.c, t.d]], alternative="two-sided").pvalue)
        return min(1.0, p), FISHER
    margins = (t.a + t.b) * (t.c + t.d) * (t.a + t.c) * (t.b + t.d)
    statistic = t.n * (t.a * t.d - t.b * t.c) ** 2 / margins  # whole numbers until the division
    # the chi-square survival function with 1 degree of freedom (no scipy import: ~0.7 s)
    return math.erfc(math.sqrt(statistic / 2.0)), CHI_SQUARE


def odds_ratio_test(
    t: Table2x2,
    prior: float = PRIOR_COUNT,
    confidence: float = 0.95,
    min_expected: float = MIN_EXPECTED,
) -> OddsRatioTest:
    """The smoothed odds ratio, its interval and the p-value of one table."""
    low, high = log_odds_interval(t, prior, confidence)
    p, test = association_p_value(t, min_expected)
    return OddsRatioTest(smoothed_odds_ratio(t, prior), low, high, p, test)


def odds_ratio_tests(
    tables: Sequence[Table2x2],
    prior: float = PRIOR_COUNT,
    confidence: float = 0.95,
    min_expected: float = MIN_EXPECTED,
) -> list[OddsRatioTest]:
    """:func:`odds_ratio_test` of each table, in order."""
    return [odds_ratio_test(t, prior, confidence, min_expected) for t in tables]
