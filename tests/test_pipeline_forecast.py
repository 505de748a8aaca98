"""The forecast, its backtest and pipeline velocity (docs/pipeline.md "Forecast"): exact figures on
hand-made histories with a reopened deal, a regression, a skipped stage, currency conversion, a
deal in a currency without rate, a time-zone edge, the min-sample fallback and a backtest whose
every figure is worked out by hand in the comments; the same figures through the CLI from CSV."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from funnelscope.analyses.pipeline.forecast import forecast
from funnelscope.analyses.pipeline.forecast_backtest import backtest
from funnelscope.analyses.pipeline.journeys import journeys, state_at
from funnelscope.analyses.pipeline.money import Money, money_for
from funnelscope.analyses.pipeline.velocity import velocity
from funnelscope.cli.main import cli
from funnelscope.model.deals import CrmData, Deal, DealStatus, Pipeline, StageChange
from funnelscope.model.pipeline_settings import PipelineSettings, parse_period

SALES = Pipeline("sales", ("lead", "proposal", "negotiation"), ("won",), ("lost",))
EUR = Money("EUR", (("USD", 0.9),))


def at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def deal(
    deal_id: str,
    path: list[tuple[str, str]],
    amount: float | None = None,
    *,
    expected: str | None = None,
    currency: str | None = "EUR",
    owner: str = "cara",
    status: DealStatus | None = None,
    pipeline: str = "sales",
) -> tuple[Deal, list[StageChange]]:
    """A deal created in its first stage at the first time, moved along ``path``; its status
    and close time are those of its last stage."""
    stage, last = path[-1]
    if status is None:
        status = DealStatus(stage) if stage in ("won", "lost") else DealStatus.OPEN
    made = Deal(
        deal_id=deal_id,
        pipeline=pipeline,
        stage=stage,
        status=status,
        created_at=at(path[0][1]),
        amount=amount,
        currency=currency,
        owner=owner,
        expected_close=None if expected is None else at(expected),
        closed_at=at(last) if status is not DealStatus.OPEN else None,
    )
    changes = [
        StageChange(deal_id, path[i - 1][0] if i else None, s, at(t))
        for i, (s, t) in enumerate(path)
    ]
    return made, changes


def crm(
    *items: tuple[Deal, list[StageChange]], pipelines: tuple[Pipeline, ...] = (SALES,)
) -> CrmData:
    return CrmData(
        tuple(d for d, _ in items),
        tuple(c for _, changes in items for c in changes),
        (),
        pipelines,
    )


# Closed before 2026-03-10: 4 won, 4 lost. Reached lead: all 8 (4 won); proposal: C1, C2 (skipped
# it), TZ (skipped it), WM, C3, R1 = 6 (4 won); negotiation: C1, C2, TZ, WM, R1 = 5 (4 won).
CLOSED = (
    deal("C1", [("lead", "2026-01-02"), ("proposal", "2026-01-10"), ("negotiation", "2026-01-20"),
                ("won", "2026-02-10")], 1000),
    deal("C2", [("lead", "2026-01-03"), ("negotiation", "2026-01-15"), ("won", "2026-02-15")],
         2000),
    deal("TZ", [("lead", "2026-01-04"), ("won", "2026-01-31T23:30:00-05:00")], 300, currency="USD"),
    deal("WM", [("lead", "2026-01-05"), ("proposal", "2026-02-01"), ("won", "2026-03-03")], 1200,
         owner="ana"),
    deal("C3", [("lead", "2026-01-06"), ("proposal", "2026-01-20"), ("lost", "2026-02-20")], 100),
    deal("C4", [("lead", "2026-01-07"), ("lost", "2026-02-25")], 100),
    deal("R1", [("lead", "2026-01-08"), ("proposal", "2026-01-12"), ("negotiation", "2026-01-25"),
                ("proposal", "2026-02-05"), ("lost", "2026-03-01")], 100),
    deal("C5", [("lead", "2026-01-09"), ("lost", "2026-02-27")], 100),
)  # fmt: skip
OPEN = (
    deal("O1", [("lead", "2026-02-01"), ("negotiation", "2026-03-01")], 4000,
         expected="2026-03-25", owner="ana"),
    deal("O2", [("lead", "2026-02-02"), ("proposal", "2026-02-20")], 1000, expected="2026-03-15",
         currency="USD", owner="ana"),
    deal("O3", [("lead", "2026-02-03")], 2000, expected="2026-03-20", currency="GBP", owner="ben"),
    deal("O4", [("lead", "2026-02-04"), ("proposal", "2026-02-10")], 10000, expected="2026-04-15",
         owner="ben"),
    deal("O5", [("lead", "2026-02-05")], 800, expected="2026-03-01", owner="ben"),
    deal("O6", [("lead", "2026-02-06"), ("negotiation", "2026-02-12")], 600,
         expected="2026-02-20", owner="ben"),
    # won, then reopened: open in proposal at as-of, not a closed deal for the rates
    deal("X", [("lead", "2026-01-10"), ("proposal", "2026-01-11"), ("won", "2026-02-05"),
               ("proposal", "2026-03-05")], 600, expected="2026-03-20", owner="ben"),
    # in lead at as-of; moved to negotiation two days later
    deal("O8", [("lead", "2026-02-08"), ("negotiation", "2026-03-12")], 1000,
         expected="2026-03-28", owner="ben"),
    # open in proposal at as-of; won five days later
    deal("WA", [("lead", "2026-02-09"), ("proposal", "2026-03-01"), ("won", "2026-03-15")], 1500,
         expected="2026-03-14", owner="ben"),
    deal("O7", [("lead", "2026-03-11")], 99999, expected="2026-03-20", owner="ben"),  # later
)  # fmt: skip
AS_OF = at("2026-03-10T12:00:00")


def test_forecast_buckets_rates_slipped_and_groups() -> None:
    data = crm(*CLOSED, *OPEN)
    result = forecast(data, EUR, parse_period("2026-03"), AS_OF, min_closed=5, by="owner")
    rates = {r.stage: r for r in result.rates[0].stages}
    assert {s: (r.won, r.closed, r.basis) for s, r in rates.items()} == {
        "lead": (4, 8, "learned"), "proposal": (4, 6, "learned"),
        "negotiation": (4, 5, "learned"),
    }  # fmt: skip
    assert rates["negotiation"].rate == 0.8
    # Wilson 95% of 4/5: centre (0.8 + z²/10) / (1 + z²/5), half-width 0.294 by hand
    assert rates["negotiation"].interval == pytest.approx((0.37553, 0.96377), abs=1e-4)
    by_id = {d.deal_id: d for d in result.deals}
    assert sorted(by_id) == ["O1", "O2", "O3", "O4", "O5", "O6", "O8", "WA", "X"]
    assert {i: (d.stage, d.bucket) for i, d in by_id.items()} == {
        "O1": ("negotiation", "commit"), "O2": ("proposal", "best case"),
        "O3": ("lead", "best case"), "O4": ("proposal", "pipeline"),
        "O5": ("lead", "best case"), "O6": ("negotiation", "pipeline"),
        "O8": ("lead", "best case"), "WA": ("proposal", "best case"),
        "X": ("proposal", "best case"),
    }  # fmt: skip
    assert by_id["O2"].converted == pytest.approx(900.0)
    assert by_id["O2"].weighted == pytest.approx(600.0)
    assert (by_id["O3"].converted, by_id["O3"].conversion) == (None, "no rate")
    totals = result.totals
    assert (totals.closed_won, totals.closed_won_deals) == (1200.0, 1)
    assert (totals.commit, totals.commit_deals) == (4000.0, 1)
    # 4000 + 900 + 800 + 600 + 1000 + 1500; O3 (GBP) counted, not summed
    assert (totals.best_case, totals.best_case_deals) == pytest.approx((8800.0, 7))
    assert (totals.pipeline, totals.pipeline_deals) == pytest.approx((19400.0, 9))
    # 3200 + 600 + 0.5 x 800 + 2/3 x 600 + 0.5 x 1000 + 2/3 x 1500
    assert totals.weighted == pytest.approx(6100.0)
    assert totals.expected == pytest.approx(7300.0)
    assert (totals.slipped_deals, totals.not_converted) == (2, 1)
    assert [(d.deal_id, d.days_overdue) for d in result.slipped] == [("O6", 18), ("O5", 9)]
    assert result.not_converted == ("O3",)
    groups = {g.name: g.buckets for g in result.groups}
    assert sorted(groups) == ["ana", "ben"]  # cara has nothing open and nothing won in March
    ana, ben = groups["ana"], groups["ben"]
    assert [ana.closed_won, ana.best_case, ana.weighted] == pytest.approx([1200, 4900, 3800])
    assert [ben.closed_won, ben.pipeline, ben.weighted] == pytest.approx([0, 14500, 2300])


def test_min_sample_fallback_uses_crm_probability_small_sample_pipeline_and_prior() -> None:
    sales = Pipeline(
        "sales", SALES.stages, ("won",), ("lost",), probabilities=(("negotiation", 0.9),)
    )
    partner = Pipeline("partner", ("intro", "pilot"), ("won",), ("lost",))
    renewals = Pipeline("renewals", ("ask", "sign"), ("won",), ("lost",))
    data = crm(
        *CLOSED,
        *OPEN,
        deal("P1", [("intro", "2026-01-01"), ("lost", "2026-02-01")], 10, pipeline="partner"),
        deal("P2", [("intro", "2026-01-02")], 10, pipeline="partner", expected="2026-03-20"),
        deal("N1", [("ask", "2026-01-01"), ("sign", "2026-02-01")], 300, pipeline="renewals",
             expected="2026-03-20"),
        pipelines=(sales, partner, renewals),
    )  # fmt: skip
    result = forecast(data, EUR, parse_period("2026-03"), AS_OF)  # min_closed 20
    rates = {(p.pipeline, r.stage): (r.rate, r.basis) for p in result.rates for r in p.stages}
    assert rates == {
        ("sales", "lead"): (0.5, "small sample"),
        ("sales", "proposal"): (pytest.approx(2 / 3), "small sample"),
        ("sales", "negotiation"): (0.9, "crm"),
        ("partner", "intro"): (0.0, "small sample"),
        ("partner", "pilot"): (0.0, "pipeline"),
        ("renewals", "ask"): (pytest.approx(1 / 3), "prior"),
        ("renewals", "sign"): (pytest.approx(2 / 3), "prior"),
    }
    by_id = {d.deal_id: d for d in result.deals}
    assert by_id["O1"].weighted == pytest.approx(3600.0)  # 0.9 x 4000, from the CRM's own figure
    assert by_id["N1"].weighted == pytest.approx(200.0)
    assert (by_id["N1"].basis, by_id["P2"].basis) == ("prior", "small sample")


def test_a_deal_closed_late_on_january_31_in_new_york_belongs_to_february() -> None:
    data = crm(*CLOSED, *OPEN)
    feb = forecast(data, EUR, parse_period("2026-02"), at("2026-02-09T12:00"), min_closed=1)
    jan = forecast(data, EUR, parse_period("2026-01"), at("2026-02-09T12:00"), min_closed=1)
    # X was won on Feb 5, reopened on Mar 5: won in February, not open (C1 is won on Feb 10)
    assert [w.deal_id for w in feb.won] == ["TZ", "X"]
    assert feb.totals.closed_won == pytest.approx(870.0)  # 300 USD x 0.9 + 600
    assert "X" not in {d.deal_id for d in feb.deals}
    # ... and a closed deal for February's rates, though it is open now: TZ and X, both won
    lead = feb.rates[0].stages[0]
    assert (lead.stage, lead.won, lead.closed) == ("lead", 2, 2)
    assert (jan.totals.closed_won, jan.totals.closed_won_deals) == (0.0, 0)


def test_reopened_deal_counts_as_won_at_the_moment_it_was_won() -> None:
    x = next(j for j in journeys(crm(*OPEN)) if j.deal.deal_id == "X")
    before, won, reopened = (state_at(x, at(t)) for t in ("2026-02-01", "2026-02-10", "2026-03-06"))
    assert before is not None and (before.deal.stage, before.status) == ("proposal", "open")
    assert won is not None and (won.status, won.closed_at) == (DealStatus.WON, at("2026-02-05"))
    assert reopened is not None and (reopened.deal.stage, reopened.status) == ("proposal", "open")
    assert state_at(x, at("2026-01-09")) is None  # not created yet


def test_stage_at_a_past_moment_comes_from_the_stays() -> None:
    moved = Deal("M", "sales", "negotiation", DealStatus.OPEN, at("2026-01-01"))
    unlogged = [StageChange("M", "lead", "proposal", at("2026-01-10")),
                StageChange("M", "proposal", "negotiation", at("2026-01-20"))]  # fmt: skip
    silent = Deal("S", "sales", "lost", DealStatus.LOST, at("2026-01-01"),
                  closed_at=at("2026-01-15"))  # fmt: skip
    data = CrmData((moved, silent), tuple(unlogged), (), (SALES,))
    full = {j.deal.deal_id: j for j in journeys(data)}
    stages = [
        (s.deal.stage, s.status.value)
        for t in ("2026-01-05", "2026-01-12", "2026-01-25")
        if (s := state_at(full["M"], at(t))) is not None
    ]
    assert stages == [("lead", "open"), ("proposal", "open"), ("negotiation", "open")]
    early, late = state_at(full["S"], at("2026-01-05")), state_at(full["S"], at("2026-01-15"))
    assert early is not None and (early.deal.stage, early.status.value) == ("lead", "open")
    assert late is not None and (late.status, late.closed_at) == (DealStatus.LOST, at("2026-01-15"))


def test_closed_deals_without_history_in_a_closing_stage_count_only_in_the_overall_rate() -> None:
    # An export without stage history: 2 won and 7 lost deals sit in won / lost, R was lost in
    # proposal (status column), O is open in negotiation. Overall 2 won of 10 closed = 0.2.
    # Only R tells which stages it passed (lead and proposal, lost). Counting the won deals at
    # every stage and the lost ones at none gave negotiation 2 won of 2 (1.0).
    def silent(deal_id: str, stage: str, status: DealStatus) -> tuple[Deal, list[StageChange]]:
        made = Deal(deal_id, "sales", stage, status, at("2026-01-05"), amount=100.0,
                    currency="EUR", closed_at=at("2026-02-01"))  # fmt: skip
        return made, []

    closed = [silent(f"W{i}", "won", DealStatus.WON) for i in (1, 2)]
    closed += [silent(f"L{i}", "lost", DealStatus.LOST) for i in range(1, 8)]
    closed.append(silent("R", "proposal", DealStatus.LOST))
    opened = Deal("O", "sales", "negotiation", DealStatus.OPEN, at("2026-02-01"), amount=1000.0,
                  currency="EUR", expected_close=at("2026-03-20"))  # fmt: skip
    data = crm(*closed, (opened, []))
    result = forecast(data, EUR, parse_period("2026-03"), AS_OF)
    rates = {r.stage: (r.won, r.closed, r.rate, r.basis) for r in result.rates[0].stages}
    assert rates == {
        "lead": (0, 1, 0.0, "small sample"),
        "proposal": (0, 1, 0.0, "small sample"),
        "negotiation": (0, 0, 0.2, "pipeline"),
    }
    assert result.totals.weighted == pytest.approx(200.0)  # 1000 x 0.2, not 1000 x 1.0


def test_report_currency_defaults_to_the_most_common_one() -> None:
    money = money_for(PipelineSettings(), [d for d, _ in (*CLOSED, *OPEN)])
    assert money.currency == "EUR"
    assert money.convert(OPEN[1][0]) == (None, "no rate")  # USD without any rate
    priced = money_for(PipelineSettings(currency="USD", rates=(("EUR", 1.25),)), [])
    assert priced.convert(OPEN[0][0]) == (5000.0, "converted")


# The backtest history. Owners: ana A C D, ben B E F.
BACKTEST = (
    deal("A", [("lead", "2025-12-01"), ("won", "2026-01-10")], 1000, expected="2026-01-15",
         owner="ana"),
    deal("B", [("lead", "2025-12-05"), ("lost", "2026-01-20")], 500, owner="ben"),
    deal("C", [("lead", "2025-12-10"), ("proposal", "2026-01-05"), ("won", "2026-02-10")], 2000,
         expected="2026-02-01", owner="ana"),
    deal("D", [("lead", "2026-01-15"), ("proposal", "2026-02-03"), ("won", "2026-03-05")], 3000,
         expected="2026-03-10", owner="ana"),
    deal("E", [("lead", "2026-01-20"), ("lost", "2026-03-20")], 400, expected="2026-03-31",
         owner="ben"),
    deal("F", [("lead", "2026-02-15")], 1000, expected="2026-03-15", owner="ben"),
)  # fmt: skip


def test_backtest_by_hand() -> None:
    result = backtest(crm(*BACKTEST), EUR, at("2026-04-01"), min_closed=1)
    months = {m.month: m for m in result.months}
    assert list(months) == ["2026-01", "2026-02", "2026-03"]
    jan, feb, mar = months.values()
    # Jan 1: nothing closed yet, prior rates (lead 1/4); open A, B, C (C moved on Jan 5);
    # only A is expected in January: 1000 x 1/4. No earlier month: no share.
    assert (jan.open_deals, jan.expected_deals, jan.forecast, jan.actual) == (3, 1, 250.0, 1000.0)
    assert (jan.share, jan.forecast_by_share) == (None, None)
    # Feb 1: rates from A (won) and B (lost): lead 1/2, proposal 1/1; open C (proposal), D, E
    # (lead); C expected Feb 1: 2000 x 1. Share: of A (open Dec 1, Jan 1) and C (open Jan 1)
    # won before Feb 1, A on Jan 10: within Jan 1's month only -> 1 of 2.
    # By share: 0.5 x (2000 + 3000/2 + 400/2) = 1850.
    assert (feb.open_deals, feb.forecast, feb.actual) == (3, 2000.0, 2000.0)
    assert (feb.share, feb.forecast_by_share) == (0.5, 1850.0)
    # Mar 1: rates from A, B, C: lead 2/3, proposal 2/2; open D (proposal since Feb 3, won later),
    # E, F (lead), all expected in March: 3000 + 400 x 2/3 + 1000 x 2/3 = 3933.33.
    # Share: pairs (Dec 1, A) no, (Jan 1, A) yes, (Jan 1, C) no, (Feb 1, C) yes -> 2 of 4.
    assert (mar.open_deals, mar.expected_deals) == (3, 3)
    assert mar.forecast == pytest.approx(3933.3333, abs=1e-3)
    assert (mar.actual, mar.actual_deals, mar.share) == (3000.0, 1, 0.5)
    assert mar.forecast_by_share == pytest.approx(1966.6667, abs=1e-3)
    # errors -750, 0, 933.33: MAPE (0.75 + 0 + 0.3111) / 3, bias 183.33 / 3
    assert result.by_close.mape == pytest.approx(0.353704, abs=1e-6)
    assert result.by_close.bias == pytest.approx(61.1111, abs=1e-4)
    assert (result.by_close.months, result.by_close.mape_months) == (3, 3)
    # errors -150, -1033.33 over February and March
    assert result.by_share.mape == pytest.approx((0.075 + 1033.3333 / 3000) / 2, abs=1e-6)
    assert result.by_share.bias == pytest.approx(-591.6667, abs=1e-4)
    assert result.by_share.months == 2
    # a month that has not ended by as-of is not replayed
    assert [m.month for m in backtest(crm(*BACKTEST), EUR, at("2026-03-31"), min_closed=1)
            .months] == ["2026-01", "2026-02"]  # fmt: skip


def test_velocity_by_hand() -> None:
    result = velocity(crm(*BACKTEST), EUR, at("2026-04-01"), days=30)
    now, before = result.overall.current, result.overall.previous
    # [Mar 2, Apr 1): D won (cycle Jan 15 -> Mar 5 = 49 days), E lost; F open on Apr 1
    assert (now.open_deals, now.won, now.lost, now.average_won) == (1, 1, 1, 3000.0)
    assert now.average_cycle_days == 49.0
    assert now.velocity == pytest.approx(1 * 0.5 * 3000 / 49)
    # [Jan 31, Mar 2): C won (Dec 10 -> Feb 10 = 62 days); D, E, F open on Mar 2
    assert (before.open_deals, before.won, before.lost, before.average_cycle_days) == (
        3,
        1,
        0,
        62.0,
    )
    assert before.velocity == pytest.approx(3 * 2000 / 62)
    assert result.overall.ratio == pytest.approx((1500 / 49) / (6000 / 62))
    rows = {g.name: g for g in result.groups}
    assert rows["ana"].current.velocity == 0.0  # nothing open any more
    assert rows["ana"].previous.velocity == pytest.approx(2000 / 62)
    assert rows["ana"].ratio == 0.0
    assert (rows["ben"].current.win_rate, rows["ben"].current.velocity) == (0.0, None)
    assert rows["ben"].change is None


def write_csv(tmp_path: Path, items: tuple[tuple[Deal, list[StageChange]], ...]) -> list[Path]:
    deals = [
        "deal_id,pipeline,stage,status,amount,currency,owner,created_at,expected_close,closed_at"
    ]
    for d, _ in items:
        iso = [None if t is None else t.isoformat() for t in (d.expected_close, d.closed_at)]
        cells = [d.deal_id, d.pipeline, d.stage, d.status.value, d.amount, d.currency, d.owner,
                 d.created_at.isoformat(), *iso]  # fmt: skip
        deals.append(",".join("" if c is None else str(c) for c in cells))
    history = ["deal_id,from_stage,to_stage,changed_at"]
    for _, changes in items:
        history += [
            f"{c.deal_id},{c.from_stage or ''},{c.to_stage},{c.changed_at.isoformat()}"
            for c in changes
        ]
    paths = [tmp_path / "deals.csv", tmp_path / "history.csv"]
    for path, lines in zip(paths, (deals, history), strict=True):
        path.write_text("\n".join(lines) + "\n")
    return paths


SETTINGS = """currency: EUR
rates: {USD: 0.9}
pipelines:
  sales: {stages: [lead, proposal, negotiation], won: [won], lost: [lost]}
"""


def run(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["pipeline", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


def test_the_cli_reads_csv_and_gives_the_same_figures(tmp_path: Path) -> None:
    # the time-zone deal as the export writes it: New York time on January 31
    files = write_csv(tmp_path, (*CLOSED, *OPEN))
    for path in files:
        text = path.read_text().replace("2026-02-01T04:30:00+00:00", "2026-01-31T23:30:00-05:00")
        path.write_text(text)
    settings = tmp_path / "pipeline.yaml"
    settings.write_text(SETTINGS)
    db = str(tmp_path / "s.duckdb")
    run(["load", *map(str, files), "--db", db])
    common = ["--db", db, "--settings", str(settings), "--min-closed", "5"]
    march = run(["forecast", *common, "--as-of", "2026-03-10T12:00:00", "--by", "owner"])
    totals = march["totals"]
    assert (totals["closed_won"], totals["commit"], totals["pipeline_deals"]) == (1200, 4000, 9)
    assert totals["best_case"] == pytest.approx(8800.0)
    assert totals["weighted"] == pytest.approx(6100.0)
    assert march["not_converted"] == ["O3"]
    assert [(s["deal_id"], s["days_overdue"]) for s in march["slipped"]] == [("O6", 18), ("O5", 9)]
    assert [g["name"] for g in march["groups"]] == ["ana", "ben"]
    feb = run(["forecast", *common, "--as-of", "2026-02-09T12:00", "--period", "2026-02"])
    assert [w["deal_id"] for w in feb["won"]] == ["TZ", "X"]
    assert feb["totals"]["closed_won"] == pytest.approx(870.0)


def test_the_cli_backtest_and_velocity(tmp_path: Path) -> None:
    files = write_csv(tmp_path, BACKTEST)
    settings = tmp_path / "pipeline.yaml"
    settings.write_text(SETTINGS)
    db = str(tmp_path / "s.duckdb")
    run(["load", *map(str, files), "--db", db])
    common = ["--db", db, "--settings", str(settings), "--as-of", "2026-04-01"]
    tested = run(["forecast", "--backtest", "--min-closed", "1", *common])
    assert [(m["month"], m["forecast"], m["actual"]) for m in tested["months"][:2]] == [
        ("2026-01", 250.0, 1000.0), ("2026-02", 2000.0, 2000.0),
    ]  # fmt: skip
    assert tested["accuracy"]["by_expected_close"]["mape"] == pytest.approx(0.353704, abs=1e-6)
    assert tested["accuracy"]["by_share"]["bias"] == pytest.approx(-591.6667, abs=1e-4)
    speed = run(["velocity", "--days", "30", *common])
    assert speed["overall"]["current"]["velocity"] == pytest.approx(1500 / 49)
    assert [g["name"] for g in speed["groups"]] == ["ana", "ben"]
    table = CliRunner().invoke(cli, ["pipeline", "forecast", *common, "--period", "2026-03"])
    assert table.exit_code == 0, table.output
    assert "best case" in table.output and "Win rate by stage: sales" in table.output
