"""Targets: attainment in UTC periods (a close late on Jan 31 in New York is February), currency
conversion, team targets, pace and projection, and the per-stage gap arithmetic."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from funnelscope.analyses.pipeline.targets import TargetProgress, target_progress
from funnelscope.cli.main import cli
from funnelscope.errors import SpecError
from funnelscope.model.deals import CrmData, Deal, DealStatus, Pipeline, StageChange
from funnelscope.model.pipeline_settings import Target, parse_period, parse_settings

SALES = Pipeline("sales", ("lead", "qualification", "proposal"))
TEAMS = {"ana": "north", "bo": "north", "cy": "south"}


def at(day: str) -> datetime:
    moment = datetime.fromisoformat(day)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def deal(
    deal_id: str,
    owner: str,
    path: list[tuple[str, str]],
    *,
    amount: float | None = None,
    currency: str = "EUR",
) -> tuple[Deal, list[StageChange]]:
    """A deal moved along ``path`` (stage, time); its status and close time follow the end."""
    stage, last = path[-1]
    status = {"won": DealStatus.WON, "lost": DealStatus.LOST}.get(stage, DealStatus.OPEN)
    changes = [
        StageChange(deal_id, path[i - 1][0] if i else None, s, at(when))
        for i, (s, when) in enumerate(path)
    ]
    made = Deal(
        deal_id,
        "sales",
        stage,
        status,
        at(path[0][1]),
        amount=amount,
        currency=currency,
        owner=owner,
        team=TEAMS.get(owner),
        closed_at=None if status is DealStatus.OPEN else at(last),
    )
    return made, changes


def history() -> CrmData:
    """Closed before 2026-02-15: lead reached by 8 (4 won): 0.5; qualification by 6 (W3 skipped
    it; 4 won): 2/3; proposal by 5 (W4 won past it; 4 won): 0.8. W5 is won after the as-of
    time, so it is open in proposal then."""
    made = [
        deal("W2", "ana", [("lead", "2026-01-02"), ("qualification", "2026-01-05"),
                           ("proposal", "2026-01-08"), ("won", "2026-01-15T10:00")], amount=2000),
        # 23:30 in New York on Jan 31 is 04:30 UTC on Feb 1
        deal("W1", "ana", [("lead", "2026-01-02"), ("qualification", "2026-01-05"),
                           ("proposal", "2026-01-08"), ("won", "2026-01-31T23:30-05:00")],
             amount=1000),
        deal("W3", "bo", [("lead", "2026-01-02"), ("proposal", "2026-01-20"),
                          ("won", "2026-02-10")], amount=1000, currency="USD"),
        deal("W4", "cy", [("lead", "2026-01-02"), ("qualification", "2026-01-20"),
                          ("won", "2026-02-05")], amount=500, currency="GBP"),
        deal("L1", "bo", [("lead", "2026-01-02"), ("lost", "2026-01-20")]),
        deal("L2", "ana", [("lead", "2026-01-02"), ("qualification", "2026-01-10"),
                           ("lost", "2026-01-25")]),
        deal("L3", "cy", [("lead", "2026-01-02"), ("qualification", "2026-01-10"),
                          ("proposal", "2026-01-20"), ("lost", "2026-02-01")]),
        deal("L4", "cy", [("lead", "2026-01-02"), ("lost", "2026-01-03")]),
        deal("W5", "ana", [("lead", "2026-01-10"), ("proposal", "2026-02-12"),
                           ("won", "2026-02-20")], amount=9000),
        deal("O1", "ana", [("lead", "2026-02-01")], amount=700),
        deal("O5", "ana", [("lead", "2026-02-03")], amount=700),
        deal("O2", "ana", [("lead", "2026-02-01"), ("proposal", "2026-02-08")], amount=700),
        deal("O6", "bo", [("lead", "2026-02-01"), ("qualification", "2026-02-09")]),
    ]  # fmt: skip
    deals = tuple(d for d, _ in made)
    changes = tuple(c for _, cs in made for c in cs)
    return CrmData(deals, changes, (), (SALES,))


SETTINGS = parse_settings(
    {
        "currency": "EUR",
        "rates": {"USD": 0.9},
        "targets": [
            {"period": "2026-01", "owner": "ana", "revenue": 5000},
            {"period": "2026-02", "owner": "ana", "revenue": 5000},
            {"period": "2026-02", "team": "north", "revenue": 3000, "deals": 4},
            {"period": "2026-Q1", "revenue": 10000},
            {"period": "2026-02", "owner": "dee", "revenue": 1000},
        ],
    }
)
AS_OF = at("2026-02-15T00:00")


def progress() -> dict[str, TargetProgress]:
    result = target_progress(history(), SETTINGS, AS_OF)
    return {f"{p.target.period.label} {p.target.who}": p for p in result.targets}


def test_a_close_late_on_january_31_in_new_york_counts_in_february() -> None:
    got = progress()
    january, february = got["2026-01 owner ana"], got["2026-02 owner ana"]
    assert (january.won_ids, january.won_revenue, january.revenue_share) == (("W2",), 2000.0, 0.4)
    assert (january.state, january.days_total, january.days_remaining) == ("ended", 31.0, 0.0)
    assert january.projected_revenue == 2000.0 and january.revenue_needed_per_day is None
    assert february.won_ids == ("W1",)  # W5 is won on Feb 20, after the as-of time
    assert february.won_revenue == 1000.0
    assert (february.days_total, february.days_elapsed, february.days_remaining) == (
        28.0,
        14.0,
        14.0,
    )
    assert february.state == "in progress"
    assert february.revenue_run_rate == pytest.approx(1000 / 14)
    assert february.revenue_needed_per_day == pytest.approx(4000 / 14)
    assert february.projected_revenue == pytest.approx(2000.0)
    assert february.projected_share == pytest.approx(0.4)


def test_the_per_stage_gap_at_todays_rates() -> None:
    february = progress()["2026-02 owner ana"]
    # ana's won deals before the as-of time: W2 2000 and W1 1000, average 1500
    assert (february.average_won_amount, february.average_basis, february.average_from) == (
        1500.0,
        "owner",
        2,
    )
    assert february.revenue_gap == 4000.0
    assert (february.needed_won, february.needed_for) == (3, "revenue")  # ceil(4000 / 1500)
    gaps = [(g.stage, g.win_rate, g.needed, g.open_at_or_past, g.more) for g in february.stages]
    # needed = ceil(3 / rate); open at or past: O1, O5 in lead, O2 and W5 (won later) in proposal
    assert gaps == [
        ("lead", 0.5, 6, 4, 2),
        ("qualification", pytest.approx(2 / 3), 5, 2, 3),
        ("proposal", 0.8, 4, 2, 2),
    ]
    assert february.stages[1].phrase == "3 more qualification deals at today's rates"
    assert february.stages[0].rate_basis == "small sample"


def test_a_team_target_with_a_converted_currency_and_a_deal_gap() -> None:
    north = progress()["2026-02 team north"]
    assert north.won_ids == ("W1", "W3")
    assert north.won_revenue == pytest.approx(1900.0)  # 1000 EUR + 1000 USD x 0.9
    assert north.revenue_share == pytest.approx(1900 / 3000)
    assert (north.won_deals, north.deals_share, north.deals_gap) == (2, 0.5, 2)
    assert north.average_won_amount == pytest.approx(1300.0)  # (2000 + 1000 + 900) / 3
    assert north.average_from == 3
    # the revenue gap asks for ceil(1100 / 1300) = 1 won deal, the deal gap for 2
    assert (north.needed_won, north.needed_for) == (2, "deals")
    # 2 / (2/3) is 3 up to float noise, not 4; north's open deals: O1, O5 (lead), O6
    # (qualification), O2 and W5 (proposal)
    assert [(g.needed, g.open_at_or_past, g.more) for g in north.stages] == [
        (4, 5, 0),
        (3, 3, 0),
        (3, 2, 1),
    ]
    assert north.stages[0].phrase == "enough lead deals already (5 open at or past it, 4 needed)"
    assert north.deals_run_rate == pytest.approx(2 / 14)
    assert north.deals_needed_per_day == pytest.approx(2 / 14)


def test_everyone_in_a_quarter_with_a_currency_without_rate() -> None:
    result = target_progress(history(), SETTINGS, AS_OF)
    quarter = {f"{p.target.period.label} {p.target.who}": p for p in result.targets}[
        "2026-Q1 everyone"
    ]
    assert quarter.won_ids == ("W1", "W2", "W3", "W4")
    assert quarter.won_revenue == pytest.approx(3900.0)  # W4's 500 GBP has no rate
    assert (quarter.won_deals, quarter.without_rate, quarter.without_amount) == (4, 1, 0)
    assert (quarter.days_total, quarter.days_elapsed, quarter.days_remaining) == (90.0, 45.0, 45.0)
    assert quarter.projected_revenue == pytest.approx(7800.0)
    assert result.notes == (
        "no exchange rate for GBP: those won deals add no revenue (add them under rates in "
        "the settings)",
    )


def test_the_average_falls_back_to_all_won_deals() -> None:
    dee = progress()["2026-02 owner dee"]
    assert (dee.won_deals, dee.won_revenue) == (0, 0.0)
    assert (dee.average_won_amount, dee.average_basis, dee.average_from) == (
        pytest.approx(1300.0),
        "all won deals",
        3,
    )
    assert dee.needed_won == 1
    assert [(g.needed, g.open_at_or_past, g.more) for g in dee.stages] == [
        (2, 0, 2),
        (2, 0, 2),
        (2, 0, 2),
    ]


def test_a_met_target_and_a_period_not_started() -> None:
    targets = [
        Target(parse_period("2026-01"), owner="ana", revenue=1500, deals=1),
        Target(parse_period("2026-03"), owner="ana", revenue=1000),
    ]
    met, later = target_progress(history(), SETTINGS, AS_OF, targets).targets
    assert (met.revenue_gap, met.deals_gap, met.needed_won, met.stages) == (0.0, 0, 0, ())
    assert (later.state, later.days_elapsed, later.revenue_run_rate) == ("not started", 0.0, None)
    assert later.projected_revenue is None and later.revenue_needed_per_day == pytest.approx(
        1000 / 31
    )


def write(path: Path, text: str) -> str:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return str(path)


def test_targets_command_from_loaded_csv_files(tmp_path: Path) -> None:
    deals = write(
        tmp_path / "deals.csv",
        """
deal_id,pipeline,stage,amount,currency,owner,team,created_at,status,closed_at
N1,sales,won,1000,EUR,ana,north,2026-01-02T00:00:00Z,won,2026-01-31T23:30:00-05:00
N2,sales,won,2000,USD,bo,north,2026-01-02T00:00:00Z,won,2026-01-20T00:00:00Z
N3,sales,lost,,EUR,bo,north,2026-01-02T00:00:00Z,lost,2026-01-25T00:00:00Z
N4,sales,lead,400,EUR,ana,north,2026-02-02T00:00:00Z,open,
""",
    )
    history_file = write(
        tmp_path / "history.csv",
        """
deal_id,from_stage,to_stage,changed_at
N1,,lead,2026-01-02T00:00:00Z
N1,lead,proposal,2026-01-10T00:00:00Z
N1,proposal,won,2026-01-31T23:30:00-05:00
N2,,lead,2026-01-02T00:00:00Z
N2,lead,won,2026-01-20T00:00:00Z
N3,,lead,2026-01-02T00:00:00Z
N3,lead,proposal,2026-01-10T00:00:00Z
N3,proposal,lost,2026-01-25T00:00:00Z
""",
    )
    settings = write(
        tmp_path / "pipeline.yaml",
        """
currency: EUR
rates: {USD: 0.5}
pipelines:
  sales: {stages: [lead, proposal]}
targets:
  - {period: 2026-01, team: north, revenue: 2000}
  - {period: 2026-02, owner: ana, revenue: 3000}
""",
    )
    db = str(tmp_path / "store.duckdb")
    runner = CliRunner()
    loaded = runner.invoke(cli, ["pipeline", "load", deals, history_file, "--db", db])
    assert loaded.exit_code == 0, loaded.output
    args = ["pipeline", "targets", "--db", db, "--settings", settings, "--as-of", "2026-02-08"]
    result = runner.invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    january, february = json.loads(result.output)["targets"]
    assert (january["won_deal_ids"], january["won_revenue"]) == (["N2"], 1000.0)  # 2000 x 0.5
    assert january["revenue_share"] == 0.5
    assert (february["won_deal_ids"], february["won_revenue"]) == (["N1"], 1000.0)
    assert (february["days_elapsed"], february["days_remaining"]) == (7.0, 21.0)
    # ana's average won amount is N1's 1000: 2 more won deals; lead and proposal (N2 won past
    # it) both win 2 of 3 closed: ceil(2 / (2/3)) = 3, less N4 open in lead
    assert february["needed_won"] == 2 and february["average_basis"] == "owner"
    assert [(s["stage"], s["needed"], s["more"]) for s in february["stages"]] == [
        ("lead", 3, 2),
        ("proposal", 3, 3),
    ]
    assert february["stages"][1]["phrase"] == "3 more proposal deals at today's rates"
    one = runner.invoke(
        cli, [*args, "--period", "2026-01", "--owner", "bo", "--deals", "2", "--format", "csv"]
    )
    assert one.exit_code == 0, one.output
    (cells,) = list(csv.DictReader(io.StringIO(one.output)))
    assert (cells["who"], cells["won_deals"], cells["deals_gap"], cells["needed_for"]) == (
        "owner bo",
        "1",
        "1",
        "deals",
    )
    table = runner.invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "3 more proposal deals at today's rates" in table.output
    bad = runner.invoke(cli, [*args, "--period", "2026-01"])
    assert isinstance(bad.exception, SpecError) and "--revenue or --deals" in str(bad.exception)


def test_a_gap_that_is_a_whole_number_of_deals_up_to_float_noise() -> None:
    """3 USD at 0.3 is 0.8999999999999999 EUR; 1.8 of it is 2.0000000000000004 deals: 2."""
    won, changes = deal("Z1", "zo", [("lead", "2026-01-02"), ("won", "2026-01-05")], amount=3,
                        currency="USD")  # fmt: skip
    data = CrmData((won,), tuple(changes), (), (SALES,))
    settings = parse_settings({"currency": "EUR", "rates": {"USD": 0.3}})
    target = Target(parse_period("2026-02"), owner="zo", revenue=1.8)
    (zo,) = target_progress(data, settings, AS_OF, [target]).targets
    assert zo.average_won_amount == pytest.approx(0.9) and zo.revenue_gap == 1.8
    assert zo.needed_won == 2
    assert [(g.stage, g.needed, g.more) for g in zo.stages] == [
        ("lead", 2, 2),
        ("qualification", 2, 2),
        ("proposal", 2, 2),
    ]


def test_without_a_report_currency_the_most_common_one_is_used() -> None:
    target = Target(parse_period("2026-Q1"), revenue=10000)
    result = target_progress(history(), parse_settings({}), AS_OF, [target])
    (quarter,) = result.targets
    assert result.currency == "EUR"  # 11 of the 13 deals are in EUR
    assert (quarter.won_revenue, quarter.won_deals, quarter.without_rate) == (3000.0, 4, 2)
    assert result.notes == (
        "no report currency in the settings: revenue is in EUR, the deals' most common currency",
        "no exchange rate for GBP, USD: those won deals add no revenue (add them under rates in "
        "the settings)",
    )
