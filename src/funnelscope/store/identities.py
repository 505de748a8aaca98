"""Identity stitching in the store: links recorded, resolved by the identity rule
(model/identities.py) and applied to the events.

Every event keeps the id it was sent with in ``distinct_id``; ``person_id`` and ``person_key``
name the person that id resolves to, so every engine, breakdown and people list counts one person
across their ids without a join. ``identity_links`` records every link (which ids, when, from
what source and load); ``identity_apart`` the ids unmerged by hand; ``identity_map`` the current
resolution (only ids that belong to another id's person).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb
import pyarrow as pa

from funnelscope.errors import IngestError
from funnelscope.model.identities import MAPPING, Link, Rejected, Resolution, resolve
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.schema import add_persons, count

Connection = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class IdentityChange:
    """What resolving the links changed: ids that moved to another person, and the totals."""

    ids_moved: int
    events_moved: int
    merged_persons: int  # persons with more than one id, after
    merged_ids: int  # ids that belong to another id's person, after
    rejected_links: int

    def to_dict(self) -> dict[str, int]:
        return {
            "ids_moved": self.ids_moved,
            "events_moved": self.events_moved,
            "merged_persons": self.merged_persons,
            "merged_ids": self.merged_ids,
            "rejected_links": self.rejected_links,
        }


def stored_links(con: Connection) -> list[Link]:
    """Every recorded pair of ids once, at the first time it was linked (the rule takes only an
    id's earliest link to a person, so later repeats of the same pair change nothing)."""
    rows = con.execute(
        "SELECT from_id, to_id, kind, epoch_us(min(linked_at)), "
        "coalesce(arg_min(source, linked_at), '') FROM identity_links GROUP BY ALL"
    ).fetchall()
    return [Link(str(a), str(b), str(kind), int(at), str(src)) for a, b, kind, at, src in rows]


def apart_ids(con: Connection) -> set[str]:
    return {str(row[0]) for row in con.execute("SELECT id FROM identity_apart").fetchall()}


def current_resolution(con: Connection) -> Resolution:
    return resolve(stored_links(con), apart_ids(con))


def apply_identities(con: Connection) -> IdentityChange:
    """Resolve every link and point each event at its id's person (inside the caller's
    transaction). Deterministic: the same links give the same persons in any load order."""
    resolution = current_resolution(con)
    mapping = resolution.person_of
    table = pa.table(
        {
            "distinct_id": pa.array(list(mapping), pa.string()),
            "person_id": pa.array(list(mapping.values()), pa.string()),
        }
    )
    con.register("_fs_new_map", table)
    try:
        ids_moved = count(
            con,
            "SELECT (SELECT count(*) FROM (SELECT distinct_id, person_id FROM _fs_new_map "
            "EXCEPT SELECT distinct_id, person_id FROM identity_map)) + "
            "(SELECT count(*) FROM (SELECT distinct_id FROM identity_map "
            "EXCEPT SELECT distinct_id FROM _fs_new_map))",
        )
        con.execute("DELETE FROM identity_map")
        con.execute("INSERT INTO identity_map SELECT distinct_id, person_id FROM _fs_new_map")
    finally:
        con.unregister("_fs_new_map")
    add_persons(con, "SELECT DISTINCT person_id FROM identity_map")
    joined = _updated(
        con,
        "UPDATE events SET person_id = m.person_id, person_key = p.person_key "
        "FROM identity_map m JOIN persons p ON p.person_id = m.person_id "
        "WHERE events.distinct_id = m.distinct_id AND events.person_id <> m.person_id",
    )
    returned = _updated(
        con,
        "UPDATE events SET person_id = distinct_id, person_key = p.person_key FROM persons p "
        "WHERE p.person_id = events.distinct_id AND events.person_id <> events.distinct_id "
        "AND events.distinct_id NOT IN (SELECT distinct_id FROM identity_map)",
    )
    return IdentityChange(
        ids_moved=ids_moved,
        events_moved=joined + returned,
        merged_persons=len(set(mapping.values())),
        merged_ids=len(mapping),
        rejected_links=len(resolution.rejected),
    )


def _updated(con: Connection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def add_links_from_staging(con: Connection, norm: str, source: str, load_id: int) -> int:
    """Record the links of this file's valid rows: each row's device id to its own id, once
    per pair of ids and load, at the pair's first time (its line kept)."""
    kind = "coalesce(NULLIF(trim(n.__link_kind), ''), 'identify')"
    firsts = (
        f"SELECT n.__device AS from_id, n.person_id AS to_id, {kind} AS kind, "
        'min(n."timestamp") AS linked_at, arg_min(n.__line, n."timestamp") AS line '
        f"FROM {norm} n WHERE n.__reason IS NULL AND NULLIF(trim(n.__device), '') IS NOT NULL "
        "AND n.__device <> n.person_id GROUP BY ALL"
    )
    inserted = con.execute(
        "INSERT INTO identity_links SELECT f.from_id, f.to_id, f.kind, f.linked_at, ?, ?, f.line "
        f"FROM ({firsts}) f WHERE NOT EXISTS (SELECT 1 FROM identity_links l "
        "WHERE l.load_id = ? AND l.from_id = f.from_id AND l.to_id = f.to_id "
        "AND l.kind = f.kind AND l.linked_at <= f.linked_at)",
        [source, load_id, load_id],
    ).fetchone()
    con.execute(  # a re-load that found an earlier time for a pair keeps only that one
        "DELETE FROM identity_links l WHERE l.load_id = ? AND EXISTS (SELECT 1 FROM "
        "identity_links m WHERE m.load_id = l.load_id AND m.from_id = l.from_id "
        "AND m.to_id = l.to_id AND m.kind = l.kind AND m.linked_at < l.linked_at)",
        [load_id],
    )
    return int(inserted[0]) if inserted else 0


def add_link(con: Connection, link: Link, load_id: int | None = None, line: int = 0) -> None:
    con.execute(
        "INSERT INTO identity_links VALUES (?, ?, ?, make_timestamp(?), ?, ?, ?)",
        [link.from_id, link.to_id, link.kind, link.at_us, link.source, load_id, line],
    )


def set_apart(con: Connection, member: str) -> None:
    if not count(con, "SELECT count(*) FROM identity_apart WHERE id = ?", [member]):
        con.execute(
            "INSERT INTO identity_apart VALUES (?, ?)",
            [member, datetime.now(UTC).replace(tzinfo=None)],
        )


def rejoin(con: Connection, member: str) -> bool:
    """Undo an unmerge; False when `member` was not unmerged."""
    was = count(con, "SELECT count(*) FROM identity_apart WHERE id = ?", [member])
    con.execute("DELETE FROM identity_apart WHERE id = ?", [member])
    return bool(was)


@dataclass(frozen=True)
class IdentityMapLoad:
    """What loading a mapping file did."""

    source: str
    links: int
    bad_rows: tuple[BadRow, ...]
    change: IdentityChange
    forgotten_skipped: int = 0  # rows naming a forgotten id (store/privacy.py), not loaded


@dataclass(frozen=True)
class IdentityOverview:
    """The store's identities: merged persons, the largest of them, links and unmerged ids."""

    merged_persons: int
    merged_ids: int
    links: int
    accepted: int
    rejected: tuple[Rejected, ...]
    largest: tuple[tuple[str, tuple[str, ...]], ...]  # person -> its ids, most ids first
    apart: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "merged_persons": self.merged_persons,
            "merged_ids": self.merged_ids,
            "links": self.links,
            "links_accepted": self.accepted,
            "links_rejected": [{**_link_dict(r.link), "reason": r.reason} for r in self.rejected],
            "largest": [{"person_id": p, "ids": list(ids)} for p, ids in self.largest],
            "unmerged": list(self.apart),
        }


def identity_overview(con: Connection, top: int = 10) -> IdentityOverview:
    resolution = current_resolution(con)
    persons = resolution.persons()
    largest = sorted(persons.items(), key=lambda item: (-len(item[1]), item[0]))[:top]
    return IdentityOverview(
        merged_persons=len(persons),
        merged_ids=len(resolution.person_of),
        links=count(con, "SELECT count(*) FROM identity_links"),
        accepted=len(resolution.accepted),
        rejected=resolution.rejected,
        largest=tuple((p, tuple(ids)) for p, ids in largest),
        apart=tuple(sorted(apart_ids(con))),
    )


@dataclass(frozen=True)
class PersonIdentity:
    """One person's ids, the links that joined them and those set aside."""

    person_id: str
    ids: tuple[str, ...]
    events_by_id: dict[str, int]
    links: tuple[Link, ...]
    rejected: tuple[Rejected, ...]
    apart: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "ids": [{"id": i, "events": self.events_by_id.get(i, 0)} for i in self.ids],
            "links": [_link_dict(link) for link in self.links],
            "rejected": [{**_link_dict(r.link), "reason": r.reason} for r in self.rejected],
            "unmerged": self.apart,
        }


def _link_dict(link: Link) -> dict[str, Any]:
    at = datetime.fromtimestamp(link.at_us / 1_000_000, UTC)
    return {
        "from": link.from_id,
        "to": link.to_id,
        "kind": link.kind,
        "at": at.isoformat().replace("+00:00", "Z"),
        "source": link.source,
    }


def person_identity(con: Connection, member: str) -> PersonIdentity:
    """The person `member` belongs to, with all of that person's ids and links."""
    resolution = current_resolution(con)
    person = resolution.person_of.get(member, member)
    ids = resolution.persons().get(person, [person])
    marks = ", ".join("?" * len(ids))
    rows = con.execute(
        f"SELECT distinct_id, count(*) FROM events WHERE distinct_id IN ({marks}) "
        "GROUP BY distinct_id",
        ids,
    ).fetchall()
    members = set(ids)
    links = tuple(
        link for link in resolution.accepted if link.from_id in members or link.to_id in members
    )
    rejected = tuple(
        r for r in resolution.rejected if r.link.from_id in members or r.link.to_id in members
    )
    return PersonIdentity(
        person,
        tuple(ids),
        {str(i): int(n) for i, n in rows},
        links,
        rejected,
        member in apart_ids(con),
    )


MAPPING_FROM: Final = ("id", "distinct_id", "anonymous_id", "device_id", "alias", "from", "from_id")
MAPPING_TO: Final = ("person_id", "user_id", "person", "canonical_id", "to", "to_id")


def read_mapping_file(
    path: Path, source: str, at_us: int
) -> tuple[list[tuple[int, Link]], list[BadRow]]:
    """The links of a mapping file (CSV or TSV: a column of ids and one of the persons they
    belong to, found by name), each with its line, and the rows that name no pair."""
    import csv

    from funnelscope.store.text_files import detect_delimiter, open_text

    links: list[tuple[int, Link]] = []
    bad: list[BadRow] = []
    with open_text(path, path.name.lower().endswith(".gz"), "") as (text, _):
        first = text.readline()
        if not first:
            raise IngestError(source, "the file is empty", "a header line id,person_id is needed")
        reader = csv.reader([first], delimiter=detect_delimiter(first.rstrip("\r\n")))
        header = [name.strip() for name in next(reader)]
        lowered = [name.lower() for name in header]
        start = next((lowered.index(n) for n in MAPPING_FROM if n in lowered), None)
        end = next((lowered.index(n) for n in MAPPING_TO if n in lowered), None)
        if start is None or end is None or start == end:
            raise IngestError(
                source,
                f"no id and person columns (header: {', '.join(header)})",
                f"name the columns {MAPPING_FROM[0]} and {MAPPING_TO[0]}",
                line=1,
            )
        rows = csv.reader(text, delimiter=detect_delimiter(first.rstrip("\r\n")))
        for line, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            values = [cell.strip() for cell in row]
            member = values[start] if start < len(values) else ""
            person = values[end] if end < len(values) else ""
            if not member or not person:
                missing = header[start] if not member else header[end]
                bad.append(
                    BadRow(
                        source,
                        line,
                        f"missing {missing}; each row maps an id to a person",
                        ",".join(row),
                        missing,
                        "",
                        "fill both columns or remove the row",
                    )
                )
                continue
            links.append((line, Link(member, person, MAPPING, at_us, source)))
    return links, bad
