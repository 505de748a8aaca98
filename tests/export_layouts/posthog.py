"""PostHog's events export, as CSV (the columns of the UI's export, `properties` and
`person_properties` as JSON text) or JSON Lines (the same keys, JSON objects), newest first.

Before signing in, a browser's events carry its anonymous distinct_id (a UUIDv7, also sent as
`$device_id`); signing in sends `$identify` with the account's distinct_id, `$anon_distinct_id`
and the traits under `$set` (`plan`, `email`); later events carry the account's distinct_id.
Orders of some accounts are sent by the shop's backend (posthog-python): distinct_id only. The
traffic source is `utm_source`/`utm_medium`/`utm_campaign` on every browser event of the session.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from pathlib import Path
from typing import Any, Final

from .common import (
    Record,
    current_plans,
    cut,
    is_app,
    json_line,
    order,
    plant,
    product,
    session_starts,
    utc,
    uuid7_like,
    write_text,
)
from .population import Population
from .truth import Row, Written

STEPS: Final = ("Product Viewed", "Product Added", "Order Completed")
SOURCE_PROPERTY: Final = "utm_source"
PLAN_PROPERTY: Final = "plan"
COLUMNS: Final = (
    "uuid",
    "event",
    "properties",
    "timestamp",
    "distinct_id",
    "elements_chain",
    "created_at",
    "person_id",
    "person_properties",
)
NAMES: Final = {
    "view_item": STEPS[0],
    "add_to_cart": STEPS[1],
    "purchase": STEPS[2],
    "login": "$identify",
}
BROWSERS: Final = {
    "web_desktop": ("Chrome", "Windows", "Desktop"),
    "web_mobile": ("Mobile Safari", "iOS", "Mobile"),
    "ios_app": (None, "iOS", "Mobile"),
    "android_app": (None, "Android", "Mobile"),
}


def _stamp(time_us: int) -> str:
    return utc(time_us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _person_id(distinct_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "posthog-person:" + distinct_id))


def _records(population: Population, seed: int) -> list[Record]:
    rng = random.Random(seed)
    anon = [uuid7_like(rng, d.first_seen_s * 1_000_000) for d in population.devices]
    sessions = {s: uuid7_like(rng, t * 1_000_000) for s, t in session_starts(population).items()}
    plans = current_plans(population)
    emails = {p.user_id: p.email for p in population.persons if p.user_id}
    out: list[Record] = []
    for act in population.acts:
        device = population.devices[act.device]
        src = population.sessions[act.session].source
        app = is_app(population, act)
        distinct = act.user or anon[act.device]
        props: dict[str, Any]
        if act.server_side and act.kind == "purchase":
            props = {"$lib": "posthog-python", "$lib_version": "3.5.0", **order(act)}
        else:
            browser, os_name, device_type = BROWSERS[device.kind]
            props = {
                "$os": os_name,
                "$device_type": device_type,
                "$lib": "posthog-ios" if device.kind == "ios_app" else "web",
                "$device_id": anon[act.device],
                "$session_id": sessions[act.session],
                "$geoip_country_code": device.country,
            }
            if browser:
                props["$browser"] = browser
            if not app:
                path = act.page or (f"product/{act.item.item_id}" if act.item else "checkout")
                props["$current_url"] = f"https://shop.example/{path}"
                props["$host"], props["$pathname"] = "shop.example", "/" + path
            if src.source is not None:
                props["utm_source"], props["utm_medium"] = src.source, src.medium
                if src.campaign:
                    props["utm_campaign"] = src.campaign
            if act.kind in ("view_item", "add_to_cart"):
                props.update(product(act))
            elif act.kind == "purchase":
                props.update(order(act))
        plan = None
        if act.kind == "login":
            assert act.user is not None
            plan = act.plan
            props["$anon_distinct_id"] = anon[act.device]
            props["$set"] = {"plan": plan, "email": emails[act.user]}
        if act.kind == "page":
            name = "$screen" if app else "$pageview"
            props["$screen_name" if app else "$title"] = act.page
        else:
            name = NAMES[act.kind]
        person_props: dict[str, Any] = {}
        if act.user:
            person_props = {"email": emails[act.user], "plan": plans[act.seq]}
        created = act.time_us + 200_000 + rng.randrange(3_000_000)
        obj = {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event": name,
            "properties": props,
            "timestamp": _stamp(act.time_us),
            "distinct_id": distinct,
            "elements_chain": "",
            "created_at": _stamp(created),
            "person_id": _person_id(distinct),
            "person_properties": person_props,
        }
        row = Row(
            name=name,
            time_us=act.time_us,
            own_id=distinct,
            link=(anon[act.device], act.user) if act.kind == "login" and act.user else None,
            device=act.device,
            source=props.get("utm_source"),
            plan=plan,
        )
        out.append(Record(obj, row, anonymous=act.user is None))
    out.sort(key=lambda r: r.obj["timestamp"], reverse=True)  # the export lists newest first
    return out


def _csv_line(obj: dict[str, Any], *, keep: int = len(COLUMNS)) -> str:
    buffer = io.StringIO()
    values = [
        json_line(v) if isinstance(v := obj.get(c), dict) else ("" if v is None else v)
        for c in COLUMNS
    ]
    csv.writer(buffer, lineterminator="").writerow(values[:keep])
    return buffer.getvalue()


def _no_name(obj: dict[str, Any], empty: bool) -> dict[str, Any]:
    if empty:
        obj["event"] = ""
    else:
        del obj["event"]
    return obj


def _bad_time(obj: dict[str, Any]) -> dict[str, Any]:
    obj["timestamp"] = "2024-02-30T10:12:44.000000Z"  # there is no 30 February
    return obj


def _broken_properties(obj: dict[str, Any]) -> str:
    values = dict(obj)
    values["properties"] = cut(json_line(obj["properties"]))
    return _csv_line(values)


def _fresh_ids(obj: dict[str, Any], rng: random.Random) -> None:
    obj["uuid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))


def write_csv(population: Population, path: Path, seed: int) -> Written:
    records = _records(population, seed)
    lines = [_csv_line(r.obj) for r in records]
    lines, bad = plant(
        lines,
        records,
        [
            ("missing event", lambda o: _csv_line(_no_name(o, empty=True))),
            ("unparseable time", lambda o: _csv_line(_bad_time(o))),
            ("broken properties", _broken_properties),
            ("broken line", lambda o: _csv_line(o, keep=4)),  # an export cut off mid-row
        ],
        seed,
        first_line=2,
        fresh_ids=_fresh_ids,
    )
    write_text(path, lines, header=",".join(COLUMNS))
    rows = [r.row for r in records if r.row is not None]
    return Written(rows, [], [], bad, 0, len(lines))


def write_jsonl(population: Population, path: Path, seed: int) -> Written:
    records = _records(population, seed)
    lines = [json_line(r.obj) for r in records]
    lines, bad = plant(
        lines,
        records,
        [
            ("missing event", lambda o: json_line(_no_name(o, empty=False))),
            ("unparseable time", lambda o: json_line(_bad_time(o))),
            ("broken line", lambda o: cut(json_line(o))),
        ],
        seed,
        fresh_ids=_fresh_ids,
    )
    write_text(path, lines)
    rows = [r.row for r in records if r.row is not None]
    return Written(rows, [], [], bad, 0, len(lines))
