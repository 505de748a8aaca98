"""Bayesian comparison of two conversion rates with Beta-Binomial posteriors.

Each arm's rate has a Beta(a0, b0) prior; after `conversions` out of `n` its posterior is
Beta(a0 + conversions, b0 + n - conversions). Counts may be fractional (the posterior is still a
Beta distribution); they must satisfy 0 <= conversions <= n.

What is computed, and how:

* chance_to_win = P(p_t > p_c), exactly or to ~1e-10:
  - closed form (Evan Miller's sum) when one of the four posterior parameters is a whole number
    no larger than `CLOSED_FORM_MAX_TERMS`: for X ~ Beta(a1, b1), Y ~ Beta(a2, b2) and integer a1,
    P(X > Y) = sum_{i=0}^{a1-1} B(a2 + i, b1 + b2) / ((b1 + i) B(1 + i, b1) B(a2, b2)),
    every term positive and summed in log space (betaln, logsumexp). Integer a2 gives
    1 - P(Y > X); integer b1 or b2 use 1 - X ~ Beta(b1, a1). The shortest sum is used.
  - otherwise adaptive quadrature (scipy.integrate.quad) of P(X > Y) = ∫ f_X(x) F_Y(x) dx over
    X's central 1 - 2e-15 quantile range, with break points at Y's quantiles.
* expected losses, by the size-biased identity
  E[max(X - Y, 0)] = E[X] P(X+ > Y) - E[Y] P(X > Y+), X+ ~ Beta(a + 1, b),
  (because x f_X(x) = E[X] f_{X+}(x)), each probability computed as chance_to_win is: in the
  quadrature case this is the double integral ∫∫ max(x - y, 0) f_X f_Y done as two single
  integrals. expected_loss_treatment = E[max(p_c - p_t, 0)] (the rate given up if treatment is
  chosen), expected_loss_control = E[max(p_t - p_c, 0)] (if control is chosen); their difference
  is exactly E[p_c] - E[p_t].
* rate intervals: equal-tailed credible intervals from the Beta quantile function.
* lift interval: the relative lift p_t / p_c - 1, equal-tailed, by seeded Monte Carlo:
  `lift_draws` (default 200,000) independent draws from each posterior with
  numpy.random.default_rng(seed) (default seed 0), so a result is reproducible bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import integrate, special  # type: ignore[import-untyped, unused-ignore]

from funnelscope.stats.proportions import Proportion

Method = Literal["auto", "closed_form", "quadrature"]

CLOSED_FORM_MAX_TERMS = 100_000
"""Longest closed-form sum used by method="auto"; beyond it quadrature is faster and as exact."""

_TAIL = 1e-15


@dataclass(frozen=True)
class BetaPosterior:
    """A Beta(alpha, beta) distribution over a rate."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def variance(self) -> float:
        s = self.alpha + self.beta
        return self.alpha * self.beta / (s * s * (s + 1.0))

    def quantile(self, q: float) -> float:
        return float(special.betaincinv(self.alpha, self.beta, q))

    def interval(self, credible: float) -> tuple[float, float]:
        """Equal-tailed credible interval."""
        tail = (1.0 - credible) / 2.0
        return self.quantile(tail), self.quantile(1.0 - tail)


@dataclass(frozen=True)
class BayesResult:
    """Two arms compared under Beta-Binomial posteriors (see the module docstring)."""

    chance_to_win: float
    """P(p_t > p_c)."""
    expected_loss_control: float
    """E[max(p_t - p_c, 0)]: expected rate given up by keeping control."""
    expected_loss_treatment: float
    """E[max(p_c - p_t, 0)]: expected rate given up by shipping treatment."""
    treatment_rate_interval: tuple[float, float]
    control_rate_interval: tuple[float, float]
    lift_interval: tuple[float, float]
    """Equal-tailed credible interval of p_t / p_c - 1 (seeded Monte Carlo)."""
    credible: float
    control_posterior: BetaPosterior
    treatment_posterior: BetaPosterior
    method: Literal["closed_form", "quadrature"]
    """How chance_to_win was computed."""
    lift_draws: int
    seed: int


def posterior(p: Proportion, prior: tuple[float, float] = (1.0, 1.0)) -> BetaPosterior:
    """The Beta posterior of `p`'s rate under a Beta(prior) prior."""
    a0, b0 = prior
    if not (a0 > 0 and b0 > 0):
        raise ValueError(f"prior parameters must be positive, got {prior}")
    if not (0 <= p.conversions <= p.n):
        raise ValueError(f"need 0 <= conversions <= n, got {p.conversions} of {p.n}")
    return BetaPosterior(a0 + p.conversions, b0 + p.n - p.conversions)


def _whole(x: float) -> bool:
    return x >= 1 and float(x).is_integer()


def _p_greater_sum(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X > Y), X ~ Beta(a1, b1), Y ~ Beta(a2, b2), integer a1 (Evan Miller's sum)."""
    i = np.arange(int(a1), dtype=np.float64)
    log_terms = (
        special.betaln(a2 + i, b1 + b2)
        - np.log(b1 + i)
        - special.betaln(1.0 + i, b1)
        - special.betaln(a2, b2)
    )
    return float(np.exp(special.logsumexp(log_terms)))


def _p_greater_closed(x: BetaPosterior, y: BetaPosterior) -> float | None:
    """P(X > Y) by the shortest applicable closed-form sum; None when none applies."""
    a1, b1, a2, b2 = x.alpha, x.beta, y.alpha, y.beta
    # (length, function giving P(X > Y)); 1 - X ~ Beta(b1, a1), and X > Y iff 1 - Y > 1 - X.
    options: list[tuple[float, float, float, float, float, bool]] = []
    if _whole(a1):
        options.append((a1, a1, b1, a2, b2, False))
    if _whole(a2):
        options.append((a2, a2, b2, a1, b1, True))
    if _whole(b2):
        options.append((b2, b2, a2, b1, a1, False))
    if _whole(b1):
        options.append((b1, b1, a1, b2, a2, True))
    if not options:
        return None
    _, p, q, r, s, complement = min(options, key=lambda o: o[0])
    value = _p_greater_sum(p, q, r, s)
    return min(1.0, max(0.0, 1.0 - value if complement else value))


def _p_greater_quad(x: BetaPosterior, y: BetaPosterior) -> float:
    """P(X > Y) = ∫ f_X(t) F_Y(t) dt by adaptive quadrature over X's quantile range."""
    lo = x.quantile(_TAIL)
    hi = 1.0 - float(special.betaincinv(x.beta, x.alpha, _TAIL))
    log_norm = float(special.betaln(x.alpha, x.beta))

    def integrand(t: float) -> float:
        if t <= 0.0 or t >= 1.0:
            return 0.0
        log_pdf = (x.alpha - 1) * math.log(t) + (x.beta - 1) * math.log1p(-t) - log_norm
        return math.exp(log_pdf) * float(special.betainc(y.alpha, y.beta, t))

    marks = [y.quantile(q) for q in (1e-6, 1e-3, 0.5, 1 - 1e-3, 1 - 1e-6)] + [x.quantile(0.5)]
    points = sorted({m for m in marks if lo < m < hi})
    value, _ = integrate.quad(
        integrand, lo, hi, points=points or None, limit=500, epsabs=1e-13, epsrel=1e-11
    )
    return min(1.0, max(0.0, float(value)))


def _p_greater(
    x: BetaPosterior, y: BetaPosterior, method: Method
) -> tuple[float, Literal["closed_form", "quadrature"]]:
    if method != "quadrature":
        shortest = min(
            (v for v in (x.alpha, x.beta, y.alpha, y.beta) if _whole(v)), default=math.inf
        )
        if method == "closed_form" or shortest <= CLOSED_FORM_MAX_TERMS:
            value = _p_greater_closed(x, y)
            if value is not None:
                return value, "closed_form"
            if method == "closed_form":
                raise ValueError("closed form needs a whole-number posterior parameter")
    return _p_greater_quad(x, y), "quadrature"


def prob_greater(x: BetaPosterior, y: BetaPosterior, method: Method = "auto") -> float:
    """P(X > Y) for independent Beta variables."""
    return _p_greater(x, y, method)[0]


def expected_shortfall(x: BetaPosterior, y: BetaPosterior, method: Method = "auto") -> float:
    """E[max(X - Y, 0)] = E[X] P(X+ > Y) - E[Y] P(X > Y+), with Z+ ~ Beta(alpha + 1, beta)."""
    x_plus = BetaPosterior(x.alpha + 1.0, x.beta)
    y_plus = BetaPosterior(y.alpha + 1.0, y.beta)
    value = x.mean * _p_greater(x_plus, y, method)[0] - y.mean * _p_greater(x, y_plus, method)[0]
    return max(0.0, value)


def _lift_interval(
    control: BetaPosterior, treatment: BetaPosterior, credible: float, draws: int, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    pc = rng.beta(control.alpha, control.beta, draws)
    pt = rng.beta(treatment.alpha, treatment.beta, draws)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(pc > 0, pt / np.where(pc > 0, pc, 1.0) - 1.0, np.inf)
    tail = (1.0 - credible) / 2.0
    low, high = np.quantile(lift, [tail, 1.0 - tail], method="inverted_cdf")
    return float(low), float(high)


def bayes_proportions(
    control: Proportion,
    treatment: Proportion,
    prior: tuple[float, float] = (1, 1),
    credible: float = 0.95,
    *,
    method: Method = "auto",
    lift_draws: int = 200_000,
    seed: int = 0,
) -> BayesResult:
    """Compare treatment with control under independent Beta(prior) priors.

    `method` picks how the probabilities are computed: "auto" (closed form when a posterior
    parameter is a whole number <= CLOSED_FORM_MAX_TERMS, else quadrature), "closed_form"
    (ValueError when no parameter is whole) or "quadrature".
    """
    if not 0.0 < credible < 1.0:
        raise ValueError(f"credible must be in (0, 1), got {credible}")
    if lift_draws < 1:
        raise ValueError(f"lift_draws must be positive, got {lift_draws}")
    c, t = posterior(control, prior), posterior(treatment, prior)
    chance, used = _p_greater(t, c, method)
    return BayesResult(
        chance_to_win=chance,
        expected_loss_control=expected_shortfall(t, c, method),
        expected_loss_treatment=expected_shortfall(c, t, method),
        treatment_rate_interval=t.interval(credible),
        control_rate_interval=c.interval(credible),
        lift_interval=_lift_interval(c, t, credible, lift_draws, seed),
        credible=credible,
        control_posterior=c,
        treatment_posterior=t,
        method=used,
        lift_draws=lift_draws,
        seed=seed,
    )
