"""What lead scoring knows about a deal when it is created, and how that becomes model input.

A deal's features are the fields it had at creation (source, campaign, owner, team, pipeline,
currency, the export's other columns, the amount) and, when the event store holds events of its
person, how often that person did each event before the deal was created. Nothing that is only
known later (stage history, close time, lost reason, activities) is a feature.

An :class:`Encoding` is learned from training deals only: which category values are frequent
enough to keep (the others are pooled into ``(other)``), which event names to count, and the
mean and spread of the numbers. It then turns any deal into categories (for the naive Bayes
baseline) and into a numeric row (for the logistic regression), so that both models see the
same fields.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from funnelscope.model.deals import Deal

CATEGORY_FIELDS = ("source", "campaign", "owner", "team", "pipeline", "currency")
NONE = "(none)"  # the deal has no value for the field
OTHER = "(other)"  # a value seen in fewer than ``min_count`` training deals, or never
AMOUNT = "amount"
MAX_EVENT_NAMES = 20  # event names counted at most (those done by the most training deals)
# An export column whose name holds one of these words usually says how the deal ended or was
# updated later: it is left out so that the test split measures an honest score.
LEAKY_WORDS = (
    "close",
    "won",
    "lost",
    "stage",
    "status",
    "probab",
    "reason",
    "outcome",
    "modif",
    "updat",
    "last",
    "forecast",
)


@dataclass(frozen=True)
class DealFeatures:
    """A deal's raw features: category values by feature name (``field.<column>`` for the
    export's other columns), the amount in the report currency, and event counts by name."""

    deal_id: str
    categories: tuple[tuple[str, str | None], ...]
    amount: float | None
    events: tuple[tuple[str, int], ...] = ()


def leaky(column: str) -> bool:
    name = column.lower()
    return any(word in name for word in LEAKY_WORDS)


def deal_features(
    deal: Deal,
    *,
    rate: float | None = 1.0,
    events: Mapping[str, int] | None = None,
    ignore: frozenset[str] = frozenset(),
) -> DealFeatures:
    """``rate``: what one unit of the deal's currency is worth in the report currency (None:
    no rate, the amount is taken as written). ``ignore``: feature names left out."""
    values: list[tuple[str, str | None]] = [
        (name, getattr(deal, name)) for name in CATEGORY_FIELDS if name not in ignore
    ]
    for column, value in deal.fields:
        name = f"field.{column}"
        if name not in ignore and column not in ignore and not leaky(column):
            values.append((name, value))
    amount = deal.amount
    if amount is not None and rate is not None:
        amount = amount * rate
    if AMOUNT in ignore:
        amount = None
    counts = tuple(sorted((k, v) for k, v in (events or {}).items() if v > 0))
    return DealFeatures(deal.deal_id, tuple(values), amount, counts)


def left_out_columns(deals: Sequence[Deal]) -> tuple[str, ...]:
    """The export columns :func:`deal_features` leaves out because their name looks leaky."""
    return tuple(sorted({c for d in deals for c, _ in d.fields if leaky(c)}))


def amount_band(amount: float | None) -> str:
    """The amount's order of magnitude as a category: ``<10``, ``10-100``, ``100-1k`` ..."""
    if amount is None:
        return NONE
    if amount < 10:
        return "<10"
    power = min(math.floor(math.log10(amount)), 9)
    return f"{_short(10**power)}-{_short(10 ** (power + 1))}"


def _short(value: int) -> str:
    for size, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if value >= size:
            return f"{value // size}{suffix}"
    return str(value)


def count_band(count: int) -> str:
    """An event count as a category: 0, 1, 2-3, 4-7, 8+."""
    if count <= 1:
        return str(max(count, 0))
    if count <= 3:
        return "2-3"
    if count <= 7:
        return "4-7"
    return "8+"


def _log(value: float | None) -> float:
    return math.log1p(max(value or 0.0, 0.0))


@dataclass(frozen=True)
class Encoding:
    """What was learned from the training deals: the kept values of each category feature, the
    event names counted, and the mean and standard deviation of each number."""

    kept: tuple[tuple[str, tuple[str, ...]], ...]  # feature -> values in the one-hot columns
    event_names: tuple[str, ...]
    numbers: tuple[tuple[str, float, float], ...]  # name, mean, standard deviation
    min_count: int

    def categories(self, deal: DealFeatures) -> dict[str, str]:
        """The deal's categories as both models see them: rare and unseen values pooled, the
        amount and the event counts as bands (the baseline's input)."""
        kept = dict(self.kept)
        out: dict[str, str] = {}
        raw = dict(deal.categories)
        for name, values in self.kept:
            if name == AMOUNT or name.startswith("events."):
                continue
            out[name] = _pooled(raw.get(name), values)
        if AMOUNT in kept:
            out[AMOUNT] = amount_band(deal.amount)
        counts = dict(deal.events)
        for name in self.event_names:
            out[f"events.{name}"] = count_band(counts.get(name, 0))
        return out

    @property
    def columns(self) -> tuple[str, ...]:
        """The names of :meth:`matrix`'s columns: ``feature=value`` one-hot columns, then
        ``amount (log)``, ``amount missing`` and ``events.<name> (log)``."""
        names = [
            f"{name}={value}"
            for name, values in self.kept
            if name != AMOUNT and not name.startswith("events.")
            for value in values
        ]
        return (*names, *(name for name, _, _ in self.numbers))

    def matrix(self, deals: Sequence[DealFeatures]) -> np.ndarray:
        """One row per deal: one-hot categories (0/1) and standardised numbers (the training
        mean is 0, one training standard deviation is 1)."""
        columns = self.columns
        index = {name: i for i, name in enumerate(columns)}
        out = np.zeros((len(deals), len(columns)), dtype=np.float64)
        for row, deal in enumerate(deals):
            for name, value in self.categories(deal).items():
                position = index.get(f"{name}={value}")
                if position is not None:
                    out[row, position] = 1.0
            raw = _numbers(deal, self.event_names)
            for name, mean, spread in self.numbers:
                out[row, index[name]] = (raw[name] - mean) / spread
        return out


def _pooled(value: str | None, kept: tuple[str, ...]) -> str:
    if value is None:
        return NONE if NONE in kept else OTHER
    return value if value in kept else OTHER


def _numbers(deal: DealFeatures, event_names: Sequence[str]) -> dict[str, float]:
    counts = dict(deal.events)
    out = {
        "amount (log)": _log(deal.amount),
        "amount missing": 1.0 if deal.amount is None else 0.0,
    }
    for name in event_names:
        out[f"events.{name} (log)"] = _log(counts.get(name, 0))
    return out


def fit_encoding(train: Sequence[DealFeatures], min_count: int = 5) -> Encoding:
    """Learn the encoding from training deals. A category value is kept when at least
    ``min_count`` training deals have it (a missing value counts as ``(none)``); the rest pool
    into ``(other)``. A feature with one value left after pooling says nothing and is dropped.
    Event names: those done before creation by at least ``min_count`` training deals, at most
    :data:`MAX_EVENT_NAMES` of them (most deals first, then by name), less any whose count is
    the same for every training deal. A number constant in training is no input either."""
    names: list[str] = []
    for deal in train:
        names.extend(n for n, _ in deal.categories if n not in names)
    kept: list[tuple[str, tuple[str, ...]]] = []
    for name in names:
        seen = Counter(dict(d.categories).get(name) or NONE for d in train)
        values = sorted(v for v, n in seen.items() if n >= min_count)
        if any(n < min_count for n in seen.values()):
            values.append(OTHER)
        if len(values) > 1:
            kept.append((name, tuple(values)))
    has_amount = any(d.amount is not None for d in train)
    if has_amount:
        kept.append((AMOUNT, ()))
    doers = Counter(name for d in train for name, count in d.events if count > 0)
    ranked = sorted((n for n, c in doers.items() if c >= min_count), key=lambda n: (-doers[n], n))
    event_names = tuple(ranked[:MAX_EVENT_NAMES])
    numbers: list[tuple[str, float, float]] = []
    if has_amount or event_names:
        raw = [_numbers(d, event_names) for d in train]
        wanted = [*(("amount (log)", "amount missing") if has_amount else ())]
        wanted.extend(f"events.{n} (log)" for n in event_names)
        for name in wanted:
            column = np.array([r[name] for r in raw], dtype=np.float64)
            spread = float(column.std())
            if spread > 1e-9:  # a constant column's float std can be 3e-16, not 0
                numbers.append((name, float(column.mean()), spread))
    varied = {name for name, _, _ in numbers}
    event_names = tuple(n for n in event_names if f"events.{n} (log)" in varied)
    return Encoding(tuple(kept), event_names, tuple(numbers), min_count)
