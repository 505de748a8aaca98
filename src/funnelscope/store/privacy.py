"""Forgetting persons for privacy: their events, links, traits and quarantined rows removed, and
their ids kept out of later loads.

A person is the resolved person ([I1]-[I8]): the id given and every id stitched to it. Removing
them takes every event sent under one of those ids (traits are properties of their ``$identify``
events, so they go too), every identity link from or to one of them, their rows of
``identity_map``, ``identity_apart`` and ``persons``, and every quarantined row that holds one of
them (:func:`raw_values`); then the persons are resolved again. The caller rewrites the file
afterwards (store/rewrite.py) so the deleted bytes leave it.

The ids are remembered in ``forgotten_ids`` as SHA-256 of the store's random salt followed by the
id, so a later load of the same export skips their rows instead of bringing them back. This is a
pseudonymisation: it keeps the ids out of sight of anyone reading the table, but whoever holds the
store (and so the salt) can test whether a given id was forgotten.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa

from funnelscope.errors import IngestError
from funnelscope.store.identities import IdentityChange, apply_identities
from funnelscope.store.schema import count
from funnelscope.store.staging import first_row

Connection = duckdb.DuckDBPyConnection

ID_FILE_COLUMNS: Final = ("person_id", "person", "id", "distinct_id", "user_id")
FIELD_DELIMITERS: Final = (",", ";", "|", "\t")
_QUOTED: Final = re.compile(r'"((?:[^"\\]|\\.)*)"')
_WORD: Final = re.compile(r"[\w.@+\-]+")


# ------------------------------------------------------------------ which text holds an id


def raw_values(raw: str) -> set[str]:
    """The whole values a quarantined row's raw text holds; a row holds an id when the id is one
    of them (ids compare exactly, case included).

    The values are: every scalar of the text read as JSON, at any depth (strings as they decode,
    numbers and booleans as written); every double-quoted string (JSON escapes decoded, so a
    broken JSON line still gives its strings); every field of the text split as CSV at ``,``,
    ``;``, ``|`` or tab (trimmed, quotes removed); and every word, a run of letters, digits and
    ``_ - . @ +`` without dots at its ends (so an id written inside free text counts, and
    ``erin@example.com`` is not found in ``erin@example.com.au`` nor ``42`` in ``142``).
    """
    values: set[str] = set()
    try:
        parsed = json.loads(raw, parse_float=str, parse_int=str, parse_constant=str)
    except (ValueError, RecursionError):
        pass
    else:
        _json_scalars(parsed, values)
    for match in _QUOTED.finditer(raw):
        try:
            values.add(str(json.loads(f'"{match.group(1)}"')))
        except ValueError:
            values.add(match.group(1))
    for delimiter in FIELD_DELIMITERS:
        if delimiter in raw:
            try:
                for row in csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter):
                    values.update(field.strip() for field in row)
            except csv.Error:
                pass
    values.update(word.strip(".") for word in _WORD.findall(raw))
    values.discard("")
    return values


def _json_scalars(value: Any, into: set[str]) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool):
            into.add("true" if item else "false")
        elif item is not None:
            into.add(str(item))


def _search_terms(ids: Iterable[str]) -> set[str]:
    """What a raw text holding one of ``ids`` contains literally: each id as is, JSON-escaped
    (with and without \\u escapes) and with CSV's doubled quotes (a fast first filter)."""
    terms: set[str] = set()
    for member in ids:
        terms |= {
            member,
            json.dumps(member)[1:-1],
            json.dumps(member, ensure_ascii=False)[1:-1],
            member.replace('"', '""'),
        }
    return {t for t in terms if t}


# ------------------------------------------------------------------ forgotten ids, hashed


def id_hash(salt: str, member: str) -> str:
    """The stored form of a forgotten id: hex SHA-256 of salt + id (UTF-8), as DuckDB's
    ``sha256(salt || id)`` computes it."""
    return hashlib.sha256((salt + member).encode("utf-8", "surrogateescape")).hexdigest()


def store_salt(con: Connection, *, create: bool = False) -> str | None:
    """The store's salt (32 random hex digits), made on first use when ``create`` is set."""
    row = first_row(con, "SELECT salt FROM privacy_salt LIMIT 1")
    if row is not None:
        return str(row[0])
    if not create:
        return None
    salt = secrets.token_hex(16)
    con.execute("INSERT INTO privacy_salt VALUES (?)", [salt])
    return salt


class ForgottenIds:
    """The store's forgotten ids (as hashes), to test ids and texts against while loading."""

    def __init__(self, con: Connection) -> None:
        self.salt = store_salt(con)
        rows = con.execute("SELECT DISTINCT id_hash FROM forgotten_ids").fetchall()
        self.hashes = {str(row[0]) for row in rows} if self.salt is not None else set()

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def __contains__(self, member: object) -> bool:
        return (
            self.salt is not None
            and isinstance(member, str)
            and id_hash(self.salt, member) in self.hashes
        )

    def in_text(self, raw: str | None) -> bool:
        """Whether the text holds a forgotten id as one of its :func:`raw_values`."""
        return bool(raw) and any(value in self for value in raw_values(str(raw)))


def suppress(con: Connection, ids: Iterable[str]) -> int:
    """Add ``ids`` to the forgotten ids (those not there yet); returns how many were added."""
    salt = store_salt(con, create=True)
    assert salt is not None
    known = ForgottenIds(con).hashes
    fresh = sorted({id_hash(salt, member) for member in ids} - known)
    if fresh:
        _register(con, "_fs_hashes", "id_hash", fresh)
        try:
            con.execute(
                "INSERT INTO forgotten_ids SELECT id_hash, timezone('UTC', now()) FROM _fs_hashes"
            )
        finally:
            con.unregister("_fs_hashes")
    return len(fresh)


# ------------------------------------------------------------------ while loading


def skip_forgotten_rows(con: Connection, norm: str) -> tuple[int, int]:
    """Drop the staged rows whose own id is forgotten, and the forgotten device ids of the
    others (their events load, but make no link to a forgotten id). Returns (rows dropped,
    device ids dropped); does nothing when no id was ever forgotten."""
    salt = store_salt(con)
    if salt is None or not count(con, "SELECT count(*) FROM forgotten_ids"):
        return 0, 0
    forgotten = "IN (SELECT id_hash FROM forgotten_ids)"
    dropped = _changed(con, f"DELETE FROM {norm} WHERE sha256(? || person_id) {forgotten}", salt)
    unlinked = _changed(
        con,
        f"UPDATE {norm} SET __device = NULL WHERE __device IS NOT NULL "
        f"AND sha256(? || __device) {forgotten}",
        salt,
    )
    return dropped, unlinked


def _changed(con: Connection, sql: str, salt: str) -> int:
    row = con.execute(sql, [salt]).fetchone()
    return int(row[0]) if row else 0


def skip_forgotten_bad_rows(con: Connection, bad: str) -> int:
    """Drop this file's bad rows whose raw text holds a forgotten id, so it is never stored."""
    forgotten = ForgottenIds(con)
    if not forgotten:
        return 0
    rows = con.execute(f"SELECT line, raw FROM {bad}").fetchall()
    lines = sorted({int(line) for line, raw in rows if forgotten.in_text(raw)})
    if lines:
        _register(con, "_fs_lines", "line", lines, pa.int64())
        try:
            con.execute(f"DELETE FROM {bad} WHERE line IN (SELECT line FROM _fs_lines)")
        finally:
            con.unregister("_fs_lines")
    return len(lines)


# ------------------------------------------------------------------ forgetting persons


@dataclass(frozen=True)
class PersonsForgotten:
    """What forgetting persons removed."""

    requested: tuple[str, ...]  # the ids given
    ids: tuple[str, ...]  # every id of their persons, now forgotten
    persons: int
    events: int
    links: int
    quarantined: int
    deals: int  # CRM deals linked to them (with their stage history and activities)
    unknown: tuple[str, ...]  # ids given that nothing in the store named (suppressed all the same)
    identities: IdentityChange

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": list(self.requested),
            "ids": list(self.ids),
            "persons": self.persons,
            "events_removed": self.events,
            "links_removed": self.links,
            "quarantined_removed": self.quarantined,
            "deals_removed": self.deals,
            "unknown": list(self.unknown),
            "identities": self.identities.to_dict(),
        }


def forget_persons(con: Connection, given: Sequence[str]) -> PersonsForgotten:
    """Remove everything of the persons of ``given`` and suppress their ids (inside the
    caller's transaction); see the module's docstring."""
    requested = tuple(dict.fromkeys(given))
    crm = has_table(con, "crm_deals")
    _register(con, "_fs_given", "id", list(requested))
    try:
        person_of = {
            str(member): str(person)
            for member, person in con.execute(
                "SELECT g.id, coalesce(m.person_id, g.id) FROM _fs_given g "
                "LEFT JOIN identity_map m ON m.distinct_id = g.id"
            ).fetchall()
        }
        stitched = con.execute(
            "SELECT m.distinct_id FROM identity_map m WHERE m.person_id IN "
            "(SELECT coalesce(m2.person_id, g.id) FROM _fs_given g "
            "LEFT JOIN identity_map m2 ON m2.distinct_id = g.id)"
        ).fetchall()
        named = {
            str(row[0])
            for row in con.execute(
                "SELECT id FROM _fs_given WHERE id IN (SELECT distinct_id FROM events) "
                "OR id IN (SELECT from_id FROM identity_links) "
                "OR id IN (SELECT to_id FROM identity_links) "
                "OR id IN (SELECT id FROM identity_apart)"
                + (" OR id IN (SELECT person_id FROM crm_deals)" if crm else "")
            ).fetchall()
        }
    finally:
        con.unregister("_fs_given")
    ids = sorted(set(requested) | set(person_of.values()) | {str(row[0]) for row in stitched})
    suppress(con, ids)
    quarantined = _quarantined_rows(con, set(ids))
    named |= {member for member in requested if any(member in held for _, held in quarantined)}
    _register(con, "_fs_forget", "id", ids)
    try:
        _delete_rowids(con, [rowid for rowid, _ in quarantined])
        in_ids = "IN (SELECT id FROM _fs_forget)"
        their_events = f"(distinct_id {in_ids} OR person_id {in_ids})"
        con.execute(
            "UPDATE loads SET rows_loaded = rows_loaded - r.n FROM (SELECT load_id, count(*) AS n "
            f"FROM events WHERE {their_events} GROUP BY load_id) r WHERE loads.load_id = r.load_id"
        )
        events = count(con, f"SELECT count(*) FROM events WHERE {their_events}")
        con.execute(f"DELETE FROM events WHERE {their_events}")
        links = count(
            con, f"SELECT count(*) FROM identity_links WHERE from_id {in_ids} OR to_id {in_ids}"
        )
        con.execute(f"DELETE FROM identity_links WHERE from_id {in_ids} OR to_id {in_ids}")
        con.execute(f"DELETE FROM identity_map WHERE distinct_id {in_ids} OR person_id {in_ids}")
        con.execute(f"DELETE FROM identity_apart WHERE id {in_ids}")
        con.execute(f"DELETE FROM persons WHERE person_id {in_ids}")
        deals = _forget_deals(con, in_ids) if crm else 0
    finally:
        con.unregister("_fs_forget")
    change = apply_identities(con)
    return PersonsForgotten(
        requested=requested,
        ids=tuple(ids),
        persons=len({person_of[member] for member in named}),
        events=events,
        links=links,
        quarantined=len(quarantined),
        deals=deals,
        unknown=tuple(member for member in requested if member not in named),
        identities=change,
    )


def _forget_deals(con: Connection, in_ids: str) -> int:
    """Delete the CRM deals of the forgotten ids, with their stage history and activities; the
    deal ids join the forgotten ids, so loading the CRM export again skips every row of them."""
    theirs = f"deal_id IN (SELECT deal_id FROM crm_deals WHERE person_id {in_ids})"
    deal_ids = con.execute(f"SELECT deal_id FROM crm_deals WHERE person_id {in_ids}").fetchall()
    deals = len(deal_ids)
    suppress(con, [str(row[0]) for row in deal_ids])  # a re-loaded history skips them too
    con.execute(f"DELETE FROM crm_stage_changes WHERE {theirs}")
    con.execute(f"DELETE FROM crm_activities WHERE {theirs}")
    con.execute(f"DELETE FROM crm_deals WHERE person_id {in_ids}")
    return deals


def has_table(con: Connection, name: str) -> bool:
    sql = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
    return bool(con.execute(sql, [name]).fetchall()[0][0])


def _quarantined_rows(con: Connection, ids: set[str]) -> list[tuple[int, set[str]]]:
    """(rowid, the ids it holds) of every quarantined row holding one of ``ids``."""
    if not ids:
        return []
    _register(con, "_fs_terms", "term", sorted(_search_terms(ids)))
    try:
        candidates = con.execute(
            "SELECT DISTINCT q.rowid, q.raw FROM quarantine q JOIN _fs_terms t "
            "ON contains(q.raw, t.term)"
        ).fetchall()
    finally:
        con.unregister("_fs_terms")
    found = []
    for rowid, raw in candidates:
        held = raw_values(str(raw)) & ids
        if held:
            found.append((int(rowid), held))
    return sorted(found, key=lambda item: item[0])


def _delete_rowids(con: Connection, rowids: Sequence[int]) -> None:
    if not rowids:
        return
    _register(con, "_fs_rowids", "row_id", list(rowids), pa.int64())
    try:
        con.execute("DELETE FROM quarantine WHERE rowid IN (SELECT row_id FROM _fs_rowids)")
    finally:
        con.unregister("_fs_rowids")


def _register(
    con: Connection,
    name: str,
    column: str,
    values: Sequence[Any],
    kind: pa.DataType | None = None,
) -> None:
    con.register(name, pa.table({column: pa.array(values, kind or pa.string())}))


# ------------------------------------------------------------------ the ids to forget


def read_id_file(path: Path, source: str) -> list[str]:
    """The ids in a file: one id per line, or a CSV whose header names an id column
    (``person_id``, ``person``, ``id``, ``distinct_id`` or ``user_id``: the first found).
    Blank lines are skipped and ids trimmed; a header with several columns but none of those
    names is refused."""
    from funnelscope.store.text_files import detect_delimiter, open_text

    if not path.is_file():
        raise IngestError(source, "file not found", "check the path")
    with open_text(path, path.name.lower().endswith(".gz")) as (text, _):
        try:
            lines = text.read().splitlines()
        except UnicodeDecodeError as exc:
            raise IngestError(source, "is not UTF-8 text", "save the file as UTF-8") from exc
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return []
    delimiter = detect_delimiter(first)
    header = [cell.strip() for cell in next(csv.reader([first], delimiter=delimiter))]
    lowered = [cell.lower() for cell in header]
    column = next((lowered.index(n) for n in ID_FILE_COLUMNS if n in lowered), None)
    if column is None:
        if len(header) > 1:
            raise IngestError(
                source,
                f"no id column (header: {', '.join(header)})",
                f"name the column {ID_FILE_COLUMNS[0]}, or give one id per line",
                line=1,
            )
        return list(dict.fromkeys(line.strip() for line in lines if line.strip()))
    start = lines.index(first) + 1
    ids = []
    for row in csv.reader(lines[start:], delimiter=delimiter):
        value = row[column].strip() if column < len(row) else ""
        if value:
            ids.append(value)
    return list(dict.fromkeys(ids))
