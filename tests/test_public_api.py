"""The public API: every name in `funnelscope.__all__` is there, light to import, and a program
reaches funnels, breakdowns, marketing diagnosis and experiments without deep imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import funnelscope

from journeys import journeys


@pytest.mark.parametrize("name", funnelscope.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(funnelscope, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = funnelscope.nothing_here


def test_import_funnelscope_loads_no_data_library() -> None:
    code = (
        "import sys, funnelscope\n"
        "print(','.join(m for m in ('numpy', 'duckdb', 'pyarrow', 'numba', 'scipy') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_funnel_with_a_breakdown_from_the_top_level(tmp_path: Path) -> None:
    events = journeys(
        {
            "ann": [("view", "2024-01-01 10:00", {"channel": "ads"}), ("buy", "2024-01-01 10:05")],
            "bob": [("view", "2024-01-01 11:00", {"channel": "seo"})],
            "cy": [("view", "2024-01-01 12:00", {"channel": "ads"})],
        }
    )
    path = tmp_path / "events.parquet"
    import pyarrow.parquet as pq

    pq.write_table(
        events.rename_columns(["person_id", "event_id", "event", "timestamp", "channel"]), path
    )
    funnel = funnelscope.parse_funnel(
        {"steps": ["view", "buy"], "window": "1d", "breakdown": "channel"}
    )
    run = funnelscope.compute_funnel(funnel, funnelscope.EventInput(files=(str(path),)))
    assert run.result.counts() == (3, 1)
    by_value = {row.label: [s.count for s in row.steps] for row in run.result.breakdown}
    assert by_value == {"ads": [2, 1], "seo": [1, 0]}
