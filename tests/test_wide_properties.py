"""Properties beyond the store's columns live in one map (store/schema.py): they read back as a
column would, filters and breakdowns see them on every engine, derived ids do not depend on
where a property lives, and a wide text file is read as rows (store/wide_properties.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_layouts import write_export
from funnelscope.analyses.funnel import run_funnel
from funnelscope.engines import ENGINE_NAMES
from funnelscope.errors import IngestError
from funnelscope.model.spec import parse_funnel
from funnelscope.store import EventStore, jsonl_reader
from funnelscope.store import csv_reader as csv_reader_module
from funnelscope.store import ingest as ingest_module

HEADER = ["person_id", "event", "timestamp", "a", "b", "plan", "price", "flag"]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def registry(store: EventStore) -> list[tuple[Any, ...]]:
    return store.connection.execute(
        "SELECT name, column_name, type FROM event_properties ORDER BY name"
    ).fetchall()


def test_v1_properties_beyond_the_column_limit_live_in_the_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "MAX_PROPERTY_COLUMNS", 2)
    file = write_csv(
        tmp_path / "e.csv",
        HEADER,
        [
            ["u1", "view", "2024-01-01T10:00:00Z", "x", "1", "pro", "12.5", "true"],
            ["u2", "view", "2024-01-01T11:00:00Z", "y", "2", "", " 7 ", "false"],
        ],
    )
    with EventStore(tmp_path / "s.duckdb") as store:
        store.ingest([file])
        assert registry(store) == [
            ("a", "a", "VARCHAR"),
            ("b", "b", "BIGINT"),
            ("flag", None, "BOOLEAN"),
            ("plan", None, "VARCHAR"),
            ("price", None, "DOUBLE"),
        ]
        maps = store.connection.execute(
            "SELECT person_id, more_properties FROM events ORDER BY person_id"
        ).fetchall()
        assert maps == [
            ("u1", {"flag": "true", "plan": "pro", "price": "12.5"}),
            ("u2", {"flag": "false", "price": "7.0"}),  # empty cells are left out
        ]
        scanned = store.scan(None, ["plan", "price", "flag", "b"]).sort_by("person_id")
        assert scanned.column("plan").to_pylist() == ["pro", None]
        assert scanned.column("price").to_pylist() == [12.5, 7.0]
        assert scanned.column("flag").to_pylist() == [True, False]
        assert scanned.column("b").to_pylist() == [1, 2]
        assert store.property_types() == {
            "a": "VARCHAR", "b": "BIGINT", "flag": "BOOLEAN", "plan": "VARCHAR", "price": "DOUBLE"
        }  # fmt: skip


def test_v2_a_property_keeps_its_place_and_widens_in_the_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "MAX_PROPERTY_COLUMNS", 0)
    first = write_csv(
        tmp_path / "1.csv",
        ["person_id", "event", "timestamp", "n", "big"],
        [["u1", "view", "2024-01-01T10:00:00Z", "5", "9007199254740993"]],
    )
    second = write_csv(
        tmp_path / "2.csv",
        ["person_id", "event", "timestamp", "n", "big"],
        [["u2", "view", "2024-01-01T11:00:00Z", "2.5", "0.5"]],
    )
    with EventStore(tmp_path / "s.duckdb") as store:
        store.ingest([first])
        assert store.property_types() == {"big": "BIGINT", "n": "BIGINT"}
        monkeypatch.setattr(ingest_module, "MAX_PROPERTY_COLUMNS", 256)  # room now: no move
        store.ingest([second])
        assert registry(store) == [("big", None, "VARCHAR"), ("n", None, "DOUBLE")]
        scanned = store.scan(None, ["n", "big"]).sort_by("person_id")
        assert scanned.column("n").to_pylist() == [5.0, 2.5]
        # a DOUBLE would change the 17-digit integer: the property became text, digit for digit
        assert scanned.column("big").to_pylist() == ["9007199254740993", "0.5"]


VALUES = st.sampled_from(
    ["", "a", "b c", "007", "5", "-3", "12.5", "1e3", "true", "FALSE", "é", " padded ",
     "9223372036854775808", "20"]
)  # fmt: skip
rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["u1", "u2", "u3"]),
        st.sampled_from(["view", "buy"]),
        st.sampled_from(["2024-03-01T10:00:00Z", "2024-03-01T10:05:00Z", "2024-03-02T09:00:00Z"]),
        VALUES, VALUES, VALUES, VALUES, VALUES,
    ).map(list),
    min_size=1,
    max_size=25,
)  # fmt: skip
FUNNEL = {
    "steps": ["view", {"event": "buy", "where": [{"property": "price", "op": "gt", "value": 4}]}],
    "breakdown": {"property": "plan"},
}


def stored(db: Path) -> dict[str, Any]:
    with EventStore(db, read_only=True) as store:
        names = sorted(store.property_types())
        scanned = store.scan(None, names).sort_by("event_id")
        results = {
            engine: run_funnel(parse_funnel(FUNNEL), store, engine=engine).to_dict()
            for engine in ENGINE_NAMES
        }
        return {
            "columns": {name: scanned.column(name).to_pylist() for name in scanned.column_names},
            "types": store.property_types(),
            "results": results,
        }


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=40
)
@given(rows=rows_strategy, limit=st.sampled_from([0, 1, 3]), header=st.permutations(HEADER[3:]))
def test_v3_where_a_property_lives_changes_no_id_value_or_result(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[list[str]],
    limit: int,
    header: list[str],
) -> None:
    tmp = tmp_path_factory.mktemp("wide")
    file = write_csv(tmp / "e.csv", [*HEADER[:3], *header], rows)
    with EventStore(tmp / "columns.duckdb") as store:
        store.ingest([file])
    with monkeypatch.context() as patched:
        patched.setattr(ingest_module, "MAX_PROPERTY_COLUMNS", limit)
        with EventStore(tmp / "map.duckdb") as store:
            report = store.ingest([file])
            again = store.ingest([file])  # the same ids again: nothing added
            assert again.rows_loaded == 0
            assert again.duplicates_skipped == report.rows_loaded
    in_columns, in_map = stored(tmp / "columns.duckdb"), stored(tmp / "map.duckdb")
    assert in_map == in_columns
    results = list(in_map["results"].values())
    assert all(result == results[0] for result in results)  # every engine agrees


def test_a_wide_parquet_file_fills_the_map_column_by_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "e.parquet"
    pq.write_table(
        pa.table(
            {
                "person_id": ["u1", "u2", "u3"],
                "event": ["view", "buy", "buy"],
                "timestamp": ["2024-01-01T10:00:00Z"] * 3,
                "plan": ["pro", None, "free"],
                "price": pa.array([12.5, 3.0, None], pa.float32()),
                "seats": pa.array([3, None, 10], pa.int32()),
            }
        ),
        file,
    )
    with EventStore(tmp_path / "columns.duckdb") as store:
        store.ingest([file])
        expected = store.scan(None, ["plan", "price", "seats"]).sort_by("event_id")
    monkeypatch.setattr(ingest_module, "MAX_PROPERTY_COLUMNS", 1)
    with EventStore(tmp_path / "map.duckdb") as store:
        store.ingest([file])
        assert [r[1] for r in registry(store)] == ["plan", None, None]
        assert store.scan(None, ["plan", "price", "seats"]).sort_by("event_id") == expected


def test_a_file_of_three_thousand_columns_loads_and_filters(tmp_path: Path) -> None:
    width = 3000
    names = [f"k{i}" for i in range(width)]
    rows = [
        ["u1", "view", "2024-01-01T10:00:00Z", *(str(i) for i in range(width))],
        ["u2", "view", "2024-01-01T10:00:00Z", *("" for _ in range(width - 1)), "late"],
    ]
    file = write_csv(tmp_path / "wide.csv", ["person_id", "event", "timestamp", *names], rows)
    with EventStore(tmp_path / "s.duckdb") as store:
        report = store.ingest([file])
        assert report.rows_loaded == 2
        kept = store.connection.execute(
            "SELECT count(column_name), count(*) - count(column_name) FROM event_properties"
        ).fetchone()
        assert kept == (256, width - 256)
        assert store.property_types()["k2999"] == "VARCHAR"
        assert store.property_types()["k2998"] == "BIGINT"
        funnel = parse_funnel(
            {
                "steps": [
                    {"event": "view", "where": [{"property": "k2998", "op": "gt", "value": 10}]}
                ]
            }
        )
        for engine in ENGINE_NAMES:
            assert run_funnel(funnel, store, engine=engine).counts() == (1,)
        values = store.scan(None, ["k2999", "k10"]).sort_by("person_id")
        assert values.column("k2999").to_pylist() == ["2999", "late"]
        assert values.column("k10").to_pylist() == [10, None]


def test_an_older_store_gets_the_map_and_a_property_of_its_name_moves(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    with EventStore(db) as store:
        store.ingest([write_csv(tmp_path / "e.csv", ["person_id", "event", "timestamp", "x"],
                                [["u1", "view", "2024-01-01T10:00:00Z", "1"]])])  # fmt: skip
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE events DROP COLUMN more_properties")
    con.execute("ALTER TABLE events RENAME COLUMN x TO more_properties")
    con.execute(
        "UPDATE event_properties SET name = 'more_properties', column_name = 'more_properties'"
    )
    con.close()
    with EventStore(db) as store:
        assert registry(store) == [("more_properties", "prop:more_properties", "BIGINT")]
        assert store.scan(None, ["more_properties"]).column("more_properties").to_pylist() == [1]
        assert store.connection.execute("SELECT more_properties FROM events").fetchall() == [
            (None,)
        ]


def staged(
    columns: list[list[str | None]],
) -> tuple[duckdb.DuckDBPyConnection, list[str], list[str]]:
    """A connection whose staging table holds `columns` (padded with NULLs to one height), with
    the columns' names and staging identifiers."""
    height = max(len(c) for c in columns)
    padded = [c + [None] * (height - len(c)) for c in columns]
    con = duckdb.connect()
    schema = pa.schema(
        [("__line", pa.int64())] + [(f"c{i}", pa.string()) for i in range(len(padded))]
    )
    table = pa.table(
        {"__line": list(range(height)), **{f"c{i}": c for i, c in enumerate(padded)}},
        schema=schema,
    )
    con.register("t", table)
    con.execute("CREATE TEMP TABLE _fs_stage AS SELECT * FROM t")
    return con, [f"col{i}" for i in range(len(padded))], [f"c{i}" for i in range(len(padded))]


cells = st.lists(st.one_of(st.none(), VALUES), min_size=1, max_size=12)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(columns=st.lists(cells, min_size=1, max_size=6))
def test_types_read_as_rows_equal_types_read_side_by_side(columns: list[list[str | None]]) -> None:
    con, names, idents = staged(columns)
    side_by_side = csv_reader_module._infer_batch(con, names, idents)
    as_rows = csv_reader_module._infer_unpivot(con, names, idents)
    assert as_rows == side_by_side


# ------------------------------------------------------------- JSON keys staged as rows


def tables(db: Path) -> dict[str, Any]:
    with EventStore(db, read_only=True) as store:
        con = store.connection
        names = sorted(store.property_types())
        return {
            "events": con.execute(
                "SELECT event_id, person_id, distinct_id, event, timestamp, session_id "
                "FROM events ORDER BY event_id"
            ).fetchall(),
            "properties": store.scan(None, names).sort_by("event_id").to_pylist(),
            "types": store.property_types(),
            "quarantine": [
                (line, reason, as_json(raw))
                for line, reason, raw in con.execute(
                    "SELECT line, reason, raw FROM quarantine ORDER BY line"
                ).fetchall()
            ],
            "links": con.execute(
                "SELECT from_id, to_id, kind, line FROM identity_links ORDER BY ALL"
            ).fetchall(),
        }


def as_json(raw: str) -> Any:
    """A quarantined row's raw text, as JSON where it is: key order aside, and a key that is
    null the same as one left out (a row's JSON shows the file's other keys as null when they
    are staged as columns, and leaves them out when they are staged as rows)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, dict):
        return {key: v for key, v in value.items() if v is not None}
    return value


JSON_VALUES = st.one_of(
    st.none(), st.sampled_from(["a", "007", "", "é"]), st.integers(-5, 10**17),
    st.sampled_from([2.5, 1e300, -0.0]), st.booleans(),
)  # fmt: skip
records = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            **{f"k{i}": JSON_VALUES for i in range(6)},
            "person_id": st.sampled_from(["u1", "u2", ""]),
            "event": st.sampled_from(["view", "buy"]),
            "timestamp": st.sampled_from(["2024-03-01T10:00:00Z", 1709287500, "soon"]),
        },
    ),
    min_size=1,
    max_size=20,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(rows=records, wide_keys=st.sampled_from([0, 1, 3]), limit=st.sampled_from([0, 2, 256]))
def test_json_keys_staged_as_rows_load_what_columns_load(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[dict[str, Any]],
    wide_keys: int,
    limit: int,
) -> None:
    tmp = tmp_path_factory.mktemp("long")
    file = tmp / "e.jsonl"
    file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    as_columns = load(tmp / "columns.duckdb", file)
    with monkeypatch.context() as patched:
        patched.setattr(jsonl_reader, "WIDE_STAGE_KEYS", wide_keys)
        patched.setattr(ingest_module, "MAX_PROPERTY_COLUMNS", limit)
        as_rows = load(tmp / "rows.duckdb", file)
    assert as_rows == as_columns  # the same error, if any (no person key at all, say)
    assert tables(tmp / "rows.duckdb") == tables(tmp / "columns.duckdb")


def load(db: Path, file: Path) -> str | None:
    """Load `file`; the error message when it cannot be loaded."""
    with EventStore(db) as store:
        try:
            store.ingest([file])
        except IngestError as exc:
            return str(exc)
    return None


@pytest.mark.parametrize("key", ["posthog-jsonl", "segment", "ga4-jsonl"])
def test_an_export_whose_keys_are_staged_as_rows_loads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    export = write_export(key, tmp_path, people=150)
    with EventStore(tmp_path / "columns.duckdb") as store:
        store.ingest([export.path])
    monkeypatch.setattr(jsonl_reader, "WIDE_STAGE_KEYS", 2)  # even the person and time as rows
    with EventStore(tmp_path / "rows.duckdb") as store:
        store.ingest([export.path])
    assert tables(tmp_path / "rows.duckdb") == tables(tmp_path / "columns.duckdb")


def test_a_key_staged_as_rows_fills_the_column_an_earlier_file_gave_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "1.jsonl"
    first.write_text(json.dumps({"person_id": "u1", "event": "view", "timestamp": 1709287500,
                                 "plan": "pro"}) + "\n")  # fmt: skip
    second = tmp_path / "2.jsonl"
    second.write_text(json.dumps({"person_id": "u2", "event": "view", "timestamp": 1709287600,
                                  "a": 1, "b": 2, "plan": "free"}) + "\n")  # fmt: skip
    monkeypatch.setattr(jsonl_reader, "WIDE_STAGE_KEYS", 4)  # `plan` is the 6th key of file 2
    with EventStore(tmp_path / "s.duckdb") as store:
        store.ingest([first, second])
        assert ("plan", "plan", "VARCHAR") in registry(store)
        assert ("b", None, "BIGINT") in registry(store)  # a new late key: the map
        plans = store.scan(None, ["plan", "b"]).sort_by("person_id")
        assert plans.column("plan").to_pylist() == ["pro", "free"]
        assert plans.column("b").to_pylist() == [None, 2]


def test_six_thousand_sparse_json_keys_stage_their_values_only(tmp_path: Path) -> None:
    file = tmp_path / "sparse.jsonl"
    lines = [
        json.dumps(
            {
                "person_id": f"u{i % 7}",
                "event": "view",
                "timestamp": 1709287500 + i,
                f"key_{i % 3000}": i,
                f"tag_{(i * 7) % 3000}": "x",
            }
        )
        for i in range(6000)
    ]
    file.write_text("\n".join(lines) + "\n")
    with EventStore(tmp_path / "s.duckdb") as store:
        store.ingest([file])
        con = store.connection
        width = con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'events'"
        ).fetchone()
        assert width == (9,)  # every key is on 2 of 6,000 rows: sparse, so all in the map
        assert con.execute(
            "SELECT count(*) FILTER (WHERE column_name IS NULL), count(*) FROM event_properties"
        ).fetchone() == (6000, 6000)
        values = store.scan(None, ["key_2999", "key_10"]).sort_by("ts")
        assert values.column("key_2999").to_pylist()[2999] == 2999
        assert values.column("key_10").to_pylist()[10] == 10


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    columns=st.lists(cells, min_size=1, max_size=6),
    sample=st.integers(1, 4),
    many=st.booleans(),
)
def test_types_proved_text_by_a_sample_equal_types_read_from_every_row(
    monkeypatch: pytest.MonkeyPatch,
    columns: list[list[str | None]],
    sample: int,
    many: bool,
) -> None:
    con, names, idents = staged(columns)
    with monkeypatch.context() as patched:
        patched.setattr(csv_reader_module, "_SAMPLE_ROWS", 0)
        every_row = csv_reader_module._infer_text_types(con, names, idents)
    with monkeypatch.context() as patched:
        patched.setattr(csv_reader_module, "_SAMPLE_ROWS", sample)
        if many:  # the wide-file path (UNPIVOT) for the columns the sample leaves open
            patched.setattr(csv_reader_module, "_COLUMNS_PER_QUERY", 1)
        sampled = csv_reader_module._infer_text_types(con, names, idents)
    assert sampled == every_row


@pytest.mark.parametrize(("rows", "rare_in_map"), [(2000, True), (999, False)])
def test_v1_a_sparse_json_key_lives_in_the_map_while_columns_are_free(
    tmp_path: Path, rows: int, rare_in_map: bool
) -> None:
    file = tmp_path / "e.jsonl"
    lines = []
    for i in range(rows):
        record: dict[str, Any] = {"person_id": f"u{i}", "event": "view", "timestamp": 1709287500}
        record["common"] = i
        if i % 100 == 0:  # 20 of 2,000 rows: 1%, not fewer than 1%, so a column
            record["rare"] = "x"
        if i < 5:  # 5 of 2,000 rows (0.25%): the map; of 999 rows, too few rows to judge
            record["rarer"] = i
        lines.append(json.dumps(record))
    file.write_text("\n".join(lines) + "\n")
    with EventStore(tmp_path / "s.duckdb") as store:
        store.ingest([file])
        places = {name: column for name, column, _ in registry(store)}
        assert places == {
            "common": "common",
            "rare": "rare",
            "rarer": None if rare_in_map else "rarer",
        }
        values = store.scan(None, ["rarer"]).sort_by("ts").column("rarer").to_pylist()
        assert sorted(v for v in values if v is not None) == [0, 1, 2, 3, 4]
