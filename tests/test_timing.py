"""Time to convert, conversion trends and segments that differ (analyses/time_to_convert.py,
trends.py, segments.py): exact numbers on hand-made journeys on every engine, the CLI, and
the engines' agreement on random journeys."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelscope.analyses.funnel import run_funnel
from funnelscope.analyses.segments import segments
from funnelscope.analyses.time_to_convert import auto_bin_count, posthog_bins, time_to_convert
from funnelscope.analyses.trends import conversion_trend, data_end
from funnelscope.cli.main import main
from funnelscope.errors import SpecError
from funnelscope.model.spec import parse_funnel
from funnelscope.stats.proportions import Proportion, wilson_interval
from funnelscope.store.sources import TableSource

from conftest import RunFunnel
from journeys import Journey, journeys

# --------------------------------------------------------------------------------------------
# Time to convert


def converting_after(seconds: list[str]) -> dict[str, Journey]:
    """One person per time: a at 10:00:00, b `seconds` later (text: '15.5' -> 10:00:15.5)."""
    people: dict[str, Journey] = {}
    for i, text in enumerate(seconds):
        whole, _, frac = text.partition(".")
        minutes, secs = divmod(int(whole), 60)
        stamp = f"2024-01-01 10:{minutes:02d}:{secs:02d}" + (
            f".{frac.ljust(6, '0')}" if frac else ""
        )
        people[f"p{i}"] = [("a", "2024-01-01 10:00:00"), ("b", stamp)]
    return people


FIVE = ["10", "15.5", "40", "70", "100.25"]


def test_posthog_bins_reproduced_by_hand(run: RunFunnel) -> None:
    # n = 5: ceil(cbrt(5)) = 2 bins; from floor(10) = 10 to ceil(100.25) = 101;
    # width ceil(91 / 2) = 46: [10, 56) holds 10, 15.5, 40; [56, 102) holds 70, 100.25;
    # PostHog returns bin_count + 1 bins, the last [102, 148) empty.
    people = converting_after(FIVE)
    people["dropped"] = [("a", "2024-01-01 10:00:00")]
    result = run(["a", "b"], people)
    ttc = time_to_convert(result)
    assert (ttc.n, ttc.bin_count, ttc.bin_width_seconds, ttc.auto_bins) == (5, 2, 46, True)
    assert [(b.start_seconds, b.end_seconds, b.count) for b in ttc.bins] == [
        (10, 56, 3),
        (56, 102, 2),
        (102, 148, 0),
    ]
    assert ttc.mean_seconds == 47.15  # 235.75 / 5
    assert ttc.median_seconds == 40.0
    assert ttc.p90_seconds == 88.15  # rank 3.6: 70 + 0.6 * 30.25
    assert ttc.p95_seconds == 94.2  # rank 3.8: 70 + 0.8 * 30.25
    assert (ttc.min_seconds, ttc.max_seconds) == (10.0, 100.25)
    # --bins 3: width ceil(91 / 3) = 31
    asked = time_to_convert(result, bins=3)
    assert (asked.bin_width_seconds, asked.auto_bins) == (31, False)
    assert [(b.start_seconds, b.count) for b in asked.bins] == [(10, 3), (41, 1), (72, 1), (103, 0)]


def test_posthog_bins_edges() -> None:
    us = 1_000_000
    # a time exactly at from + count * width falls in the extra last bin
    assert posthog_bins(pa.array([10 * us, 20 * us]).to_numpy()) == (10, 5, 2, [1, 0, 1])
    # every time the same whole second: width 60
    assert posthog_bins(pa.array([30 * us]).to_numpy()) == (30, 60, 1, [1, 0])
    # within one second but not whole: from 30 to 31, width 1
    assert posthog_bins(pa.array([30 * us + 1, 30 * us + 2]).to_numpy()) == (30, 1, 2, [2, 0, 0])
    # a bin count asked for is clamped to 1..90
    assert posthog_bins(pa.array([0, 900 * us]).to_numpy(), 500)[1:3] == (10, 90)
    counts = {n: auto_bin_count(n) for n in (0, 1, 2, 8, 9, 27, 28, 216_000, 216_001, 10**9)}
    assert counts == {
        0: 1,
        1: 1,
        2: 2,
        8: 2,
        9: 3,
        27: 3,
        28: 4,
        216_000: 60,
        216_001: 60,
        10**9: 60,
    }


def test_time_between_chosen_steps_and_optional_steps(run: RunFunnel) -> None:
    people = {
        "p1": [("a", "2024-01-01 10:00"), ("b", "2024-01-01 10:01"), ("c", "2024-01-01 10:03")],
        "p2": [("a", "2024-01-01 10:00"), ("c", "2024-01-01 10:10")],  # skipped optional b
        "p3": [("a", "2024-01-01 10:00"), ("b", "2024-01-01 10:30")],  # no c
    }
    spec = {"steps": ["a", {"event": "b", "optional": True}, "c"], "window": "1d"}
    result = run(spec, people)
    b_to_c = time_to_convert(result, 2, 3)
    assert (b_to_c.n, b_to_c.mean_seconds, b_to_c.median_seconds) == (1, 120.0, 120.0)
    a_to_c = time_to_convert(result)  # first to last: p1 180 s, p2 600 s
    assert (a_to_c.n, a_to_c.mean_seconds, a_to_c.median_seconds) == (2, 390.0, 390.0)
    assert [(b.start_seconds, b.count) for b in a_to_c.bins] == [(180, 1), (390, 0), (600, 1)]
    a_to_b = time_to_convert(result, 1, 2)  # p1 60 s, p3 1800 s
    assert (a_to_b.n, a_to_b.min_seconds, a_to_b.max_seconds) == (2, 60.0, 1800.0)
    with pytest.raises(SpecError, match="not before"):
        time_to_convert(result, 3, 2)
    with pytest.raises(SpecError, match="does not exist"):
        time_to_convert(result, 1, 4)


def test_time_to_convert_under_any_order_is_from_the_first_step_done(run: RunFunnel) -> None:
    people = {
        "p": [("b", "2024-01-01 10:00"), ("a", "2024-01-01 10:05")],  # b first: 300 s
        "q": [("a", "2024-01-01 10:00"), ("b", "2024-01-01 10:02")],
    }
    result = run({"steps": ["a", "b"], "order": "any", "window": "1h"}, people)
    ttc = time_to_convert(result)
    assert (ttc.n, ttc.min_seconds, ttc.max_seconds) == (2, 120.0, 300.0)


# --------------------------------------------------------------------------------------------
# Trends

A_B_WEEKS = {
    # week of Monday 2024-01-01 in Berlin and UTC: enters Tuesday, converts
    "p4": [("a", "2024-01-02 12:00"), ("b", "2024-01-02 13:00")],
    # Sunday 23:30 in Berlin (22:30 UTC): week of 2024-01-01 in both zones; does not convert
    "p2": [("a", "2024-01-07 22:30")],
    # Monday 00:30 in Berlin (Sunday 23:30 UTC): week of 2024-01-08 in Berlin, 2024-01-01 in UTC
    "p1": [("a", "2024-01-07 23:30"), ("b", "2024-01-08 01:00")],
    # weeks of 01-15 and 01-22 empty; enters 2024-01-29 10:00 UTC, the data's last event
    "p3": [("a", "2024-01-29 10:00")],
}


def trend_of(result: Any, people: dict[str, Journey], grain: str, zone: str) -> Any:
    with TableSource(journeys(people)) as source:
        return conversion_trend(result, grain, zone, data_end(result, source))


def test_trend_week_boundary_in_berlin_empty_and_incomplete_weeks(run: RunFunnel) -> None:
    result = run({"steps": ["a", "b"], "window": "1d"}, A_B_WEEKS)
    trend = trend_of(result, A_B_WEEKS, "week", "Europe/Berlin")
    assert trend.data_end == "2024-01-29T10:00:00Z"
    assert [
        (p.period, p.start, p.n, p.conversions, p.rate, p.incomplete, p.open) for p in trend.points
    ] == [
        ("2024-01-01", "2024-01-01T00:00:00+01:00", 2, 1, 0.5, False, 0),
        ("2024-01-08", "2024-01-08T00:00:00+01:00", 1, 1, 1.0, False, 0),
        # ends 2024-01-21 23:00 UTC; + 1 d is before the data's end: complete though empty
        ("2024-01-15", "2024-01-15T00:00:00+01:00", 0, 0, None, False, 0),
        # an attempt entering at its end (01-28 23:00 UTC) could convert until 01-29 23:00
        ("2024-01-22", "2024-01-22T00:00:00+01:00", 0, 0, None, True, 0),
        ("2024-01-29", "2024-01-29T00:00:00+01:00", 1, 0, 0.0, True, 1),
    ]
    first = trend.points[0]
    # Wilson 95% for 1 of 2, by hand: centre 0.5, half-width 0.4054688
    assert first.interval == pytest.approx((0.0945312, 0.9054688), abs=1e-7)
    assert first.interval == wilson_interval(Proportion(2, 1))
    assert trend.points[2].interval is None
    assert [(s.step, s.count, s.rate) for s in first.steps] == [(1, 2, 1.0), (2, 1, 0.5)]
    assert trend.to_dict()["week_start"] == "monday"
    utc = trend_of(result, A_B_WEEKS, "week", "UTC")
    assert [(p.period, p.n, p.conversions) for p in utc.points] == [
        ("2024-01-01", 3, 2),
        ("2024-01-08", 0, 0),
        ("2024-01-15", 0, 0),
        ("2024-01-22", 0, 0),
        ("2024-01-29", 1, 0),
    ]


def test_trend_days_months_and_the_date_range_end(run: RunFunnel) -> None:
    people = {
        "p1": [("a", "2024-01-30 12:00"), ("b", "2024-01-30 18:00")],
        "p2": [("a", "2024-03-02 12:00")],
        "late": [("b", "2024-03-09 12:00")],  # a funnel event: the data's end
    }
    result = run({"steps": ["a", "b"], "window": "1d"}, people)
    months = trend_of(result, people, "month", "UTC")
    assert [(p.period, p.n, p.conversions, p.incomplete) for p in months.points] == [
        ("2024-01", 1, 1, False),
        ("2024-02", 0, 0, False),
        ("2024-03", 1, 0, True),  # entries until 03-31 could still convert
    ]
    days = trend_of(result, people, "day", "America/New_York")
    assert len(days.points) == 33  # 2024-01-30 .. 2024-03-02 in New York
    assert (days.points[0].period, days.points[0].start) == (
        "2024-01-30",
        "2024-01-30T00:00:00-05:00",
    )
    assert (days.points[-1].period, days.points[-1].n, days.points[-1].incomplete) == (
        "2024-03-02",
        1,
        False,
    )
    # the range ends 2024-03-05: no attempt enters after it, so March is complete
    ranged = run({"steps": ["a", "b"], "window": "1d", "date_range": {"to": "2024-03-05"}}, people)
    march = trend_of(ranged, people, "month", "UTC").points[-1]
    assert (march.period, march.incomplete) == ("2024-03", False)
    with pytest.raises(SpecError, match="time zone"):
        conversion_trend(result, "week", "Europe/Berln")


# --------------------------------------------------------------------------------------------
# Segments


def channel_people(groups: dict[str, tuple[int, int, int]]) -> dict[str, Journey]:
    """Per channel (entered, did b, did c): persons doing a, then b, then c."""
    people: dict[str, Journey] = {}
    for channel, (entered, to_b, to_c) in groups.items():
        for i in range(entered):
            events: Journey = [("a", "2024-01-01 10:00", {"channel": channel})]
            if i < to_b:
                events.append(("b", "2024-01-01 10:05", {"channel": channel}))
            if i < to_c:
                events.append(("c", "2024-01-01 10:09", {"channel": channel}))
            people[f"{channel}{i}"] = events
    return people


def pooled_p(n1: int, k1: int, n2: int, k2: int) -> float:
    """Two-sided pooled two-proportion z-test, written out."""
    pooled = (k1 + k2) / (n1 + n2)
    z = (k1 / n1 - k2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def test_segments_min_n_and_corrected_p_values(run: RunFunnel) -> None:
    people = channel_people({"x": (40, 30, 30), "y": (40, 14, 4), "z": (10, 5, 5)})
    spec = {"steps": ["a", "b", "c"], "window": "1d", "breakdown": {"property": "channel"}}
    found = segments(run(spec, people), min_n=30)
    table = {(t.value, t.step, t.from_step): t for t in found.tests}
    assert list(table) == [
        ("x", 2, 1),
        ("x", 3, 2),
        ("x", 3, 1),
        ("y", 2, 1),
        ("y", 3, 2),
        ("y", 3, 1),
        ("z", 2, 1),
        ("z", 3, 2),
        ("z", 3, 1),
    ]
    x2 = table[("x", 2, 1)]
    assert (x2.n, x2.conversions, x2.rest_n, x2.rest_conversions) == (40, 30, 50, 19)
    assert (x2.rate, x2.rest_rate, x2.direction) == (0.75, 0.38, "higher")
    # min n: y's rate from step 2 has 14 in its denominator; z has 10 everywhere
    assert table[("y", 3, 2)].p is None and not table[("y", 3, 2)].significant
    assert all(table[("z", s, f)].p is None for s, f in [(2, 1), (3, 2), (3, 1)])
    tested = {
        ("x", 2, 1): pooled_p(40, 30, 50, 19),
        ("x", 3, 2): pooled_p(30, 30, 19, 9),  # rest n 19 < 30: not tested
        ("x", 3, 1): pooled_p(40, 30, 50, 9),
        ("y", 2, 1): pooled_p(40, 14, 50, 35),
        ("y", 3, 1): pooled_p(40, 4, 50, 35),
    }
    del tested[("x", 3, 2)]
    assert table[("x", 3, 2)].p is None
    for key, p in tested.items():
        assert table[key].p == pytest.approx(p, rel=1e-12)
    # Benjamini-Hochberg by hand over the 4 tests: sorted p, adjusted min over j >= i of p_j m / j
    ordered = sorted(tested.items(), key=lambda kv: kv[1])
    m = len(ordered)
    running = 1.0
    expected_bh: dict[Any, float] = {}
    for rank in range(m, 0, -1):
        key, p = ordered[rank - 1]
        running = min(running, p * m / rank)
        expected_bh[key] = running
    for key, adjusted in expected_bh.items():
        assert table[key].p_adjusted == pytest.approx(adjusted, rel=1e-12)
        assert table[key].significant == (adjusted < 0.05)
    assert table[("y", 3, 1)].direction == "lower" and table[("y", 3, 1)].significant
    holm_found = segments(run(spec, people), min_n=30, correction="holm")
    smallest_key, smallest = ordered[0]
    holm_first = next(t for t in holm_found.tests if (t.value, t.step, t.from_step) == smallest_key)
    assert holm_first.p_adjusted == pytest.approx(min(1.0, 4 * smallest), rel=1e-12)
    # a lower min n tests every one of the 9
    loose = segments(run(spec, people), min_n=1)
    assert sum(t.tested for t in loose.tests) == 9


def test_segments_need_a_breakdown(run: RunFunnel) -> None:
    with pytest.raises(SpecError, match="breakdown"):
        segments(run(["a", "b"], {"p": [("a", "2024-01-01 10:00")]}))


# --------------------------------------------------------------------------------------------
# Through the CLI

CSV_HEADER = "user,action,ts,channel\n"


@pytest.fixture
def cli_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "150")
    lines = [CSV_HEADER]
    for person, journey in converting_after(FIVE).items():
        channel = "ads" if person in ("p0", "p1") else "seo"
        for event, stamp in journey:
            lines.append(f"{person},{event},{stamp.replace(' ', 'T')}Z,{channel}\n")
    events = tmp_path / "events.csv"
    events.write_text("".join(lines))
    spec = tmp_path / "f.yaml"
    spec.write_text("name: f\nsteps: [a, b]\nwindow: 1d\n")
    return events, spec


MAPPING = ["--person-col", "user", "--event-col", "action", "--time-col", "ts"]


def test_cli_json_has_time_to_convert_trend_and_segments(
    cli_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events, spec = cli_files
    args = [str(spec), "--events", str(events), *MAPPING, "--format", "json"]
    extras = ["--time-to-convert", "--trend", "day", "--trend-timezone", "Asia/Tokyo"]
    extras += ["--breakdown", "channel", "--segments", "--min-n", "1", "--correction", "holm"]
    code = main(["funnel", *args, *extras])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    ttc = out["time_to_convert"]
    assert [(b["from_seconds"], b["count"]) for b in ttc["bins"]] == [(10, 3), (56, 2), (102, 0)]
    assert (ttc["median_seconds"], ttc["p95_seconds"]) == (40.0, 94.2)
    assert [(p["period"], p["n"], p["conversions"]) for p in out["trend"]["points"]] == [
        ("2024-01-01", 5, 5)
    ]
    assert out["trend"]["timezone"] == "Asia/Tokyo"
    tests = out["segments"]["tests"]
    assert [(t["value"], t["n"], t["rate"], t["rest_rate"]) for t in tests] == [
        ("seo", 3, 1.0, 1.0),
        ("ads", 2, 1.0, 1.0),
    ]
    assert out["segments"]["correction"] == "holm"
    code = main(["funnel", *args[:-2], "--time-to-convert", "--bins", "3"])
    table = capsys.readouterr().out
    assert code == 0 and "Time to convert: 1 a -> 2 b, 5 persons" in table
    assert "p95 1m 34s" in table
    code = main(["funnel", *args[:-2], "--format", "csv", "--time-to-convert", "--bins", "3"])
    assert capsys.readouterr().out.splitlines() == [
        "from_step,to_step,from_seconds,to_seconds,count",
        "1,2,10,41,3",
        "1,2,41,72,1",
        "1,2,72,103,1",
        "1,2,103,134,0",
    ]


def test_cli_refuses_flags_without_their_feature(
    cli_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    events, spec = cli_files
    base = ["funnel", str(spec), "--events", str(events), *MAPPING]
    assert main([*base, "--bins", "3"]) == 2
    assert "--bins only applies with --time-to-convert" in capsys.readouterr().err
    assert main([*base, "--segments"]) == 1
    assert "needs a breakdown" in capsys.readouterr().err
    assert main([*base, "--time-to-convert", "--time-from", "2"]) == 1
    assert "not before" in capsys.readouterr().err


def test_cli_table_flags_significant_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "150")
    lines = [CSV_HEADER]
    for person, journey in channel_people({"x": (40, 30, 0), "y": (40, 14, 0)}).items():
        for event, stamp, props in journey:
            lines.append(f"{person},{event},{stamp.replace(' ', 'T')}:00Z,{props['channel']}\n")
    (tmp_path / "e.csv").write_text("".join(lines))
    (tmp_path / "f.yaml").write_text("name: f\nsteps: [a, b]\nwindow: 1d\n")
    extras = ["--breakdown", "channel", "--segments", "--trend", "week"]
    code = main(["funnel", "f.yaml", "--events", "e.csv", *MAPPING, *extras])
    out = capsys.readouterr().out
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("x ", "y "))}
    assert rows["x"].rstrip().endswith("▲") and rows["y"].rstrip().endswith("▼")
    assert "Conversion by week of entry (UTC, weeks start Monday)" in out
    assert "2024-01-01 *" in out  # the data ends 5 minutes after the last entry


# --------------------------------------------------------------------------------------------
# Both engines agree on random journeys

BASE_US = 1_704_067_200 * 1_000_000  # 2024-01-01 00:00 UTC
HOUR_US = 3_600 * 1_000_000
row = st.tuples(
    st.integers(0, 5),  # person
    st.sampled_from(["a", "a", "b", "b", "c", "x"]),
    st.integers(0, 24 * 50),  # hour: periods of days, weeks and months; ties are common
    st.sampled_from(["free", "pro", None]),
    st.integers(0, 10_000),  # event id
)
rows = st.integers(1, 60).flatmap(lambda n: st.lists(row, min_size=n, max_size=n))


def random_table(data: list[tuple[Any, ...]]) -> pa.Table:
    return pa.table(
        {
            "person_id": [f"p{p}" for p, *_ in data],
            "event_id": [f"id{i:05d}-{n}" for n, (*_, i) in enumerate(data)],
            "event": [e for _, e, *_ in data],
            "ts": pa.array([BASE_US + h * HOUR_US for _, _, h, *_ in data], pa.int64()),
            "plan": pa.array([plan for *_, plan, _ in data], pa.string()),
        }
    )


@st.composite
def random_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "steps": draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=4)),
        "order": draw(st.sampled_from(["ordered", "strict", "any"])),
        "window": draw(st.sampled_from(["6h", "1d", "3d", "10d"])),
        "count": draw(st.sampled_from(["persons", "totals"])),
    }
    if draw(st.booleans()):
        spec["breakdown"] = {"property": "plan"}
    return spec


@settings(
    max_examples=2 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    spec=random_specs(),
    data=rows,
    grain=st.sampled_from(["day", "week", "month"]),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
    steps=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    bins=st.one_of(st.none(), st.integers(1, 90)),
)
def test_engines_agree_on_time_to_convert_and_trends(
    spec: dict[str, Any],
    data: list[tuple[Any, ...]],
    grain: str,
    zone: str,
    steps: tuple[int, int],
    bins: int | None,
) -> None:
    funnel = parse_funnel(spec)
    table = random_table(data)
    results = {
        engine: run_funnel(funnel, TableSource(table), engine) for engine in ("reference", "kernel")
    }
    with TableSource(table) as source:
        end = data_end(results["reference"], source)
    first, last = sorted(steps)
    last = min(max(last, first + 1), len(funnel.steps))
    first = min(first, last - 1)
    ref, ker = results["reference"], results["kernel"]
    assert time_to_convert(ref, first, last, bins) == time_to_convert(ker, first, last, bins)
    assert conversion_trend(ref, grain, zone, end) == conversion_trend(ker, grain, zone, end)
    if funnel.breakdown is not None:
        assert segments(ref, min_n=1) == segments(ker, min_n=1)
