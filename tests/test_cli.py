"""The CLI end to end, in-process: files in, numbers out, errors that say where and how to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funnelscope.cli.main import main

CSV = """\
user,action,ts,channel
alice,view_item,2024-03-01T10:00:00Z,ads
alice,add_to_cart,2024-03-01T10:05:00Z,ads
alice,purchase,2024-03-01T10:15:00Z,ads
bob,view_item,2024-03-01T11:00:00Z,seo
bob,add_to_cart,2024-03-01T12:00:00Z,seo
carol,view_item,2024-03-02T09:00:00Z,ads
carol,purchase,2024-03-02T09:30:00Z,ads
,view_item,2024-03-02T09:00:00Z,ads
dave,view_item,not-a-time,ads
dave,view_item,2024-03-03T08:00:00Z,seo
dave,add_to_cart,2024-03-03T08:20:00Z,seo
dave,purchase,2024-03-11T08:00:01Z,seo
"""

SPEC = """\
name: checkout
steps:
  - view_item
  - add_to_cart
  - purchase
window: 7d
"""

MAPPING = ["--person-col", "user", "--event-col", "action", "--time-col", "ts"]


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "150")

    def _run(*args: str) -> Run:
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return _run


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    events = tmp_path / "export.csv"
    events.write_text(CSV)
    spec = tmp_path / "checkout.yaml"
    spec.write_text(SPEC)
    return events, spec


EXPECTED_STEPS = [
    {
        "step": 1,
        "label": "view_item",
        "count": 4,
        "conversion_from_previous": 1.0,
        "conversion_from_start": 1.0,
        "dropped_from_previous": 0,
        "avg_seconds_from_previous": None,
        "median_seconds_from_previous": None,
    },
    {
        "step": 2,
        "label": "add_to_cart",
        "count": 3,
        "conversion_from_previous": 0.75,
        "conversion_from_start": 0.75,
        "dropped_from_previous": 1,
        "avg_seconds_from_previous": (300 + 3600 + 1200) / 3,
        "median_seconds_from_previous": 1200.0,
    },
    {
        "step": 3,
        "label": "purchase",
        "count": 1,
        "conversion_from_previous": 1 / 3,
        "conversion_from_start": 0.25,
        "dropped_from_previous": 2,
        "avg_seconds_from_previous": 600.0,
        "median_seconds_from_previous": 600.0,
    },
]


def test_ingest_reports_bad_rows_and_loads_the_rest(cli, files) -> None:  # type: ignore[no-untyped-def]
    events, _ = files
    run = cli("ingest", str(events), *MAPPING, "--no-progress")
    assert run.code == 0
    assert "10 loaded, 0 duplicates skipped, 2 quarantined (of 12 rows)" in run.err
    assert f"{events}:9: missing person" in run.err
    assert f"{events}:10: unparseable time 'not-a-time'" in run.err
    again = cli("ingest", str(events), *MAPPING, "--no-progress")
    assert "0 loaded, 10 duplicates skipped" in again.err
    listed = cli("quarantine", "--format", "json")
    assert [(r["line"], r["reason"].split(" ")[0]) for r in json.loads(listed.out)["rows"]] == [
        (9, "missing"),
        (10, "unparseable"),
    ]


def test_funnel_json_is_exactly_the_documented_shape(cli, files) -> None:  # type: ignore[no-untyped-def]
    events, spec = files
    cli("ingest", str(events), *MAPPING, "--no-progress")
    run = cli("funnel", str(spec), "--format", "json")
    assert run.code == 0
    assert json.loads(run.out) == {
        "funnel": "checkout",
        "order": "ordered",
        "window_seconds": 604800,
        "counting": "persons",
        "steps": EXPECTED_STEPS,
    }
    assert list(json.loads(run.out)) == ["funnel", "order", "window_seconds", "counting", "steps"]


def test_funnel_from_files_equals_funnel_from_store(cli, files) -> None:  # type: ignore[no-untyped-def]
    events, spec = files
    run = cli("funnel", str(spec), "--events", str(events), *MAPPING, "--format", "json")
    assert run.code == 0
    assert json.loads(run.out)["steps"] == EXPECTED_STEPS
    assert "2 quarantined" in run.err
    assert not Path("funnelscope.duckdb").exists()


def test_people_reached_and_dropped(cli, files) -> None:  # type: ignore[no-untyped-def]
    events, spec = files
    cli("ingest", str(events), *MAPPING, "--no-progress")
    run = cli("funnel", str(spec), "--people", "2", "--format", "json")
    assert json.loads(run.out) == {
        "step": 2,
        "status": "reached",
        "people": ["alice", "bob", "dave"],
    }
    run = cli("funnel", str(spec), "--people", "3", "--status", "dropped", "--format", "csv")
    assert run.out == "person_id\nbob\ndave\n"
    run = cli("funnel", str(spec), "--people", "2", "--status", "dropped")
    assert run.out == "carol\n"
    run = cli("funnel", str(spec), "--people", "1", "--status", "dropped")
    assert run.code == 1 and "nobody drops at step 1" in run.err


def test_table_shows_a_bar_per_step_and_csv(cli, files) -> None:  # type: ignore[no-untyped-def]
    events, spec = files
    cli("ingest", str(events), *MAPPING, "--no-progress")
    table = cli("funnel", str(spec)).out
    lines = [line for line in table.splitlines() if "█" in line]
    assert len(lines) == 3
    assert [line.count("█") for line in lines] == [40, 30, 10]  # bars scale to step 1
    assert "75.0%" in table and "20m" in table
    csv_out = cli("funnel", str(spec), "--format", "csv").out.splitlines()
    assert csv_out[0].startswith("step,label,count,conversion_from_previous")
    assert csv_out[3].startswith("3,purchase,1,0.333")


def test_unknown_event_and_property_names_are_warned_about(cli, files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events, _ = files
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        "steps:\n  - view_item\n  - event: purchse\n"
        "    where: [{property: chanel, op: eq, value: ads}]\n"
    )
    run = cli("funnel", str(typo), "--events", str(events), *MAPPING, "--format", "json")
    assert run.code == 0
    assert (
        "warning: steps[2].event: no events named 'purchse' in the data; did you mean 'purchase'?"
        in run.err
    )
    assert (
        "warning: no event has a property 'chanel'" in run.err
        and "did you mean 'channel'?" in run.err
    )
    assert [s["count"] for s in json.loads(run.out)["steps"]] == [4, 0]


def test_strict_sees_events_outside_the_funnel_in_the_store(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events = tmp_path / "strict.csv"
    events.write_text(
        "person_id,event,timestamp\n"
        "a,view_item,2024-03-01T10:00:00Z\n"
        "a,scroll,2024-03-01T10:01:00Z\n"
        "a,add_to_cart,2024-03-01T10:02:00Z\n"
        "b,view_item,2024-03-01T10:00:00Z\n"
        "b,add_to_cart,2024-03-01T10:02:00Z\n"
    )
    spec = tmp_path / "strict.yaml"
    spec.write_text("steps: [view_item, add_to_cart]\norder: strict\n")
    cli("ingest", str(events), "--no-progress")
    strict = json.loads(cli("funnel", str(spec), "--format", "json").out)
    assert [s["count"] for s in strict["steps"]] == [2, 1]
    assert json.loads(cli("funnel", str(spec), "--people", "2", "--format", "json").out)[
        "people"
    ] == ["b"]


def test_errors_are_one_clear_line(cli, files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events, spec = files
    run = cli("funnel", str(spec))
    assert run.code == 1
    assert "no event store at funnelscope.duckdb; load events first" in run.err
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [a]\nwindow: 7 dayz\n")
    run = cli("funnel", str(bad), "--events", str(events), *MAPPING)
    assert run.code == 1
    assert "bad.yaml: window: '7 dayz' is not a duration; use e.g." in run.err
    run = cli("ingest", str(tmp_path / "nope.csv"), "--no-progress")
    assert run.code == 1 and "nope.csv" in run.err and "nothing loaded" in run.err
    odd = tmp_path / "odd.csv"
    odd.write_text("uid,what,when\nu1,view,2024-01-01\n")
    run = cli("ingest", str(odd), "--no-progress")
    assert run.code == 1
    assert "odd.csv: no person column" in run.err and "use --person-col uid" in run.err


def test_a_file_whose_every_row_is_rejected_fails(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events = tmp_path / "dates.csv"
    events.write_text("person_id,event,timestamp\na,view,someday\nb,view,never\n")
    run = cli("ingest", str(events), "--no-progress")
    assert run.code == 1
    assert "every row was rejected (0 of 2 loaded)" in run.err
    spec = tmp_path / "s.yaml"
    spec.write_text("steps: [view]\n")
    run = cli("funnel", str(spec), "--events", str(events), "--no-progress")
    assert run.code == 1 and "no funnel computed" in run.err and run.out == ""


def test_quarantine_shows_totals_and_raw_rows(cli, files) -> None:  # type: ignore[no-untyped-def]
    events, _ = files
    cli("ingest", str(events), *MAPPING, "--no-progress")
    listed = json.loads(cli("quarantine", "--format", "json", "--limit", "1").out)
    assert listed["total"] == 2
    assert [(r["line"], r["raw"]) for r in listed["rows"]] == [(9, listed["rows"][0]["raw"])]
    assert "view_item" in listed["rows"][0]["raw"]
    table = cli("quarantine", "--limit", "1")
    assert "showing 1 of 2 quarantined rows" in table.err
    by_name = json.loads(cli("quarantine", "--format", "json", "--source", "export.csv").out)
    assert by_name["total"] == 2


def test_command_line_mistakes_exit_2_without_traceback(cli, files) -> None:  # type: ignore[no-untyped-def]
    events, spec = files
    run = cli("funnel", str(spec), "--events", str(events), *MAPPING, "--status", "dropped")
    assert run.code == 2 and "--status only applies with --people" in run.err
    assert cli("quarantine", "--limit", "-1").code == 2
    assert cli("demo", "--persons", "0").code == 2


def test_narrow_terminals_get_a_block_per_step(cli, files, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    events, spec = files
    monkeypatch.setenv("COLUMNS", "50")
    out = cli("funnel", str(spec), "--events", str(events), *MAPPING, "--no-progress").out
    assert "3 persons, 75.0% of previous, 75.0% overall, 1 dropped" in " ".join(out.split())
    assert "…" not in out


def test_semicolon_csv_and_replace_after_changing_the_timezone(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events = tmp_path / "eu.csv"
    events.write_text(
        "kunde;event;zeit\nk1;view;2024-03-01 10:00\n"
        "k1;buy;2024-03-01 10:30\nk2;view;2024-03-01 11:00\n"
    )
    flags = ["--person-col", "kunde", "--time-col", "zeit", "--no-progress"]
    assert cli("ingest", str(events), *flags).code == 0
    run = cli("ingest", str(events), *flags, "--timezone", "Europe/Berlin")
    assert run.code == 1 and "--replace" in run.err
    run = cli("ingest", str(events), *flags, "--timezone", "Europe/Berlin", "--replace")
    assert run.code == 0 and "3 events in funnelscope.duckdb" in run.err
    spec = tmp_path / "s.yaml"
    spec.write_text("steps: [view, buy]\n")
    steps = json.loads(cli("funnel", str(spec), "--format", "json").out)["steps"]
    assert [s["count"] for s in steps] == [2, 1]


def test_sources_lists_loads_and_forget_removes_one(cli, files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events, _ = files
    other = tmp_path / "more.csv"
    other.write_text("user,action,ts\nerin,view_item,2024-03-05T10:00:00Z\n")
    cli("ingest", str(events), *MAPPING, "--no-progress")
    cli("ingest", str(other), *MAPPING, "--no-progress")
    listed = json.loads(cli("sources", "--format", "json").out)["sources"]
    assert [(Path(s["source"]).name, s["events"]) for s in listed] == [
        ("export.csv", 10),
        ("more.csv", 1),
    ]
    assert listed[0]["options"]["person_col"] == "user"
    run = cli("forget", "export.csv")
    assert run.code == 0 and "removed 10 events of export.csv; 1 left" in run.err
    assert json.loads(cli("quarantine", "--format", "json").out)["total"] == 0
    assert cli("forget", "export.csv").code == 1


def test_numeric_filters_warn_about_values_that_are_not_numbers(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events = tmp_path / "orders.csv"
    events.write_text(
        "person_id,event,timestamp,total\n"
        'a,order,2024-03-01T10:00:00Z,25.00\nb,order,2024-03-01T11:00:00Z,"1,049.00"\n'
    )
    spec = tmp_path / "big.yaml"
    spec.write_text("steps:\n  - event: order\n    where: [{property: total, op: gt, value: 20}]\n")
    run = cli("funnel", str(spec), "--events", str(events), "--format", "json", "--no-progress")
    assert "property 'total' holds text, and 1 of its values are not plain numbers" in run.err
    assert "'1,049.00'" in run.err
    assert json.loads(run.out)["steps"][0]["count"] == 1


def test_help_does_not_load_the_compiler_or_data_libraries() -> None:
    """`funnelscope --help` stays a cold start: no numba, llvmlite, numpy, DuckDB or pyarrow."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from funnelscope.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numba', 'llvmlite', 'numpy', 'duckdb', 'pyarrow') "
        "if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "HEAVY="
