"""Rates over counts: Wilson intervals and over-dispersion-aware comparisons.

Report counts (impressions, clicks, visits ...) are large, so a plain binomial test calls almost
any difference "significant". Real segments and weeks differ by more than binomial noise; the
comparisons here scale the binomial variance by a dispersion factor estimated from the peers or
periods being compared (the quasi-binomial model), so "significant" means "outside the natural
spread", not merely "not exactly equal".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Proportion:
    """`conversions` out of `n` (counts; a report's counts may be fractional after sampling)."""

    n: float
    conversions: float

    @property
    def rate(self) -> float | None:
        return self.conversions / self.n if self.n > 0 else None


@dataclass(frozen=True)
class RateComparison:
    """A rate tested against a reference rate: the z statistic and two-sided p-value."""

    rate: float
    reference: float
    z: float
    p_value: float

    @property
    def relative_gap(self) -> float:
        """How far below the reference, as a share of it (0.25: 25% below; negative: above)."""
        return (self.reference - self.rate) / self.reference if self.reference > 0 else 0.0


def z_for(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def wilson_interval(p: Proportion, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion; None when n is 0 or conversions exceed n
    (a ratio of counts, not a proportion: visits can outnumber clicks)."""
    if p.n <= 0 or p.conversions > p.n or p.conversions < 0:
        return None
    z = z_for(confidence)
    n, rate = p.n, p.conversions / p.n
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _unit_variance(rate: float, count_ratio: bool) -> float:
    """Variance of one trial at `rate`: binomial p(1-p), or Poisson p for count ratios."""
    if count_ratio:
        return max(rate, 1e-12)
    return max(rate * (1.0 - rate), 1e-12)


def dispersion(groups: Sequence[Proportion], count_ratio: bool = False) -> float:
    """Pearson chi-square over degrees of freedom of `groups` around their pooled rate, at least
    1 (never claims less noise than the binomial); 1 when fewer than three groups have data."""
    used = [g for g in groups if g.n > 0]
    if len(used) < 3:
        return 1.0
    pooled = sum(g.conversions for g in used) / sum(g.n for g in used)
    unit = _unit_variance(pooled, count_ratio)
    chi_square = sum((g.conversions - g.n * pooled) ** 2 / (g.n * unit) for g in used)
    return max(1.0, chi_square / (len(used) - 1))


def leave_one_out(
    n: npt.NDArray[np.float64], k: npt.NDArray[np.float64], count_ratio: bool = False
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]
]:
    """For each group i, the others pooled and their dispersion, as `dispersion` would give for
    the list without group i (groups with n = 0 left out): (pooled n, pooled k, phi, how many
    others). Vectorised: the Pearson sum over the others is (S - k_i^2/n_i) - K_i^2/N_i with S the
    sum of k^2/n over all groups, so every group costs O(1)."""
    n = np.asarray(n, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    used = n > 0
    safe = np.where(used, n, 1.0)
    own_sq = np.where(used, k * k / safe, 0.0)
    # Exactly rounded sums (math.fsum): the same groups in another order give the same bits.
    total_n, total_k = math.fsum(n[used].tolist()), math.fsum(k[used].tolist())
    pooled_n = total_n - np.where(used, n, 0.0)
    pooled_k = total_k - np.where(used, k, 0.0)
    others = (used.sum() - used).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(pooled_n > 0, pooled_k / np.where(pooled_n > 0, pooled_n, 1.0), 0.0)
        unit = rate if count_ratio else rate * (1.0 - rate)
        unit = np.maximum(unit, 1e-12)
        pooled_sq = np.where(pooled_n > 0, pooled_k**2 / np.where(pooled_n > 0, pooled_n, 1.0), 0.0)
        spread = math.fsum(own_sq.tolist()) - own_sq - pooled_sq
        chi_square = np.maximum(spread, 0.0) / unit
        phi = np.where(others >= 3, chi_square / np.maximum(others - 1, 1), 1.0)
    return pooled_n, pooled_k, np.maximum(phi, 1.0), others


def compare_to_reference(
    segment: Proportion, reference: Proportion, phi: float = 1.0, count_ratio: bool = False
) -> RateComparison | None:
    """Segment rate vs a reference group's rate (pooled variance, scaled by dispersion `phi`)."""
    if segment.n <= 0 or reference.n <= 0:
        return None
    rate, ref = segment.conversions / segment.n, reference.conversions / reference.n
    pooled = (segment.conversions + reference.conversions) / (segment.n + reference.n)
    se = math.sqrt(phi * _unit_variance(pooled, count_ratio) * (1 / segment.n + 1 / reference.n))
    z = (rate - ref) / se
    return RateComparison(rate, ref, z, two_sided_p(z))


def compare_to_fixed(
    segment: Proportion, reference_rate: float, phi: float = 1.0, count_ratio: bool = False
) -> RateComparison | None:
    """Segment rate vs a fixed rate (a typical range's bound), variance at the fixed rate."""
    if segment.n <= 0:
        return None
    rate = segment.conversions / segment.n
    se = math.sqrt(phi * _unit_variance(reference_rate, count_ratio) / segment.n)
    z = (rate - reference_rate) / se
    return RateComparison(rate, reference_rate, z, two_sided_p(z))
