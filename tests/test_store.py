"""EventStore: schema, property typing and widening, column collisions, scan()."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from funnelscope.store import ColumnMapping, EventStore

T0 = 1_706_695_200_000_000  # 2024-01-31T10:00:00Z in microseconds


@pytest.fixture
def store() -> Iterator[EventStore]:
    with EventStore(":memory:") as s:
        yield s


def csv_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def jsonl_file(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def column_types(store: EventStore) -> dict[str, str]:
    rows = store.connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'events' ORDER BY ordinal_position"
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def registry(store: EventStore) -> list[tuple[str, str, str]]:
    rows = store.connection.execute(
        "SELECT name, column_name, type FROM event_properties ORDER BY name"
    ).fetchall()
    return [tuple(r) for r in rows]


# ------------------------------------------------------------------ schema


def test_schema_of_a_new_store(store: EventStore) -> None:
    assert column_types(store) == {
        "event_id": "VARCHAR",
        "person_id": "VARCHAR",
        "event": "VARCHAR",
        "timestamp": "TIMESTAMP",
        "session_id": "VARCHAR",
        "load_id": "INTEGER",
        "person_key": "BIGINT",
        "distinct_id": "VARCHAR",
        "more_properties": "MAP(VARCHAR, VARCHAR)",
    }
    assert store.count_events() == 0
    assert store.property_types() == {}
    assert store.quarantine() == []


def test_file_store_persists_and_opens_read_only(tmp_path: Path) -> None:
    db = tmp_path / "events.duckdb"
    source = csv_file(tmp_path, "e.csv", "user_id,event,ts,n\na,view,2024-01-31T10:00:00Z,1\n")
    with EventStore(db) as s:
        s.ingest([source])
    with EventStore(db, read_only=True) as s:
        assert s.count_events() == 1
        assert s.property_types() == {"n": "BIGINT"}
        assert s.scan(None).column("ts").to_pylist() == [T0]


# ------------------------------------------------------------------ property typing


def test_csv_property_types_are_inferred(store: EventStore, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "typed.csv",
        "user_id,event,ts,count,code,price,sci,flag,mixed,empty,zero\n"
        "a,view,2024-01-01,1,007,1.5,1e3,TRUE,x,,0\n"
        "b,view,2024-01-01,-20,12,2,2.5E-1,false,1,,0.5\n"
        "c,view,2024-01-01,,3,,,,true,,\n",
    )
    store.ingest([path])
    assert store.property_types() == {
        "code": "VARCHAR",  # a leading zero means a code, not a number
        "count": "BIGINT",
        "empty": "VARCHAR",
        "flag": "BOOLEAN",
        "mixed": "VARCHAR",
        "price": "DOUBLE",
        "sci": "DOUBLE",
        "zero": "DOUBLE",
    }
    got = store.connection.execute(
        "SELECT count, code, price, sci, flag, mixed, empty, zero FROM events ORDER BY person_id"
    ).fetchall()
    assert got == [
        (1, "007", 1.5, 1000.0, True, "x", None, 0.0),
        (-20, "12", 2.0, 0.25, False, "1", None, 0.5),
        (None, "3", None, None, None, "true", None, None),
    ]


def test_jsonl_properties_keep_json_types_and_flatten(store: EventStore, tmp_path: Path) -> None:
    records = [
        {
            "user_id": "a",
            "event": "view",
            "ts": "2024-01-01",
            "page": "/home",
            "context": {"ip": "1.2.3.4"},
            "properties": {
                "item": {"category": "shoes", "size": 42},
                "tags": ["x", "y"],
                "paid": True,
                "qty": 1,
                "score": 1,
                "mixed": 1,
            },
        },
        {
            "user_id": "b",
            "event": "view",
            "ts": "2024-01-01",
            "properties": {"score": 2.5, "mixed": "one", "paid": False, "qty": None},
        },
    ]
    store.ingest([jsonl_file(tmp_path, "nested.jsonl", records)])
    assert store.property_types() == {
        "context.ip": "VARCHAR",
        "item.category": "VARCHAR",
        "item.size": "BIGINT",
        "mixed": "VARCHAR",
        "page": "VARCHAR",
        "paid": "BOOLEAN",
        "qty": "BIGINT",
        "score": "DOUBLE",
        "tags": "VARCHAR",
    }
    got = store.connection.execute(
        'SELECT "item.category", "item.size", tags, paid, qty, score, mixed, "context.ip" '
        "FROM events ORDER BY person_id"
    ).fetchall()
    assert got == [
        ("shoes", 42, '["x","y"]', True, 1, 1.0, "1", "1.2.3.4"),
        (None, None, None, False, None, 2.5, "one", None),
    ]


def test_parquet_properties_keep_their_types(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    table = pa.table(
        {
            "user_id": pa.array([1, 2], pa.int32()),  # ids are stored as text
            "event": ["view", "buy"],
            "ts": ["2024-01-31T10:00:00Z", "2024-01-31T10:00:00Z"],
            "small": pa.array([1, 2], pa.int16()),
            "ratio": pa.array([0.5, 1.5], pa.float32()),
            "ok": [True, False],
            "day": pa.array([dt.date(2024, 1, 2), None], pa.date32()),
            "label": ["x", None],
        }
    )
    pq.write_table(table, path)
    store.ingest([path])
    assert store.property_types() == {
        "day": "VARCHAR",
        "label": "VARCHAR",
        "ok": "BOOLEAN",
        "ratio": "DOUBLE",
        "small": "BIGINT",
    }
    got = store.connection.execute(
        "SELECT person_id, small, ratio, ok, day, label FROM events ORDER BY person_id"
    ).fetchall()
    assert got == [("1", 1, 0.5, True, "2024-01-02", "x"), ("2", 2, 1.5, False, None, None)]


def test_property_types_widen_across_files(store: EventStore, tmp_path: Path) -> None:
    header = "user_id,event,ts,amount,flag,code\n"
    first = csv_file(tmp_path, "1.csv", header + "a,view,2024-01-01,10,true,5\n")
    second = csv_file(tmp_path, "2.csv", header + "b,view,2024-01-01,2.5,false,6\n")
    third = csv_file(tmp_path, "3.csv", header + "c,view,2024-01-01,n/a,1,7\n")
    store.ingest([first])
    assert store.property_types() == {"amount": "BIGINT", "code": "BIGINT", "flag": "BOOLEAN"}
    store.ingest([second])
    assert store.property_types() == {"amount": "DOUBLE", "code": "BIGINT", "flag": "BOOLEAN"}
    store.ingest([third])
    assert store.property_types() == {"amount": "VARCHAR", "code": "BIGINT", "flag": "VARCHAR"}
    assert store.connection.execute(
        "SELECT person_id, amount, flag, code FROM events ORDER BY person_id"
    ).fetchall() == [
        ("a", "10.0", "true", 5),
        ("b", "2.5", "false", 6),
        ("c", "n/a", "1", 7),
    ]
    assert column_types(store)["amount"] == "VARCHAR"


def test_all_null_column_takes_the_existing_type(store: EventStore, tmp_path: Path) -> None:
    header = "user_id,event,ts,amount\n"
    store.ingest([csv_file(tmp_path, "1.csv", header + "a,view,2024-01-01,3\n")])
    store.ingest([csv_file(tmp_path, "2.csv", header + "b,view,2024-01-01,\n")])
    assert store.property_types() == {"amount": "BIGINT"}


def test_property_colliding_with_core_column(store: EventStore, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "collide.csv",
        "user_id,action,ts,event,timestamp,Session_ID\n"
        "a,buy,2024-01-31T10:00:00Z,checkout,yesterday,s1\n",
    )
    store.ingest([path], ColumnMapping(event_col="action", time_col="ts", session_col=""))
    # session_col="" turns session detection off, so Session_ID is a property too; DuckDB
    # names are case-insensitive, so it may not be called session_id either
    assert registry(store) == [
        ("Session_ID", "prop:Session_ID", "VARCHAR"),
        ("event", "prop:event", "VARCHAR"),
        ("timestamp", "prop:timestamp", "VARCHAR"),
    ]
    assert store.connection.execute(
        'SELECT event, "prop:event", "prop:timestamp", session_id, "prop:Session_ID" FROM events'
    ).fetchall() == [("buy", "checkout", "yesterday", None, "s1")]
    table = store.scan(["buy"], ["event", "timestamp"])
    assert table.column_names == ["person_id", "event_id", "event", "ts", "prop:event", "timestamp"]
    assert table.to_pylist()[0]["prop:event"] == "checkout"
    assert table.to_pylist()[0]["event"] == "buy"


def test_properties_differing_only_in_case(store: EventStore, tmp_path: Path) -> None:
    records = [{"user_id": "a", "event": "v", "ts": "2024-01-01", "Plan": "x", "plan": "y"}]
    store.ingest([jsonl_file(tmp_path, "case.jsonl", records)])
    assert registry(store) == [("Plan", "Plan", "VARCHAR"), ("plan", "prop:plan", "VARCHAR")]
    assert store.scan(None, ["plan", "Plan"]).select(["plan", "Plan"]).to_pylist() == [
        {"plan": "y", "Plan": "x"}
    ]


# ------------------------------------------------------------------ scan


@pytest.fixture
def journeys(store: EventStore, tmp_path: Path) -> EventStore:
    path = csv_file(
        tmp_path,
        "journeys.csv",
        "event_id,user_id,event,ts,plan,amount\n"
        "e5,bob,buy,2024-01-31T10:00:02Z,free,5\n"
        "e2,alice,signup,2024-01-31T10:00:01Z,pro,\n"
        "e9,alice,view,2024-01-31T10:00:00Z,pro,\n"
        "e1,alice,buy,2024-01-31T10:00:01Z,pro,20\n"  # same time as e2: event_id breaks the tie
        "e3,bob,view,2024-01-31T10:00:00Z,free,\n",
    )
    store.ingest([path])
    return store


def test_scan_sorts_by_person_time_and_event_id(journeys: EventStore) -> None:
    table = journeys.scan(None)
    assert table.column_names == ["person_id", "event_id", "event", "ts"]
    assert table.schema.field("person_id").type == pa.string()
    assert table.schema.field("event_id").type == pa.string()
    assert table.schema.field("event").type == pa.string()
    assert table.schema.field("ts").type == pa.int64()
    assert table.to_pylist() == [
        {"person_id": "alice", "event_id": "e9", "event": "view", "ts": T0},
        {"person_id": "alice", "event_id": "e1", "event": "buy", "ts": T0 + 1_000_000},
        {"person_id": "alice", "event_id": "e2", "event": "signup", "ts": T0 + 1_000_000},
        {"person_id": "bob", "event_id": "e3", "event": "view", "ts": T0},
        {"person_id": "bob", "event_id": "e5", "event": "buy", "ts": T0 + 2_000_000},
    ]


def test_scan_filters_events_and_adds_properties(journeys: EventStore) -> None:
    table = journeys.scan(["view", "buy", "never"], ["amount", "plan", "missing"])
    assert table.column_names == [
        "person_id",
        "event_id",
        "event",
        "ts",
        "amount",
        "plan",
        "missing",
    ]
    assert table.schema.field("amount").type == pa.int64()
    assert table.column("event_id").to_pylist() == ["e9", "e1", "e3", "e5"]
    assert table.column("amount").to_pylist() == [None, 20, None, 5]
    assert table.column("plan").to_pylist() == ["pro", "pro", "free", "free"]
    assert table.column("missing").to_pylist() == [None, None, None, None]


def test_scan_with_no_event_names_returns_no_rows(journeys: EventStore) -> None:
    table = journeys.scan([], ["plan"])
    assert table.num_rows == 0
    assert table.column_names == ["person_id", "event_id", "event", "ts", "plan"]


def test_scan_of_an_empty_store(store: EventStore) -> None:
    assert store.scan(["view"]).num_rows == 0


def test_file_of_only_malformed_lines_is_quarantined(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_text("oops\n\n[]\n")
    file = store.ingest([path]).files[0]
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (2, 0, 2)
    assert [b.line for b in store.quarantine()] == [1, 3]
    assert file.columns == {}


def test_empty_id_col_derives_ids(store: EventStore, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "ids.csv", "id,user_id,event,ts\n7,a,v,2024-01-01\n")
    store.ingest([path], ColumnMapping(id_col=""))
    (event_id,) = store.scan(None, ["id"]).column("event_id").to_pylist()
    assert len(event_id) == 32
    assert store.property_types() == {"id": "BIGINT"}


def test_a_foreign_database_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    import duckdb

    from funnelscope.errors import FunnelscopeError

    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE events AS SELECT 1 AS id, 'x' AS channel")
    con.close()
    with pytest.raises(FunnelscopeError, match="is not a funnelscope event store"):
        EventStore(path)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(FunnelscopeError, match="cannot open the event store"):
        EventStore(text_file)


# ------------------------------------------------------------------ review fixes


def test_derived_ids_do_not_depend_on_inferred_types(store: EventStore, tmp_path: Path) -> None:
    header = "user_id,event,ts,price,flag\n"
    row = "a,view,2024-01-01T10:00:00Z,10,true\n"
    d1 = csv_file(tmp_path, "d1.csv", header + row)  # price BIGINT
    d2 = csv_file(tmp_path, "d2.csv", header + row + "b,view,2024-01-01T10:00:00Z,9.99,x\n")
    records = [
        {"user_id": "a", "event": "view", "ts": "2024-01-01T10:00:00Z", "price": 10.0, "flag": True}
    ]
    d3 = jsonl_file(tmp_path, "d3.jsonl", records)  # price DOUBLE 10.0
    d4 = tmp_path / "d4.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": ["a"],
                "event": ["view"],
                "ts": ["2024-01-01T10:00:00Z"],
                "price": pa.array([10.0], pa.float32()),
                "flag": [True],
            }
        ),
        d4,
    )
    assert store.ingest([d1]).rows_loaded == 1
    report = store.ingest([d2, d3, d4])
    assert (report.rows_loaded, report.duplicates_skipped) == (1, 3)
    assert store.count_events() == 2


def test_large_integers_are_kept_exactly(store: EventStore, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "big.csv",
        "user_id,event,ts,huge,wide,fits\n"
        "a,view,2024-01-01,12345678901234567890123,9007199254740993,9007199254740993\n"
        "b,view,2024-01-01,1,1.5,1\n",
    )
    records = [
        {"user_id": "c", "event": "view", "ts": "2024-01-01", "j": 9007199254740993},
        {"user_id": "d", "event": "view", "ts": "2024-01-01", "j": 1.5, "k": 9007199254740993},
        {"user_id": "e", "event": "view", "ts": "2024-01-01", "j": 2, "k": 1},
    ]
    store.ingest([path, jsonl_file(tmp_path, "big.jsonl", records)])
    assert store.property_types() == {
        "fits": "BIGINT",
        "huge": "VARCHAR",  # does not fit BIGINT
        "j": "VARCHAR",  # an integer beyond 2**53 among floats
        "k": "BIGINT",
        "wide": "VARCHAR",  # the same in CSV
    }
    assert store.connection.execute(
        "SELECT huge, wide, fits, j, k FROM events ORDER BY person_id"
    ).fetchall() == [
        ("12345678901234567890123", "9007199254740993", 9007199254740993, None, None),
        ("1", "1.5", 1, None, None),
        (None, None, None, "9007199254740993", None),
        (None, None, None, "1.5", 9007199254740993),
        (None, None, None, "2", 1),
    ]


@pytest.mark.parametrize("order", [("int", "float"), ("float", "int")])
def test_widening_keeps_large_integers_exact(
    store: EventStore, tmp_path: Path, order: tuple[str, str]
) -> None:
    header = "user_id,event,ts,n\n"
    files = {
        "int": csv_file(tmp_path, "int.csv", header + "a,view,2024-01-01,9007199254740993\n"),
        "float": csv_file(tmp_path, "float.csv", header + "b,view,2024-01-01,1.5\n"),
    }
    store.ingest([files[order[0]]])
    store.ingest([files[order[1]]])
    assert store.property_types() == {"n": "VARCHAR"}
    assert store.connection.execute("SELECT n FROM events ORDER BY person_id").fetchall() == [
        ("9007199254740993",),
        ("1.5",),
    ]


def test_parquet_time_float_and_wide_integer_properties(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "props.parquet"
    utc = dt.UTC
    pq.write_table(
        pa.table(
            {
                "user_id": ["a", "b"],
                "event": ["view", "view"],
                "ts": ["2024-01-31T10:00:00Z", "2024-01-31T10:00:00Z"],
                "paid_at": pa.array(
                    [dt.datetime(2024, 1, 1, 10, tzinfo=utc), None], pa.timestamp("us", tz="UTC")
                ),
                "seen_at": pa.array(
                    [dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 1, 10, 0, 0, 250)],
                    pa.timestamp("us"),
                ),
                "due": pa.array([dt.date(2024, 1, 31), None], pa.date32()),
                "ratio": pa.array([0.1, 2.5], pa.float32()),
                "small_u": pa.array([5, 2**63 - 1], pa.uint64()),
                "big_u": pa.array([5, 2**64 - 1], pa.uint64()),
            }
        ),
        path,
    )
    store.ingest([path], ColumnMapping(timezone="Europe/Berlin"))  # naive: read in Berlin
    assert store.property_types() == {
        "big_u": "VARCHAR",
        "due": "VARCHAR",
        "paid_at": "VARCHAR",
        "ratio": "DOUBLE",
        "seen_at": "VARCHAR",
        "small_u": "BIGINT",
    }
    assert store.connection.execute(
        "SELECT paid_at, seen_at, due, ratio, small_u, big_u FROM events ORDER BY person_id"
    ).fetchall() == [
        ("2024-01-01T10:00:00Z", "2024-01-01T09:00:00Z", "2024-01-31", 0.1, 5, "5"),
        (None, "2024-01-01T09:00:00.000250Z", None, 2.5, 2**63 - 1, "18446744073709551615"),
    ]


def test_dotted_key_collision_keeps_both_values(store: EventStore, tmp_path: Path) -> None:
    records = [
        {
            "user_id": "a",
            "event": "view",
            "ts": "2024-01-01",
            "item.cat": "A",
            "item": {"cat": "B"},
            "properties": {"item.cat": "C"},
        }
    ]
    store.ingest([jsonl_file(tmp_path, "dots.jsonl", records)])
    assert store.property_types() == {
        "item.cat": "VARCHAR",
        "item.cat#2": "VARCHAR",
        "properties.item.cat": "VARCHAR",
    }
    assert store.connection.execute(
        'SELECT "item.cat", "item.cat#2", "properties.item.cat" FROM events'
    ).fetchall() == [("A", "B", "C")]


# ------------------------------------------------------------------ loads registry

CRM = "user_id,event,timestamp\nu1,signup,2024-01-31 10:00:00\nu2,signup,2024-01-31 11:00:00\n"


def test_reloading_with_other_options_is_refused_and_replace_reloads(
    store: EventStore, tmp_path: Path
) -> None:
    from funnelscope.errors import IngestError

    path = csv_file(tmp_path, "crm.csv", CRM)
    store.ingest([path])
    again = store.ingest([path]).files[0]
    assert (again.rows_loaded, again.duplicates_skipped) == (0, 2)
    (load,) = store.loads()
    assert (load.load_id, load.source, load.rows_loaded) == (1, str(path.resolve()), 2)
    assert json.loads(load.options)["timezone"] == "UTC"
    new_york = ColumnMapping(timezone="America/New_York")
    with pytest.raises(IngestError) as caught:
        store.ingest([path], new_york)
    assert str(caught.value) == (
        f"{path}: was loaded before with other options (timezone: UTC -> America/New_York); "
        "add --replace to remove that load's events and load it again"
    )
    assert store.count_events() == 2
    report = store.ingest([path], new_york, replace=True).files[0]
    assert (report.rows_loaded, report.duplicates_skipped) == (2, 0)
    assert store.connection.execute(
        'SELECT person_id, CAST("timestamp" AS VARCHAR), load_id FROM events ORDER BY 1'
    ).fetchall() == [("u1", "2024-01-31 15:00:00", 2), ("u2", "2024-01-31 16:00:00", 2)]
    assert [(x.load_id, x.rows_loaded) for x in store.loads()] == [(2, 2)]


def test_replace_and_forget_remove_quarantine_rows_too(store: EventStore, tmp_path: Path) -> None:
    from funnelscope.errors import IngestError

    path = csv_file(tmp_path, "crm.csv", CRM + "u3,signup,never\n")
    other = csv_file(tmp_path, "other.csv", "user_id,event,timestamp\nz,x,2024-02-01\nz,y,\n")
    store.ingest([path, other])
    assert store.quarantine_count() == 2
    store.ingest([path], ColumnMapping(time_unit="s"), replace=True)
    assert (store.count_events(), store.quarantine_count()) == (3, 2)
    assert store.forget("crm.csv") == 2
    assert (store.count_events(), store.quarantine_count()) == (1, 1)
    assert [x.source for x in store.loads()] == [str(other.resolve())]
    with pytest.raises(IngestError) as caught:
        store.forget("crm.csv")
    assert str(caught.value) == f"crm.csv: was never loaded; loaded sources are: {other.resolve()}"


def test_a_property_called_load_id_is_kept_apart(store: EventStore, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "p.csv", "user_id,event,timestamp,load_id\nu,x,2024-01-31,77\n")
    store.ingest([path])
    assert registry(store) == [("load_id", "prop:load_id", "BIGINT")]
    assert store.connection.execute('SELECT load_id, "prop:load_id" FROM events').fetchall() == [
        (1, 77)
    ]


def test_an_old_store_is_upgraded_in_place(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE events (event_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, event "
        'VARCHAR NOT NULL, "timestamp" TIMESTAMP NOT NULL, session_id VARCHAR, "Load_ID" BIGINT);'
        "CREATE TABLE event_properties (name VARCHAR PRIMARY KEY, column_name VARCHAR, "
        "type VARCHAR);"
        "CREATE TABLE quarantine (source VARCHAR, line BIGINT, reason VARCHAR, raw VARCHAR, "
        "ingested_at TIMESTAMP);"
        "INSERT INTO event_properties VALUES ('Load_ID', 'Load_ID', 'BIGINT');"
        "INSERT INTO events VALUES ('e1', 'p', 'view', TIMESTAMP '2024-01-01', NULL, 5);"
        "INSERT INTO quarantine VALUES ('a.csv', 2, 'bad', '{}', TIMESTAMP '2024-01-01');"
    )
    con.close()
    with EventStore(db, read_only=True) as old:  # read-only: listed as is, no registry yet
        assert old.loads() == []
        assert old.quarantine_count("a.csv") == 1
    with EventStore(db) as store:
        assert store.connection.execute(
            'SELECT event_id, load_id, "prop:Load_ID" FROM events'
        ).fetchall() == [("e1", None, 5)]
        assert registry(store) == [("Load_ID", "prop:Load_ID", "BIGINT")]
        assert store.quarantine()[0].raw == "{}"
        path = csv_file(tmp_path, "new.csv", "user_id,event,timestamp\nq,view,2024-01-02\n")
        assert store.ingest([path]).rows_loaded == 1
        assert [x.load_id for x in store.loads()] == [1]


def test_a_store_without_person_keys_gets_them_and_both_engines_agree(tmp_path: Path) -> None:
    """Stores made before person keys: read-only they still work (the kernel sorts by the id
    text); opened for writing, every person gets a key and new loads reuse them."""
    import duckdb

    from funnelscope.analyses.funnel import run_funnel
    from funnelscope.model.spec import parse_funnel

    db = tmp_path / "old.duckdb"
    with EventStore(db) as store:
        path = csv_file(
            tmp_path,
            "a.csv",
            "user_id,event,timestamp\nann,view,2024-01-01T10:00\nann,buy,2024-01-01T10:05\n"
            "bo,view,2024-01-01T11:00\n",
        )
        store.ingest([path])
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE events DROP COLUMN person_key; DROP TABLE persons")
    con.close()
    funnel = parse_funnel({"steps": ["view", "buy"]})
    with EventStore(db, read_only=True) as old:
        for engine in ("kernel", "reference"):
            assert run_funnel(funnel, old, engine).counts() == (2, 1)
            assert run_funnel(funnel, old, engine).people(2, "dropped") == ["bo"]
    with EventStore(db) as store:
        assert sorted(store.connection.execute("SELECT person_id FROM persons").fetchall()) == [
            ("ann",),
            ("bo",),
        ]
        more = csv_file(tmp_path, "b.csv", "user_id,event,timestamp\nbo,buy,2024-01-01T11:30\n")
        store.ingest([more])
        assert store.connection.execute("SELECT count(*) FROM persons").fetchone() == (2,)
        assert run_funnel(funnel, store, "kernel").people(2) == ["ann", "bo"]


def test_each_person_keeps_their_own_outcome_from_the_store(tmp_path: Path) -> None:
    """Person keys are resolved to ids in order: outcomes pair with the right person."""
    from funnelscope.analyses.funnel import run_funnel
    from funnelscope.model.spec import parse_funnel

    lines = ["user_id,event,timestamp"]
    for i in range(60):
        lines.append(f"p{i:02d},a,2024-01-01T10:00:00")
        if i % 3:
            lines.append(f"p{i:02d},b,2024-01-01T10:{i:02d}:00")
    path = csv_file(tmp_path, "e.csv", "\n".join(lines) + "\n")
    funnel = parse_funnel({"steps": ["a", "b"]})
    with EventStore(tmp_path / "s.duckdb") as store:
        store.ingest([path])
        kernel = list(run_funnel(funnel, store, "kernel").outcomes)
        assert kernel == list(run_funnel(funnel, store, "reference").outcomes)
        assert [(o.person_id, o.reached) for o in kernel[:4]] == [
            ("p00", 1),
            ("p01", 2),
            ("p02", 2),
            ("p03", 1),
        ]
