"""The kernel and clickhouse engines against the reference on random journeys with every
depth feature: exclusions, held values, sessions (a column or a gap), totals, optional steps,
per-step limits, breakdowns of every attribution and scope, person-scope filters and date
ranges. Zero differences allowed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelscope.analyses.funnel import run_funnel
from funnelscope.model.results import FunnelResult
from funnelscope.model.spec import Funnel, parse_funnel
from funnelscope.store import ColumnMapping, EventStore
from funnelscope.store.sources import TableSource

from journeys import date_ranges, instant

NAMES = ["a", "b", "c", "x"]
CHANNELS = ["ads", "seo", "mail", None]
BASE_US = 1_704_067_200 * 1_000_000  # 2024-01-01T00:00:00Z


def person_scope(filters: list[dict[str, Any]], draw: st.DrawFn) -> list[dict[str, Any]]:
    """Each filter, now and then on the person's value instead of the event's ([P1])."""
    return [{**f, "scope": "person"} if draw(st.integers(0, 2)) == 0 else f for f in filters]


@st.composite
def depth_specs(draw: st.DrawFn) -> dict[str, Any]:
    n_steps = draw(st.integers(2, 5))
    order = draw(st.sampled_from(["ordered", "ordered", "strict", "any"]))
    steps: list[dict[str, Any]] = []
    for k in range(n_steps):
        step: dict[str, Any] = {"event": draw(st.sampled_from(NAMES[:3]))}
        if draw(st.integers(0, 4)) == 0:
            step["where"] = person_scope(
                [{"property": "n", "op": draw(st.sampled_from(["gt", "lte"])), "value": 1}], draw
            )
        if order == "ordered" and 0 < k < n_steps - 1 and draw(st.integers(0, 2)) == 0:
            step["optional"] = True
        if order != "any" and k and draw(st.integers(0, 3)) == 0:
            step["within"] = f"{draw(st.integers(1, 6))}s"
        steps.append(step)
    spec: dict[str, Any] = {
        "steps": steps,
        "order": order,
        "window": f"{draw(st.integers(2, 12))}s",
    }
    if order != "any" and draw(st.integers(0, 2)) == 0:
        i = draw(st.integers(1, n_steps - 1))
        j = draw(st.integers(i + 1, n_steps))
        exclusion: dict[str, Any] = {"event": draw(st.sampled_from(["x", "c"])), "between": [i, j]}
        if draw(st.booleans()):
            exclusion["where"] = person_scope([{"property": "n", "op": "lte", "value": 2}], draw)
        spec["exclusions"] = [exclusion]
    if draw(st.integers(0, 3)) == 0:
        spec["hold_constant"] = draw(st.sampled_from([["ch"], ["n"], ["ch", "n"]]))
    count = draw(st.sampled_from(["persons", "persons", "sessions", "totals"]))
    spec["count"] = count
    if count == "sessions" and draw(st.booleans()):
        spec["session_gap"] = f"{draw(st.integers(1, 5))}s"
    if draw(st.integers(0, 1)) == 0:
        attribution = draw(
            st.sampled_from(
                ["first_touch", "last_touch", "all_events", *(f"step:{k}" for k in (1, 2))]
            )
        )
        breakdown: dict[str, Any] = {
            "property": draw(st.sampled_from(["ch", ["ch", "n"], "price"])),
            "limit": draw(st.integers(1, 4)),
        }
        if draw(st.integers(0, 4)) == 0:
            breakdown["scope"] = "person"
        else:
            breakdown["attribution"] = attribution
        spec["breakdown"] = breakdown
    if draw(st.integers(0, 5)) == 0:
        spec["where"] = [
            {"property": "ch", "op": draw(st.sampled_from(["eq", "neq"])), "value": "ads",
             "scope": "person"}
        ]  # fmt: skip
    if draw(st.integers(0, 2)) == 0:
        spec["date_range"] = draw(date_ranges())
    return spec


row = st.tuples(
    st.integers(0, 3),  # person
    st.sampled_from(NAMES[:3] * 3 + NAMES[3:]),
    st.integers(0, 15),  # second: ties and window edges are common
    st.sampled_from(CHANNELS),
    st.one_of(st.none(), st.integers(0, 3)),
    st.sampled_from(["s1", "s2", None]),
    st.integers(0, 10_000),  # event id, unrelated to the listed order
)
rows = st.integers(1, 50).flatmap(lambda n: st.lists(row, min_size=n, max_size=n))


def table_of(data: list[tuple[Any, ...]]) -> pa.Table:
    return pa.table(
        {
            "person_id": [f"p{p}" for p, *_ in data],
            "event_id": [f"id{i:05d}-{n}" for n, (*_, i) in enumerate(data)],
            "event": [e for _, e, *_ in data],
            "ts": pa.array([BASE_US + s * 1_000_000 for _, _, s, *_ in data], pa.int64()),
            "ch": pa.array([ch for *_, ch, _, _, _ in data], pa.string()),
            "n": pa.array([n for *_, n, _, _ in data], pa.int64()),
            "price": pa.array(
                [None if n is None else [0.0, -0.0, 1.5, 2.0][n] for *_, n, _, _ in data],
                pa.float64(),
            ),
            "session_id": pa.array([s for *_, s, _ in data], pa.string()),
        }
    )


def computed(engine: str, funnel: Funnel, table: pa.Table, integer_persons: bool) -> FunnelResult:
    return run_funnel(funnel, TableSource(table, integer_persons), engine)


def snapshot(result: FunnelResult) -> dict[str, Any]:
    n = len(result.funnel.steps)
    return {
        "steps": [s.to_dict() for s in result.steps],
        "breakdown": [row.to_dict() for row in result.breakdown],
        "outcomes": list(result.outcomes),
        "dropped": [result.people(k, "dropped") for k in range(2, n + 1)],
        "reached": [result.people(k) for k in range(1, n + 1)],
        "warnings": result.outcomes.warnings,
    }


def assert_same(funnel: Funnel, table: pa.Table) -> None:
    expected = snapshot(computed("reference", funnel, table, True))
    for integer_persons in (True, False):
        assert snapshot(computed("kernel", funnel, table, integer_persons)) == expected
    assert snapshot(computed("clickhouse", funnel, table, True)) == expected


@settings(
    max_examples=4 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=depth_specs(), data=rows)
def test_random_depth_journeys_agree_with_reference(
    spec: dict[str, Any], data: list[tuple[Any, ...]]
) -> None:
    assert_same(parse_funnel(spec), table_of(data))


@pytest.mark.parametrize(
    "seed", [*range(6), *(pytest.param(s, marks=pytest.mark.long) for s in range(6, 40))]
)
def test_thousands_of_persons_with_depth_agree(seed: int) -> None:
    rng = random.Random(seed)
    data = [
        (
            person,
            rng.choice(NAMES),
            rng.randrange(0, 600),
            rng.choice(CHANNELS),
            rng.choice([None, 0, 1, 2, 3]),
            rng.choice(["s1", "s2", "s3"]),
            rng.randrange(1_000_000),
        )
        for person in range(1500)
        for _ in range(rng.randint(1, 12))
    ]
    rng.shuffle(data)
    spec = _seeded_spec(rng)
    assert_same(parse_funnel(spec), table_of(data))


def _seeded_spec(rng: random.Random) -> dict[str, Any]:
    """A spec with several depth features at once, drawn from `rng`."""
    order = rng.choice(["ordered", "strict", "any"])
    steps: list[dict[str, Any]] = [{"event": "a"}, {"event": "b"}, {"event": "c"}, {"event": "b"}]
    if order == "ordered":
        steps[1]["optional"] = True
    if order != "any":
        steps[2]["within"] = "90s"
    spec: dict[str, Any] = {
        "steps": steps,
        "order": order,
        "window": "5m",
        "count": rng.choice(["persons", "sessions", "totals"]),
        "breakdown": {
            "property": rng.choice(["ch", ["ch", "n"]]),
            "attribution": rng.choice(["first_touch", "last_touch", "step:3", "all_events"]),
            "limit": 2,
        },
    }
    if order != "any":
        spec["exclusions"] = [{"event": "x", "between": [1, 3]}]
    if rng.random() < 0.5:
        spec["hold_constant"] = ["n"]
    if rng.random() < 0.5:
        start, end = rng.randrange(0, 200), rng.randrange(200, 500)
        spec["date_range"] = {"from": instant(start, start % 3), "to": instant(end, end % 3)}
    return spec


@pytest.mark.parametrize("order", ["ordered", "strict", "any"])
@pytest.mark.parametrize("attribution", ["first_touch", "last_touch", "step:2"])
def test_breakdown_fast_path_follows_event_ids_in_ties(order: str, attribution: str) -> None:
    """Breakdown-only funnels run on the grouping path in scan order; where tied events carry
    different values, event_id order ([S1]) must still decide, as in the reference."""
    rng = random.Random(f"{order}{attribution}")
    data = [
        (
            person,
            rng.choice(NAMES[:3]),
            rng.randrange(0, 4),  # four seconds: most events tie
            rng.choice(CHANNELS),
            None,
            "s1",
            rng.randrange(1_000_000),  # ids unrelated to the scan order
        )
        for person in range(400)
        for _ in range(rng.randint(2, 6))
    ]
    spec = {
        "steps": ["a", "b", "c"],
        "order": order,
        "window": "3s",
        "breakdown": {"property": "ch", "attribution": attribution},
    }
    assert_same(parse_funnel(spec), table_of(data))


@pytest.mark.parametrize("order", ["ordered", "strict", "any"])
@pytest.mark.parametrize("count", ["persons", "totals"])
def test_held_values_follow_event_ids_in_ties(order: str, count: str) -> None:
    """Tied entries with different held values start attempts that can go equally far at
    different times: event_id order ([S1]) picks the counted one, as in the reference."""
    rng = random.Random(f"hold{order}{count}")
    data = [
        (
            person,
            rng.choice(NAMES[:3]),
            rng.randrange(0, 5),
            rng.choice(CHANNELS[:2]),
            None,
            "s1",
            rng.randrange(1_000_000),
        )
        for person in range(400)
        for _ in range(rng.randint(2, 7))
    ]
    spec = {
        "steps": ["a", "b", "c"],
        "order": order,
        "window": "4s",
        "count": count,
        "hold_constant": ["ch"],
    }
    assert_same(parse_funnel(spec), table_of(data))


@pytest.mark.parametrize(
    "seed", [*range(8), *(pytest.param(s, marks=pytest.mark.long) for s in range(8, 40))]
)
def test_the_store_path_agrees_with_reference(seed: int, tmp_path: Path) -> None:
    """The same logs loaded into a store (integer person keys, a session column, typed
    properties): every depth feature, person-scope breakdowns included, on both engines."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    data = [
        (
            person,
            rng.choice(NAMES),
            rng.randrange(0, 300),
            rng.choice(CHANNELS),
            rng.choice([None, 0, 1, 2, 3]),
            rng.choice(["s1", "s2", None]),
            rng.randrange(1_000_000),
        )
        for person in range(300)
        for _ in range(rng.randint(1, 10))
    ]
    table = table_of(data)
    path = tmp_path / "events.parquet"
    pq.write_table(
        table.set_column(3, "ts", pc.cast(table.column("ts"), pa.timestamp("us", "UTC"))), path
    )
    spec = _seeded_spec(rng)
    if seed % 4 == 0:
        spec["breakdown"] = {"property": ["ch", "n"], "scope": "person", "limit": 5}
    if seed % 4 == 1:
        spec["count"] = "sessions"
    if seed % 3 == 0:
        spec["where"] = [{"property": "ch", "op": "neq", "value": "seo", "scope": "person"}]

    funnel = parse_funnel(spec)
    expected = snapshot(computed("reference", funnel, table, True))
    mapping = ColumnMapping(
        person_col="person_id", event_col="event", time_col="ts", id_col="event_id",
        session_col="session_id",
    )  # fmt: skip
    with EventStore(":memory:") as store:
        store.ingest([path], mapping)
        for engine in ("kernel", "reference"):
            assert snapshot(run_funnel(funnel, store, engine)) == expected
        assert snapshot(run_funnel(funnel, store, "clickhouse")) == expected
