"""Every engine against the reference on random journeys: zero differences allowed.

Journeys are drawn so the hard cases are common: second-granular times in a short span (ties and
window edges), event ids that disagree with the listed order, repeated step names, overlapping
step definitions (the same event with different filters), filters of every kind (on the event's
value or the person's), date ranges, and all three order modes with 2 to 20 steps.
"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelscope.analyses.funnel import run_funnel
from funnelscope.engines import ENGINE_NAMES
from funnelscope.model.results import FunnelResult
from funnelscope.model.spec import Funnel, parse_funnel
from funnelscope.store.sources import TableSource

from journeys import date_ranges

FAST_ENGINES = [name for name in ENGINE_NAMES if name != "reference"]
NAMES = ["a", "b", "c", "d", "x"]
PLANS = ["free", "pro", "Pro", "5", None]
BASE_US = 1_704_067_200 * 1_000_000  # 2024-01-01

filters = st.one_of(
    st.fixed_dictionaries(  # a DOUBLE column: numbers and numeric text against floats
        {
            "property": st.just("price"),
            "op": st.sampled_from(["eq", "neq", "gt", "lte", "in", "contains"]),
            "value": st.sampled_from([1, 1.5, "1.0", "2", 0]),
        }
    ).map(lambda f: {**f, "value": [f["value"]]} if f["op"] == "in" else f),
    st.fixed_dictionaries(  # a BOOLEAN column
        {
            "property": st.just("flag"),
            "op": st.sampled_from(["eq", "neq"]),
            "value": st.sampled_from([True, False, "true", "FALSE", 1]),
        }
    ),
    st.fixed_dictionaries(
        {
            "property": st.just("plan"),
            "op": st.sampled_from(["eq", "neq"]),
            "value": st.sampled_from(["pro", "free", 5]),
        }
    ),
    st.fixed_dictionaries(
        {
            "property": st.just("plan"),
            "op": st.sampled_from(["in", "not_in"]),
            "value": st.just(["pro", "Pro"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "property": st.just("plan"),
            "op": st.sampled_from(["contains", "not_contains"]),
            "value": st.just("PRO"),
        }
    ),
    st.fixed_dictionaries(
        {
            "property": st.just("n"),
            "op": st.sampled_from(["gt", "gte", "lt", "lte", "eq", "neq"]),
            "value": st.integers(0, 4),
        }
    ),
    st.fixed_dictionaries(
        {
            "property": st.just("n"),
            "op": st.sampled_from(["gt", "lte"]),
            "value": st.sampled_from([1.5, 2.0]),
        }
    ),
    st.fixed_dictionaries(
        {
            "property": st.sampled_from(["plan", "n", "nowhere"]),
            "op": st.sampled_from(["is_set", "is_not_set"]),
        }
    ),
)


@st.composite
def scoped_filters(draw: st.DrawFn) -> dict[str, Any]:
    """A filter on the event's value, or one time in four on the person's ([P1])."""
    f: dict[str, Any] = draw(filters)
    return {**f, "scope": "person"} if draw(st.integers(0, 3)) == 0 else f


@st.composite
def step_dicts(draw: st.DrawFn) -> dict[str, Any]:
    step: dict[str, Any] = {"event": draw(st.sampled_from(NAMES[:3]))}
    if draw(st.integers(0, 3)) == 0:  # a filter on one step in four
        step["where"] = draw(st.lists(scoped_filters(), min_size=1, max_size=2))
    return step


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    n_steps = draw(st.one_of(st.integers(2, 4), st.integers(2, 20)))
    spec: dict[str, Any] = {
        "steps": [draw(step_dicts()) for _ in range(n_steps)],
        "order": draw(st.sampled_from(["ordered", "strict", "any"])),
        "window": f"{draw(st.integers(1, 12))}s",
    }
    if draw(st.integers(0, 4)) == 0:
        spec["where"] = [draw(scoped_filters())]
    if draw(st.integers(0, 3)) == 0:
        spec["date_range"] = draw(date_ranges())
    return spec


row = st.tuples(
    st.integers(0, 3),  # person
    st.sampled_from(NAMES[:3] * 3 + NAMES[3:]),
    st.integers(0, 15),  # second: ties and window edges are common
    st.sampled_from(PLANS),
    st.one_of(st.none(), st.integers(0, 4)),
    st.integers(0, 10_000),  # event id, unrelated to the listed order
)
rows = st.integers(1, 60).flatmap(lambda n: st.lists(row, min_size=n, max_size=n))


def table_of(data: list[tuple[Any, ...]]) -> pa.Table:
    return pa.table(
        {
            "person_id": [f"p{p}" for p, *_ in data],
            "event_id": [f"id{i:05d}-{n}" for n, (*_, i) in enumerate(data)],
            "event": [e for _, e, *_ in data],
            "ts": pa.array([BASE_US + s * 1_000_000 for _, _, s, *_ in data], pa.int64()),
            "plan": pa.array([plan for *_, plan, _, _ in data], pa.string()),
            "n": pa.array([n for *_, n, _ in data], pa.int64()),
            "price": pa.array([None if n is None else n / 2 for *_, n, _ in data], pa.float64()),
            "flag": pa.array([None if n is None else n % 2 == 0 for *_, n, _ in data], pa.bool_()),
        }
    )


def computed(
    engine: str, funnel: Funnel, table: pa.Table, integer_persons: bool = True
) -> FunnelResult:
    return run_funnel(funnel, TableSource(table, integer_persons), engine)


def assert_same(engine: str, funnel: Funnel, table: pa.Table) -> None:
    """Identical results, with persons as integer keys (grouped by the kernel, as from the
    store) and as text (sorted by the scan, as from Parquet files with text ids)."""
    expected = computed("reference", funnel, table)
    for integer_persons in (True, False):
        result = computed(engine, funnel, table, integer_persons)
        assert [s.to_dict() for s in result.steps] == [s.to_dict() for s in expected.steps]
        assert list(result.outcomes) == list(expected.outcomes)
        for k in range(2, len(funnel.steps) + 1):
            assert result.people(k, "dropped") == expected.people(k, "dropped")


@pytest.mark.parametrize("engine", FAST_ENGINES)
@settings(
    max_examples=4 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=specs(), data=rows)
def test_random_journeys_agree_with_reference(
    engine: str, spec: dict[str, Any], data: list[tuple[Any, ...]]
) -> None:
    assert_same(engine, parse_funnel(spec), table_of(data))


def thousands_of_persons(seed: int, persons: int) -> pa.Table:
    """A seeded log: persons with 1-30 events over ~2 hours, rows not grouped by person."""
    rng = random.Random(seed)
    data = []
    for person in range(persons):
        start = rng.randrange(0, 3600)
        for _ in range(rng.randint(1, 30)):
            data.append(
                (
                    person,
                    rng.choice(NAMES),
                    start + rng.randrange(0, 1800),
                    rng.choice(PLANS),
                    rng.choice([None, 0, 1, 2, 3, 4]),
                    rng.randrange(1_000_000),
                )
            )
    rng.shuffle(data)
    return table_of(data)


@pytest.mark.parametrize("engine", FAST_ENGINES)
@pytest.mark.parametrize("order", ["ordered", "strict", "any"])
@pytest.mark.parametrize("n_steps", [2, 5, 12, 20])
def test_thousands_of_persons_agree_with_reference(engine: str, order: str, n_steps: int) -> None:
    rng = random.Random(n_steps)
    spec = {
        "steps": [
            {"event": rng.choice(NAMES[:4])}
            if k % 3
            else {
                "event": rng.choice(NAMES[:4]),
                "where": [{"property": "plan", "op": "neq", "value": "free"}],
            }
            for k in range(n_steps)
        ],
        "order": order,
        "window": "15m",
    }
    table = thousands_of_persons(seed=n_steps, persons=3000)
    assert_same(engine, parse_funnel(spec), table)
    assert computed(engine, parse_funnel(spec), table).step(1).count > 2000


overlapping_steps = st.lists(
    st.sampled_from(
        [
            {"event": "a"},
            {"event": "a", "where": [{"property": "plan", "op": "eq", "value": "pro"}]},
            {"event": "a", "where": [{"property": "n", "op": "gte", "value": 2}]},
        ]
    ),
    min_size=2,
    max_size=5,
)
tied_rows = st.integers(1, 30).flatmap(
    lambda n: st.lists(
        st.tuples(
            st.integers(0, 2),
            st.just("a"),
            st.integers(0, 4),  # few distinct seconds: most events tie
            st.sampled_from(["pro", "free"]),
            st.integers(0, 4),
            st.integers(0, 10_000),
        ),
        min_size=n,
        max_size=n,
    )
)


@pytest.mark.parametrize("engine", FAST_ENGINES)
@settings(
    max_examples=3 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    steps=overlapping_steps,
    order=st.sampled_from(["ordered", "strict", "any"]),
    window=st.integers(1, 3),
    data=tied_rows,
)
def test_overlapping_steps_with_ties_agree_with_reference(
    engine: str, steps: list[dict[str, Any]], order: str, window: int, data: list[tuple[Any, ...]]
) -> None:
    """One event name filling several steps with different filters, and many equal times: the
    case where the order of tied events (by event_id) decides the result ([S7])."""
    spec = {"steps": steps, "order": order, "window": f"{window}s"}
    assert_same(engine, parse_funnel(spec), table_of(data))


def small_table(**props: list[Any]) -> pa.Table:
    """u0..u5 each do `a` at 0 s and `b` at 10 s; props hold one value per person."""
    n = len(next(iter(props.values())))
    return pa.table(
        {
            "person_id": [f"u{i}" for i in range(n) for _ in range(2)],
            "event_id": [f"{i}-{k}" for i in range(n) for k in range(2)],
            "event": ["a", "b"] * n,
            "ts": pa.array([BASE_US + k * 10**7 for _ in range(n) for k in range(2)], pa.int64()),
            **{name: [v for v in values for _ in range(2)] for name, values in props.items()},
        }
    )


@pytest.mark.parametrize("engine", FAST_ENGINES)
@pytest.mark.parametrize("op", ["contains", "not_contains"])
def test_negative_zero_is_told_apart_where_its_text_differs(engine: str, op: str) -> None:
    table = small_table(p=[0.0, -0.0, 1.5, None, -2.0, 0.0])
    spec = {"steps": ["a", {"event": "b", "where": [{"property": "p", "op": op, "value": "-"}]}]}
    assert_same(engine, parse_funnel(spec), table)
    assert computed(engine, parse_funnel(spec), table).step(2).count == (
        2 if op == "contains" else 4
    )


@pytest.mark.parametrize("engine", FAST_ENGINES)
@pytest.mark.parametrize("prop", ["TS", "Event", "Person_ID", "Plan"])
def test_properties_named_like_columns_in_another_case(engine: str, prop: str) -> None:
    table = small_table(**{prop: ["x", "y", "x", "x", None, "y"], "plan": ["y"] * 6})
    spec = {"steps": ["a", {"event": "b", "where": [{"property": prop, "op": "eq", "value": "x"}]}]}
    assert_same(engine, parse_funnel(spec), table)
    assert computed(engine, parse_funnel(spec), table).step(2).count == 3


@pytest.mark.parametrize("engine", FAST_ENGINES)
def test_integer_person_ids_are_text_like_in_the_store(engine: str) -> None:
    table = pa.table(
        {
            "person_id": pa.array([3, 3, 10, 10, 2], pa.int64()),
            "event_id": ["1", "2", "3", "4", "5"],
            "event": ["a", "b", "a", "b", "a"],
            "ts": pa.array([0, 1, 0, 1, 0], pa.int64()),
        }
    )
    funnel = parse_funnel({"steps": ["a", "b"]})
    assert_same(engine, funnel, table)
    assert computed(engine, funnel, table).people(2) == ["10", "3"]  # sorted as text
