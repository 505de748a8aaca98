"""Everything around a funnel holds on stitched identities: a visitor's anonymous device events
before signing up belong to the person they became, in time to convert, trends, correlation,
paths and retention alike (issue 16: "works ... on the stitched identities")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from funnelscope.cli.main import main

# alice, bob and carol each visit anonymously from a device, then sign up on it (which stitches
# the device to them); their later events carry only the person id.
EVENTS = """\
user,device,action,ts,plan
,dev-a,visit,2024-01-01T10:00:00Z,
alice,dev-a,signup,2024-01-01T11:00:00Z,pro
alice,,purchase,2024-01-01T13:00:00Z,
,dev-b,visit,2024-01-02T10:00:00Z,
,dev-b,pricing,2024-01-02T10:30:00Z,
bob,dev-b,signup,2024-01-02T12:00:00Z,free
bob,,help,2024-01-02T13:00:00Z,
,dev-c,visit,2024-01-08T09:00:00Z,
carol,dev-c,signup,2024-01-08T09:30:00Z,pro
carol,,purchase,2024-01-08T10:00:00Z,
alice,,purchase,2024-01-09T10:00:00Z,
"""
SPEC = "name: stitched\nsteps: [visit, signup, purchase]\nwindow: 7d\n"


@pytest.fixture
def stitched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "events.csv").write_text(EVENTS)
    (tmp_path / "f.yaml").write_text(SPEC)
    args = ["ingest", "events.csv", "--person-col", "user", "--device-col", "device"]
    assert main([*args, "--event-col", "action", "--time-col", "ts", "--no-progress"]) == 0
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("engine", ["kernel", "reference"])
def test_time_to_convert_spans_the_anonymous_visit(
    stitched: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    result = run(capsys, "funnel", "f.yaml", "--time-to-convert", "--engine", engine)
    assert [s["count"] for s in result["steps"]] == [3, 3, 2]
    ttc = result["time_to_convert"]
    # alice 10:00 -> 13:00 (3 h), carol 09:00 -> 10:00 (1 h): only linked through the devices
    assert (ttc["n"], ttc["min_seconds"], ttc["max_seconds"]) == (2, 3600.0, 10800.0)
    assert ttc["mean_seconds"] == 7200.0


def test_trend_counts_each_person_once_in_the_week_of_the_anonymous_visit(
    stitched: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points = run(capsys, "funnel", "f.yaml", "--trend", "week")["trend"]["points"]
    assert [(p["period"], p["n"], p["conversions"]) for p in points] == [
        ("2024-01-01", 2, 1),
        ("2024-01-08", 1, 1),
    ]


def test_correlation_sees_the_device_events_and_the_persons_property(
    stitched: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "correlate", "f.yaml", "--person-properties", "plan")
    assert (result["entered"], result["converted"], result["dropped"]) == (3, 2, 1)
    less = {item["name"]: item for item in result["less_likely"]}
    # bob looked at pricing anonymously, from his device, before signing up
    pricing = less["pricing"]
    assert (pricing["converted_with"], pricing["dropped_with"]) == (0, 1)
    assert (pricing["converted_without"], pricing["dropped_without"]) == (2, 0)
    [plan] = result["more_likely"]
    assert (plan["value"], plan["converted_with"], plan["dropped_without"]) == ("pro", 2, 1)


def test_paths_after_the_drop_follow_the_person_not_the_device(
    stitched: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "paths", "f.yaml", "--after-drop", "2")
    assert (result["attempts"], result["persons"]) == (1, 1)
    assert [s["events"] for s in result["sequences"]] == [["help", "(end)"]]


def test_retention_cohort_starts_at_the_anonymous_visit(
    stitched: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--start", "visit", "--return", "purchase", "--periods", "9"]
    result = run(capsys, "retention", "cohorts", *args)
    alice = result["cohorts"][0]
    assert (alice["cohort"], alice["size"]) == ("2024-01-01", 1)
    # her purchases 3 h and exactly 8 days after her device's visit
    assert [c["retained"] for c in alice["cells"]] == [1, 0, 0, 0, 0, 0, 0, 0, 1]
