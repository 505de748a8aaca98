"""docs/semantics.md, "Marketing funnels from report counts": one test (or more) per sentence,
on report files small enough to count by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelscope.analyses.marketing.diagnosis import diagnose_report
from funnelscope.analyses.marketing.knowledge import load_knowledge
from funnelscope.analyses.marketing.leaks import DiagnoseOptions, Leak
from funnelscope.analyses.marketing.metrics import metrics
from funnelscope.analyses.marketing.report import ReportSet, diagnosis_input, load_report_set
from funnelscope.analyses.marketing.whatif import what_if
from funnelscope.errors import SpecError
from funnelscope.stats import (
    Proportion,
    benjamini_hochberg,
    compare_to_reference,
    dispersion,
    wilson_interval,
)

KNOWLEDGE = load_knowledge()
NO_RANGES = DiagnoseOptions(ranges={})


def write(directory: Path, name: str, rows: list[str]) -> Path:
    path = directory / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def reports(*paths: Path, **kwargs: object) -> ReportSet:
    return load_report_set([str(p) for p in paths], **kwargs)  # type: ignore[arg-type]


def total(report: ReportSet, **kwargs: object) -> dict[str, object]:
    rows, _ = metrics(report, **kwargs)  # type: ignore[arg-type]
    assert len(rows) == 1
    return rows[0].to_dict()


def only(leaks: list[Leak] | tuple[Leak, ...], layer: str) -> list[Leak]:
    return [leak for leak in leaks if leak.layer == layer]


# --- [M] reading and joining ---------------------------------------------------------------


def test_m1_a_measure_in_two_files_is_an_error_fixed_by_drop(tmp_path: Path) -> None:
    ads = write(tmp_path, "ads.csv", ["date,campaign,clicks", "2026-11-02,A,100"])
    web = write(tmp_path, "web.csv", ["date,campaign,clicks,visits", "2026-11-02,A,90,80"])
    with pytest.raises(SpecError) as error:
        reports(ads, web)
    message = str(error.value)
    assert "ads.csv" in message and "web.csv" in message and "--drop web.csv:clicks" in message
    fixed = reports(ads, web, drop={"web.csv": ["clicks"]})
    assert fixed.provider == {"clicks": 0, "visits": 1}
    assert total(fixed)["counts"] == {"clicks": 100.0, "visits": 80.0}


def test_m2_values_match_ignoring_case_and_spaces_shown_as_first_stage_file(
    tmp_path: Path,
) -> None:
    web = write(tmp_path, "web.csv", ["date,campaign,sessions", "2026-11-02, spring-brand ,80"])
    ads = write(tmp_path, "ads.csv", ["date,campaign,clicks", "2026-11-02,Spring-Brand,100"])
    report = reports(web, ads)  # the later stage's file first: spelling still from ads
    rows, _ = metrics(report, by=("campaign",))
    assert [(r.group, r.counts) for r in rows] == [
        ({"campaign": "Spring-Brand"}, {"clicks": 100.0, "visits": 80.0})
    ]


def test_m3_a_stage_whose_file_lacks_the_dimension_is_not_available(tmp_path: Path) -> None:
    ads = write(
        tmp_path,
        "ads.csv",
        ["date,campaign,keyword,clicks", "2026-11-02,A,door,100", "2026-11-02,A,doors,50"],
    )
    web = write(tmp_path, "web.csv", ["date,campaign,visits", "2026-11-02,A,120"])
    report = reports(ads, web)
    rows, notes = metrics(report, by=("keyword",))
    assert [(r.group["keyword"], r.counts) for r in rows] == [
        ("door", {"clicks": 100.0, "visits": None}),
        ("doors", {"clicks": 50.0, "visits": None}),
    ]
    assert [n.replace(f"{tmp_path}/", "") for n in notes] == [
        "visits not broken down by keyword: web.csv has no such column"
    ]
    cells = {c.layer.key: c for c in diagnosis_input(report, "week", 1, 0).layers}
    assert set(cells["clicks"].dims) == {"campaign", "keyword"}
    assert set(cells["visits"].dims) == {"campaign"}


def test_m4_unmatched_rows_still_count_and_are_reported(tmp_path: Path) -> None:
    leads = write(
        tmp_path,
        "leads.csv",
        ["date,campaign,inquiries", "2026-11-02,A,10", "2026-11-03,A,10", "2026-11-02,Brand,5"],
    )
    orders = write(
        tmp_path,
        "orders.csv",
        [
            "date,campaign,orders",
            "2026-11-02,A,3",
            "2026-11-04,A,2",  # no inquiries row that day
            "2026-11-02,Brnd,1",  # a campaign the inquiry file never has
        ],
    )
    report = reports(leads, orders)
    assert total(report)["counts"] == {"inquiries": 25.0, "orders": 6.0}
    texts = [u.text().replace(f"{tmp_path}/", "") for u in report.unmatched]
    assert texts == [
        "leads.csv: 1 row (inquiries 5) have a campaign that orders.csv never has: 'Brand' "
        "(did you mean 'Brnd'?)",
        "orders.csv: 1 row (orders 1) have a campaign that leads.csv never has: 'Brnd' "
        "(did you mean 'Brand'?)",
        "orders.csv: 1 row (orders 2) have a date and key that leads.csv lacks, e.g. 2026-11-04/A",
    ]


def test_m5_to_counts_without_from_counts_are_left_out_of_the_rate(tmp_path: Path) -> None:
    ads = write(tmp_path, "ads.csv", ["date,campaign,clicks", "2026-11-02,A,100"])
    web = write(
        tmp_path, "web.csv", ["date,campaign,visits", "2026-11-02,A,80", "2026-11-02,newsletter,40"]
    )
    data = diagnosis_input(reports(ads, web), "week", 1, 0)
    visits = next(c for c in data.layers if c.layer.key == "visits")
    assert (visits.n.sum(), visits.k.sum()) == (100.0, 80.0)
    assert data.notes == (
        "visits: 40 of 120 are in campaign groups with no clicks; they are left out of the "
        "clicks -> visits rate",
    )


def test_m6_a_rate_is_a_ratio_of_sums_with_a_wilson_interval(tmp_path: Path) -> None:
    ads = write(
        tmp_path, "ads.csv", ["date,clicks,visits", "2026-11-02,100,50", "2026-11-03,300,270"]
    )
    row = total(reports(ads))
    [arrival, overall] = row["rates"]  # type: ignore[misc]
    assert arrival["value"] == 320 / 400  # not (0.5 + 0.9) / 2
    # The Wilson bounds solve (p_hat - p)^2 = z^2 p (1 - p) / n for p.
    z, n, p_hat = 1.959963984540054, 400, 0.8
    a, b, c = 1 + z * z / n, -(2 * p_hat + z * z / n), p_hat * p_hat
    roots = sorted(((-b - s * math.sqrt(b * b - 4 * a * c)) / (2 * a)) for s in (1, -1))
    assert arrival["low"] == pytest.approx(roots[0], abs=1e-12)
    assert arrival["high"] == pytest.approx(roots[1], abs=1e-12)
    assert overall["value"] == arrival["value"]
    assert wilson_interval(Proportion(100, 120)) is None  # visits can outnumber clicks


def test_m7_weeks_start_on_monday_and_months_are_year_month(tmp_path: Path) -> None:
    ads = write(
        tmp_path,
        "ads.csv",
        ["date,clicks,visits", "2026-11-01,10,5", "2026-11-02,10,6", "2026-12-01,10,7"],
    )
    report = reports(ads)
    weeks, _ = metrics(report, grain="week")
    assert [r.group["period"] for r in weeks] == ["2026-10-26", "2026-11-02", "2026-11-30"]
    months, _ = metrics(report, grain="month")
    assert [(r.group["period"], r.counts["visits"]) for r in months] == [
        ("2026-11", 11.0),
        ("2026-12", 7.0),
    ]
    data = diagnosis_input(report, "week", current=1, baseline=2)
    p = data.periods
    assert p.labels == ("2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23",
                        "2026-11-30")  # fmt: skip
    assert [p.labels[i] for i in p.baseline] == ["2026-11-16", "2026-11-23"]  # empty weeks count
    assert p.describe(p.current) == "1 week (2026-11-30..2026-12-06)"


def test_m8_a_totals_row_and_a_bad_row_are_set_aside_the_rest_counts(tmp_path: Path) -> None:
    ads = write(
        tmp_path,
        "ads.csv",
        [
            "Campaign report",
            "date,campaign,impressions,clicks",
            "2026-11-02,A,1000,50",
            "2026-11-02,B,1x00,40",
            "2026-11-03,B,500,20",
            "Total,,2500,110",
        ],
    )
    report = reports(ads)
    assert total(report)["counts"] == {"impressions": 1500.0, "clicks": 70.0}
    rejected = report.sources[0].rejected
    assert [(r.line, r.field, r.value) for r in rejected] == [
        (4, "impressions", "1x00"),
        (6, "date", "Total"),
    ]
    assert "totals row" in rejected[1].reason and rejected[0].fix


def test_m9_money_is_a_ratio_of_sums_and_none_without_a_divisor(tmp_path: Path) -> None:
    ads = write(
        tmp_path,
        "ads.csv",
        ["date,impressions,clicks,cost", "2026-11-02,20000,400,500", "2026-11-03,0,0,100"],
    )
    web = write(tmp_path, "web.csv", ["date,visits", "2026-11-02,300"])
    leads = write(tmp_path, "leads.csv", ["date,inquiries", "2026-11-02,30"])
    orders = write(tmp_path, "orders.csv", ["date,orders,revenue", "2026-11-02,6,1800"])
    money = total(reports(ads, web, leads, orders))["money"]
    assert money == {
        "cpm": 600 / 20000 * 1000,
        "cpc": 600 / 400,
        "cost_per_visit": 600 / 300,
        "cost_per_inquiry": 600 / 30,
        "cpa": 600 / 6,
        "revenue_per_order": 1800 / 6,
        "roas": 1800 / 600,
    }
    free = write(tmp_path, "free.csv", ["date,clicks,visits,cost", "2026-11-02,0,0,5"])
    assert total(reports(free))["money"] == {"cpc": None, "cpa": None}


# --- [D] diagnosis --------------------------------------------------------------------------

WEEKS = ["2026-09-07", "2026-09-14", "2026-09-21", "2026-09-28", "2026-10-05", "2026-10-12"]
WOBBLE = [0.0, 0.01, -0.01, 0.005, -0.005, 0.0]  # natural week-to-week spread


def arrival_files(
    directory: Path, broken: dict[str, float], campaigns: int = 5, weeks_broken: int = 2
) -> tuple[Path, Path]:
    """Clicks and visits per week x campaign x device; arrival 0.8 (wobbling), except the
    `broken` campaigns in the last `weeks_broken` weeks."""
    ads = ["date,campaign,device,clicks"]
    web = ["date,campaign,device,visits"]
    for w, week in enumerate(WEEKS):
        for c in range(1, campaigns + 1):
            name = f"C{c}"
            for d, device in enumerate(("mobile", "desktop")):
                clicks = 1000 + 100 * c + 300 * d
                rate = 0.8 + WOBBLE[(w + c + d) % len(WOBBLE)]
                if name in broken and w >= len(WEEKS) - weeks_broken:
                    rate = broken[name]
                ads.append(f"{week},{name},{device},{clicks}")
                web.append(f"{week},{name},{device},{round(clicks * rate)}")
    return write(directory, "ads.csv", ads), write(directory, "web.csv", web)


def test_d1_current_is_the_last_periods_and_baseline_the_ones_before(tmp_path: Path) -> None:
    data = diagnosis_input(reports(*arrival_files(tmp_path, {})), "week", current=2, baseline=3)
    p = data.periods
    assert [p.labels[i] for i in p.current] == ["2026-10-05", "2026-10-12"]
    assert [p.labels[i] for i in p.baseline] == ["2026-09-14", "2026-09-21", "2026-09-28"]
    assert p.describe(p.baseline) == "3 weeks (2026-09-14..2026-10-04)"


def test_d2_layers_are_the_top_volume_and_each_consecutive_rate(tmp_path: Path) -> None:
    ads = ["date,campaign,impressions,clicks"]
    for w, week in enumerate(WEEKS):
        for c in range(1, 5):
            impressions = 10_000 if not (c == 2 and w >= 4) else 4_000  # C2's volume fell
            ads.append(f"{week},C{c},{impressions + 100 * (w % 2)},{impressions // 20}")
    report = reports(write(tmp_path, "ads.csv", ads))
    data = diagnosis_input(report, "week", 2, 4)
    assert [(c.layer.key, c.layer.from_stage) for c in data.layers] == [
        ("impressions", None),
        ("clicks", "impressions"),
    ]
    leaks = diagnose_report(report, KNOWLEDGE, NO_RANGES, "week", 2, 4).leaks
    [volume] = only(leaks, "impressions")
    assert (volume.segment, volume.reference) == ({"campaign": "C2"}, "history")
    assert [c.reference for c in volume.comparisons] == ["history"]  # no peers for a volume
    assert volume.rate == 4_050 / 7 and volume.reference_rate == 10_050 / 7
    assert volume.lost_to == pytest.approx(14 * (10_050 - 4_050) / 7)


def test_d3_a_segment_is_compared_with_history_peers_and_range(tmp_path: Path) -> None:
    report = reports(*arrival_files(tmp_path, {"C3": 0.4}))
    options = DiagnoseOptions(ranges={"visits": _range(0.7, 0.8)})
    [leak] = diagnose_report(report, KNOWLEDGE, options, "week", 2, 4).leaks
    assert leak.segment == {"campaign": "C3"}
    assert [(c.reference, c.significant) for c in leak.comparisons] == [
        ("history", True),
        ("peers", True),
        ("range", True),
    ]
    peers = leak.comparisons[1]
    assert peers.detail == "on the 4 other campaigns"
    assert peers.reference_rate == pytest.approx(_pooled_others(report, "C3"))


def _range(low: float, high: float) -> object:
    from funnelscope.analyses.marketing.ranges import ReferenceRange

    return ReferenceRange("visits", low, high, "test", False)


def _pooled_others(report: ReportSet, campaign: str) -> float:
    data = diagnosis_input(report, "week", 2, 4)
    cells = next(c for c in data.layers if c.layer.key == "visits")
    import numpy as np

    mask = np.isin(cells.period, data.periods.current) & (cells.dims["campaign"] != campaign)
    return float(cells.k[mask].sum() / cells.n[mask].sum())


def test_d4_significance_scales_by_dispersion_and_is_bh_adjusted() -> None:
    groups = [Proportion(100, 10), Proportion(100, 20), Proportion(100, 30)]
    assert dispersion(groups) == pytest.approx(((10 - 20) ** 2 + (30 - 20) ** 2) / 16 / 2)
    assert dispersion(groups[:2]) == 1.0  # fewer than three groups
    assert dispersion([Proportion(100, 20)] * 3) == 1.0  # never below binomial
    plain = compare_to_reference(Proportion(1000, 150), Proportion(4000, 800))
    wide = compare_to_reference(Proportion(1000, 150), Proportion(4000, 800), phi=4.0)
    assert plain is not None and wide is not None
    assert wide.z == pytest.approx(plain.z / 2)
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_d4_the_same_gap_is_a_leak_among_tight_peers_but_not_among_spread_ones(
    tmp_path: Path,
) -> None:
    def leaks_with(rates: list[float]) -> tuple[Leak, ...]:
        rows = ["date,campaign,clicks,visits"]
        for c, rate in enumerate(rates):
            rows.append(f"2026-11-02,C{c},10000,{round(10000 * rate)}")
        report = reports(write(tmp_path, "ads.csv", rows))
        return diagnose_report(report, KNOWLEDGE, NO_RANGES, "week", 1, 0).leaks

    tight = leaks_with([0.60, 0.80, 0.81, 0.79, 0.80])
    assert [leak.segment for leak in tight] == [{"campaign": "C0"}]
    spread = leaks_with([0.60, 0.70, 0.90, 0.65, 0.95])  # pooled peers 0.80 again
    assert spread == ()


def test_d5_a_leak_is_at_least_min_gap_below_its_reference(tmp_path: Path) -> None:
    report = reports(*arrival_files(tmp_path, {"C3": 0.7}))  # 12.5% below 0.8
    at_10 = diagnose_report(
        report, KNOWLEDGE, DiagnoseOptions(ranges={}, min_gap=0.10), "week", 2, 4
    )
    assert [leak.segment for leak in at_10.leaks] == [{"campaign": "C3"}]
    at_15 = diagnose_report(
        report, KNOWLEDGE, DiagnoseOptions(ranges={}, min_gap=0.15), "week", 2, 4
    )
    assert at_15.leaks == ()


def toy(directory: Path) -> ReportSet:
    """Two campaigns in one week: A's arrival is 50%, B's 80%; below clicks all rates are
    A: 5% inquiries, 20% orders at 100 each; B: 5%, 20% at 100."""
    ads = write(
        directory,
        "ads.csv",
        ["date,campaign,impressions,clicks,cost", "2026-11-02,A,200000,10000,5000",
         "2026-11-02,B,200000,10000,5000"],
    )  # fmt: skip
    web = write(directory, "web.csv", ["date,campaign,visits", "2026-11-02,A,5000",
                                        "2026-11-02,B,8000"])  # fmt: skip
    leads = write(directory, "leads.csv", ["date,campaign,inquiries", "2026-11-02,A,250",
                                           "2026-11-02,B,400"])  # fmt: skip
    orders = write(
        directory,
        "orders.csv",
        ["date,campaign,orders,revenue", "2026-11-02,A,50,5000", "2026-11-02,B,80,8000"],
    )
    return reports(ads, web, leads, orders)


def test_d6_lost_final_is_lost_units_times_the_downstream_yield(tmp_path: Path) -> None:
    diagnosis = diagnose_report(toy(tmp_path), KNOWLEDGE, NO_RANGES, "week", 1, 0)
    [leak] = diagnosis.leaks
    assert (leak.layer, leak.segment, leak.reference) == ("visits", {"campaign": "A"}, "peers")
    assert (leak.rate, leak.reference_rate) == (0.5, 0.8)
    assert leak.lost_to == pytest.approx(10000 * (0.8 - 0.5))  # 3,000 visits
    assert leak.lost_final == pytest.approx(3000 * 0.05 * 0.20)  # 30 orders
    assert leak.lost_revenue == pytest.approx(30 * 100)
    assert leak.evidence == (
        "In the last 1 week (2026-11-02..2026-11-08): arrival rate 50.0% (5,000 visits of "
        "10,000 clicks) vs 80.0% on the 1 other campaign. That is about 30.0 orders lost "
        "(3,000 revenue)."
    )


def test_d6_a_keyword_leak_uses_its_campaigns_downstream_rates(tmp_path: Path) -> None:
    ads = ["date,campaign,keyword,impressions,clicks"]
    for campaign in ("A", "B", "C", "D"):
        for k in range(3):
            ctr = 0.005 if (campaign, k) == ("A", 0) else 0.05 + 0.001 * k
            ads.append(f"2026-11-02,{campaign},{campaign.lower()}{k},100000,{round(1e5 * ctr)}")
    web = ["date,campaign,visits"] + [
        f"2026-11-02,{c},{v}" for c, v in (("A", 8640), ("B", 12240), ("C", 12240), ("D", 12240))
    ]
    report = reports(write(tmp_path, "ads.csv", ads), write(tmp_path, "web.csv", web))
    [leak] = diagnose_report(report, KNOWLEDGE, NO_RANGES, "week", 1, 0).leaks
    assert (leak.layer, leak.segment, leak.context) == (
        "clicks",
        {"keyword": "a0"},
        {"campaign": "A"},
    )
    lost_clicks = 100000 * (leak.reference_rate - 0.005)
    campaign_a_arrival = 8640 / (500 + 5100 + 5200)
    assert leak.lost_final == pytest.approx(lost_clicks * campaign_a_arrival)


def test_d7_the_reference_is_the_comparison_that_loses_most(tmp_path: Path) -> None:
    # C3 was at 0.95 before (its history) and falls to 0.5; peers stay at 0.8.
    ads, web = arrival_files(tmp_path, {"C3": 0.5})
    text = web.read_text().splitlines()
    fixed = [text[0]]
    for line in text[1:]:
        date, campaign, device, visits = line.split(",")
        if campaign == "C3" and date < "2026-10-05":
            clicks = 1000 + 300 + 300 * (device == "desktop")
            visits = str(round(clicks * 0.95))
        fixed.append(",".join((date, campaign, device, visits)))
    web.write_text("\n".join(fixed) + "\n")
    [leak] = diagnose_report(reports(ads, web), KNOWLEDGE, NO_RANGES, "week", 2, 4).leaks
    history, peers = leak.comparisons
    assert history.reference_rate == pytest.approx(0.95, abs=1e-3)
    assert peers.reference_rate == pytest.approx(0.8, abs=0.01)
    assert leak.reference == "history" and leak.reference_rate == history.reference_rate


def test_d8_a_broken_campaign_is_reported_once_not_as_devices_or_everything(
    tmp_path: Path,
) -> None:
    report = reports(*arrival_files(tmp_path, {"C3": 0.1}))
    [leak] = diagnose_report(report, KNOWLEDGE, NO_RANGES, "week", 2, 4).leaks
    assert leak.segment == {"campaign": "C3"}
    assert {tuple(s["segment"].items()) for s in leak.symptoms} == {
        (),
        (("device", "mobile"),),
        (("device", "desktop"),),
    }


def test_d8_a_bad_keyword_is_reported_as_the_keyword_not_its_campaign(tmp_path: Path) -> None:
    ads = ["date,campaign,keyword,impressions,clicks"]
    for w, week in enumerate(WEEKS):
        for campaign in ("A", "B", "C", "D"):
            for k in range(4):
                ctr = 0.05 + WOBBLE[(w + k) % 6] / 10
                if (campaign, k) == ("B", 2):
                    ctr = 0.01
                ads.append(f"{week},{campaign},{campaign}{k},20000,{round(20000 * ctr)}")
    report = reports(write(tmp_path, "ads.csv", ads))
    [leak] = diagnose_report(report, KNOWLEDGE, NO_RANGES, "week", 2, 4).leaks
    assert (leak.segment, leak.reference) == ({"keyword": "B2"}, "peers")
    assert [s["segment"] for s in leak.symptoms] == [{"campaign": "B"}]


def test_d9_leaks_rank_by_lost_final_then_layer_then_segment(tmp_path: Path) -> None:
    report = reports(*arrival_files(tmp_path, {"C2": 0.4, "C4": 0.4}, campaigns=6))
    leaks = diagnose_report(report, KNOWLEDGE, NO_RANGES, "week", 2, 4).leaks
    assert [leak.segment for leak in leaks] == [{"campaign": "C4"}, {"campaign": "C2"}]
    assert leaks[0].lost_final > leaks[1].lost_final  # C4 has more clicks
    twins = reports(*arrival_files(tmp_path, {"C2": 0.4, "C4": 0.4}, campaigns=6))
    data = diagnosis_input(twins, "week", 2, 4)
    from funnelscope.analyses.marketing.leaks import find_leaks

    for cells in data.layers:  # make C2 and C4 the same size: a tie on lost orders
        cells.n[cells.dims["campaign"] == "C4"] = cells.n[cells.dims["campaign"] == "C2"]
        cells.k[cells.dims["campaign"] == "C4"] = cells.k[cells.dims["campaign"] == "C2"]
    tied = find_leaks(data, KNOWLEDGE, NO_RANGES)
    assert tied[0].lost_final == pytest.approx(tied[1].lost_final)
    assert [leak.segment for leak in tied] == [{"campaign": "C2"}, {"campaign": "C4"}]


def test_d10_matching_conditioned_and_user_advice_comes_first(tmp_path: Path) -> None:
    mine = write(
        tmp_path,
        "mine.yaml",
        [
            "version: 1",
            "layers:",
            "  visits:",
            "    causes:",
            "      - text: Our CDN drops campaign links.",
            "      - text: Only for devices.",
            "        when: {dimension: device}",
        ],
    )
    report = reports(*arrival_files(tmp_path, {"C3": 0.4}))
    [leak] = diagnose_report(report, load_knowledge([mine]), NO_RANGES, "week", 2, 4).leaks
    causes, _ = KNOWLEDGE.advice("visits", "campaign", leak.reference)
    assert leak.reference == "history"
    expected = (*_conditioned(causes), "Our CDN drops campaign links.", *_general(causes))
    assert leak.causes[: len(causes) + 1] == expected[: len(causes) + 1]
    assert "Only for devices." not in leak.causes


def _conditioned(causes: list[str]) -> list[str]:
    every = {a.text for a in KNOWLEDGE.layers["visits"].causes if not a.when}
    return [c for c in causes if c not in every]


def _general(causes: list[str]) -> list[str]:
    every = {a.text for a in KNOWLEDGE.layers["visits"].causes if not a.when}
    return [c for c in causes if c in every]


def test_d11_event_attempts_count_in_their_entry_period_once_their_window_closed(
    run: object,
) -> None:
    from funnelscope.analyses.marketing.diagnosis import event_input

    people = {
        "p1": [("visit", "2026-01-05 10:00", {"channel": "ads"}), ("buy", "2026-01-05 11:00")],
        "p2": [("visit", "2026-01-13 10:00", {"channel": "ads"})],
        "p3": [("visit", "2026-01-20 10:00", {"channel": "mail"}), ("buy", "2026-01-25 09:00")],
        "p4": [("visit", "2026-01-24 10:00", {"channel": "ads"})],
        "p5": [("visit", "2026-01-30 10:00", {"channel": "ads"}), ("buy", "2026-02-01 10:00")],
    }
    spec = {"steps": ["visit", "buy"], "window": "7d", "breakdown": "channel"}
    result = run(spec, people)  # type: ignore[operator]
    data = event_input(result.funnel, result, "week", current=1, baseline=2)
    assert data.notes == (
        "1 attempts that entered in the last 7 days are left out: their window had not closed "
        "by the data's last funnel event",
    )
    p = data.periods
    assert p.labels == ("2026-01-05", "2026-01-12", "2026-01-19")
    assert [p.labels[i] for i in p.current] == ["2026-01-19"]
    buy = data.layers[1]
    cells = sorted(
        zip(buy.period.tolist(), buy.dims["channel"].tolist(), buy.n.tolist(), buy.k.tolist(),
            strict=True)
    )  # fmt: skip
    assert cells == [
        (0, "ads", 1.0, 1.0),
        (1, "ads", 1.0, 0.0),
        (2, "ads", 1.0, 0.0),
        (2, "mail", 1.0, 1.0),
    ]
    entries = data.layers[0]
    assert entries.layer.is_volume and entries.k.sum() == 4.0


# --- [Y] what-if ----------------------------------------------------------------------------


def test_y1_a_lift_moves_the_rate_and_everything_below_it(tmp_path: Path) -> None:
    data = diagnosis_input(toy(tmp_path), "week", 1, 0)
    result = what_if(data, "3", lift=0.10)
    assert (result.layer, result.rate) == ("visits", 0.65)
    assert result.new_rate == pytest.approx(0.715)
    # 20,000 clicks x 0.065 = 1,300 more visits; x 5% inquiries x 20% orders = 13 orders
    assert (result.before.final, result.after.final) == (130.0, pytest.approx(143.0))
    capped = what_if(data, "visits", lift=2.0, segment={"campaign": "a"})
    assert (capped.rate, capped.new_rate) == (0.5, 1.0)
    assert capped.notes == ("a rate cannot pass 100%: 50.0% +200.0% is capped at 100%",)
    assert capped.gained_final == pytest.approx(10000 * 0.5 * 0.05 * 0.2)


def test_y2_to_reference_gains_the_leaks_lost_final(tmp_path: Path) -> None:
    report = toy(tmp_path)
    diagnosis = diagnose_report(report, KNOWLEDGE, NO_RANGES, "week", 1, 0)
    assert diagnosis.input is not None
    result = what_if(diagnosis.input, "visits", leaks=diagnosis.leaks, segment={"campaign": "A"})
    assert (result.rate, result.new_rate) == (0.5, 0.8)
    assert result.gained_final == pytest.approx(diagnosis.leaks[0].lost_final) == 30.0
    with pytest.raises(SpecError, match="no leak in orders"):
        what_if(diagnosis.input, "orders", leaks=diagnosis.leaks)


def test_y3_revenue_follows_the_final_count_cost_stays_and_cpa_is_cost_per_final(
    tmp_path: Path,
) -> None:
    data = diagnosis_input(toy(tmp_path), "week", 1, 0)
    result = what_if(data, "3", lift=0.10, cost=10000.0)
    assert result.before.to_dict() == {
        "final": 130.0,
        "revenue": 13000.0,
        "cost": 10000.0,
        "cpa": 10000 / 130,
    }
    assert result.after.revenue == pytest.approx(13000 + 13 * 100)
    assert result.after.cost == 10000.0
    assert result.after.cpa == pytest.approx(10000 / 143)


def test_d1_fewer_periods_than_asked_for_are_noted(tmp_path: Path) -> None:
    report = reports(*arrival_files(tmp_path, {}))  # six weeks
    assert diagnosis_input(report, "week", 2, 4).notes == ()
    assert diagnosis_input(report, "week", 2, 8).notes == (
        "only 4 week(s) before the current 2, not the 8 asked for",
    )
    assert diagnosis_input(report, "week", 9, 8).notes == (
        "the data has 6 week(s), fewer than the 9 current ones asked for; all of it is judged "
        "and nothing is compared with its own history",
    )


def test_d10_a_sudden_drop_keeps_its_history_advice_under_a_stricter_range(
    tmp_path: Path,
) -> None:
    report = reports(*arrival_files(tmp_path, {"C3": 0.4}))
    strict = DiagnoseOptions(ranges={"visits": _range(0.95, 0.99)})
    everything, leak = diagnose_report(report, KNOWLEDGE, strict, "week", 2, 4).leaks
    assert (everything.segment, leak.segment) == ({}, {"campaign": "C3"})  # [D8]: C3 stands out
    assert leak.reference == "range"  # it loses most against the range...
    history_causes, _ = KNOWLEDGE.advice("visits", "campaign", "history")
    conditioned = [c for c in history_causes if c not in _general(history_causes)]
    assert conditioned and all(c in leak.causes for c in conditioned)  # ...and keeps this


def test_d10_a_range_of_your_own_that_judges_nothing_is_noted(tmp_path: Path) -> None:
    from funnelscope.analyses.marketing.ranges import ReferenceRange

    report = reports(*arrival_files(tmp_path, {}))
    mine = DiagnoseOptions(ranges={"visit": ReferenceRange("visit", 0.7, 0.9, "mine.yaml", False)})
    notes = diagnose_report(report, KNOWLEDGE, mine, "week", 2, 4).notes
    assert notes[-1] == (
        "the typical range for 'visit' (mine.yaml) is not used: 'visit' is not a layer here; "
        "the rates are visits"
    )


def test_y3_more_paid_impressions_cost_more_at_the_current_cpm(tmp_path: Path) -> None:
    data = diagnosis_input(toy(tmp_path), "week", 1, 0)
    assert data.yields.cost_per_top(None, None) == 10000 / 400000  # the ad report's cost
    assert data.yields.cost_per_top("campaign", "A") == 5000 / 200000
    result = what_if(data, "1", lift=0.10, cost=10000.0)
    assert result.after.cost == pytest.approx(11000.0)
    assert result.after.final == pytest.approx(130 * 1.1)
    assert result.after.cpa == pytest.approx(result.before.cpa)  # same CPM, same rates


def test_d8_a_campaign_that_stands_out_inside_an_account_wide_leak_is_its_own(
    tmp_path: Path,
) -> None:
    report = reports(*arrival_files(tmp_path, {"C3": 0.4}))
    strict = DiagnoseOptions(ranges={"visits": _range(0.95, 0.99)})
    everything, campaign = diagnose_report(report, KNOWLEDGE, strict, "week", 2, 4).leaks
    assert (everything.segment, everything.reference) == ({}, "range")
    assert campaign.segment == {"campaign": "C3"} and campaign.symptoms == ()
    assert [s["segment"] for s in everything.symptoms] == [
        {"device": "desktop"},
        {"device": "mobile"},
        {"campaign": "C5"},
        {"campaign": "C4"},
        {"campaign": "C2"},
        {"campaign": "C1"},
    ]


@settings(max_examples=6 * settings().max_examples, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 5000)), min_size=1, max_size=12),
    st.booleans(),
)
def test_d4_leave_one_out_peers_equal_the_dispersion_of_the_others(
    groups: list[tuple[int, int]], count_ratio: bool
) -> None:
    import numpy as np

    from funnelscope.stats import leave_one_out

    if not count_ratio:
        groups = [(n, min(k, n)) for n, k in groups]
    n = np.array([g[0] for g in groups], dtype=float)
    k = np.array([g[1] for g in groups], dtype=float)
    pooled_n, pooled_k, phi, others = leave_one_out(n, k, count_ratio)
    for i in range(len(groups)):
        rest = [Proportion(n[j], k[j]) for j in range(len(groups)) if j != i and n[j] > 0]
        assert others[i] == len(rest)
        assert pooled_n[i] == sum(p.n for p in rest)
        assert pooled_k[i] == sum(p.conversions for p in rest)
        assert phi[i] == pytest.approx(dispersion(rest, count_ratio), rel=1e-6, abs=1e-9)


def test_d8_two_broken_campaigns_of_four_are_both_named_and_the_account_is_their_symptom(
    tmp_path: Path,
) -> None:
    report = reports(*arrival_files(tmp_path, {"C2": 0.4, "C3": 0.4}, campaigns=4))
    leaks = diagnose_report(report, KNOWLEDGE, NO_RANGES, "week", 2, 4).leaks
    assert [leak.segment for leak in leaks] == [{"campaign": "C3"}, {"campaign": "C2"}]
    symptoms = [s["segment"] for leak in leaks for s in leak.symptoms]
    assert {} in symptoms  # the whole account's drop is theirs together


def test_d8_two_bad_keywords_are_named_not_their_campaign(tmp_path: Path) -> None:
    ads = ["date,campaign,keyword,impressions,clicks"]
    for w, week in enumerate(WEEKS):
        for campaign in ("A", "B", "C", "D"):
            for k in range(8):
                ctr = 0.05 + WOBBLE[(w + k) % 6] / 10
                if (campaign, k) in (("B", 2), ("B", 5)):
                    ctr = 0.01
                ads.append(f"{week},{campaign},{campaign}{k},20000,{round(20000 * ctr)}")
    report = reports(write(tmp_path, "ads.csv", ads))
    leaks = diagnose_report(report, KNOWLEDGE, NO_RANGES, "week", 2, 4).leaks
    assert sorted(leak.segment["keyword"] for leak in leaks) == ["B2", "B5"]
    assert {"campaign": "B"} in [s["segment"] for leak in leaks for s in leak.symptoms]
