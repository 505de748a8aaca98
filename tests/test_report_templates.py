"""Every stage template works for report funnels (columns named by stage) and, with its stages
mapped to your events, as an event funnel spec."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from funnelscope.analyses.marketing.metrics import metrics
from funnelscope.analyses.marketing.report import load_report_set
from funnelscope.cli.main import main
from funnelscope.model.spec import parse_funnel
from funnelscope.model.templates import TEMPLATES


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_reads_a_report_by_its_stage_labels(name: str, tmp_path: Path) -> None:
    template = TEMPLATES[name]
    counts = [10_000 // (3**i) for i in range(len(template.stages))]
    header = ",".join(["Date", *(stage.label for stage in template.stages)])
    rows = [",".join(["2026-11-02", *(str(c) for c in counts)])]
    path = tmp_path / "report.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    report = load_report_set([str(path)], template=name)
    assert report.stages == template.stage_keys
    [row] = metrics(report)[0]
    assert row.counts == dict(zip(template.stage_keys, map(float, counts), strict=True))
    assert [rate.value for rate in row.rates[:-1]] == [
        pytest.approx(b / a) for a, b in pairwise(counts)
    ]
    assert row.rates[-1].name == "overall" and row.rates[-1].value == counts[-1] / counts[0]


def test_a_template_becomes_a_spec_with_your_event_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["templates", "sales-rep", "--spec", "--event", "won=deal_closed", "--window", "30d"]
    assert main(argv) == 0
    funnel = parse_funnel(yaml.safe_load(capsys.readouterr().out))
    assert [step.event for step in funnel.steps] == [
        "first_contact_made",
        "needs_analysed",
        "proposal_sent",
        "negotiation_started",
        "deal_closed",
    ]
    assert funnel.steps[-1].label == "Won" and funnel.window_seconds == 30 * 86_400
    assert main([*argv, "--format", "json"]) == 0
    assert parse_funnel(json.loads(capsys.readouterr().out)) == funnel
    assert main(["templates", "sales-rep", "--event", "lost=x"]) == 1
    assert "'lost' is not a stage of sales-rep" in capsys.readouterr().err
