"""Segment messages (the Spec's track, page, screen, identify and alias calls) as JSON Lines, in
the order they were received.

Browsers send page calls, apps screen calls; product events are track calls (the e-commerce
spec's Product Viewed, Product Added, Order Completed). Every client message carries the
device's anonymousId, and userId once signed in; signing in sends identify with the traits
`plan` and `email`. The session's campaign is `context.campaign` (source, medium, name).

Three variations test the links that are not on one message:
- some devices sign up the older way: the client sends alias(previousId=anonymousId, userId) and
  the backend sends identify with userId only; the client never calls identify, so its later
  messages carry the anonymousId alone;
- some accounts changed their user id: messages before the change carry the former id, and an
  alias(previousId=former id, userId) merges the two (none of them buys, so which id names the
  merged person does not matter here);
- orders of some accounts are sent by the backend: userId only, no context.campaign.
A few messages are delivered twice (same messageId): they load once.
"""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from .common import (
    Record,
    cut,
    is_app,
    iso_ms,
    json_line,
    local_iso_ms,
    new_uuid,
    order,
    plant,
    product,
    write_text,
)
from .population import Act, Population
from .truth import Link, Row, Written

STEPS: Final = ("Product Viewed", "Product Added", "Order Completed")
SOURCE_PROPERTY: Final = "context.campaign.source"
PLAN_PROPERTY: Final = "plan"
TRACKS: Final = {"view_item": STEPS[0], "add_to_cart": STEPS[1], "purchase": STEPS[2]}


def _former_ids(population: Population) -> dict[str, tuple[str, int]]:
    """Accounts that changed their user id: user id -> (former id, second of the change), chosen
    among those who never buy and whose signed-in product views come before a signed-in cart."""
    buyers = {a.user for a in population.acts if a.kind == "purchase"}
    first_view: dict[str, int] = {}
    change: dict[str, int] = {}
    for act in population.acts:
        if act.user is None or act.user in buyers:
            continue
        if act.kind == "view_item":
            first_view.setdefault(act.user, act.second)
        elif (
            act.kind == "add_to_cart"
            and act.user in first_view
            and act.user not in change
            and act.second > first_view[act.user] + 1
        ):
            change[act.user] = (first_view[act.user] + act.second) // 2
    chosen = sorted(change)[:12]
    return {u: (f"legacy-{u[1:]}", change[u]) for u in chosen}


class _Segment:
    def __init__(self, population: Population, seed: int) -> None:
        self.pop = population
        self.rng = random.Random(seed)
        self.anon = [new_uuid(self.rng) for _ in population.devices]
        self.former = _former_ids(population)
        self.links: list[Link] = []
        self.merges = [(former, user) for user, (former, _) in self.former.items()]

    def user_id(self, act: Act) -> str | None:
        if act.user in self.former:
            former, second = self.former[act.user]
            return former if act.second < second else act.user
        return act.user

    def context(self, act: Act, *, server: bool = False) -> dict[str, Any]:
        if server:
            return {"library": {"name": "analytics-node", "version": "2.1.0"}}
        device = self.pop.devices[act.device]
        src = self.pop.sessions[act.session].source
        context: dict[str, Any] = {
            "library": {"name": "analytics.js", "version": "next-1.64.0"},
            "locale": "en-US" if device.country in ("US", "GB") else "de-DE",
            "timezone": "Europe/Berlin" if device.country != "US" else "America/New_York",
            "ip": "0.0.0.0",
        }
        if is_app(self.pop, act):
            os_name = "iOS" if device.kind == "ios_app" else "Android"
            context["library"] = {"name": f"analytics-{os_name.lower()}", "version": "4.1.9"}
            context["device"] = {"type": os_name.lower(), "manufacturer": "Apple"}
            context["os"] = {"name": os_name}
        else:
            path = act.page or (f"product/{act.item.item_id}" if act.item else "checkout")
            context["page"] = {"path": "/" + path, "url": f"https://shop.example/{path}"}
        if src.source is not None:
            campaign = {"source": src.source, "medium": src.medium}
            if src.campaign:
                campaign["name"] = src.campaign
            context["campaign"] = campaign
        return context

    def message(
        self,
        act: Act,
        kind: str,
        body: dict[str, Any],
        *,
        anon: bool,
        user: str | None,
        server: bool,
    ) -> dict[str, Any]:
        country = self.pop.devices[act.device].country
        sent = act.time_us + 1_000 * self.rng.randrange(50, 4000)
        msg: dict[str, Any] = {"type": kind}
        if anon:
            msg["anonymousId"] = self.anon[act.device]
        if user:
            msg["userId"] = user
        msg.update(body)
        msg["context"] = self.context(act, server=server)
        msg["messageId"] = ("node-" if server else "ajs-next-") + new_uuid(self.rng)
        msg["timestamp"] = iso_ms(act.time_us)
        msg["originalTimestamp"] = local_iso_ms(act.time_us, country)
        msg["sentAt"] = iso_ms(sent)
        msg["receivedAt"] = iso_ms(sent + 1_000 * self.rng.randrange(20, 400))
        msg["channel"] = "server" if server else "client"
        msg["integrations"] = {}
        msg["version"] = 2
        return msg

    def change_id(self, second: int, user: str) -> Record:
        """The backend's alias call when an account's user id changed (merges the two ids)."""
        act = next(a for a in self.pop.acts if a.user == user and a.second >= second)
        at = dataclasses.replace(act, second=second, micro=0)
        body = {"previousId": self.former[user][0]}
        return Record(
            self.message(at, "alias", body, anon=False, user=user, server=True), None, False
        )

    def records(self) -> list[Record]:
        out: list[Record] = []
        alias_way: set[int] = (
            set()
        )  # devices signed in the alias way (their client never identifies)
        identified: set[tuple[int, str]] = set()
        changes = sorted((second, user) for user, (_, second) in self.former.items())
        for act in self.pop.acts:
            while changes and changes[0][0] <= act.second:
                out.append(self.change_id(*changes.pop(0)))
            user = self.user_id(act)
            time_us = act.time_us // 1000 * 1000  # Segment keeps milliseconds
            quiet = act.device in alias_way  # the client does not know the userId
            src = self.pop.sessions[act.session].source
            if act.kind == "login":
                assert act.user is not None and user is not None
                key = (act.device, act.user)
                traits = {"plan": act.plan, "email": f"{act.user}@mail.example"}
                first_time = key not in identified
                identified.add(key)
                if (
                    first_time
                    and act.user not in self.former
                    and act.device not in alias_way
                    and self.rng.random() < 0.12
                ):
                    alias_way.add(act.device)
                    alias = {"previousId": self.anon[act.device]}
                    msg = self.message(act, "alias", alias, anon=False, user=user, server=False)
                    self.links.append(Link(self.anon[act.device], user, time_us))
                    out.append(Record(msg, None, anonymous=False))
                    body: dict[str, Any] = {"traits": traits}
                    msg = self.message(act, "identify", body, anon=False, user=user, server=True)
                    row = Row("$identify", time_us, user, None, act.device, None, act.plan)
                    out.append(Record(msg, row, anonymous=False))
                    continue
                body = {"traits": traits}
                anon = not quiet
                msg = self.message(act, "identify", body, anon=anon, user=user, server=False)
                link = (self.anon[act.device], user) if anon else None
                source = src.source if anon else None
                row = Row("$identify", time_us, user, link, act.device, source, act.plan)
                out.append(Record(msg, row, anonymous=False))
                continue
            server = act.kind == "purchase" and act.server_side
            if server:
                shown_user: str | None = user
                anon = False
            elif quiet:
                shown_user, anon = None, True
            else:
                shown_user, anon = user, True
            if act.kind == "page":  # loads as Page Viewed (page_name) or Screen Viewed
                if is_app(self.pop, act):
                    body = {"name": act.page, "properties": {"name": act.page}}
                    kind, name = "screen", "Screen Viewed"
                else:
                    path = f"/{act.page}"
                    body = {"name": act.page, "properties": {"path": path, "title": act.page}}
                    kind, name = "page", "Page Viewed"
            else:
                props = order(act) if act.kind == "purchase" else product(act)
                body = {"event": TRACKS[act.kind], "properties": props}
                kind, name = "track", TRACKS[act.kind]
            msg = self.message(act, kind, body, anon=anon, user=shown_user, server=server)
            own = shown_user or self.anon[act.device]
            link = (self.anon[act.device], shown_user) if anon and shown_user else None
            source = None if server else src.source
            row = Row(name, time_us, own, link, act.device, source, None)
            out.append(Record(msg, row, anonymous=shown_user is None and not server))
        return out


def _bad_time(obj: dict[str, Any]) -> dict[str, Any]:
    obj["timestamp"] = "2024-03-1T25:61:00Z"
    for key in ("originalTimestamp", "sentAt", "receivedAt"):
        obj.pop(key, None)
    return obj


def _no_event(obj: dict[str, Any]) -> dict[str, Any]:
    obj["type"] = "track"
    obj.pop("name", None)
    obj.pop("event", None)
    return obj


def utc_us(text: str) -> int:
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(stamp.timestamp()) * 1_000_000 + stamp.microsecond


def _fresh_ids(obj: dict[str, Any], rng: random.Random) -> None:
    obj["messageId"] = "ajs-next-" + new_uuid(rng)


def write(population: Population, path: Path, seed: int) -> Written:
    segment = _Segment(population, seed)
    records = segment.records()
    records.sort(key=lambda r: str(r.obj["receivedAt"]))
    lines = [json_line(r.obj) for r in records]
    # a few messages delivered twice: the copy arrives a little later, same messageId
    rng = random.Random(seed + 1)
    tracks = [i for i, r in enumerate(records) if r.obj["type"] == "track" and r.row]
    for index in sorted(rng.sample(tracks, 3), reverse=True):
        retry = json.loads(lines[index])
        retry["receivedAt"] = iso_ms(utc_us(retry["receivedAt"]) + 1_500_000)
        lines.insert(min(index + 5, len(lines)), json_line(retry))
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
    return Written(rows, segment.links, segment.merges, bad, 3, len(lines))
