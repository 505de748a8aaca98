"""Parquet files read in place: no load, only the columns a funnel needs, as an event source.

The person, event and time of each row are read with the very SQL expressions ingest uses, and a
row ingest would quarantine (no person, no event, a time that does not parse) is left out and
counted, so the result equals loading the files first. Reading in place is exact only when
nothing ingest does to a whole file can change the result; :func:`why_not_in_place` says when
that is not so, and the caller then loads the files into a store in memory instead.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from funnelscope.errors import EngineError, IngestError
from funnelscope.model.spec import Funnel, Order
from funnelscope.store.event_columns import EventColumns
from funnelscope.store.exact_files import parquet_scan
from funnelscope.store.ingest_sql import TIMEZONE_HINT, blank, reason_sql, value_sql
from funnelscope.store.layout_staging import first_record
from funnelscope.store.layouts import GENERIC, recognise
from funnelscope.store.mapping import SPARSE_PERSON, ColumnMapping, person_candidates, resolve_roles
from funnelscope.store.readers import detect_format, stage_file
from funnelscope.store.sources import OwnConnection
from funnelscope.store.sql_text import quote_ident, sql_string
from funnelscope.store.staging import VARCHAR, StagedColumn, drop_stage, first_row
from funnelscope.store.timeparse import epoch_unit_sql, time_sql

SHOWN_SKIPPED = 5


@dataclass(frozen=True)
class _File:
    path: str
    scan: str  # SQL reading exactly this file (never as a glob pattern)
    roles: dict[str, StagedColumn]
    properties: dict[str, StagedColumn]


def why_not_in_place(paths: Sequence[str], funnel: Funnel) -> str | None:
    """Why these files cannot be read in place for this funnel (None: they can)."""
    if not all(Path(p).suffix.lower() in (".parquet", ".pq") for p in paths):
        return "only Parquet files are read in place"
    names = [step.event for step in funnel.steps]
    repeated = len(set(names)) < len(names)
    if repeated and len(paths) > 1:
        return "an event fills several steps, and events repeated across files must be merged"
    if funnel.needs_id_order:
        return "an event fills several steps with different filters, so ties need event ids"
    if funnel.person_properties:
        return "a person's value is their latest event's, and events with equal times need ids"
    if funnel.needs_unit_machine:
        return (
            "exclusions, held or broken-down values, sessions, totals, optional steps and "
            "per-step limits need each event's id and session, which ingest assigns"
        )
    return None


class ParquetSource(OwnConnection):
    """Events of Parquet files as a source: their columns as ingest would read them (rows ingest
    would quarantine flagged ``invalid``), on a connection of their own. Whole events (for the
    reference engine) are not offered: event ids and de-duplication are ingest's work."""

    def __init__(self, paths: Sequence[str], mapping: ColumnMapping, funnel: Funnel) -> None:
        self._con = duckdb.connect()
        self._con.execute("SET enable_progress_bar = false")
        try:
            self._con.execute(f"SET TimeZone = {sql_string(mapping.timezone)}")
        except duckdb.Error as exc:
            raise IngestError(
                "timezone", f"unknown time zone {mapping.timezone!r}", TIMEZONE_HINT
            ) from exc
        self._mapping = mapping
        self._utc = mapping.timezone in ("UTC", "Etc/UTC")
        self._files: list[_File] = []
        for p in paths:
            self._files.append(self._describe(p))
        self.refusal = self._refusal(funnel)

    def _describe(self, path: str) -> _File:
        fmt = detect_format(Path(path), path)
        if not Path(path).is_file():
            raise IngestError(path, "file not found", "check the path")
        staged = stage_file(self._con, Path(path), path, fmt)
        drop_stage(self._con)
        by_name = {c.name: c for c in staged.columns}
        roles = resolve_roles(list(by_name), self._mapping, path)
        mapped = set(roles.values())
        scan = parquet_scan(self._con, Path(path), f"_fs_in_place_{len(self._files)}").sql
        return _File(
            path,
            scan,
            {role: by_name[name] for role, name in roles.items()},
            {c.name: c for c in staged.columns if c.name not in mapped},
        )

    def _refusal(self, funnel: Funnel) -> str | None:
        layout = self._mapping.layout
        if self._mapping.device_col or (layout is not None and layout != GENERIC):
            return "device ids and export layouts are stitched and flattened by ingest"
        for f in self._files:
            first = first_record(Path(f.path), detect_format(Path(f.path), f.path))
            if first is not None and recognise(first) is not None:
                return f"{f.path} is an export layout that ingest flattens and stitches"
            if self._mapping.person_col is None and self._sparse_person(f):
                return f"the person column of {f.path} is often empty; ingest stitches ids"
        if any("id" in f.roles for f in self._files):
            return "the files carry event ids, which ingest checks for duplicates and conflicts"
        for prop in funnel.properties:
            kinds = {f.properties[prop].value_type for f in self._files if prop in f.properties}
            if len(kinds) > 1:
                return f"property {prop!r} has different types in different files"
        return None

    def _sparse_person(self, f: _File) -> bool:
        """Whether ingest would fill this file's empty person ids from another column."""
        others = person_candidates(list(f.properties), {})
        if not others:
            return False
        person = quote_ident(f.roles["person"].name)
        row = first_row(
            self._con,
            f"SELECT count(*), count(*) FILTER (WHERE NULLIF(trim(CAST({person} AS VARCHAR)), '') "
            f"IS NULL) FROM {f.scan}",
        )
        return row is not None and row[1] > SPARSE_PERSON * row[0]

    def _parsed(self, f: _File, properties: Collection[str]) -> str:
        """A file's rows with the columns ingest's checks read (unused ones cost nothing)."""
        person, event, time = f.roles["person"], f.roles["event"], f.roles["time"]
        unit = self._mapping.time_unit
        t = quote_ident(time.name)
        props = "".join(
            f", {self._property_sql(f, p)} AS {quote_ident('p:' + p)}" for p in properties
        )
        return (
            f"SELECT file_row_number + 1 AS __line, {quote_ident(person.name)} AS __person, "
            f"CAST({quote_ident(person.name)} AS VARCHAR) AS person_id, "
            f"CAST({quote_ident(event.name)} AS VARCHAR) AS event, "
            f"CAST({t} AS VARCHAR) AS __time_text, {self._time_sql(t, time)} AS __ts, "
            f"{epoch_unit_sql(t, time.source_type, unit)} AS __epoch_unit{props} "
            f"FROM {f.scan}"
        )

    def _time_sql(self, column: str, time: StagedColumn) -> str:
        """Ingest's time expression; naive timestamps read in UTC skip the (costly, identity)
        time zone conversion."""
        naive = time.source_type.startswith("TIMESTAMP") and "TIME ZONE" not in time.source_type
        if naive and time.source_type != "TIMESTAMPTZ" and self._utc:
            return f"CAST({column} AS TIMESTAMP)"
        return time_sql(column, time.source_type, self._mapping.time_unit)

    def _reason(self, f: _File) -> str:
        """Ingest's quarantine reason for a parsed row (NULL when valid)."""
        roles = {
            role: StagedColumn(c.name, quote_ident(c.name), c.source_type, c.value_type)
            for role, c in f.roles.items()
        }
        return reason_sql(roles, self._mapping.time_unit, self._mapping.timezone)

    def _select(self, f: _File, properties: Collection[str]) -> str:
        """One file's rows as person, ts, event, properties and an ``invalid`` flag."""
        person, event, time = f.roles["person"], f.roles["event"], f.roles["time"]
        if _typed_time(time):  # the checks that can fail for typed times, on raw columns
            invalid = (
                f"{_missing('__person', person)} OR {_missing('event', event)} "
                "OR __ts IS NULL OR NOT isfinite(__ts)"
            )
        else:  # text and epoch times have more ways to be wrong: ingest's own checks
            invalid = f"({self._reason(f)}) IS NOT NULL"
        person_sql = "__person" if self._int_persons else "person_id"
        props = "".join(f", {quote_ident('p:' + p)}" for p in properties)
        return (
            f"SELECT {person_sql} AS person, epoch_us(__ts) AS ts, event{props}, "
            f"{invalid} AS invalid FROM ({self._parsed(f, properties)})"
        )

    def _property_sql(self, f: _File, prop: str) -> str:
        col = f.properties.get(prop)
        if col is None:
            return "NULL"
        kind = col.value_type or VARCHAR
        staged = StagedColumn(col.name, quote_ident(col.name), col.source_type, col.value_type)
        value = f"CAST({value_sql(staged, kind)} AS {kind})"
        if kind == "DOUBLE":  # the store keeps -0.0 as 0.0 (its text is "0.0")
            return f"(CASE WHEN {value} = 0 THEN 0.0 ELSE {value} END)"
        return value

    @property
    def _int_persons(self) -> bool:
        return all(_is_integer(f.roles["person"].source_type) for f in self._files)

    def columns(self, properties: Collection[str] = ()) -> EventColumns:
        """The files as one view ``in_place_events`` with the given properties."""
        props = tuple(properties)
        union = " UNION ALL ".join(self._select(f, props) for f in self._files)
        self._con.execute(f"CREATE OR REPLACE TEMP VIEW in_place_events AS {union}")
        types = {
            p: next(
                (f.properties[p].value_type or VARCHAR for f in self._files if p in f.properties),
                None,
            )
            for p in props
        }
        return EventColumns(
            source="in_place_events",
            person="person",
            ts="ts",
            event="event",
            event_id=None,
            properties={
                p: (quote_ident("p:" + p), kind) for p, kind in types.items() if kind is not None
            },
            invalid="invalid",
            integer_person=self._int_persons,
        )

    def event_counts(self) -> dict[str, int]:
        """Events per name over all files (for the misspelt-step warning)."""
        union = " UNION ALL ".join(
            f"SELECT CAST({quote_ident(f.roles['event'].name)} AS VARCHAR) AS event FROM {f.scan}"
            for f in self._files
        )
        rows = self._con.execute(f"SELECT event, count(*) FROM ({union}) GROUP BY event")
        return {str(name): int(count) for name, count in rows.fetchall()}

    def property_types(self) -> dict[str, str]:
        """Each property column of the files and the type ingest would give it."""
        return {
            name: col.value_type or VARCHAR
            for f in self._files
            for name, col in f.properties.items()
        }

    def person_ids(self, keys: np.ndarray) -> list[str]:
        """Ids of integer person keys: their decimal text, as ingest stores an integer id."""
        return [str(int(k)) for k in np.asarray(keys).tolist()]

    def scan(
        self,
        event_names: Collection[str] | None,
        properties: Collection[str] = (),
        sessions: bool = False,
    ) -> pa.Table:
        """Whole events are not read in place: ids and de-duplication are ingest's work."""
        raise EngineError(
            "files read in place serve the kernel engine only; for the reference engine load "
            "them into a store first (EventStore(':memory:').ingest(paths)), as the CLI does"
        )

    def skipped_rows(self, funnel: Funnel, count: int) -> list[str]:
        """What to tell of `count` rows the funnel read and left out as ``invalid``: a line and
        the first few of them, with their file, line and ingest's reason."""
        lines = [
            f"{count:,} rows the funnel reads are not valid events and were left out, as "
            "ingest would quarantine them; `funnelscope ingest FILE` keeps them for inspection:"
        ]
        names = ", ".join(sql_string(n) for n in funnel.event_names)
        wanted = "" if funnel.order == Order.STRICT else f" AND event IN ({names})"
        for f in self._files:
            rows = self._con.execute(
                f"SELECT __line, reason FROM (SELECT __line, event, {self._reason(f)} AS reason "
                f"FROM ({self._parsed(f, ())})) WHERE reason IS NOT NULL{wanted} "
                f"ORDER BY __line LIMIT {SHOWN_SKIPPED}"
            ).fetchall()
            lines.extend(f"  {f.path}:{line}: {reason}" for line, reason in rows)
        return lines


def _typed_time(col: StagedColumn) -> bool:
    return col.source_type.startswith("TIMESTAMP") or col.source_type == "DATE"


def _is_integer(duck_type: str) -> bool:
    return duck_type in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT")


def _missing(column: str, col: StagedColumn) -> str:
    return blank(column) if col.source_type == "VARCHAR" else f"{column} IS NULL"
