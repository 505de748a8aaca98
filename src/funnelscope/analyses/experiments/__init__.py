"""Funnel A/B tests: the spec (spec.py), each variant's funnel from first exposure
(counts.py), and each step's comparison against control with a verdict (comparison.py)."""

from funnelscope.analyses.experiments.comparison import (
    ExperimentResult,
    StepComparison,
    analyze_experiment,
)
from funnelscope.analyses.experiments.counts import (
    Assignment,
    ExperimentCounts,
    VariantFunnel,
    assign,
    experiment_counts,
)
from funnelscope.analyses.experiments.spec import (
    ExperimentSpec,
    Exposure,
    load_experiment,
    parse_experiment,
)

__all__ = [
    "Assignment",
    "ExperimentCounts",
    "ExperimentResult",
    "ExperimentSpec",
    "Exposure",
    "StepComparison",
    "VariantFunnel",
    "analyze_experiment",
    "assign",
    "experiment_counts",
    "load_experiment",
    "parse_experiment",
]
