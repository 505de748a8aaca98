"""Pure statistics over summary numbers (counts, sums). Imports nothing else of funnelscope."""

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
]
