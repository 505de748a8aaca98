"""GA4's BigQuery export (the events_YYYYMMDD tables) as JSON Lines or Parquet.

One row per event, in the export's real shape: `event_timestamp` in microseconds, `event_params`
as a repeated key/value record whose value sets one of string_value/int_value/float_value/
double_value, `user_properties` likewise with `set_timestamp_micros`, `items`, and the `device`,
`geo`, `app_info`, `traffic_source`, `privacy_info` and `ecommerce` records. `user_pseudo_id` is
the device, `user_id` is set only while signed in. JSON Lines is written as `bq extract` writes
it: INT64 values as strings. Each session starts with a `session_start` event at the time of its
first event; the traffic source of the session is in the event params `source`, `medium` and
`campaign` of every event (direct traffic has none), and `ga_session_id` is the session.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from .common import Record, by_day_shuffled, cut, json_line, plant, session_starts, utc, write_text
from .population import Act, Population
from .truth import BadLine, Row, Written

STEPS: Final = ("view_item", "add_to_cart", "purchase")
SOURCE_PROPERTY: Final = "source"
PLAN_PROPERTY: Final = "user.plan"

COUNTRY_NAMES: Final = {
    "DE": ("Germany", "Europe", "Western Europe", "Berlin", "Berlin"),
    "AT": ("Austria", "Europe", "Western Europe", "Vienna", "Vienna"),
    "NL": ("Netherlands", "Europe", "Western Europe", "North Holland", "Amsterdam"),
    "FR": ("France", "Europe", "Western Europe", "Ile-de-France", "Paris"),
    "GB": ("United Kingdom", "Europe", "Northern Europe", "England", "London"),
    "US": ("United States", "Americas", "Northern America", "New York", "New York"),
}
DEVICES: Final = {
    "web_desktop": ("desktop", None, None, "Windows", "Windows 11", "Chrome", "WEB"),
    "web_mobile": ("mobile", "Apple", "iPhone", "iOS", "iOS 17.3", "Safari", "WEB"),
    "ios_app": ("mobile", "Apple", "iPhone", "iOS", "iOS 17.3", None, "IOS"),
    "android_app": ("mobile", "Samsung", "SM-S911B", "Android", "Android 14", None, "ANDROID"),
}
STREAMS: Final = {"WEB": "4178412345", "IOS": "4178499001", "ANDROID": "4178499002"}
EVENT_NAMES: Final = {"page": "page_view", "login": "login", **{s: s for s in STEPS}}


def _param(key: str, value: str | int | float, *, as_text: bool) -> dict[str, Any]:
    inner: dict[str, Any] = {
        "string_value": None,
        "int_value": None,
        "float_value": None,
        "double_value": None,
    }
    if isinstance(value, str):
        inner["string_value"] = value
    elif isinstance(value, int):
        inner["int_value"] = str(value) if as_text else value
    else:
        inner["double_value"] = value
    return {"key": key, "value": inner}


class _Ga4:
    def __init__(self, population: Population, seed: int, *, as_text: bool) -> None:
        self.pop = population
        self.as_text = as_text  # INT64 as JSON strings (bq extract) or as integers (Parquet)
        rng = random.Random(seed)
        self.pseudo = [
            f"{rng.randrange(10**8, 10**10)}.{d.first_seen_s}" for d in population.devices
        ]
        self.starts = session_starts(population)
        self.numbers: dict[int, int] = {}  # session -> ga_session_number on its device
        per_device: dict[int, int] = {}
        for session in sorted(population.sessions, key=lambda s: self.starts.get(s.index, 0)):
            if session.index in self.starts:
                per_device[session.device] = per_device.get(session.device, 0) + 1
                self.numbers[session.index] = per_device[session.device]
        self.first_source: dict[int, tuple[str, str, str]] = {}  # device -> source, medium, name
        self.seq = 0

    def int64(self, value: int) -> int | str:
        return str(value) if self.as_text else value

    def event(self, act: Act, name: str, plan: tuple[str, int] | None) -> dict[str, Any]:
        pop, self.seq = self.pop, self.seq + 1
        device = pop.devices[act.device]
        session = pop.sessions[act.session]
        src = session.source
        category, brand, model, os_name, os_version, browser, platform = DEVICES[device.kind]
        country, continent, sub, region, city = COUNTRY_NAMES[device.country]
        session_id = self.starts[act.session]
        params: list[tuple[str, str | int | float]] = [
            ("ga_session_id", session_id),
            ("ga_session_number", self.numbers[act.session]),
        ]
        if platform == "WEB":
            path = act.page or (f"product/{act.item.item_id}" if act.item else "checkout")
            params += [("page_location", f"https://shop.example/{path}"), ("page_title", path)]
        if name != "session_start":
            params.append(("engagement_time_msec", 1000 + self.seq % 9000))
        if src.source is not None:
            params += [("source", src.source), ("medium", src.medium or "(none)")]
            if src.campaign:
                params.append(("campaign", src.campaign))
        items: list[dict[str, Any]] = []
        ecommerce = None
        if act.item is not None and name != "session_start":
            params += [("currency", "EUR"), ("value", act.item.price)]
            items.append(
                {
                    "item_id": act.item.item_id,
                    "item_name": act.item.name,
                    "item_brand": act.item.brand,
                    "item_category": act.item.category,
                    "price": act.item.price,
                    "quantity": self.int64(1),
                }
            )
        if name == "purchase":
            assert act.item is not None and act.order_id is not None
            params.append(("transaction_id", act.order_id))
            ecommerce = {
                "transaction_id": act.order_id,
                "purchase_revenue": act.item.price,
                "total_item_quantity": self.int64(1),
                "unique_items": self.int64(1),
                "tax_value": round(act.item.price * 0.19, 2),
                "shipping_value": 4.9,
            }
        if name == "login":
            params.append(("method", "email"))
        fallback = ("(direct)", "(none)", "(direct)")
        first = self.first_source.setdefault(
            act.device,
            (src.source, src.medium or "(none)", src.campaign or "(none)")
            if src.source
            else fallback,
        )
        user_props = []
        if plan is not None:
            entry = _param("plan", plan[0], as_text=self.as_text)
            entry["value"]["set_timestamp_micros"] = self.int64(plan[1])
            user_props.append(entry)
        return {
            "event_date": utc(act.time_us).strftime("%Y%m%d"),
            "event_timestamp": self.int64(act.time_us),
            "event_name": name,
            "event_params": [_param(k, v, as_text=self.as_text) for k, v in params],
            "event_previous_timestamp": None,
            "event_value_in_usd": act.item.price * 1.08
            if name == "purchase" and act.item
            else None,
            "event_bundle_sequence_id": self.int64(self.seq),
            "event_server_timestamp_offset": self.int64(40_000 + self.seq % 500_000),
            "user_id": act.user,
            "user_pseudo_id": self.pseudo[act.device],
            "privacy_info": {
                "analytics_storage": "Yes",
                "ads_storage": "Yes",
                "uses_transient_token": "No",
            },
            "user_properties": user_props,
            "user_first_touch_timestamp": self.int64(device.first_seen_s * 1_000_000),
            "device": {
                "category": category,
                "mobile_brand_name": brand,
                "mobile_model_name": model,
                "operating_system": os_name,
                "operating_system_version": os_version,
                "language": "en-us" if device.country in ("US", "GB") else "de-de",
                "is_limited_ad_tracking": "No",
                "web_info": {"browser": browser, "hostname": "shop.example"} if browser else None,
            },
            "geo": {
                "country": country,
                "continent": continent,
                "sub_continent": sub,
                "region": region,
                "city": city,
            },
            "app_info": None
            if platform == "WEB"
            else {"id": "example.shop.app", "version": "5.12.0", "install_store": None},
            "traffic_source": {"name": first[2], "medium": first[1], "source": first[0]},
            "stream_id": STREAMS[platform],
            "platform": platform,
            "ecommerce": ecommerce,
            "items": items,
            "is_active_user": True,
        }

    def records(self) -> list[Record]:
        out: list[Record] = []
        plans: dict[str, tuple[str, int]] = {}
        started: set[int] = set()
        for act in self.pop.acts:
            if act.kind == "login":
                assert act.user is not None and act.plan is not None
                plans[act.user] = (act.plan, act.time_us)
            plan = plans.get(act.user) if act.user else None
            names = [EVENT_NAMES[act.kind]]
            if act.session not in started:
                started.add(act.session)
                names.insert(0, "session_start")
            for name in names:
                obj = self.event(act, name, plan)
                row = Row(
                    name=name,
                    time_us=act.time_us,
                    own_id=act.user or self.pseudo[act.device],
                    link=(self.pseudo[act.device], act.user) if act.user else None,
                    device=act.device,
                    source=self.pop.sessions[act.session].source.source,
                    plan=plan[0] if plan else None,
                    session=str(self.starts[act.session]),
                )
                out.append(Record(obj, row, anonymous=act.user is None))
        return out


def _unparseable(obj: dict[str, Any]) -> dict[str, Any]:
    stamp = str(obj["event_timestamp"])
    obj["event_timestamp"] = stamp[:1] + "O" + stamp[2:]  # a letter O for a zero
    return obj


def _no_person(obj: dict[str, Any]) -> dict[str, Any]:
    # a cookieless ping sent while consent was denied
    obj["user_pseudo_id"] = None
    obj["user_id"] = None
    obj["privacy_info"]["analytics_storage"] = "No"
    return obj


def _no_name(obj: dict[str, Any]) -> dict[str, Any]:
    del obj["event_name"]
    return obj


def write_jsonl(population: Population, path: Path, seed: int) -> Written:
    records = _Ga4(population, seed, as_text=True).records()
    by_day_shuffled(records, lambda r: int(r.obj["event_timestamp"]), seed)
    lines = [json_line(r.obj) for r in records]
    lines, bad = plant(
        lines,
        records,
        [
            ("missing event", lambda o: json_line(_no_name(o))),
            ("unparseable time", lambda o: json_line(_unparseable(o))),
            ("broken line", lambda o: cut(json_line(o))),
            ("missing person", lambda o: json_line(_no_person(o))),
        ],
        seed,
    )
    write_text(path, lines)
    rows = [r.row for r in records if r.row is not None]
    return Written(rows, [], [], bad, 0, len(lines))


def _value_type() -> pa.DataType:
    return pa.struct(
        [
            ("string_value", pa.string()),
            ("int_value", pa.int64()),
            ("float_value", pa.float64()),
            ("double_value", pa.float64()),
        ]
    )


def schema() -> pa.Schema:
    user_value = pa.struct([*_value_type(), ("set_timestamp_micros", pa.int64())])
    return pa.schema(
        [
            ("event_date", pa.string()),
            ("event_timestamp", pa.int64()),
            ("event_name", pa.string()),
            ("event_params", pa.list_(pa.struct([("key", pa.string()), ("value", _value_type())]))),
            ("event_previous_timestamp", pa.int64()),
            ("event_value_in_usd", pa.float64()),
            ("event_bundle_sequence_id", pa.int64()),
            ("event_server_timestamp_offset", pa.int64()),
            ("user_id", pa.string()),
            ("user_pseudo_id", pa.string()),
            (
                "privacy_info",
                pa.struct(
                    [
                        ("analytics_storage", pa.string()),
                        ("ads_storage", pa.string()),
                        ("uses_transient_token", pa.string()),
                    ]
                ),
            ),
            ("user_properties", pa.list_(pa.struct([("key", pa.string()), ("value", user_value)]))),
            ("user_first_touch_timestamp", pa.int64()),
            (
                "device",
                pa.struct(
                    [
                        ("category", pa.string()),
                        ("mobile_brand_name", pa.string()),
                        ("mobile_model_name", pa.string()),
                        ("operating_system", pa.string()),
                        ("operating_system_version", pa.string()),
                        ("language", pa.string()),
                        ("is_limited_ad_tracking", pa.string()),
                        (
                            "web_info",
                            pa.struct([("browser", pa.string()), ("hostname", pa.string())]),
                        ),
                    ]
                ),
            ),
            (
                "geo",
                pa.struct(
                    [
                        (k, pa.string())
                        for k in ("country", "continent", "sub_continent", "region", "city")
                    ]
                ),
            ),
            (
                "app_info",
                pa.struct(
                    [("id", pa.string()), ("version", pa.string()), ("install_store", pa.string())]
                ),
            ),
            (
                "traffic_source",
                pa.struct([(k, pa.string()) for k in ("name", "medium", "source")]),
            ),
            ("stream_id", pa.string()),
            ("platform", pa.string()),
            (
                "ecommerce",
                pa.struct(
                    [
                        ("transaction_id", pa.string()),
                        ("purchase_revenue", pa.float64()),
                        ("total_item_quantity", pa.int64()),
                        ("unique_items", pa.int64()),
                        ("tax_value", pa.float64()),
                        ("shipping_value", pa.float64()),
                    ]
                ),
            ),
            (
                "items",
                pa.list_(
                    pa.struct(
                        [
                            ("item_id", pa.string()),
                            ("item_name", pa.string()),
                            ("item_brand", pa.string()),
                            ("item_category", pa.string()),
                            ("price", pa.float64()),
                            ("quantity", pa.int64()),
                        ]
                    )
                ),
            ),
            ("is_active_user", pa.bool_()),
        ]
    )


def write_parquet(population: Population, path: Path, seed: int) -> Written:
    records = _Ga4(population, seed, as_text=False).records()
    by_day_shuffled(records, lambda r: int(r.obj["event_timestamp"]), seed)
    rng = random.Random(seed)
    donors = [r for r in records if r.anonymous]
    corruptions: list[tuple[str, str, None]] = [
        ("missing event", "event_name", None),
        ("missing time", "event_timestamp", None),
        ("missing person", "user_pseudo_id", None),
    ]
    objs = [r.obj for r in records]
    positions = sorted(rng.sample(range(1, len(objs)), len(corruptions)))
    bad: list[BadLine] = []
    for shift, (position, (kind, column, _)) in enumerate(zip(positions, corruptions, strict=True)):
        copy = dict(rng.choice(donors).obj)
        copy[column] = None
        objs.insert(position + shift, copy)
        bad.append(BadLine(position + shift + 1, kind))
    pq.write_table(pa.Table.from_pylist(objs, schema=schema()), path, row_group_size=4096)
    rows = [r.row for r in records if r.row is not None]
    return Written(rows, [], [], bad, 0, len(objs))
