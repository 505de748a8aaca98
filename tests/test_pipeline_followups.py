"""Follow-ups: cadence touches matched in order (on time, late, overdue, due today), planned CRM
activities, rotting with per-stage limits, and the call-today ranking by value at risk."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from funnelscope.analyses.pipeline.followups import STANDARD_CADENCE, TouchStatus, followups
from funnelscope.cli.main import cli
from funnelscope.model.deals import Activity, CrmData, Deal, DealStatus, Pipeline, StageChange
from funnelscope.model.pipeline_settings import PipelineSettings, parse_settings

SALES = Pipeline("sales", ("lead", "qualification", "proposal"))


def at(day: str) -> datetime:
    moment = datetime.fromisoformat(day)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def deal(
    deal_id: str,
    stage: str,
    created: str,
    *,
    status: DealStatus = DealStatus.OPEN,
    amount: float | None = None,
    currency: str | None = None,
    owner: str | None = "ana",
    source: str | None = None,
    closed: str | None = None,
) -> Deal:
    return Deal(
        deal_id,
        "sales",
        stage,
        status,
        at(created),
        amount=amount,
        currency=currency,
        owner=owner,
        source=source,
        closed_at=None if closed is None else at(closed),
    )


def moves(deal_id: str, *steps: tuple[str | None, str, str]) -> list[StageChange]:
    return [StageChange(deal_id, before, after, at(when)) for before, after, when in steps]


def done(deal_id: str, when: str, kind: str = "call") -> Activity:
    return Activity(deal_id, kind, None, at(when))


def planned(deal_id: str, when: str, kind: str = "call") -> Activity:
    return Activity(deal_id, kind, at(when), None)


def crm(deals: list[Deal], changes: list[StageChange], activities: list[Activity]) -> CrmData:
    return CrmData(tuple(deals), tuple(changes), tuple(activities), (SALES,))


HOT_SLOW = parse_settings(
    {
        "cadences": {
            "hot": {"days": [0, 1, 3, 7], "when": {"source": ["referral"]}},
            "slow": {"every": 7, "until": 28},
        },
        "default_cadence": "slow",
    }
)


def test_touches_are_matched_in_order_on_time_late_and_overdue() -> None:
    data = crm(
        [deal("D1", "qualification", "2026-03-01T08:00", source="referral")],
        moves(
            "D1", (None, "lead", "2026-03-01T08:00"), ("lead", "qualification", "2026-03-02T15:00")
        ),
        [
            done("D1", "2026-03-01T12:00"),  # before the stage entry: idle time only
            done("D1", "2026-03-02T23:59", "email"),  # touch 1 due 03-02: on time
            done("D1", "2026-03-04T10:00"),  # touch 2 due 03-03: a day late
            done("D1", "2026-03-05T09:00", "meeting"),  # touch 3 due 03-05: on time
            done("D1", "2026-03-13T09:00"),  # after the as-of time: not yet done
            planned("D1", "2026-03-10T09:00"),
            planned("D1", "2026-03-14T09:00", "demo"),
        ],
    )
    result = followups(data, HOT_SLOW, at("2026-03-12T12:00"))
    (d1,) = result.deals
    assert d1.cadence == "hot"
    assert d1.stage_entered_at == at("2026-03-02T15:00")
    assert [(t.due, t.status, t.kind, t.days_late) for t in d1.touches] == [
        (date(2026, 3, 2), TouchStatus.ON_TIME, "email", 0),
        (date(2026, 3, 3), TouchStatus.LATE, "call", 1),
        (date(2026, 3, 5), TouchStatus.ON_TIME, "meeting", 0),
        (date(2026, 3, 9), TouchStatus.OVERDUE, None, None),
    ]
    assert d1.overdue == 1 and not d1.due_today
    assert d1.next_due == date(2026, 3, 9)
    assert [(p.kind, p.overdue, p.due_today) for p in d1.planned] == [
        ("call", True, False),
        ("demo", False, False),
    ]
    assert d1.last_activity_at == at("2026-03-05T09:00")
    assert d1.idle_days == 7.125  # 7 days 3 hours since the last done activity
    assert d1.rotting is False  # default limit 14
    assert result.call_today[0].reasons == ("overdue", "crm_overdue")
    assert d1.days_in_stage == 9.875  # 03-02 15:00 to 03-12 12:00
    assert d1.to_dict()["days_in_stage"] == 9.875


def test_followups_of_one_pipeline_learn_rates_from_every_deal() -> None:
    other = Pipeline("partners", ("intro", "deal"))
    deals = [
        deal("S1", "lead", "2026-03-01T00:00"),
        Deal("P1", "partners", "intro", DealStatus.OPEN, at("2026-03-05T00:00"), owner="bob"),
    ]
    data = CrmData(tuple(deals), (), (), (SALES, other))
    both = followups(data, PipelineSettings(), at("2026-03-12T00:00"))
    assert [d.deal_id for d in both.deals] == ["P1", "S1"] and both.pipeline is None
    one = followups(data, PipelineSettings(), at("2026-03-12T00:00"), pipeline="partners")
    assert [d.deal_id for d in one.deals] == ["P1"]
    assert one.to_dict()["pipeline"] == "partners" and one.to_dict()["open_deals"] == 1
    assert one.deals[0].days_in_stage == 7.0  # no history: in its stage since it was made


def test_due_today_upcoming_and_the_standard_cadence_without_settings() -> None:
    data = crm([deal("D2", "lead", "2026-03-11T10:00")], [], [])
    result = followups(data, PipelineSettings(), at("2026-03-12T12:00"))
    (d2,) = result.deals
    assert d2.cadence == "standard" and STANDARD_CADENCE.days == (0, 1, 3, 7, 14, 30)
    assert [t.status for t in d2.touches] == [
        TouchStatus.OVERDUE,
        TouchStatus.DUE_TODAY,
        TouchStatus.UPCOMING,
        TouchStatus.UPCOMING,
        TouchStatus.UPCOMING,
        TouchStatus.UPCOMING,
    ]
    assert d2.touches[-1].due == date(2026, 4, 10)
    assert d2.next_due == date(2026, 3, 11)
    assert result.call_today[0].reasons == ("overdue", "due_today")
    assert result.notes and "standard" in result.notes[0]


def test_cadence_follows_the_when_filter_else_the_default() -> None:
    data = crm(
        [
            deal("H", "lead", "2026-03-01T10:00", source="referral"),
            deal("S", "lead", "2026-03-01T10:00", source="web"),
        ],
        [],
        [
            done("S", "2026-03-01T11:00"),
            done("S", "2026-03-09T11:00"),
            done("S", "2026-03-10T11:00"),
        ],
    )
    result = followups(data, HOT_SLOW, at("2026-03-20T00:00"))
    hot, slow = result.deals
    assert (hot.cadence, [t.day for t in hot.touches]) == ("hot", [0, 1, 3, 7])
    assert (slow.cadence, [t.day for t in slow.touches]) == ("slow", [0, 7, 14, 21, 28])
    # day 0 on time, day 7 (03-08) late by 1, day 14 (03-15) done early on 03-10: on time
    assert [t.status for t in slow.touches] == [
        TouchStatus.ON_TIME,
        TouchStatus.LATE,
        TouchStatus.ON_TIME,
        TouchStatus.UPCOMING,
        TouchStatus.UPCOMING,
    ]
    assert slow.next_due == date(2026, 3, 22) and slow.overdue == 0
    assert result.notes == ()


def test_extra_done_activities_beyond_the_cadence_are_counted() -> None:
    settings = parse_settings({"cadences": {"short": {"days": [0]}}})
    data = crm(
        [deal("E", "lead", "2026-03-01T10:00")],
        [],
        [
            done("E", "2026-03-01T11:00"),
            done("E", "2026-03-02T11:00"),
            done("E", "2026-03-03T11:00"),
        ],
    )
    (e,) = followups(data, settings, at("2026-03-04T00:00")).deals
    assert (e.extra_done, e.next_due, e.cadence) == (2, None, "short")


def test_rotting_uses_per_stage_limits_and_the_latest_of_activity_change_creation() -> None:
    settings = parse_settings({"rotting": {"default": 14, "proposal": 7}})
    data = crm(
        [
            deal("R1", "proposal", "2026-03-12T00:00"),  # idle 8 days > 7
            deal("R2", "qualification", "2026-03-12T00:00"),  # idle 8 days, limit 14
            deal("R3", "qualification", "2026-03-01T00:00"),  # last done 03-05: idle 15 > 14
            deal("R4", "proposal", "2026-03-13T00:00"),  # idle exactly 7: not more than 7
            deal("R5", "proposal", "2026-03-01T00:00"),  # done 03-18: idle 2
            deal("R6", "qualification", "2026-02-01T00:00"),  # moved 03-10: idle 10
        ],
        moves("R6", ("lead", "qualification", "2026-03-10T00:00")),
        [
            done("R3", "2026-03-05T00:00"),
            done("R5", "2026-03-18T00:00"),
            done("R6", "2026-02-10T00:00"),
            planned("R2", "2026-03-25T00:00"),  # planned, not done: no activity
        ],
    )
    result = followups(data, settings, at("2026-03-20T00:00"))
    got = {d.deal_id: (d.idle_days, d.rotting_limit, d.rotting) for d in result.deals}
    assert got == {
        "R1": (8.0, 7, True),
        "R2": (8.0, 14, False),
        "R3": (15.0, 14, True),
        "R4": (7.0, 7, False),
        "R5": (2.0, 7, False),
        "R6": (10.0, 14, False),
    }
    assert result.to_dict()["rotting_deals"] == 2


def ranking_data() -> CrmData:
    """Closed before 2026-04-10 (owner bo): lead 1 of 4 won, qualification 1 of 2, proposal 1
    of 1; C5 is lost after the as-of time, so it is still open in proposal then."""
    closed = [
        deal("C1", "won", "2026-03-01", status=DealStatus.WON, owner="bo", closed="2026-03-04"),
        deal("C2", "lost", "2026-03-01", status=DealStatus.LOST, owner="bo", closed="2026-03-05"),
        deal("C3", "lost", "2026-03-01", status=DealStatus.LOST, owner="bo", closed="2026-03-05"),
        deal("C4", "lost", "2026-03-01", status=DealStatus.LOST, owner="bo", closed="2026-03-05"),
        deal("C5", "lost", "2026-03-01", status=DealStatus.LOST, owner="bo", closed="2026-04-20"),
    ]
    history = [
        *moves(
            "C1",
            (None, "lead", "2026-03-01"),
            ("lead", "qualification", "2026-03-02"),
            ("qualification", "proposal", "2026-03-03"),
            ("proposal", "won", "2026-03-04"),
        ),
        *moves(
            "C2",
            (None, "lead", "2026-03-01"),
            ("lead", "qualification", "2026-03-02"),
            ("qualification", "lost", "2026-03-05"),
        ),
        *moves("C3", (None, "lead", "2026-03-01"), ("lead", "lost", "2026-03-05")),
        *moves("C4", (None, "lead", "2026-03-01"), ("lead", "lost", "2026-03-05")),
        *moves(
            "C5",
            (None, "lead", "2026-03-01"),
            ("lead", "proposal", "2026-03-05"),
            ("proposal", "lost", "2026-04-20"),
        ),
    ]
    opened = [
        deal("O1", "lead", "2026-04-01", amount=10000, currency="EUR"),  # 2500
        deal("O2", "qualification", "2026-04-01", amount=4000, currency="USD"),  # 3600 x .5
        deal("O3", "proposal", "2026-04-01", amount=2000, currency="EUR"),  # 2000, 4 overdue
        deal("O4", "proposal", "2026-04-01", amount=5000, currency="GBP"),  # no rate
        deal("O5", "qualification", "2026-04-01"),  # no amount
        deal("O6", "lead", "2026-04-05", amount=100000, currency="EUR"),  # on schedule
        deal("O7", "proposal", "2026-04-03", amount=2000, currency="EUR"),  # 2000, 3 overdue
    ]
    activities = [
        done("O6", "2026-04-05T10:00"),
        done("O6", "2026-04-06T10:00"),
        done("O6", "2026-04-08T10:00"),
    ]
    return crm(closed + opened, history, activities)


RATES = parse_settings({"currency": "EUR", "rates": {"USD": 0.9}})


def test_call_today_is_ranked_by_value_at_risk_unrated_last() -> None:
    result = followups(ranking_data(), RATES, at("2026-04-10T00:00"), owner="ana")
    assert [item.deal.deal_id for item in result.call_today] == ["O1", "O3", "O7", "O2", "O4", "O5"]
    by_id = {d.deal_id: d for d in result.deals}
    assert sorted(by_id) == ["O1", "O2", "O3", "O4", "O5", "O6", "O7"]
    assert by_id["O1"].value_at_risk == 2500.0
    assert by_id["O2"].amount_report == pytest.approx(3600.0)
    assert by_id["O2"].value_at_risk == pytest.approx(1800.0)
    assert by_id["O3"].win_probability == 1.0  # C5, lost after the as-of time, is not counted
    assert by_id["O3"].probability_basis == "small sample"
    assert (by_id["O3"].overdue, by_id["O7"].overdue) == (4, 3)
    assert result.call_today[2].reasons == ("overdue", "due_today")
    assert by_id["O4"].value_at_risk is None
    assert by_id["O4"].flags == ("no exchange rate for GBP",)
    assert by_id["O5"].flags == ("no amount",)
    assert result.currency == "EUR"
    assert result.notes[1:] == (
        "no exchange rate for GBP: those deals are ranked last (add them under rates in the "
        "settings)",
    )
    assert by_id["O6"].reasons() == () and by_id["O6"].next_due == date(2026, 4, 12)
    limited = followups(ranking_data(), RATES, at("2026-04-10T00:00"), owner="ana", limit=3)
    assert [row["deal_id"] for row in limited.rows()] == ["O1", "O3", "O7"]
    assert limited.on_list == 6
    everyone = followups(ranking_data(), RATES, at("2026-04-10T00:00"))
    assert "C5" in {d.deal_id for d in everyone.deals}  # open at the as-of time
    assert "C1" not in {d.deal_id for d in everyone.deals}


def write(path: Path, text: str) -> str:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return str(path)


def test_followups_command_from_loaded_csv_files(tmp_path: Path) -> None:
    deals = write(
        tmp_path / "deals.csv",
        """
deal_id,pipeline,stage,amount,currency,owner,source,created_at,status,closed_at
W1,sales,won,1000,EUR,bo,web,2026-03-01T00:00:00Z,won,2026-03-04T00:00:00Z
L1,sales,lost,1000,EUR,bo,web,2026-03-01T00:00:00Z,lost,2026-03-05T00:00:00Z
A1,sales,proposal,3000,USD,ana,referral,2026-03-01T00:00:00Z,open,
A2,sales,lead,8000,EUR,ana,web,2026-03-09T00:00:00Z,open,
B1,sales,lead,500,EUR,bo,web,2026-03-09T00:00:00Z,open,
""",
    )
    history = write(
        tmp_path / "history.csv",
        """
deal_id,from_stage,to_stage,changed_at
W1,,lead,2026-03-01T00:00:00Z
W1,lead,proposal,2026-03-02T00:00:00Z
W1,proposal,won,2026-03-04T00:00:00Z
L1,,lead,2026-03-01T00:00:00Z
L1,lead,lost,2026-03-05T00:00:00Z
A1,,lead,2026-03-01T00:00:00Z
A1,lead,proposal,2026-03-05T09:00:00Z
""",
    )
    activities = write(
        tmp_path / "activities.csv",
        """
deal_id,kind,due_at,done_at
A1,call,,2026-03-05T12:00:00Z
A1,email,,2026-03-06T23:30:00-05:00
A2,call,2026-03-10T09:00:00Z,
""",
    )
    settings = write(
        tmp_path / "pipeline.yaml",
        """
currency: EUR
rates: {USD: 0.5}
pipelines:
  sales: {stages: [lead, qualification, proposal]}
cadences:
  hot: {days: [0, 1, 3, 7], when: {source: [referral]}}
rotting: {default: 14, proposal: 3}
""",
    )
    db = str(tmp_path / "store.duckdb")
    runner = CliRunner()
    loaded = runner.invoke(cli, ["pipeline", "load", deals, history, activities, "--db", db])
    assert loaded.exit_code == 0, loaded.output
    args = ["pipeline", "followups", "--db", db, "--settings", settings, "--as-of", "2026-03-12"]
    result = runner.invoke(cli, [*args, "--owner", "ana", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["open_deals"] == 2 and out["on_list"] == 2
    a1 = next(d for d in out["deals"] if d["deal_id"] == "A1")
    assert a1["cadence"] == "hot"
    # entered proposal 03-05: touch 1 (03-05) on time; 03-06 23:30 -05:00 is 03-07 04:30 UTC,
    # a day late for touch 2 (03-06); touch 3 (03-08) overdue; touch 4 (03-12) due today
    assert [t["status"] for t in a1["touches"]] == ["on_time", "late", "overdue", "due_today"]
    assert a1["touches"][1]["done_at"] == "2026-03-07T04:30:00+00:00"
    assert a1["idle_days"] == pytest.approx(4.8125)  # since 03-07 04:30
    assert a1["rotting"] is True and a1["rotting_limit"] == 3
    assert a1["win_probability"] == 1.0  # proposal: reached by W1 only (small sample)
    assert a1["probability_basis"] == "small sample"
    assert a1["value_at_risk"] == 1500.0  # 3000 USD x 0.5 EUR x 1.0
    a2 = next(d for d in out["deals"] if d["deal_id"] == "A2")
    assert a2["cadence"] == "standard"
    assert a2["planned"] == [
        {"kind": "call", "due_at": "2026-03-10T09:00:00+00:00", "overdue": True, "due_today": False}
    ]
    assert a2["value_at_risk"] == 4000.0  # 8000 x lead 1 of 2
    assert [row["deal_id"] for row in out["call_today"]] == ["A2", "A1"]
    assert out["call_today"][1]["reasons"] == "overdue due_today rotting"
    csv_out = runner.invoke(cli, [*args, "--format", "csv", "--limit", "1"])
    assert csv_out.exit_code == 0, csv_out.output
    lines = csv_out.output.strip().splitlines()
    assert lines[0].startswith("rank,deal_id") and len(lines) == 2 and ",A2," in lines[1]
    table = runner.invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "Call today (EUR): 3 of 3" in table.output


def test_a_deal_moved_to_won_before_its_export_close_time_keeps_its_open_stage_entry() -> None:
    # moved to won on Mar 9, the export closes it on Mar 12: open in proposal on Mar 10, since
    # Mar 2, so its cadence (standard: days 0 1 3 7 14 30) is due Mar 2, 3, 5, 9 (overdue), 16,
    # Apr 1 (upcoming), not from Mar 9; idle since Mar 2: 8 days 9 hours
    late = deal("W", "won", "2026-03-01", status=DealStatus.WON, closed="2026-03-12")
    history = moves(
        "W",
        (None, "lead", "2026-03-01"),
        ("lead", "proposal", "2026-03-02"),
        ("proposal", "won", "2026-03-09"),
    )
    result = followups(crm([late], history, []), PipelineSettings(), at("2026-03-10T09:00"))
    (only,) = result.deals
    assert (only.stage, only.stage_entered_at) == ("proposal", at("2026-03-02"))
    assert [t.due for t in only.touches] == [
        date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 5), date(2026, 3, 9),
        date(2026, 3, 16), date(2026, 4, 1),
    ]  # fmt: skip
    assert [t.status for t in only.touches] == [TouchStatus.OVERDUE] * 4 + [
        TouchStatus.UPCOMING
    ] * 2
    assert (only.overdue, only.idle_days) == (4, 8.375)
