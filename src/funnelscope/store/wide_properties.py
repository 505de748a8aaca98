"""Properties of wide files read as (line, column, value) rows instead of side by side.

A file of thousands of columns (or of thousands of sparse JSON keys) would make NORM's SQL one
expression per column for the map and for the canonical JSON of derived ids: DuckDB then takes
seconds and GBs to plan it, and evaluates every empty cell. For a text file (every staged column
VARCHAR) whose properties reach the store's map, the staged properties are UNPIVOTed instead,
which leaves out empty cells, and each value is converted by its column's types through a
small plan table: the SQL is the same size for ten columns or ten thousand. JSON keys that were
staged as rows already (store/staging.py's LONG_STAGE) join those rows as they are. The values
and the JSON are exactly those of the side-by-side SQL of :mod:`.ingest_sql` (tests compare).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Final

import pyarrow as pa

from funnelscope.store.ingest_sql import PropertyPlan, canonical_text_sql, typed_value_sql
from funnelscope.store.sql_text import sql_string
from funnelscope.store.staging import LONG_STAGE, STAGE, VARCHAR, StagedColumn

PLAN_TABLE: Final = "_fs_property_plan"  # one row per property column of the file


def reads_long(plans: Sequence[PropertyPlan]) -> bool:
    """Whether the file's properties are read as rows: some live in the map, and all are text
    (typed Parquet columns cannot share one value column without changing how they read)."""
    return any(p.target_column is None for p in plans) and all(
        p.column.source_type == VARCHAR for p in plans
    )


def plan_table(plans: Sequence[PropertyPlan]) -> pa.Table:
    """The plan table's rows: each staged column's name, JSON key, types and place."""
    ranks = {p.column.name: rank for rank, p in enumerate(sorted(plans, key=_name))}
    return pa.table(
        {
            "ident": [p.column.ident for p in plans],
            "name": [p.column.name for p in plans],
            "key_json": [json.dumps(p.column.name, ensure_ascii=False) + ":" for p in plans],
            "key_rank": pa.array([ranks[p.column.name] for p in plans], pa.int64()),
            "file_type": [p.file_type for p in plans],
            "target_type": [p.target_type for p in plans],
            "in_map": [p.target_column is None for p in plans],
            "staged_long": [p.column.long for p in plans],
        }
    )


def long_properties_sql(plans: Sequence[PropertyPlan], *, with_json: bool) -> str:
    """A relation of (__line, __more, __props_json) over the staged rows that have a property
    value; ``__props_json`` (the canonical JSON of derived ids) only when ``with_json``."""
    idents = ", ".join(p.column.ident for p in plans if not p.column.long)
    typed = _by_types(plans, lambda plan: f"CAST({typed_value_sql(plan)} AS VARCHAR)")
    more = (
        f"map_from_entries(list({{'key': p.name, 'value': {typed}}}) "
        f"FILTER (WHERE p.in_map AND {typed} IS NOT NULL)) AS __more"
    )
    props_json = "CAST(NULL AS VARCHAR) AS __props_json"
    if with_json:
        canonical = _by_types(plans, canonical_text_sql)
        props_json = (
            "'{' || coalesce(string_agg(p.key_json || to_json("
            f"{canonical}), ',' ORDER BY p.key_rank) FILTER (WHERE {canonical} IS NOT NULL), '')"
            " || '}' AS __props_json"
        )
    cells = []
    if idents:
        cells.append(
            f"SELECT __line, __column, __value, false AS __long FROM (UNPIVOT (SELECT __line, "
            f"{idents} FROM {STAGE}) ON {idents} INTO NAME __column VALUE __value)"
        )
    if any(p.column.long for p in plans):
        cells.append(f"SELECT __line, __column, __value, true AS __long FROM {LONG_STAGE}")
    return (
        f"SELECT u.__line, {more}, {props_json} FROM ({' UNION ALL '.join(cells)}) AS u "
        f"JOIN {PLAN_TABLE} AS p ON p.ident = u.__column AND p.staged_long = u.__long "
        "GROUP BY u.__line"
    )


def _by_types(plans: Sequence[PropertyPlan], render: Callable[[PropertyPlan], str]) -> str:
    """``render`` of the value ``u.__value`` for each pair of file and store types in `plans`,
    chosen per row by its column's types."""
    pairs = sorted({(p.file_type, p.target_type) for p in plans})
    cases = " ".join(
        f"WHEN p.file_type = {sql_string(file_type)} AND p.target_type = {sql_string(target)} "
        f"THEN {render(_value_plan(file_type, target))}"
        for file_type, target in pairs
    )
    return f"(CASE {cases} END)"


def _value_plan(file_type: str, target_type: str) -> PropertyPlan:
    value = StagedColumn("", "u.__value", VARCHAR, file_type)
    return PropertyPlan(value, None, file_type, target_type)


def _name(plan: PropertyPlan) -> str:
    return plan.column.name
