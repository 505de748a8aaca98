"""Person exports: one row per person with their properties (traits), no events.

A PostHog persons export (``distinct_ids`` and a ``properties`` object) is recognised; any other
file of persons is read with ``--layout persons``: its person column is found by the usual names
(``person_id``, ``distinct_id``, ``user_id`` ...) and every other column is a trait. Each person
becomes one ``$identify`` event carrying the traits (read with ``scope: person``, [B5]) at the
file's modification time, so a person export reads as the persons' latest values; the further
``distinct_ids`` of a PostHog person are linked to the first one as aliases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from funnelscope.model.identities import ALIAS
from funnelscope.store.layouts.core import (
    DEVICE,
    EVENT,
    FILE_TIME,
    LINK_KIND,
    LINK_ONLY,
    PERSON,
    TIME,
    LayoutError,
    json_list,
    json_object,
    put,
    put_all,
    text,
)
from funnelscope.store.mapping import ROLE_ALIASES, normalize_name

NAME: Final = "persons"
TITLE: Final = "person export (one row per person)"
FIELDS: Final = {PERSON: "person id", EVENT: "(person row)", TIME: "(file time)"}
IDENTIFY: Final = "$identify"


def recognises(first: Mapping[str, Any]) -> bool:
    keys = set(first)
    return {"distinct_ids", "properties"} <= keys and "event" not in keys


def _person_key(record: Mapping[str, Any]) -> str | None:
    by_name = {normalize_name(key): key for key in record if key != FILE_TIME}
    return next(
        (by_name[n] for n in map(normalize_name, ROLE_ALIASES["person"]) if n in by_name), None
    )


def transform(record: dict[str, Any]) -> list[dict[str, Any]]:
    at = record.get(FILE_TIME)
    key: str | None
    ids = [i for i in (text(v) for v in json_list(record.get("distinct_ids"), "distinct_ids")) if i]
    row: dict[str, Any] = {EVENT: IDENTIFY, TIME: at, DEVICE: None}
    if ids:
        row[PERSON] = ids[0]
        put_all(row, json_object(record.get("properties"), "properties"))
        for key, value in record.items():
            if key not in ("distinct_ids", "properties", FILE_TIME) and value is not None:
                put(row, f"posthog_person_{key}" if key == "id" else key, value)
    else:
        key = _person_key(record)
        if key is None:
            names = ", ".join(k for k in record if k != FILE_TIME)
            raise LayoutError(f"no person id column among {names}; name one person_id")
        row[PERSON] = text(record.get(key))
        for name, value in record.items():
            if name not in (key, FILE_TIME) and value is not None:
                put(row, name, value)
    links = [
        {
            PERSON: ids[0],
            DEVICE: other,
            LINK_KIND: ALIAS,
            LINK_ONLY: True,
            EVENT: IDENTIFY,
            TIME: at,
        }
        for other in ids[1:]
    ]
    return [row, *links]
