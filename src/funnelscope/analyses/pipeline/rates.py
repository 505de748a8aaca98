"""Win rates by stage, learned from closed deals: of the deals that reached a stage and are now
won or lost, the share won. Forecasts, targets and velocity read them from here.

A rate learned from fewer than ``min_closed`` closed deals is not trusted alone: the CRM's own
stated probability for the stage is used when the export gave one (basis ``crm``), else the
learned rate stays but says ``small sample``; a stage no closed deal reached gets the pipeline's
overall win rate (basis ``pipeline``), and a pipeline with no closed deal at all the position
prior (stage i of n: (i + 1) / (n + 1), basis ``prior``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from funnelscope.analyses.pipeline.journeys import Journey
from funnelscope.model.deals import DealStatus, Pipeline, StageKind
from funnelscope.stats.proportions import Proportion, wilson_interval

MIN_CLOSED = 20


@dataclass(frozen=True)
class StageRate:
    stage: str
    won: int
    closed: int
    rate: float  # the probability used
    basis: str  # learned, small sample, crm, pipeline, prior
    interval: tuple[float, float] | None  # Wilson 95% of the learned rate
    stated: float | None  # the CRM's own probability for the stage, when given

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "won": self.won,
            "closed": self.closed,
            "rate": self.rate,
            "basis": self.basis,
            "interval": None if self.interval is None else list(self.interval),
            "crm_probability": self.stated,
        }


def stage_win_rates(
    journeys: Sequence[Journey],
    pipeline: Pipeline,
    *,
    closed_before: datetime | None = None,
    min_closed: int = MIN_CLOSED,
) -> dict[str, StageRate]:
    """Each open stage's win rate from the pipeline's deals closed before ``closed_before``
    (all closed deals when None). A deal counts for every stage it reached (entered or
    skipped past); a closed deal without stage history whose stage is a won or lost stage
    counts only in the pipeline's overall rate."""
    closed = [
        j
        for j in journeys
        if j.deal.pipeline == pipeline.name
        and j.status is not DealStatus.OPEN
        and (closed_before is None or (j.closed_at is not None and j.closed_at < closed_before))
    ]
    overall_won = sum(1 for j in closed if j.status is DealStatus.WON)
    stated = dict(pipeline.probabilities)
    rates = {}
    count = len(pipeline.stages)
    # a closed deal without history in a won or lost stage says nothing about the stages it
    # passed: a won one would count at every stage and a lost one at none (every rate 1.0)
    known = [j for j in closed if j.has_history or pipeline.kind(j.deal.stage) is StageKind.OPEN]
    for position, stage in enumerate(pipeline.stages):
        reached = [j for j in known if j.reached(position)]
        won = sum(1 for j in reached if j.status is DealStatus.WON)
        n = len(reached)
        interval = wilson_interval(Proportion(n, won)) if n else None
        if n >= min_closed:
            rate, basis = won / n, "learned"
        elif stage in stated:
            rate, basis = stated[stage], "crm"
        elif n > 0:
            rate, basis = won / n, "small sample"
        elif closed:
            rate, basis = overall_won / len(closed), "pipeline"
        else:
            rate, basis = (position + 1) / (count + 1), "prior"
        rates[stage] = StageRate(stage, won, n, rate, basis, interval, stated.get(stage))
    return rates
