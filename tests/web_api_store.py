"""A small hand-made store for the read API's tests: events of five persons (funnel, retention,
referral, experiment) and a CRM history of six deals, with the keys of each kind, and the CLI's
JSON for the same inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from funnelscope.app.access import create_key
from funnelscope.cli.main import cli

# view -> cart -> buy within 1h: a and d complete, b stops at cart, c skips cart, e only views;
# channel ads: a, d, e (view 3, cart 2, buy 2); seo: b, c (view 2, cart 1, buy 0)
EVENTS = """\
user,event,ts,channel,plan,amount,variant,referrer
a,signup,2024-01-01T09:00:00Z,ads,pro,,,
a,exposure,2024-01-01T09:30:00Z,ads,pro,,A,
a,view,2024-01-01T10:00:00Z,ads,pro,,,
a,cart,2024-01-01T10:10:00Z,ads,pro,,,
a,buy,2024-01-01T10:20:00Z,ads,pro,50,,
a,invite,2024-01-01T11:00:00Z,ads,pro,,,
a,login,2024-01-02T10:00:00Z,ads,pro,,,
a,buy,2024-01-09T10:00:00Z,ads,pro,30,,
b,signup,2024-01-01T12:00:00Z,seo,free,,,a
b,exposure,2024-01-01T12:05:00Z,seo,free,,B,
b,view,2024-01-01T12:10:00Z,seo,free,,,
b,cart,2024-01-01T12:20:00Z,seo,free,,,
c,signup,2024-01-02T08:00:00Z,seo,free,,,
c,exposure,2024-01-02T08:30:00Z,seo,free,,A,
c,view,2024-01-02T09:00:00Z,seo,free,,,
c,buy,2024-01-02T09:30:00Z,seo,free,20,,
d,signup,2024-01-03T08:00:00Z,ads,pro,,,
d,exposure,2024-01-03T08:10:00Z,ads,pro,,B,
d,view,2024-01-03T09:00:00Z,ads,pro,,,
d,cart,2024-01-03T09:05:00Z,ads,pro,,,
d,buy,2024-01-03T09:10:00Z,ads,pro,70,,
d,login,2024-01-05T09:00:00Z,ads,pro,,,
d,buy,2024-01-20T09:00:00Z,ads,pro,40,,
e,view,2024-01-04T10:00:00Z,ads,free,,,
"""
SPEC: dict[str, Any] = {
    "name": "shop",
    "steps": ["view", "cart", "buy"],
    "window": "1h",
    "breakdown": "channel",
}
DEALS = """\
deal_id,pipeline,stage,status,amount,currency,owner,created_at,expected_close,closed_at
D1,sales,won,won,1000,EUR,ana,2026-01-05T10:00:00+00:00,,2026-02-01T10:00:00+00:00
D2,sales,lost,lost,500,EUR,ben,2026-01-06T10:00:00+00:00,,2026-01-20T10:00:00+00:00
D3,sales,proposal,open,2000,EUR,ana,2026-02-01T10:00:00+00:00,2026-03-20T00:00:00+00:00,
D4,sales,lead,open,300,USD,ben,2026-02-10T10:00:00+00:00,2026-03-25T00:00:00+00:00,
D5,sales,won,won,800,EUR,ben,2026-01-10T10:00:00+00:00,,2026-02-15T10:00:00+00:00
D6,sales,lost,lost,400,EUR,ana,2026-01-12T10:00:00+00:00,,2026-02-20T10:00:00+00:00
"""
HISTORY = """\
deal_id,from_stage,to_stage,changed_at
D1,,lead,2026-01-05T10:00:00+00:00
D1,lead,proposal,2026-01-15T10:00:00+00:00
D1,proposal,won,2026-02-01T10:00:00+00:00
D2,,lead,2026-01-06T10:00:00+00:00
D2,lead,lost,2026-01-20T10:00:00+00:00
D3,,lead,2026-02-01T10:00:00+00:00
D3,lead,proposal,2026-02-10T10:00:00+00:00
D4,,lead,2026-02-10T10:00:00+00:00
D5,,lead,2026-01-10T10:00:00+00:00
D5,lead,proposal,2026-01-20T10:00:00+00:00
D5,proposal,won,2026-02-15T10:00:00+00:00
D6,,lead,2026-01-12T10:00:00+00:00
D6,lead,proposal,2026-01-25T10:00:00+00:00
D6,proposal,lost,2026-02-20T10:00:00+00:00
"""
# 32 closed deals of a second pipeline, so lead scoring has enough to learn from: every third
# one won, sources alternating
for _i in range(32):
    _won = _i % 3 == 0
    _day = 1 + _i % 28
    DEALS += (
        f"I{_i},inbound,{'won' if _won else 'lost'},{'won' if _won else 'lost'},{100 + _i},EUR,"
        f"{'ana' if _i % 2 else 'ben'},2025-11-{_day:02d}T10:00:00+00:00,,"
        f"2025-12-{_day:02d}T10:00:00+00:00\n"
    )
    HISTORY += (
        f"I{_i},,new,2025-11-{_day:02d}T10:00:00+00:00\n"
        f"I{_i},new,{'won' if _won else 'lost'},2025-12-{_day:02d}T10:00:00+00:00\n"
    )
SETTINGS: dict[str, Any] = {
    "currency": "EUR",
    "rates": {"USD": 0.9},
    "pipelines": {"sales": {"stages": ["lead", "proposal"], "won": ["won"], "lost": ["lost"]}},
}
AS_OF = "2026-03-01"


@dataclass(frozen=True)
class Keys:
    read: str
    write: str
    admin: str


def make_store(directory: Path) -> Path:
    """The store at directory/funnelscope.duckdb, with the events and the deals loaded."""
    (directory / "events.csv").write_text(EVENTS)
    (directory / "deals.csv").write_text(DEALS)
    (directory / "history.csv").write_text(HISTORY)
    (directory / "settings.json").write_text(json.dumps(SETTINGS))
    (directory / "spec.json").write_text(json.dumps(SPEC))
    db = directory / "funnelscope.duckdb"
    for args in (
        ["ingest", str(directory / "events.csv"), "--db", str(db), "--no-progress"],
        ["pipeline", "load", str(directory / "deals.csv"), str(directory / "history.csv")],
    ):
        if args[0] == "pipeline":
            args += ["--db", str(db)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    return db


def make_keys(db: Path) -> Keys:
    return Keys(*(create_key(str(db), kind, kind).secret for kind in ("read", "write", "admin")))


def cli_json(*args: str) -> Any:
    """What the CLI writes with --format json for these arguments."""
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
