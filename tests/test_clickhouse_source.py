"""The chdb event source of the clickhouse engine: its table, its loader, its parameters."""

from __future__ import annotations

import pyarrow as pa
import pytest

from funnelscope.engines.clickhouse.source import ClickHouseSource, param_text

HOSTILE = [
    "'); DROP TABLE funnelscope_events_0; --",
    "it's",
    'say "hi"',
    "back\\slash",
    "\\",
    "ends with \\",
    "tab\tand\nnewline\r",
    "nul\0",
    "\\t",
    "{v:String}",
    "\\N",
    "ünïcödé",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_parameter_reaches_clickhouse_as_the_same_text(value: str) -> None:
    with ClickHouseSource() as source:
        got = source.query("SELECT {v:String} AS v", {"v": param_text(value)})
    assert got.column("v").to_pylist() == [value]


def test_the_loader_keeps_every_row_with_person_ids_as_text_and_typed_properties() -> None:
    table = pa.table(
        {
            "person_id": pa.array([3, 10, 3], pa.int64()),
            "event_id": ["e1", "e2", "e3"],
            "event": HOSTILE[:3],
            "ts": pa.array([2, 1, 0], pa.int64()),
            "plan": ["x", None, "y"],
            "when": pa.array([1, 2, 3], pa.timestamp("us")),  # not a type it loads yet
        }
    )
    with ClickHouseSource.from_table(table) as source:
        got = source.query(
            f"SELECT person, event_id, event, ts FROM {source.table_name} ORDER BY person, ts"
        )
        name = source.table_name
        assert source.properties == {"plan": ("p0", "String")}
        assert source.unloaded == {"when": "timestamp[us]"}
        plans = source.query(f"SELECT p0 FROM {name} ORDER BY event_id").column(0).to_pylist()
        assert plans == ["x", None, "y"]
    assert got.to_pylist() == [
        {"person": "10", "event_id": "e2", "event": HOSTILE[1], "ts": 1},
        {"person": "3", "event_id": "e3", "event": HOSTILE[2], "ts": 0},
        {"person": "3", "event_id": "e1", "event": HOSTILE[0], "ts": 2},
    ]
    with ClickHouseSource() as other:  # closing dropped the table
        assert other.query(f"EXISTS TABLE {name}").column(0).to_pylist() == [0]


def test_sources_have_tables_of_their_own() -> None:
    one = pa.table({"person_id": ["a"], "event_id": ["1"], "event": ["x"], "ts": [1]})
    with ClickHouseSource.from_table(one) as first, ClickHouseSource() as second:
        assert first.table_name != second.table_name
        count = second.query(f"SELECT count() AS n FROM {second.table_name}")
        assert count.column("n").to_pylist() == [0]


def test_narrow_numbers_widen_and_a_type_not_loaded_is_refused_by_name() -> None:
    """Arrow tables may carry int32 or float32 properties (a store never does: BIGINT, DOUBLE,
    BOOLEAN, VARCHAR): they load widened, exactly. A timestamp property is the one gap: a
    filter on it is refused, naming the property and its type, never computed wrongly."""
    from funnelscope.engines import get_engine
    from funnelscope.errors import EngineError
    from funnelscope.model.spec import parse_funnel

    table = pa.table(
        {
            "person_id": ["a", "a", "b", "b"],
            "event_id": ["1", "2", "3", "4"],
            "event": ["x", "y", "x", "y"],
            "ts": pa.array([1, 2, 1, 2], pa.int64()),
            "n": pa.array([3, 3, 1, 2], pa.int32()),
            "price": pa.array([0.5, 0.5, 0.25, 1.5], pa.float32()),
            "when": pa.array([1, 2, 3, 4], pa.timestamp("us")),
        }
    )
    with ClickHouseSource.from_table(table) as source:
        assert source.properties == {"n": ("p0", "Int64"), "price": ("p1", "Float64")}
    funnel = parse_funnel(
        {"steps": ["x", {"event": "y", "where": [{"property": "n", "op": "gt", "value": 2}]}]}
    )
    for engine in ("reference", "clickhouse"):
        outcomes = get_engine(engine)(funnel, table)
        assert sorted((o.person_id, o.reached) for o in outcomes) == [("a", 2), ("b", 1)]
    cheap = parse_funnel(
        {"steps": ["x", {"event": "y", "where": [{"property": "price", "op": "eq", "value": 1.5}]}]}
    )
    assert sorted((o.person_id, o.reached) for o in get_engine("clickhouse")(cheap, table)) == [
        ("a", 1),
        ("b", 2),
    ]
    on_time = parse_funnel(
        {"steps": ["x", {"event": "y", "where": [{"property": "when", "op": "eq", "value": 1}]}]}
    )
    with pytest.raises(EngineError, match=r"type timestamp\[us\] yet \('when'\)"):
        get_engine("clickhouse")(on_time, table)
