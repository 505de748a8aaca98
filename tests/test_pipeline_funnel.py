"""The stage funnel over deals (docs/pipeline.md "Stage funnel"): exact counts on a hand-made
history with a skip, a regression, a reopened deal and a deal without history; loading from CSV
with bad rows and time zones; the planted truths of the demo CRM found on two seeds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from funnelscope.analyses.pipeline.journeys import journeys, journeys_as_of
from funnelscope.analyses.pipeline.stage_funnel import stage_funnel
from funnelscope.app.pipeline.data import read_pipeline, settings_from
from funnelscope.app.pipeline.funnel import pipeline_funnel
from funnelscope.cli.main import cli
from funnelscope.errors import SpecError
from funnelscope.model.deals import CrmData, Deal, DealStatus, Pipeline, StageChange
from funnelscope.model.pipeline_settings import parse_period, parse_settings

P = Pipeline("p", ("a", "b", "c"))
AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def t(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def deal(deal_id: str, created: str, stage: str, status: DealStatus, **kw: object) -> Deal:
    return Deal(deal_id, "p", stage, status, t(created), **kw)  # type: ignore[arg-type]


def moves(deal_id: str, *steps: tuple[str | None, str, str]) -> list[StageChange]:
    return [StageChange(deal_id, f, to, t(at)) for f, to, at in steps]


DEALS = (
    deal("D1", "2026-01-01", "won", DealStatus.WON, closed_at=t("2026-01-10")),
    deal("D2", "2026-01-02", "lost", DealStatus.LOST, lost_reason="price"),
    deal("D3", "2026-01-05", "b", DealStatus.OPEN),
    deal("D4", "2026-01-06", "won", DealStatus.WON),
    deal("D5", "2026-02-01", "b", DealStatus.OPEN),
    deal("D6", "2026-01-20", "won", DealStatus.WON, closed_at=t("2026-01-25")),
)
CHANGES = (
    *moves("D1", (None, "a", "2026-01-01"), ("a", "b", "2026-01-03"), ("b", "c", "2026-01-06"),
           ("c", "won", "2026-01-10")),
    *moves("D2", (None, "a", "2026-01-02"), ("a", "c", "2026-01-04"), ("c", "lost", "2026-01-08")),
    *moves("D3", (None, "a", "2026-01-05"), ("a", "b", "2026-01-07"), ("b", "a", "2026-01-09"),
           ("a", "b", "2026-01-12")),
    *moves("D4", (None, "a", "2026-01-06"), ("a", "lost", "2026-01-07"),
           ("lost", "a", "2026-01-15"), ("a", "b", "2026-01-20"), ("b", "won", "2026-01-25")),
)  # fmt: skip
DATA = CrmData(DEALS, CHANGES, (), (P,))


def test_journeys_name_skips_regressions_reopenings_and_where_a_deal_was_lost() -> None:
    by_id = {j.deal.deal_id: j for j in journeys(DATA)}
    assert by_id["D2"].skipped == frozenset({"b"}) and by_id["D2"].lost_from == "c"
    assert by_id["D3"].regressions == 1 and by_id["D3"].furthest == 1
    assert by_id["D4"].reopened == 1 and by_id["D4"].skipped == frozenset({"c"})
    assert by_id["D4"].closed_at == t("2026-01-25")
    assert by_id["D6"].has_history is False and by_id["D6"].skipped == frozenset({"a", "b", "c"})
    assert by_id["D5"].furthest == 1 and by_id["D5"].skipped == frozenset({"a"})


def test_created_cohort_counts_every_stage_exactly() -> None:
    funnel = stage_funnel(journeys(DATA), P, as_of=AS_OF, period=parse_period("2026-01"))
    assert (funnel.deals, funnel.won, funnel.lost, funnel.open) == (5, 3, 1, 1)
    rows = {r.stage: r for r in funnel.stages}
    got = {s: (r.reached, r.entered, r.skipped, r.advanced, r.lost_here, r.open_here)
           for s, r in rows.items()}  # fmt: skip
    assert got == {"a": (5, 4, 1, 5, 0, 0), "b": (5, 3, 2, 4, 0, 1), "c": (4, 2, 2, 3, 1, 0)}
    assert [r.conversion for r in funnel.stages] == [1.0, 0.8, 0.75]
    assert rows["c"].lost_reasons == (("price", 1),)
    assert (funnel.regressions, funnel.reopened, funnel.without_history) == (1, 1, 1)


def test_time_in_stage_counts_every_finished_stay_and_the_deals_still_there() -> None:
    funnel = stage_funnel(journeys(DATA), P, as_of=AS_OF, period=parse_period("2026-01"))
    a, b = funnel.stages[0].time, funnel.stages[1].time
    assert (a.stays, a.median_days, a.p90_days, a.mean_days) == (6, 2.0, 4.0, 2.5)
    assert dict(a.buckets)["1-3d"] == 4 and dict(a.buckets)["3-7d"] == 2
    assert (b.stays, b.median_days, b.p90_days) == (3, 3.0, 4.6)
    assert (b.in_stage_now, b.median_age_days) == (1, 48.0)  # D3, back in b since Jan 12


def test_active_mode_counts_what_reached_each_stage_in_the_period() -> None:
    every = journeys(DATA)
    january = stage_funnel(every, P, as_of=AS_OF, period=parse_period("2026-01"), mode="active")
    assert [r.reached for r in january.stages] == [5, 5, 4]
    february = stage_funnel(every, P, as_of=AS_OF, period=parse_period("2026-02"), mode="active")
    assert [(r.reached, r.open_here) for r in february.stages] == [(1, 0), (1, 1), (0, 0)]


def test_as_of_sees_only_what_was_known_then() -> None:
    then = {j.deal.deal_id: j for j in journeys_as_of(DATA, t("2026-01-08T12:00"))}
    assert set(then) == {"D1", "D2", "D3", "D4"}
    assert then["D1"].status is DealStatus.OPEN and then["D1"].deal.stage == "c"
    assert then["D2"].status is DealStatus.LOST  # lost on Jan 8 at 00:00
    assert then["D4"].status is DealStatus.LOST and then["D4"].reopened == 0


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def load(runner: CliRunner, db: Path, *files: Path, zone: str | None = None) -> dict:
    args = ["pipeline", "load", *map(str, files), "--db", str(db), "--format", "json"]
    if zone:
        args += ["--timezone", zone]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_csv_load_quarantines_bad_rows_keeps_the_rest_and_never_repeats_history(
    tmp_path: Path,
) -> None:
    deals = write(tmp_path / "deals.csv", (
        "deal_id,stage,created_at,amount,owner\n"
        "D1,b,2026-01-01,100,ana\n"
        "D2,a,yesterday,50,bob\n"
        "D3,a,2026-01-02,-5,bob\n"
        ",a,2026-01-02,5,bob\n"
        "D4,a,2026-01-03,1 200 EUR,bob\n"
        "D5,a,2026-01-03,12..5,bob\n"
    ))  # fmt: skip
    history = write(
        tmp_path / "history.csv",
        ("deal_id,from_stage,to_stage,changed_at\nD1,,a,2026-01-01\nD1,a,b,2026-01-02\n"),
    )
    runner = CliRunner()
    db = tmp_path / "s.duckdb"
    loaded = load(runner, db, deals, history, history)
    first, _, again = loaded["files"]
    assert (first["deals"], first["quarantined"]) == (2, 4)
    assert [(b["line"], b["field"]) for b in first["quarantined_rows"]] == [
        (3, "created_at"), (4, "amount"), (5, "deal_id"), (7, "amount"),
    ]  # fmt: skip
    amounts = {
        d.deal_id: (d.amount, d.currency) for d in read_pipeline(str(db), settings_from(None)).deals
    }
    assert amounts == {"D1": (100.0, None), "D4": (1200.0, "EUR")}
    assert "write ISO 8601" in first["quarantined_rows"][0]["reason"]
    assert (again["stage_changes"], again["already_loaded"]) == (2, 2)
    quarantine = runner.invoke(cli, ["quarantine", "--db", str(db), "--format", "json"])
    assert quarantine.exit_code == 0 and quarantine.output.count('"line"') == 4


def test_naive_times_are_read_in_the_load_time_zone(tmp_path: Path) -> None:
    deals = write(tmp_path / "deals.csv", "deal_id,stage,created_at\nD1,a,2026-01-31 20:00\n")
    runner = CliRunner()
    for zone, month in ((None, "2026-01"), ("America/New_York", "2026-02")):
        db = tmp_path / f"{zone or 'utc'}.duckdb".replace("/", "_")
        load(runner, db, deals, zone=zone)
        out = runner.invoke(cli, ["pipeline", "funnel", "--db", str(db), "--period", month,
                                  "--format", "json", "--as-of", "2026-03-01"])  # fmt: skip
        assert out.exit_code == 0, out.output
        assert json.loads(out.output)["funnels"][0]["deals"] == 1


def test_stage_order_is_learned_from_the_history_when_no_settings_give_it(tmp_path: Path) -> None:
    deals = write(tmp_path / "deals.csv", "deal_id,stage,created_at\nD1,zeta,2026-01-01\n"
                  "D2,closed won,2026-01-01\nD3,alpha,2026-01-01\n")  # fmt: skip
    history = write(tmp_path / "h.csv", "deal_id,from_stage,to_stage,changed_at\n"
                    "D1,,mid,2026-01-01\nD1,mid,zeta,2026-01-02\nD2,,zeta,2026-01-01\n"
                    "D2,zeta,alpha,2026-01-03\nD2,alpha,closed won,2026-01-04\n"
                    "D3,,mid,2026-01-01\nD3,mid,alpha,2026-01-02\n")  # fmt: skip
    db = tmp_path / "s.duckdb"
    load(CliRunner(), db, deals, history)
    result = pipeline_funnel(str(db), as_of=AS_OF)
    assert [s.stage for s in result.funnels[0].stages] == ["mid", "zeta", "alpha"]
    assert result.funnels[0].won == 1


def test_settings_mistakes_name_the_key_and_the_fix() -> None:
    with pytest.raises(SpecError, match=r"cadences.hot.days: must rise"):
        parse_settings({"cadences": {"hot": {"days": [3, 1]}}})
    with pytest.raises(SpecError, match=r"targets\[0\]: names both an owner and a team"):
        parse_settings({"targets": [{"period": "2026-12", "owner": "a", "team": "b", "deals": 1}]})
    with pytest.raises(SpecError, match=r"'2026-13' is not a period"):
        parse_period("2026-13")
    assert parse_period("2026-Q4").end == t("2027-01-01")


@pytest.mark.parametrize("seed", [7, 8])
def test_the_demo_crm_planted_truths_are_found(tmp_path: Path, seed: int) -> None:
    from funnelscope.demo.crm import write_crm_demo

    files = write_crm_demo(tmp_path, seed=seed)
    db = tmp_path / "s.duckdb"
    load(CliRunner(), db, files.deals, files.history, files.activities)
    settings = str(files.settings)
    by_owner = pipeline_funnel(str(db), settings_path=settings, as_of=files.as_of, by="owner")
    worse = [(g.group, g.stage) for g in by_owner.gaps if g.significant and g.worse]
    assert worse == [("carol", "qualification")]
    by_source = pipeline_funnel(str(db), settings_path=settings, as_of=files.as_of, by="source")
    reasons = [(g.group, g.stage) for g in by_source.gaps
               if g.significant and g.worse and g.kind == "lost reason"]  # fmt: skip
    assert reasons[0] == ("paid_social", "budget")
    slowest = max(by_owner.funnels[0].stages, key=lambda s: s.time.median_days or 0.0)
    assert slowest.stage == "proposal"


def test_a_deal_moved_to_won_before_its_export_close_time_is_open_in_its_last_open_stage() -> None:
    # W moved into won on Feb 27, but the export closes it on Mar 1: on Feb 28 it is open in c
    # (state_at), so its replayed journey must not have reached won nor sit in the won stage
    late = deal("W", "2026-02-01", "won", DealStatus.WON, closed_at=t("2026-03-01"))
    history = moves(
        "W", (None, "a", "2026-02-01"), ("a", "c", "2026-02-10"), ("c", "won", "2026-02-27")
    )
    data = CrmData((late,), tuple(history), (), (P,))
    moment = t("2026-02-28")
    (then,) = journeys_as_of(data, moment)
    assert (then.status, then.deal.stage, then.furthest) == (DealStatus.OPEN, "c", 2)
    assert then.stays[-1].stage == "c" and then.stays[-1].entered_at == t("2026-02-10")
    funnel = stage_funnel([then], P, as_of=moment)
    c = funnel.stages[2]
    assert (c.reached, c.advanced, c.open_here, c.conversion) == (1, 0, 1, 0.0)
    assert (c.time.in_stage_now, c.time.median_age_days) == (1, 18.0)
    # the move alone, with its from-stage: still a deal with history, open in c since creation
    only = CrmData((late,), (StageChange("W", "c", "won", t("2026-02-27")),), (), (P,))
    (alone,) = journeys_as_of(only, moment)
    assert (alone.deal.stage, alone.furthest, alone.has_history) == ("c", 2, True)
    assert [s.stage for s in alone.stays] == ["c"]


def test_a_deal_the_export_says_is_won_stays_won_in_a_stage_the_pipeline_calls_open() -> None:
    """A custom won stage ("signed") that the pipeline lists as open: once nothing about the deal
    is later than the moment, the deal is as the export says, in every command's replay."""
    pipeline = Pipeline("p", ("a", "signed"))
    won = Deal("S", "p", "signed", DealStatus.WON, t("2026-01-01"), closed_at=t("2026-01-05"))
    history = moves("S", (None, "a", "2026-01-01"), ("a", "signed", "2026-01-05"))
    data = CrmData((won,), tuple(history), (), (pipeline,))
    (after,) = journeys_as_of(data, t("2026-02-01"))
    assert (after.status, after.closed_at) == (DealStatus.WON, t("2026-01-05"))
    (before,) = journeys_as_of(data, t("2026-01-03"))
    assert (before.status, before.deal.stage, before.closed_at) == (DealStatus.OPEN, "a", None)
