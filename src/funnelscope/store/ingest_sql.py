"""The SQL of ingest: each staged row converted to core fields and typed properties, checked
(with the reason a bad row is quarantined) and given an event id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from funnelscope.store.sql_text import sql_string
from funnelscope.store.staging import BIGINT, DOUBLE, STAGE, VARCHAR, StagedColumn
from funnelscope.store.timeparse import (
    UNIT_NAMES,
    epoch_unit_sql,
    gap_sql,
    implausible_epoch_sql,
    iso_utc_sql,
    time_sql,
    timestamp_utc_sql,
)

NORM: Final = "_fs_norm"  # the staged rows, normalised and checked
BAD: Final = "_fs_bad"  # this file's bad rows
TIME_HINT: Final = "use ISO 8601 like 2024-01-31T10:00:00Z or epoch seconds/milliseconds"
TIMEZONE_HINT: Final = "use an IANA time zone name such as UTC, Europe/Berlin or America/New_York"
MISSING_PERSON: Final = "missing person_id; every event needs a person"


def widen(old: str, new: str | None) -> str:
    """The type able to hold both: BIGINT+DOUBLE -> DOUBLE, any other conflict -> VARCHAR."""
    if new is None or new == old:
        return old
    if {old, new} == {BIGINT, DOUBLE}:
        return DOUBLE
    return VARCHAR


@dataclass(frozen=True)
class PropertyPlan:
    column: StagedColumn
    target_column: str | None  # column in events (None: the more_properties map)
    file_type: str  # the type this file's values are read as
    target_type: str  # the (possibly widened) column type in events


def value_sql(col: StagedColumn, file_type: str) -> str:
    """A staged value converted to the file's property type.

    Dates become ``2024-01-31`` and timestamps UTC ISO 8601 text (``2024-01-01T10:00:00Z``, with
    ``.ffffff`` only when there are sub-seconds; naive ones are read in --timezone like the time
    column), so they compare correctly with ISO strings from CSV or JSON. FLOAT (float32) values
    go through their shortest text, so 0.1f is stored as 0.1, not 0.10000000149011612.
    """
    source = col.source_type
    if source.endswith("]") or source.startswith(("STRUCT", "MAP", "UNION")):
        return f"CAST(to_json({col.ident}) AS VARCHAR)"
    if source == "DATE":
        return f"CAST(strftime({col.ident}, '%Y-%m-%d') AS {file_type})"
    stamp = timestamp_utc_sql(col.ident, source)
    if stamp is not None:
        return f"CAST({iso_utc_sql(stamp)} AS {file_type})"
    if source in ("FLOAT", "REAL"):
        return f"CAST(CAST({col.ident} AS VARCHAR) AS {file_type})"
    if file_type == VARCHAR or source == file_type:
        return f"CAST({col.ident} AS {file_type})"
    if source == VARCHAR:
        return f"CAST(trim({col.ident}) AS {file_type})"
    return f"CAST({col.ident} AS {file_type})"


def canonical_text_sql(plan: PropertyPlan) -> str:
    """A property value as text that does not depend on the column type inferred for the file.

    Integral numbers are written as integers (10 and 10.0 -> ``10``), other numbers in shortest
    round-trip form, booleans ``true``/``false``, text as is. The same row from CSV, JSON Lines or
    Parquet, or from two files whose columns were typed differently, gives the same text.
    """
    value = value_sql(plan.column, plan.file_type)
    if plan.file_type == DOUBLE:
        return (
            f"CASE WHEN isfinite({value}) AND {value} = trunc({value}) AND abs({value}) < 1e38 "
            f"THEN CAST(CAST({value} AS HUGEINT) AS VARCHAR) ELSE CAST({value} AS VARCHAR) END"
        )
    return f"CAST({value} AS VARCHAR)"  # BIGINT as digits, BOOLEAN as true/false, text as is


def typed_value_sql(plan: PropertyPlan) -> str:
    """A staged value as the type its property has in the store."""
    return f"CAST({value_sql(plan.column, plan.file_type)} AS {plan.target_type})"


def more_properties_sql(plans: Sequence[PropertyPlan]) -> str:
    """The ``__more`` column of NORM: a map of the set values of the properties that live in
    the store's map, each as the text of its typed value (so reading it back as that type gives
    the very value a column would hold). Nothing when no property of the file lives there."""
    if not plans:
        return ""
    entries = ", ".join(
        f"{{'key': {sql_string(p.column.name)}, 'value': CAST({typed_value_sql(p)} AS VARCHAR)}}"
        for p in plans
    )
    return f", map_from_entries(list_filter([{entries}], lambda e: e.value IS NOT NULL)) AS __more"


def props_json_sql(plans: Sequence[PropertyPlan]) -> str:
    """Canonical JSON of a row's non-null properties, keys sorted (for derived event ids).

    Each value is a JSON string of :func:`canonical_text_sql`, so ids do not depend on types.
    """
    parts = []
    for plan in sorted(plans, key=lambda p: p.column.name):
        key = json.dumps(plan.column.name, ensure_ascii=False) + ":"
        text = canonical_text_sql(plan)
        parts.append(f"CASE WHEN {text} IS NOT NULL THEN {sql_string(key)} || to_json({text}) END")
    if not parts:
        return "'{}'"
    return f"'{{' || concat_ws(',', {', '.join(parts)}) || '}}'"


def text_sql(col: StagedColumn | None) -> str:
    return "CAST(NULL AS VARCHAR)" if col is None else f"CAST({col.ident} AS VARCHAR)"


def person_sql(roles: dict[str, StagedColumn]) -> str:
    """The event's own id: the person column, or where it is empty the device column."""
    person = text_sql(roles["person"])
    if "device" not in roles:
        return person
    return f"coalesce(NULLIF(trim({person}), ''), {text_sql(roles['device'])})"


def blank(expr: str) -> str:
    return f"(NULLIF(trim({expr}), '') IS NULL)"


def reason_sql(
    roles: dict[str, StagedColumn], unit: str, zone: str = "UTC", *, typed_time: bool = False
) -> str:
    """Why a parsed row is quarantined (NULL: it is valid), over the columns person_id, event,
    __ts and __epoch_unit, and either __time_text (the time as text) or, with ``typed_time``,
    __time_raw (a typed time: never blank unless NULL, and written as text only in a message,
    so the text of every row is not made)."""
    person, event, time = roles["person"], roles["event"], roles["time"]
    text = "CAST(__time_raw AS VARCHAR)" if typed_time else "__time_text"
    missing = "__time_raw IS NULL" if typed_time else blank("__time_text")

    def col(c: StagedColumn) -> str:
        return repr(c.name)

    device = roles.get("device")
    person_columns = col(person) if device is None else f"{col(person)} or {col(device)}"
    missing_person = f"missing person_id (column {person_columns}); every event needs a person"
    missing_event = f"missing event name (column {col(event)}); every event needs an event name"
    missing_time = f"missing time (column {col(time)}); every event needs a time"
    unparseable = f"' in column {col(time)}; {TIME_HINT}"
    implausible = ""
    if unit == "auto":
        names = " ".join(
            f"WHEN {sql_string(k)} THEN {sql_string(v)}" for k, v in UNIT_NAMES.items()
        )
        reads_as = f" in column {col(time)} reads as epoch "
        implausible = (
            f"WHEN __epoch_unit IS NOT NULL AND {implausible_epoch_sql('__ts')} THEN "
            f"'time ' || trim({text}) || {sql_string(reads_as)} "
            f"|| CASE __epoch_unit {names} END || ' = ' || {iso_utc_sql('__ts')} || "
            "', which is implausible; write ISO dates (2024-01-31) or pass --time-unit ' || "
            "__epoch_unit || ' to accept it' "
        )
    gap = ""
    if time.source_type == VARCHAR:
        jumped = (
            f"' does not exist in {zone} (clocks jumped forward); "
            "fix the source or give the time with an offset"
        )
        gap = (
            f"WHEN {gap_sql('__time_text', '__ts')} THEN "
            f"'time ''' || trim(__time_text) || {sql_string(jumped)} "
        )
    return (
        f"CASE WHEN {blank('person_id')} THEN {sql_string(missing_person)} "
        f"WHEN {blank('event')} THEN {sql_string(missing_event)} "
        f"WHEN {missing} THEN {sql_string(missing_time)} "
        f"WHEN __ts IS NULL OR NOT isfinite(__ts) THEN 'unparseable time ''' || {text} || "
        f"{sql_string(unparseable)} {gap}{implausible}END"
    )


def normalize_sql(
    roles: dict[str, StagedColumn],
    plans: Sequence[PropertyPlan],
    unit: str,
    *,
    zone: str = "UTC",
    derives_ids: bool = True,
    long_properties: str | None = None,
) -> str:
    """SQL creating NORM: one row per staged row with core fields, properties and a reason.

    ``long_properties`` is a relation of (__line, __more, __props_json) that gives the map of
    properties beyond the store's columns and the canonical JSON (store/wide_properties.py);
    without it both are made here, column by column. Without ``derives_ids`` (every row has its
    id) the canonical JSON is not made at all.

    ``__reason`` is NULL for a valid row. Epoch numbers are read in ``unit``; in ``auto`` mode
    each value's unit comes from its magnitude and a result before 1990 or more than a year ahead
    is quarantined as implausible (a compact date such as 20240131 is not silently 1970).

    Derived event ids (no id column, or an empty id) hash the row's content: person, event,
    microseconds, session and the canonical property JSON of :func:`props_json_sql`, so the same
    event gets the same id from any file and format. Identical rows within one file are distinct
    events: the first copy hashes the plain content, the n-th further copy the content plus
    ``#n``. Re-ingesting a file, or an overlapping export holding the row once, so adds nothing,
    while two genuine identical events in one file both load. Every row is created as a first
    copy; :func:`number_copies_sql` then numbers the copies of contents that repeat (few, and a
    16-byte key groups them, so the whole file is never sorted by its 32-character hashes).
    """
    time = roles["time"]
    typed_time = time.source_type != VARCHAR
    time_text = f"{time.ident} AS __time_raw" if typed_time else f"{text_sql(time)} AS __time_text"
    props = "".join(
        f", {typed_value_sql(p)} AS p{i}"
        for i, p in enumerate(plans)
        if p.target_column is not None
    )
    source = STAGE
    props_json = props_json_sql(plans) if derives_ids else "CAST(NULL AS VARCHAR)"
    if long_properties is None:
        props += more_properties_sql([p for p in plans if p.target_column is None])
    else:
        source = f"{STAGE} LEFT JOIN ({long_properties}) AS __wide USING (__line)"
        props += ", __wide.__more AS __more"
        props_json = "coalesce(__wide.__props_json, '{}')"
    given_id = text_sql(roles.get("id"))
    content = (
        "json_array(person_id, event, CAST(epoch_us(__ts) AS VARCHAR), session_id, __props_json)"
    )
    return f"""
        CREATE TEMP TABLE {NORM} AS
        WITH parsed AS (
            SELECT __line,
                {person_sql(roles)} AS person_id,
                {text_sql(roles.get("device"))} AS __device,
                {text_sql(roles.get("link_kind"))} AS __link_kind,
                {text_sql(roles.get("link_only"))} IS NOT NULL AS __link_only,
                {text_sql(roles["event"])} AS event,
                {time_text},
                {time_sql(time.ident, time.source_type, unit)} AS __ts,
                {epoch_unit_sql(time.ident, time.source_type, unit)} AS __epoch_unit,
                {text_sql(roles.get("session"))} AS session_id,
                {given_id} AS __given_id{props},
                CASE WHEN {blank(given_id)} THEN {props_json} END AS __props_json
            FROM {source}
        ),
        checked AS (SELECT *, {reason_sql(roles, unit, zone, typed_time=typed_time)} AS __reason
            FROM parsed),
        keyed AS (
            SELECT *,
                CASE WHEN __reason IS NULL AND {blank("__given_id")} THEN {content} END
                    AS __content
            FROM checked
        ),
        hashed AS (
            SELECT *, md5(__content) AS __hash, md5_number(__content) AS __hkey FROM keyed
        )
        SELECT * EXCLUDE ({"__time_raw" if typed_time else "__time_text"}, __ts, __epoch_unit,
                __props_json, __hash),
            0 AS __copy,
            CASE WHEN __reason IS NULL THEN __ts END AS "timestamp",
            CASE WHEN __reason IS NOT NULL THEN NULL
                 WHEN NOT {blank("__given_id")} THEN __given_id
                 ELSE __hash END AS event_id
        FROM hashed
    """


def number_copies_sql() -> str:
    """SQL giving the n-th further copy of a content that repeats in NORM (n >= 1, in line order)
    its own id: md5 of the content plus ``#n``."""
    repeated = (
        f"SELECT __hkey FROM {NORM} WHERE __hkey IS NOT NULL GROUP BY __hkey HAVING count(*) > 1"
    )
    copies = (
        "SELECT __line, __hkey, "
        "row_number() OVER (PARTITION BY __hkey ORDER BY __line) - 1 AS copy "
        f"FROM {NORM} WHERE __hkey IN ({repeated})"
    )
    return (
        f"UPDATE {NORM} SET __copy = c.copy, event_id = md5(__content || '#' || c.copy) "
        f"FROM ({copies}) AS c "
        f"WHERE {NORM}.__line = c.__line AND {NORM}.__hkey = c.__hkey AND c.copy > 0"
    )
