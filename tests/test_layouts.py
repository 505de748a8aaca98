"""Export layouts recognised with no flags and flattened field by field (docs/formats.md), the
person column chosen by what is filled, and the share of rejected rows that fails a load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from funnelscope.cli.main import main
from funnelscope.cli.options import LAYOUT_CHOICES
from funnelscope.store import ColumnMapping, EventStore
from funnelscope.store.layouts import LAYOUT_NAMES

T0_US = 1_709_287_200_000_000  # 2024-03-01T10:00:00Z


def jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def rows(store: EventStore, columns: str) -> list[tuple[Any, ...]]:
    sql = f'SELECT {columns} FROM events ORDER BY "timestamp", event_id'
    return [tuple(r) for r in store.connection.execute(sql).fetchall()]


def ga4_event(
    name: str, offset_s: int, pseudo: str, user: str | None = None, **params: Any
) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool | str):
            return {"string_value": str(v)}
        if isinstance(v, int):
            return {"int_value": str(v)}  # BigQuery's JSON writes INT64 as text
        return {"double_value": v}

    return {
        "event_date": "20240301",
        "event_timestamp": str(T0_US + offset_s * 1_000_000),
        "event_name": name,
        "event_params": [{"key": k, "value": value(v)} for k, v in params.items()],
        "user_id": user,
        "user_pseudo_id": pseudo,
        "user_properties": [
            {"key": "tier", "value": {"string_value": "gold", "set_timestamp_micros": "1"}}
        ]
        if user
        else [],
        "device": {"category": "mobile"},
        "geo": {"country": "DE"},
        "items": [{"item_id": "sku1", "price": 9.5}, {"item_id": "sku2", "price": 1.0}]
        if name == "purchase"
        else [],
    }


def test_the_cli_offers_every_layout() -> None:
    assert set(LAYOUT_CHOICES) == set(LAYOUT_NAMES)


def test_ga4_params_are_typed_properties_and_its_ids_are_stitched(tmp_path: Path) -> None:
    file = jsonl(
        tmp_path / "events_20240301.json",
        [
            ga4_event("page_view", 0, "p1", ga_session_id=111, source="google", engaged=1.5),
            ga4_event("login", 60, "p1", user="U1", ga_session_id=111),
            ga4_event("purchase", 120, "p2", user="U1", ga_session_id=222, value=9.5),
        ],
    )
    with EventStore(tmp_path / "s.duckdb") as store:
        report = store.ingest([file]).files[0]
        assert report.layout == "ga4"
        assert (
            report.columns["person"] == "user_id" and report.columns["device"] == "user_pseudo_id"
        )
        assert rows(store, 'person_id, distinct_id, event, session_id, epoch_us("timestamp")') == [
            ("U1", "p1", "page_view", "p1:111", T0_US),
            ("U1", "U1", "login", "p1:111", T0_US + 60_000_000),
            ("U1", "U1", "purchase", "p2:222", T0_US + 120_000_000),
        ]
        types = store.property_types()
        assert types["ga_session_id"] == "BIGINT" and types["engaged"] == "DOUBLE"
        assert types["source"] == "VARCHAR" and types["user.tier"] == "VARCHAR"
        assert rows(store, '"device.category", "geo.country", "items.count", "items.item_id"')[
            2
        ] == ("mobile", "DE", 2, "sku1")
        assert "event_params" not in types and "user_pseudo_id" not in types


def test_ga4_parquet_reads_like_its_jsonl(tmp_path: Path) -> None:
    records = [
        ga4_event("page_view", 0, "p1", ga_session_id=1, source="bing"),
        ga4_event("purchase", 5, "p1", user="U1", ga_session_id=1),
    ]
    for record in records:  # Parquet holds typed values
        record["event_timestamp"] = int(record["event_timestamp"])
        for param in record["event_params"]:
            if "int_value" in param["value"]:
                param["value"]["int_value"] = int(param["value"]["int_value"])
    path = tmp_path / "ga4.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    with EventStore(tmp_path / "s.duckdb") as store:
        assert store.ingest([path]).files[0].layout == "ga4"
        assert rows(store, "person_id, event, source, ga_session_id") == [
            ("U1", "page_view", "bing", 1),
            ("U1", "purchase", None, 1),
        ]


POSTHOG_CSV = """\
uuid,event,properties,timestamp,distinct_id,elements_chain,created_at,person_id,person_properties
e1,$pageview,"{""utm_source"": ""google"", ""$session_id"": ""s1""}",2024-03-01 10:00:00+00:00,anon1,,2024-03-01,p-1,{}
e2,$identify,"{""$anon_distinct_id"": ""anon1"", ""$set"": {""plan"": ""pro""}}",2024-03-01 10:01:00+00:00,ann,,2024-03-01,p-1,"{""email"": ""a@x.io""}"
e3,purchase,"{""utm_source"": ""google"", ""price"": 12.5",2024-03-01 10:02:00+00:00,ann,,2024-03-01,p-1,{}
e4,purchase,"{""price"": 3}",2024-03-01 10:03:00+00:00,ann,,2024-03-01,p-1,{}
"""  # noqa: E501


def test_posthog_csv_expands_properties_and_quarantines_broken_json(tmp_path: Path) -> None:
    file = tmp_path / "posthog.csv"
    file.write_text(POSTHOG_CSV)
    with EventStore(tmp_path / "s.duckdb") as store:
        report = store.ingest([file]).files[0]
        assert report.layout == "posthog"
        assert [(b.line, b.reason) for b in report.bad_rows] == [
            (
                4,
                "invalid JSON in field 'properties': Expecting ',' delimiter at column 39; "
                "fix the quoting of that field or remove the row",
            )
        ]
        assert rows(store, "event_id, person_id, distinct_id, utm_source, plan, session_id") == [
            ("e1", "ann", "anon1", "google", None, "s1"),
            ("e2", "ann", "ann", None, "pro", None),
            ("e4", "ann", "ann", None, None, None),
        ]
        types = store.property_types()
        assert types["price"] == "BIGINT" and types["person.email"] == "VARCHAR"
        assert types["posthog_person_id"] == "VARCHAR"


def test_segment_pages_and_screens_are_named_events_with_their_name(tmp_path: Path) -> None:
    file = jsonl(
        tmp_path / "segment.jsonl",
        [
            {
                "type": "page",
                "anonymousId": "a",
                "name": "Pricing",
                "messageId": "m1",
                "timestamp": "2024-03-01T10:00:00Z",
                "properties": {"path": "/pricing"},
            },
            {
                "type": "screen",
                "anonymousId": "a",
                "name": "Home",
                "messageId": "m2",
                "timestamp": "2024-03-01T10:01:00Z",
            },
            {
                "type": "group",
                "userId": "u",
                "anonymousId": "a",
                "groupId": "g1",
                "traits": {"industry": "retail"},
                "messageId": "m3",
                "timestamp": "2024-03-01T10:02:00Z",
            },
            {
                "type": "track",
                "anonymousId": "a",
                "event": "Signed Up",
                "messageId": "m1",
                "timestamp": "2024-03-01T10:00:00Z",
                "properties": {"path": "/pricing"},
            },
        ],
    )
    with EventStore(tmp_path / "s.duckdb") as store:
        report = store.ingest([file]).files[0]
        assert report.layout == "segment"
        assert rows(
            store, 'event_id, person_id, event, page_name, screen_name, "group.industry"'
        ) == [
            ("m1", "u", "Page Viewed", "Pricing", None, None),
            ("m2", "u", "Screen Viewed", None, "Home", None),
            ("m3", "u", "$group", None, None, "retail"),
        ]
        # the repeated messageId is a different event: quarantined, not merged
        assert [b.line for b in report.bad_rows] == [4]
        assert "event_id 'm1' is already used by a different event" in report.bad_rows[0].reason


def test_mixpanel_device_and_user_ids(tmp_path: Path) -> None:
    file = jsonl(
        tmp_path / "mixpanel.jsonl",
        [
            {
                "event": "View",
                "properties": {
                    "time": 1709287200,
                    "distinct_id": "$device:d1",
                    "$device_id": "d1",
                    "$insert_id": "i1",
                    "utm_source": "ads",
                },
            },
            {
                "event": "Buy",
                "properties": {
                    "time": 1709287260,
                    "distinct_id": "u1",
                    "$device_id": "d1",
                    "$user_id": "u1",
                    "$insert_id": "i2",
                },
            },
            {
                "event": "View",
                "properties": {"time": 1709287300, "distinct_id": "$device:d9", "$insert_id": "i3"},
            },
        ],
    )
    with EventStore(tmp_path / "s.duckdb") as store:
        assert store.ingest([file]).files[0].layout == "mixpanel"
        assert rows(store, "event_id, person_id, distinct_id, utm_source") == [
            ("i1", "u1", "d1", "ads"),
            ("i2", "u1", "u1", None),
            ("i3", "d9", "d9", None),
        ]


def test_amplitude_sessions_and_user_properties(tmp_path: Path) -> None:
    file = jsonl(
        tmp_path / "amplitude.json",
        [
            {
                "event_type": "view",
                "event_time": "2024-03-01 10:00:00.000000",
                "device_id": "d1",
                "user_id": None,
                "uuid": "x1",
                "session_id": 1709287200000,
                "event_properties": {"sku": "a"},
                "user_properties": {"plan": "free"},
                "country": "Germany",
            },
            {
                "event_type": "buy",
                "event_time": "2024-03-01 10:05:00.000000",
                "device_id": "d1",
                "user_id": "u1",
                "uuid": "x2",
                "session_id": -1,
                "event_properties": {},
                "user_properties": {},
                "country": "Germany",
            },
        ],
    )
    with EventStore(tmp_path / "s.duckdb") as store:
        assert store.ingest([file]).files[0].layout == "amplitude"
        assert rows(store, 'event_id, person_id, session_id, sku, "user.plan", country') == [
            ("x1", "u1", "d1:1709287200000", "a", "free", "Germany"),
            ("x2", "u1", None, None, None, "Germany"),
        ]


def test_layout_flag_overrides_recognition(tmp_path: Path) -> None:
    file = jsonl(
        tmp_path / "e.jsonl",
        [{"event": "view", "properties": {"time": 1709287200, "distinct_id": "a"}}],
    )
    with EventStore(tmp_path / "s.duckdb") as store:
        report = store.ingest([file], ColumnMapping(layout="generic")).files[0]
        assert report.layout == "generic"
        assert rows(store, "person_id, event") == [("a", "view")]
        assert "properties.time" not in store.property_types()  # lifted as `time`, unused


def test_an_unknown_layout_is_refused_before_anything_loads(tmp_path: Path) -> None:
    file = jsonl(tmp_path / "e.jsonl", [{"event": "v", "user": "a", "ts": "2024-03-01"}])
    with EventStore(tmp_path / "s.duckdb") as store, pytest.raises(Exception) as caught:
        store.ingest([file], ColumnMapping(layout="hubspot"))
    assert "unknown layout 'hubspot'" in str(caught.value)


# ------------------------------------------------------------------ the person column


SPARSE = """\
event,timestamp,user_id,user_pseudo_id
view,2024-03-01T10:00:00Z,,p1
view,2024-03-01T10:01:00Z,,p2
login,2024-03-01T10:02:00Z,U1,p1
buy,2024-03-01T10:03:00Z,U1,p1
"""


def test_a_sparse_person_column_is_filled_from_a_fuller_one_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "e.csv"
    file.write_text(SPARSE)
    db = str(tmp_path / "s.duckdb")
    assert main(["ingest", str(file), "--db", db]) == 0
    err = capsys.readouterr().err
    assert (
        "person: user_id where set, else user_pseudo_id (user_id is empty on 50.0% of rows); "
        "a user_pseudo_id seen with a user_id joins that person; to use one column, pass "
        "--person-col user_pseudo_id (or --person-col user_id)"
    ) in err
    assert "4 loaded, 0 duplicates skipped, 0 quarantined" in err
    with EventStore(db, read_only=True) as store:
        assert rows(store, "person_id, distinct_id") == [
            ("U1", "p1"),
            ("p2", "p2"),
            ("U1", "U1"),
            ("U1", "U1"),
        ]


def test_a_named_person_column_is_used_as_named(tmp_path: Path) -> None:
    file = tmp_path / "e.csv"
    file.write_text(SPARSE)
    with EventStore(tmp_path / "s.duckdb") as store:
        report = store.ingest([file], ColumnMapping(person_col="user_id")).files[0]
        assert (report.rows_loaded, report.rows_quarantined) == (2, 2)
        assert report.notes == ()


def test_more_than_half_rejected_exits_1_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "e.csv"
    file.write_text("person,event,time\na,view,2024-03-01\nb,view,nope\nc,view,nope\n")
    db = str(tmp_path / "s.duckdb")
    assert main(["ingest", str(file), "--db", db]) == 1
    err = capsys.readouterr().err
    assert f"error: {file}: 67% of the rows were rejected (more than 50%)" in err
    assert "1 loaded, 0 duplicates skipped, 2 quarantined (of 3 rows)" in err
    assert main(["ingest", str(file), "--db", db, "--max-rejected", "1"]) == 0


def test_a_layout_file_is_never_read_in_place(tmp_path: Path) -> None:
    from funnelscope.app.funnels import EventInput, compute_funnel
    from funnelscope.model.spec import parse_funnel

    records = [ga4_event("page_view", 0, "p1"), ga4_event("purchase", 5, "p2", user="U1")]
    records.append(ga4_event("login", 1, "p1", user="U1"))
    for record in records:
        record["event_timestamp"] = int(record["event_timestamp"])
    path = tmp_path / "ga4.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    funnel = parse_funnel({"steps": [{"event": "page_view"}, {"event": "purchase"}]})
    run = compute_funnel(funnel, EventInput(files=(str(path),)), people_step=2)
    assert run.result.counts() == (1, 1)
    assert run.people == ("U1",)
    assert "export layout that ingest flattens and stitches" in run.where


@pytest.mark.parametrize("engine", ["reference", "kernel"])
def test_a_person_export_gives_traits_that_person_scope_reads(tmp_path: Path, engine: str) -> None:
    from funnelscope.analyses.funnel import run_funnel
    from funnelscope.model.spec import parse_funnel

    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,event,timestamp,plan\nann,view,2024-03-01T10:00:00Z,free\n"
        "bob,view,2024-03-01T10:00:00Z,\nbob,buy,2024-03-01T10:01:00Z,\n"
    )
    persons = tmp_path / "persons.csv"
    persons.write_text("user_id,plan,age\nann,pro,41\nbob,,\n")
    posthog_persons = jsonl(
        tmp_path / "posthog_persons.jsonl",
        [{"id": "uuid-1", "distinct_ids": ["bob", "bob-phone"], "properties": {"plan": "team"}}],
    )
    with EventStore(tmp_path / "s.duckdb") as store:
        store.ingest([events])
        report = store.ingest([persons], ColumnMapping(layout="persons")).files[0]
        assert (report.layout, report.rows_loaded) == ("persons", 2)
        assert store.ingest([posthog_persons]).files[0].layout == "persons"
        assert store.identity("bob-phone").person_id == "bob"
        funnel = parse_funnel(
            {
                "steps": [{"event": "view"}, {"event": "buy"}],
                "breakdown": {"property": "plan", "scope": "person"},
            }
        )
        result = run_funnel(funnel, store, engine=engine)
        assert [(r.label, tuple(s.count for s in r.steps)) for r in result.breakdown] == [
            ("pro", (1, 0)),
            ("team", (1, 1)),
        ]
