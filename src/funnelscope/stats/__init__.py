"""Pure statistics over summary numbers (counts, sums). Imports nothing else of funnelscope.

Light modules are imported here; the A/B tools (`ab`, `bayes`, `sequential`, which need scipy)
load on first use, so `from funnelscope.stats import compare_proportions` works without making
every `import funnelscope.stats` pay for scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

from funnelscope.stats.multiple import benjamini_hochberg
from funnelscope.stats.proportions import (
    Proportion,
    RateComparison,
    compare_to_fixed,
    compare_to_reference,
    dispersion,
    leave_one_out,
    two_sided_p,
    wilson_interval,
)

_LAZY = {
    "Mean": "ab",
    "ProportionComparison": "ab",
    "compare_proportions": "ab",
    "z_statistics": "ab",
    "holm": "ab",
    "SrmResult": "ab",
    "srm_check": "ab",
    "SampleSize": "ab",
    "sample_size": "ab",
    "CupedResult": "ab",
    "cuped": "ab",
    "cuped_summary": "ab",
    "BetaPosterior": "bayes",
    "BayesResult": "bayes",
    "bayes_proportions": "bayes",
    "SequentialResult": "sequential",
    "msprt": "sequential",
    "always_valid_p_values": "sequential",
    "confidence_sequence": "sequential",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funnelscope.stats' has no attribute {name!r}")
    return getattr(importlib.import_module(f"funnelscope.stats.{module}"), name)


__all__ = [
    "Proportion",
    "RateComparison",
    "benjamini_hochberg",
    "compare_to_fixed",
    "compare_to_reference",
    "dispersion",
    "leave_one_out",
    "two_sided_p",
    "wilson_interval",
    *_LAZY,
]
