"""Beta-Binomial comparison of two rates: golden values, identities and limits."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import integrate, special, stats

from funnelscope.stats.bayes import (
    BetaPosterior,
    Method,
    bayes_proportions,
    expected_shortfall,
    posterior,
    prob_greater,
)
from funnelscope.stats.proportions import Proportion

METHODS: list[Method] = ["closed_form", "quadrature"]
SMALL = [
    (Proportion(20, 3), Proportion(25, 8)),
    (Proportion(40, 10), Proportion(40, 9)),
    (Proportion(100, 10), Proportion(120, 19)),
]


def _double_integral(control: BetaPosterior, treatment: BetaPosterior) -> float:
    """P(p_t > p_c) as the plain double integral of the joint density over {x_t > x_c}."""
    value, _ = integrate.dblquad(
        lambda xc, xt: (
            stats.beta.pdf(xt, treatment.alpha, treatment.beta)
            * stats.beta.pdf(xc, control.alpha, control.beta)
        ),
        0.0,
        1.0,
        0.0,
        lambda xt: xt,
        epsabs=1e-10,
    )
    return float(value)


@pytest.mark.parametrize("method", METHODS)
def test_exact_small_cases(method: Method) -> None:
    # Uniform control vs Beta(2, 1): ∫ 2x · x dx = 2/3; vs Beta(3, 1): ∫ 3x² · x dx = 3/4.
    empty = Proportion(0, 0)
    assert bayes_proportions(empty, Proportion(1, 1), method=method).chance_to_win == (
        pytest.approx(2 / 3, abs=1e-12)
    )
    assert bayes_proportions(empty, Proportion(2, 2), method=method).chance_to_win == (
        pytest.approx(3 / 4, abs=1e-12)
    )


@pytest.mark.parametrize(("control", "treatment"), SMALL)
def test_chance_to_win_against_brute_force(control: Proportion, treatment: Proportion) -> None:
    closed = bayes_proportions(control, treatment, method="closed_form")
    quad = bayes_proportions(control, treatment, method="quadrature")
    assert closed.method == "closed_form" and quad.method == "quadrature"
    assert closed.chance_to_win == pytest.approx(quad.chance_to_win, abs=1e-9)
    c, t = closed.control_posterior, closed.treatment_posterior
    assert closed.chance_to_win == pytest.approx(_double_integral(c, t), abs=1e-6)

    rng = np.random.default_rng(12345)
    draws = 2_000_000
    pc = rng.beta(c.alpha, c.beta, draws)
    pt = rng.beta(t.alpha, t.beta, draws)
    assert closed.chance_to_win == pytest.approx(float(np.mean(pt > pc)), abs=1e-3)
    loss_t = float(np.mean(np.maximum(pc - pt, 0.0)))
    loss_c = float(np.mean(np.maximum(pt - pc, 0.0)))
    assert closed.expected_loss_treatment == pytest.approx(loss_t, abs=2e-4)
    assert closed.expected_loss_control == pytest.approx(loss_c, abs=2e-4)
    assert quad.expected_loss_treatment == pytest.approx(closed.expected_loss_treatment, abs=1e-9)
    assert quad.expected_loss_control == pytest.approx(closed.expected_loss_control, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("control", "treatment"), SMALL)
def test_swapping_arms_gives_the_complement(
    method: Method, control: Proportion, treatment: Proportion
) -> None:
    forward = bayes_proportions(control, treatment, method=method)
    backward = bayes_proportions(treatment, control, method=method)
    assert forward.chance_to_win + backward.chance_to_win == pytest.approx(1.0, abs=1e-9)
    assert forward.expected_loss_control == pytest.approx(backward.expected_loss_treatment)
    assert forward.expected_loss_treatment == pytest.approx(backward.expected_loss_control)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arm", [Proportion(0, 0), Proportion(50, 7), Proportion(10_000, 1_234)])
def test_equal_data_is_a_coin_flip(method: Method, arm: Proportion) -> None:
    result = bayes_proportions(arm, arm, method=method)
    assert result.chance_to_win == pytest.approx(0.5, abs=1e-9)
    assert result.expected_loss_control == pytest.approx(result.expected_loss_treatment, abs=1e-9)
    assert result.lift_interval[0] < 0 < result.lift_interval[1]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("control", "treatment", "prior"),
    [
        (Proportion(20, 3), Proportion(25, 8), (1.0, 1.0)),
        (Proportion(1_000, 100), Proportion(1_000, 112), (1.0, 1.0)),
        (Proportion(50_000, 2_500), Proportion(50_000, 2_600), (1.0, 1.0)),
        (Proportion(30, 4), Proportion(30, 6), (2.0, 18.0)),
    ],
)
def test_expected_loss_identity(
    method: Method, control: Proportion, treatment: Proportion, prior: tuple[float, float]
) -> None:
    # E[max(c - t, 0)] - E[max(t - c, 0)] = E[c] - E[t].
    result = bayes_proportions(control, treatment, prior, method=method)
    gap = result.control_posterior.mean - result.treatment_posterior.mean
    difference = result.expected_loss_treatment - result.expected_loss_control
    assert difference == pytest.approx(gap, abs=1e-9)
    assert result.expected_loss_control >= 0 and result.expected_loss_treatment >= 0


def test_fractional_counts_use_quadrature() -> None:
    result = bayes_proportions(Proportion(100.5, 10.25), Proportion(99.25, 14.25), (0.5, 0.5))
    assert result.method == "quadrature"
    with pytest.raises(ValueError, match="whole-number"):
        bayes_proportions(
            Proportion(100.5, 10.25), Proportion(99.25, 14.25), (0.5, 0.5), method="closed_form"
        )
    c, t = result.control_posterior, result.treatment_posterior
    assert result.chance_to_win == pytest.approx(_double_integral(c, t), abs=1e-6)


@pytest.mark.parametrize("method", ["auto", "quadrature"])
def test_large_n_matches_normal_approximation(method: Method) -> None:
    control, treatment = Proportion(200_000, 20_000), Proportion(200_000, 20_300)
    result = bayes_proportions(control, treatment, method=method)
    c, t = result.control_posterior, result.treatment_posterior
    sd = math.sqrt(c.variance + t.variance)
    normal = NormalDist()
    assert result.chance_to_win == pytest.approx(normal.cdf((t.mean - c.mean) / sd), abs=1e-3)
    # E[max(X, 0)] for X ~ N(m, s²) is m Φ(m/s) + s φ(m/s).
    m = c.mean - t.mean
    normal_loss = m * normal.cdf(m / sd) + sd * normal.pdf(m / sd)
    assert result.expected_loss_treatment == pytest.approx(normal_loss, rel=1e-2)
    # Relative lift: delta method, sd ≈ sqrt(var_t/m_c² + m_t² var_c/m_c⁴).
    lift = t.mean / c.mean - 1
    lift_sd = math.sqrt(t.variance / c.mean**2 + t.mean**2 * c.variance / c.mean**4)
    z = normal.inv_cdf(0.975)
    assert result.lift_interval[0] == pytest.approx(lift - z * lift_sd, abs=1e-3)
    assert result.lift_interval[1] == pytest.approx(lift + z * lift_sd, abs=1e-3)


def test_auto_picks_the_closed_form_when_short_and_agrees() -> None:
    control, treatment = Proportion(5_000, 400), Proportion(5_000, 450)
    auto = bayes_proportions(control, treatment)
    assert auto.method == "closed_form"
    quad = bayes_proportions(control, treatment, method="quadrature")
    assert auto.chance_to_win == pytest.approx(quad.chance_to_win, abs=1e-9)


def test_credible_intervals_and_reproducible_lift() -> None:
    control, treatment = Proportion(400, 40), Proportion(400, 60)
    result = bayes_proportions(control, treatment, credible=0.9)
    c = posterior(control)
    assert c == BetaPosterior(41, 361)
    assert result.control_rate_interval == pytest.approx(
        (stats.beta.ppf(0.05, 41, 361), stats.beta.ppf(0.95, 41, 361)), abs=1e-12
    )
    lo, hi = result.treatment_rate_interval
    assert lo < result.treatment_posterior.mean < hi
    again = bayes_proportions(control, treatment, credible=0.9)
    assert again.lift_interval == result.lift_interval
    other = bayes_proportions(control, treatment, credible=0.9, seed=7)
    assert other.lift_interval != result.lift_interval
    assert other.lift_interval == pytest.approx(result.lift_interval, abs=5e-3)
    assert result.lift_interval[0] < 0.5 < result.lift_interval[1]


def test_helpers_are_consistent() -> None:
    x, y = BetaPosterior(12, 30), BetaPosterior(7.5, 33.2)
    assert prob_greater(x, y) + prob_greater(y, x) == pytest.approx(1.0, abs=1e-9)
    closed = prob_greater(x, y, "closed_form")
    assert closed == pytest.approx(prob_greater(x, y, "quadrature"), abs=1e-9)
    shortfall = expected_shortfall(x, y) - expected_shortfall(y, x)
    assert shortfall == pytest.approx(x.mean - y.mean, abs=1e-12)
    assert float(special.betaincinv(12, 30, 0.5)) == pytest.approx(x.quantile(0.5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prior": (0.0, 1.0)}, "prior"),
        ({"credible": 1.0}, "credible"),
        ({"lift_draws": 0}, "lift_draws"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bayes_proportions(Proportion(10, 1), Proportion(10, 2), **kwargs)  # type: ignore[arg-type]


def test_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="conversions"):
        bayes_proportions(Proportion(10, 11), Proportion(10, 2))
