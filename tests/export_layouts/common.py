"""Helpers the layout writers share: ids, time text, and planting bad records among good ones."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

from .population import Act, Population, Source
from .truth import BadLine, Row

OFFSETS: Final = {"DE": 1, "AT": 1, "NL": 1, "FR": 1, "GB": 0, "US": -5}


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def utc(time_us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_us)


def iso_ms(time_us: int) -> str:
    """2024-03-04T10:00:00.123Z (Segment)."""
    return utc(time_us).strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_us // 1000 % 1000:03d}Z"


def local_iso_ms(time_us: int, country: str) -> str:
    """The same instant in the device's local time with its offset (Segment originalTimestamp)."""
    zone = timezone(timedelta(hours=OFFSETS[country]))
    local = utc(time_us).astimezone(zone)
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{time_us // 1000 % 1000:03d}"
        + (local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:])
    )


def json_line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Record:
    """One good record of an export and the event it loads as (None: it loads no event)."""

    obj: dict[str, Any]
    row: Row | None
    anonymous: bool  # carries only an anonymous/device id: safe to copy into a bad record


def source_of(population: Population, act: Act) -> Source:
    return population.sessions[act.session].source


def session_starts(population: Population) -> dict[int, int]:
    """Each session's first act time (whole seconds), the layouts' session ids."""
    first: dict[int, int] = {}
    for act in population.acts:
        first.setdefault(act.session, act.second)
    return first


def by_day_shuffled(records: list[Record], time_us: Callable[[Record], int], seed: int) -> None:
    """Order records by day, and within a day arbitrarily (as daily export tables come)."""
    rng = random.Random(seed)
    keys = {id(r): (time_us(r) // 86_400_000_000, rng.random()) for r in records}
    records.sort(key=lambda r: keys[id(r)])


def plant(
    lines: list[str],
    records: list[Record],
    corruptions: list[tuple[str, Callable[[dict[str, Any]], str]]],
    seed: int,
    *,
    first_line: int = 1,
    fresh_ids: Callable[[dict[str, Any], random.Random], None] | None = None,
) -> tuple[list[str], list[BadLine]]:
    """Insert one bad line per corruption, spread over the file; each is made from a copy of an
    anonymous record (so it would link nobody even if read) with new event ids (`fresh_ids`, so
    it repeats no good record's id). Returns the lines and where the bad ones are (`first_line`:
    the line number of lines[0])."""
    rng = random.Random(seed)
    donors = [r for r in records if r.anonymous]
    out = list(lines)
    positions = sorted(rng.sample(range(1, len(lines)), len(corruptions)))
    # insert from the back so earlier positions stay valid
    planted: list[tuple[int, str]] = []
    for position, (kind, corrupt) in zip(reversed(positions), reversed(corruptions), strict=True):
        copy = json.loads(json.dumps(rng.choice(donors).obj))
        if fresh_ids is not None:
            fresh_ids(copy, rng)
        out.insert(position, corrupt(copy))
        planted.append((position, kind))
    bad = []
    for shift, (position, kind) in enumerate(sorted(planted)):
        bad.append(BadLine(first_line + position + shift, kind))
    return out, bad


def write_text(path: Path, lines: list[str], header: str | None = None) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        if header is not None:
            f.write(header + "\n")
        for line in lines:
            f.write(line + "\n")


def cut(text: str, at: float = 0.6) -> str:
    """A record cut off part way (an interrupted export)."""
    return text[: int(len(text) * at)]


def current_plans(population: Population) -> dict[int, str]:
    """act.seq -> the plan of the account signed in on that act (from its latest sign-in)."""
    plans: dict[str, str] = {}
    out: dict[int, str] = {}
    for act in population.acts:
        if act.kind == "login":
            assert act.user is not None and act.plan is not None
            plans[act.user] = act.plan
        if act.user is not None and act.user in plans:
            out[act.seq] = plans[act.user]
    return out


def uuid7_like(rng: random.Random, time_us: int) -> str:
    """A time-ordered UUID (version 7 layout), as PostHog's browser library makes them."""
    ms = time_us // 1000
    tail = rng.getrandbits(74)
    value = (ms << 80) | (7 << 76) | ((tail >> 62) << 64) | (2 << 62) | (tail & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def product(act: Act) -> dict[str, Any]:
    assert act.item is not None
    item = act.item
    return {
        "product_id": item.item_id,
        "sku": item.item_id,
        "name": item.name,
        "category": item.category,
        "brand": item.brand,
        "price": item.price,
        "currency": "EUR",
    }


def order(act: Act) -> dict[str, Any]:
    assert act.item is not None and act.order_id is not None
    return {
        "order_id": act.order_id,
        "total": round(act.item.price + 4.9, 2),
        "revenue": act.item.price,
        "shipping": 4.9,
        "currency": "EUR",
        "products": [product(act)],
    }


def is_app(population: Population, act: Act) -> bool:
    return population.devices[act.device].kind.endswith("_app")
