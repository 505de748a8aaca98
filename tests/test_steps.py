"""The per-step summary against a plain-Python count, per breakdown value ([O3], [S16]-[S18])."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from funnelscope.analyses.steps import step_results_by_group
from funnelscope.model.results import SKIPPED_US
from funnelscope.model.spec import parse_funnel

OPTIONAL = [False, True, False, False]


def by_hand(
    reached: list[int], times: list[list[int]]
) -> list[tuple[int, float | None, float | None]]:
    """(count, avg s, median s) per step, straight from the rules: a row does step k when it
    reached past k and did not skip it; its time is measured from the previous step it did."""
    out = []
    for k in range(4):
        rows = [i for i, r in enumerate(reached) if r > k and times[i][k] != SKIPPED_US]
        gaps = []
        for i in rows if k else []:
            previous = next(times[i][j] for j in range(k - 1, -1, -1) if times[i][j] != SKIPPED_US)
            gaps.append(times[i][k] - previous)
        avg = sum(gaps) / len(gaps) / 10**6 if gaps else None  # [S18]: µs, converted once
        median = statistics.median(gaps) / 10**6 if gaps else None
        out.append((len(rows), avg, median))
    return out


@pytest.mark.parametrize(("seed", "codes"), [(0, 7), (1, 7), (2, 300), (3, 70_000)])
def test_tables_by_group_match_a_count_by_hand(seed: int, codes: int) -> None:
    rng = np.random.default_rng(seed)
    funnel = parse_funnel({"steps": ["a", {"event": "b", "optional": True}, "c", "d"]})
    n = 3000
    reached = rng.integers(0, 5, n).astype(np.int16)
    times = np.cumsum(rng.integers(0, 10**9, (n, 4)), axis=1)
    times[:, 1] = np.where(rng.random(n) < 0.3, SKIPPED_US, times[:, 1])
    chosen = rng.choice(codes, 6, replace=False)  # a few codes, up to the int32 range
    groups = chosen[rng.integers(0, 6, n)].astype(np.int32)
    total, tables = step_results_by_group(funnel, reached, times, groups)
    as_lists = reached.tolist(), times.tolist()
    assert [(s.count, s.avg_seconds_from_previous, s.median_seconds_from_previous)
            for s in total] == by_hand(*as_lists)  # fmt: skip
    assert sorted(tables) == sorted(set(groups[reached > 0].tolist()))
    for code, table in tables.items():
        rows = np.flatnonzero(groups == code)
        expected = by_hand(reached[rows].tolist(), times[rows].tolist())
        assert [(s.count, s.avg_seconds_from_previous, s.median_seconds_from_previous)
                for s in table] == expected  # fmt: skip
        # [O3]: an optional step and the step after it are measured from step 1
        assert table[2].conversion_from_previous == (
            table[2].count / table[0].count if table[0].count else None
        )


def test_no_rows_give_no_tables() -> None:
    funnel = parse_funnel({"steps": ["a", "b"]})
    empty = np.zeros(0, np.int16)
    total, tables = step_results_by_group(funnel, empty, np.zeros((0, 2), np.int64), empty)
    assert tables == {}
    assert [step.count for step in total] == [0, 0]
