"""Results are plain values: person keys always, person ids when attached or asked for.
(The layering of imports is checked in tests/test_architecture.py.)"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from funnelscope.analyses.funnel import people, run_funnel, with_person_ids
from funnelscope.engines import ENGINE_NAMES, get_engine
from funnelscope.errors import FunnelscopeError
from funnelscope.model.spec import Order, parse_funnel
from funnelscope.store import ColumnMapping, EventStore
from funnelscope.store.sources import TableSource

from journeys import journeys

PEOPLE = {
    "twice": [("view", "2024-01-01 10:00"), ("buy", "2024-01-01 10:05"),
              ("view", "2024-01-02 10:00"), ("buy", "2024-01-02 10:05")],
    "once": [("view", "2024-01-01 11:00"), ("buy", "2024-01-01 11:30")],
    "dropped": [("view", "2024-01-01 12:00"), ("view", "2024-01-03 12:00")],
}  # fmt: skip
SPECS: list[dict[str, Any]] = [
    {"steps": ["view", "buy"]},
    {"steps": ["view", "buy"], "count": "totals"},
    {"steps": ["view", "buy"], "count": "sessions", "session_gap": "30m"},
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_one_steps_people_from_keys_equal_the_attached_ids(
    engine: str, spec: dict[str, Any]
) -> None:
    """Several rows of one person (totals, sessions) still list the person once."""
    funnel = parse_funnel(spec)
    source = TableSource(journeys(PEOPLE))
    attached = run_funnel(funnel, source, engine)
    keys_only = run_funnel(funnel, source, engine, person_ids=False)
    for step, status in ((1, "reached"), (2, "reached"), (2, "dropped")):
        expected = attached.people(step, status)
        assert people(keys_only, source, step, status) == expected
        assert with_person_ids(keys_only, source).people(step, status) == expected
    assert attached.people(2) == ["once", "twice"]


def test_keys_only_results_say_how_to_get_ids() -> None:
    funnel = parse_funnel({"steps": ["view", "buy"]})
    source = TableSource(journeys(PEOPLE))
    result = run_funnel(funnel, source, "kernel", person_ids=False)
    assert result.people_keys(2).size == 2
    with pytest.raises(FunnelscopeError, match="person_ids"):
        result.people(2)
    with pytest.raises(FunnelscopeError, match="person_ids"):
        list(result.outcomes)


def test_outcomes_are_plain_values_that_outlive_the_store(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    import pyarrow.parquet as pq

    pq.write_table(journeys(PEOPLE), path)
    mapping = ColumnMapping(
        person_col="person_id", event_col="event", time_col="ts", id_col="event_id"
    )
    funnel = parse_funnel({"steps": ["view", "buy"]})
    with EventStore(":memory:") as store:
        store.ingest([path], mapping)
        result = run_funnel(funnel, store)
        outcomes = get_engine("kernel")(funnel, store)
    assert result.people(2, "dropped") == ["dropped"]  # the store is closed: ids were attached
    assert pickle.loads(pickle.dumps(outcomes)).person_keys.tolist() == (
        outcomes.person_keys.tolist()
    )


def test_order_is_one_type_equal_to_its_text() -> None:
    funnel = parse_funnel({"steps": ["view", "buy"], "order": "strict"})
    assert funnel.order is Order.STRICT and funnel.order == "strict"
    assert funnel.to_dict()["order"] == "strict" and type(funnel.to_dict()["order"]) is str
