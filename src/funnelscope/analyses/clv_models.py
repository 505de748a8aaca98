"""The BG/NBD and Gamma-Gamma models of pymc-marketing (the optional extra `funnelscope[clv]`),
fitted by maximum a posteriori with the library's default priors, and their predictions as
plain arrays.

pymc-marketing and pandas are imported only here and only when a model is fitted, by name
(`importlib`), so that `import funnelscope` stays light and the package type-checks with or
without the extra installed.
"""

from __future__ import annotations

import importlib
import logging
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from funnelscope.errors import FunnelscopeError

EXTRA_HINT = "install the optional extra: pip install 'funnelscope[clv]' (pymc-marketing)"
_QUIET_LOGGERS = ("pymc", "pytensor", "pymc_marketing", "pymc_extras")


class Histories(Protocol):
    """Per-customer arrays of an RFM summary (analyses.clv.RfmSummary has them)."""

    @property
    def frequency(self) -> np.ndarray: ...
    @property
    def recency(self) -> np.ndarray: ...
    @property
    def T(self) -> np.ndarray: ...
    @property
    def monetary_value(self) -> np.ndarray: ...
    @property
    def spend_count(self) -> np.ndarray: ...


@dataclass(frozen=True)
class ClvParameters:
    """Fitted population parameters. BG/NBD: purchase rate ~ Gamma(shape r, rate alpha) per day,
    dropout probability after each repeat purchase ~ Beta(a, b). Gamma-Gamma: each order's value
    ~ Gamma(p, nu), nu ~ Gamma(q, v); the population's mean order value is p * v / (q - 1)."""

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    v: float

    @property
    def mean_order_value(self) -> float | None:
        return self.p * self.v / (self.q - 1) if self.q > 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bgnbd": {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b},
            "gamma_gamma": {"p": self.p, "q": self.q, "v": self.v},
            "mean_order_value": self.mean_order_value,
            "method": "map",
            "library": f"pymc-marketing {_version()}",
        }


@dataclass(frozen=True)
class FittedModels:
    """The library's fitted models (kept only while predicting) and their parameters."""

    purchases: Any  # pymc_marketing.clv.BetaGeoModel
    spend: Any  # pymc_marketing.clv.GammaGammaModel
    parameters: ClvParameters


@dataclass(frozen=True)
class Predictions:
    expected_purchases: np.ndarray  # over the given days
    probability_alive: np.ndarray
    expected_order_value: np.ndarray


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pymc-marketing")
    except PackageNotFoundError:
        return "(not installed)"


def _modules() -> tuple[Any, Any]:
    try:
        clv = importlib.import_module("pymc_marketing.clv")
        pandas = importlib.import_module("pandas")
    except ImportError as exc:
        raise FunnelscopeError(
            f"clv needs pymc-marketing, which is not installed here ({exc.name} is missing); "
            f"{EXTRA_HINT}"
        ) from None
    return clv, pandas


@contextmanager
def _quiet() -> Iterator[None]:
    """The libraries' progress lines and warnings (deprecations, pytensor notes) stay out of the
    command's output."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _purchase_frame(pandas: Any, h: Histories) -> Any:
    return pandas.DataFrame(
        {
            "customer_id": np.arange(len(h.frequency)),
            "frequency": h.frequency.astype(np.float64),
            "recency": h.recency.astype(np.float64),
            "T": h.T.astype(np.float64),
        }
    )


def _spend_frame(pandas: Any, h: Histories, only_spenders: bool) -> Any:
    frame = pandas.DataFrame(
        {
            "customer_id": np.arange(len(h.frequency)),
            "frequency": h.spend_count.astype(np.float64),
            "monetary_value": h.monetary_value.astype(np.float64),
        }
    )
    return frame[frame["frequency"] > 0] if only_spenders else frame


def _point(posterior: Any, name: str) -> float:
    return float(np.asarray(posterior[name].values).reshape(-1)[0])


def _per_customer(values: Any, n: int) -> np.ndarray:
    out = np.asarray(values.values, dtype=np.float64).reshape(-1)
    if len(out) != n:  # a MAP fit has one chain and one draw: n values, in customer order
        raise FunnelscopeError(f"clv: the model returned {len(out)} values for {n} customers")
    return out


def fit_models(h: Histories) -> FittedModels:
    """Fit BG/NBD on every customer's (frequency, recency, T) and Gamma-Gamma on the customers
    with a valued repeat purchase (spend_count, monetary_value), by MAP."""
    clv, pandas = _modules()
    with _quiet():
        purchases = clv.BetaGeoModel()
        purchases.fit(data=_purchase_frame(pandas, h), method="map", progressbar=False)
        spend = clv.GammaGammaModel()
        spend.fit(data=_spend_frame(pandas, h, True), method="map", progressbar=False)
    post, spent = purchases.idata.posterior, spend.idata.posterior
    parameters = ClvParameters(
        r=_point(post, "r"),
        alpha=_point(post, "alpha"),
        a=_point(post, "a"),
        b=_point(post, "b"),
        p=_point(spent, "p"),
        q=_point(spent, "q"),
        v=_point(spent, "v"),
    )
    values = (getattr(parameters, f) for f in ("r", "alpha", "a", "b", "p", "q", "v"))
    if not all(math.isfinite(x) and x > 0 for x in values):
        raise FunnelscopeError(
            f"clv: the model fit did not converge (parameters {parameters.to_dict()}); the "
            "order history is too short or too uniform for BG/NBD + Gamma-Gamma"
        )
    if parameters.q <= 1:
        raise FunnelscopeError(
            f"clv: the spend model's q = {parameters.q:.3g} is not above 1, so the mean order "
            "value is unbounded; the order values are too spread for a Gamma-Gamma model"
        )
    return FittedModels(purchases, spend, parameters)


def predict(
    models: FittedModels, h: Histories, days: float, purchases_only: bool = False
) -> Predictions:
    """Expected purchases in the next `days` days, probability alive now and the expected value
    of an order (Gamma-Gamma's conditional mean; the population mean for a customer without a
    valued repeat purchase) of each customer."""
    _, pandas = _modules()
    n = len(h.frequency)
    frame = _purchase_frame(pandas, h)
    with _quiet():
        expected = _per_customer(models.purchases.expected_purchases(data=frame, future_t=days), n)
        if purchases_only:
            empty = np.zeros(0)
            return Predictions(expected, empty, empty)
        alive = _per_customer(models.purchases.expected_probability_alive(data=frame), n)
        spend = models.spend.expected_customer_spend(data=_spend_frame(pandas, h, False))
        order_value = _per_customer(spend, n)
    return Predictions(expected, alive, order_value)
