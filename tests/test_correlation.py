"""Funnel correlation (`funnelscope correlate`): counts, odds ratios, tests, ranking, CLI."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency, false_discovery_control, fisher_exact

from funnelscope.analyses.correlation import CorrelationOptions, CorrelationResult, correlate
from funnelscope.analyses.funnel import run_funnel
from funnelscope.cli.main import main
from funnelscope.engines import ENGINE_NAMES
from funnelscope.errors import SpecError
from funnelscope.model.filters import text_form
from funnelscope.model.spec import parse_funnel
from funnelscope.stats.odds_ratio import (
    Table2x2,
    log_odds_interval,
    needs_exact_test,
    odds_ratio_test,
    smoothed_odds_ratio,
)
from funnelscope.store.sources import TableSource

from journeys import journeys, to_us

FUNNEL = parse_funnel({"name": "shop", "steps": ["view", "buy"], "window": "1h"})

PEOPLE: dict[str, list[tuple[Any, ...]]] = {
    # converts at 10:20: the coupon before counts, the help after conversion does not
    "alice": [
        ("plan_set", "2024-01-01 09:00", {"plan": "pro"}),
        ("view", "2024-01-01 10:00"),
        ("coupon", "2024-01-01 10:10", {"code": "A"}),
        ("buy", "2024-01-01 10:20"),
        ("help", "2024-01-01 10:30", {"topic": "billing"}),
    ],
    # drops: help within the window counts; the coupon 1 s after entry + 1h does not
    "bob": [
        ("view", "2024-01-01 10:00"),
        ("help", "2024-01-01 10:05", {"topic": "billing"}),
        ("coupon", "2024-01-01 11:00:01", {"code": "A"}),
    ],
    # converts; a coupon at the very entry time counts (the window is inclusive)
    "carol": [
        ("coupon", "2024-01-01 10:00", {"code": "B"}),
        ("view", "2024-01-01 10:00"),
        ("buy", "2024-01-01 10:30"),
        ("plan_set", "2024-01-02 09:00", {"plan": "pro"}),
    ],
    # drops; the coupon before the entry does not count; the later plan is the person's value
    "dan": [
        ("coupon", "2024-01-01 09:59", {"code": "A"}),
        ("plan_set", "2024-01-01 09:59", {"plan": "pro"}),
        ("view", "2024-01-01 10:00"),
        ("plan_set", "2024-01-01 12:00", {"plan": "free"}),
    ],
    # drops; help at exactly entry + window counts
    "erin": [
        ("view", "2024-01-01 10:00"),
        ("help", "2024-01-01 11:00", {"topic": "login"}),
    ],
    # never enters: none of this counts anywhere
    "frank": [("coupon", "2024-01-01 10:00", {"code": "A"}), ("buy", "2024-01-01 10:01")],
}


def run(engine: str = "kernel", **options: Any) -> CorrelationResult:
    with TableSource(journeys(PEOPLE)) as source:
        return correlate(FUNNEL, source, engine, CorrelationOptions(min_count=1, **options))


def items(result: CorrelationResult) -> dict[str, tuple[int, int, int, int]]:
    return {
        d.label: (d.converted_with, d.dropped_with, d.converted_without, d.dropped_without)
        for d in result.tested
    }


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_k1_k2_events_between_entry_and_conversion_or_window_end(engine: str) -> None:
    result = run(engine)
    assert (result.entered, result.converted, result.dropped) == (5, 2, 3)
    # coupon: alice, carol (at the entry time) converted; bob's after the window, dan's before
    # entry; help: alice's after her conversion does not count, bob's and erin's (at entry + W)
    assert items(result) == {"coupon": (2, 0, 0, 3), "help": (0, 2, 2, 1)}
    assert result.excluded_events == ("view", "buy")


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_k2_until_window_counts_events_after_conversion(engine: str) -> None:
    result = run(engine, until="window")
    assert items(result) == {"coupon": (2, 0, 0, 3), "help": (1, 2, 1, 1)}


def test_k3_step_events_left_out_unless_asked_and_extra_exclusions() -> None:
    with_steps = items(run(include_steps=True))
    assert with_steps["view"] == (2, 3, 0, 0)
    assert with_steps["buy"] == (2, 0, 0, 3)  # frank's buy: he never entered
    assert "coupon" not in items(run(exclude_events=("coupon",)))


def test_k4_odds_ratio_interval_p_values_and_bh_on_hand_counts() -> None:
    result = run()
    coupon, help_ = (next(d for d in result.tested if d.name == n) for n in ("coupon", "help"))
    # (a+1)(d+1) / ((b+1)(c+1))
    assert coupon.odds_ratio == 3 * 4 / (1 * 1) == 12.0
    assert help_.odds_ratio == 1 * 2 / (3 * 3)
    se = math.sqrt(1 / 3 + 1 / 1 + 1 / 1 + 1 / 4)
    assert coupon.ci_low == pytest.approx(12 * math.exp(-1.959963984540054 * se))
    assert coupon.ci_high == pytest.approx(12 * math.exp(1.959963984540054 * se))
    # small counts: Fisher's exact test; [[2,0],[0,3]] has p = 1/C(5,2); [[0,2],[2,1]] 0.3+0.1
    assert (coupon.test, help_.test) == ("fisher", "fisher")
    assert coupon.p_value == pytest.approx(0.1)
    assert help_.p_value == pytest.approx(0.4)
    assert coupon.p_adjusted == pytest.approx(0.2)  # BH: 0.1 * 2 / 1
    assert help_.p_adjusted == pytest.approx(0.4)
    assert not coupon.significant
    assert result.to_dict()["prior_count"] == 1


def test_k5_split_and_rank() -> None:
    result = run()
    assert [d.label for d in result.more_likely] == ["coupon"]
    assert [d.label for d in result.less_likely] == ["help"]
    assert [d.label for d in result.tested] == ["coupon", "help"]  # by adjusted p


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_k6_event_and_person_property_values(engine: str) -> None:
    result = run(engine, properties=("code", "topic"), person_properties=("plan",))
    got = items(result)
    # code read on the counted events only: A (alice), B (carol); bob's and dan's A do not count
    assert got["code = A"] == (1, 0, 1, 3)
    assert got["code = B"] == (1, 0, 1, 3)
    assert got["topic = billing"] == (0, 1, 2, 2)  # alice's billing came after her conversion
    assert got["topic = login"] == (0, 1, 2, 2)
    # person value: the latest event that carries it, whenever (carol's pro comes later, dan's
    # free replaces his pro); bob and erin have none
    assert got["person.plan = pro"] == (2, 0, 0, 3)
    assert got["person.plan = free"] == (0, 1, 2, 2)
    assert got["person.plan = (none)"] == (0, 2, 2, 1)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_k2_a_date_range_ends_entries_not_the_counted_events(engine: str) -> None:
    ranged = parse_funnel(
        {
            "name": "shop",
            "steps": ["view", "buy"],
            "window": "1h",
            "date_range": {"to": "2024-01-01T10:10:00Z"},
        }
    )
    options = CorrelationOptions(min_count=1, person_properties=("plan",))
    with TableSource(journeys(PEOPLE)) as source:
        got = items(correlate(ranged, source, engine, options))
    # erin's help at 11:00 is after `to` and still counts (as it could fill a step)
    assert got["help"] == (0, 2, 2, 1)
    # carol's pro (next day) and dan's free (12:00) are after the range: dan keeps his pro
    assert got["person.plan = pro"] == (1, 1, 1, 2)
    assert got["person.plan = (none)"] == (1, 2, 1, 1)


def test_k7_min_count_leaves_rare_items_untested() -> None:
    with TableSource(journeys(PEOPLE)) as source:
        result = correlate(FUNNEL, source, options=CorrelationOptions(min_count=3))
        default = correlate(FUNNEL, source)  # min(25, 2% of 5) -> 1
    assert result.tested == () and result.untested == 2 and result.min_count == 3
    assert default.min_count == 1 and len(default.tested) == 2


def test_k8_nobody_or_everybody_converted_tests_nothing() -> None:
    one_step = parse_funnel({"steps": ["view"], "window": "1h"})
    with TableSource(journeys(PEOPLE)) as source:
        result = correlate(one_step, source)
    assert result.entered == result.converted == 5
    assert result.tested == () and result.skewed
    assert "everybody who entered converted" in result.notes


def test_k9_counting_sessions_is_refused_and_breakdown_dropped() -> None:
    sessions = parse_funnel({"steps": ["view", "buy"], "count": "totals"})
    with TableSource(journeys(PEOPLE)) as source, pytest.raises(SpecError, match="persons"):
        correlate(sessions, source)
    broken = parse_funnel(
        {"steps": ["view", "buy"], "window": "1h", "breakdown": {"property": "code"}}
    )
    with TableSource(journeys(PEOPLE)) as source:
        result = correlate(broken, source, options=CorrelationOptions(min_count=1))
    assert items(result) == items(run()) and result.notes


# ---------------------------------------------------------------- the statistics


@given(st.tuples(*(st.integers(0, 60) for _ in range(4))))
def test_odds_ratio_test_matches_scipy(cells: tuple[int, int, int, int]) -> None:
    t = Table2x2(*cells)
    r = odds_ratio_test(t)
    a, b, c, d = cells
    assert r.odds_ratio == pytest.approx((a + 1) * (d + 1) / ((b + 1) * (c + 1)), rel=1e-12)
    assert r.low <= r.odds_ratio <= r.high
    if needs_exact_test(t):
        assert r.test == "fisher"
        assert r.p_value == pytest.approx(fisher_exact([[a, b], [c, d]]).pvalue, rel=1e-9)
    else:
        assert r.test == "chi2"
        expected = chi2_contingency([[a, b], [c, d]], correction=False).pvalue
        assert r.p_value == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_cochran_rule_and_interval_by_hand() -> None:
    assert not needs_exact_test(Table2x2(5, 5, 5, 5))  # every expected count exactly 5
    assert needs_exact_test(Table2x2(4, 5, 5, 5))  # 9 * 9 / 19 = 4.26
    assert not needs_exact_test(Table2x2(4, 10, 10, 10))  # 14 * 14 / 34 = 5.76
    assert needs_exact_test(Table2x2(5, 5, 0, 0))  # an empty row
    low, high = log_odds_interval(Table2x2(9, 4, 4, 9))
    se = math.sqrt(2 / 10 + 2 / 5)  # cells 9+1, 4+1, 4+1, 9+1
    assert smoothed_odds_ratio(Table2x2(9, 4, 4, 9)) == 100 / 25
    z = 1.959963984540054
    assert (low, high) == pytest.approx((4 * math.exp(-z * se), 4 * math.exp(z * se)))


# ---------------------------------------------------------------- random journeys


NAMES = ["a", "b", "c", "x", "y"]
row = st.tuples(
    st.integers(0, 5),  # person
    st.sampled_from(NAMES),
    st.integers(0, 20),  # second: ties and window edges are common
    st.sampled_from([None, "pro", "free"]),
    st.one_of(st.none(), st.integers(0, 2)),
    st.integers(0, 10_000),  # event id, unrelated to the listed order
)


def table_of(data: list[tuple[Any, ...]]) -> pa.Table:
    return pa.table(
        {
            "person_id": [f"p{p}" for p, *_ in data],
            "event_id": [f"{r[5]:05d}-{i}" for i, r in enumerate(data)],
            "event": [r[1] for r in data],
            "ts": pa.array([1_700_000_000_000_000 + r[2] * 1_000_000 for r in data], pa.int64()),
            "plan": pa.array([r[3] for r in data], pa.string()),
            "n": pa.array([r[4] for r in data], pa.int64()),
        }
    )


def oracle(
    funnel: Any, table: pa.Table, include_steps: bool, until: str
) -> dict[tuple[str, str, str | None], tuple[int, int]] | None:
    """Per item (kind, name, value): converted and dropped persons, by brute force over each
    person's events and the reference engine's best attempt. None: one side is empty."""
    outcomes = run_funnel(funnel, table, "reference").outcomes
    events = defaultdict(list)
    for r in table.to_pylist():
        events[r["person_id"]].append(r)
    n_steps, window = len(funnel.steps), funnel.window_seconds * 1_000_000
    steps = {s.event for s in funnel.steps}
    counts: dict[tuple[str, str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    sides = [0, 0]
    for o in outcomes:
        converted = o.reached == n_steps
        start = o.times_us[0]
        end = o.times_us[-1] if converted and until == "conversion" else start + window
        side = 0 if converted else 1
        sides[side] += 1
        seen: set[tuple[str, str, str | None]] = set()
        for e in events[o.person_id]:
            if start <= e["ts"] <= end and (include_steps or e["event"] not in steps):
                seen.add(("event", e["event"], None))
                for prop in ("plan", "n"):
                    if e[prop] is not None:
                        seen.add(("event_property", prop, text_form(e[prop])))
        latest = max(
            ((e["ts"], e["event_id"], e["plan"]) for e in events[o.person_id] if e["plan"]),
            default=None,
        )
        seen.add(("person_property", "plan", "(none)" if latest is None else latest[2]))
        for item in seen:
            counts[item][side] += 1
    if 0 in sides:
        return None
    return {k: (v[0], v[1]) for k, v in counts.items()}


@given(
    data=st.integers(1, 60).flatmap(lambda n: st.lists(row, min_size=n, max_size=n)),
    steps=st.lists(st.sampled_from(NAMES[:3]), min_size=1, max_size=3),
    order=st.sampled_from(["ordered", "strict", "any"]),
    window=st.integers(1, 12),
    include_steps=st.booleans(),
    until=st.sampled_from(["conversion", "window"]),
)
@settings(max_examples=2 * settings().max_examples, deadline=None)
def test_counts_match_a_brute_force_oracle_on_both_engines(
    data: list[tuple[Any, ...]],
    steps: list[str],
    order: str,
    window: int,
    include_steps: bool,
    until: str,
) -> None:
    funnel = parse_funnel({"steps": steps, "order": order, "window": f"{window}s"})
    table = table_of(data)
    expected = oracle(funnel, table, include_steps, until)
    options = CorrelationOptions(
        properties=("plan", "n"),
        person_properties=("plan",),
        include_steps=include_steps,
        until=until,
        min_count=1,
    )
    results = []
    for engine in ENGINE_NAMES:
        with TableSource(table) as source:
            result = correlate(funnel, source, engine, options)
        got = {(d.kind, d.name, d.value): (d.converted_with, d.dropped_with) for d in result.tested}
        assert got == (expected or {}), engine
        results.append(result)
        if result.tested:
            assert [d.p_adjusted for d in result.tested] == pytest.approx(
                list(false_discovery_control([d.p_value for d in result.tested]))
            )
            keys = [(d.p_adjusted, d.p_value) for d in result.tested]
            assert keys == sorted(keys)
    assert results[0].tested == results[1].tested


# ---------------------------------------------------------------- the command


def test_cli_json_csv_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "events.csv"
    rows = ["user,event,time_us,code"]
    for person, evs in PEOPLE.items():
        for e in evs:
            code = e[2].get("code", "") if len(e) > 2 else ""
            rows.append(f"{person},{e[0]},{to_us(e[1])},{code}")
    data.write_text("\n".join(rows) + "\n")
    spec = tmp_path / "shop.yaml"
    spec.write_text("name: shop\nsteps: [view, buy]\nwindow: 1h\n")
    db = str(tmp_path / "store.duckdb")
    mapping = ["--person-col", "user", "--time-col", "time_us", "--time-unit", "us"]
    assert main(["ingest", str(data), "--db", db, *mapping]) == 0
    capsys.readouterr()
    args = ["correlate", str(spec), "--db", db, "--min-count", "1", "--properties", "code"]
    assert main([*args, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["entered"], out["converted"], out["dropped"]) == (5, 2, 3)
    more = {d["name"] + (f"={d['value']}" if d["value"] else ""): d for d in out["more_likely"]}
    assert more["coupon"]["odds_ratio"] == 12.0
    assert (more["coupon"]["converted_with"], more["coupon"]["dropped_with"]) == (2, 0)
    assert more["code=A"]["converted_with"] == 1 and more["code=A"]["dropped_with"] == 0
    assert [d["name"] for d in out["less_likely"]] == ["help"]
    assert out["excluded_events"] == ["view", "buy"] and out["tested"] == 4
    # the same from the file itself, through a store in memory
    from_file = ["correlate", str(spec), "--events", str(data), *mapping, *args[4:]]
    assert main([*from_file, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["more_likely"] == out["more_likely"]
    assert main([*args, "--format", "csv", "--top", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("rank,kind,name,value,direction,converted_with")
    assert len(lines) == 3 and lines[1].startswith("1,event,coupon,,more,2,0,0,3")
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "More likely to convert" in table and "coupon" in table and "12" in table
