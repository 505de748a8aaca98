"""The clickhouse engine against hand-made journeys and the reference, feature by feature.

It is in BACKENDS, so every scenario test (tests/conftest.py's ``run``) and the agreement
suites run it as well; these tests call its compile/execute directly over a ClickHouseSource.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_engine_agreement as agreement
from funnelscope.engines import clickhouse, reference
from funnelscope.engines.clickhouse import ClickHouseSource
from funnelscope.errors import EngineError
from funnelscope.model.results import Outcomes
from funnelscope.model.spec import Funnel, parse_funnel
from funnelscope.store.sources import TableSource

from journeys import date_ranges, journeys, to_us

NAMES = ["a", "b", "c", "d", "x"]
BASE_US = 1_704_067_200 * 1_000_000  # 2024-01-01


def on_clickhouse(funnel: Funnel, table: pa.Table) -> Outcomes:
    with ClickHouseSource.from_table(table) as source:
        return clickhouse.execute(clickhouse.compile(funnel, source), source)


def on_clickhouse_every_branch(funnel: Funnel, table: pa.Table) -> Outcomes:
    """With short-circuit evaluation off, ClickHouse evaluates both branches of every if on
    every row: no expression of the query may fail on values its branch never takes."""
    with ClickHouseSource.from_table(table) as source:
        plan = clickhouse.compile(funnel, source)
        sql = plan.sql + "\nSETTINGS short_circuit_function_evaluation = 'disable'"
        return clickhouse.execute(dataclasses.replace(plan, sql=sql), source)


def on_reference(funnel: Funnel, table: pa.Table) -> Outcomes:
    with TableSource(table) as source:
        return reference.execute(reference.compile(funnel, source), source)


def reached(outcomes: Outcomes) -> dict[str, int]:
    return {o.person_id: o.reached for o in outcomes}


def counts(outcomes: Outcomes, n_steps: int) -> list[int]:
    return [sum(1 for o in outcomes if o.reached >= k) for k in range(1, n_steps + 1)]


def at(clock: str) -> str:
    return f"2024-01-01 {clock}"


HAND_MADE = journeys(
    {
        "done": [("a", at("10:00")), ("b", at("10:01")), ("c", at("10:02"))],
        "gap": [("a", at("10:00")), ("x", at("10:01")), ("b", at("10:02"))],
        # [S9]: b ties with the entry and is listed (id) before it: still in order
        "tie": [("b", at("10:00")), ("a", at("10:00"))],
        # [S8]: c one second after the hour from the entry
        "late": [("a", at("10:00")), ("b", at("10:30")), ("c", at("11:00:01"))],
        # [S10]: the second entry reaches further
        "again": [("a", at("08:00")), ("a", at("10:00")), ("b", at("10:10")),
                  ("c", at("10:20"))],
        # out of order: only any counts c before b
        "reverse": [("a", at("10:00")), ("c", at("10:01")), ("b", at("10:02"))],
        "none": [("x", at("10:00")), ("b", at("10:01"))],
    }
)  # fmt: skip


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("ordered", {"done": 3, "gap": 2, "tie": 2, "late": 2, "again": 3, "reverse": 2}),
        ("strict", {"done": 3, "gap": 1, "tie": 2, "late": 2, "again": 3, "reverse": 1}),
        # any: "none"'s b enters (any step), "tie" does a and b
        ("any", {"done": 3, "gap": 2, "tie": 2, "late": 2, "again": 3, "reverse": 3, "none": 1}),
    ],
)
def test_hand_made_journeys(order: str, expected: dict[str, int]) -> None:
    funnel = parse_funnel({"steps": ["a", "b", "c"], "order": order, "window": "1h"})
    outcomes = on_clickhouse(funnel, HAND_MADE)
    assert reached(outcomes) == expected
    assert list(outcomes) == list(on_reference(funnel, HAND_MADE))


def test_step_times_come_from_the_best_attempt() -> None:
    funnel = parse_funnel({"steps": ["a", "b", "c"], "window": "1h"})
    again = next(o for o in on_clickhouse(funnel, HAND_MADE) if o.person_id == "again")
    hour = 3600 * 1_000_000
    start = BASE_US + 10 * hour
    assert again.times_us == (start, start + 600 * 1_000_000, start + 1200 * 1_000_000)


def test_repeated_step_names_need_their_own_events() -> None:
    """[S5]: view -> view needs two views; under any too."""
    table = journeys({"one": [("v", at("10:00"))], "two": [("v", at("10:00")), ("v", at("10:00"))]})
    for order in ("ordered", "strict", "any"):
        funnel = parse_funnel({"steps": ["v", "v"], "order": order})
        assert reached(on_clickhouse(funnel, table)) == {"one": 1, "two": 2}


@pytest.mark.parametrize(("within", "expected"), [("10m", 2), ("15m", 3)])
def test_a_steps_within_counts_from_the_step_before(within: str, expected: int) -> None:
    """[W1]: c 15 minutes after b."""
    table = journeys({"p": [("a", at("10:00")), ("b", at("10:05")), ("c", at("10:20"))]})
    funnel = parse_funnel({"steps": ["a", "b", {"event": "c", "within": within}], "window": "1h"})
    assert reached(on_clickhouse(funnel, table)) == {"p": expected}


def test_a_date_range_says_when_attempts_may_start() -> None:
    """[R1]-[R3]: "early" enters only before the range, "late" after it; "inside" enters on
    the last day and converts on the next; the a before the range is no data for "both"."""
    table = pa.concat_tables(
        [
            journeys({"early": [("a", "2023-12-31 23:59"), ("b", "2024-01-01 00:01")]}),
            journeys({"late": [("a", "2024-01-02 00:00"), ("b", "2024-01-02 00:01")]}),
            journeys({"inside": [("a", "2024-01-01 23:59"), ("b", "2024-01-02 00:01")]}),
            journeys({"both": [("a", "2023-12-31 23:59"), ("a", "2024-01-01 10:00")]}),
        ]
    )
    funnel = parse_funnel(
        {"steps": ["a", "b"], "date_range": {"from": "2024-01-01", "to": "2024-01-01"}}
    )
    assert reached(on_clickhouse(funnel, table)) == {"inside": 2, "both": 1}
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))


def test_nobody_entered() -> None:
    funnel = parse_funnel({"steps": ["a", "b"]})
    table = journeys({"p": [("x", "2024-01-01 10:00")]})
    assert len(on_clickhouse(funnel, table)) == 0


HOSTILE = [
    "'); DROP TABLE funnelscope_events_0; --",
    "it's",
    'say "hi"',
    "back\\slash",
    "\\",
    "tab\tand\nnewline",
    "{e0:String}",
    "\\N",
    "ünïcödé",
    "",
]


def test_hostile_event_names_are_data() -> None:
    """Quotes, backslashes, placeholders and SQL in names reach ClickHouse as parameters: each
    name is its own event, matched exactly; the table is still there afterwards."""
    steps = HOSTILE[:3]
    table = journeys(
        {f"p{i}": [(name, "2024-01-01 10:00"), (steps[1], "2024-01-01 10:01")]
         for i, name in enumerate(HOSTILE)}
    )  # fmt: skip
    for first in HOSTILE[:-1]:  # a step must name its event; "" is only data
        funnel = parse_funnel({"steps": [first, "it's"]})
        outcomes = on_clickhouse(funnel, table)
        assert list(outcomes) == list(on_reference(funnel, table)), first
        # everyone's second event is "it's": all enter [it's, it's], the person with two does it
        assert counts(outcomes, 2) == ([len(HOSTILE), 1] if first == "it's" else [1, 1])
    with ClickHouseSource.from_table(table) as source:
        plan = clickhouse.compile(parse_funnel({"steps": HOSTILE[:2]}), source)
        for name in HOSTILE[:2]:
            assert name not in plan.sql
        clickhouse.execute(plan, source)
        total = source.query(f"SELECT count() AS n FROM {source.table_name}")
        assert total.column("n").to_pylist() == [table.num_rows]


def test_a_source_other_than_clickhouse_is_refused() -> None:
    with TableSource(HAND_MADE) as source, pytest.raises(EngineError, match="ClickHouse source"):
        clickhouse.compile(parse_funnel({"steps": ["a", "b"]}), source)


def test_explain_shows_the_sql_and_its_parameters() -> None:
    with ClickHouseSource() as source:
        funnel = parse_funnel({"steps": ["a", "b"], "order": "strict"})
        text = clickhouse.explain(clickhouse.compile(funnel, source), source)
    assert "arrayFold" in text and "{e0:String}" in text and "e1 = 'b'" in text


row = st.tuples(
    st.integers(0, 3),  # person
    st.sampled_from(NAMES[:3] * 3 + NAMES[3:]),
    st.integers(0, 15),  # second: ties and window edges are common
    st.integers(0, 10_000),  # event id, unrelated to the listed order
)
rows = st.integers(1, 60).flatmap(lambda n: st.lists(row, min_size=n, max_size=n))


def table_of(data: list[tuple[int, str, int, int]]) -> pa.Table:
    return pa.table(
        {
            "person_id": [f"p{p}" for p, *_ in data],
            "event_id": [f"id{i:05d}-{n}" for n, (*_, i) in enumerate(data)],
            "event": [e for _, e, *_ in data],
            "ts": pa.array([BASE_US + s * 1_000_000 for _, _, s, _ in data], pa.int64()),
        }
    )


@st.composite
def plain_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Step names, order, window; now and then a step's within ([W1], not under any) and a
    date range ([R1]-[R3])."""
    n_steps = draw(st.one_of(st.integers(2, 4), st.integers(2, 20)))
    order = draw(st.sampled_from(["ordered", "strict", "any"]))
    steps: list[dict[str, Any]] = []
    for k in range(n_steps):
        step: dict[str, Any] = {"event": draw(st.sampled_from(NAMES[:3]))}
        if k > 0 and order != "any" and draw(st.integers(0, 3)) == 0:
            step["within"] = f"{draw(st.integers(1, 6))}s"
        steps.append(step)
    spec: dict[str, Any] = {
        "steps": steps,
        "order": order,
        "window": f"{draw(st.integers(1, 12))}s",
    }
    if draw(st.integers(0, 3)) == 0:
        spec["date_range"] = draw(date_ranges())
    return spec


@settings(
    max_examples=2 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=plain_specs(), data=rows)
def test_random_plain_journeys_agree_with_reference(
    spec: dict[str, Any], data: list[tuple[int, str, int, int]]
) -> None:
    funnel = parse_funnel(spec)
    table = table_of(data)
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))


@st.composite
def filtered_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Ordered and strict funnels with the agreement suite's event-scope filters on a step in
    two and now and then on the whole funnel ([S4], [F1]-[F5])."""
    spec = draw(plain_specs())
    spec["order"] = draw(st.sampled_from(["ordered", "strict"]))
    for step in spec["steps"]:
        if draw(st.integers(0, 1)) == 0:
            step["where"] = draw(st.lists(agreement.filters, min_size=1, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        spec["where"] = [draw(agreement.filters)]
    return spec


@settings(
    max_examples=2 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=filtered_specs(), data=agreement.rows)
def test_random_filtered_journeys_agree_with_reference(
    spec: dict[str, Any], data: list[tuple[Any, ...]]
) -> None:
    funnel = parse_funnel(spec)
    table = agreement.table_of(data)
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))


def test_filters_on_every_kind_of_column() -> None:
    """[F1]-[F4] by hand: text, integers, doubles (-0.0 apart from 0.0 as text) and booleans."""
    table = pa.table(
        {
            "person_id": [f"u{i}" for i in range(6) for _ in range(2)],
            "event_id": [f"{i}-{k}" for i in range(6) for k in range(2)],
            "event": ["a", "b"] * 6,
            "ts": pa.array([BASE_US + k * 10**6 for _ in range(6) for k in range(2)], pa.int64()),
            "plan": [v for v in ["pro", "Pro", "5", None, "it's", "pro"] for _ in range(2)],
            "n": pa.array([v for v in [1, 2, 3, None, 5, 2] for _ in range(2)], pa.int64()),
            "price": [v for v in [0.0, -0.0, 1.5, None, 5.0, 2.0] for _ in range(2)],
            "flag": [v for v in [True, False, None, True, False, True] for _ in range(2)],
        }
    )
    cases = [
        ({"property": "plan", "op": "eq", "value": "pro"}, 2),
        ({"property": "plan", "op": "eq", "value": 5}, 1),
        ({"property": "plan", "op": "in", "value": ["it's", "Pro"]}, 2),
        ({"property": "plan", "op": "not_contains", "value": "PRO"}, 3),
        ({"property": "n", "op": "gte", "value": 2}, 4),
        ({"property": "n", "op": "neq", "value": 2.0}, 4),
        ({"property": "price", "op": "contains", "value": "-"}, 1),
        ({"property": "price", "op": "eq", "value": 0}, 2),
        ({"property": "price", "op": "lt", "value": "1.5"}, 2),
        ({"property": "flag", "op": "eq", "value": "TRUE"}, 3),
        ({"property": "flag", "op": "is_not_set"}, 1),
        ({"property": "nowhere", "op": "neq", "value": 1}, 6),
    ]
    for f, expected in cases:
        funnel = parse_funnel({"steps": ["a", {"event": "b", "where": [f]}]})
        outcomes = on_clickhouse(funnel, table)
        assert counts(outcomes, 2) == [6, expected], f
        assert list(outcomes) == list(on_reference(funnel, table)), f


def test_a_hostile_filter_value_is_data() -> None:
    table = journeys(
        {
            f"p{i}": [("a", at("10:00"), {"plan": value}), ("b", at("10:01"), {"plan": value})]
            for i, value in enumerate(HOSTILE)
        }
    )
    for value in HOSTILE:
        f = {"property": "plan", "op": "eq", "value": value}
        funnel = parse_funnel({"steps": ["a", {"event": "b", "where": [f]}]})
        assert counts(on_clickhouse(funnel, table), 2) == [len(HOSTILE), 1], value


@st.composite
def held_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Plain specs (any order included) holding one or two properties of every type ([H1]),
    now and then with a filter on the whole funnel too."""
    spec = draw(plain_specs())
    spec["hold_constant"] = draw(
        st.lists(st.sampled_from(["plan", "n", "price", "flag", "nowhere"]), min_size=1,
                 max_size=2, unique=True)
    )  # fmt: skip
    if draw(st.integers(0, 2)) == 0:
        spec["where"] = [draw(agreement.filters)]
    return spec


@settings(
    max_examples=2 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=held_specs(), data=agreement.rows)
def test_random_held_journeys_agree_with_reference(
    spec: dict[str, Any], data: list[tuple[Any, ...]]
) -> None:
    funnel = parse_funnel(spec)
    table = agreement.table_of(data)
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))


@pytest.mark.parametrize("order", ["ordered", "strict", "any"])
def test_held_values_compare_as_stored(order: str) -> None:
    """[H2]: not set matches only not set, -0.0 is 0.0, every NaN is one value, 1 is not 1.5."""
    pairs = [(0.0, -0.0), (float("nan"), float("nan")), (None, None), (1.0, 1.5), (None, 0.0)]
    table = pa.table(
        {
            "person_id": [f"u{i}" for i in range(len(pairs)) for _ in range(2)],
            "event_id": [f"{i}-{k}" for i in range(len(pairs)) for k in range(2)],
            "event": ["a", "b"] * len(pairs),
            "ts": pa.array([BASE_US + k for _ in pairs for k in range(2)], pa.int64()),
            "price": pa.array([v for pair in pairs for v in pair], pa.float64()),
        }
    )
    funnel = parse_funnel({"steps": ["a", "b"], "order": order, "hold_constant": ["price"]})
    outcomes = on_clickhouse(funnel, table)
    assert counts(outcomes, 2) == [len(pairs), 3]
    assert list(outcomes) == list(on_reference(funnel, table))


@st.composite
def excluded_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Ordered and strict funnels with one to three exclusions between random steps, their
    own filters now and then, with filters and held values now and then ([X1]-[X2])."""
    spec = draw(plain_specs())
    spec["order"] = draw(st.sampled_from(["ordered", "strict"]))
    n = len(spec["steps"])
    exclusions = []
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(1, n - 1))
        j = draw(st.integers(i + 1, n))
        exclusion: dict[str, Any] = {"event": draw(st.sampled_from(NAMES)), "between": [i, j]}
        if draw(st.integers(0, 2)) == 0:
            exclusion["where"] = [draw(agreement.filters)]
        exclusions.append(exclusion)
    spec["exclusions"] = exclusions
    if draw(st.integers(0, 3)) == 0:
        spec["where"] = [draw(agreement.filters)]
    if draw(st.integers(0, 3)) == 0:
        spec["hold_constant"] = [draw(st.sampled_from(["plan", "n"]))]
    return spec


@settings(
    max_examples=2 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=excluded_specs(), data=agreement.rows)
def test_random_excluded_journeys_agree_with_reference(
    spec: dict[str, Any], data: list[tuple[Any, ...]]
) -> None:
    funnel = parse_funnel(spec)
    table = agreement.table_of(data)
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))


@pytest.mark.parametrize(
    ("journey", "expected"),
    [
        ([("a", "10:00"), ("x", "10:01"), ("b", "10:02"), ("c", "10:03")], 1),  # [X2]
        ([("a", "10:00"), ("b", "10:02"), ("x", "10:02:30"), ("c", "10:03")], 3),  # after j
        ([("a", "10:00"), ("x", "10:00"), ("b", "10:02"), ("c", "10:03")], 3),  # equal times
        ([("a", "10:00"), ("x", "10:01"), ("a", "10:01:30"), ("b", "10:02")], 2),  # [X3]
        ([("a", "10:00"), ("x", "10:30")], 1),  # no b: up to its last moment
        ([("a", "10:00"), ("x", "11:30")], 1),  # after the window: nothing to end
    ],
)
def test_an_excluded_event_ends_the_attempts_it_falls_inside(
    journey: list[tuple[str, str]], expected: int
) -> None:
    table = journeys({"p": [(name, at(clock)) for name, clock in journey]})
    funnel = parse_funnel(
        {
            "steps": ["a", "b", "c"],
            "window": "1h",
            "exclusions": [{"event": "x", "between": [1, 2]}],
        }
    )
    assert reached(on_clickhouse(funnel, table)) == {"p": expected}
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))


@st.composite
def optional_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Ordered funnels of 3+ steps with optional middle steps ([O1]-[O4]), now and then with
    exclusions, filters, held values, per-step limits and date ranges."""
    spec = draw(excluded_specs()) if draw(st.booleans()) else draw(plain_specs())
    spec["order"] = "ordered"
    steps = spec["steps"]
    if len(steps) < 3:
        steps.append({"event": draw(st.sampled_from(NAMES[:3]))})
    for step in steps[1:-1]:
        if draw(st.integers(0, 2)) == 0:
            step["optional"] = True
    if not any(step.get("optional") for step in steps):
        steps[1]["optional"] = True
    return spec


@settings(
    max_examples=2 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=optional_specs(), data=agreement.rows)
def test_random_optional_journeys_agree_with_reference(
    spec: dict[str, Any], data: list[tuple[Any, ...]]
) -> None:
    funnel = parse_funnel(spec)
    table = agreement.table_of(data)
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))


@pytest.mark.parametrize(
    ("journey", "times"),
    [
        ([("a", "10:00"), ("b", "10:01"), ("c", "10:02")], ("10:00", "10:01", "10:02")),
        ([("a", "10:00"), ("c", "10:02")], ("10:00", None, "10:02")),  # [O2] skipped
        ([("a", "10:00"), ("c", "10:01"), ("b", "10:02")], ("10:00", None, "10:01")),  # b late
        ([("a", "10:00"), ("b", "10:01")], ("10:00", "10:01")),  # did it, then dropped
    ],
)
def test_an_optional_step_may_be_skipped(
    journey: list[tuple[str, str]], times: tuple[str | None, ...]
) -> None:
    table = journeys({"p": [(name, at(clock)) for name, clock in journey]})
    funnel = parse_funnel({"steps": ["a", {"event": "b", "optional": True}, "c"], "window": "1h"})
    (outcome,) = on_clickhouse(funnel, table)
    assert outcome.times_us == tuple(None if t is None else to_us(at(t)) for t in times)
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))


PRO = {"property": "plan", "op": "eq", "value": "pro"}
N_AT_LEAST_2 = {"property": "n", "op": "gte", "value": 2}
N_AT_MOST_3 = {"property": "n", "op": "lte", "value": 3}


@pytest.mark.parametrize(
    ("steps", "journey", "clocks"),
    [
        # pro fits both steps, free only the first: taking the first step for pro (what the
        # first free step of its mask gives) leaves free nothing; a matching moves pro on
        (
            ["a", {"event": "a", "where": [PRO]}],
            [({"plan": "pro"}, "10:00"), ({"plan": "free"}, "10:01")],
            ("10:00", "10:01"),
        ),
        # a path of two moves: the first event fits every step, the second only the first,
        # the third only the second; each later one pushes the first event one step on
        (
            [{"event": "a", "where": [PRO]}, {"event": "a", "where": [N_AT_LEAST_2]},
             {"event": "a", "where": [N_AT_MOST_3]}],
            [({"plan": "pro", "n": 2}, "10:00"), ({"plan": "pro"}, "10:01"),
             ({"plan": "free", "n": 4}, "10:02")],
            ("10:00", "10:01", "10:02"),
        ),
        # no path for the third event: it fits only the first step, held by the second event,
        # which fits nothing else; the fourth fits only the second step and moves the first
        (
            [{"event": "a", "where": [PRO]}, {"event": "a", "where": [N_AT_LEAST_2]},
             {"event": "a", "where": [N_AT_MOST_3]}],
            [({"plan": "pro", "n": 2}, "10:00"), ({"plan": "pro"}, "10:01"),
             ({"plan": "pro"}, "10:02"), ({"plan": "free", "n": 9}, "10:03")],
            ("10:00", "10:01", "10:03"),
        ),
        # a long path with no free end: the fourth event's step is held by the first event,
        # which could move to the second's, which could move to the third's, which fits only
        # its own; b stays free but no a event fits it. The search ends empty, and (every
        # branch evaluated) walking back from "no free step" must not fail the query
        (
            [{"event": "a", "where": [PRO]}, {"event": "a", "where": [N_AT_LEAST_2]},
             {"event": "a", "where": [N_AT_MOST_3]}, "b"],
            [({"plan": "pro", "n": 5}, "10:00"), ({"plan": "free", "n": 2}, "10:01"),
             ({"plan": "free", "n": 1}, "10:02"), ({"plan": "pro"}, "10:03")],
            ("10:00", "10:01", "10:02"),
        ),
        # a and b steps mixed: b only fills its own step; a free a has only the plain a step,
        # which the pro a took first; the pro a moves to the filtered step when free a comes
        (
            ["a", "b", {"event": "a", "where": [PRO]}],
            [({"plan": "pro"}, "10:00"), ({"plan": "free"}, "10:05"), ({}, "10:10", "b")],
            ("10:00", "10:05", "10:10"),
        ),
    ],
)  # fmt: skip
def test_any_order_assigns_steps_by_maximum_matching(
    steps: list[Any], journey: list[tuple[Any, ...]], clocks: tuple[str, ...]
) -> None:
    """[S15] with filters: events of one name fill different steps, so taking a free step of
    each event as it comes is not enough; the k-th step's time is when the matching grew."""
    events = [(item[2] if len(item) > 2 else "a", at(item[1]), item[0]) for item in journey]
    table = journeys({"p": events})
    funnel = parse_funnel({"steps": steps, "order": "any", "window": "1h"})
    (outcome,) = on_clickhouse(funnel, table)
    assert outcome.times_us == tuple(to_us(at(clock)) for clock in clocks)
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))
    assert list(on_clickhouse_every_branch(funnel, table)) == list(on_clickhouse(funnel, table))


@st.composite
def any_specs(draw: st.DrawFn) -> dict[str, Any]:
    """order: any with 2 to 8 steps, mostly of one or two names so steps overlap, each with
    the agreement suite's filters one time in two ([S14]-[S15]); now and then a filter on the
    whole funnel, held values ([H1]) and a date range."""
    names = draw(st.sampled_from([["a"], ["a", "b"], NAMES[:3]]))
    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(2, 8))):
        step: dict[str, Any] = {"event": draw(st.sampled_from(names))}
        if draw(st.booleans()):
            step["where"] = draw(st.lists(agreement.filters, min_size=1, max_size=2))
        steps.append(step)
    spec: dict[str, Any] = {
        "steps": steps,
        "order": "any",
        "window": f"{draw(st.integers(1, 12))}s",
    }
    if draw(st.integers(0, 3)) == 0:
        spec["where"] = [draw(agreement.filters)]
    if draw(st.integers(0, 3)) == 0:
        spec["hold_constant"] = [draw(st.sampled_from(["plan", "n", "flag"]))]
    if draw(st.integers(0, 4)) == 0:
        spec["date_range"] = draw(date_ranges())
    return spec


@settings(
    max_examples=3 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=any_specs(), data=agreement.rows)
def test_random_any_order_journeys_with_filters_agree_with_reference(
    spec: dict[str, Any], data: list[tuple[Any, ...]]
) -> None:
    """Per person: steps reached and the time of each ([S15])."""
    funnel = parse_funnel(spec)
    table = agreement.table_of(data)
    expected = list(on_reference(funnel, table))
    assert list(on_clickhouse(funnel, table)) == expected
    assert list(on_clickhouse_every_branch(funnel, table)) == expected


@settings(
    max_examples=2 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    steps=agreement.overlapping_steps,
    window=st.integers(1, 3),
    held=st.booleans(),
    data=agreement.tied_rows,
)
def test_random_overlapping_any_order_steps_agree_with_reference(
    steps: list[dict[str, Any]], window: int, held: bool, data: list[tuple[Any, ...]]
) -> None:
    """One event name, its steps told apart by filters, and mostly tied times."""
    spec: dict[str, Any] = {"steps": steps, "order": "any", "window": f"{window}s"}
    if held:
        spec["hold_constant"] = ["n"]
    funnel = parse_funnel(spec)
    table = agreement.table_of(data)
    expected = list(on_reference(funnel, table))
    assert list(on_clickhouse(funnel, table)) == expected
    assert list(on_clickhouse_every_branch(funnel, table)) == expected


@st.composite
def session_specs(draw: st.DrawFn) -> dict[str, Any]:
    """count: sessions with sessions cut by a gap ([C2], [C4]), over any of the other specs."""
    kind = draw(
        st.sampled_from([plain_specs, held_specs, excluded_specs, optional_specs, any_specs])
    )
    spec = draw(kind())
    spec["count"] = "sessions"
    spec["session_gap"] = f"{draw(st.integers(1, 5))}s"
    return spec


@settings(
    max_examples=2 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=session_specs(), data=agreement.rows)
def test_random_session_journeys_agree_with_reference(
    spec: dict[str, Any], data: list[tuple[Any, ...]]
) -> None:
    funnel = parse_funnel(spec)
    table = agreement.table_of(data)
    assert list(on_clickhouse(funnel, table)) == list(on_reference(funnel, table))


def test_sessions_cut_by_a_gap_count_each_once() -> None:
    """[C2]: x at 10:20 continues the first session (any event does); the gap before 11:00 starts
    a second one, which converts; the first ends with only a."""
    table = journeys(
        {"p": [("a", at("10:00")), ("x", at("10:20")), ("b", at("10:40")), ("a", at("11:30")),
               ("b", at("11:31"))]}
    )  # fmt: skip
    spec = {"steps": ["a", "b"], "window": "1h", "count": "sessions", "session_gap": "30m"}
    outcomes = on_clickhouse(parse_funnel(spec), table)
    assert sorted(o.reached for o in outcomes) == [2, 2]
    assert list(outcomes) == list(on_reference(parse_funnel(spec), table))
