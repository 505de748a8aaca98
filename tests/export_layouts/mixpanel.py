"""Mixpanel's raw event export (JSON Lines of {"event", "properties"}), with simplified ID merge.

`time` is in whole epoch seconds. Before signing in, events carry `$device_id` and
distinct_id `$device:<device id>`; from signing in ("Sign In") on, also `$user_id`, and
distinct_id is the user id. Orders of some accounts are sent by the shop's backend with
distinct_id only. The session's source is `utm_source`/`utm_medium`/`utm_campaign`; after
signing in, the super property `plan` rides on every browser event.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Final

from .common import (
    Record,
    by_day_shuffled,
    current_plans,
    cut,
    is_app,
    json_line,
    order,
    plant,
    product,
    write_text,
)
from .population import Population
from .truth import Row, Written

STEPS: Final = ("View Item", "Add To Cart", "Purchase")
SOURCE_PROPERTY: Final = "utm_source"
PLAN_PROPERTY: Final = "plan"
NAMES: Final = {"view_item": STEPS[0], "add_to_cart": STEPS[1], "purchase": STEPS[2]}
OS: Final = {
    "web_desktop": ("Windows", "Chrome", "web"),
    "web_mobile": ("iOS", "Mobile Safari", "web"),
    "ios_app": ("iOS", None, "swift"),
    "android_app": ("Android", None, "android"),
}


def _device_id(rng: random.Random, first_seen_s: int) -> str:
    stamp = f"{first_seen_s * 1000 + rng.randrange(1000):x}"
    parts = [stamp, f"{rng.getrandbits(52):013x}", f"{rng.getrandbits(32):08x}", "1fa400"]
    return "-".join([*parts, stamp])


def _records(population: Population, seed: int) -> list[Record]:
    rng = random.Random(seed)
    devices = [_device_id(rng, d.first_seen_s) for d in population.devices]
    plans = current_plans(population)
    out: list[Record] = []
    for act in population.acts:
        device = population.devices[act.device]
        src = population.sessions[act.session].source
        server = act.kind == "purchase" and act.server_side
        props: dict[str, Any] = {"time": act.second}
        if server:
            assert act.user is not None
            props["distinct_id"] = act.user
            props["mp_lib"] = "python"
        else:
            props["distinct_id"] = act.user or f"$device:{devices[act.device]}"
            props["$device_id"] = devices[act.device]
            if act.user:
                props["$user_id"] = act.user
            os_name, browser, lib = OS[device.kind]
            props["$os"] = os_name
            if browser:
                props["$browser"] = browser
            props["mp_lib"] = lib
            if not is_app(population, act):
                path = act.page or (f"product/{act.item.item_id}" if act.item else "checkout")
                props["$current_url"] = f"https://shop.example/{path}"
            if src.source is not None:
                props["utm_source"], props["utm_medium"] = src.source, src.medium
                if src.campaign:
                    props["utm_campaign"] = src.campaign
            if act.user:
                props["plan"] = plans[act.seq]
        props["$insert_id"] = f"{rng.getrandbits(120):030x}"
        props["mp_country_code"] = device.country
        props["mp_processing_time_ms"] = act.second * 1000 + rng.randrange(500, 60_000)
        if act.kind == "page":
            name = "Screen View" if is_app(population, act) else "$mp_web_page_view"
            props["current_page_title"] = act.page
        elif act.kind == "login":
            name = "Sign In"
            props["method"] = "email"
        else:
            name = NAMES[act.kind]
            props.update(order(act) if act.kind == "purchase" else product(act))
        if server:
            own, link = act.user, None
        else:
            own = act.user or devices[act.device]
            link = (devices[act.device], act.user) if act.user else None
        assert own is not None
        row = Row(
            name=name,
            time_us=act.second * 1_000_000,
            own_id=own,
            link=link,
            device=act.device,
            source=props.get("utm_source"),
            plan=props.get("plan"),
        )
        out.append(Record({"event": name, "properties": props}, row, act.user is None))
    return out


def _bad_time(obj: dict[str, Any]) -> dict[str, Any]:
    obj["properties"]["time"] = "17O9" + str(obj["properties"]["time"])[4:]
    return obj


def _no_event(obj: dict[str, Any]) -> dict[str, Any]:
    del obj["event"]
    return obj


def _fresh_ids(obj: dict[str, Any], rng: random.Random) -> None:
    obj["properties"]["$insert_id"] = f"{rng.getrandbits(120):030x}"


def write(population: Population, path: Path, seed: int) -> Written:
    records = _records(population, seed)
    by_day_shuffled(records, lambda r: int(r.obj["properties"]["time"]) * 1_000_000, seed)
    lines = [json_line(r.obj) for r in records]
    lines, bad = plant(
        lines,
        records,
        [
            ("missing event", lambda o: json_line(_no_event(o))),
            ("unparseable time", lambda o: json_line(_bad_time(o))),
            ("broken line", lambda o: cut(json_line(o))),
        ],
        seed,
        fresh_ids=_fresh_ids,
    )
    write_text(path, lines)
    rows = [r.row for r in records if r.row is not None]
    return Written(rows, [], [], bad, 0, len(lines))
