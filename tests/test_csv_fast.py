"""The fast CSV path (DuckDB's reader) stages exactly what the record-by-record reader stages,
or steps aside: random files, every store table compared."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelscope.store import EventStore, csv_fast

VALUES = st.sampled_from(
    ["", " ", "a", "b c", "x,y", 'say "hi"', "007", "5", "-3.5", "1e3", "true", "FALSE",
     "é", "日本", "line\nbreak", "tab\there", "  padded  ", "9223372036854775808", '"']
)  # fmt: skip
TIMES = st.sampled_from(
    ["2024-03-01T10:00:00Z", "2024-03-01 10:00:00", "1709287200", "", "not a time"]
)


def render(rows: list[list[str]], newline: str, blank_every: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(["user_id", "event", "timestamp", "note", "n"])
    for i, row in enumerate(rows):
        writer.writerow(row)
        if blank_every and i % blank_every == blank_every - 1:
            out.write(newline)
    return out.getvalue()


def tables(db: Path) -> dict[str, Any]:
    with EventStore(db) as store:
        con = store.connection
        return {
            "events": con.execute(
                "SELECT * EXCLUDE (load_id, person_key) FROM events ORDER BY event_id"
            ).fetchall(),
            "types": store.property_types(),
            "quarantine": con.execute(
                "SELECT line, reason, raw FROM quarantine ORDER BY line"
            ).fetchall(),
        }


rows_strategy = st.lists(
    st.tuples(st.sampled_from(["u1", "u2", ""]), st.sampled_from(["view", "buy", ""]), TIMES,
              VALUES, VALUES).map(list),
    min_size=1,
    max_size=30,
)  # fmt: skip


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(rows=rows_strategy, newline=st.sampled_from(["\n", "\r\n"]), blank=st.sampled_from([0, 3]))
def test_the_fast_path_stages_what_the_python_reader_stages(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[list[str]],
    newline: str,
    blank: int,
) -> None:
    tmp = tmp_path_factory.mktemp("csv")
    file = tmp / "events.csv"
    file.write_bytes(render(rows, newline, blank).encode())
    taken: list[bool] = []
    real = csv_fast.stage_csv_fast

    def spy(*args: Any) -> Any:
        staged = real(*args)
        taken.append(staged is not None)
        return staged

    with monkeypatch.context() as patched:
        patched.setattr(csv_fast, "MIN_BYTES", 0)
        patched.setattr("funnelscope.store.readers.stage_csv_fast", spy)
        with EventStore(tmp / "fast.duckdb") as store:
            store.ingest([file])
    with monkeypatch.context() as patched:
        patched.setattr("funnelscope.store.readers.stage_csv_fast", lambda *args: None)
        with EventStore(tmp / "slow.duckdb") as store:
            store.ingest([file])
    assert tables(tmp / "fast.duckdb") == tables(tmp / "slow.duckdb")
    multi_line = any("\n" in value for row in rows for value in row)
    has_blank_lines = bool(blank) and len(rows) >= blank
    if taken == [True]:  # taken only when every record is one line
        assert not has_blank_lines and not multi_line


def test_a_clean_file_takes_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "events.csv"
    file.write_text(render([["u1", "view", "2024-03-01T10:00:00Z", "a", "1"]] * 3, "\n", 0))
    monkeypatch.setattr(csv_fast, "MIN_BYTES", 0)
    with EventStore(tmp_path / "s.duckdb") as store:
        from funnelscope.store.readers import detect_format

        fmt = detect_format(file, str(file))
        staged = csv_fast.stage_csv_fast(store.connection, file, str(file), fmt.delimiter)
        assert staged is not None and staged.rows_read == 3
        assert [(c.name, c.value_type) for c in staged.columns] == [
            ("user_id", "VARCHAR"), ("event", "VARCHAR"), ("timestamp", "VARCHAR"),
            ("note", "VARCHAR"), ("n", "BIGINT"),
        ]  # fmt: skip


ONE_LINE_VALUES = VALUES.filter(lambda v: "\n" not in v)
one_line_rows = st.lists(
    st.tuples(st.sampled_from(["u1", "u2"]), st.sampled_from(["view", "buy"]), TIMES,
              ONE_LINE_VALUES, ONE_LINE_VALUES).map(list),
    min_size=1,
    max_size=30,
)  # fmt: skip


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(rows=one_line_rows, newline=st.sampled_from(["\n", "\r\n"]))
def test_files_of_one_line_records_take_the_fast_path_and_load_the_same(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[list[str]],
    newline: str,
) -> None:
    tmp = tmp_path_factory.mktemp("csv")
    file = tmp / "events.csv"
    file.write_bytes(render(rows, newline, 0).encode())
    with monkeypatch.context() as patched:
        patched.setattr(csv_fast, "MIN_BYTES", 0)
        with EventStore(tmp / "fast.duckdb") as store:
            from funnelscope.store.readers import detect_format

            fmt = detect_format(file, str(file))
            assert csv_fast.stage_csv_fast(store.connection, file, str(file), fmt.delimiter)
            store.ingest([file])
    with monkeypatch.context() as patched:
        patched.setattr("funnelscope.store.readers.stage_csv_fast", lambda *args: None)
        with EventStore(tmp / "slow.duckdb") as store:
            store.ingest([file])
    assert tables(tmp / "fast.duckdb") == tables(tmp / "slow.duckdb")
