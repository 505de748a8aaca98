"""Which group (rep, source, team ...) converts worse at which stage than the rest of the deals,
and whose lost deals are lost for one reason more often than the rest's lost deals (the reason
mix, so a group that simply loses more is not flagged for every reason), tested with the stats
module and adjusted for the number of tests (Holm). Only groups with at least ``min_deals``
deals at the stage (lost deals, for reasons) are tested."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from funnelscope.analyses.pipeline.stage_funnel import GroupFunnel
from funnelscope.stats.ab import compare_proportions, holm
from funnelscope.stats.proportions import Proportion

MIN_DEALS = 10


@dataclass(frozen=True)
class GroupGap:
    """One group's conversion at one stage against all other deals; or the share of its lost
    deals lost for one reason against that share among the other lost deals."""

    kind: str  # "conversion" at a stage, or "lost reason"
    group: str
    stage: str  # the stage; for lost reasons, the reason
    group_rate: float
    rest_rate: float
    group_n: int
    rest_n: int
    p_value: float
    adjusted_p: float
    significant: bool

    @property
    def worse(self) -> bool:
        """Converts less, or loses more deals for the reason."""
        if self.kind == "conversion":
            return self.group_rate < self.rest_rate
        return self.group_rate > self.rest_rate

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "group": self.group,
            "stage" if self.kind == "conversion" else "reason": self.stage,
            "group_rate": self.group_rate,
            "rest_rate": self.rest_rate,
            "group_deals": self.group_n,
            "rest_deals": self.rest_n,
            "p_value": self.p_value,
            "adjusted_p": self.adjusted_p,
            "significant": self.significant,
            "worse": self.worse,
        }


def group_gaps(
    overall: GroupFunnel,
    groups: Sequence[GroupFunnel],
    *,
    alpha: float = 0.05,
    min_deals: int = MIN_DEALS,
) -> list[GroupGap]:
    """Every tested (group, stage) conversion and (group, lost reason) share, Holm-adjusted
    together; significant worse ones first, then by adjusted p."""
    raw: list[tuple[str, str, str, Proportion, Proportion]] = []
    for funnel in groups:
        for mine, everyone in zip(funnel.stages, overall.stages, strict=True):
            rest = Proportion(everyone.reached - mine.reached, everyone.advanced - mine.advanced)
            if mine.reached >= min_deals and rest.n >= min_deals:
                group = funnel.group or ""
                raw.append(
                    ("conversion", group, mine.stage, Proportion(mine.reached, mine.advanced), rest)
                )
        reasons = _reason_counts(funnel)
        overall_reasons = _reason_counts(overall)
        for reason, count in overall_reasons.items():
            mine_count = reasons.get(reason, 0)
            rest = Proportion(overall.lost - funnel.lost, count - mine_count)
            if funnel.lost >= min_deals and rest.n >= min_deals:
                share = Proportion(funnel.lost, mine_count)
                raw.append(("lost reason", funnel.group or "", reason, share, rest))
    if not raw:
        return []
    tests = [compare_proportions(rest, mine, alpha) for _, _, _, mine, rest in raw]
    adjusted = holm([t.p_value for t in tests])
    gaps = [
        GroupGap(
            kind,
            group,
            stage,
            test.treatment_rate,
            test.control_rate,
            int(mine.n),
            int(rest.n),
            test.p_value,
            p,
            p < alpha,
        )
        for (kind, group, stage, mine, rest), test, p in zip(raw, tests, adjusted, strict=True)
    ]
    return sorted(
        gaps, key=lambda g: (not (g.significant and g.worse), g.adjusted_p, g.group, g.stage)
    )


def _reason_counts(funnel: GroupFunnel) -> dict[str, int]:
    counts: dict[str, int] = dict(funnel.lost_stage_unknown)
    for row in funnel.stages:
        for reason, count in row.lost_reasons:
            counts[reason] = counts.get(reason, 0) + count
    return counts
