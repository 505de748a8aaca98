"""The per-step summary: the one-pass per-value tables equal the tables of each value's rows."""

from __future__ import annotations

import numpy as np
import pytest

from funnelscope.analyses.steps import step_results, step_results_by_group
from funnelscope.model.results import SKIPPED_US
from funnelscope.model.spec import parse_funnel


@pytest.mark.parametrize("seed", range(5))
def test_tables_by_group_equal_each_groups_own_table(seed: int) -> None:
    rng = np.random.default_rng(seed)
    funnel = parse_funnel({"steps": ["a", {"event": "b", "optional": True}, "c", "d"]})
    n = 5000
    reached = rng.integers(0, 5, n).astype(np.int16)
    times = np.cumsum(rng.integers(0, 10**9, (n, 4)), axis=1)
    times[:, 1] = np.where(rng.random(n) < 0.3, SKIPPED_US, times[:, 1])
    groups = rng.integers(0, 7, n).astype(np.int32)
    total, tables = step_results_by_group(funnel, reached, times, groups)
    assert total == step_results(funnel, reached, times)
    assert sorted(tables) == sorted(set(groups[reached > 0].tolist()))
    for code, table in tables.items():
        assert table == step_results(funnel, reached, times, groups == code)
    assert sum(table[2].count for table in tables.values()) == total[2].count


def test_no_rows_give_no_tables() -> None:
    funnel = parse_funnel({"steps": ["a", "b"]})
    empty = np.zeros(0, np.int16)
    total, tables = step_results_by_group(funnel, empty, np.zeros((0, 2), np.int64), empty)
    assert tables == {}
    assert [step.count for step in total] == [0, 0]
