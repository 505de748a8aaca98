"""One bad field quarantines its row, never the whole file, and never ends in a traceback.

Each case builds a file with one faulty row among good ones, loads it through the public API and
checks the exact counts, the quarantined line (its first physical line; the row number for
Parquet), that the reason names the field and says how to fix it, and that the raw text is kept
(bytes that are not UTF-8 shown as ``\\xNN``). One CLI run per family checks the exit code and
that no traceback is printed.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from funnelscope.cli.main import cli
from funnelscope.errors import IngestError
from funnelscope.store.event_store import EventStore
from funnelscope.store.ingest import FileReport
from funnelscope.store.jsonl_reader import MAX_DEPTH, NestingTooDeep, flatten_event

UTF8_FIX = "save the file with UTF-8 encoding or correct the value"
TIME_HINT = "use ISO 8601 like 2024-01-31T10:00:00Z or epoch seconds/milliseconds"


def load(tmp_path: Path, path: Path) -> tuple[FileReport, list[tuple[int, str, str]], list[str]]:
    """Ingest ``path`` into a fresh store: its report, the quarantine (line, reason, raw) and the
    persons loaded."""
    with EventStore(tmp_path / "s.duckdb") as store:
        file = store.ingest([path]).files[0]
        quarantined = store.connection.execute(
            "SELECT line, reason, raw FROM quarantine ORDER BY line"
        ).fetchall()
        persons = store.connection.execute(
            "SELECT person_id FROM events ORDER BY person_id"
        ).fetchall()
    return file, [tuple(row) for row in quarantined], [p for (p,) in persons]


def counts(file: FileReport) -> tuple[int, int, int]:
    return file.rows_read, file.rows_loaded, file.rows_quarantined


def run_cli(tmp_path: Path, path: Path) -> tuple[int, str]:
    """``funnelscope ingest path``: the exit code and everything printed."""
    db = str(tmp_path / "cli.duckdb")
    result = CliRunner().invoke(cli, ["ingest", str(path), "--db", db, "--no-progress"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


# ------------------------------------------------------------------ CSV: a byte that is not UTF-8

CSV_ROWS = [
    b"person_id,event,time,name\n",  # 1
    b'a,view,2024-01-31T10:00:00Z,"two\n',  # 2 a quoted field over two lines...
    b'lines"\n',  # 3
    b"b,view,2024-01-31T10:01:00Z,Ren\xe9\n",  # 4 Latin-1 e-acute
    b"c,view,2024-01-31T10:02:00Z,Zo\xc3\xab\n",  # 5 UTF-8 e-diaeresis
]


def write_text_file(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("name", ["events.csv", "events.csv.gz", "events.tsv", "events.tsv.gz"])
def test_csv_row_with_a_latin1_byte_is_quarantined(tmp_path: Path, name: str) -> None:
    data = b"".join(CSV_ROWS)
    if ".tsv" in name:
        data = data.replace(b",", b"\t")
    file, quarantined, persons = load(tmp_path, write_text_file(tmp_path / name, data))
    assert counts(file) == (3, 2, 1)
    raw = "b,view,2024-01-31T10:01:00Z,Ren\\xe9"
    if ".tsv" in name:
        raw = raw.replace(",", "\t")
    assert quarantined == [(4, f"not UTF-8 text in column 'name' (Ren\\xe9); {UTF8_FIX}", raw)]
    assert persons == ["a", "c"]


def test_csv_bad_byte_in_a_multi_line_field_keeps_every_line(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_bytes(
        b"person_id,event,time,note\n"  # 1
        b'a,view,2024-01-31T10:00:00Z,"caf\xe9\n'  # 2 the bad record spans lines 2-3
        b'au lait"\n'  # 3
        b"b,view,2024-01-31T10:01:00Z,ok\n"  # 4
        b"c,view,2024-01-31T10:02:00Z,fine\r"  # 5 a bare CR ends a CSV line too
        b"d,view,2024-01-31T10:03:00Z,x\xff\r\n"  # 6
        b"e,view,2024-01-31T10:04:00Z,y\r\n"  # 7
    )
    file, quarantined, persons = load(tmp_path, path)
    assert counts(file) == (5, 3, 2)
    assert [(line, raw) for line, _, raw in quarantined] == [
        (2, 'a,view,2024-01-31T10:00:00Z,"caf\\xe9\nau lait"'),
        (6, "d,view,2024-01-31T10:03:00Z,x\\xff"),
    ]
    assert all("column 'note'" in reason for _, reason, _ in quarantined)
    assert persons == ["b", "c", "e"]


def test_csv_bad_byte_in_a_record_with_extra_fields_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(
        b"person_id,event,time\na,view,2024-01-31T10:00:00Z,\xe9\nb,view,2024-01-31T10:01:00Z\n"
    )
    file, quarantined, _ = load(tmp_path, path)
    assert counts(file) == (2, 1, 1)
    assert quarantined == [
        (2, f"not UTF-8 text in field 4 (\\xe9); {UTF8_FIX}", "a,view,2024-01-31T10:00:00Z,\\xe9")
    ]


def test_csv_with_a_byte_order_mark_reads_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfperson_id,event,time\na,view,2024-01-31T10:00:00Z\n")
    file, _, persons = load(tmp_path, path)
    assert counts(file) == (1, 1, 0)
    assert file.columns["person"] == "person_id"
    assert persons == ["a"]


# ------------------------------------------------------------------ mostly not UTF-8: refused


def latin1_csv(path: Path, bad_rows: int, good_rows: int) -> Path:
    lines = ["person_id,event,time,city\n"]
    lines += [f"b{i},view,2024-01-31T10:00:00Z,M\xfcnchen\n" for i in range(bad_rows)]
    lines += [f"g{i},view,2024-01-31T10:00:00Z,Berlin\n" for i in range(good_rows)]
    path.write_bytes("".join(lines).encode("latin-1"))
    return path


def test_a_file_mostly_not_utf8_fails_as_a_whole(tmp_path: Path) -> None:
    path = latin1_csv(tmp_path / "latin.csv", bad_rows=3, good_rows=2)
    with EventStore(tmp_path / "s.duckdb") as store:
        with pytest.raises(IngestError) as caught:
            store.ingest([path])
        assert store.count_events() == 0
        assert store.quarantine() == []
    assert str(caught.value) == (
        f"{path}:2: not UTF-8 text (invalid start byte); save the file with UTF-8 encoding "
        "(3 of 5 rows are not UTF-8 text)"
    )


def test_a_file_half_not_utf8_loads_its_good_half(tmp_path: Path) -> None:
    file, quarantined, persons = load(tmp_path, latin1_csv(tmp_path / "half.csv", 2, 2))
    assert counts(file) == (4, 2, 2)
    assert [line for line, _, _ in quarantined] == [2, 3]
    assert persons == ["g0", "g1"]


def test_a_header_not_utf8_fails_the_file(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_bytes(b"person_id,event,time,stra\xdfe\n" + b"a,view,2024-01-31T10:00:00Z,x\n" * 5)
    with EventStore(tmp_path / "s.duckdb") as store, pytest.raises(IngestError) as caught:
        store.ingest([path])
    assert str(caught.value) == (
        f"{path}:1: not UTF-8 text in the header (invalid continuation byte); "
        "save the file with UTF-8 encoding"
    )


def test_cli_csv_with_one_latin1_row(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"".join(CSV_ROWS))
    code, output = run_cli(tmp_path, path)
    assert code == 0
    assert "2 loaded, 0 duplicates skipped, 1 quarantined (of 3 rows)" in output
    assert f"{path}:4: not UTF-8 text in column 'name'" in output
    assert "Traceback" not in output
    latin = latin1_csv(tmp_path / "latin.csv", bad_rows=3, good_rows=0)
    code, output = run_cli(tmp_path, latin)
    assert code == 1
    assert f"{latin}:2: not UTF-8 text (invalid start byte)" in output
    assert "Traceback" not in output


# ------------------------------------------------------------------ JSON Lines


def good_event(person: str) -> str:
    return json.dumps({"person_id": person, "event": "view", "time": "2024-01-31T10:00:00Z"})


def jsonl(path: Path, middle: bytes | str) -> Path:
    """A JSON Lines file: a good event, ``middle`` on line 2, a good event."""
    data = middle if isinstance(middle, bytes) else middle.encode()
    path.write_bytes(good_event("a").encode() + b"\n" + data + b"\n" + good_event("c").encode())
    return path


BAD_NAME = b'{"person_id": "b", "event": "view", "time": "2024-01-31T10:00:00Z", "name": "Ren\xe9"}'


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz"])
def test_jsonl_line_with_a_latin1_byte_is_quarantined(tmp_path: Path, name: str) -> None:
    path = jsonl(tmp_path / "plain.jsonl", BAD_NAME)
    if name.endswith(".gz"):
        path = write_text_file(tmp_path / name, path.read_bytes())
    file, quarantined, persons = load(tmp_path, path)
    assert counts(file) == (3, 2, 1)
    raw = BAD_NAME.decode("latin-1").replace("\xe9", "\\xe9")
    assert quarantined == [(2, f"not UTF-8 text in key 'name' (Ren\\xe9); {UTF8_FIX}", raw)]
    assert persons == ["a", "c"]


def test_jsonl_bad_byte_outside_a_string_is_quarantined(tmp_path: Path) -> None:
    file, quarantined, _ = load(tmp_path, jsonl(tmp_path / "e.jsonl", b'{"person_id": \xff}'))
    assert counts(file) == (3, 2, 1)
    assert quarantined == [
        (
            2,
            "not UTF-8 text (invalid start byte) and not valid JSON; "
            "save the file with UTF-8 encoding or correct the line",
            '{"person_id": \\xff}',
        )
    ]


def test_jsonl_lone_surrogate_escape_is_quarantined(tmp_path: Path) -> None:
    line = '{"person_id": "b", "event": "view", "time": "2024-01-31", "item": {"name": "\\ud800"}}'
    file, quarantined, persons = load(tmp_path, jsonl(tmp_path / "s.jsonl", line))
    assert counts(file) == (3, 2, 1)
    reason = (
        "key 'item.name' holds a lone surrogate escape (\\ud800), which is not Unicode text; "
        "write the character itself or remove the escape"
    )
    assert quarantined == [(2, reason, line)]
    assert persons == ["a", "c"]


def test_jsonl_surrogate_pair_and_escaped_backslash_load(tmp_path: Path) -> None:
    line = '{"person_id": "b", "event": "view", "time": "2024-01-31", '
    line += '"e": "\\ud83d\\ude00 \\\\ud800"}'
    file, _, _ = load(tmp_path, jsonl(tmp_path / "pair.jsonl", line))
    assert counts(file) == (3, 3, 0)
    with EventStore(tmp_path / "s.duckdb") as store:
        assert store.connection.execute("SELECT e FROM events WHERE e IS NOT NULL").fetchall() == [
            ("\U0001f600 \\ud800",)
        ]


def nested(kind: str, depth: int) -> str:
    """A value ``depth`` levels deep: objects ``{"a": ...}`` or arrays ``[...]``."""
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("kind", ["object", "array"])
def test_jsonl_line_nested_5000_deep_is_quarantined(tmp_path: Path, kind: str) -> None:
    line = '{"person_id": "b", "event": "view", "time": "2024-01-31", "x": ' + nested(kind, 5000)
    line += "}"
    file, quarantined, persons = load(tmp_path, jsonl(tmp_path / "deep.jsonl", line))
    assert counts(file) == (3, 2, 1)
    reason = (
        f"key 'x' is nested deeper than {MAX_DEPTH} levels; keep events at most {MAX_DEPTH} "
        "levels deep (store a deeper part as a JSON string)"
    )
    assert quarantined == [(2, reason, line)]
    assert persons == ["a", "c"]


@pytest.mark.parametrize("kind", ["object", "array"])
def test_jsonl_nesting_limit_is_exact(tmp_path: Path, kind: str) -> None:
    def line(person: str, depth: int) -> str:  # the event object is level 1
        event = {"person_id": person, "event": "view", "time": "2024-01-31"}
        return json.dumps(event)[:-1] + ', "x": ' + nested(kind, depth - 1) + "}"

    path = tmp_path / "limit.jsonl"
    path.write_text(line("b", MAX_DEPTH) + "\n" + line("c", MAX_DEPTH + 1) + "\n")
    file, quarantined, persons = load(tmp_path, path)
    assert counts(file) == (2, 1, 1)
    assert [line for line, _, _ in quarantined] == [2]
    assert persons == ["b"]


def test_flatten_applies_the_same_nesting_limit() -> None:
    event: dict[str, object] = {"person_id": "a"}  # level 1
    inner = event
    for _ in range(MAX_DEPTH - 1):
        inner["x"] = inner = {}
    inner["y"] = 1  # in the object at level 64
    assert flatten_event(event) == {"person_id": "a", "x." * (MAX_DEPTH - 1) + "y": 1}
    inner["z"] = {"y": 1}  # an object at level 65
    with pytest.raises(NestingTooDeep) as caught:
        flatten_event(event)
    assert caught.value.key == "x." * (MAX_DEPTH - 1) + "z"


def test_jsonl_number_too_long_for_python_is_quarantined(tmp_path: Path) -> None:
    line = '{"person_id": "b", "event": "view", "time": "2024-01-31", "n": ' + "9" * 5000 + "}"
    file, quarantined, _ = load(tmp_path, jsonl(tmp_path / "digits.jsonl", line))
    assert counts(file) == (3, 2, 1)
    assert [line for line, _, _ in quarantined] == [2]
    assert quarantined[0][1].startswith("invalid JSON: ")


def test_jsonl_huge_string_loads_without_a_traceback(tmp_path: Path) -> None:
    line = '{"person_id": "b", "event": "view", "time": "2024-01-31", "blob": "'
    line += "x" * 50_000_000 + '"}'
    file, quarantined, persons = load(tmp_path, jsonl(tmp_path / "huge.jsonl", line))
    assert counts(file) == (3, 3, 0)
    assert quarantined == []
    assert persons == ["a", "b", "c"]


def test_cli_jsonl_with_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                good_event("a").encode(),
                BAD_NAME,  # 2
                b'{"person_id": "s", "event": "v", "time": "2024-01-31", "n": "\\udfff"}',  # 3
                b'{"person_id": "d", "x": ' + nested("object", 5000).encode() + b"}",  # 4
                good_event("c").encode(),
                good_event("e").encode(),
                good_event("f").encode(),
            ]
        )
    )
    code, output = run_cli(tmp_path, path)
    assert code == 0
    assert "4 loaded, 0 duplicates skipped, 3 quarantined (of 7 rows)" in output
    assert f"{path}:2: not UTF-8 text in key 'name'" in output
    assert f"{path}:3: key 'n' holds a lone surrogate escape" in output
    assert f"{path}:4: key 'x' is nested deeper than {MAX_DEPTH} levels" in output
    assert "Traceback" not in output


# ------------------------------------------------------------------ Parquet times

PARQUET_EXPECTED = [
    (2, f"unparseable time 'nan' in column 'ts'; {TIME_HINT}"),
    (3, f"unparseable time 'inf' in column 'ts'; {TIME_HINT}"),
    (4, "missing time (column 'ts'); every event needs a time"),
    (5, f"unparseable time '-inf' in column 'ts'; {TIME_HINT}"),
]


def float_times_parquet(path: Path) -> Path:
    seconds = 1_706_695_200.5  # 2024-01-31T10:00:00.5Z
    times = [seconds, float("nan"), float("inf"), None, float("-inf"), seconds + 60]
    pq.write_table(
        pa.table(
            {
                "person_id": ["a", "b", "c", "d", "e", "f"],
                "event": ["view"] * 6,
                "ts": pa.array(times, pa.float64()),
            }
        ),
        path,
    )
    return path


@pytest.mark.parametrize("unit", ["auto", "s"])
def test_parquet_nan_inf_and_null_times_are_quarantined(tmp_path: Path, unit: str) -> None:
    from funnelscope.store import ColumnMapping

    path = float_times_parquet(tmp_path / "float.parquet")
    with EventStore(tmp_path / "s.duckdb") as store:
        file = store.ingest([path], ColumnMapping(time_unit=unit)).files[0]
        loaded = store.connection.execute(
            'SELECT person_id, epoch_ms("timestamp") FROM events ORDER BY 1'
        ).fetchall()
    assert counts(file) == (6, 2, 4)
    assert [(b.line, b.reason) for b in file.bad_rows] == PARQUET_EXPECTED
    assert loaded == [("a", 1_706_695_200_500), ("f", 1_706_695_260_500)]


def test_parquet_timestamp_column_with_a_null(tmp_path: Path) -> None:
    path = tmp_path / "stamps.parquet"
    micros = 1_706_695_200_000_000
    pq.write_table(
        pa.table(
            {
                "person_id": ["a", "b", "c"],
                "event": ["view"] * 3,
                "ts": pa.array([micros, None, micros + 1], pa.timestamp("us")),
            }
        ),
        path,
    )
    file, quarantined, persons = load(tmp_path, path)
    assert counts(file) == (3, 2, 1)
    assert [(line, reason) for line, reason, _ in quarantined] == [
        (2, "missing time (column 'ts'); every event needs a time")
    ]
    assert json.loads(quarantined[0][2]) == {"person_id": "b", "event": "view", "ts": None}
    assert persons == ["a", "c"]


def test_cli_parquet_with_bad_times(tmp_path: Path) -> None:
    path = float_times_parquet(tmp_path / "float.parquet")
    code, output = run_cli(tmp_path, path)
    assert code == 1  # more than half the rows were rejected (--max-rejected)
    assert "67% of the rows were rejected (more than 50%)" in output
    assert "2 loaded, 0 duplicates skipped, 4 quarantined (of 6 rows)" in output
    assert f"{path}:2: unparseable time 'nan' in column 'ts'" in output
    assert "Traceback" not in output


# ------------------------------------------------------------------ gzip data without .gz


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("events.csv", lambda: b"".join(CSV_ROWS[:3]) + b"b,view,2024-01-31T10:01:00Z,x\n"),
        ("events.jsonl", lambda: (good_event("a") + "\n" + good_event("b") + "\n").encode()),
    ],
)
def test_gzip_data_named_without_gz_is_read(
    tmp_path: Path, name: str, make: Callable[[], bytes]
) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(make()))
    file, quarantined, persons = load(tmp_path, path)
    assert counts(file) == (2, 2, 0)
    assert quarantined == []
    assert persons == ["a", "b"]


def test_cli_gzip_data_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(gzip.compress(b"".join(CSV_ROWS[:3])))
    code, output = run_cli(tmp_path, path)
    assert code == 0
    assert "1 loaded, 0 duplicates skipped, 0 quarantined (of 1 rows)" in output
    assert "Traceback" not in output
