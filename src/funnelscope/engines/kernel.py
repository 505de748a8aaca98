"""The `kernel` engine: a compiled per-person state machine over a pushed-down step scan.

The source returns only person, time and a step bitmask, sorted by person and time, with every
filter applied inside DuckDB (src/funnelscope/store/step_scan.py). The numba state machine in
kernel_core.py then finds each person's best attempt, two threads at a time. Results are
identical to the reference engine's (tests/test_engine_agreement.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funnelscope.model.results import Outcomes
from funnelscope.model.spec import Funnel

US_PER_SECOND = 1_000_000
MODES = {"ordered": 0, "strict": 1, "any": 2}


def compute(funnel: Funnel, events: Any) -> Outcomes:
    """Best attempt of every person in `events` (an event source or a scan-format Arrow table)."""
    from funnelscope.store.sources import as_source

    arrays = as_source(events).step_scan(funnel)
    from funnelscope.engines.kernel_core import run_persons

    reached, times = run_persons(
        arrays.starts,
        arrays.ts,
        arrays.mask,
        len(funnel.steps),
        funnel.window_seconds * US_PER_SECOND,
        MODES[funnel.order],
    )
    entered = np.flatnonzero(reached > 0)
    person_ids = arrays.person_ids
    return Outcomes(reached[entered], times[entered], lambda rows: person_ids(entered[rows]))
