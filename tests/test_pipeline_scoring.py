"""Lead scoring (docs/pipeline.md "Lead scoring"): the naive Bayes baseline against probabilities
worked out by hand, the split in time, the refusals, features known at creation only, a planted
source that both models find, and the command end to end with events before creation."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from funnelscope.analyses.pipeline.journeys import journeys
from funnelscope.analyses.pipeline.scoring import (
    brier,
    calibration,
    closed_deals,
    naive_bayes_fit,
    naive_bayes_probability,
    score_leads,
    time_split,
)
from funnelscope.analyses.pipeline.scoring_features import (
    DealFeatures,
    amount_band,
    count_band,
    deal_features,
    fit_encoding,
)
from funnelscope.app.pipeline.data import read_pipeline, settings_from
from funnelscope.app.pipeline.scoring import events_before_creation
from funnelscope.cli.main import cli
from funnelscope.errors import FunnelscopeError, SpecError
from funnelscope.model.deals import CrmData, Deal, DealStatus, Pipeline, StageChange

P = Pipeline("sales", ("new", "demo"))
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def t(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


# ------------------------------------------------------------------ the baseline by hand

ROWS = [
    {"source": "A", "owner": "x"},  # won
    {"source": "A", "owner": "y"},  # won
    {"source": "B", "owner": "x"},  # won
    {"source": "A", "owner": "y"},  # lost
    {"source": "B", "owner": "y"},  # lost
    {"source": "B", "owner": "y"},  # lost
    {"source": "B", "owner": "x"},  # lost
]
WON = [True, True, True, False, False, False, False]


def test_naive_bayes_counts_each_value_with_odoos_smoothing() -> None:
    model = naive_bayes_fit(ROWS, WON)
    assert (model.won, model.lost) == (3, 4)
    counts = dict(model.counts)
    # source A: 2 won, 1 lost; B: 1 won, 3 lost; each count + 0.1
    assert counts["source"] == (("A", pytest.approx(2.1), pytest.approx(1.1)),
                                ("B", pytest.approx(1.1), pytest.approx(3.1)))  # fmt: skip
    assert counts["owner"] == (("x", pytest.approx(2.1), pytest.approx(1.1)),
                               ("y", pytest.approx(1.1), pytest.approx(3.1)))  # fmt: skip


def test_naive_bayes_probability_is_the_product_ratio_worked_by_hand() -> None:
    model = naive_bayes_fit(ROWS, WON)
    # won totals per field: 2.1 + 1.1 = 3.2; lost totals: 1.1 + 3.1 = 4.2
    won = 3 / 7 * (2.1 / 3.2) * (2.1 / 3.2)
    lost = 4 / 7 * (1.1 / 4.2) * (1.1 / 4.2)
    assert won / (won + lost) == pytest.approx(0.824833, abs=1e-6)
    assert naive_bayes_probability(model, {"source": "A", "owner": "x"}) == pytest.approx(
        0.824833, abs=1e-6
    )
    # B and y: 3/7 x (1.1/3.2)^2 against 4/7 x (3.1/4.2)^2
    assert naive_bayes_probability(model, {"source": "B", "owner": "y"}) == pytest.approx(
        0.139915, abs=1e-6
    )
    # a value never seen adds nothing: only the prior and the owner count
    assert naive_bayes_probability(model, {"source": "C", "owner": "x"}) == pytest.approx(
        (3 / 7 * 2.1 / 3.2) / (3 / 7 * 2.1 / 3.2 + 4 / 7 * 1.1 / 4.2), abs=1e-12
    )
    assert naive_bayes_probability(model, {}) == pytest.approx(3 / 7)


def test_naive_bayes_probabilities_are_clamped_like_odoos() -> None:
    rows = [{f"f{i}": "a" for i in range(6)}] * 5 + [{f"f{i}": "b" for i in range(6)}] * 5
    model = naive_bayes_fit(rows, [True] * 5 + [False] * 5)
    # each field: (5.1 / 5.2) / (0.1 / 5.2) = 51 times likelier when won; 51^6 > 9999
    assert naive_bayes_probability(model, rows[0]) == 0.9999
    assert naive_bayes_probability(model, rows[-1]) == 0.0001


def test_bands_of_amounts_and_event_counts() -> None:
    assert [amount_band(a) for a in (None, 5, 10, 999, 1000, 25_000, 3e6)] == [
        "(none)", "<10", "10-100", "100-1k", "1k-10k", "10k-100k", "1M-10M",
    ]  # fmt: skip
    assert [count_band(c) for c in (0, 1, 2, 3, 4, 7, 8, 100)] == [
        "0", "1", "2-3", "2-3", "4-7", "4-7", "8+", "8+",
    ]  # fmt: skip


def test_measures_brier_and_calibration_bins() -> None:
    predicted = [0.1, 0.15, 0.5, 0.9, 1.0]
    won = [False, True, True, True, False]
    assert brier(predicted, won) == pytest.approx((0.01 + 0.7225 + 0.25 + 0.01 + 1.0) / 5)
    bins = calibration(predicted, won)
    assert [(b.low, b.high, b.deals) for b in bins] == [
        (0.0, 0.2, 2), (0.2, 0.4, 0), (0.4, 0.6, 1), (0.6, 0.8, 0), (0.8, 1.0, 2),
    ]  # fmt: skip
    assert bins[0].mean_predicted == pytest.approx(0.125)
    assert bins[0].observed_win_rate == 0.5
    assert bins[1].mean_predicted is None
    assert bins[4].mean_predicted == pytest.approx(0.95)
    assert bins[4].observed_win_rate == 0.5


# ------------------------------------------------------------------ the split in time


def test_the_latest_closed_deals_are_the_test_split() -> None:
    won, lost, open_ = DealStatus.WON, DealStatus.LOST, DealStatus.OPEN
    deals = (
        Deal("D1", "sales", "won", won, t("2025-01-01"), closed_at=t("2025-02-10")),
        Deal("D2", "sales", "won", won, t("2025-01-02")),  # closed by its history, 01-20
        Deal("D3", "sales", "lost", lost, t("2025-01-03")),  # no close time: its creation
        Deal("D4", "sales", "lost", lost, t("2025-01-04"), closed_at=t("2025-03-01")),
        Deal("D5", "sales", "won", won, t("2025-01-05"), closed_at=t("2025-01-15")),
        Deal("D6", "sales", "lost", lost, t("2025-01-06"), closed_at=t("2025-02-10")),
        Deal("D7", "sales", "won", won, t("2025-01-07"), closed_at=t("2025-01-08")),
        Deal("D8", "sales", "lost", lost, t("2025-01-08"), closed_at=t("2025-02-20")),
        Deal("D9", "sales", "new", open_, t("2025-01-09")),
    )
    changes = (
        StageChange("D2", None, "new", t("2025-01-02")),
        StageChange("D2", "new", "won", t("2025-01-20")),
    )
    closed = closed_deals(journeys(CrmData(deals, changes, (), (P,))))
    assert [c.deal.deal_id for c in closed] == ["D3", "D7", "D5", "D2", "D1", "D6", "D8", "D4"]
    assert [c.close_time_known for c in closed] == [False, True, True, True, True, True, True, True]
    train, test = time_split(closed, 0.25)
    assert [c.deal.deal_id for c in train] == ["D3", "D7", "D5", "D2", "D1", "D6"]
    assert [c.deal.deal_id for c in test] == ["D8", "D4"]
    train, test = time_split(closed, 0.3)  # floor(8 x 0.7) = 5 train
    assert [c.deal.deal_id for c in test] == ["D6", "D8", "D4"]


# ------------------------------------------------------------------ synthetic deals


def synthetic(
    seed: int = 7,
    closed: int = 300,
    open_: int = 10,
    win: dict[str, float] | None = None,
    fields: tuple[tuple[str, str], ...] = (),
) -> CrmData:
    """Deals created a day apart, half of them from referrals; source=referral is won 80% of the
    time, the others (ads, event, web) 20%. Owner and amount are noise."""
    rates = {"referral": 0.8, "ads": 0.2, "web": 0.2, "event": 0.2, **(win or {})}
    rng = random.Random(seed)
    start = t("2025-01-01")
    deals = []
    for i in range(closed + open_):
        created = start + timedelta(days=i)
        source = "referral" if rng.random() < 0.5 else rng.choice(["ads", "event", "web"])
        owner = rng.choice(["ann", "bob", "cy"])
        won = rng.random() < rates[source]
        is_open = i >= closed
        status = DealStatus.OPEN if is_open else (DealStatus.WON if won else DealStatus.LOST)
        deals.append(
            Deal(
                f"D{i:03d}",
                "sales",
                "new" if is_open else status.value,
                status,
                created,
                amount=float(rng.choice([500, 2000, 8000])),
                currency="EUR",
                owner=owner,
                source=source,
                closed_at=None if is_open else created + timedelta(days=rng.randint(5, 60)),
                fields=fields,
            )
        )
    return CrmData(tuple(deals), (), (), (P,))


def test_a_planted_source_is_found_by_both_models_on_the_later_deals() -> None:
    result = score_leads(synthetic(), as_of=AS_OF)
    evaluation = result.evaluation
    assert (evaluation.train.deals, evaluation.train.won, evaluation.train.lost) == (225, 117, 108)
    assert (evaluation.test.deals, evaluation.test.won, evaluation.test.lost) == (75, 38, 37)
    assert evaluation.train.last_closed <= evaluation.test.first_closed
    # half the deals are referrals, won 80% against 20%: a perfect ranking by source has an AUC
    # of 0.8 x 0.8 + (0.8 x 0.2 + 0.2 x 0.8) / 2 = 0.80, and both models come close to it
    assert round(evaluation.model.auc, 3) == 0.792
    assert round(evaluation.baseline.auc, 3) == 0.799
    assert round(evaluation.model.brier, 3) == 0.159
    assert round(evaluation.baseline.brier, 3) == 0.162
    assert [b.deals for b in evaluation.model.calibration] == [4, 31, 0, 35, 5]
    assert [b.deals for b in evaluation.baseline.calibration] == [9, 26, 0, 32, 8]
    assert result.features == (
        "source=ads", "source=event", "source=referral", "source=web",
        "owner=ann", "owner=bob", "owner=cy", "amount (log)",
    )  # fmt: skip
    assert len(result.scores) == 10
    assert [s.rank for s in result.scores] == list(range(1, 11))
    probabilities = [s.probability for s in result.scores]
    assert probabilities == sorted(probabilities, reverse=True)
    top = result.scores[0]
    assert top.deal.source == "referral"
    assert top.contributions[0].feature == "source=referral"
    assert top.contributions[0].log_odds > 1.5
    # the last-ranked open deals are not referrals
    assert all(s.deal.source != "referral" for s in result.scores[-3:])


def test_contributions_add_up_to_each_deals_log_odds() -> None:
    result = score_leads(synthetic(), as_of=AS_OF, top=100)
    intercepts = set()
    for score in result.scores:
        log_odds = math.log(score.probability / (1 - score.probability))
        intercepts.add(round(log_odds - sum(c.log_odds for c in score.contributions), 9))
    assert len(intercepts) == 1  # log-odds = intercept + the sum of coefficient x input


def test_as_of_leaves_out_later_deals_and_reopens_later_closes() -> None:
    data = synthetic()
    moment = t("2025-06-01")
    result = score_leads(data, as_of=moment)
    expected_closed = sum(
        1 for d in data.deals if d.created_at <= moment and d.closed_at and d.closed_at <= moment
    )
    assert result.closed_deals == expected_closed == 119
    expected_open = sum(
        1
        for d in data.deals
        if d.created_at <= moment and (d.closed_at is None or d.closed_at > moment)
    )
    assert len(result.scores) == expected_open == 33
    assert result.evaluation.test.last_closed <= moment


def test_export_columns_are_features_unless_they_look_like_the_outcome() -> None:
    fields = (("segment", "ent"), ("Won Date", "2025-03-01"), ("deal_probability", "90"))
    deal = synthetic(closed=1, open_=0, fields=fields).deals[0]
    features = deal_features(deal)
    names = [name for name, _ in features.categories]
    assert names == ["source", "campaign", "owner", "team", "pipeline", "currency", "field.segment"]
    result = score_leads(synthetic(fields=fields), as_of=AS_OF)
    assert "export columns left out because they may say how the deal ended: " \
        "Won Date, deal_probability" in result.notes  # fmt: skip
    # one segment for every deal says nothing, and is dropped like the pipeline and currency
    assert not any(f.startswith("field.") for f in result.features)
    ignored = score_leads(synthetic(), as_of=AS_OF, ignore=frozenset({"owner", "amount"}))
    assert ignored.features == ("source=ads", "source=event", "source=referral", "source=web")


def test_amounts_are_converted_with_the_settings_rate_and_fields_can_be_ignored() -> None:
    deal = Deal("X", "sales", "new", DealStatus.OPEN, AS_OF, amount=200.0, currency="USD",
                source="web", fields=(("segment", "smb"), ("region", "north")))  # fmt: skip
    assert deal_features(deal, rate=0.5).amount == 100.0
    assert deal_features(deal, rate=None).amount == 200.0  # no rate: as written
    ignored = deal_features(deal, ignore=frozenset({"segment", "field.region", "amount", "team"}))
    assert ignored.amount is None
    assert [n for n, _ in ignored.categories] == [
        "source", "campaign", "owner", "pipeline", "currency",
    ]  # fmt: skip


def test_rare_values_are_pooled_and_unseen_ones_join_them() -> None:
    data = synthetic(closed=40, open_=0)
    features = [deal_features(d) for d in data.deals]
    encoding = fit_encoding(features, min_count=7)
    kept = dict(encoding.kept)
    assert kept["owner"] == ("ann", "bob", "cy")  # 15, 15 and 10 deals
    assert kept["source"] == ("event", "referral", "(other)")  # web 6 and ads 5 pooled
    new = deal_features(Deal("X", "sales", "new", DealStatus.OPEN, AS_OF, source="fair"))
    assert encoding.categories(new)["source"] == "(other)"
    assert encoding.categories(new)["owner"] == "(other)"  # no owner, and none in training
    columns = encoding.columns
    assert columns[:3] == ("source=event", "source=referral", "source=(other)")
    row = encoding.matrix([new])[0]
    assert row[2] == 1.0 and row[0] == row[1] == 0.0
    assert all(row[3:6] == 0.0)  # owner=(other) has no column: every owner column is 0


def test_an_event_every_person_did_once_says_nothing_and_is_no_input() -> None:
    deals = [
        DealFeatures(f"D{i}", (("source", "ads" if i % 2 else "web"),), None,
                     (("signup", 1), ("pricing_view", i % 3)))
        for i in range(39)
    ]  # fmt: skip
    encoding = fit_encoding(deals)
    # signup (39 deals) and pricing_view (26) qualify, but signup's count is the same for all
    # 39 (its log's float spread is 3e-16, not 0): left out of both models
    assert encoding.event_names == ("pricing_view",)
    assert encoding.columns == ("source=ads", "source=web", "events.pricing_view (log)")
    assert encoding.categories(deals[1]) == {"source": "ads", "events.pricing_view": "1"}


# ------------------------------------------------------------------ refusals


def test_too_few_closed_deals_is_refused_with_the_numbers() -> None:
    with pytest.raises(FunnelscopeError) as error:
        score_leads(synthetic(closed=29, open_=3), as_of=AS_OF)
    assert str(error.value) == (
        "lead scoring needs at least 30 closed deals (won or lost) to train and test a model; "
        "as of 2026-01-01 there are 29 (18 won, 11 lost) and 3 open: load a CRM export with "
        "more closed deals (a longer history)"
    )


def test_a_split_with_one_outcome_is_refused_with_the_fix() -> None:
    data = synthetic(closed=40, open_=0)
    late = sorted(data.deals, key=lambda d: d.closed_at or d.created_at)[30:]
    won_late = {d.deal_id for d in late}
    deals = tuple(
        Deal(d.deal_id, d.pipeline, "won", DealStatus.WON, d.created_at, closed_at=d.closed_at,
             source=d.source)
        if d.deal_id in won_late else d
        for d in data.deals
    )  # fmt: skip
    with pytest.raises(FunnelscopeError) as error:
        score_leads(CrmData(deals, (), (), (P,)), as_of=AS_OF)
    assert str(error.value) == (
        "the test split (10 deals closed 2025-03-07 to 2025-04-08) has 10 won and 0 lost; the "
        "model and its AUC need both outcomes in each split: change --test-share (now 0.25) so "
        "that both splits hold won and lost deals, or load more history"
    )


def test_only_won_deals_and_bad_options_are_refused() -> None:
    data = synthetic(
        closed=40, open_=0, win=dict.fromkeys(["referral", "ads", "web", "event"], 1.0)
    )
    with pytest.raises(FunnelscopeError, match="all 40 closed deals were won; a score needs both"):
        score_leads(data, as_of=AS_OF)
    with pytest.raises(SpecError, match=r"--test-share: 1\.0 is not between 0 and 1"):
        score_leads(synthetic(), as_of=AS_OF, test_share=1.0)


# ------------------------------------------------------------------ the command


def _write_history(
    tmp_path: Path, closed: int = 48, open_: int = 4
) -> tuple[Path, Path, dict[str, dict[str, int]]]:
    """deals.csv and events.csv; each person views pricing 0-3 times before its deal is created
    (2 more when won) and once the day after; returns the counts before creation."""
    rng = random.Random(3)
    deals = ["deal_id,pipeline,stage,created_at,closed_at,amount,currency,owner,source,"
             "person_id,segment"]  # fmt: skip
    events = ["person_id,event,timestamp"]
    before: dict[str, dict[str, int]] = {}
    start = datetime(2025, 1, 1)
    for i in range(closed + open_):
        created = start + timedelta(days=2 * i)
        source = rng.choice(["referral", "ads", "web"])
        won = rng.random() < (0.8 if source == "referral" else 0.2)
        is_open = i >= closed
        stage = "demo" if is_open else ("won" if won else "lost")
        closes = "" if is_open else f"{created + timedelta(days=10):%Y-%m-%d}"
        deals.append(
            f"D{i:02d},sales,{stage},{created:%Y-%m-%d},{closes},{rng.choice([500, 2000])},EUR,"
            f"{rng.choice(['ann', 'bob'])},{source},p{i},{rng.choice(['smb', 'ent'])}"
        )
        views = rng.randint(0, 3) + (2 if won else 0)
        if views:
            before[f"D{i:02d}"] = {"pricing_view": views}
        for k in range(views):
            events.append(f"p{i},pricing_view,{created - timedelta(hours=k + 1):%Y-%m-%dT%H:%M:%S}")
        events.append(f"p{i},pricing_view,{created + timedelta(days=1):%Y-%m-%dT%H:%M:%S}")
    deals_path, events_path = tmp_path / "deals.csv", tmp_path / "events.csv"
    deals_path.write_text("\n".join(deals) + "\n")
    events_path.write_text("\n".join(events) + "\n")
    return deals_path, events_path, before


def test_the_command_scores_open_deals_with_events_before_creation(tmp_path: Path) -> None:
    deals_path, events_path, before = _write_history(tmp_path)
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    loaded = runner.invoke(cli, ["ingest", str(events_path), "--db", db])
    assert loaded.exit_code == 0, loaded.output
    loaded = runner.invoke(cli, ["pipeline", "load", str(deals_path), "--db", db])
    assert loaded.exit_code == 0, loaded.output
    # the event a day after creation is not counted: only those before it
    counts = events_before_creation(db, read_pipeline(db, settings_from(None)).deals)
    assert counts == before
    assert len(before) == 39
    out = runner.invoke(
        cli, ["pipeline", "score", "--db", db, "--as-of", "2026-01-01", "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    evaluation = result["evaluation"]
    assert (evaluation["train"]["deals"], evaluation["test"]["deals"]) == (36, 12)
    assert evaluation["train"]["won"] + evaluation["test"]["won"] == sum(
        1 for line in deals_path.read_text().splitlines() if ",won," in line
    )
    assert "events.pricing_view (log)" in result["features"]
    assert evaluation["model"]["auc"] > 0.7
    assert evaluation["baseline"]["auc"] > 0.7
    assert sorted(s["deal_id"] for s in result["scores"]) == ["D48", "D49", "D50", "D51"]
    closed_with_events = sum(1 for deal_id in before if int(deal_id[1:]) < 48)
    assert closed_with_events == 36
    assert result["notes"] == [
        "event counts before creation used for pricing_view (36 of 48 closed deals have events)"
    ]
    limited = runner.invoke(
        cli, ["pipeline", "score", "--db", db, "--as-of", "2026-01-01", "--format", "csv",
              "--limit", "2", "--top", "1"],
    )  # fmt: skip
    assert limited.exit_code == 0, limited.output
    lines = limited.output.splitlines()
    assert lines[0].startswith("rank,deal_id,name,pipeline,stage,owner,amount,currency,")
    assert lines[0].endswith("top_features")
    assert len(lines) == 3
    shown = runner.invoke(cli, ["pipeline", "score", "--db", db, "--as-of", "2026-01-01"])
    assert shown.exit_code == 0, shown.output
    assert "Open deals as of 2026-01-01" in shown.output


def test_the_command_refuses_a_short_history(tmp_path: Path) -> None:
    deals_path, _, _ = _write_history(tmp_path, closed=20, open_=1)
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    assert runner.invoke(cli, ["pipeline", "load", str(deals_path), "--db", db]).exit_code == 0
    out = runner.invoke(cli, ["pipeline", "score", "--db", db, "--format", "json"])
    assert out.exit_code == 1
    assert isinstance(out.exception, FunnelscopeError)  # main prints it as one line
    assert "lead scoring needs at least 30 closed deals" in str(out.exception)
    assert "there are 20 (7 won, 13 lost) and 1 open" in str(out.exception)
