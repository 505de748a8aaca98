"""Privacy: `forget --person` removes a person's every trace and their bytes from the store file,
later loads keep them out, and `quarantine --older-than --delete` drops old rejected rows."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from funnelscope.analyses.funnel import people, run_funnel
from funnelscope.cli.main import main
from funnelscope.errors import IngestError
from funnelscope.model.spec import parse_funnel
from funnelscope.store import ColumnMapping, EventStore
from funnelscope.store.privacy import raw_values, read_id_file
from funnelscope.store.rewrite import wal_of

EMAIL = "erin@example.com"
HEADER = "user_id,device_id,event,timestamp,plan,email\n"
OTHERS = """\
alice,,view,2024-03-01T10:00:00Z,,
alice,,cart,2024-03-01T10:05:00Z,,
alice,,buy,2024-03-01T10:10:00Z,pro,
bob,,view,2024-03-01T11:00:00Z,,
bob,,cart,2024-03-01T11:30:00Z,,
carol,,view,2024-03-02T09:00:00Z,,
,,view,2024-03-05T00:00:00Z,,
dave,,view,2024-03-05T10:00:00Z,,
dave,,buy,not-a-time,,
"""
ERIN = f"""\
,dev-erin,view,2024-03-03T08:00:00Z,,
{EMAIL},dev-erin,$identify,2024-03-03T08:01:00Z,,{EMAIL}
{EMAIL},,cart,2024-03-03T08:05:00Z,,
{EMAIL},,buy,2024-03-03T08:09:00Z,basic,
{EMAIL},,buy,not-a-time,basic,{EMAIL}
"""
FRANK = "frank,{device},view,2024-03-04T12:00:00Z,,\nfrank,,cart,2024-03-04T12:10:00Z,,\n"
MAPPING = ["--device-col", "device_id", "--no-progress"]
STEPS = ["view", "cart", "buy"]


def export(path: Path, *, erin: bool = True) -> Path:
    """16 rows: erin's 5 (an anonymous view, an identify with her email as trait, cart, buy and
    a row quarantined for its time), frank's 2 (his view on erin's device: a link set aside, as
    the device was erin's first), and 9 of alice, bob, carol, dave and nobody (2 quarantined)."""
    body = OTHERS + (ERIN if erin else "") + FRANK.format(device="dev-erin" if erin else "")
    path.write_text(HEADER + body)
    return path


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")

    def _run(*args: str) -> Run:
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return _run


def store_bytes(db: Path) -> bytes:
    """The store file and its write-ahead log, as they are on disk."""
    data = db.read_bytes()
    wal = wal_of(db)
    return data + (wal.read_bytes() if wal.exists() else b"")


def snapshot(db: Path) -> dict[str, object]:
    """Everything a user can see of a store: funnel counts, people, events, links, quarantine."""
    with EventStore(db, read_only=True) as store:
        con = store.connection
        result = run_funnel(parse_funnel({"steps": STEPS, "window": "7d"}), store)
        return {
            "counts": result.counts(),
            "buyers": sorted(people(result, store, 3)),
            "events": con.execute(
                'SELECT distinct_id, person_id, event, "timestamp", plan, email FROM events '
                "ORDER BY ALL"
            ).fetchall(),
            "links": con.execute(
                "SELECT from_id, to_id, kind FROM identity_links ORDER BY ALL"
            ).fetchall(),
            "quarantine": [(r.line, r.reason, r.raw) for r in store.quarantine()],
        }


@pytest.mark.parametrize("given", [EMAIL, "dev-erin"])
def test_forget_person_removes_every_trace_and_its_bytes(cli, tmp_path: Path, given: str) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "funnelscope.duckdb"
    run = cli("ingest", str(export(tmp_path / "events.csv")), *MAPPING)
    assert run.code == 0
    assert "events.csv: 13 loaded, 0 duplicates skipped, 3 quarantined (of 16 rows)" in run.err
    before = snapshot(db)
    assert before["counts"] == (6, 4, 2)
    assert before["buyers"] == ["alice", EMAIL]
    assert before["links"] == [("dev-erin", EMAIL, "identify"), ("dev-erin", "frank", "identify")]
    assert EMAIL.encode() in store_bytes(db)  # so that its absence below means something

    run = cli("forget", "--person", given)
    assert run.code == 0, run.err
    assert (
        "forgot 1 person (2 ids): removed 4 events, 2 identity links, 1 quarantined rows and "
        "0 CRM deals; 9 events left; rewrote funnelscope.duckdb without them" in run.err
    )
    assert EMAIL.encode() not in store_bytes(db)
    assert b"dev-erin" not in store_bytes(db)
    after = snapshot(db)
    assert after["counts"] == (5, 3, 1)  # erin viewed, carted and bought: one less at each step
    assert after["buyers"] == ["alice"]
    assert after["links"] == []
    assert [line for line, _, _ in after["quarantine"]] == [8, 10]  # nobody's and dave's rows

    # the same as a store that never saw erin (frank's view without her device)
    export(tmp_path / "without.csv", erin=False)
    assert cli("ingest", "without.csv", "--db", "without.duckdb", *MAPPING).code == 0
    never = snapshot(tmp_path / "without.duckdb")
    assert after["counts"] == never["counts"] and after["buyers"] == never["buyers"]
    assert after["events"] == never["events"] and after["links"] == never["links"]
    assert [(r, raw) for _, r, raw in after["quarantine"]] == [
        (r, raw) for _, r, raw in never["quarantine"]
    ]
    assert json.loads(cli("sources", "--format", "json").out)["sources"][0]["events"] == 9


def test_reloading_the_export_keeps_the_forgotten_person_out(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "funnelscope.duckdb"
    events = export(tmp_path / "events.csv")
    cli("ingest", str(events), *MAPPING)
    assert cli("forget", "--person", EMAIL).code == 0
    forgotten = snapshot(db)

    run = cli("ingest", str(events), *MAPPING)
    assert run.code == 0
    assert (
        "events.csv: 0 loaded, 9 duplicates skipped, 2 quarantined, "
        "5 rows of forgotten persons skipped (of 16 rows)" in run.err
    )
    assert "1 rows carry a forgotten device id" in run.err  # frank's view on erin's device
    assert snapshot(db) == forgotten
    assert EMAIL.encode() not in store_bytes(db)

    # under a new name the same rows count as a new file: still none of erin's
    copy = tmp_path / "copy.csv"
    copy.write_text(events.read_text())
    run = cli("ingest", str(copy), *MAPPING)
    assert "copy.csv: 0 loaded, 9 duplicates skipped, 2 quarantined, 5 rows" in run.err
    assert snapshot(db)["counts"] == (5, 3, 1)
    with EventStore(db, read_only=True) as store:
        assert store.quarantine_count() == 4  # nobody's and dave's rows, of each file
        assert store.connection.execute("SELECT count(*) FROM identity_links").fetchall() == [(0,)]


def test_forgotten_ids_are_stored_as_salted_hashes(tmp_path: Path) -> None:
    salts = []
    for name in ("a.duckdb", "b.duckdb"):
        with EventStore(tmp_path / name) as store:
            done = store.forget_persons([EMAIL])
            assert (done.ids, done.unknown, done.events) == ((EMAIL,), (EMAIL,), 0)
            con = store.connection
            (salt,) = con.execute("SELECT salt FROM privacy_salt").fetchone() or ("",)
            hashes = [r[0] for r in con.execute("SELECT id_hash FROM forgotten_ids").fetchall()]
            assert re.fullmatch("[0-9a-f]{32}", salt)
            assert hashes == [hashlib.sha256((salt + EMAIL).encode()).hexdigest()]
            store.forget_persons([EMAIL])  # forgetting again adds nothing
            assert con.execute("SELECT count(*) FROM forgotten_ids").fetchall() == [(1,)]
            salts.append(salt)
        assert EMAIL.encode() not in store_bytes(tmp_path / name)
    assert salts[0] != salts[1]


def test_a_quarantined_row_is_a_persons_when_the_id_is_one_of_its_values() -> None:
    assert {"erin@example.com", "view", "42", "true", "1.50"} <= raw_values(
        '{"user": "erin@example.com", "event": "view", "n": 42, "ok": true, "price": 1.50}'
    )
    assert "é-7" in raw_values('{"user": "\\u00e9-7"}')  # JSON escapes decoded
    assert "erin@example.com" in raw_values('{bad json "erin@example.com", ')
    assert "a b" in raw_values('x;"a b";y') and "a b" in raw_values("x|a b |y")
    assert "erin@example.com" in raw_values("mail erin@example.com. thanks")
    assert "erin@example.com" not in raw_values('{"user": "erin@example.com.au"}')
    assert "erin@example.com" not in raw_values("to: xerin@example.com")
    assert "42" not in raw_values('{"user": "u142", "n": 142}')
    assert "Erin" not in raw_values('{"user": "erin"}')  # ids are case-sensitive


def test_only_whole_values_take_quarantined_rows_with_them(tmp_path: Path) -> None:
    rows = (
        "user_id,event,timestamp,note\n"
        "u42,view,never,\n"  # u42's own row
        "u7,view,never,ask u42.\n"  # u42 named in free text: also taken
        "u142,view,never,\n"  # another id containing 42: kept
        "u7,view,never,u42x\n"  # kept
    )
    path = tmp_path / "q.csv"
    path.write_text(rows)
    with EventStore(":memory:") as store:
        store.ingest([path])
        done = store.forget_persons(["u42"])
        assert (done.quarantined, done.events, done.unknown) == (2, 0, ())
        assert [r.line for r in store.quarantine()] == [4, 5]
        assert store.rewrite() is None  # a store in memory has no file


def test_persons_file_one_id_per_line_or_a_csv_column(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plain = tmp_path / "ids.txt"
    plain.write_text(f"\n{EMAIL}\n  bob  \n\nbob\n")
    assert read_id_file(plain, "ids.txt") == [EMAIL, "bob"]
    table = tmp_path / "requests.csv"
    table.write_text(f"requested_at;person_id\n2024-05-01;{EMAIL}\n2024-05-02;\n2024-05-03;bob\n")
    assert read_id_file(table, "requests.csv") == [EMAIL, "bob"]
    bad = tmp_path / "bad.csv"
    bad.write_text("when,who\n2024-05-01,bob\n")
    with pytest.raises(IngestError, match="no id column \\(header: when, who\\)"):
        read_id_file(bad, "bad.csv")

    cli("ingest", str(export(tmp_path / "events.csv")), *MAPPING)
    run = cli("forget", "--persons", "requests.csv", "--person", "carol")
    assert run.code == 0, run.err
    assert "forgot 3 persons (4 ids): removed 7 events, 2 identity links" in run.err
    assert snapshot(tmp_path / "funnelscope.duckdb")["counts"] == (3, 2, 1)  # alice, frank, dave
    run = cli("forget", "--persons", "bad.csv")
    assert run.code == 1 and "bad.csv:1: no id column (header: when, who)" in run.err


def test_forget_tells_about_ids_it_does_not_know_and_refuses_mixed_arguments(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    cli("ingest", str(export(tmp_path / "events.csv")), *MAPPING)
    run = cli("forget", "--person", "Alice", "--person", "carol")
    assert run.code == 0
    assert "forgot 1 person (2 ids): removed 1 events" in run.err
    assert "warning: 1 ids are not in the store (Alice)" in run.err
    assert cli("forget", "events.csv", "--person", "bob").code == 2
    assert cli("forget").code == 2
    run = cli("forget", "events.csv")  # a file, as before
    assert run.code == 0 and "removed 12 events of events.csv; 0 left" in run.err


def test_a_mapping_file_makes_no_links_to_forgotten_ids(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("ingest", str(export(tmp_path / "events.csv")), *MAPPING)
    cli("forget", "--person", EMAIL)
    mapping = tmp_path / "map.csv"
    mapping.write_text(f"id,person_id\ndev-erin,{EMAIL}\nbob,alice\n{EMAIL},\n")
    run = cli("identities", "--load", "map.csv")
    assert run.code == 0
    assert "map.csv: 2 rows of forgotten persons skipped" in run.err
    with EventStore(tmp_path / "funnelscope.duckdb", read_only=True) as store:
        links = store.connection.execute("SELECT from_id, to_id FROM identity_links").fetchall()
        assert links == [("bob", "alice")]
        assert store.quarantine_count() == 2  # the row naming erin alone is not kept
    assert EMAIL.encode() not in store_bytes(tmp_path / "funnelscope.duckdb")


def test_quarantine_older_than_lists_and_deletes_old_rows(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "funnelscope.duckdb"
    cli("ingest", str(export(tmp_path / "events.csv")), *MAPPING)
    with EventStore(db) as store:  # nobody's row 40 days old, dave's 10 days, erin's new
        store.connection.execute(
            "UPDATE quarantine SET ingested_at = ingested_at - CASE line "
            "WHEN 8 THEN INTERVAL 40 DAY WHEN 10 THEN INTERVAL 10 DAY ELSE INTERVAL 0 DAY END"
        )
    listed = json.loads(cli("quarantine", "--older-than", "30d", "--format", "json").out)
    assert (listed["total"], [r["line"] for r in listed["rows"]]) == (1, [8])
    listed = json.loads(cli("quarantine", "--older-than", "1w", "--format", "json").out)
    assert [r["line"] for r in listed["rows"]] == [8, 10]
    assert b"2024-03-05T00:00:00Z" in store_bytes(db)  # nobody's raw row

    run = cli("quarantine", "--older-than", "30d", "--delete")
    assert run.code == 0
    assert "deleted 1 quarantined rows older than 30d; rewrote funnelscope.duckdb" in run.err
    assert b"2024-03-05T00:00:00Z" not in store_bytes(db)
    remaining = json.loads(cli("quarantine", "--format", "json").out)["rows"]
    assert [r["line"] for r in remaining] == [10, 15]
    done = json.loads(cli("quarantine", "--older-than", "30d", "--delete", "--format", "json").out)
    assert done["deleted"] == 0 and done["rewritten"] is True
    assert snapshot(db)["counts"] == (6, 4, 2)  # events untouched

    assert cli("quarantine", "--delete").code == 2  # needs --older-than
    run = cli("quarantine", "--older-than", "soon")
    assert run.code == 2 and "--older-than: 'soon' is not a duration" in run.err
    assert cli("quarantine", "--older-than", "1d", "--delete", "--limit", "3").code == 2


def test_the_rewrite_keeps_every_table_the_load_ids_and_leaves_no_spare_files(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.duckdb"
    events = export(tmp_path / "events.csv")
    with EventStore(db) as store:
        store.ingest([events], ColumnMapping(device_col="device_id"))
        tables = [
            str(r[0])
            for r in store.connection.execute(
                "SELECT table_name FROM duckdb_tables() ORDER BY 1"
            ).fetchall()
        ]
        before = {
            t: store.connection.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in tables
        }
        (tmp_path / "s.duckdb.rewrite").write_text("left by a crash")
        rewrite = store.rewrite()
        assert rewrite is not None and rewrite.bytes_after > 0
        after = {
            t: store.connection.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in tables
        }
        assert after == before
        assert store.property_types() == {"email": "VARCHAR", "plan": "VARCHAR"}
        other = export(tmp_path / "other.csv", erin=False)
        store.ingest([other])
        assert [load.load_id for load in store.loads()] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("s.duckdb")) == [
        "s.duckdb"
    ]


def test_forget_source_takes_the_file_and_its_bytes_out_of_the_store(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "funnelscope.duckdb"
    assert cli("ingest", str(export(tmp_path / "events.csv")), *MAPPING).code == 0
    kept = tmp_path / "kept.csv"
    kept.write_text(HEADER + "gina,,view,2024-03-06T10:00:00Z,,\n")
    assert cli("ingest", str(kept), "--no-progress").code == 0
    assert EMAIL.encode() in store_bytes(db)  # in its events and in a quarantined row

    run = cli("forget", "events.csv")
    assert run.code == 0, run.err
    assert "removed 13 events of events.csv; 1 left; rewrote funnelscope.duckdb" in run.err
    assert EMAIL.encode() not in store_bytes(db)
    assert b"dev-erin" not in store_bytes(db)
    with EventStore(db, read_only=True) as store:
        assert store.connection.execute("SELECT person_id FROM events").fetchall() == [("gina",)]
        assert store.quarantine() == []


def test_forget_person_takes_their_crm_deals_and_a_reload_skips_them(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    deals = tmp_path / "deals.csv"
    deals.write_text(
        "deal_id,name,stage,created_at,person_id\n"
        "D1,Zanzibar Widgets,a,2026-01-01,zoe@example.com\n"
        "D2,Other,a,2026-01-01,sam@example.com\n"
    )
    history = tmp_path / "history.csv"
    history.write_text(
        "deal_id,to_stage,changed_at\nD1,a,2026-01-01\nD1,b,2026-01-05\nD2,a,2026-01-01\n"
    )
    activities = tmp_path / "activities.csv"
    activities.write_text("deal_id,kind,done_at\nD1,call,2026-01-02\nD2,call,2026-01-02\n")
    files = [str(deals), str(history), str(activities)]
    assert cli("pipeline", "load", *files).code == 0
    db = tmp_path / "funnelscope.duckdb"
    run = cli("forget", "--person", "zoe@example.com")
    assert run.code == 0, run.err
    assert "removed 0 events, 0 identity links, 0 quarantined rows and 1 CRM deals" in run.err
    assert b"Zanzibar" not in store_bytes(db) and b"zoe@example.com" not in store_bytes(db)
    reload = cli("pipeline", "load", *files, "--format", "json")
    assert reload.code == 0, reload.err
    loaded = json.loads(reload.out)["files"]
    assert [(f["deals"], f["stage_changes"], f["activities"], f["forgotten_skipped"])
            for f in loaded] == [(1, 0, 0, 1), (0, 1, 0, 2), (0, 0, 1, 1)]  # fmt: skip
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        tables = ("crm_deals", "crm_stage_changes", "crm_activities")
        left = [con.execute(f"SELECT DISTINCT deal_id FROM {t}").fetchall() for t in tables]
    assert left == [[("D2",)], [("D2",)], [("D2",)]]
