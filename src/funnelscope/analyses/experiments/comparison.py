"""A funnel experiment's result: per step and variant, the step's rate against control.

Each step's rate is from the step before (step 1: from exposure), so a change at one step shows
at that step only, not at every step after it. Every step x variant comparison is one test of
one family: p-values are Holm-adjusted over all of them. The whole funnel (exposure to the last
step) is compared too, as its own family. The split is checked for a sample-ratio mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from funnelscope.analyses.experiments.counts import ExperimentCounts
from funnelscope.stats import Proportion
from funnelscope.stats.ab import (
    ProportionComparison,
    SrmResult,
    compare_proportions,
    holm,
    srm_check,
)
from funnelscope.stats.bayes import bayes_proportions
from funnelscope.stats.proportions import wilson_interval
from funnelscope.stats.sequential import msprt


@dataclass(frozen=True)
class StepComparison:
    """One variant's rate into one step against the control's."""

    step: int
    label: str
    variant: str
    control: Proportion
    treatment: Proportion
    comparison: ProportionComparison
    p_adjusted: float
    chance_to_win: float
    alpha: float
    always_valid_p: float
    """Holm-adjusted mSPRT p-value: valid however often the result was looked at."""

    @property
    def significant(self) -> bool:
        return self.p_adjusted < self.alpha

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "step": self.step,
            "label": self.label,
            "variant": self.variant,
            "control": {
                "n": self.control.n,
                "conversions": self.control.conversions,
                "rate": c.control_rate,
            },
            "treatment": {
                "n": self.treatment.n,
                "conversions": self.treatment.conversions,
                "rate": c.treatment_rate,
            },
            "absolute_lift": c.absolute_lift,
            "absolute_ci": list(c.absolute_ci),
            "relative_lift": c.relative_lift,
            "relative_ci": list(c.relative_ci) if c.relative_ci else None,
            "p_value": c.p_value,
            "p_adjusted": self.p_adjusted,
            "significant": self.significant,
            "chance_to_win": self.chance_to_win,
            "always_valid_p": self.always_valid_p,
        }


@dataclass(frozen=True)
class ExperimentResult:
    counts: ExperimentCounts
    steps: tuple[StepComparison, ...]
    overall: tuple[StepComparison, ...]
    srm: SrmResult | None
    """None when only one variant was planned and seen."""
    skipped: tuple[tuple[int, str, str], ...] = ()
    """(step, label, variant) not compared: nobody in one arm reached the step before."""

    @property
    def moved(self) -> list[StepComparison]:
        return [s for s in self.steps if s.significant]

    @property
    def safe_to_decide(self) -> bool:
        """A step that moved (after the correction) also by the peeking-safe test, and the split
        as planned: a team that looked every day may act on it."""
        peeking_safe = any(s.always_valid_p < s.alpha for s in self.moved)
        return bool(self.moved) and peeking_safe and self.srm is not None and not self.srm.mismatch

    def verdict(self) -> list[str]:
        """The result in words: which step moved, and whether it is safe to decide."""
        lines = []
        if self.srm is None:
            lines.append("Only one variant was seen: there is nothing to compare.")
        elif self.srm.mismatch:
            lines.append(
                f"Sample ratio mismatch (chi-square p = {self.srm.p_value:.2g}): the variants did "
                "not get the planned shares of persons, so the assignment is broken; do not "
                "decide until it is fixed."
            )
        for s in self.moved:
            lines.append(f"{_words(s)} moved: {_lift(s)}.")
            if s.always_valid_p >= s.alpha:
                lines.append(
                    f"  If you looked at the results before the planned end, this is not yet "
                    f"conclusive: the peeking-safe p-value is {s.always_valid_p:.2g}."
                )
        for step, label, variant in self.skipped:
            lines.append(
                f"Step {step} ({label}) for {variant} is not compared: nobody in one of the two "
                "arms reached the step before it."
            )
        if not self.moved and self.srm is not None:
            lines.append(
                "No step moved significantly after the Holm correction; "
                + ("collect more data or accept no difference." if not self.srm.mismatch else "")
            )
        verdict = "Safe to decide: yes." if self.safe_to_decide else "Safe to decide: not yet."
        lines.append(verdict)
        return lines

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        dates = c.spec.funnel.date_range
        return {
            "experiment": c.spec.name,
            "control": c.spec.control,
            "variants": [
                {
                    "variant": v.variant,
                    "exposed": v.exposed,
                    "steps": [v.reached(k) for k in range(1, len(c.spec.funnel.steps) + 1)],
                    "conversion": _conversion(v.exposed, v.reached(len(c.spec.funnel.steps))),
                }
                for v in c.variants
            ],
            "crossovers": c.crossovers,
            "unnamed_exposures": c.unnamed,
            "srm": None
            if self.srm is None
            else {
                "chi_square": self.srm.chi_square,
                "p_value": self.srm.p_value,
                "mismatch": self.srm.mismatch,
            },
            "not_compared": [
                {"step": step, "label": label, "variant": variant}
                for step, label, variant in self.skipped
            ],
            "steps": [s.to_dict() for s in self.steps],
            "overall": [s.to_dict() for s in self.overall],
            "safe_to_decide": self.safe_to_decide,
            "verdict": self.verdict(),
            "date_range": None if dates is None else dates.bounds_dict(),
        }


def _conversion(exposed: int, converted: int) -> dict[str, Any]:
    """Exposure to the last step: the rate and its 95% Wilson interval (None: nobody exposed)."""
    interval = wilson_interval(Proportion(exposed, converted))
    return {
        "n": exposed,
        "conversions": converted,
        "rate": converted / exposed if exposed else None,
        "interval": None if interval is None else list(interval),
    }


def _words(s: StepComparison) -> str:
    return f"Step {s.step} ({s.label}) for {s.variant}"


def _lift(s: StepComparison) -> str:
    c = s.comparison
    if c.relative_lift is None or c.relative_ci is None:
        change = f"{c.absolute_lift * 100:+.2f} points"
    else:
        low, high = c.relative_ci
        change = f"{c.relative_lift:+.1%} relative (95% CI {low:+.1%} to {high:+.1%})"
    return (
        f"{c.control_rate:.1%} -> {c.treatment_rate:.1%}, {change}, p = {s.p_adjusted:.2g} "
        f"after Holm, chance to beat control {s.chance_to_win:.1%}"
    )


def analyze_experiment(counts: ExperimentCounts) -> ExperimentResult:
    """Compare every variant with the control at every step, and over the whole funnel."""
    spec = counts.spec
    control = counts.variant(spec.control)
    others = [v for v in counts.variants if v.variant != spec.control]
    labels = [step.display for step in spec.funnel.steps]
    raw = []
    skipped = []
    for variant in others:
        for k, label in enumerate(labels, start=1):
            c, t = _rate(control, k), _rate(variant, k)
            if c.n > 0 and t.n > 0:
                raw.append((k, label, variant, c, t))
            else:
                skipped.append((k, label, variant.variant))
    steps = _family(raw, spec.alpha)
    last = len(labels)
    overall = _family(
        [
            (
                last,
                f"exposure -> {labels[-1]}",
                v,
                Proportion(control.exposed, control.reached(last)),
                Proportion(v.exposed, v.reached(last)),
            )
            for v in others
            if control.exposed > 0 and v.exposed > 0
        ],
        spec.alpha,
    )
    # Every planned variant takes part in the ratio check, also one nobody saw ([E6]).
    names = [v.variant for v in counts.variants]
    names += [name for name in spec.weights if name not in names]
    seen = {v.variant: v.exposed for v in counts.variants}
    exposed = [seen.get(name, 0) for name in names]
    shares = [spec.weights[name] for name in names] if spec.weights else None
    srm = srm_check(exposed, shares) if len(names) > 1 else None
    return ExperimentResult(counts, steps, overall, srm, tuple(skipped))


def _rate(variant: Any, k: int) -> Proportion:
    before = variant.exposed if k == 1 else variant.reached(k - 1)
    return Proportion(before, variant.reached(k))


def _family(
    raw: list[tuple[int, str, Any, Proportion, Proportion]], alpha: float
) -> tuple[StepComparison, ...]:
    compared = [compare_proportions(c, t) for _, _, _, c, t in raw]  # 95% intervals ([E5])
    adjusted = holm([c.p_value for c in compared])
    sequential = holm([msprt(c, t, alpha=alpha).p_value for _, _, _, c, t in raw])
    out = []
    for (k, label, variant, c, t), comparison, p, safe in zip(
        raw, compared, adjusted, sequential, strict=True
    ):
        chance = bayes_proportions(c, t).chance_to_win if c.n > 0 and t.n > 0 else 0.5
        out.append(
            StepComparison(k, label, variant.variant, c, t, comparison, p, chance, alpha, safe)
        )
    return tuple(out)
