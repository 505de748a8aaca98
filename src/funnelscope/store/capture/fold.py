"""Folding closed capture-log segments into the store: set-based in DuckDB, exactly once.

One fold takes every closed segment waiting, in one transaction:

1. DuckDB reads the segments' records (``read_json``; no Python per event);
2. per capture format, the records whose id the store holds already, and every later record of
   an id seen earlier in the fold, are dropped (ids dedupe without a time limit: ``messageId``,
   ``uuid`` or the id derived from the event's content);
3. the flattened rows are staged as file ingest stages a JSON file (``json_each`` gives each
   key's values and JSON kinds; a key's property type follows the kinds as in
   ``store/jsonl_reader.py``) and handed to the loader of file ingest (``Loader.load_staged``):
   the same checks, property columns, quarantine and identity links; rejected events go to the
   quarantine with their raw JSON, the record's number as their line;
4. the segments' numbers are recorded in ``capture_segments``, in the same transaction: a
   segment recorded there is never folded again (a crash between the commit and deleting its
   file only leaves a file to delete).

Captured events are registered as loads named ``capture:segment`` and ``capture:posthog``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from funnelscope.store.identities import apply_identities
from funnelscope.store.ingest import Loader
from funnelscope.store.ingest_sql import NORM
from funnelscope.store.jsonl_reader import kinds_type
from funnelscope.store.layouts import LAYOUTS
from funnelscope.store.mapping import ColumnMapping
from funnelscope.store.schema import count
from funnelscope.store.sql_text import sql_string
from funnelscope.store.staging import (
    LONG_STAGE,
    STAGE,
    VARCHAR,
    WIDE_STAGE_KEYS,
    Malformed,
    StagedColumn,
    StagedFile,
    column_ident,
    create_long_stage,
    create_stage,
    execute_with_table,
)

SEGMENTS_TABLE: Final = "capture_segments"
SOURCE_PREFIX: Final = "capture:"
_RECORDS: Final = "_fs_cap"  # the fold's records as read
_NEW: Final = "_fs_cap_new"  # one format's records to store (not stored yet, first of their id)
_VALUES: Final = "_fs_cap_values"  # their (line, key, value text, JSON kind)
_KEYS: Final = "_fs_cap_keys"
_LISTS: Final = "_fs_cap_lists"  # each new record's line, its wide keys' texts and JSON types
_COLUMNS: Final = (
    "{s: 'BIGINT', f: 'VARCHAR', id: 'VARCHAR', row: 'JSON', bad: 'VARCHAR', raw: 'VARCHAR'}"
)
_EXACT: Final = 2**53
_TEXT: Final = (  # a value's text as the JSON reader stages it (floats as Python writes them)
    "CASE e.type WHEN 'VARCHAR' THEN e.value->>'$' WHEN 'NULL' THEN NULL "
    "WHEN 'DOUBLE' THEN CAST(CAST(e.value AS DOUBLE) AS VARCHAR) "
    "ELSE CAST(e.value AS VARCHAR) END"
)
_KIND_OF: Final = (  # the JSON kind of key {i} of a row in _LISTS, as the JSON reader names it
    "CASE ty[{i}] WHEN 'VARCHAR' THEN 'str' WHEN 'BOOLEAN' THEN 'bool' "
    "WHEN 'DOUBLE' THEN 'float' WHEN 'NULL' THEN NULL "
    f"WHEN 'BIGINT' THEN CASE WHEN CAST(t[{{i}}] AS HUGEINT) >= -{_EXACT} THEN 'int' "
    "ELSE 'wideint' END "
    f"WHEN 'UBIGINT' THEN CASE WHEN CAST(t[{{i}}] AS HUGEINT) <= {_EXACT} THEN 'int' "
    f"WHEN CAST(t[{{i}}] AS HUGEINT) < {2**63} THEN 'wideint' ELSE 'str' END "
    "WHEN 'ARRAY' THEN 'str' WHEN 'OBJECT' THEN 'str' END"  # a key not on the row: NULL
)
_KIND: Final = (  # a value's JSON kind as store/jsonl_reader.py names it (json_each rows)
    "CASE e.type WHEN 'BOOLEAN' THEN 'bool' WHEN 'DOUBLE' THEN 'float' WHEN 'NULL' THEN NULL "
    f"WHEN 'BIGINT' THEN CASE WHEN CAST(e.value AS BIGINT) >= -{_EXACT} THEN 'int' "
    "ELSE 'wideint' END "
    f"WHEN 'UBIGINT' THEN CASE WHEN CAST(e.value AS UBIGINT) <= {_EXACT} THEN 'int' "
    f"WHEN CAST(e.value AS UBIGINT) < {2**63} THEN 'wideint' ELSE 'str' END "
    "ELSE 'str' END"
)


@dataclass(frozen=True)
class FoldReport:
    """What one fold did."""

    segments: tuple[int, ...]  # folded now (segments folded before are left out)
    records: int  # records read
    stored: int  # events added to the store
    duplicates: int  # records whose id the store or an earlier record had
    quarantined: int  # rejected events kept in the quarantine
    links: int  # identity links added
    max_seq: int | None  # the highest record number folded
    seconds: float


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SEGMENTS_TABLE} (segment BIGINT PRIMARY KEY, "
        "records BIGINT, max_seq BIGINT, folded_at TIMESTAMP)"
    )


def folded_before(con: duckdb.DuckDBPyConnection, numbers: Sequence[int]) -> set[int]:
    """Which of these segment numbers a fold recorded already."""
    if not numbers:
        return set()
    marks = ", ".join("?" * len(numbers))
    rows = con.execute(
        f"SELECT segment FROM {SEGMENTS_TABLE} WHERE segment IN ({marks})", list(numbers)
    ).fetchall()
    return {int(r[0]) for r in rows}


def last_numbers(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """The highest segment number and record number folded so far (0 for none)."""
    rows = con.execute(
        f"SELECT coalesce(max(segment), 0), coalesce(max(max_seq), 0) FROM {SEGMENTS_TABLE}"
    ).fetchall()
    return int(rows[0][0]), int(rows[0][1])


def fold(con: duckdb.DuckDBPyConnection, segments: Sequence[tuple[int, Path]]) -> FoldReport:
    """Fold the segments (number, file) into the store in one transaction; segments folded
    before are skipped. Raises duckdb.Error (nothing folded) when the transaction fails."""
    started = time.monotonic()
    con.execute("SET TimeZone = 'UTC'")  # as file ingest reads times; this cursor's own
    done = folded_before(con, [n for n, _ in segments])
    todo = [(n, p) for n, p in segments if n not in done]
    if not todo:
        return FoldReport((), 0, 0, 0, 0, 0, None, time.monotonic() - started)
    files = [str(p) for _, p in todo if p.stat().st_size > 0]
    loader = Loader(con)
    stored = duplicates = quarantined = links = records = 0
    max_seq = None
    con.execute("BEGIN TRANSACTION")
    try:
        if files:
            listed = ", ".join(sql_string(f) for f in files)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_RECORDS} AS SELECT * FROM read_json([{listed}], "
                f"format = 'newline_delimited', columns = {_COLUMNS}, filename = true)"
            )
            records, max_seq = _totals(con)
            names = [
                str(r[0]) for r in con.execute(f"SELECT DISTINCT f FROM {_RECORDS}").fetchall()
            ]
            for name in sorted(names):
                added, skipped, bad, linked = _fold_format(con, loader, name)
                stored, duplicates = stored + added, duplicates + skipped
                quarantined, links = quarantined + bad, links + linked
        per_file = (
            {
                str(name): (int(n), int(top))
                for name, n, top in con.execute(
                    f"SELECT filename, count(*), max(s) FROM {_RECORDS} GROUP BY filename"
                ).fetchall()
            }
            if files
            else {}
        )
        for number, path in todo:
            n, top = per_file.get(str(path), (0, None))
            con.execute(
                f"INSERT INTO {SEGMENTS_TABLE} VALUES (?, ?, ?, timezone('UTC', now()))",
                [number, n, top],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        _drop(con, loader)
    numbers = tuple(n for n, _ in todo)
    elapsed = time.monotonic() - started
    return FoldReport(numbers, records, stored, duplicates, quarantined, links, max_seq, elapsed)


def _totals(con: duckdb.DuckDBPyConnection) -> tuple[int, int | None]:
    row = con.execute(f"SELECT count(*), max(s) FROM {_RECORDS}").fetchall()[0]
    return int(row[0]), None if row[1] is None else int(row[1])


def _fold_format(
    con: duckdb.DuckDBPyConnection, loader: Loader, name: str
) -> tuple[int, int, int, int]:
    """Store one format's records of the fold: (events stored, duplicates, quarantined, links)."""
    layout = LAYOUTS[name]
    mine = f"SELECT s, id, row FROM {_RECORDS} WHERE f = {sql_string(name)} AND bad IS NULL"
    # the store's ids are probed with the fold's (a semi-join: the fold's ids are hashed, the
    # events' id column scanned), never the other way round
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_NEW} AS WITH mine AS ({mine}), "
        "stored AS (SELECT event_id FROM events WHERE event_id IN (SELECT id FROM mine)) "
        "SELECT * FROM mine WHERE id NOT IN (SELECT event_id FROM stored)"
    )
    good = count(con, f"SELECT count(*) FROM ({mine})")
    new, distinct = con.execute(f"SELECT count(*), count(DISTINCT id) FROM {_NEW}").fetchall()[0]
    if new != distinct:  # an id sent more than once in this fold: its first record is kept
        con.execute(
            f"DELETE FROM {_NEW} WHERE s IN (SELECT s FROM (SELECT s, row_number() OVER "
            f"(PARTITION BY id ORDER BY s) AS copy FROM {_NEW} WHERE id IN (SELECT id FROM "
            f"{_NEW} GROUP BY id HAVING count(*) > 1)) WHERE copy > 1)"
        )
        new = distinct
    bad = [
        Malformed(int(line), str(reason), str(raw))
        for line, reason, raw in con.execute(
            f"SELECT s, bad, raw FROM {_RECORDS} WHERE f = ? AND bad IS NOT NULL ORDER BY s",
            [name],
        ).fetchall()
    ]
    if not new and not bad:
        return 0, good, 0, 0
    staged = StagedFile(_stage(con) if new else _empty_stage(con), new + len(bad), bad)
    load_id = _capture_load(con, name)
    report = loader.load_staged(staged, SOURCE_PREFIX + name, ColumnMapping(), load_id, layout)
    if report.links_added:
        apply_identities(con)  # the links may move any stored event to another person
    elif count(con, "SELECT count(*) FROM identity_map"):
        _point_new_events(con, load_id)  # the same persons: only the new events need them
    con.execute(
        "UPDATE loads SET loaded_at = timezone('UTC', now()), "
        "rows_loaded = rows_loaded + ? WHERE load_id = ?",
        [report.rows_loaded, load_id],
    )
    loader.drop_temporaries()
    return report.rows_loaded, good - new, report.rows_quarantined, report.links_added


def _point_new_events(con: duckdb.DuckDBPyConnection, load_id: int) -> None:
    """Point the events just stored (the rows of NORM) at their ids' persons, as
    apply_identities would when no link changed: the earlier events are pointed already."""
    con.execute(
        "UPDATE events SET person_id = m.person_id, person_key = p.person_key "
        "FROM identity_map m JOIN persons p ON p.person_id = m.person_id "
        "WHERE events.load_id = ? AND events.distinct_id = m.distinct_id "
        f"AND events.person_id <> m.person_id AND events.event_id IN (SELECT event_id FROM {NORM})",
        [load_id],
    )


def _empty_stage(con: duckdb.DuckDBPyConnection) -> list[StagedColumn]:
    create_stage(con, [])
    return []


def _stage(con: duckdb.DuckDBPyConnection) -> list[StagedColumn]:
    """Stage the new records' rows as the JSON reader stages a file: one text column per key
    (the first WIDE_STAGE_KEYS keys; later ones as rows of LONG_STAGE), each key typed from the
    JSON kinds of its values. Each row's JSON is parsed twice in all: once for its values' texts,
    once for their JSON types (one list of each per row, every wide key's path at once)."""
    keys = [
        str(key)
        for (key,) in con.execute(
            "SELECT key FROM (SELECT s, unnest(ks) AS key, unnest(range(len(ks))) AS position "
            f"FROM (SELECT s, json_keys(row) AS ks FROM {_NEW})) GROUP BY key "
            "ORDER BY min(s), arg_min(position, s), key"
        ).fetchall()
    ]
    wide = keys[:WIDE_STAGE_KEYS]
    paths = "[" + ", ".join(sql_string(_pointer(key)) for key in wide) + "]"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_LISTS} AS SELECT s, json_extract_string(row, {paths}) "
        f"AS t, json_type(row, {paths}) AS ty FROM {_NEW}"
    )
    found = ", ".join(
        f"list(DISTINCT {_KIND_OF.format(i=i)}), count(t[{i}])" for i in range(1, len(wide) + 1)
    )
    row = con.execute(f"SELECT {found} FROM {_LISTS}").fetchall()[0]
    columns = [
        StagedColumn(
            key,
            column_ident(i),
            VARCHAR,
            kinds_type({k for k in row[2 * i] or [] if k}),
            False,
            int(row[2 * i + 1]),
        )
        for i, key in enumerate(wide)
    ]
    texts = "".join(
        f", {_text_of(i + 1, column)} AS {column.ident}" for i, column in enumerate(columns)
    )
    con.execute(f"DROP TABLE IF EXISTS {STAGE}")
    con.execute(f"CREATE TEMP TABLE {STAGE} AS SELECT s AS __line{texts} FROM {_LISTS}")
    if len(keys) > len(wide):
        columns += _stage_long(con, keys[len(wide) :], len(wide))
    return columns


def _text_of(i: int, column: StagedColumn) -> str:
    """The staged text of key `i`: as JSON has it, but a float among texts as Python writes it
    (the JSON reader's text of a float; DuckDB's shortest form is the same)."""
    if column.value_type != VARCHAR:
        return f"t[{i}]"
    return (
        f"CASE WHEN ty[{i}] = 'DOUBLE' THEN CAST(CAST(t[{i}] AS DOUBLE) AS VARCHAR) ELSE t[{i}] END"
    )


def _stage_long(con: duckdb.DuckDBPyConnection, keys: list[str], first: int) -> list[StagedColumn]:
    """The keys beyond the first WIDE_STAGE_KEYS, staged as (line, column, value) rows."""
    idents = [column_ident(first + i) for i in range(len(keys))]
    table = pa.table({"key": pa.array(keys, pa.string()), "ident": pa.array(idents, pa.string())})
    execute_with_table(
        con,
        "_fs_cap_key_rows",
        table,
        f"CREATE OR REPLACE TEMP TABLE {_KEYS} AS SELECT * FROM _fs_cap_key_rows",
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_VALUES} AS SELECT n.s AS line, k.ident, {_TEXT} AS text, "
        f"{_KIND} AS kind FROM {_NEW} n, json_each(n.row) e JOIN {_KEYS} k ON k.key = e.key"
    )
    create_long_stage(con)
    con.execute(
        f"INSERT INTO {LONG_STAGE} SELECT line, ident, text FROM {_VALUES} WHERE text IS NOT NULL"
    )
    found = {
        str(ident): (kinds, int(filled))
        for ident, kinds, filled in con.execute(
            f"SELECT ident, list(DISTINCT kind) FILTER (WHERE kind IS NOT NULL), count(text) "
            f"FROM {_VALUES} GROUP BY ident"
        ).fetchall()
    }
    return [
        StagedColumn(
            key,
            ident,
            VARCHAR,
            kinds_type(set(found.get(ident, ([], 0))[0] or [])),
            True,
            found.get(ident, ([], 0))[1],
        )
        for key, ident in zip(keys, idents, strict=True)
    ]


def _pointer(key: str) -> str:
    """The JSON pointer of a top-level key (any text: ``~`` and ``/`` escaped)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _capture_load(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """The load that captured events of this format are registered under (made once)."""
    source = SOURCE_PREFIX + name
    rows = con.execute("SELECT load_id FROM loads WHERE source = ?", [source]).fetchall()
    if rows:
        return int(rows[0][0])
    load_id = count(con, "SELECT nextval('load_ids')")
    con.execute(
        "INSERT INTO loads VALUES (?, ?, 0, ?, timezone('UTC', now()), 0)",
        [load_id, source, json.dumps({"capture": name})],
    )
    return load_id


def _drop(con: duckdb.DuckDBPyConnection, loader: Loader) -> None:
    for table in (_RECORDS, _NEW, _VALUES, _KEYS, _LISTS):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    loader.drop_temporaries()
