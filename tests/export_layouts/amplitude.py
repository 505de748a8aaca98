"""Amplitude's Export API output (JSON Lines, one event per line, in UTC).

`event_time` is "YYYY-MM-DD HH:MM:SS.ffffff"; `user_id` is null until the person signs in,
`device_id` is always set by the SDK; `session_id` is the session start in epoch milliseconds
(-1 for events sent by the shop's backend, which carry user_id only). The session's source is in
`event_properties` (utm_source, utm_medium, utm_campaign); `user_properties` hold `plan` and
`email` once signed in (read as user.plan) and `initial_utm_source` before.
"""

from __future__ import annotations

import random
import uuid
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
    session_starts,
    utc,
    write_text,
)
from .ga4 import COUNTRY_NAMES
from .population import Population
from .truth import Row, Written

STEPS: Final = ("Viewed Product", "Added To Cart", "Completed Order")
SOURCE_PROPERTY: Final = "utm_source"
PLAN_PROPERTY: Final = "user.plan"
NAMES: Final = {"view_item": STEPS[0], "add_to_cart": STEPS[1], "purchase": STEPS[2]}
PLATFORMS: Final = {
    "web_desktop": ("Web", "Windows", "Chrome 122", "Windows"),
    "web_mobile": ("Web", "iOS", "Mobile Safari 17", "Apple iPhone"),
    "ios_app": ("iOS", "ios", "17.3", "Apple iPhone"),
    "android_app": ("Android", "android", "14", "Samsung Galaxy S23"),
}


def _time(time_us: int) -> str:
    return utc(time_us).strftime("%Y-%m-%d %H:%M:%S.%f")


def _records(population: Population, seed: int) -> list[Record]:
    rng = random.Random(seed)
    devices = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in population.devices]
    amplitude_ids = [rng.randrange(10**11, 10**12) for _ in population.devices]
    starts = session_starts(population)
    plans = current_plans(population)
    first_source: dict[int, str] = {}
    out: list[Record] = []
    for number, act in enumerate(population.acts):
        device = population.devices[act.device]
        src = population.sessions[act.session].source
        server = act.kind == "purchase" and act.server_side
        platform, os_name, os_version, model = PLATFORMS[device.kind]
        first = first_source.setdefault(act.device, src.source or "(direct)")
        event_props: dict[str, Any] = {}
        if not server and src.source is not None:
            event_props["utm_source"], event_props["utm_medium"] = src.source, src.medium
            if src.campaign:
                event_props["utm_campaign"] = src.campaign
        if act.kind == "page":
            if is_app(population, act):
                name = "Screen Viewed"
                event_props["screen_name"] = act.page
            else:
                name = "[Amplitude] Page Viewed"
                event_props["[Amplitude] Page Path"] = f"/{act.page}"
                event_props["[Amplitude] Page Title"] = act.page
        elif act.kind == "login":
            name = "Sign In"
            event_props["method"] = "email"
        else:
            name = NAMES[act.kind]
            event_props.update(order(act) if act.kind == "purchase" else product(act))
        user_props: dict[str, Any] = {"initial_utm_source": first}
        if act.user:
            user_props = {"plan": plans[act.seq], "email": f"{act.user}@mail.example"}
        received = act.time_us + rng.randrange(300_000, 20_000_000)
        country, _, _, region, city = COUNTRY_NAMES[device.country]
        session_ms = -1 if server else starts[act.session] * 1000
        obj: dict[str, Any] = {
            "$insert_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "amplitude_id": amplitude_ids[act.device],
            "app": 412345,
            "city": city,
            "client_event_time": _time(act.time_us),
            "client_upload_time": _time(received - 150_000),
            "country": country,
            "data": {"path": "/2/httpapi"} if server else {},
            "device_family": None if server else model,
            "device_id": None if server else devices[act.device],
            "device_type": None if server else model,
            "event_id": number + 1,
            "event_properties": event_props,
            "event_time": _time(act.time_us),
            "event_type": name,
            "groups": {},
            "language": "German" if device.country in ("DE", "AT") else "English",
            "library": "amplitude-node/1.10.2" if server else f"amplitude-{platform.lower()}/2.5.1",
            "os_name": None if server else os_name,
            "os_version": None if server else os_version,
            "platform": None if server else platform,
            "processed_time": _time(received + 2_000_000),
            "region": region,
            "server_received_time": _time(received),
            "server_upload_time": _time(received + 40_000),
            "session_id": session_ms,
            "user_id": act.user,
            "user_properties": user_props,
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        }
        own = act.user if server else act.user or devices[act.device]
        assert own is not None
        row = Row(
            name=name,
            time_us=act.time_us,
            own_id=own,
            link=None if server or not act.user else (devices[act.device], act.user),
            device=act.device,
            source=event_props.get("utm_source"),
            plan=user_props.get("plan"),
            session=None if server else str(session_ms),
        )
        out.append(Record(obj, row, anonymous=act.user is None))
    return out


def _bad_time(obj: dict[str, Any]) -> dict[str, Any]:
    obj["event_time"] = "2024-02-30 10:12:44.000000"  # there is no 30 February
    for key in ("client_event_time", "client_upload_time", "server_received_time"):
        obj.pop(key, None)
    for key in ("server_upload_time", "processed_time"):
        obj.pop(key, None)
    return obj


def _no_event(obj: dict[str, Any]) -> dict[str, Any]:
    obj["event_type"] = None
    return obj


def _fresh_ids(obj: dict[str, Any], rng: random.Random) -> None:
    obj["$insert_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    obj["uuid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))


def write(population: Population, path: Path, seed: int) -> Written:
    records = _records(population, seed)
    by_day_shuffled(records, lambda r: r.row.time_us if r.row else 0, seed)
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
