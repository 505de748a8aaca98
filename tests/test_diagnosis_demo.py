"""The planted-problem test: on the demo's search-marketing reports, `diagnose` ranks exactly the
three planted leaks at the top, with the right layer and segment, and nothing spurious above."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelscope.analyses.marketing.diagnosis import diagnose_report
from funnelscope.analyses.marketing.knowledge import load_knowledge
from funnelscope.analyses.marketing.leaks import DiagnoseOptions
from funnelscope.analyses.marketing.ranges import load_ranges
from funnelscope.analyses.marketing.report import load_report_set
from funnelscope.demo.search_reports import generate_search_reports


@pytest.mark.parametrize("seed", [7, 11, 2026])
def test_diagnose_ranks_the_planted_leaks_first(seed: int, tmp_path: Path) -> None:
    demo = generate_search_reports(seed)
    paths = demo.write(tmp_path)
    report = load_report_set([str(p) for p in paths])
    options = DiagnoseOptions(ranges=load_ranges())
    leaks = diagnose_report(report, load_knowledge(), options).leaks
    top = [(leak.layer, leak.from_stage, leak.segment) for leak in leaks[:3]]
    planted = [(p.layer, p.from_stage, p.segment) for p in demo.planted]
    assert top == planted  # same leaks, same order (largest expected loss first)
    for leak, truth in zip(leaks, demo.planted, strict=False):
        assert leak.significant
        assert leak.rate == pytest.approx(truth.true_rate, rel=0.15)
        assert leak.reference_rate == pytest.approx(truth.normal_rate, rel=0.1)
        # the loss estimate is within a third of the generator's expected loss
        assert leak.lost_final == pytest.approx(truth.expected_lost_orders, rel=0.33)
        assert leak.causes and leak.actions
    assert all(leak.lost_final < 0.5 * leaks[2].lost_final for leak in leaks[3:])


def test_the_landing_page_leak_is_a_change_against_its_own_history(tmp_path: Path) -> None:
    demo = generate_search_reports(7)
    report = load_report_set([str(p) for p in demo.write(tmp_path)])
    leaks = diagnose_report(report, load_knowledge(), DiagnoseOptions(ranges=load_ranges())).leaks
    by_segment = {tuple(leak.segment.items()): leak for leak in leaks}
    landing = by_segment[(("campaign", "Spring-Brand"),)]
    assert landing.reference == "history"
    assert {c.reference for c in landing.comparisons if c.significant} == {
        "history",
        "peers",
        "range",
    }
    keyword = by_segment[(("keyword", "door"),)]
    assert keyword.context == {
        "campaign": "Doors-Generic",
        "ad_group": "Doors - broad",
        "match_type": "broad",
    }
    assert {next(iter(s["segment"].items())) for s in keyword.symptoms} == {
        ("campaign", "Doors-Generic"),
        ("ad_group", "Doors - broad"),
        ("match_type", "broad"),
    }
    assert by_segment[(("rep", "Sam"),)].reference == "peers"
