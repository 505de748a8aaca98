"""Lead scoring: the chance that a deal is won, from what was known about it when it was created.

Two models see the same features (``scoring_features.py``): a logistic regression (scikit-learn)
and, as the baseline, the naive Bayes on field value frequencies that Odoo's predictive lead
scoring uses. Both are trained on the earlier closed deals and checked on the later ones (a
split in time, by close time), then trained again on every closed deal to score the open ones.
docs/pipeline.md ("Lead scoring") gives every rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from funnelscope.analyses.pipeline.journeys import Journey, journeys_as_of
from funnelscope.analyses.pipeline.scoring_features import (
    DealFeatures,
    Encoding,
    deal_features,
    fit_encoding,
    left_out_columns,
)
from funnelscope.errors import FunnelscopeError, SpecError
from funnelscope.model.deals import CrmData, Deal, DealStatus
from funnelscope.model.pipeline_settings import PipelineSettings

MIN_CLOSED = 30  # closed deals needed before a model is trained and checked
SMOOTHING = 0.1  # added to every won and lost count of the baseline, as Odoo does
CLAMP = (0.0001, 0.9999)  # the baseline's probabilities are kept inside (Odoo: 0.01%-99.99%)
CALIBRATION_BINS = 5
REGULARISATION = 1.0  # the logistic regression's C (inverse L2 strength)
MODEL = "logistic regression (L2, C=1.0) on one-hot categories and standardised log numbers"
BASELINE = "naive Bayes on field value frequencies (Odoo predictive lead scoring, smoothing 0.1)"


# ------------------------------------------------------------------ the baseline


@dataclass(frozen=True)
class NaiveBayes:
    """Counts of closed deals: all won and lost, and per feature value the won and lost counts,
    each plus the smoothing."""

    won: int
    lost: int
    counts: tuple[tuple[str, tuple[tuple[str, float, float], ...]], ...]


def naive_bayes_fit(
    rows: Sequence[Mapping[str, str]], won: Sequence[bool], smoothing: float = SMOOTHING
) -> NaiveBayes:
    """Count each feature value in won and in lost deals, adding ``smoothing`` to both."""
    table: dict[str, dict[str, list[float]]] = {}
    for row, is_won in zip(rows, won, strict=True):
        for name, value in row.items():
            pair = table.setdefault(name, {}).setdefault(value, [smoothing, smoothing])
            pair[0 if is_won else 1] += 1
    counts = tuple(
        (name, tuple((v, w, lo) for v, (w, lo) in sorted(values.items())))
        for name, values in sorted(table.items())
    )
    return NaiveBayes(sum(won), len(won) - sum(won), counts)


def naive_bayes_probability(model: NaiveBayes, row: Mapping[str, str]) -> float:
    """P(won) x the product over the deal's values of P(value | won), against the same for
    lost; P(value | won) is the value's smoothed won count over the sum of the smoothed won
    counts of all values of its feature. A value never seen in training adds nothing."""
    return naive_bayes_probabilities(model, [row])[0]


def naive_bayes_probabilities(model: NaiveBayes, rows: Sequence[Mapping[str, str]]) -> list[float]:
    total = model.won + model.lost
    if not model.won or not model.lost:
        return [model.won / total if total else 0.5] * len(rows)
    # per feature value: log P(value | won) and log P(value | lost)
    factors: dict[str, dict[str, tuple[float, float]]] = {}
    for name, values in model.counts:
        won_total = sum(v[1] for v in values)
        lost_total = sum(v[2] for v in values)
        factors[name] = {
            value: (math.log(won / won_total), math.log(lost / lost_total))
            for value, won, lost in values
        }
    prior = math.log(model.won / total) - math.log(model.lost / total)
    out = []
    for row in rows:
        log_ratio = prior  # log(s_won / s_lost)
        for name, value in row.items():
            found = factors.get(name, {}).get(value)
            if found is not None:
                log_ratio += found[0] - found[1]
        probability = 1.0 / (1.0 + math.exp(-log_ratio)) if log_ratio > -700 else 0.0
        out.append(min(max(probability, CLAMP[0]), CLAMP[1]))
    return out


# ------------------------------------------------------------------ the split in time


@dataclass(frozen=True)
class ClosedDeal:
    deal: Deal
    won: bool
    closed_at: datetime  # the close time, or the creation time when the export has none
    close_time_known: bool


def closed_deals(journeys: Sequence[Journey]) -> list[ClosedDeal]:
    """Won and lost deals in close-time order (ties: deal id). The close time is the export's,
    else the last move into a closing stage, else (no history either) the creation time."""
    closed = [
        ClosedDeal(
            j.deal,
            j.status is DealStatus.WON,
            j.closed_at or j.deal.closed_at or j.deal.created_at,
            j.deal.closed_at is not None or (j.has_history and j.closed_at is not None),
        )
        for j in journeys
        if j.status is not DealStatus.OPEN
    ]
    return sorted(closed, key=lambda c: (c.closed_at, c.deal.deal_id))


def time_split(
    closed: Sequence[ClosedDeal], test_share: float
) -> tuple[list[ClosedDeal], list[ClosedDeal]]:
    """The earliest ``floor(n x (1 - test_share))`` closed deals train, the latest test."""
    train_size = math.floor(len(closed) * (1 - test_share) + 1e-9)
    return list(closed[:train_size]), list(closed[train_size:])


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    deals: int
    mean_predicted: float | None
    observed_win_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "deals": self.deals,
            "mean_predicted": _round(self.mean_predicted),
            "observed_win_rate": _round(self.observed_win_rate),
        }


@dataclass(frozen=True)
class ModelCheck:
    """How well one model's probabilities did on the test split."""

    name: str
    auc: float
    brier: float
    calibration: tuple[CalibrationBin, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "auc": _round(self.auc),
            "brier": _round(self.brier),
            "calibration": [b.to_dict() for b in self.calibration],
        }


@dataclass(frozen=True)
class SplitCounts:
    deals: int
    won: int
    lost: int
    first_closed: datetime
    last_closed: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "deals": self.deals,
            "won": self.won,
            "lost": self.lost,
            "first_closed": self.first_closed.isoformat(),
            "last_closed": self.last_closed.isoformat(),
        }


@dataclass(frozen=True)
class Evaluation:
    test_share: float
    train: SplitCounts
    test: SplitCounts
    model: ModelCheck
    baseline: ModelCheck

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_share": self.test_share,
            "train": self.train.to_dict(),
            "test": self.test.to_dict(),
            "model": self.model.to_dict(),
            "baseline": self.baseline.to_dict(),
        }


@dataclass(frozen=True)
class Contribution:
    """One model input's share of a deal's log-odds: coefficient x input value."""

    feature: str
    log_odds: float


@dataclass(frozen=True)
class DealScore:
    rank: int
    deal: Deal
    probability: float
    baseline_probability: float
    contributions: tuple[Contribution, ...]

    def to_dict(self) -> dict[str, Any]:
        d = self.deal
        return {
            "rank": self.rank,
            "deal_id": d.deal_id,
            "name": d.name,
            "pipeline": d.pipeline,
            "stage": d.stage,
            "owner": d.owner,
            "amount": d.amount,
            "currency": d.currency,
            "created_at": d.created_at.isoformat(),
            "probability": _round(self.probability),
            "baseline_probability": _round(self.baseline_probability),
            "contributions": [
                {"feature": c.feature, "log_odds": _round(c.log_odds)} for c in self.contributions
            ],
        }


@dataclass(frozen=True)
class LeadScores:
    as_of: datetime
    model: str
    baseline: str
    features: tuple[str, ...]  # the final model's inputs
    closed_deals: int
    evaluation: Evaluation
    scores: tuple[DealScore, ...]  # open deals, most likely first
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "model": self.model,
            "baseline": self.baseline,
            "features": list(self.features),
            "closed_deals": self.closed_deals,
            "evaluation": self.evaluation.to_dict(),
            "scores": [s.to_dict() for s in self.scores],
            "notes": list(self.notes),
        }

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for score in self.scores:
            row = score.to_dict()
            contributions = row.pop("contributions")
            row["top_features"] = "; ".join(
                f"{c['feature']} {c['log_odds']:+.3f}" for c in contributions
            )
            rows.append(row)
        return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# ------------------------------------------------------------------ the measures


def calibration(
    predicted: Sequence[float], won: Sequence[bool], bins: int = CALIBRATION_BINS
) -> tuple[CalibrationBin, ...]:
    """Equal-width bins of predicted probability (the last bin includes 1.0)."""
    out = []
    for i in range(bins):
        low, high = i / bins, (i + 1) / bins
        inside = [
            (p, w) for p, w in zip(predicted, won, strict=True) if low <= p < high or (
                i == bins - 1 and p == high)
        ]  # fmt: skip
        mean = sum(p for p, _ in inside) / len(inside) if inside else None
        rate = sum(1 for _, w in inside if w) / len(inside) if inside else None
        out.append(CalibrationBin(round(low, 4), round(high, 4), len(inside), mean, rate))
    return tuple(out)


def brier(predicted: Sequence[float], won: Sequence[bool]) -> float:
    return sum((p - (1.0 if w else 0.0)) ** 2 for p, w in zip(predicted, won, strict=True)) / len(
        predicted
    )


def auc(predicted: Sequence[float], won: Sequence[bool]) -> float:
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

    return float(roc_auc_score(np.array(won, dtype=np.int8), np.array(predicted)))


def check(name: str, predicted: Sequence[float], won: Sequence[bool]) -> ModelCheck:
    return ModelCheck(name, auc(predicted, won), brier(predicted, won), calibration(predicted, won))


# ------------------------------------------------------------------ the two models


@dataclass(frozen=True)
class Trained:
    encoding: Encoding
    coefficients: np.ndarray
    intercept: float
    baseline: NaiveBayes

    def log_odds(self, deals: Sequence[DealFeatures]) -> np.ndarray:
        return np.asarray(self.encoding.matrix(deals) @ self.coefficients + self.intercept)

    def probabilities(self, deals: Sequence[DealFeatures]) -> list[float]:
        return [float(p) for p in 1.0 / (1.0 + np.exp(-self.log_odds(deals)))]

    def baseline_probabilities(self, deals: Sequence[DealFeatures]) -> list[float]:
        return naive_bayes_probabilities(
            self.baseline, [self.encoding.categories(d) for d in deals]
        )

    def contributions(self, deal: DealFeatures, top: int) -> tuple[Contribution, ...]:
        row = self.encoding.matrix([deal])[0] * self.coefficients
        parts = [
            Contribution(name, float(value))
            for name, value in zip(self.encoding.columns, row, strict=True)
            if value != 0.0
        ]
        parts.sort(key=lambda c: (-abs(c.log_odds), c.feature))
        return tuple(parts[:top])


def train(deals: Sequence[DealFeatures], won: Sequence[bool], min_count: int) -> Trained:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    encoding = fit_encoding(deals, min_count)
    if not encoding.columns:
        raise FunnelscopeError(
            f"the {len(deals)} training deals share every feature value (after pooling values "
            f"seen in fewer than {min_count} deals); nothing to learn from: lower --min-count "
            "or load deals with their source, owner, campaign or other columns"
        )
    model = LogisticRegression(C=REGULARISATION, max_iter=1000, random_state=0)
    model.fit(encoding.matrix(deals), np.array(won, dtype=np.int8))
    rows = [encoding.categories(d) for d in deals]
    return Trained(
        encoding,
        np.asarray(model.coef_[0], dtype=np.float64),
        float(model.intercept_[0]),
        naive_bayes_fit(rows, won),
    )


# ------------------------------------------------------------------ the use case


def score_leads(
    data: CrmData,
    *,
    as_of: datetime,
    settings: PipelineSettings | None = None,
    events: Mapping[str, Mapping[str, int]] | None = None,
    test_share: float = 0.25,
    min_count: int = 5,
    ignore: frozenset[str] = frozenset(),
    min_closed: int = MIN_CLOSED,
    top: int = 3,
) -> LeadScores:
    """Check both models on the latest closed deals, then score every open deal as of
    ``as_of``. ``events``: per deal id, its person's event counts before the deal's creation."""
    if not 0 < test_share < 1:
        raise SpecError("--test-share", f"{test_share} is not between 0 and 1", "write e.g. 0.25")
    if min_count < 1:
        raise SpecError("--min-count", f"{min_count} is below 1", "write e.g. 5")
    settings = settings or PipelineSettings()
    journeys = journeys_as_of(data, as_of)
    closed = closed_deals(journeys)
    _enough(closed, len(journeys) - len(closed), min_closed, as_of)
    train_part, test_part = time_split(closed, test_share)
    for label, part in (("training", train_part), ("test", test_part)):
        _both_outcomes(label, part, test_share)

    def features(deal: Deal) -> DealFeatures:
        counts = (events or {}).get(deal.deal_id)
        return deal_features(deal, rate=settings.rate(deal.currency), events=counts, ignore=ignore)

    first = train([features(c.deal) for c in train_part], [c.won for c in train_part], min_count)
    test_features = [features(c.deal) for c in test_part]
    test_won = [c.won for c in test_part]
    evaluation = Evaluation(
        test_share,
        _counts(train_part),
        _counts(test_part),
        check("model", first.probabilities(test_features), test_won),
        check("baseline", first.baseline_probabilities(test_features), test_won),
    )
    final = train([features(c.deal) for c in closed], [c.won for c in closed], min_count)
    open_deals = [j.deal for j in journeys if j.status is DealStatus.OPEN]
    open_features = [features(d) for d in open_deals]
    probabilities = final.probabilities(open_features)
    baseline = final.baseline_probabilities(open_features)
    order = sorted(range(len(open_deals)), key=lambda i: (-probabilities[i], open_deals[i].deal_id))
    scores = tuple(
        DealScore(
            rank + 1,
            open_deals[i],
            probabilities[i],
            baseline[i],
            final.contributions(open_features[i], top),
        )
        for rank, i in enumerate(order)
    )
    return LeadScores(
        as_of=as_of,
        model=MODEL,
        baseline=BASELINE,
        features=final.encoding.columns,
        closed_deals=len(closed),
        evaluation=evaluation,
        scores=scores,
        notes=_notes(closed, data.deals, final.encoding, events, evaluation),
    )


def _counts(part: Sequence[ClosedDeal]) -> SplitCounts:
    won = sum(1 for c in part if c.won)
    return SplitCounts(len(part), won, len(part) - won, part[0].closed_at, part[-1].closed_at)


def _enough(closed: Sequence[ClosedDeal], open_count: int, needed: int, as_of: datetime) -> None:
    won = sum(1 for c in closed if c.won)
    if len(closed) < needed:
        raise FunnelscopeError(
            f"lead scoring needs at least {needed} closed deals (won or lost) to train and test "
            f"a model; as of {as_of:%Y-%m-%d} there are {len(closed)} ({won} won, "
            f"{len(closed) - won} lost) and {open_count} open: load a CRM export with more "
            "closed deals (a longer history)"
        )
    if won == 0 or won == len(closed):
        outcome = "won" if won else "lost"
        raise FunnelscopeError(
            f"all {len(closed)} closed deals were {outcome}; a score needs both won and lost "
            "deals: load an export that keeps lost deals (often a separate filter or file)"
        )


def _both_outcomes(label: str, part: Sequence[ClosedDeal], test_share: float) -> None:
    won = sum(1 for c in part if c.won)
    if part and 0 < won < len(part):
        return
    span = f" closed {part[0].closed_at:%Y-%m-%d} to {part[-1].closed_at:%Y-%m-%d}" if part else ""
    raise FunnelscopeError(
        f"the {label} split ({len(part)} deals{span}) has {won} won and {len(part) - won} lost; "
        f"the model and its AUC need both outcomes in each split: change --test-share (now "
        f"{test_share:g}) so that both splits hold won and lost deals, or load more history"
    )


def _notes(
    closed: Sequence[ClosedDeal],
    deals: Sequence[Deal],
    encoding: Encoding,
    events: Mapping[str, Mapping[str, int]] | None,
    evaluation: Evaluation,
) -> tuple[str, ...]:
    notes = []
    unknown = sum(1 for c in closed if not c.close_time_known)
    if unknown:
        notes.append(
            f"{unknown} closed deals have no close time; they are placed in time by their "
            "creation time"
        )
    left_out = left_out_columns(deals)
    if left_out:
        notes.append(
            "export columns left out because they may say how the deal ended: "
            + ", ".join(left_out)
        )
    with_events = sum(1 for c in closed if (events or {}).get(c.deal.deal_id))
    if encoding.event_names:
        notes.append(
            f"event counts before creation used for {', '.join(encoding.event_names)} "
            f"({with_events} of {len(closed)} closed deals have events)"
        )
    elif with_events:
        notes.append(
            f"no event counts used: only {with_events} of {len(closed)} closed deals have events "
            f"of their person before creation, and no event name was done by {encoding.min_count} "
            "or more of them"
        )
    else:
        notes.append(
            "no event counts used: the store holds no events of the deals' persons before the "
            "deals' creation (a deal's person_id must equal the events' person_id)"
        )
    if evaluation.model.auc < evaluation.baseline.auc:
        notes.append("the model's AUC on the test split is below the baseline's")
    return tuple(notes)
