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
