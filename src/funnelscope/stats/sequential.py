"""Peeking-safe comparison of two proportions: the mixture SPRT (mSPRT).

Johari, Pekelis and Walsh's always-valid inference, for the difference d_n = p̂_t - p̂_c of two
rates with (unpooled, plug-in) variance V_n = p̂_t(1 - p̂_t)/n_t + p̂_c(1 - p̂_c)/n_c. Mixing the
normal likelihood ratio over effects δ ~ N(0, τ²) gives

    Λ_n = sqrt(V_n / (V_n + τ²)) · exp(τ² d_n² / (2 V_n (V_n + τ²))),

a nonnegative martingale under H0 (δ = 0), so by Ville's inequality P(sup_n Λ_n >= 1/α) <= α:
the always-valid p-value p_n = min(1, min over looks k <= n of 1/Λ_k) may be checked after every
look (daily peeking) and the test stopped whenever p_n <= α, with the false-positive rate still
at most α. With a plug-in variance the guarantee is asymptotic (normal approximation); it holds
well at the sample sizes of web experiments (hundreds of conversions per arm).

The confidence sequence is the same mixture centred at δ instead of 0: the δ with
Λ_n(d_n - δ) < 1/α, i.e. d_n ± sqrt(2 V_n (V_n + τ²)/τ² · (log(1/α) + ½ log((V_n + τ²)/V_n))).
It covers the true difference at every look simultaneously with probability >= 1 - α, so the
intersection of the intervals seen so far is also a valid (narrower) interval; 0 lies outside the
look-n interval exactly when 1/Λ_n <= α.

Tuning τ (the standard deviation of the mixing distribution, on the absolute difference): the
mixture is most sensitive to effects near τ (for fixed d_n and V_n, Λ_n is largest at
τ² = d_n² - V_n), so τ should be the size of effect the experiment hopes to detect. Marketing
experiments typically aim for relative lifts of 5-20%, so the default is

    τ = DEFAULT_RELATIVE_EFFECT · min(p̄, 1 - p̄),  DEFAULT_RELATIVE_EFFECT = 0.1,

a 10% relative lift of the pooled rate p̄ = (k_c + k_t)/(n_c + n_t) (of the rarer outcome, so the
choice does not depend on which outcome is called success). A τ that is off by a factor of a few
costs some power (the penalty grows like log(τ/effect)), never validity. For strict validity τ must
not be re-tuned on the data as the test runs: `always_valid_p_values` fixes the default τ from the
first look that has a conversion and a non-conversion, and `msprt` returns the τ it used so a
caller can pass it back on later looks; with a historical baseline rate, pass τ yourself.

Looks where the variance is 0 (an arm without visitors, or every rate 0 or 1) carry no evidence:
Λ = 1 and the confidence interval is [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from funnelscope.stats.proportions import Proportion

DEFAULT_RELATIVE_EFFECT = 0.1
"""Default τ as a share of min(p̄, 1 - p̄): the mixture is tuned to a ~10% relative lift."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SequentialResult:
    """One look of the mSPRT."""

    likelihood_ratio: float
    """Λ_n (may be inf when astronomically large; see log_likelihood_ratio)."""
    log_likelihood_ratio: float
    p_value: float
    """Always-valid p-value: min(previous_p, 1/Λ_n, 1)."""
    significant: bool
    """p_value <= alpha."""
    tau: float
    difference: float
    """p̂_t - p̂_c (0 when an arm has no visitors)."""
    variance: float
    """V_n, the plug-in variance of the difference."""


def _log_lr(d: npt.ArrayLike, v: npt.ArrayLike, tau2: npt.ArrayLike) -> FloatArray:
    """log Λ of the normal-mixture SPRT, elementwise; 0 (no evidence) where v <= 0."""
    d_a = np.asarray(d, dtype=np.float64)
    v_a = np.asarray(v, dtype=np.float64)
    t_a = np.asarray(tau2, dtype=np.float64)
    ok = v_a > 0
    vs = np.where(ok, v_a, 1.0)
    total = vs + t_a
    value = 0.5 * np.log(vs / total) + t_a * d_a * d_a / (2.0 * vs * total)
    return np.where(ok, value, 0.0)


def _half_width(v: npt.ArrayLike, tau2: npt.ArrayLike, alpha: float) -> FloatArray:
    """Half-width of the confidence sequence, elementwise; inf where v <= 0."""
    v_a = np.asarray(v, dtype=np.float64)
    t_a = np.asarray(tau2, dtype=np.float64)
    ok = v_a > 0
    vs = np.where(ok, v_a, 1.0)
    total = vs + t_a
    squared = 2.0 * vs * total / t_a * (math.log(1.0 / alpha) + 0.5 * np.log(total / vs))
    return np.where(ok, np.sqrt(squared), np.inf)


def _difference(control: Proportion, treatment: Proportion) -> tuple[float, float]:
    """(p̂_t - p̂_c, unpooled variance); (0, 0) when an arm has no visitors."""
    for p in (control, treatment):
        if not (0 <= p.conversions <= p.n):
            raise ValueError(f"need 0 <= conversions <= n, got {p.conversions} of {p.n}")
    if control.n <= 0 or treatment.n <= 0:
        return 0.0, 0.0
    rc, rt = control.conversions / control.n, treatment.conversions / treatment.n
    return rt - rc, rt * (1 - rt) / treatment.n + rc * (1 - rc) / control.n


def default_tau(
    control: Proportion, treatment: Proportion, relative_effect: float = DEFAULT_RELATIVE_EFFECT
) -> float | None:
    """relative_effect · min(p̄, 1 - p̄) for the pooled rate p̄; None when p̄ is 0, 1 or undefined."""
    n = control.n + treatment.n
    if n <= 0:
        return None
    pooled = (control.conversions + treatment.conversions) / n
    scale = min(pooled, 1.0 - pooled)
    return relative_effect * scale if scale > 0 else None


def _check(tau: float, alpha: float) -> None:
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def msprt(
    control: Proportion,
    treatment: Proportion,
    tau: float | None = None,
    alpha: float = 0.05,
    previous_p: float = 1.0,
) -> SequentialResult:
    """One look of the mSPRT on the cumulative counts so far.

    `previous_p` is the always-valid p-value of the previous look (1 at the first), so the
    returned p-value never increases. `tau` None: `default_tau` of these counts (and Λ = 1 when
    that is undefined); pass the returned `tau` back on later looks.
    """
    if tau is None:
        tau = default_tau(control, treatment) or 1.0  # any τ: V = 0 here, so Λ = 1
    _check(tau, alpha)
    d, v = _difference(control, treatment)
    log_lr = float(_log_lr(d, v, tau * tau))
    p_value = min(1.0, previous_p, math.exp(-log_lr))
    return SequentialResult(
        likelihood_ratio=math.exp(log_lr) if log_lr < 709.0 else math.inf,
        log_likelihood_ratio=log_lr,
        p_value=p_value,
        significant=p_value <= alpha,
        tau=tau,
        difference=d,
        variance=v,
    )


def _fixed_tau(looks: Sequence[tuple[Proportion, Proportion]], tau: float | None) -> float:
    if tau is not None:
        return tau
    for control, treatment in looks:
        found = default_tau(control, treatment)
        if found is not None:
            return found
    return 1.0  # no look has a conversion and a non-conversion: every Λ is 1


def always_valid_p_values(
    looks: Sequence[tuple[Proportion, Proportion]],
    tau: float | None = None,
    alpha: float = 0.05,
) -> list[float]:
    """Always-valid p-values after each look of (control, treatment) cumulative counts.

    Non-increasing. `tau` None: `default_tau` of the first look where it is defined, then kept.
    """
    tau = _fixed_tau(looks, tau)
    _check(tau, alpha)
    out: list[float] = []
    previous = 1.0
    for control, treatment in looks:
        previous = msprt(control, treatment, tau, alpha, previous).p_value
        out.append(previous)
    return out


def confidence_sequence(
    control: Proportion, treatment: Proportion, tau: float | None = None, alpha: float = 0.05
) -> tuple[float, float]:
    """The look's interval of the (1 - alpha) confidence sequence for p_t - p_c, clipped to
    [-1, 1]. `tau` None: `default_tau` of these counts (fix it across looks; see module doc)."""
    if tau is None:
        tau = default_tau(control, treatment) or 1.0
    _check(tau, alpha)
    d, v = _difference(control, treatment)
    half = float(_half_width(v, tau * tau, alpha))
    return max(-1.0, d - half), min(1.0, d + half)
