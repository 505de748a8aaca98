"""A/B test arithmetic over summary numbers: comparing two conversion rates, Holm's correction,
the sample-ratio-mismatch check, sample sizes for a two-proportion test, and CUPED.

Everything is a pure function of counts and sums (frozen dataclasses in and out), so the same
numbers give the same answer whether they came from a warehouse query or a spreadsheet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import chi2

from funnelscope.stats.proportions import Proportion, two_sided_p

FloatArray = npt.NDArray[np.float64]
ArrayLike = Sequence[float] | npt.NDArray[np.floating] | npt.NDArray[np.integer]

_NORMAL = NormalDist()


def _z_crit(alpha: float) -> float:
    """The two-sided critical value z_{1-alpha/2}."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return _NORMAL.inv_cdf(1.0 - alpha / 2.0)


# --------------------------------------------------------------------------------------------
# Means over sums


@dataclass(frozen=True)
class Mean:
    """A per-unit metric summarised as n, the sum of the values and the sum of their squares."""

    n: float
    total: float
    total_sq: float

    @classmethod
    def of(cls, values: ArrayLike) -> Mean:
        """The summary of raw values (a convenience for tests and small data)."""
        v = np.asarray(values, dtype=np.float64)
        return cls(float(v.size), float(v.sum()), float((v * v).sum()))

    @property
    def mean(self) -> float:
        if self.n <= 0:
            raise ValueError("the mean of no observations is undefined")
        return self.total / self.n

    @property
    def variance(self) -> float:
        """Sample variance (divisor n - 1), never negative despite rounding in the sums."""
        if self.n < 2:
            raise ValueError("the sample variance needs at least two observations")
        return max(0.0, (self.total_sq - self.total * self.total / self.n) / (self.n - 1))


# --------------------------------------------------------------------------------------------
# Two proportions


@dataclass(frozen=True)
class ProportionComparison:
    """Treatment vs control. `relative_lift` and `relative_ci` are None when the control rate is
    0 (a ratio to zero has no meaning)."""

    control_rate: float
    treatment_rate: float
    absolute_lift: float
    absolute_ci: tuple[float, float]
    relative_lift: float | None
    relative_ci: tuple[float, float] | None
    z: float
    p_value: float
    alpha: float
    significant: bool


@dataclass(frozen=True)
class _ComparisonArrays:
    """The pieces of a comparison, element-wise over arrays of experiments."""

    control_rate: FloatArray
    treatment_rate: FloatArray
    diff: FloatArray
    diff_se: FloatArray
    relative: FloatArray
    relative_se: FloatArray
    z: FloatArray


def _comparison_arrays(
    n_control: ArrayLike | float,
    conversions_control: ArrayLike | float,
    n_treatment: ArrayLike | float,
    conversions_treatment: ArrayLike | float,
) -> _ComparisonArrays:
    """The one implementation behind `compare_proportions` and `z_statistics`, vectorised so a
    simulation can run the same formulas over thousands of experiments at once.

    Where a quantity is undefined (control rate 0 for the ratio; pooled rate 0 or 1 for z) the
    array holds nan for the ratio and 0 for z (no evidence of a difference)."""
    n_c = np.asarray(n_control, dtype=np.float64)
    k_c = np.asarray(conversions_control, dtype=np.float64)
    n_t = np.asarray(n_treatment, dtype=np.float64)
    k_t = np.asarray(conversions_treatment, dtype=np.float64)
    if np.any(n_c <= 0) or np.any(n_t <= 0):
        raise ValueError("both arms need n > 0")
    if np.any(k_c < 0) or np.any(k_t < 0) or np.any(k_c > n_c) or np.any(k_t > n_t):
        raise ValueError("conversions must lie in [0, n]")
    p_c, p_t = k_c / n_c, k_t / n_t
    var_c, var_t = p_c * (1.0 - p_c) / n_c, p_t * (1.0 - p_t) / n_t
    diff = p_t - p_c
    pooled = (k_c + k_t) / (n_c + n_t)
    pooled_se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(pooled_se > 0, diff / np.where(pooled_se > 0, pooled_se, 1.0), 0.0)
        safe_c = np.where(p_c > 0, p_c, np.nan)
        relative = p_t / safe_c - 1.0
        relative_se = np.sqrt(var_t / safe_c**2 + p_t**2 * var_c / safe_c**4)
    return _ComparisonArrays(
        control_rate=p_c,
        treatment_rate=p_t,
        diff=diff,
        diff_se=np.sqrt(var_c + var_t),
        relative=relative,
        relative_se=relative_se,
        z=z,
    )


def z_statistics(
    n_control: ArrayLike | float,
    conversions_control: ArrayLike | float,
    n_treatment: ArrayLike | float,
    conversions_treatment: ArrayLike | float,
) -> FloatArray:
    """Pooled-variance z statistics (treatment minus control), element-wise: the statistic
    `compare_proportions` tests, over many experiments at once."""
    return _comparison_arrays(n_control, conversions_control, n_treatment, conversions_treatment).z


def compare_proportions(
    control: Proportion, treatment: Proportion, alpha: float = 0.05
) -> ProportionComparison:
    """Compare treatment's conversion rate with control's.

    Choices, each the textbook one:

    * p-value: two-sided z-test with the *pooled* rate in the variance. Under the null both arms
      share one rate, so pooling estimates that variance best; it is the test of
      `statsmodels.stats.proportion.proportions_ztest` and the square root of the 2x2
      chi-square test without continuity correction.
    * absolute_ci: *unpooled* Wald interval, diff ± z·sqrt(p_c q_c/n_c + p_t q_t/n_t). An interval
      describes the difference where it is, so it cannot assume the arms are equal. The test
      and the interval can therefore disagree at the edge of significance.
    * relative_ci: delta method on p_t/p_c, Var ≈ Var(p_t)/p_c² + p_t² Var(p_c)/p_c⁴, symmetric
      around the observed relative lift. Fine for the sample sizes of web experiments; with
      very few control conversions a log-ratio interval would be better.
    """
    if control.n <= 0 or treatment.n <= 0:
        raise ValueError("both arms need n > 0")
    z_crit = _z_crit(alpha)
    a = _comparison_arrays(control.n, control.conversions, treatment.n, treatment.conversions)
    diff, diff_se = float(a.diff), float(a.diff_se)
    z = float(a.z)
    p_value = two_sided_p(z)
    relative_lift: float | None = None
    relative_ci: tuple[float, float] | None = None
    if float(a.control_rate) > 0:
        relative_lift, relative_se = float(a.relative), float(a.relative_se)
        relative_ci = (relative_lift - z_crit * relative_se, relative_lift + z_crit * relative_se)
    return ProportionComparison(
        control_rate=float(a.control_rate),
        treatment_rate=float(a.treatment_rate),
        absolute_lift=diff,
        absolute_ci=(diff - z_crit * diff_se, diff + z_crit * diff_se),
        relative_lift=relative_lift,
        relative_ci=relative_ci,
        z=z,
        p_value=p_value,
        alpha=alpha,
        significant=p_value < alpha,
    )


# --------------------------------------------------------------------------------------------
# Multiple comparisons


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error rate), in the input order.

    The i-th smallest of m p-values is adjusted to max over j <= i of (m - j + 1) p_(j), capped
    at 1; reject at level alpha where the adjusted value is <= alpha. Uniformly more powerful
    than plain Bonferroni with the same guarantee."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# --------------------------------------------------------------------------------------------
# Sample ratio mismatch


@dataclass(frozen=True)
class SrmResult:
    chi_square: float
    p_value: float
    df: int
    expected: tuple[float, ...]
    mismatch: bool


def srm_check(
    observed: Sequence[int],
    expected_shares: Sequence[float] | None = None,
    threshold: float = 0.001,
) -> SrmResult:
    """Chi-square goodness-of-fit of the units assigned to each variant against the planned
    split (equal shares by default; shares are normalised, so [50, 50] works too).

    The threshold is strict (0.001 by default) because a mismatch means the assignment or the
    logging is broken and the experiment's result is not to be trusted; false alarms are costly.
    """
    k = len(observed)
    if k < 2:
        raise ValueError("an SRM check needs at least two variants")
    if any(o < 0 for o in observed):
        raise ValueError("observed counts must be >= 0")
    total = float(sum(observed))
    if total <= 0:
        raise ValueError("no units observed")
    shares = [1.0] * k if expected_shares is None else [float(s) for s in expected_shares]
    if len(shares) != k:
        raise ValueError(f"{k} observed counts but {len(shares)} expected shares")
    if any(s <= 0 for s in shares):
        raise ValueError("expected shares must be > 0")
    share_total = math.fsum(shares)
    expected = tuple(total * s / share_total for s in shares)
    chi_square = math.fsum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    df = k - 1
    p_value = float(chi2.sf(chi_square, df))
    return SrmResult(chi_square, p_value, df, expected, p_value < threshold)


# --------------------------------------------------------------------------------------------
# Sample size


@dataclass(frozen=True)
class SampleSize:
    per_variant: int
    total: int
    days: int | None


def _ceil(x: float) -> int:
    """Round up, ignoring floating-point dust above an integer (3841.0000000001 -> 3841)."""
    return math.ceil(x - 1e-9 * max(1.0, abs(x)))


def sample_size(
    baseline: float,
    mde: float,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    variants: int = 2,
    daily_traffic: float | None = None,
    correction: Literal["none", "bonferroni"] = "none",
) -> SampleSize:
    """Units per variant for a two-sided two-proportion z-test to detect `mde` with `power`.

    p1 = baseline, p2 = baseline·(1 + mde) when `relative` else baseline + mde, and

        n = (z_{1-a/2} sqrt(2 p̄ q̄) + z_{1-b} sqrt(p1 q1 + p2 q2))² / (p2 - p1)²,  p̄ = (p1+p2)/2

    rounded up: the pooled variance under the null, the two arms' own variances under the
    alternative, the far rejection tail ignored (as in Fleiss, and statsmodels'
    `samplesize_proportions_2indep_onetail`). With `correction="bonferroni"` each of the
    variants - 1 comparisons against control is run at alpha / (variants - 1). `days` is the
    total over `daily_traffic` (units entering the experiment per day), rounded up.
    """
    if not 0.0 < baseline < 1.0:
        raise ValueError(f"baseline must be in (0, 1), got {baseline}")
    p1 = baseline
    p2 = baseline * (1.0 + mde) if relative else baseline + mde
    if not 0.0 < p2 < 1.0:
        raise ValueError(f"the treatment rate {p2} is outside (0, 1)")
    if p2 == p1:
        raise ValueError("mde must be non-zero")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if variants < 2:
        raise ValueError("an experiment needs at least two variants")
    if correction == "bonferroni":
        alpha = alpha / (variants - 1)
    elif correction != "none":
        raise ValueError(f"unknown correction {correction!r}")
    z_a, z_b = _z_crit(alpha), _NORMAL.inv_cdf(power)
    p_bar = (p1 + p2) / 2.0
    root = z_a * math.sqrt(2.0 * p_bar * (1.0 - p_bar)) + z_b * math.sqrt(
        p1 * (1.0 - p1) + p2 * (1.0 - p2)
    )
    per_variant = _ceil(root * root / (p2 - p1) ** 2)
    total = per_variant * variants
    days: int | None = None
    if daily_traffic is not None:
        if daily_traffic <= 0:
            raise ValueError("daily_traffic must be > 0")
        days = _ceil(total / daily_traffic)
    return SampleSize(per_variant, total, days)


# --------------------------------------------------------------------------------------------
# CUPED


@dataclass(frozen=True)
class CupedResult:
    """theta; the CUPED-adjusted mean of y; the per-unit variance of the adjusted metric
    y - theta·x; and the share of y's variance that adjustment removed."""

    theta: float
    adjusted_mean: float
    adjusted_variance: float
    variance_reduction: float


def _cuped_from_moments(
    mean_y: float,
    mean_x: float,
    var_y: float,
    var_x: float,
    cov_xy: float,
    theta: float | None,
    x_mean: float | None,
) -> CupedResult:
    if var_x <= 0:
        raise ValueError("the covariate x has no variance")
    if theta is None:
        theta = cov_xy / var_x
    centre = mean_x if x_mean is None else x_mean
    adjusted_variance = max(0.0, var_y - 2.0 * theta * cov_xy + theta * theta * var_x)
    reduction = 1.0 - adjusted_variance / var_y if var_y > 0 else 0.0
    return CupedResult(
        theta=theta,
        adjusted_mean=mean_y - theta * (mean_x - centre),
        adjusted_variance=adjusted_variance,
        variance_reduction=reduction,
    )


def cuped(
    y: ArrayLike,
    x: ArrayLike,
    *,
    theta: float | None = None,
    x_mean: float | None = None,
) -> CupedResult:
    """CUPED (Deng et al., 2013): y_adj = y - theta (x - x_mean) with x a pre-period covariate.

    theta defaults to cov(x, y) / var(x), the value that minimises Var(y_adj) (the removed share
    is then corr(x, y)²). x_mean defaults to the mean of this x, which leaves the mean of y
    unchanged. To compare arms, estimate theta on all arms together (call this on the pooled
    data) and pass that theta and the pooled mean of x to each arm's call: each arm's adjusted
    mean is then ȳ - theta (x̄_arm - x̄_pooled) and their difference stays unbiased, because x
    was measured before assignment.
    """
    ya = np.asarray(y, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    if ya.shape != xa.shape or ya.ndim != 1:
        raise ValueError("y and x must be 1-d and of the same length")
    n = ya.size
    if n < 2:
        raise ValueError("CUPED needs at least two units")
    mean_y, mean_x = float(ya.mean()), float(xa.mean())
    dy, dx = ya - mean_y, xa - mean_x
    return _cuped_from_moments(
        mean_y,
        mean_x,
        var_y=float(dy @ dy) / (n - 1),
        var_x=float(dx @ dx) / (n - 1),
        cov_xy=float(dx @ dy) / (n - 1),
        theta=theta,
        x_mean=x_mean,
    )


def cuped_summary(
    y: Mean,
    x: Mean,
    sum_xy: float,
    *,
    theta: float | None = None,
    x_mean: float | None = None,
) -> CupedResult:
    """`cuped` over sums (n, Σy, Σy², Σx, Σx², Σxy), as a warehouse query returns them.

    Sums of squares lose precision when the mean is large against the spread; centre the
    metric in the query (or use the array form) if that is the case."""
    if y.n != x.n:
        raise ValueError("y and x must summarise the same units")
    n = y.n
    if n < 2:
        raise ValueError("CUPED needs at least two units")
    cov_xy = (sum_xy - x.total * y.total / n) / (n - 1)
    return _cuped_from_moments(
        y.mean, x.mean, y.variance, x.variance, cov_xy, theta=theta, x_mean=x_mean
    )
