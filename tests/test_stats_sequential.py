"""The mixture SPRT: peeking-safe false-positive rate, power, monotone p-values, coverage.

The simulations run many experiments at once through the library's own vectorised helpers
(`_log_lr`, `_half_width`), and check a few of them against the scalar API.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy import special

from funnelscope.stats.proportions import Proportion
from funnelscope.stats.sequential import (
    DEFAULT_RELATIVE_EFFECT,
    _half_width,
    _log_lr,
    always_valid_p_values,
    confidence_sequence,
    default_tau,
    msprt,
)

ALPHA = 0.05
DAYS = 28
Array = npt.NDArray[np.float64]


def _simulate(
    rng: np.random.Generator, experiments: int, per_day: int, p_control: float, p_treatment: float
) -> tuple[Array, Array, Array]:
    """Cumulative (n, control conversions, treatment conversions), shape (experiments, DAYS)."""
    kc = rng.binomial(per_day, p_control, (experiments, DAYS)).cumsum(axis=1).astype(np.float64)
    kt = rng.binomial(per_day, p_treatment, (experiments, DAYS)).cumsum(axis=1).astype(np.float64)
    n = np.broadcast_to(per_day * np.arange(1, DAYS + 1, dtype=np.float64), kc.shape)
    return n, kc, kt


def _diff_var(n: Array, kc: Array, kt: Array) -> tuple[Array, Array]:
    rc, rt = kc / n, kt / n
    return rt - rc, rt * (1 - rt) / n + rc * (1 - rc) / n


def _first_look_tau(n: Array, kc: Array, kt: Array) -> Array:
    """The default τ of `always_valid_p_values`, per experiment (first look has conversions)."""
    pooled = (kc[:, 0] + kt[:, 0]) / (2 * n[:, 0])
    return DEFAULT_RELATIVE_EFFECT * np.minimum(pooled, 1 - pooled)


def _sequential_p(n: Array, kc: Array, kt: Array) -> tuple[Array, Array]:
    d, v = _diff_var(n, kc, kt)
    tau = _first_look_tau(n, kc, kt)
    log_lr = _log_lr(d, v, (tau**2)[:, None])
    p = np.minimum.accumulate(np.minimum(1.0, np.exp(-log_lr)), axis=1)
    return p, tau


def _looks(n: Array, kc: Array, kt: Array, row: int) -> list[tuple[Proportion, Proportion]]:
    return [
        (
            Proportion(float(n[row, j]), float(kc[row, j])),
            Proportion(float(n[row, j]), float(kt[row, j])),
        )
        for j in range(DAYS)
    ]


def _limit(rate: float, runs: int) -> float:
    return rate + 2 * math.sqrt(rate * (1 - rate) / runs)


def test_peeking_aa_false_positive_rate() -> None:
    rng = np.random.default_rng(20240601)
    runs = 2_000
    n, kc, kt = _simulate(rng, runs, 1_000, 0.1, 0.1)
    p, _ = _sequential_p(n, kc, kt)
    sequential_rate = float(np.mean(p.min(axis=1) <= ALPHA))

    # The naive fixed-horizon pooled z-test, checked after every day.
    pooled = (kc + kt) / (2 * n)
    z = (kt - kc) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    naive_p = special.erfc(np.abs(z) / math.sqrt(2))
    naive_rate = float(np.mean(naive_p.min(axis=1) <= ALPHA))
    print(f"A/A over {DAYS} looks: mSPRT {sequential_rate:.4f}, naive z {naive_rate:.4f}")

    assert sequential_rate <= _limit(ALPHA, runs)
    assert naive_rate > 0.12
    # The library's scalar path gives the same p-values as the vectorised simulation.
    for row in range(10):
        assert always_valid_p_values(_looks(n, kc, kt, row)) == pytest.approx(
            p[row].tolist(), rel=1e-9, abs=1e-12
        )


def test_power_with_an_eight_percent_lift() -> None:
    rng = np.random.default_rng(7)
    runs = 200
    n, kc, kt = _simulate(rng, runs, 5_000, 0.1, 0.108)
    p, _ = _sequential_p(n, kc, kt)
    power = float(np.mean(p[:, -1] <= ALPHA))
    print(f"power, +8% relative on 0.1, 28 days x 5,000/arm: {power:.3f}")
    assert power > 0.8


def test_p_values_never_increase_and_msprt_threads_previous_p() -> None:
    rng = np.random.default_rng(3)
    n, kc, kt = _simulate(rng, 1, 2_000, 0.1, 0.104)
    looks = _looks(n, kc, kt, 0)
    p_values = always_valid_p_values(looks)
    assert all(b <= a for a, b in itertools.pairwise(p_values))
    assert all(0.0 <= v <= 1.0 for v in p_values)

    tau = default_tau(*looks[0])
    assert tau is not None
    previous = 1.0
    for (control, treatment), expected in zip(looks, p_values, strict=True):
        result = msprt(control, treatment, tau, ALPHA, previous)
        assert result.tau == tau
        assert result.p_value == pytest.approx(expected)
        assert result.significant == (result.p_value <= ALPHA)
        assert result.p_value <= previous
        previous = result.p_value


def test_confidence_sequence_coverage() -> None:
    rng = np.random.default_rng(11)
    runs = 2_000
    n, kc, kt = _simulate(rng, runs, 1_000, 0.1, 0.11)
    d, v = _diff_var(n, kc, kt)
    tau = _first_look_tau(n, kc, kt)
    half = _half_width(v, (tau**2)[:, None], ALPHA)
    covered = np.all(np.abs(d - 0.01) < half, axis=1)
    coverage = float(np.mean(covered))
    print(f"confidence-sequence coverage over {DAYS} looks: {coverage:.4f}")
    assert coverage >= 1 - _limit(ALPHA, runs)

    # The scalar API on one look agrees with the vectorised one.
    control, treatment = _looks(n, kc, kt, 0)[-1]
    low, high = confidence_sequence(control, treatment, float(tau[0]), ALPHA)
    assert (low, high) == pytest.approx((d[0, -1] - half[0, -1], d[0, -1] + half[0, -1]))


@pytest.mark.parametrize("treatment_conversions", [100, 120, 130, 145, 200])
def test_zero_outside_the_interval_exactly_when_significant(treatment_conversions: int) -> None:
    control, treatment = Proportion(2_000, 200), Proportion(2_000, treatment_conversions)
    result = msprt(control, treatment, tau=0.01)
    low, high = confidence_sequence(control, treatment, tau=0.01)
    assert low < result.difference < high
    assert (not low < 0 < high) == result.significant


def test_likelihood_ratio_formula() -> None:
    control, treatment = Proportion(5_000, 500), Proportion(5_000, 560)
    result = msprt(control, treatment, tau=0.02)
    d, v, t2 = result.difference, result.variance, 0.02**2
    expected = math.sqrt(v / (v + t2)) * math.exp(t2 * d * d / (2 * v * (v + t2)))
    assert result.likelihood_ratio == pytest.approx(expected, rel=1e-12)
    assert result.p_value == pytest.approx(min(1.0, 1 / expected))
    assert d == pytest.approx(0.012)
    assert v == pytest.approx(0.112 * 0.888 / 5_000 + 0.1 * 0.9 / 5_000)


def test_default_tau() -> None:
    assert default_tau(Proportion(1_000, 100), Proportion(1_000, 100)) == pytest.approx(0.01)
    assert default_tau(Proportion(100, 90), Proportion(100, 90)) == pytest.approx(0.01)
    assert default_tau(Proportion(100, 0), Proportion(100, 0)) is None
    assert default_tau(Proportion(0, 0), Proportion(0, 0)) is None
    result = msprt(Proportion(1_000, 100), Proportion(1_000, 100))
    assert result.tau == pytest.approx(0.01)
    # always_valid_p_values takes τ from the first informative look, then keeps it.
    looks = [
        (Proportion(10, 0), Proportion(10, 0)),
        (Proportion(1_000, 100), Proportion(1_000, 100)),
        (Proportion(2_000, 150), Proportion(2_000, 250)),
    ]
    assert always_valid_p_values(looks) == pytest.approx(always_valid_p_values(looks, tau=0.01))


def test_no_information_means_no_evidence() -> None:
    for control, treatment in [
        (Proportion(0, 0), Proportion(100, 10)),
        (Proportion(100, 0), Proportion(100, 0)),
    ]:
        result = msprt(control, treatment, tau=0.01)
        assert result.likelihood_ratio == 1.0 and result.p_value == 1.0
        assert not result.significant
        assert confidence_sequence(control, treatment, tau=0.01) == (-1.0, 1.0)


def test_huge_evidence_does_not_overflow() -> None:
    result = msprt(Proportion(10_000_000, 1_000_000), Proportion(10_000_000, 2_000_000))
    assert result.likelihood_ratio == math.inf and result.log_likelihood_ratio > 709
    assert result.p_value == 0.0 and result.significant


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"tau": 0.0}, "tau"), ({"tau": 0.01, "alpha": 0.0}, "alpha")],
)
def test_rejects_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        msprt(Proportion(10, 1), Proportion(10, 2), **kwargs)
    with pytest.raises(ValueError, match="conversions"):
        msprt(Proportion(10, 11), Proportion(10, 2), tau=0.01)
