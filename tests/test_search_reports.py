"""The search-marketing report set: deterministic, well-formed, its planted problems measure as
planted, and nothing else is broken.

Every rate here is measured straight from the generated Arrow tables (or the written files) with
numpy, not through any diagnosis code, so these tests check the generator on its own.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest

from funnelscope.demo.search_reports import (
    ORDER_LAG_PROBABILITIES,
    PlantedLeak,
    SearchReports,
    generate_search_reports,
)

START = date(2026, 8, 31)
END = date(2026, 11, 22)
DAYS = 84
BREAK = 56  # 2026-10-26
RECENT = DAYS - 28  # the last 28 days start here (the same day)
CAMPAIGNS = {
    "Spring-Brand", "Doors-Generic", "Doors-Premium", "Windows-Generic", "Windows-Premium",
    "Installation-Local", "Garage-Doors", "Repairs", "Competitors", "Autumn-Sale",
}  # fmt: skip
REPS = ("Anna", "Ben", "Chloe", "Dmitri", "Sam")
DEVICES = ("mobile", "desktop", "tablet")
Z = 4.0  # "within 4 standard errors"
SEEDS = (7, 11, 2026)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def reports(request: pytest.FixtureRequest) -> SearchReports:
    seed: int = request.param
    return generate_search_reports(seed)


@pytest.fixture(scope="module")
def seven() -> SearchReports:
    return generate_search_reports(7)


def column(table: pa.Table, name: str) -> npt.NDArray[np.generic]:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False))


def day_index(table: pa.Table, name: str) -> IntArray:
    """Days since START of a date32 or timestamp column."""
    values = table.column(name).to_numpy(zero_copy_only=False)
    days = values.astype("datetime64[D]") - np.datetime64(START.isoformat(), "D")
    return np.asarray(days.astype(np.int64))


def totals(keys: npt.NDArray[np.generic], values: npt.ArrayLike) -> dict[str, float]:
    """Sum of `values` per distinct key."""
    names, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=np.asarray(values, dtype=np.float64), minlength=len(names))
    return {str(k): float(s) for k, s in zip(names.tolist(), sums.tolist(), strict=True)}


def joined(*parts: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Element-wise "a|b|c" keys from equally long arrays."""
    keys = np.asarray(parts[0]).astype(str)
    for part in parts[1:]:
        keys = np.char.add(np.char.add(keys, "|"), np.asarray(part).astype(str))
    return keys


def below_by(rate: float, n: float, reference: float, n_ref: float, share: float = 0.9) -> float:
    """z of `rate` (out of n) against `share` x `reference` (out of n_ref), binomial errors on both:
    below -4 means "more than (1 - share) relative below, by more than 4 standard errors"."""
    variance = rate * (1 - rate) / n + share * share * reference * (1 - reference) / n_ref
    return (rate - share * reference) / math.sqrt(variance)


def z_against(successes: float, n: float, p: float) -> float:
    """z of the measured rate against a known probability `p`."""
    return (successes / n - p) / math.sqrt(p * (1 - p) / n)


def per_day(day: IntArray, values: npt.ArrayLike | None = None) -> FloatArray:
    """Sum of `values` (default: a count) by day index, 0..DAYS-1."""
    weights = None if values is None else np.asarray(values, dtype=np.float64)
    return np.bincount(day, weights=weights, minlength=DAYS).astype(np.float64)


def z_by_day(successes: FloatArray, trials: FloatArray, p: float) -> float:
    """z of the pooled rate sum(successes) / sum(trials) against `p`, its standard error from the
    spread of the days around it (a ratio estimator clustered by day): it covers the
    day-to-day wobble of the generating rates as well as the binomial noise."""
    rate = successes.sum() / trials.sum()
    residual = successes - rate * trials
    days = len(trials)
    se = math.sqrt(days / (days - 1) * float(residual @ residual)) / trials.sum()
    return float((rate - p) / se)


def order_completeness(inquiry_days: IntArray) -> float:
    """Expected share of orders dated by END, for inquiries received on `inquiry_days`."""
    lag = np.asarray(ORDER_LAG_PROBABILITIES)
    by_day = np.cumsum(lag)[np.minimum(DAYS - 1 - inquiry_days, len(lag) - 1)]
    return float(by_day.mean())


def leak(reports: SearchReports, name: str) -> PlantedLeak:
    return next(p for p in reports.planted if p.name == name)


# Determinism and layout -------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = generate_search_reports(7).write(tmp_path / "a")
    again = generate_search_reports(7).write(tmp_path / "b")
    other = generate_search_reports(8).write(tmp_path / "c")
    assert [p.name for p in first] == ["ads.csv", "analytics.csv", "inquiries.csv", "orders.csv"]
    for a, b, c in zip(first, again, other, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes() != c.read_bytes()


def test_default_seed_is_seven(seven: SearchReports) -> None:
    assert generate_search_reports().inquiries.equals(seven.inquiries)
    assert (seven.start, seven.end) == (START, END)


@pytest.fixture(scope="module")
def written(seven: SearchReports, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths = seven.write(tmp_path_factory.mktemp("reports"))
    return {p.name: p for p in paths}


def test_ads_layout_and_totals(seven: SearchReports, written: dict[str, Path]) -> None:
    text = written["ads.csv"].read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[0] == "Keyword report"
    assert lines[1] == "31 August 2026 - 22 November 2026"
    assert lines[2] == "Day,Campaign,Ad group,Keyword,Match type,Device,Impressions,Clicks,Cost"
    assert lines[-1] == ""  # the file ends with a newline
    rows = list(csv.reader(lines[3:-2]))
    assert len(rows) == seven.ads.num_rows
    keywords = {r[3] for r in rows}
    assert len(rows) == DAYS * len(keywords) * len(DEVICES)
    assert {r[1] for r in rows} == CAMPAIGNS
    assert {r[4] for r in rows} <= {"exact", "phrase", "broad"}
    assert {r[5] for r in rows} == set(DEVICES)
    assert {r[0] for r in rows} == {(START + timedelta(days=d)).isoformat() for d in range(DAYS)}
    money = re.compile(r"\d{1,3}(,\d{3})*\.\d\d")
    assert all(money.fullmatch(r[8]) for r in rows)
    for raw, row in zip(lines[3:-2], rows, strict=True):  # quoted exactly when it has a comma
        assert raw.endswith(f'"{row[8]}"') == ("," in row[8])
    impressions = sum(int(r[6]) for r in rows)
    clicks = sum(int(r[7]) for r in rows)
    cents = sum(int(r[8].replace(",", "").replace(".", "")) for r in rows)
    cost = f"{cents // 100:,}.{cents % 100:02d}"
    assert lines[-2] == f'Total,,,,,,{impressions},{clicks},"{cost}"'
    assert impressions == sum(seven.ads.column("Impressions").to_pylist())
    assert cents == round(sum(seven.ads.column("Cost").to_pylist()) * 100)


def _text(value: object) -> str:
    """A table value as the files write it."""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # datetimes: "2026-09-03 14:22:05"


def test_every_table_is_exactly_its_file(seven: SearchReports, written: dict[str, Path]) -> None:
    assert seven.analytics.column_names == [
        "Date",
        "Session campaign",
        "Device category",
        "Sessions",
    ]
    assert seven.inquiries.column_names == [
        "Inquiry ID", "Received at", "Campaign", "Device", "Channel", "Assigned rep"
    ]  # fmt: skip
    assert seven.orders.column_names == ["Order ID", "Order date", "Campaign", "Rep", "Revenue"]
    for name, table in [
        ("analytics.csv", seven.analytics),
        ("inquiries.csv", seven.inquiries),
        ("orders.csv", seven.orders),
    ]:
        with written[name].open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == table.column_names
        expected = [[_text(v) for v in row.values()] for row in table.to_pylist()]
        assert rows[1:] == expected
    inquiry = written["inquiries.csv"].read_text(encoding="utf-8").split("\n")[1].split(",")
    assert re.fullmatch(r"INQ-\d+", inquiry[0])
    assert re.fullmatch(r"2026-08-31 \d\d:\d\d:\d\d", inquiry[1])
    order = written["orders.csv"].read_text(encoding="utf-8").split("\n")[1].split(",")
    assert re.fullmatch(r"\d+\.\d\d", order[4])


def test_analytics_campaigns_are_the_ads_campaigns_in_lower_case(reports: SearchReports) -> None:
    ads = {str(c) for c in column(reports.ads, "Campaign")}
    analytics = {str(c) for c in column(reports.analytics, "Session campaign")}
    assert ads == CAMPAIGNS
    assert analytics == {c.lower() for c in ads}
    assert reports.analytics.num_rows == DAYS * len(CAMPAIGNS) * len(DEVICES)


def test_keywords_are_unique_in_the_account(reports: SearchReports) -> None:
    pairs = {
        (str(k), str(c))
        for k, c in zip(
            column(reports.ads, "Keyword"), column(reports.ads, "Campaign"), strict=True
        )
    }
    keywords = [k for k, _ in pairs]
    assert len(keywords) == len(set(keywords))
    per_campaign = totals(np.asarray([c for _, c in pairs]), np.ones(len(pairs)))
    assert all(4 <= n <= 6 for n in per_campaign.values())


def test_inquiry_log_values(reports: SearchReports) -> None:
    q = reports.inquiries
    ids = column(q, "Inquiry ID")
    assert len(set(ids.tolist())) == len(ids)
    assert set(column(q, "Channel").tolist()) == {"chat", "phone", "form"}
    assert set(column(q, "Assigned rep").tolist()) == set(REPS)
    assert set(column(q, "Device").tolist()) == set(DEVICES)
    days = day_index(q, "Received at")
    assert days.min() == 0 and days.max() == DAYS - 1
    # Reps are drawn uniformly: each gets a fifth of the inquiries, up to 4 standard errors.
    n = len(ids)
    for count in totals(column(q, "Assigned rep"), np.ones(n)).values():
        assert abs(z_against(count, n, 0.2)) < Z


def test_every_order_comes_from_an_earlier_inquiry(reports: SearchReports) -> None:
    """Per campaign and rep, orders can be paired with distinct inquiries received no later:
    the k-th earliest order is not before the k-th earliest inquiry (and none after END)."""
    inquiries: dict[tuple[str, str], list[int]] = defaultdict(list)
    q = reports.inquiries
    for key, day in zip(
        zip(column(q, "Campaign"), column(q, "Assigned rep"), strict=True),
        day_index(q, "Received at").tolist(),
        strict=True,
    ):
        inquiries[(str(key[0]), str(key[1]))].append(day)
    orders: dict[tuple[str, str], list[int]] = defaultdict(list)
    o = reports.orders
    order_days = day_index(o, "Order date")
    assert order_days.min() >= 0 and order_days.max() <= DAYS - 1
    for c, r, day in zip(column(o, "Campaign"), column(o, "Rep"), order_days.tolist(), strict=True):
        orders[(str(c), str(r))].append(day)
    assert set(orders) <= set(inquiries)
    for key, dates in orders.items():
        sources = sorted(inquiries[key])
        assert len(dates) <= len(sources)
        assert all(o >= i for o, i in zip(sorted(dates), sources, strict=False))
    ids = column(o, "Order ID")
    assert len(set(ids.tolist())) == len(ids)
    assert np.all(np.diff(order_days) >= 0)  # the order system lists orders by date


def test_visits_never_exceed_clicks(reports: SearchReports) -> None:
    ads, analytics = reports.ads, reports.analytics
    ad_campaign = np.char.lower(column(ads, "Campaign").astype(str))
    ad_key = joined(day_index(ads, "Day"), ad_campaign, column(ads, "Device"))
    visit_key = joined(
        day_index(analytics, "Date"),
        column(analytics, "Session campaign"),
        column(analytics, "Device category"),
    )
    clicks = totals(ad_key, column(ads, "Clicks"))
    visits = totals(visit_key, column(analytics, "Sessions"))
    assert set(clicks) == set(visits)
    assert all(visits[k] <= clicks[k] for k in visits)
    assert any(visits[k] < clicks[k] for k in visits)


def test_volumes_are_plausible(seven: SearchReports) -> None:
    per_day = column(seven.ads, "Impressions").sum() / DAYS
    clicks_per_day = column(seven.ads, "Clicks").sum() / DAYS
    assert 30_000 < per_day < 50_000
    assert 1_500 < clicks_per_day < 2_500
    recent_orders = int((day_index(seven.orders, "Order date") >= RECENT).sum())
    assert 500 <= recent_orders <= 800
    device_share = totals(column(seven.ads, "Device"), column(seven.ads, "Impressions"))
    total = sum(device_share.values())
    for device, share in zip(DEVICES, (0.58, 0.36, 0.06), strict=True):
        assert abs(device_share[device] / total - share) < 0.01
    revenue = column(seven.orders, "Revenue").astype(np.float64)
    assert 800 < float(np.median(revenue)) < 1_600


# The planted problems ---------------------------------------------------------------------------


def test_planted_list(reports: SearchReports) -> None:
    planted = reports.planted
    assert {p.name for p in planted} == {"landing_page", "broad_keyword", "weak_rep"}
    lost = [p.expected_lost_orders for p in planted]
    assert lost == sorted(lost, reverse=True)
    assert all(a >= 1.3 * b for a, b in itertools.pairwise(lost))
    assert all(50 <= x <= 150 for x in lost)
    landing, broad, rep = (leak(reports, n) for n in ("landing_page", "broad_keyword", "weak_rep"))
    assert (landing.layer, landing.from_stage, landing.segment) == (
        "visits", "clicks", {"campaign": "Spring-Brand"}
    )  # fmt: skip
    assert (broad.layer, broad.from_stage, broad.segment) == (
        "clicks", "impressions", {"keyword": "door"}
    )  # fmt: skip
    assert (rep.layer, rep.from_stage, rep.segment) == ("orders", "inquiries", {"rep": "Sam"})
    assert landing.start == date(2026, 10, 26)
    assert broad.start == START and rep.start == START
    assert all(p.true_rate < p.normal_rate and p.description for p in planted)


def test_landing_page_arrival_before_and_after(reports: SearchReports) -> None:
    planted = leak(reports, "landing_page")
    ads, analytics = reports.ads, reports.analytics
    brand_ads = column(ads, "Campaign") == "Spring-Brand"
    brand_visits = column(analytics, "Session campaign") == "spring-brand"
    clicks = per_day(day_index(ads, "Day")[brand_ads], column(ads, "Clicks")[brand_ads])
    visits = per_day(
        day_index(analytics, "Date")[brand_visits], column(analytics, "Sessions")[brand_visits]
    )
    assert planted.true_rate == 0.45 and planted.normal_rate == 0.80
    before, after = slice(0, BREAK), slice(BREAK, DAYS)
    assert abs(z_by_day(visits[before], clicks[before], planted.normal_rate)) < Z
    assert abs(z_by_day(visits[after], clicks[after], planted.true_rate)) < Z
    # The break is a step on 2026-10-26, not a slide: each week after it is as low as the rest.
    weekly = visits[BREAK:].reshape(4, 7).sum(axis=1) / clicks[BREAK:].reshape(4, 7).sum(axis=1)
    assert np.all(np.abs(weekly - planted.true_rate) < 0.05)
    assert visits[BREAK - 7 : BREAK].sum() / clicks[BREAK - 7 : BREAK].sum() > 0.75


def test_broad_keyword_ctr_against_the_other_keywords(reports: SearchReports) -> None:
    planted = leak(reports, "broad_keyword")
    keyword = column(reports.ads, "Keyword")
    impressions = column(reports.ads, "Impressions").astype(np.float64)
    clicks = column(reports.ads, "Clicks").astype(np.float64)
    day = day_index(reports.ads, "Day")
    door = keyword == "door"
    assert set(column(reports.ads, "Match type")[door].tolist()) == {"broad"}
    assert set(column(reports.ads, "Campaign")[door].tolist()) == {"Doors-Generic"}
    assert 7_000 < impressions[door].sum() / DAYS < 9_000
    assert planted.true_rate == pytest.approx(0.006)
    door_clicks, door_impressions = (
        per_day(day[door], clicks[door]),
        per_day(day[door], impressions[door]),
    )
    assert abs(z_by_day(door_clicks, door_impressions, planted.true_rate)) < Z
    ctr = totals(keyword[~door], clicks[~door])
    shown = totals(keyword[~door], impressions[~door])
    assert all(0.03 <= ctr[k] / shown[k] <= 0.11 for k in ctr)  # natural CTRs: 3-8%, brand ~10%
    generic = (column(reports.ads, "Campaign") == "Doors-Generic") & ~door
    peer_clicks = per_day(day[generic], clicks[generic])
    assert (
        abs(z_by_day(peer_clicks, per_day(day[generic], impressions[generic]), planted.normal_rate))
        < Z
    )


def test_weak_rep_order_rate_against_the_others(reports: SearchReports) -> None:
    planted = leak(reports, "weak_rep")
    q_rep = column(reports.inquiries, "Assigned rep")
    q_day = day_index(reports.inquiries, "Received at")
    o_rep = column(reports.orders, "Rep")
    o_day = day_index(reports.orders, "Order date")
    assert planted.true_rate == 0.12 and planted.normal_rate == 0.30
    for sam in (True, False):
        inquiries = (q_rep == "Sam") == sam
        orders = (o_rep == "Sam") == sam
        rate = planted.true_rate if sam else 0.30  # the others: 0.29-0.32, 0.30 on average
        # Orders of the last days' inquiries may fall after END: expect only their dated share.
        rate *= order_completeness(q_day[inquiries])
        assert abs(z_by_day(per_day(o_day[orders]), per_day(q_day[inquiries]), rate)) < Z
    campaigns = set(column(reports.inquiries, "Campaign")[q_rep == "Sam"].tolist())
    assert campaigns == CAMPAIGNS  # Sam takes inquiries from every campaign


def test_expected_lost_orders_agree_with_the_measured_volumes(reports: SearchReports) -> None:
    """A rough re-estimate: the last 28 days' volume x the rate gap x the downstream rates
    measured over all 12 weeks; within 20% of the generator's expected values."""
    ads, analytics, q, o = reports.ads, reports.analytics, reports.inquiries, reports.orders
    recent_ads = day_index(ads, "Day") >= RECENT
    q_day = day_index(q, "Received at")
    order_rate = o.num_rows / q.num_rows / order_completeness(q_day)

    def campaign_rates(name: str) -> tuple[float, float]:
        """Arrival (weeks 1-8: before the break) and inquiry rate (all weeks) of a campaign."""
        own = (column(ads, "Campaign") == name) & (day_index(ads, "Day") < BREAK)
        own_visits = column(analytics, "Session campaign") == name.lower()
        early = own_visits & (day_index(analytics, "Date") < BREAK)
        visits = column(analytics, "Sessions")
        arrival = visits[early].sum() / column(ads, "Clicks")[own].sum()
        return float(arrival), float(
            (column(q, "Campaign") == name).sum() / visits[own_visits].sum()
        )

    landing = leak(reports, "landing_page")
    brand = recent_ads & (column(ads, "Campaign") == "Spring-Brand")
    _, brand_inquiry = campaign_rates("Spring-Brand")
    lost_visits = column(ads, "Clicks")[brand].sum() * (landing.normal_rate - landing.true_rate)
    # The break starts the window: its last days' orders may fall after END, none come earlier.
    lag_loss = order_completeness(np.arange(RECENT, DAYS))
    estimate = lost_visits * brand_inquiry * order_rate * lag_loss
    assert estimate == pytest.approx(landing.expected_lost_orders, rel=0.2)

    broad = leak(reports, "broad_keyword")
    door = recent_ads & (column(ads, "Keyword") == "door")
    arrival, inquiry = campaign_rates("Doors-Generic")
    lost_clicks = column(ads, "Impressions")[door].sum() * (broad.normal_rate - broad.true_rate)
    estimate = lost_clicks * arrival * inquiry * order_rate
    assert estimate == pytest.approx(broad.expected_lost_orders, rel=0.2)

    rep = leak(reports, "weak_rep")
    sam_inquiries = ((q_day >= RECENT) & (column(q, "Assigned rep") == "Sam")).sum()
    estimate = sam_inquiries * (rep.normal_rate - rep.true_rate)
    assert estimate == pytest.approx(rep.expected_lost_orders, rel=0.2)


# Healthy elsewhere ------------------------------------------------------------------------------


def _recent_vs_history(
    keys: npt.NDArray[np.generic],
    recent: npt.NDArray[np.bool_],
    trials: npt.ArrayLike,
    successes: npt.ArrayLike,
) -> dict[str, float]:
    """Per key: z of the last 28 days' rate against 0.9 x its rate in weeks 1-8."""
    n_recent, k_recent = (
        totals(keys[recent], np.asarray(trials)[recent]),
        totals(keys[recent], np.asarray(successes)[recent]),
    )
    n_old, k_old = (
        totals(keys[~recent], np.asarray(trials)[~recent]),
        totals(keys[~recent], np.asarray(successes)[~recent]),
    )
    return {
        key: below_by(
            k_recent[key] / n_recent[key], n_recent[key], k_old[key] / n_old[key], n_old[key]
        )
        for key in n_recent
    }


def _against_peers(
    keys: npt.NDArray[np.generic], trials: npt.ArrayLike, successes: npt.ArrayLike
) -> dict[str, float]:
    """Per key: z of its rate against 0.9 x the pooled rate of all the other keys."""
    n, k = totals(keys, trials), totals(keys, successes)
    n_all, k_all = sum(n.values()), sum(k.values())
    return {
        key: below_by(k[key] / n[key], n[key], (k_all - k[key]) / (n_all - n[key]), n_all - n[key])
        for key in n
    }


def test_other_campaigns_arrival_holds_up(reports: SearchReports) -> None:
    ads, analytics = reports.ads, reports.analytics
    ad_campaign = np.char.lower(column(ads, "Campaign").astype(str))
    ad_period = np.where(day_index(ads, "Day") >= RECENT, "new", "old")
    clicks = totals(joined(ad_campaign, ad_period), column(ads, "Clicks"))
    period = np.where(day_index(analytics, "Date") >= RECENT, "new", "old")
    visits = totals(
        joined(column(analytics, "Session campaign"), period), column(analytics, "Sessions")
    )
    for campaign in {c.lower() for c in CAMPAIGNS}:
        new, old = f"{campaign}|new", f"{campaign}|old"
        z = below_by(visits[new] / clicks[new], clicks[new], visits[old] / clicks[old], clicks[old])
        assert (z < -Z) == (campaign == "spring-brand"), (campaign, z)


def test_no_other_keyword_ctr_is_below_its_campaign_peers(reports: SearchReports) -> None:
    """Keyword CTRs differ by campaign (brand ~10%, competitors ~3.4%); within a campaign they
    are alike, except for "door"."""
    ads = reports.ads
    keyword, campaign = column(ads, "Keyword"), column(ads, "Campaign")
    impressions, clicks = column(ads, "Impressions"), column(ads, "Clicks")
    flagged: set[str] = set()
    for name in CAMPAIGNS:
        own = campaign == name
        peers = own & (keyword != "door")
        z = _against_peers(keyword[peers], impressions[peers], clicks[peers])
        flagged |= {k for k, value in z.items() if value < -Z}
        door = own & (keyword == "door")
        if door.any():  # and "door" is far below them
            n_door, n_peers = float(impressions[door].sum()), float(impressions[peers].sum())
            door_ctr = clicks[door].sum() / n_door
            assert below_by(door_ctr, n_door, clicks[peers].sum() / n_peers, n_peers) < -Z
    assert flagged == set()
    recent = day_index(ads, "Day") >= RECENT
    z_history = _recent_vs_history(keyword.astype(str), recent, impressions, clicks)
    assert {k for k, value in z_history.items() if value < -Z} == set()


def test_no_other_rep_sells_worse_than_the_others(reports: SearchReports) -> None:
    q_rep, o_rep = column(reports.inquiries, "Assigned rep"), column(reports.orders, "Rep")
    inquiries, orders = totals(q_rep, np.ones(len(q_rep))), totals(o_rep, np.ones(len(o_rep)))
    for rep in REPS:
        peers = [r for r in REPS if r not in (rep, "Sam")]
        n_peers = sum(inquiries[r] for r in peers)
        peer_rate = sum(orders[r] for r in peers) / n_peers
        z = below_by(orders[rep] / inquiries[rep], inquiries[rep], peer_rate, n_peers)
        assert (z < -Z) == (rep == "Sam"), (rep, z)


def test_no_other_segment_drifts_or_lags(reports: SearchReports) -> None:
    """Inquiry rate by campaign (vs its own weeks 1-8) and each rate by device (vs the other
    devices) stay within 10% relative, up to 4 standard errors."""
    analytics, q, ads = reports.analytics, reports.inquiries, reports.ads
    visit_key = joined(
        column(analytics, "Session campaign"),
        np.where(day_index(analytics, "Date") >= RECENT, "new", "old"),
    )
    inquiry_key = joined(
        np.char.lower(column(q, "Campaign").astype(str)),
        np.where(day_index(q, "Received at") >= RECENT, "new", "old"),
    )
    visits = totals(visit_key, column(analytics, "Sessions"))
    inquiries = totals(inquiry_key, np.ones(q.num_rows))
    for campaign in {c.lower() for c in CAMPAIGNS}:
        new, old = f"{campaign}|new", f"{campaign}|old"
        rate_new, rate_old = inquiries[new] / visits[new], inquiries[old] / visits[old]
        assert below_by(rate_new, visits[new], rate_old, visits[old]) > -Z, campaign

    device = column(ads, "Device")
    ctr = _against_peers(device, column(ads, "Impressions"), column(ads, "Clicks"))
    door = column(ads, "Keyword") == "door"  # its CTR is not the devices' doing
    ctr_no_door = _against_peers(
        device[~door], column(ads, "Impressions")[~door], column(ads, "Clicks")[~door]
    )
    device_clicks = totals(device, column(ads, "Clicks"))
    device_visits = totals(column(analytics, "Device category"), column(analytics, "Sessions"))
    device_inquiries = totals(column(q, "Device"), np.ones(q.num_rows))
    all_clicks, all_visits = sum(device_clicks.values()), sum(device_visits.values())
    all_inquiries = sum(device_inquiries.values())
    for d in DEVICES:
        assert ctr[d] > -Z and ctr_no_door[d] > -Z
        c, v, i = device_clicks[d], device_visits[d], device_inquiries[d]
        assert below_by(v / c, c, (all_visits - v) / (all_clicks - c), all_clicks - c) > -Z
        assert below_by(i / v, v, (all_inquiries - i) / (all_visits - v), all_visits - v) > -Z
