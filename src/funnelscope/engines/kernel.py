"""The `kernel` engine: a compiled per-person state machine over a pushed-down step scan.

The source returns only person, time and a step bitmask, sorted by person and time, with every
filter applied inside DuckDB (src/funnelscope/store/step_scan.py). The numba state machine in
kernel_core.py then finds each person's best attempt, two threads at a time. Results are
identical to the reference engine's (tests/test_engine_agreement.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from funnelscope.model.results import Outcomes
from funnelscope.model.spec import Funnel

US_PER_SECOND = 1_000_000
MODES = {"ordered": 0, "strict": 1, "any": 2}


def compute(funnel: Funnel, events: Any) -> Outcomes:
    """Best attempt of every person in `events` (an event source or a scan-format Arrow table)."""
    from funnelscope.store.sources import as_source

    compiled = _load_compiled_in_background()
    arrays = as_source(events).step_scan(funnel)
    compiled.join()
    from funnelscope.engines.kernel_core import group_persons, run_persons

    ts, mask, ids_of = arrays.ts, arrays.mask, arrays.ids_of
    person_ids: Callable[[np.ndarray], list[str]]
    if arrays.keys is not None:
        starts, ts, mask, first_keys = group_persons(arrays.keys, ts, mask)
        arrays.keys = None
        person_ids = _through(first_keys, ids_of)
    else:
        assert arrays.starts is not None
        starts, person_ids = arrays.starts, ids_of
    reached, times = run_persons(
        starts,
        ts,
        mask,
        len(funnel.steps),
        funnel.window_seconds * US_PER_SECOND,
        MODES[funnel.order],
    )
    return Outcomes(reached, times.T, person_ids, arrays.warnings)


def _through(
    first_keys: np.ndarray, ids_of: Callable[[np.ndarray], list[str]]
) -> Callable[[np.ndarray], list[str]]:
    def person_ids(rows: np.ndarray) -> list[str]:
        return ids_of(first_keys[rows])

    return person_ids


def _load_compiled_in_background() -> threading.Thread:
    """Import numba and load the cached machine code while DuckDB scans (it releases the GIL)."""

    def load() -> None:
        from funnelscope.engines.kernel_core import group_persons, run_persons

        one = np.zeros(1, np.int64)
        group_persons(one, one, one)  # loads the cached machine code for these signatures
        run_persons(np.array([0, 1], np.int64), one, one, 1, 1, 0)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    return thread


def explain(funnel: Funnel, events: Any) -> str:
    """What the kernel will do for `funnel`: the scan query, its pushed-down filters and plan."""
    from funnelscope.store.sources import as_source

    source = as_source(events)
    query = source.step_query(funnel)
    mode = funnel.order
    lines = [
        "engine: kernel",
        f"  1. scan (DuckDB): person, time in µs and a bitmask of the {len(funnel.steps)} steps "
        "each event can fill, sorted by person and time"
        + (" (every event: strict needs them all)" if mode == "strict" else ""),
        f"  2. state machine (numba, compiled once and cached on disk; {_threads()} threads): "
        f"per person, the best {mode} attempt within "
        f"{funnel.window_seconds:,} s of its entry",
        "  3. summary: counts, conversion and times from the best attempts (numpy)",
        "",
        "filters:",
        *[f"  {note}" for note in query.notes or ["(none)"]],
        "",
        "scan query:",
        f"  {query.sql}",
        "parameters:",
        *[f"  ${name} = {value!r}" for name, value in query.params.items()],
        "",
        "scan plan:",
        source.plan(query),
    ]
    return "\n".join(lines)


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())
