"""Which source columns hold an event's core fields: the mapping flags and their detection."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Final

from funnelscope.errors import IngestError

ROLE_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "person": (
        "person_id",
        "distinct_id",
        "user_id",
        "person",
        "user",
        "customer_id",
        "user_pseudo_id",
        "anonymous_id",
        "visitor_id",
        "client_id",
        "contact_id",
        "customer_email",
        "email",
        "customer",
    ),
    "event": ("event", "event_name", "event_type", "name", "action", "type", "stage", "activity"),
    "time": (
        "timestamp",
        "time",
        "ts",
        "event_time",
        "event_timestamp",
        "timestamp_utc",
        "occurred_at",
        "datetime",
        "date",
        "created_at",
        "sent_at",
        "received_at",
    ),
    "id": ("event_id", "uuid", "id", "message_id", "insert_id"),
    "session": ("session_id", "session", "$session_id"),
}
REQUIRED_ROLES: Final = ("person", "event", "time")
SPARSE_PERSON: Final = 0.02  # a person column empty on more of the rows than this is sparse
# Words that make a column a plausible suggestion for a role nothing was detected for.
_ROLE_HINTS: Final[dict[str, tuple[str, ...]]] = {
    "person": ("user", "person", "customer", "visitor", "client", "contact", "email", "id"),
    "time": ("time", "date", "ts", "at", "created"),
    "event": ("event", "name", "action", "type", "stage"),
}


@dataclass(frozen=True)
class ColumnMapping:
    """Which source columns hold the core fields.

    ``None`` means detect from common names; ``""`` for ``id_col`` or ``session_col`` means the
    file has none (ids are then derived from the content).
    """

    person_col: str | None = None
    event_col: str | None = None
    time_col: str | None = None
    id_col: str | None = None
    session_col: str | None = None
    timezone: str = "UTC"  # naive times are read in this IANA zone
    time_unit: str = "auto"  # auto | s | ms | us, for epoch numbers
    delimiter: str | None = None  # CSV field separator; None = detect from the header line
    device_col: str | None = None  # device/anonymous id: the person where person_col is empty
    layout: str | None = None  # export layout; None = recognise it, "generic" = plain columns

    def explicit(self, role: str) -> str | None:
        value: str | None = getattr(self, f"{role}_col")
        return value

    def canonical(self) -> str:
        """These options as canonical JSON (sorted keys), as kept in the loads registry."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def same_options(cls, stored: str, canonical: str) -> bool:
        """Whether options kept in the registry (perhaps before newer options existed, which
        then held their defaults) equal these canonical options."""
        defaults = asdict(cls())
        return {**defaults, **json.loads(stored)} == {**defaults, **json.loads(canonical)}


def _find_column(names: Sequence[str], wanted: str) -> str | None:
    if wanted in names:
        return wanted
    lowered = wanted.lower()
    return next((name for name in names if name.lower() == lowered), None)


def normalize_name(name: str) -> str:
    """A column name for alias matching: lower case without spaces, ``_``, ``-``, ``$`` or ``.``."""
    return "".join(ch for ch in name.lower() if ch not in " _-$.")


def _find_alias(names: Sequence[str], alias: str) -> str | None:
    """The column matching ``alias``: exactly, ignoring case, or by :func:`normalize_name`."""
    found = _find_column(names, alias)
    if found is not None:
        return found
    wanted = normalize_name(alias)
    return next((name for name in names if normalize_name(name) == wanted), None)


def shell_quote(name: str) -> str:
    """A column name as typed in a shell: quoted when it holds spaces or shell characters."""
    return shlex.quote(name)


def _delimiter_hint(names: Sequence[str]) -> str:
    for name in names:
        for sep in (";", "|"):
            if sep in name:
                return f"the header looks {sep!r}-separated; use --delimiter {shlex.quote(sep)}; "
    return ""


def resolve_roles(names: Sequence[str], mapping: ColumnMapping, source: str) -> dict[str, str]:
    """Map each role (person, event, time, id, session) to a source column name.

    Explicit mapping names must exist (exact name first, then case-insensitively); otherwise the
    first alias present is used, matched exactly, then ignoring case, then ignoring case, spaces,
    ``_``, ``-``, ``$`` and ``.`` (``Created at`` and ``$distinct_id`` match). Missing
    person/event/time columns raise IngestError.
    """
    roles: dict[str, str] = {}
    for role, aliases in ROLE_ALIASES.items():
        explicit = mapping.explicit(role)
        if explicit == "" and role not in REQUIRED_ROLES:
            continue  # an empty name switches an optional role off
        if explicit is not None:
            found = _find_column(names, explicit)
            if found is None:
                raise IngestError(
                    source,
                    f"no column {explicit!r} for --{role}-col",
                    f"{_delimiter_hint(names)}columns are: {', '.join(names)}; "
                    f"use --{role}-col with one of them",
                )
            roles[role] = found
            continue
        for alias in aliases:
            found = _find_alias(names, alias)
            if found is not None and found not in roles.values():
                roles[role] = found
                break
    for role in REQUIRED_ROLES:
        if role not in roles:
            _missing_role(names, roles, role, source)
    if mapping.device_col:
        found = _find_column(names, mapping.device_col)
        if found is None:
            raise IngestError(
                source,
                f"no column {mapping.device_col!r} for --device-col",
                f"columns are: {', '.join(names)}; use --device-col with one of them",
            )
        roles["device"] = found
    return roles


def person_candidates(names: Sequence[str], roles: dict[str, str]) -> list[str]:
    """Columns named like a person id that no role took (for the fill-rate check)."""
    taken = set(roles.values())
    found = [_find_alias(names, alias) for alias in ROLE_ALIASES["person"]]
    return [name for name in dict.fromkeys(f for f in found if f) if name not in taken]


def _missing_role(names: Sequence[str], roles: dict[str, str], role: str, source: str) -> None:
    claimed = set(roles.values()) | {
        n for other in REQUIRED_ROLES for a in ROLE_ALIASES[other] if (n := _find_alias(names, a))
    }
    free = [n for n in names if n not in claimed]
    words = _ROLE_HINTS[role]
    plausible = [n for n in free if any(w in n.lower() for w in words)]
    suggestion = next(iter(plausible or free), None)
    shown = shell_quote(suggestion) if suggestion is not None else "<column>"
    raise IngestError(
        source,
        f"no {role} column (looked for {', '.join(ROLE_ALIASES[role])})",
        f"{_delimiter_hint(names)}columns are: {', '.join(names)}; use --{role}-col {shown}",
    )


def options_diff(old: str, new: str) -> str:
    """The options that differ between two mappings: ``timezone: UTC -> Europe/Berlin``."""
    before, after = json.loads(old), json.loads(new)

    def shown(value: object) -> str:
        return "auto" if value is None else "none" if value == "" else str(value)

    changed = [
        f"{key}: {shown(before.get(key))} -> {shown(after.get(key))}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    return ", ".join(changed)
