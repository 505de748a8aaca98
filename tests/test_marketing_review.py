"""Review of docs/semantics.md "Marketing funnels from report counts" against the code.

Each finding of the review is pinned here as a regression test (all fixed), next to invariants
that were checked to hold (on hundreds of random report sets in the review, on a few fixed ones
here)."""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path
from typing import Any

import pytest

from funnelscope.analyses.funnel import run_funnel
from funnelscope.analyses.marketing.diagnosis import (
    diagnose_funnel,
    diagnose_report,
    event_input,
    last_funnel_event_us,
)
from funnelscope.analyses.marketing.knowledge import load_knowledge
from funnelscope.analyses.marketing.leaks import DiagnoseOptions, Leak
from funnelscope.analyses.marketing.metrics import metrics
from funnelscope.analyses.marketing.ranges import ReferenceRange
from funnelscope.analyses.marketing.report import ReportSet, diagnosis_input, load_report_set
from funnelscope.analyses.marketing.whatif import what_if
from funnelscope.model.spec import parse_funnel
from funnelscope.store.sources import TableSource

from journeys import journeys, to_us

KB = load_knowledge()
NO_RANGES = DiagnoseOptions(ranges={})
WEEKS = [str(dt.date(2026, 9, 7) + dt.timedelta(days=7 * i)) for i in range(6)]


def write(directory: Path, name: str, rows: list[str]) -> Path:
    path = directory / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def reports(*paths: Path) -> ReportSet:
    return load_report_set([str(p) for p in paths])


def volume_rows(c1: int | None = 2000, extra: tuple[str, ...] = ()) -> list[str]:
    """Weekly ad rows (Mondays) of four campaigns at 7,000 impressions; C1 falls to `c1` in the
    last two weeks (None: no rows)."""
    rows = ["date,campaign,impressions,clicks,cost"]
    for w, week in enumerate(WEEKS):
        for c in range(4):
            imp: int | None = 7000 + 70 * (w % 2)
            if c == 1 and w >= 4:
                imp = c1
            if imp is not None:
                rows.append(f"{week},C{c},{imp},{imp // 20},{imp / 100:g}")
    return rows + list(extra)


def key_numbers(leaks: tuple[Leak, ...]) -> list[tuple[Any, ...]]:
    return [
        (leak.layer, sorted(leak.segment.items()), leak.reference, leak.rate, leak.reference_rate,
         leak.lost_to, leak.lost_final, sorted(str(s["segment"]) for s in leak.symptoms))
        for leak in leaks
    ]  # fmt: skip


# --- what-if ([Y1]-[Y3]) ---------------------------------------------------------------------


def test_volume_to_reference_without_segment_moves_the_per_day_rate(tmp_path: Path) -> None:
    report = reports(write(tmp_path, "ads.csv", volume_rows()))
    diagnosis = diagnose_report(report, KB, NO_RANGES, "week", 2, 4)
    [leak] = diagnosis.leaks
    assert (leak.layer, leak.segment) == ("impressions", {"campaign": "C1"})
    assert diagnosis.input is not None
    cost = 3 * (70.0 + 70.7) + 2 * 20.0  # the current weeks' spend: 1 per 100 impressions
    result = what_if(diagnosis.input, "impressions", leaks=diagnosis.leaks, cost=cost)
    days = 14
    volume = 3 * (7000 + 7070) + 2 * 2000
    assert result.rate == pytest.approx(volume / days)
    assert result.new_rate == pytest.approx((volume + leak.lost_to) / days)  # got ~rate + 0.4
    assert result.after.cost == pytest.approx(cost * (volume + leak.lost_to) / volume)


def test_volume_lift_on_a_segment_costs_only_that_segments_extra_units(tmp_path: Path) -> None:
    report = reports(write(tmp_path, "ads.csv", volume_rows()))
    data = diagnosis_input(report, "week", 2, 4)
    cost = 1000.0  # the whole current spend; C1's is 2 x 20 = 40 (1 per 100 impressions)
    result = what_if(data, "impressions", lift=0.10, segment={"campaign": "C1"}, cost=cost)
    assert result.gained_final == pytest.approx(0.10 * 2 * 2000 / 20)  # 20 more clicks: right
    assert result.after.cost == pytest.approx(cost + 0.10 * 40)  # got 1100


def test_to_reference_of_overlapping_leaks_stays_a_proportion(tmp_path: Path) -> None:
    ads, web = ["date,campaign,clicks"], ["date,campaign,visits"]
    for w, week in enumerate(WEEKS):
        for c in range(1, 6):
            clicks = 1000 + 100 * c
            rate = 0.1 if (c == 3 and w >= 4) else 0.8 + 0.01 * ((w + c) % 3 - 1)
            ads.append(f"{week},C{c},{clicks}")
            web.append(f"{week},C{c},{round(clicks * rate)}")
    report = reports(write(tmp_path, "ads.csv", ads), write(tmp_path, "web.csv", web))
    strict = DiagnoseOptions(ranges={"visits": ReferenceRange("visits", 0.97, 0.99, "t", False)})
    diagnosis = diagnose_report(report, KB, strict, "week", 2, 4)
    assert [leak.segment for leak in diagnosis.leaks] == [{}, {"campaign": "C3"}]  # both roots
    assert diagnosis.input is not None
    result = what_if(diagnosis.input, "visits", leaks=diagnosis.leaks)
    everything = diagnosis.leaks[0]
    assert result.new_rate <= 1.0  # got 1.144
    assert result.gained_final <= everything.from_count * 0.97 - everything.to_count + 1e-9


def test_what_if_before_is_the_windows_final_conversions(tmp_path: Path) -> None:
    ads = write(tmp_path, "ads.csv", ["date,campaign,clicks,cost", "2026-11-02,A,1000,500",
                                      "2026-11-02,B,1000,500"])  # fmt: skip
    orders = write(
        tmp_path,
        "orders.csv",
        ["date,campaign,orders,revenue", "2026-11-02,A,10,1000", "2026-11-02,B,10,1000",
         "2026-11-02,Z,10,1000"],
    )  # fmt: skip
    report = reports(ads, orders)
    [row], _ = metrics(report)
    assert row.counts["orders"] == 30.0 and row.money["cpa"] == pytest.approx(1000 / 30)
    result = what_if(diagnosis_input(report, "week", 1, 0), "orders", lift=0.1, cost=1000.0)
    assert result.before.final == 30.0  # got 20
    assert result.before.revenue == pytest.approx(3000.0)  # got 2000
    assert result.before.cpa == pytest.approx(row.money["cpa"])  # got 50


def test_a_lift_on_any_layer_overall_gains_that_share_of_the_final_count(tmp_path: Path) -> None:
    """[Y1]: from-count x change x downstream yield telescopes to lift x final conversions
    (no orphans, no cap), for volumes, proportions and count ratios (visits > clicks)."""
    ads, web, orders = (
        ["date,campaign,impressions,clicks"],
        ["date,campaign,visits"],
        ["date,campaign,orders,revenue"],
    )
    for w, week in enumerate(WEEKS):
        for c in range(3):
            clicks = 500 + 37 * c + 11 * w
            ads.append(f"{week},C{c},{clicks * 25},{clicks}")
            visits = round(clicks * (1.2 if c == 0 else 0.7))
            web.append(f"{week},C{c},{visits}")
            orders.append(f"{week},C{c},{visits // 25 + c},{100 * (visits // 25 + c)}")
    report = reports(
        write(tmp_path, "ads.csv", ads),
        write(tmp_path, "web.csv", web),
        write(tmp_path, "orders.csv", orders),
    )
    data = diagnosis_input(report, "week", 2, 3)
    assert [c.count_ratio for c in data.layers] == [False, False, True, False]
    for step in ("1", "2", "3", "4"):
        result = what_if(data, step, lift=0.10)
        assert result.notes == () or step == "1"
        assert result.gained_final == pytest.approx(0.10 * result.before.final)
        assert result.before.revenue is not None
        assert result.after.revenue == pytest.approx(1.10 * result.before.revenue)
    ratio = what_if(data, "visits", lift=0.50, segment={"campaign": "c0"})  # 120% -> 180%
    assert ratio.rate > 1 and ratio.new_rate == pytest.approx(1.5 * ratio.rate)
    assert ratio.notes == ()  # a count ratio is not capped at 100%


# --- [D2] exposure -------------------------------------------------------------------------


def test_volume_exposure_is_the_top_stages_own_days(tmp_path: Path) -> None:
    start = dt.date(2026, 9, 7)
    ads, orders = ["date,campaign,impressions,clicks"], ["date,campaign,orders"]
    for i in range(6 * 7):
        day = start + dt.timedelta(days=i)
        for c in "ABC":
            if i < 6 * 7 - 4:  # the ad export ends on the last Wednesday
                ads.append(f"{day},{c},1000,50")
            orders.append(f"{day},{c},2")
    report = reports(write(tmp_path, "ads.csv", ads), write(tmp_path, "orders.csv", orders))
    diagnosis = diagnose_report(report, KB, NO_RANGES, "week", 1, 4)
    assert diagnosis.periods.days[-1] == 3  # got 7
    assert [leak.layer for leak in diagnosis.leaks] == []  # got a 57% impressions "leak"


def test_a_zero_count_row_does_not_change_the_exposure(tmp_path: Path) -> None:
    plain = diagnose_report(
        reports(write(tmp_path, "ads.csv", volume_rows())), KB, NO_RANGES, "week", 2, 4
    )
    stray = diagnose_report(
        reports(write(tmp_path, "ads2.csv", volume_rows(extra=("2026-09-16,C0,0,0,0",)))),
        KB,
        NO_RANGES,
        "week",
        2,
        4,
    )
    assert plain.periods.days == (7,) * 6
    assert stray.periods.days == plain.periods.days  # got (7, 7, 7, 7, 7, 1)
    assert key_numbers(stray.leaks) == key_numbers(plain.leaks)


def test_a_campaign_whose_volume_falls_to_zero_is_the_leak(tmp_path: Path) -> None:
    one = diagnose_report(
        reports(write(tmp_path, "one.csv", volume_rows(c1=1))), KB, NO_RANGES, "week", 2, 4
    )
    assert [leak.segment for leak in one.leaks] == [{"campaign": "C1"}]
    zero = diagnose_report(
        reports(write(tmp_path, "zero.csv", volume_rows(c1=0))), KB, NO_RANGES, "week", 2, 4
    )
    assert [leak.segment for leak in zero.leaks] == [{"campaign": "C1"}]  # got [{}]


# --- invariants that hold ------------------------------------------------------------------


def _random_set(seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    ads, web = ["date,campaign,device,impressions,clicks"], ["date,campaign,visits"]
    for w, week in enumerate(WEEKS):
        for c in ("Alpha", "Beta", "Gamma", "Delta"):
            visits = 0
            for device in ("mobile", "desktop"):
                imp = rng.randint(8000, 12000)
                ctr = 0.05 * (0.4 if (c, device, w >= 4) == ("Gamma", "mobile", True) else 1)
                clicks = round(imp * ctr * rng.uniform(0.9, 1.1))
                ads.append(f"{week},{c},{device},{imp},{clicks}")
                visits += round(clicks * (0.4 if (c == "Beta" and w >= 4) else 0.8))
            web.append(f"{week},{c},{visits}")
    return ads, web


@pytest.mark.parametrize("seed", [1, 2])
def test_diagnosis_is_invariant_under_row_order_splits_renames_case_and_zero_rows(
    tmp_path: Path, seed: int
) -> None:
    ads, web = _random_set(seed)

    def diagnose(name: str, a: list[str], b: list[str]) -> list[tuple[Any, ...]]:
        d = tmp_path / name
        d.mkdir()
        report = reports(write(d, "ads.csv", a), write(d, "web.csv", b))
        return key_numbers(diagnose_report(report, KB, NO_RANGES, "week", 2, 3).leaks)

    base = diagnose("base", ads, web)
    assert {tuple(x[1]) for x in base} >= {(("campaign", "Beta"),)}
    rng = random.Random(seed)
    shuffled = (
        [ads[0], *rng.sample(ads[1:], len(ads) - 1)],
        [web[0], *rng.sample(web[1:], len(web) - 1)],
    )
    assert diagnose("shuffled", *shuffled) == base
    date, campaign, device, imp, clicks = ads[5].split(",")
    i, c = int(imp), int(clicks)
    key = f"{date},{campaign},{device}"
    halves = [f"{key},{i // 2},{c // 2}", f"{key},{i - i // 2},{c - c // 2}"]
    assert diagnose("split", [*ads[:5], *halves, *ads[6:]], web) == base
    cased = [line.replace(",Beta,", ", BETA ,") for line in web]
    assert diagnose("cased", ads, cased) == base
    renamed = diagnose(
        "renamed", [x.replace("Beta", "Zed") for x in ads], [x.replace("Beta", "Zed") for x in web]
    )
    assert renamed == [
        tuple(
            [x[0], [(k, "Zed" if v == "Beta" else v) for k, v in x[1]], *x[2:7],
             sorted(s.replace("Beta", "Zed") for s in x[7])]
        )
        for x in base
    ]  # fmt: skip
    zeros_a = [f"{w},Zero,mobile,0,0" for w in WEEKS[-3:]]
    zeros_w = [f"{w},Zero,0" for w in WEEKS[-3:]]
    assert diagnose("zeros", ads + zeros_a, web + zeros_w) == base


# --- event funnels ([D11], [D6]) -------------------------------------------------------------


def _people(seed: int) -> dict[str, list[tuple[object, ...]]]:
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 5, 8)
    people: dict[str, list[tuple[object, ...]]] = {}
    for i in range(600):
        t = start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 56))
        channel = rng.choice(["ads", "mail", "seo"])
        late = t > start + dt.timedelta(days=35)
        events: list[tuple[object, ...]] = [("visit", f"{t:%Y-%m-%d %H:%M}", {"channel": channel})]
        if rng.random() < (0.15 if late and channel == "ads" else 0.5):
            t += dt.timedelta(hours=rng.randrange(1, 80))
            events.append(("buy", f"{t:%Y-%m-%d %H:%M}"))
        people[f"p{i}"] = events
    return people


def test_event_diagnosis_is_identical_on_both_engines_and_keeps_only_closed_attempts() -> None:
    people = _people(3)
    funnel = parse_funnel({"steps": ["visit", "buy"], "window": "3d", "breakdown": "channel"})
    source = TableSource(journeys(people))
    results = {e: run_funnel(funnel, source, e) for e in ("kernel", "reference")}
    diagnoses = {
        e: diagnose_funnel(funnel, r, KB, NO_RANGES, "week", 2, 4) for e, r in results.items()
    }
    kernel, reference = diagnoses["kernel"], diagnoses["reference"]
    assert [x.to_dict() for x in kernel.leaks] == [x.to_dict() for x in reference.leaks]
    assert kernel.notes == reference.notes
    assert [leak.segment for leak in kernel.leaks][:1] == [{"channel": "ads"}]
    # every attempt here is one person's only one: closed when entry + 3 days <= the last buy
    stamp = [dt.datetime.fromisoformat(str(e[1])) for p in people.values() for e in p]
    done = []
    for events in people.values():
        entry = dt.datetime.fromisoformat(str(events[0][1]))
        converted = len(events) > 1 and (
            dt.datetime.fromisoformat(str(events[1][1])) - entry <= dt.timedelta(days=3)
        )
        done.append((entry, converted))
    last = max(
        dt.datetime.fromisoformat(str(e[-1][1])) if ok else dt.datetime.fromisoformat(str(e[0][1]))
        for e, (_, ok) in zip(people.values(), done, strict=True)
    )
    assert last <= max(stamp)
    kept = [ok for entry, ok in done if entry + dt.timedelta(days=3) <= last]
    assert kernel.input is not None
    layers = kernel.input.layers
    assert layers[0].k.sum() == len(kept) and layers[1].k.sum() == sum(kept)


def test_an_optional_steps_rate_is_not_part_of_the_downstream_yield() -> None:
    people: dict[str, list[tuple[Any, ...]]] = {
        "a": [("visit", "2026-01-05 10:00"), ("coupon", "2026-01-05 10:10"),
              ("buy", "2026-01-05 10:20")],
        "b": [("visit", "2026-01-05 11:00"), ("buy", "2026-01-05 11:20")],
        "c": [("visit", "2026-01-06 10:00"), ("coupon", "2026-01-06 10:10")],
        "d": [("visit", "2026-01-06 11:00")],
        "e": [("visit", "2026-01-09 10:00")],  # the data's last event closes a-d's windows
    }  # fmt: skip
    spec = {"steps": ["visit", {"event": "coupon", "optional": True}, "buy"], "window": "1d"}
    funnel = parse_funnel(spec)
    result = run_funnel(funnel, TableSource(journeys(people)), "reference")
    data = event_input(funnel, result, "week", 1, 0)
    visit, coupon, buy = data.layers
    assert (coupon.layer.from_stage, buy.layer.from_stage) == ("visit", "visit")
    assert (coupon.k.sum(), buy.k.sum(), buy.n.sum()) == (2.0, 2.0, 4.0)
    assert data.yields.final_per_to(visit.layer, None, None) == 0.5  # got 0.25


def test_the_last_funnel_event_includes_events_outside_counted_attempts() -> None:
    people: dict[str, list[tuple[Any, ...]]] = {
        "p1": [("visit", "2026-01-05 10:00", {"channel": "ads"}), ("buy", "2026-01-05 11:00")],
        "p2": [("visit", "2026-01-13 10:00", {"channel": "ads"})],
        "p3": [("visit", "2026-01-20 10:00", {"channel": "mail"}), ("buy", "2026-01-21 09:00"),
               ("visit", "2026-02-10 10:00", {"channel": "mail"})],
    }  # fmt: skip
    funnel = parse_funnel({"steps": ["visit", "buy"], "window": "7d", "breakdown": "channel"})
    source = TableSource(journeys(people))
    result = run_funnel(funnel, source, "reference")
    last = last_funnel_event_us(funnel, source)
    assert last == to_us("2026-02-10 10:00")
    data = event_input(funnel, result, "week", 1, 2, last_event_us=last)
    assert data.layers[0].k.sum() == 3.0  # p3 entered 01-20, closed 01-27 < 02-10


# --- [M2] spelling ---------------------------------------------------------------------------


def test_m2_the_spelling_shown_is_the_first_seen(tmp_path: Path) -> None:
    ads = write(tmp_path, "ads.csv", ["date,campaign,clicks", "2026-11-02,spring-brand,100",
                                      "2026-11-03,Spring-Brand,50"])  # fmt: skip
    web = write(tmp_path, "web.csv", ["date,campaign,visits", "2026-11-02,SPRING-BRAND,80"])
    rows, _ = metrics(reports(ads, web), by=("campaign",))
    assert [r.group for r in rows] == [{"campaign": "spring-brand"}]


def test_volume_to_reference_gain_equals_lost_final(tmp_path: Path) -> None:
    """[Y2] on a volume with a segment: the gain is the leak's lost final conversions and the
    new rate is its reference (what does hold on volumes)."""
    report = reports(write(tmp_path, "ads.csv", volume_rows()))
    diagnosis = diagnose_report(report, KB, NO_RANGES, "week", 2, 4)
    [leak] = diagnosis.leaks
    assert leak.lost_to == pytest.approx(14 * (7035 - 2000) / 7)
    assert leak.lost_final == pytest.approx(leak.lost_to / 20)
    assert diagnosis.input is not None
    result = what_if(
        diagnosis.input, "impressions", leaks=diagnosis.leaks, segment={"campaign": "c1"}
    )
    assert (result.rate, result.new_rate) == (leak.rate, leak.reference_rate)
    assert math.isclose(result.gained_final, leak.lost_final)
