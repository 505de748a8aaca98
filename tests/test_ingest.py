"""Ingest: formats, column mapping, time parsing, bad rows, unreadable files, idempotency."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from funnelscope.errors import IngestError
from funnelscope.store import ColumnMapping, EventStore, PartialIngestError

CSV_TEXT = (
    "user_id,event,timestamp,plan\n"
    "alice,view,2024-01-31T10:00:00Z,pro\n"
    "alice,buy,2024-01-31T10:05:00Z,pro\n"
    "bob,view,2024-01-31T11:00:00Z,free\n"
)
EXPECTED = [
    ("alice", "buy", "2024-01-31 10:05:00"),
    ("alice", "view", "2024-01-31 10:00:00"),
    ("bob", "view", "2024-01-31 11:00:00"),
]
RECORDS = [
    {"user_id": "alice", "event": "view", "timestamp": "2024-01-31T10:00:00Z", "plan": "pro"},
    {"user_id": "alice", "event": "buy", "timestamp": "2024-01-31T10:05:00Z", "plan": "pro"},
    {"user_id": "bob", "event": "view", "timestamp": "2024-01-31T11:00:00Z", "plan": "free"},
]
TIME_HINT = "use ISO 8601 like 2024-01-31T10:00:00Z or epoch seconds/milliseconds"


@pytest.fixture
def store() -> Iterator[EventStore]:
    with EventStore(":memory:") as s:
        yield s


def rows(store: EventStore) -> list[tuple[str, str, str]]:
    result = store.connection.execute(
        'SELECT person_id, event, CAST("timestamp" AS VARCHAR) FROM events ORDER BY ALL'
    ).fetchall()
    return [tuple(r) for r in result]


def micros(store: EventStore) -> list[int]:
    result = store.connection.execute(
        'SELECT epoch_us("timestamp") FROM events ORDER BY ALL'
    ).fetchall()
    return [r[0] for r in result]


def write_jsonl(path: Path, records: list[Any], gz: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def write_parquet(path: Path, columns: dict[str, Any]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


# ------------------------------------------------------------------ formats


def make_file(tmp_path: Path, kind: str) -> Path:
    if kind == "csv":
        path = tmp_path / "events.csv"
        path.write_text(CSV_TEXT)
    elif kind == "csv.gz":
        path = tmp_path / "events.csv.gz"
        path.write_bytes(gzip.compress(CSV_TEXT.encode()))
    elif kind == "tsv":
        path = tmp_path / "events.tsv"
        path.write_text(CSV_TEXT.replace(",", "\t"))
    elif kind == "tsv.gz":
        path = tmp_path / "events.tsv.gz"
        path.write_bytes(gzip.compress(CSV_TEXT.replace(",", "\t").encode()))
    elif kind in ("jsonl", "ndjson", "json"):
        path = write_jsonl(tmp_path / f"events.{kind}", RECORDS)
    elif kind == "jsonl.gz":
        path = write_jsonl(tmp_path / "events.jsonl.gz", RECORDS, gz=True)
    else:
        columns = {key: [r[key] for r in RECORDS] for key in RECORDS[0]}
        path = write_parquet(tmp_path / f"events.{kind}", columns)
    return path


@pytest.mark.parametrize(
    "kind",
    ["csv", "csv.gz", "tsv", "tsv.gz", "jsonl", "jsonl.gz", "ndjson", "json", "parquet", "pq"],
)
def test_every_format_loads_the_same_events(store: EventStore, tmp_path: Path, kind: str) -> None:
    path = make_file(tmp_path, kind)
    report = store.ingest([path])
    assert report.rows_loaded == 3
    assert report.rows_quarantined == 0
    assert report.duplicates_skipped == 0
    (file,) = report.files
    assert file.source == str(path)
    assert file.rows_read == 3
    assert file.columns == {"person": "user_id", "event": "event", "time": "timestamp"}
    assert rows(store) == EXPECTED
    assert store.property_types() == {"plan": "VARCHAR"}


def test_same_content_gets_same_derived_id_across_formats(
    store: EventStore, tmp_path: Path
) -> None:
    store.ingest([make_file(tmp_path, "csv")])
    report = store.ingest([make_file(tmp_path, "jsonl"), make_file(tmp_path, "parquet")])
    assert report.rows_loaded == 0
    assert report.duplicates_skipped == 6
    assert store.count_events() == 3


def test_progress_bar_does_not_change_results(store: EventStore, tmp_path: Path) -> None:
    report = store.ingest(
        [make_file(tmp_path, "csv"), make_file(tmp_path, "parquet")], progress=True
    )
    assert report.rows_loaded == 3
    assert report.duplicates_skipped == 3


# ------------------------------------------------------------------ column mapping


def test_every_mapping_flag(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        "uid,what,when,eid,sess,user_id\n"
        "u1,open,2024-01-31 10:00:00,E1,S1,decoy\n"
        "u2,open,2024-01-31 11:00:00,,S2,decoy\n"
    )
    mapping = ColumnMapping(
        person_col="uid", event_col="what", time_col="when", id_col="eid", session_col="sess"
    )
    report = store.ingest([path], mapping)
    assert report.files[0].columns == {
        "person": "uid",
        "event": "what",
        "time": "when",
        "id": "eid",
        "session": "sess",
    }
    got = store.connection.execute(
        "SELECT event_id, person_id, event, session_id, user_id FROM events ORDER BY person_id"
    ).fetchall()
    assert got[0] == ("E1", "u1", "open", "S1", "decoy")
    derived_id = got[1][0]
    assert len(derived_id) == 32 and derived_id != "E1"  # blank id -> derived md5
    assert got[1][1:] == ("u2", "open", "S2", "decoy")
    assert store.property_types() == {"user_id": "VARCHAR"}


@pytest.mark.parametrize(
    ("person", "event", "time", "ident", "session"),
    [
        ("distinct_id", "event_name", "time", "uuid", "session"),
        ("user_id", "event_type", "ts", "id", "$session_id"),
        ("person", "name", "event_time", "message_id", "session_id"),
        ("user", "action", "datetime", "insert_id", "session"),
        ("customer_id", "action", "created_at", "event_id", "session"),
        ("person_id", "event", "date", "uuid", "session"),
    ],
)
def test_auto_detected_aliases(
    store: EventStore,
    tmp_path: Path,
    person: str,
    event: str,
    time: str,
    ident: str,
    session: str,
) -> None:
    path = tmp_path / "aliases.csv"
    path.write_text(
        f"{person},{event},{time},{ident},{session},extra\np1,signup,2024-02-01,X9,S,1\n"
    )
    report = store.ingest([path])
    assert report.files[0].columns == {
        "person": person,
        "event": event,
        "time": time,
        "id": ident,
        "session": session,
    }
    assert store.connection.execute(
        'SELECT event_id, person_id, event, CAST("timestamp" AS VARCHAR), session_id, extra '
        "FROM events"
    ).fetchall() == [("X9", "p1", "signup", "2024-02-01 00:00:00", "S", 1)]


def test_alias_matching_ignores_case(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "caps.csv"
    path.write_text("User_ID,Event,Timestamp\nalice,view,2024-01-31T10:00:00Z\n")
    report = store.ingest([path])
    assert report.files[0].columns == {"person": "User_ID", "event": "Event", "time": "Timestamp"}
    assert rows(store) == [("alice", "view", "2024-01-31 10:00:00")]


# ------------------------------------------------------------------ times


def test_naive_times_are_read_in_the_mapping_timezone(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "naive.csv"
    path.write_text(
        "user_id,event,timestamp\n"
        "a,view,2024-01-31 10:00:00\n"  # EST (UTC-5)
        "b,view,2024-07-01T10:00\n"  # EDT (UTC-4)
        "c,view,2024-07-01\n"  # date only: local midnight
        "d,view,2024-01-31T10:00:00+05:30\n"  # offset wins over the zone
        "e,view,2024-01-31T10:00:00Z\n"  # Z wins over the zone
        "f,view,2024-01-31 10:00:00.123456\n"
    )
    store.ingest([path], ColumnMapping(timezone="America/New_York"))
    assert rows(store) == [
        ("a", "view", "2024-01-31 15:00:00"),
        ("b", "view", "2024-07-01 14:00:00"),
        ("c", "view", "2024-07-01 04:00:00"),
        ("d", "view", "2024-01-31 04:30:00"),
        ("e", "view", "2024-01-31 10:00:00"),
        ("f", "view", "2024-01-31 15:00:00.123456"),
    ]
    # the session's own time zone is restored afterwards
    assert store.connection.execute("SELECT current_setting('TimeZone')").fetchall() != [
        ("America/New_York",)
    ]


def test_naive_times_default_to_utc(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "utc.csv"
    path.write_text("user_id,event,timestamp\na,view,2024-01-31 10:00:00\n")
    store.ingest([path])
    assert rows(store) == [("a", "view", "2024-01-31 10:00:00")]


SECONDS = 1_706_695_200  # 2024-01-31T10:00:00Z
SECOND_US = SECONDS * 1_000_000


@pytest.mark.parametrize(
    ("values", "unit", "expected"),
    [
        ([str(SECONDS), str(SECONDS + 60)], "auto", [SECOND_US, SECOND_US + 60_000_000]),
        ([f"{SECONDS}.5"], "auto", [SECOND_US + 500_000]),
        ([str(SECONDS * 1000 + 123)], "auto", [SECOND_US + 123_000]),
        ([str(SECONDS * 1_000_000 + 7)], "auto", [SECOND_US + 7]),
        ([str(SECONDS)], "s", [SECOND_US]),
        ([str(SECONDS)], "ms", [SECONDS * 1000]),
        ([str(SECONDS)], "us", [SECONDS]),
        ([str(SECONDS * 1000)], "ms", [SECOND_US]),
    ],
)
def test_epoch_numbers_in_text(
    store: EventStore, tmp_path: Path, values: list[str], unit: str, expected: list[int]
) -> None:
    path = tmp_path / "epoch.csv"
    path.write_text("user_id,event,ts\n" + "".join(f"u,view,{v}\n" for v in values))
    report = store.ingest([path], ColumnMapping(time_unit=unit))
    assert report.rows_loaded == len(values)
    assert micros(store) == expected


def test_epoch_unit_is_detected_for_each_file_format(store: EventStore, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "s.jsonl", [{"user_id": "a", "event": "v", "ts": SECONDS}])
    write_jsonl(tmp_path / "ms.jsonl", [{"user_id": "b", "event": "v", "ts": SECONDS * 1000}])
    write_parquet(
        tmp_path / "us.parquet",
        {"user_id": ["c"], "event": ["v"], "ts": pa.array([SECOND_US], pa.int64())},
    )
    write_parquet(
        tmp_path / "fs.parquet",
        {"user_id": ["d"], "event": ["v"], "ts": pa.array([SECONDS + 0.25], pa.float64())},
    )
    files = ["s.jsonl", "ms.jsonl", "us.parquet", "fs.parquet"]
    report = store.ingest([tmp_path / f for f in files])
    assert report.rows_loaded == 4
    assert micros(store) == [SECOND_US, SECOND_US, SECOND_US, SECOND_US + 250_000]


def test_typed_parquet_times(store: EventStore, tmp_path: Path) -> None:
    import datetime as dt

    naive = dt.datetime(2024, 1, 31, 10, 0, 0, 1)
    write_parquet(
        tmp_path / "naive.parquet",
        {"user_id": ["a"], "event": ["v"], "ts": pa.array([naive], pa.timestamp("us"))},
    )
    write_parquet(
        tmp_path / "tz.parquet",
        {
            "user_id": ["b"],
            "event": ["v"],
            "ts": pa.array([naive], pa.timestamp("ms", tz="Asia/Tokyo")),
        },
    )
    write_parquet(
        tmp_path / "date.parquet",
        {"user_id": ["c"], "event": ["v"], "ts": pa.array([dt.date(2024, 1, 31)], pa.date32())},
    )
    files = [tmp_path / f for f in ("naive.parquet", "tz.parquet", "date.parquet")]
    store.ingest(files, ColumnMapping(timezone="Europe/Berlin"))
    assert rows(store) == [
        ("a", "v", "2024-01-31 09:00:00.000001"),  # naive: read in Berlin (UTC+1)
        ("b", "v", "2024-01-31 10:00:00"),  # an instant stays that instant (ms precision)
        ("c", "v", "2024-01-30 23:00:00"),  # a date is Berlin midnight
    ]


# ------------------------------------------------------------------ bad rows

BAD_CSV = (
    "user,event,ts,plan\n"  # 1
    "alice,view,2024-01-31T10:00:00Z,a\n"  # 2 good
    ",view,2024-01-31T10:00:00Z,a\n"  # 3 missing person
    "bob,,2024-01-31T10:00:00Z,a\n"  # 4 missing event
    "carol,view,,a\n"  # 5 missing time
    "dave,view,2024-13-45,a\n"  # 6 unparseable time
    "erin,view\n"  # 7 malformed
    '"frank\n'  # 8 a record spanning two lines starts here
    'jr",view,2024-01-31T10:01:00Z,b\n'  # 9
    "   ,view,2024-01-31T10:00:00Z,a\n"  # 10 blank person
    "\n"  # 11 blank line: ignored
    "gina,view,2024-01-31T10:02:00Z,c\n"  # 12 good
)
BAD_CSV_EXPECTED = [
    (3, "missing person_id (column 'user'); every event needs a person"),
    (4, "missing event name (column 'event'); every event needs an event name"),
    (5, "missing time (column 'ts'); every event needs a time"),
    (6, f"unparseable time '2024-13-45' in column 'ts'; {TIME_HINT}"),
    (7, "malformed CSV record: expected 4 fields, got 2"),
    (10, "missing person_id (column 'user'); every event needs a person"),
]


def test_csv_bad_rows_have_exact_lines_and_reasons(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    report = store.ingest([path])
    (file,) = report.files
    assert file.rows_read == 9
    assert file.rows_loaded == 3
    assert file.rows_quarantined == 6
    assert [(b.line, b.reason) for b in file.bad_rows] == BAD_CSV_EXPECTED
    assert {b.source for b in file.bad_rows} == {str(path)}
    assert rows(store) == [
        ("alice", "view", "2024-01-31 10:00:00"),
        ("frank\njr", "view", "2024-01-31 10:01:00"),
        ("gina", "view", "2024-01-31 10:02:00"),
    ]


def test_quarantine_keeps_raw_rows(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    store.ingest([path])
    raw = dict(
        store.connection.execute("SELECT line, raw FROM quarantine WHERE line IN (6, 7)").fetchall()
    )
    assert json.loads(raw[6]) == {"user": "dave", "event": "view", "ts": "2024-13-45", "plan": "a"}
    assert raw[7] == "erin,view"


def test_only_first_twenty_bad_rows_are_reported(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("user,event,ts\n" + "u,view,never\n" * 25 + "u,view,2024-01-01\n")
    file = store.ingest([path]).files[0]
    assert file.rows_quarantined == 25
    assert [b.line for b in file.bad_rows] == list(range(2, 22))
    assert len(store.quarantine(str(path))) == 25
    assert store.count_events() == 1


def test_jsonl_bad_rows(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"user_id": "a", "event": "view", "timestamp": "2024-01-31T10:00:00Z"}\n'  # 1
        '{"user_id": "a",\n'  # 2 invalid JSON
        "[1, 2]\n"  # 3 not an object
        "\n"  # 4 blank
        '{"event": "view", "timestamp": "2024-01-31T10:00:00Z"}\n'  # 5 no person
        '{"user_id": "b", "event": "view", "timestamp": true}\n'  # 6 not a time
        '{"user_id": "c", "event": "buy", "timestamp": "2024-01-31T11:00:00Z"}\n'  # 7
    )
    file = store.ingest([path]).files[0]
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (6, 2, 4)
    assert [(b.line, b.reason) for b in file.bad_rows] == [
        (2, "invalid JSON: Expecting property name enclosed in double quotes at column 17"),
        (3, "not a JSON object (got an array); each line must be one event object"),
        (5, "missing person_id (column 'user_id'); every event needs a person"),
        (6, f"unparseable time 'true' in column 'timestamp'; {TIME_HINT}"),
    ]
    assert rows(store) == [
        ("a", "view", "2024-01-31 10:00:00"),
        ("c", "buy", "2024-01-31 11:00:00"),
    ]


def test_parquet_bad_rows_use_row_numbers(store: EventStore, tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "bad.parquet",
        {
            "user_id": ["a", None, "c", "d"],
            "event": ["view", "view", "view", None],
            "ts": ["2024-01-31T10:00:00Z", "2024-01-31", "yesterday", "2024-01-31"],
        },
    )
    file = store.ingest([path]).files[0]
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (4, 1, 3)
    assert [(b.line, b.reason) for b in file.bad_rows] == [
        (2, "missing person_id (column 'user_id'); every event needs a person"),
        (3, f"unparseable time 'yesterday' in column 'ts'; {TIME_HINT}"),
        (4, "missing event name (column 'event'); every event needs an event name"),
    ]


# ------------------------------------------------------------------ files that cannot be read


def test_missing_file_loads_nothing_but_other_files_load(store: EventStore, tmp_path: Path) -> None:
    good = make_file(tmp_path, "csv")
    missing = tmp_path / "nope.csv"
    with pytest.raises(PartialIngestError) as caught:
        store.ingest([missing, good])
    assert str(caught.value) == f"{missing}: file not found; check the path"
    assert isinstance(caught.value, IngestError)
    assert caught.value.report.rows_loaded == 3
    assert store.count_events() == 3


def test_missing_person_column_names_file_columns_and_flag(
    store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text("uid,ts,name\nu1,2024-01-01,view\n")
    with pytest.raises(IngestError) as caught:
        store.ingest([path])
    assert str(caught.value) == (
        f"{path}: no person column (looked for person_id, distinct_id, user_id, person, user, "
        "customer_id, user_pseudo_id, anonymous_id, visitor_id, client_id, contact_id, "
        "customer_email, email, customer); columns are: uid, ts, name; use --person-col uid"
    )
    assert store.count_events() == 0
    assert store.property_types() == {}
    store.ingest([path], ColumnMapping(person_col="uid"))
    assert rows(store) == [("u1", "view", "2024-01-01 00:00:00")]


def test_explicit_column_that_is_absent(store: EventStore, tmp_path: Path) -> None:
    path = make_file(tmp_path, "csv")
    with pytest.raises(IngestError, match=r"no column 'usr' for --person-col; columns are: "):
        store.ingest([path], ColumnMapping(person_col="usr"))


def test_corrupt_parquet(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(IngestError) as caught:
        store.ingest([path])
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot read Parquet file: ")
    assert message.endswith("; check the file is a complete Parquet file (re-export it)")
    assert store.count_events() == 0


def test_unknown_extension(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    with pytest.raises(IngestError) as caught:
        store.ingest([path])
    assert str(caught.value) == (
        f"{path}: unknown file type 'data.xlsx'; supported: .csv, .tsv, .jsonl, .ndjson, "
        ".json (JSON Lines), each optionally .gz; .parquet, .pq; rename the file accordingly"
    )


def test_corrupt_gzip_and_bad_encoding_roll_back(store: EventStore, tmp_path: Path) -> None:
    gz = tmp_path / "broken.csv.gz"
    gz.write_bytes(b"not gzip at all")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"user_id,event,ts,city\nu,view,2024-01-01,M\xfcnchen\n")
    with pytest.raises(PartialIngestError) as caught:
        store.ingest([gz, latin])
    assert [e.problem.split(":")[0] for e in caught.value.failures] == [
        "cannot decompress",
        "not UTF-8 text (invalid start byte)",
    ]
    assert store.count_events() == 0
    assert store.property_types() == {}
    # the connection is usable afterwards
    assert store.ingest([make_file(tmp_path, "csv")]).rows_loaded == 3


def test_invalid_timezone_and_unit(store: EventStore, tmp_path: Path) -> None:
    path = make_file(tmp_path, "csv")
    with pytest.raises(IngestError, match="unknown time zone 'Mars/Olympus'; use an IANA"):
        store.ingest([path], ColumnMapping(timezone="Mars/Olympus"))
    with pytest.raises(IngestError, match="unknown epoch unit 'ns'; use one of auto, s, ms, us"):
        store.ingest([path], ColumnMapping(time_unit="ns"))
    assert store.count_events() == 0


# ------------------------------------------------------------------ idempotency


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_ingesting_twice_adds_nothing(store: EventStore, tmp_path: Path, kind: str) -> None:
    path = make_file(tmp_path, kind)
    assert store.ingest([path]).rows_loaded == 3
    again = store.ingest([path])
    assert (again.rows_loaded, again.duplicates_skipped) == (0, 3)
    assert store.count_events() == 3


def test_duplicates_within_a_file_are_counted(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "dups.csv"
    path.write_text(
        "event_id,user_id,event,ts\n"
        "1,a,view,2024-01-01\n"
        "1,a,view,2024-01-01\n"  # same id: one event
        ",b,view,2024-01-01\n"
        ",b,view,2024-01-01\n"  # same content, no id: two genuine events
        "2,c,view,2024-01-01\n"
    )
    report = store.ingest([path])
    assert (report.rows_loaded, report.duplicates_skipped) == (4, 1)
    assert store.connection.execute(
        "SELECT event_id FROM events WHERE person_id <> 'b' ORDER BY 1"
    ).fetchall() == [("1",), ("2",)]
    assert store.connection.execute(
        "SELECT count(DISTINCT event_id) FROM events WHERE person_id = 'b'"
    ).fetchall() == [(2,)]


def test_quarantine_is_not_duplicated_on_reingest(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    store.ingest([path])
    second = store.ingest([path])
    assert (second.rows_loaded, second.duplicates_skipped, second.rows_quarantined) == (0, 3, 6)
    listed = store.quarantine()
    assert [(b.line, b.reason) for b in listed] == BAD_CSV_EXPECTED
    assert store.quarantine(str(path), limit=2) == listed[:2]
    assert store.quarantine("other.csv") == []


# ------------------------------------------------------------------ review fixes

UNTERMINATED = "malformed CSV record: unterminated quote (starts here)"


def test_unterminated_quote_quarantines_its_line_and_later_rows_load(
    store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "quote.csv"
    path.write_text(
        "person_id,event,time,note\n"  # 1
        'a,view,2024-01-01T10:00:00Z,"oops\n'  # 2 the quote never closes
        "b,view,2024-01-01T10:01:00Z,x\n"  # 3
        "c,view,2024-01-01T10:02:00Z,y\n"  # 4
        'd,view,2024-01-01T10:03:00Z,"two\n'  # 5 a quoted field that does close...
        'lines"\n'  # 6
        "e,view,2024-01-01T10:04:00Z,z\n"  # 7
        'f,view,2024-01-01T10:05:00Z,"again\n'  # 8 unterminated, and the last line
    )
    file = store.ingest([path]).files[0]
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (6, 4, 2)
    assert [(b.line, b.reason) for b in file.bad_rows] == [(2, UNTERMINATED), (8, UNTERMINATED)]
    assert store.connection.execute(
        "SELECT person_id, note FROM events ORDER BY person_id"
    ).fetchall() == [("b", "x"), ("c", "y"), ("d", "two\nlines"), ("e", "z")]
    assert store.connection.execute(
        "SELECT line, raw FROM quarantine ORDER BY line"
    ).fetchall() == [
        (2, 'a,view,2024-01-01T10:00:00Z,"oops'),
        (8, 'f,view,2024-01-01T10:05:00Z,"again'),
    ]


def test_stray_quote_closing_an_unterminated_one_loses_no_row(
    store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "stray.csv"
    path.write_text(
        "person_id,event,time,note\n"
        'a,view,2024-01-01T10:00:00Z,"oops\n'  # 2 unterminated...
        'b,view,2024-01-01T10:01:00Z,"x\n'  # 3 ...and this quote seemed to close it
        "c,view,2024-01-01T10:02:00Z,y\n"  # 4
    )
    file = store.ingest([path]).files[0]
    assert [(b.line, b.reason) for b in file.bad_rows] == [(2, UNTERMINATED), (3, UNTERMINATED)]
    assert rows(store) == [("c", "view", "2024-01-01 10:02:00")]


def test_unterminated_quote_in_the_header(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_text('person_id,event,"time\na,view,2024-01-01\n')
    with pytest.raises(
        IngestError, match=r"head\.csv:1: unterminated quote in the header; close the quote"
    ):
        store.ingest([path])


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        ("20240131", "seconds", "1970-08-23T06:15:31Z"),
        ("2024", "seconds", "1970-01-01T00:33:44Z"),
        ("0", "seconds", "1970-01-01T00:00:00Z"),
        ("20240131000", "seconds", "2611-05-21T18:36:40Z"),  # more than a year ahead
        ("100000000000", "milliseconds", "1973-03-03T09:46:40Z"),
        ("4102444800.5", "seconds", "2100-01-01T00:00:00.500000Z"),
    ],
)
def test_implausible_epoch_numbers_are_quarantined_in_auto_mode(
    store: EventStore, tmp_path: Path, value: str, unit: str, shown: str
) -> None:
    path = tmp_path / "compact.csv"
    path.write_text(f"person_id,event,time\na,view,{value}\nb,view,{SECONDS}\n")
    file = store.ingest([path]).files[0]
    flag = unit[0] if unit != "milliseconds" else "ms"
    assert [(b.line, b.reason) for b in file.bad_rows] == [
        (
            2,
            f"time {value} in column 'time' reads as epoch {unit} = {shown}, which is "
            f"implausible; write ISO dates (2024-01-31) or pass --time-unit {flag} to accept it",
        )
    ]
    assert micros(store) == [SECOND_US]


def test_explicit_time_unit_accepts_any_epoch(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "compact.csv"
    path.write_text("person_id,event,time\na,view,20240131\nb,view,2024\n")
    file = store.ingest([path], ColumnMapping(time_unit="s")).files[0]
    assert (file.rows_loaded, file.rows_quarantined) == (2, 0)
    assert micros(store) == [2024 * 1_000_000, 20240131 * 1_000_000]


def test_epoch_unit_is_detected_per_value(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "outlier.csv"
    path.write_text(
        "person_id,event,time\n"
        "a,view,1704103200\n"
        "b,view,1704103260\n"
        "c,view,1704103320000\n"  # one row in milliseconds
        "d,view,1704103380000000\n"  # one in microseconds
    )
    assert store.ingest([path]).rows_loaded == 4
    assert micros(store) == [
        1_704_103_200_000_000,
        1_704_103_260_000_000,
        1_704_103_320_000_000,
        1_704_103_380_000_000,
    ]


def test_parquet_epoch_numbers_are_checked_per_value(store: EventStore, tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "ints.parquet",
        {
            "user_id": ["a", "b", "c"],
            "event": ["v", "v", "v"],
            "ts": pa.array([SECONDS, SECONDS * 1000 + 1, 20240131], pa.int64()),
        },
    )
    file = store.ingest([path]).files[0]
    assert [b.line for b in file.bad_rows] == [3]
    assert micros(store) == [SECOND_US, SECOND_US + 1000]


def test_identical_rows_in_one_file_are_all_kept(store: EventStore, tmp_path: Path) -> None:
    header = "person_id,event,time,amount\n"
    row = "a,buy,2024-01-01T10:00:00Z,5\n"
    twice = tmp_path / "twice.csv"
    twice.write_text(header + row + row)
    once = tmp_path / "once.csv"
    once.write_text(header + "b,view,2024-01-01T09:00:00Z,1\n" + row)
    first = store.ingest([twice])
    assert (first.rows_loaded, first.duplicates_skipped) == (2, 0)
    again = store.ingest([twice, once])  # the same file, and an export holding the row once
    assert (again.rows_loaded, again.duplicates_skipped) == (1, 3)
    assert store.event_counts() == {"buy": 2, "view": 1}


def test_jsonl_bare_carriage_return_does_not_split_a_record(
    store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "cr.jsonl"
    path.write_bytes(
        b'{"user_id": "a",\r"event": "view", "ts": "2024-01-31T10:00:00Z"}\r\n'  # 1
        b'{"user_id": "b", "event": "view", "ts": "2024-01-31T11:00:00Z"}\n'  # 2
        b'{"user_id": "c",\r"event": \r}\n'  # 3 invalid JSON, reported on its own line
    )
    file = store.ingest([path]).files[0]
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (3, 2, 1)
    assert [b.line for b in file.bad_rows] == [3]
    assert rows(store) == [
        ("a", "view", "2024-01-31 10:00:00"),
        ("b", "view", "2024-01-31 11:00:00"),
    ]


def test_jsonl_of_empty_objects_is_quarantined(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("{}\n\n{}\n")
    file = store.ingest([path]).files[0]
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (2, 0, 2)
    reason = "missing person_id; every event needs a person"
    assert [(b.line, b.reason) for b in file.bad_rows] == [(1, reason), (3, reason)]
    assert [
        raw for (raw,) in store.connection.execute("SELECT raw FROM quarantine").fetchall()
    ] == [
        "{}",
        "{}",
    ]


def _bad_inputs(tmp_path: Path) -> list[Path]:
    csv_quote = tmp_path / "quote.csv"
    csv_quote.write_text('person_id,event,time\na,view,"x\nb,view,2024-01-01\nb,view,2024-01-01\n')
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text(BAD_CSV)
    compact = tmp_path / "compact.csv"
    compact.write_text("person_id,event,time\na,view,20240131\na,view,2024-01-01\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{}\n{}\nnot json\n{"properties": {}}\n')
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_text(
        '{"person_id": "a", "event": "v", "time": "2024-01-01"}\n'
        '{"person_id": "a", "event": "v", "time": "2024-01-01"}\n'
        '{}\n{"person_id": "b", "event": "v", "time": 2024}\n[]\n'
    )
    parquet = write_parquet(
        tmp_path / "bad.parquet",
        {"user_id": ["a", None, "a"], "event": ["v", "v", "v"], "ts": ["2024-01-01", "x", "2024"]},
    )
    return [csv_quote, bad_csv, compact, empty, jsonl, parquet]


def test_every_row_read_is_loaded_skipped_or_quarantined(store: EventStore, tmp_path: Path) -> None:
    paths = _bad_inputs(tmp_path)
    for _ in range(2):  # the second pass: everything valid is a duplicate
        report = store.ingest(paths)
        for file in report.files:
            accounted = file.rows_loaded + file.duplicates_skipped + file.rows_quarantined
            assert file.rows_read == accounted, file
    counts = [(f.rows_read, f.rows_loaded, f.duplicates_skipped) for f in report.files]
    assert counts == [(3, 0, 2), (9, 0, 3), (2, 0, 1), (4, 0, 0), (5, 0, 2), (3, 0, 1)]
    assert sum(len(store.quarantine(str(p))) for p in paths) == 17


# ------------------------------------------------------------------ review: given ids

SHOPIFY = (
    "Name,Email,Financial Status,Created at\n"
    "#1001,a@x.io,order,2024-03-01 10:00:00 +0100\n"
    "#1002,b@x.io,order,2024-03-01 11:00:00 +0100\n"
    "#1003,c@x.io,order,2024-03-01 12:00:00 +0100\n"
    "#1003,c@x.io,refund,2024-03-05 09:00:00 +0100\n"
    "#1002,b@x.io,order,2024-03-01 11:00:00 +0100\n"
)
ID_HINT = (
    "map a column that is unique per event with --id-col, or leave --id-col out so ids are derived"
)


def test_same_given_id_for_a_different_event_is_quarantined(
    store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(SHOPIFY)
    mapping = ColumnMapping(id_col="Name", event_col="Financial Status")
    (file,) = store.ingest([path], mapping).files
    assert file.columns == {
        "person": "Email",
        "event": "Financial Status",
        "time": "Created at",
        "id": "Name",
    }
    assert (file.rows_loaded, file.duplicates_skipped, file.rows_quarantined) == (3, 1, 1)
    assert [(b.line, b.reason) for b in file.bad_rows] == [
        (5, f"event_id '#1003' is already used by a different event (line 4 of {path}); {ID_HINT}")
    ]
    assert store.quarantine()[0].raw == (
        '{"Name":"#1003","Email":"c@x.io","Financial Status":"refund",'
        '"Created at":"2024-03-05 09:00:00 +0100"}'
    )
    # a second file reusing a stored id for another event; the same event again is a duplicate
    later = tmp_path / "later.csv"
    later.write_text(
        "Name,Email,Financial Status,Created at\n"
        "#1001,a@x.io,refund,2024-03-09 10:00:00 +0100\n"
        "#1001,a@x.io,order,2024-03-01 10:00:00 +0100\n"
        "#1004,d@x.io,order,2024-03-02 10:00:00 +0100\n"
    )
    (second,) = store.ingest([later], mapping).files
    assert (second.rows_loaded, second.duplicates_skipped, second.rows_quarantined) == (1, 1, 1)
    assert [(b.line, b.reason) for b in second.bad_rows] == [
        (
            2,
            "event_id '#1001' is already used by a different event (already in the store); "
            + ID_HINT,
        )
    ]
    assert store.count_events() == 4


# ------------------------------------------------------------------ review: delimiters


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("de.csv", "user_id;event;timestamp;umsatz;land\nu1;kauf;2024-01-31T10:00:00Z;9,5;DE\n"),
        ("pipe.csv", "user_id|event|timestamp|umsatz|land\nu1|kauf|2024-01-31T10:00:00Z|9,5|DE\n"),
        (
            "tab.csv",
            "user_id\tevent\ttimestamp\tumsatz\tland\nu1\tkauf\t2024-01-31T10:00:00Z\t9,5\tDE\n",
        ),
        (
            "tab.tsv",
            "user_id\tevent\ttimestamp\tumsatz\tland\nu1\tkauf\t2024-01-31T10:00:00Z\t9,5\tDE\n",
        ),
    ],
)
def test_delimiter_is_detected_from_the_header(
    store: EventStore, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    (file,) = store.ingest([path]).files
    assert (file.rows_loaded, file.rows_quarantined) == (1, 0)
    assert rows(store) == [("u1", "kauf", "2024-01-31 10:00:00")]
    assert store.connection.execute("SELECT umsatz, land FROM events").fetchall() == [("9,5", "DE")]


def test_explicit_delimiter_and_the_hint_for_a_wrong_one(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "de.csv"
    path.write_text("user_id;event;timestamp\nu1;kauf;2024-01-31T10:00:00Z\n")
    with pytest.raises(IngestError) as caught:
        store.ingest([path], ColumnMapping(delimiter=","))
    assert caught.value.hint.startswith(
        "the header looks ';'-separated; use --delimiter ';'; "
        "columns are: user_id;event;timestamp; use --person-col 'user_id;event;timestamp'"
    )
    store.ingest([path], ColumnMapping(delimiter=";"))
    assert rows(store) == [("u1", "kauf", "2024-01-31 10:00:00")]
    with pytest.raises(IngestError, match="a delimiter is one character, not ';;'"):
        store.ingest([path], ColumnMapping(delimiter=";;"))


# ------------------------------------------------------------------ review: column detection


@pytest.mark.parametrize(
    ("header", "person", "event", "time"),
    [
        ("Distinct ID,Event Type,Created at", "Distinct ID", "Event Type", "Created at"),
        ("$distinct_id,event-name,created-at", "$distinct_id", "event-name", "created-at"),
        ("user_pseudo_id,stage,event_timestamp", "user_pseudo_id", "stage", "event_timestamp"),
        ("anonymous_id,type,occurred_at", "anonymous_id", "type", "occurred_at"),
        ("visitor_id,activity,sent_at", "visitor_id", "activity", "sent_at"),
        ("client_id,Activity,received_at", "client_id", "Activity", "received_at"),
        ("contact_id,event,timestamp_utc", "contact_id", "event", "timestamp_utc"),
        ("customer_email,event,Timestamp.UTC", "customer_email", "event", "Timestamp.UTC"),
        ("email,event,ts", "email", "event", "ts"),
        ("customer,event,ts", "customer", "event", "ts"),
    ],
)
def test_new_aliases_and_normalized_matching(
    store: EventStore, tmp_path: Path, header: str, person: str, event: str, time: str
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(f"{header}\nu1,view,2024-01-31T10:00:00Z\n")
    (file,) = store.ingest([path]).files
    assert file.columns == {"person": person, "event": event, "time": time}
    assert rows(store) == [("u1", "view", "2024-01-31 10:00:00")]


def test_missing_column_suggests_a_plausible_quoted_column(
    store: EventStore, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text("Order Total,Kunde ID,event,Bestelldatum\n9,u1,view,2024-01-31\n")
    with pytest.raises(IngestError) as caught:
        store.ingest([path])
    assert caught.value.hint == (
        "columns are: Order Total, Kunde ID, event, Bestelldatum; use --person-col 'Kunde ID'"
    )
    path.write_text("user_id,event,Order Date,Total\nu1,view,2024-01-31,9\n")
    with pytest.raises(IngestError) as caught:
        store.ingest([path])
    assert caught.value.hint == (
        "columns are: user_id, event, Order Date, Total; use --time-col 'Order Date'"
    )


# ------------------------------------------------------------------ review: time formats


def test_offsets_with_a_space_and_without_a_colon(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,event,timestamp\n"
        "a,view,2024-03-01 10:15:00 +0100\n"
        "b,view,2024-03-01 10:15:00+0100\n"
        "c,view,2024-03-01 10:15:00.5 -05:30\n"
    )
    (file,) = store.ingest([path]).files
    assert (file.rows_loaded, file.rows_quarantined) == (3, 0)
    assert rows(store) == [
        ("a", "view", "2024-03-01 09:15:00"),
        ("b", "view", "2024-03-01 09:15:00"),
        ("c", "view", "2024-03-01 15:45:00.5"),
    ]


def test_nonexistent_local_times_are_quarantined(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,event,timestamp\n"
        "a,view,2024-03-31 02:30\n"
        "b,view,2024-03-31 03:30\n"
        "c,view,2024-03-31 02:30Z\n"
        "d,view,2024-10-27 02:30\n"
    )
    (file,) = store.ingest([path], ColumnMapping(timezone="Europe/Berlin")).files
    assert (file.rows_loaded, file.rows_quarantined) == (3, 1)
    assert [(b.line, b.reason) for b in file.bad_rows] == [
        (
            2,
            "time '2024-03-31 02:30' does not exist in Europe/Berlin (clocks jumped forward); "
            "fix the source or give the time with an offset",
        )
    ]
    assert rows(store) == [
        ("b", "view", "2024-03-31 01:30:00"),
        ("c", "view", "2024-03-31 02:30:00"),
        ("d", "view", "2024-10-27 01:30:00"),  # ambiguous: DuckDB takes the summer-time one
    ]


# ------------------------------------------------------------------ review: quarantine listing


def test_quarantine_by_any_name_of_the_source_with_raw_and_count(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    Path("sub/bad.csv").write_text(
        "user_id,event,timestamp\n,view,2024-01-31T10:00:00Z\nb,view,never\nc,view,2024-02-01\n"
    )
    Path("other.csv").write_text("user_id,event,timestamp\nz,,2024-01-31T10:00:00Z\n")
    store.ingest(["sub/bad.csv", "other.csv"])
    listed = store.quarantine(source="sub/bad.csv")
    assert [(b.source, b.line, b.raw) for b in listed] == [
        ("sub/bad.csv", 2, '{"user_id":null,"event":"view","timestamp":"2024-01-31T10:00:00Z"}'),
        ("sub/bad.csv", 3, '{"user_id":"b","event":"view","timestamp":"never"}'),
    ]
    assert store.quarantine(source=str(tmp_path / "sub" / "bad.csv")) == listed
    assert store.quarantine(source="bad.csv") == listed
    assert store.quarantine(source="nope.csv") == []
    assert store.quarantine_count() == 3
    assert store.quarantine_count("bad.csv") == 2
    assert store.quarantine_count("other.csv") == 1
    assert store.quarantine(limit=0) == []
    with pytest.raises(IngestError, match="limit must be 0 or more, got -1"):
        store.quarantine(limit=-1)
    # two loaded files named bad.csv: the name alone is ambiguous, their paths are not
    (tmp_path / "sub2").mkdir()
    Path("sub2/bad.csv").write_text("user_id,event,timestamp\n,x,2024-01-31T10:00:00Z\n")
    store.ingest(["sub2/bad.csv"])
    with pytest.raises(IngestError, match="several loaded files have this name"):
        store.quarantine(source="bad.csv")
    assert store.quarantine_count("sub2/bad.csv") == 1
    assert store.quarantine_count("./sub/bad.csv") == 2
