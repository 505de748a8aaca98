"""A/B statistics: golden values against statsmodels and scipy, a worked sample-size example,
and seeded simulations of error rates, interval coverage and CUPED."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chisquare, norm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    proportion_confint,
    proportions_ztest,
    samplesize_proportions_2indep_onetail,
)

from funnelscope.stats.ab import (
    Mean,
    compare_proportions,
    cuped,
    cuped_summary,
    holm,
    sample_size,
    srm_check,
    z_statistics,
)
from funnelscope.stats.multiple import benjamini_hochberg
from funnelscope.stats.proportions import Proportion

TOL = 1e-9

# (n_control, conversions_control, n_treatment, conversions_treatment)
CASES = [
    (10_000, 1_000, 10_000, 1_100),
    (2_000, 210, 2_100, 180),
    (50_000, 1_234, 49_000, 1_301),
    (37, 5, 41, 12),
]


# --------------------------------------------------------------------------------------------
# compare_proportions: golden values


@pytest.mark.parametrize(("n_c", "k_c", "n_t", "k_t"), CASES)
def test_p_value_matches_statsmodels_pooled_ztest(n_c: int, k_c: int, n_t: int, k_t: int) -> None:
    result = compare_proportions(Proportion(n_c, k_c), Proportion(n_t, k_t))
    z, p = proportions_ztest([k_t, k_c], [n_t, n_c])
    assert result.z == pytest.approx(z, rel=TOL, abs=TOL)
    assert result.p_value == pytest.approx(p, rel=TOL, abs=1e-15)
    assert result.significant == (p < 0.05)


@pytest.mark.parametrize(("n_c", "k_c", "n_t", "k_t"), CASES)
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_absolute_ci_matches_statsmodels_wald(
    n_c: int, k_c: int, n_t: int, k_t: int, alpha: float
) -> None:
    result = compare_proportions(Proportion(n_c, k_c), Proportion(n_t, k_t), alpha=alpha)
    low, high = confint_proportions_2indep(
        k_t, n_t, k_c, n_c, method="wald", compare="diff", alpha=alpha
    )
    assert result.absolute_lift == pytest.approx(k_t / n_t - k_c / n_c, abs=1e-15)
    assert result.absolute_ci[0] == pytest.approx(low, abs=TOL)
    assert result.absolute_ci[1] == pytest.approx(high, abs=TOL)


@pytest.mark.parametrize(("n_c", "k_c", "n_t", "k_t"), CASES)
def test_relative_ci_is_the_delta_method_from_statsmodels_per_arm_errors(
    n_c: int, k_c: int, n_t: int, k_t: int
) -> None:
    """Each arm's standard error read off statsmodels' normal-approximation interval, combined
    by the delta method for p_t / p_c."""
    z = norm.ppf(0.975)
    se_c = np.diff(proportion_confint(k_c, n_c, method="normal"))[0] / (2 * z)
    se_t = np.diff(proportion_confint(k_t, n_t, method="normal"))[0] / (2 * z)
    p_c, p_t = k_c / n_c, k_t / n_t
    se_rel = math.sqrt(se_t**2 / p_c**2 + p_t**2 * se_c**2 / p_c**4)
    result = compare_proportions(Proportion(n_c, k_c), Proportion(n_t, k_t))
    assert result.relative_lift == pytest.approx(p_t / p_c - 1, rel=TOL)
    assert result.relative_ci is not None
    assert result.relative_ci[0] == pytest.approx(p_t / p_c - 1 - z * se_rel, abs=TOL)
    assert result.relative_ci[1] == pytest.approx(p_t / p_c - 1 + z * se_rel, abs=TOL)


def test_relative_ci_worked_example() -> None:
    # 10% -> 11% on 10,000 each: Var(p_c) = .1·.9/1e4, Var(p_t) = .11·.89/1e4, so
    # Var(rel) = 9.79e-4 + 1.089e-3 = 2.068e-3 and the half-width is 1.96 · 0.04548 = 0.0891.
    result = compare_proportions(Proportion(10_000, 1_000), Proportion(10_000, 1_100))
    var_rel = (0.11 * 0.89 / 10_000) / 0.01 + 0.11**2 * (0.1 * 0.9 / 10_000) / 0.0001
    half = 1.959963984540054 * math.sqrt(var_rel)
    assert result.relative_lift == pytest.approx(0.1, rel=TOL)
    assert result.relative_ci is not None
    assert result.relative_ci == pytest.approx((0.1 - half, 0.1 + half), abs=TOL)
    assert result.relative_ci[1] - 0.1 == pytest.approx(0.0891, abs=5e-5)


def test_degenerate_rates() -> None:
    zero_control = compare_proportions(Proportion(100, 0), Proportion(100, 3))
    assert zero_control.relative_lift is None and zero_control.relative_ci is None
    assert zero_control.absolute_lift == pytest.approx(0.03)
    nothing = compare_proportions(Proportion(100, 0), Proportion(100, 0))
    assert nothing.z == 0.0 and nothing.p_value == 1.0 and not nothing.significant
    everything = compare_proportions(Proportion(50, 50), Proportion(70, 70))
    assert everything.p_value == 1.0
    with pytest.raises(ValueError):
        compare_proportions(Proportion(0, 0), Proportion(10, 1))
    with pytest.raises(ValueError):
        compare_proportions(Proportion(10, 11), Proportion(10, 1))
    with pytest.raises(ValueError):
        compare_proportions(Proportion(10, 1), Proportion(10, 1), alpha=1.5)


def test_z_statistics_is_compare_proportions_vectorised() -> None:
    rng = np.random.default_rng(7)
    n_c = rng.integers(50, 5_000, size=300)
    n_t = rng.integers(50, 5_000, size=300)
    k_c, k_t = rng.binomial(n_c, 0.2), rng.binomial(n_t, 0.22)
    z = z_statistics(n_c, k_c, n_t, k_t)
    scalar = [
        compare_proportions(Proportion(a, b), Proportion(c, d)).z
        for a, b, c, d in zip(n_c, k_c, n_t, k_t, strict=True)
    ]
    np.testing.assert_allclose(z, scalar, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# compare_proportions: simulations


def test_aa_false_positive_rate_at_alpha() -> None:
    """20,000 A/A tests (n = 2,000 per arm, rate 0.1) through compare_proportions itself."""
    rng = np.random.default_rng(20_240_601)
    reps, n, rate = 20_000, 2_000, 0.1
    k_c, k_t = rng.binomial(n, rate, size=reps), rng.binomial(n, rate, size=reps)
    hits = sum(
        compare_proportions(Proportion(n, int(a)), Proportion(n, int(b))).significant
        for a, b in zip(k_c, k_t, strict=True)
    )
    assert abs(hits / reps - 0.05) < 0.015
    # The vectorised statistic, over ten times the replications, pins it down tighter.
    k_c, k_t = rng.binomial(n, rate, size=200_000), rng.binomial(n, rate, size=200_000)
    rejected = np.mean(np.abs(z_statistics(n, k_c, n, k_t)) > norm.ppf(0.975))
    assert abs(rejected - 0.05) < 0.003  # about six standard errors


def test_confidence_interval_coverage() -> None:
    """20,000 A/B tests with a true 10% -> 12% lift: both 95% intervals cover the truth
    93.5-96.5% of the time."""
    rng = np.random.default_rng(99)
    reps, n, p_c, p_t = 20_000, 2_000, 0.10, 0.12
    k_c, k_t = rng.binomial(n, p_c, size=reps), rng.binomial(n, p_t, size=reps)
    absolute = relative = 0
    for a, b in zip(k_c, k_t, strict=True):
        r = compare_proportions(Proportion(n, int(a)), Proportion(n, int(b)))
        absolute += r.absolute_ci[0] <= p_t - p_c <= r.absolute_ci[1]
        assert r.relative_ci is not None
        relative += r.relative_ci[0] <= p_t / p_c - 1 <= r.relative_ci[1]
    assert 0.935 <= absolute / reps <= 0.965
    assert 0.935 <= relative / reps <= 0.965


def test_power_of_the_planned_sample_size() -> None:
    """At the per-variant size sample_size asks for, the test rejects about 80% of the time."""
    rng = np.random.default_rng(3)
    plan = sample_size(0.10, 0.02, relative=False)
    k_c = rng.binomial(plan.per_variant, 0.10, size=100_000)
    k_t = rng.binomial(plan.per_variant, 0.12, size=100_000)
    power = np.mean(np.abs(z_statistics(plan.per_variant, k_c, plan.per_variant, k_t)) > 1.96)
    assert abs(power - 0.8) < 0.006  # about five standard errors


# --------------------------------------------------------------------------------------------
# Multiple comparisons


P_VALUE_SETS = [
    [0.01, 0.04, 0.03, 0.005, 0.2],
    [0.5, 0.5, 0.01, 0.01, 0.049, 0.9, 0.0001],
    [0.3],
    [],
    np.random.default_rng(5).uniform(0, 0.2, size=40).tolist(),
]


@pytest.mark.parametrize("ps", P_VALUE_SETS)
def test_holm_and_bh_match_statsmodels(ps: list[float]) -> None:
    if not ps:
        assert holm(ps) == [] and benjamini_hochberg(ps) == []
        return
    expected_holm = multipletests(ps, method="holm")[1]
    expected_bh = multipletests(ps, method="fdr_bh")[1]
    np.testing.assert_allclose(holm(ps), expected_holm, rtol=0, atol=TOL)
    np.testing.assert_allclose(benjamini_hochberg(ps), expected_bh, rtol=0, atol=TOL)


def test_holm_worked_example() -> None:
    # Sorted 0.005, 0.01, 0.03, 0.04, 0.2 times 5, 4, 3, 2, 1 = .025, .04, .09, .08, .2; the
    # running maximum lifts 0.08 to 0.09.
    assert holm([0.01, 0.04, 0.03, 0.005, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.2])
    assert holm([0.6, 0.9]) == [1.0, 1.0]


# --------------------------------------------------------------------------------------------
# Sample ratio mismatch


@pytest.mark.parametrize(
    ("observed", "shares"),
    [
        ([50_000, 49_000], None),
        ([10_120, 9_880, 10_050], None),
        ([9_000, 1_050], [0.9, 0.1]),
        ([900, 100], [90, 10]),
        ([5_000, 5_400, 4_800, 5_200], [1, 1, 1, 1]),
    ],
)
def test_srm_matches_scipy_chisquare(observed: list[int], shares: list[float] | None) -> None:
    result = srm_check(observed, shares)
    total = sum(observed)
    weights = [1.0] * len(observed) if shares is None else shares
    f_exp = [total * w / sum(weights) for w in weights]
    expected = chisquare(observed, f_exp=f_exp)
    assert result.chi_square == pytest.approx(expected.statistic, rel=TOL, abs=TOL)
    assert result.p_value == pytest.approx(expected.pvalue, rel=TOL, abs=1e-300)
    assert result.df == len(observed) - 1
    assert result.expected == pytest.approx(f_exp, rel=TOL)
    assert result.mismatch == (expected.pvalue < 0.001)


def test_srm_flags_a_broken_split_only() -> None:
    # 50,000 vs 49,000: chi-square 2 · 500² / 49,500 = 10.10, p = 0.0015: not flagged.
    fine = srm_check([50_000, 49_000])
    assert fine.chi_square == pytest.approx(500_000 / 49_500)
    assert 0.001 < fine.p_value < 0.002 and not fine.mismatch
    assert srm_check([50_000, 49_000], threshold=0.01).mismatch
    assert srm_check([50_000, 48_800]).mismatch
    assert not srm_check([5_000, 5_000]).mismatch and srm_check([5_000, 5_000]).p_value == 1.0
    with pytest.raises(ValueError):
        srm_check([10])
    with pytest.raises(ValueError):
        srm_check([10, 10], [1.0])
    with pytest.raises(ValueError):
        srm_check([0, 0])


# --------------------------------------------------------------------------------------------
# Sample size


def test_sample_size_worked_example() -> None:
    """Baseline 10%, +2 points absolute, two-sided alpha 0.05, power 0.8: the pooled-null /
    unpooled-alternative formula gives 3,840.85 (computed: (1.95996·√(2·.11·.89) +
    0.84162·√(.09 + .1056))² / .02²), so 3,841 per group."""
    plan = sample_size(0.10, 0.02, relative=False)
    assert plan == sample_size(0.10, 0.20)  # the same lift stated relatively
    assert plan.per_variant == 3_841 and plan.total == 7_682 and plan.days is None
    z_a, z_b = norm.ppf(0.975), norm.ppf(0.8)
    raw = (z_a * math.sqrt(2 * 0.11 * 0.89) + z_b * math.sqrt(0.09 + 0.12 * 0.88)) ** 2 / 0.02**2
    assert raw == pytest.approx(3_840.847482, abs=1e-6)


@pytest.mark.parametrize("baseline", [0.02, 0.1, 0.35, 0.6])
@pytest.mark.parametrize("lift", [0.05, 0.1, -0.1, 0.3])
@pytest.mark.parametrize(("alpha", "power"), [(0.05, 0.8), (0.01, 0.9), (0.1, 0.5)])
def test_sample_size_matches_statsmodels(
    baseline: float, lift: float, alpha: float, power: float
) -> None:
    plan = sample_size(baseline, lift, alpha=alpha, power=power)
    diff = baseline * lift
    expected = samplesize_proportions_2indep_onetail(diff, baseline, power, alpha=alpha)
    assert plan.per_variant == math.ceil(expected)
    # The smallest size that reaches the power, the far rejection tail ignored (as the formula
    # does: a one-sided test at alpha / 2 in the direction of the lift).
    tail = "larger" if diff > 0 else "smaller"

    def power_at(n: int) -> float:
        result = power_proportions_2indep(diff, baseline, n, alpha=alpha / 2, alternative=tail)
        return float(result.power)

    assert power_at(plan.per_variant - 1) < power <= power_at(plan.per_variant)


def test_sample_size_variants_correction_and_days() -> None:
    three = sample_size(0.05, 0.1, variants=3, correction="bonferroni", daily_traffic=10_000)
    same_alpha = sample_size(0.05, 0.1, alpha=0.025)
    assert three.per_variant == same_alpha.per_variant
    assert three.total == 3 * three.per_variant
    assert three.days == math.ceil(three.total / 10_000)
    uncorrected = sample_size(0.05, 0.1, variants=3)
    assert uncorrected.per_variant == sample_size(0.05, 0.1).per_variant < three.per_variant
    assert sample_size(0.05, 0.1, correction="bonferroni") == sample_size(0.05, 0.1)
    exact_days = sample_size(0.10, 0.02, relative=False, daily_traffic=7_682)
    assert exact_days.days == 1
    with pytest.raises(ValueError):
        sample_size(0.5, 1.2)  # treatment rate above 1
    with pytest.raises(ValueError):
        sample_size(0.1, 0.0)
    with pytest.raises(ValueError):
        sample_size(0.1, 0.1, variants=1)
    with pytest.raises(ValueError):
        sample_size(0.1, 0.1, correction="sidak")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Mean and CUPED


def test_mean_from_sums() -> None:
    values = np.random.default_rng(1).gamma(2.0, 3.0, size=1_000)
    m = Mean.of(values)
    assert m.n == 1_000
    assert m.mean == pytest.approx(values.mean(), rel=TOL)
    assert m.variance == pytest.approx(values.var(ddof=1), rel=TOL)
    assert Mean(3, 6.0, 14.0).variance == pytest.approx(1.0)  # 1, 2, 3
    with pytest.raises(ValueError):
        _ = Mean(0, 0.0, 0.0).mean
    with pytest.raises(ValueError):
        _ = Mean(1, 2.0, 4.0).variance


def _correlated(rng: np.random.Generator, n: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Pre-period x and in-experiment y with corr(x, y) = rho, means 10 and 20."""
    x = rng.normal(size=n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=n)
    return 20.0 + 3.0 * y, 10.0 + 2.0 * x


def test_cuped_array_form() -> None:
    y, x = _correlated(np.random.default_rng(11), 5_000, 0.7)
    result = cuped(y, x)
    cov = np.cov(x, y, ddof=1)
    theta = cov[0, 1] / cov[0, 0]
    adjusted = y - theta * (x - x.mean())
    assert result.theta == pytest.approx(theta, rel=TOL)
    assert result.adjusted_mean == pytest.approx(y.mean(), rel=TOL)
    assert result.adjusted_variance == pytest.approx(adjusted.var(ddof=1), rel=1e-8)
    assert result.variance_reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-8)
    assert result.variance_reduction == pytest.approx(0.49, abs=0.03)
    # A given theta and centre, as when each arm is adjusted with the pooled ones.
    fixed = cuped(y, x, theta=1.5, x_mean=9.0)
    assert fixed.theta == 1.5
    assert fixed.adjusted_mean == pytest.approx(y.mean() - 1.5 * (x.mean() - 9.0), rel=TOL)
    assert fixed.adjusted_variance == pytest.approx((y - 1.5 * x).var(ddof=1), rel=1e-8)
    with pytest.raises(ValueError):
        cuped(y, np.full_like(x, 3.0))
    with pytest.raises(ValueError):
        cuped(y, x[:-1])


@pytest.mark.parametrize("kwargs", [{}, {"theta": 0.8, "x_mean": 10.5}])
def test_cuped_summary_agrees_with_array_form(kwargs: dict[str, float]) -> None:
    y, x = _correlated(np.random.default_rng(12), 20_000, 0.5)
    from_arrays = cuped(y, x, **kwargs)
    from_sums = cuped_summary(Mean.of(y), Mean.of(x), float(x @ y), **kwargs)
    for field in ("theta", "adjusted_mean", "adjusted_variance", "variance_reduction"):
        assert getattr(from_sums, field) == pytest.approx(
            getattr(from_arrays, field), rel=TOL, abs=TOL
        ), field
    with pytest.raises(ValueError):
        cuped_summary(Mean.of(y), Mean.of(x[:-1]), float(x[:-1] @ y[:-1]))


def test_cuped_reduces_variance_and_stays_unbiased() -> None:
    """2,000 experiments, 1,000 units per arm, true effect +0.3 on a metric whose pre-period
    covariate has correlation 0.8: the CUPED effect estimates average to the truth, each arm's
    adjusted mean to that arm's true mean, and their variance is about (1 - 0.8²) of the plain
    difference's."""
    rng = np.random.default_rng(2024)
    reps, n, effect, rho = 2_000, 1_000, 0.3, 0.8
    raw, adjusted, control_means = [], [], []
    for _ in range(reps):
        y_c, x_c = _correlated(rng, n, rho)
        y_t, x_t = _correlated(rng, n, rho)
        y_t = y_t + effect
        pooled = cuped(np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t]))
        centre = float(np.concatenate([x_c, x_t]).mean())
        control = cuped(y_c, x_c, theta=pooled.theta, x_mean=centre)
        treated = cuped(y_t, x_t, theta=pooled.theta, x_mean=centre)
        raw.append(y_t.mean() - y_c.mean())
        adjusted.append(treated.adjusted_mean - control.adjusted_mean)
        control_means.append(control.adjusted_mean)
    raw_a, adjusted_a, control_a = np.array(raw), np.array(adjusted), np.array(control_means)
    se = adjusted_a.std(ddof=1) / math.sqrt(reps)
    assert abs(adjusted_a.mean() - effect) < 4 * se
    assert abs(control_a.mean() - 20.0) < 4 * control_a.std(ddof=1) / math.sqrt(reps)
    ratio = adjusted_a.var(ddof=1) / raw_a.var(ddof=1)
    assert ratio == pytest.approx(1 - rho**2, abs=0.06)  # 0.36; sampling error ~0.016


def test_the_ab_tools_are_exported_lazily_from_funnelscope_stats() -> None:
    import subprocess
    import sys

    code = (
        "import sys, funnelscope.stats as s; assert 'scipy' not in sys.modules; "
        "from funnelscope.stats import compare_proportions, bayes_proportions, msprt; "
        "assert compare_proportions is s.ab.compare_proportions; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
