"""Random journeys (hypothesis): the reference engine vs a brute-force oracle, and invariants."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelscope.analyses.funnel import summarize
from funnelscope.engines import get_engine
from funnelscope.model.spec import Funnel, Step

compute = get_engine("reference")

NAMES = ["a", "b", "c", "d", "x"]
BASE = datetime(2024, 1, 1, tzinfo=UTC)

# (person, event name, second offset): small offsets make ties and window edges common.
event_rows = st.lists(
    st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.sampled_from(NAMES), st.integers(0, 12)),
    max_size=9,
)


def table_of(rows: list[tuple[str, str, int]], shift: int = 0) -> pa.Table:
    return pa.table(
        {
            "person_id": [p for p, _, _ in rows],
            "event_id": [f"e{i:03d}" for i in range(len(rows))],
            "event": [e for _, e, _ in rows],
            "ts": pa.array(
                [int((BASE + timedelta(seconds=s + shift)).timestamp() * 1e6) for *_, s in rows],
                type=pa.int64(),
            ),
        }
    )


def funnel_of(steps: list[str], window: int, order: str) -> Funnel:
    return Funnel(steps=tuple(Step(s) for s in steps), window_seconds=window, order=order)


def brute_force_ordered(
    rows: list[tuple[str, str, int]], steps: list[str], window: int
) -> dict[str, tuple[int, ...]]:
    """Every sequence of distinct events with non-decreasing times inside the window, searched
    exhaustively: the furthest reach, then earliest entry, then earliest step times."""
    best: dict[str, tuple[int, ...]] = {}
    indexed = [(p, e, s, f"e{i:03d}") for i, (p, e, s) in enumerate(rows)]
    for person in {p for p, _, _ in rows}:
        mine = sorted((s, eid, e) for p, e, s, eid in indexed if p == person)
        found: list[tuple[int, tuple[tuple[int, str], ...]]] = []
        for k in range(len(steps), 0, -1):
            for combo in itertools.permutations(range(len(mine)), k):
                evs = [mine[i] for i in combo]
                if any(ev[2] != steps[j] for j, ev in enumerate(evs)):
                    continue
                if any(evs[j][0] > evs[j + 1][0] for j in range(k - 1)):
                    continue
                if evs[-1][0] > evs[0][0] + window:
                    continue
                found.append((k, tuple((ev[0], ev[1]) for ev in evs)))
            if found:
                break
        if found:
            k, seq = min(found, key=lambda f: (f[1][0], [s for s, _ in f[1]]))
            best[person] = tuple(s for s, _ in seq)
    return best


@settings(max_examples=6 * settings().max_examples, deadline=None)
@given(
    rows=event_rows,
    steps=st.lists(st.sampled_from(NAMES[:4]), min_size=1, max_size=4, unique=True),
    window=st.integers(1, 10),
)
def test_ordered_matches_exhaustive_search(
    rows: list[tuple[str, str, int]], steps: list[str], window: int
) -> None:
    outcomes = compute(funnel_of(steps, window, "ordered"), table_of(rows))
    got = {
        o.person_id: tuple((t - int(BASE.timestamp() * 1e6)) // 1_000_000 for t in o.times_us)
        for o in outcomes
    }
    assert got == brute_force_ordered(rows, steps, window)


@settings(max_examples=4 * settings().max_examples, deadline=None)
@given(
    rows=event_rows,
    steps=st.lists(st.sampled_from(NAMES[:4]), min_size=1, max_size=5),
    window=st.integers(1, 10),
    shift=st.integers(-(10**6), 10**6),
)
def test_invariants_across_modes_windows_and_shifts(
    rows: list[tuple[str, str, int]], steps: list[str], window: int, shift: int
) -> None:
    counts = {}
    for order in ("strict", "ordered", "any"):
        funnel = funnel_of(steps, window, order)
        result = summarize(funnel, compute(funnel, table_of(rows)))
        assert all(a >= b for a, b in itertools.pairwise(result.counts()))
        shifted = summarize(funnel, compute(funnel, table_of(rows, shift)))
        assert shifted.to_dict() == result.to_dict()
        reversed_rows = summarize(
            funnel,
            compute(
                funnel, table_of(rows).take(pa.array(range(len(rows) - 1, -1, -1), type=pa.int64()))
            ),
        )
        assert reversed_rows.to_dict() == result.to_dict()
        wider = funnel_of(steps, window + 5, order)
        wider_counts = summarize(wider, compute(wider, table_of(rows))).counts()
        assert all(w >= c for w, c in zip(wider_counts, result.counts(), strict=True))
        counts[order] = result.counts()
    # any >= ordered >= strict, step by step
    for k in range(len(steps)):
        assert counts["any"][k] >= counts["ordered"][k] >= counts["strict"][k]
