"""`funnelscope report`, `diagnose` and `whatif` as a user runs them: the demo's four exports in,
numbers that are recomputed here from the generator's own tables, errors that say how to fix.

Every expected number is computed in this file from `generate_search_reports(SEED)`'s Arrow
tables (or from the event journeys built here), never read back from the command's output,
except where a command's output is checked against another command's output.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any
from unittest import mock

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pytest

from funnelscope.cli.main import main
from funnelscope.demo.search_reports import (
    CAMPAIGNS,
    KEYWORDS,
    SearchReports,
    generate_search_reports,
)

from journeys import journeys

SEED = 7
STAGES = ["impressions", "clicks", "visits", "inquiries", "orders"]
LABELS = ["Impressions", "Clicks", "Visits", "Inquiries", "Orders"]
CURRENT = (date(2026, 10, 26), date(2026, 11, 22))
"""The default current window on the demo: its last 4 weeks."""
BASELINE = (date(2026, 8, 31), date(2026, 10, 25))
"""The 8 weeks before it."""
Z = NormalDist().inv_cdf(0.975)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(*args: str | Path, columns: int = 150) -> Run:
    """`funnelscope ARGS` in-process; stdout and stderr captured (usable from any fixture)."""
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, {"COLUMNS": str(columns)}),
        redirect_stdout(out),
        redirect_stderr(err),
    ):
        code = main([str(a) for a in args])
    return Run(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Demo:
    reports: SearchReports
    dir: Path
    files: list[Path]

    @property
    def args(self) -> list[Path]:
        return list(self.files)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    reports = generate_search_reports(SEED)
    directory = tmp_path_factory.mktemp("search_reports")
    return Demo(reports, directory, reports.write(directory))


@pytest.fixture(scope="module")
def diagnosis(demo: Demo) -> dict[str, Any]:
    """The default `diagnose --format json` of the demo (run once)."""
    result = run("diagnose", *demo.args, "--format", "json")
    assert result.code == 0, result.err
    payload: dict[str, Any] = result.json()
    return payload


# --- independent sums over the generator's tables ------------------------------------------


def days_of(column: pa.ChunkedArray) -> list[date]:
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.date32())
    return list(column.to_pylist())


def total(
    table: pa.Table,
    date_column: str,
    value: str | None = None,
    where: dict[str, str] | None = None,
    between: tuple[date, date] | None = None,
) -> float:
    """Sum of `value` (or the number of rows) over rows matching `where`, dated in `between`."""
    days = days_of(table[date_column])
    values = table[value].to_pylist() if value else [1] * len(days)
    columns = {name: table[name].to_pylist() for name in where or {}}
    out = 0.0
    for i, (day, v) in enumerate(zip(days, values, strict=True)):
        if between is not None and not between[0] <= day <= between[1]:
            continue
        if all(columns[name][i] == wanted for name, wanted in (where or {}).items()):
            out += v
    return out


def by(table: pa.Table, key: str, value: str | None = None, key_of: Any = None) -> Counter[Any]:
    """Sum of `value` (or rows) per value of `key` (mapped through `key_of`)."""
    keys = table[key].to_pylist()
    values = table[value].to_pylist() if value else [1] * len(keys)
    out: Counter[Any] = Counter()
    for k, v in zip(keys, values, strict=True):
        out[key_of(k) if key_of else k] += v
    return out


def monday(day: date) -> str:
    return (day - timedelta(days=day.weekday())).isoformat()


def wilson(k: float, n: float) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * (p * (1 - p) / n + Z * Z / (4 * n * n)) ** 0.5
    return centre - half, centre + half


def demo_totals(r: SearchReports) -> dict[str, float]:
    return {
        "impressions": pc.sum(r.ads["Impressions"]).as_py(),
        "clicks": pc.sum(r.ads["Clicks"]).as_py(),
        "visits": pc.sum(r.analytics["Sessions"]).as_py(),
        "inquiries": r.inquiries.num_rows,
        "orders": r.orders.num_rows,
        "cost": pc.sum(r.ads["Cost"]).as_py(),
        "revenue": pc.sum(r.orders["Revenue"]).as_py(),
    }


def one_error_line(result: Run) -> str:
    """The run failed with exit 1 and exactly one line `error: ...` on stderr, no traceback."""
    assert result.code == 1, (result.code, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


def rates_by_name(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rate["name"]: rate for rate in row["rates"]}


# --- report ----------------------------------------------------------------------------------


def test_report_json_totals_rates_intervals_and_money(demo: Demo) -> None:
    result = run("report", *demo.args, "--format", "json")
    assert result.code == 0, result.err
    payload = result.json()
    assert payload["stages"] == STAGES
    [row] = payload["rows"]
    t = demo_totals(demo.reports)
    assert row["group"] == {}
    assert row["counts"] == {stage: t[stage] for stage in STAGES}
    assert row["cost"] == pytest.approx(t["cost"], rel=1e-12)
    assert row["revenue"] == pytest.approx(t["revenue"], rel=1e-12)
    pairs = [*itertools.pairwise(STAGES), ("impressions", "orders")]
    assert [(r["from"], r["to"]) for r in row["rates"]] == pairs
    assert [r["name"] for r in row["rates"]][-1] == "overall"
    for rate, (a, b) in zip(row["rates"], pairs, strict=True):
        assert rate["value"] == pytest.approx(t[b] / t[a], rel=1e-12)
        low, high = wilson(t[b], t[a])
        assert rate["low"] == pytest.approx(low, rel=1e-9)
        assert rate["high"] == pytest.approx(high, rel=1e-9)
        assert rate["low"] < rate["value"] < rate["high"]
    cost, revenue = t["cost"], t["revenue"]
    expected_money = {
        "cpm": cost / t["impressions"] * 1000,
        "cpc": cost / t["clicks"],
        "cost_per_visit": cost / t["visits"],
        "cost_per_inquiry": cost / t["inquiries"],
        "cpa": cost / t["orders"],
        "revenue_per_order": revenue / t["orders"],
        "roas": revenue / cost,
    }
    assert list(row["money"]) == list(expected_money)
    for name, value in expected_money.items():
        assert row["money"][name] == pytest.approx(value, rel=1e-9), name
    assert "ads.csv: line 10,840 looks like a totals row; set aside" in payload["notes"]


def test_report_by_campaign_in_the_ad_reports_spelling(demo: Demo) -> None:
    payload = run("report", *demo.args, "--by", "campaign", "--format", "json").json()
    rows = {row["group"]["campaign"]: row for row in payload["rows"]}
    assert len(payload["rows"]) == 10
    # analytics.csv spells them in lower case; the ad report (the earliest stage) wins
    assert set(rows) == {c.name for c in CAMPAIGNS}
    assert [row["group"]["campaign"] for row in payload["rows"]] == sorted(rows)
    r = demo.reports
    proper = {c.name.lower(): c.name for c in CAMPAIGNS}
    expected = {
        "impressions": by(r.ads, "Campaign", "Impressions"),
        "clicks": by(r.ads, "Campaign", "Clicks"),
        "visits": by(r.analytics, "Session campaign", "Sessions", key_of=proper.__getitem__),
        "inquiries": by(r.inquiries, "Campaign"),
        "orders": by(r.orders, "Campaign"),
    }
    cost, revenue = by(r.ads, "Campaign", "Cost"), by(r.orders, "Campaign", "Revenue")
    for name, row in rows.items():
        assert row["counts"] == {stage: expected[stage][name] for stage in STAGES}, name
        assert row["cost"] == pytest.approx(cost[name], rel=1e-12)
        assert row["revenue"] == pytest.approx(revenue[name], rel=1e-12)
        arrival = rates_by_name(row)["arrival rate"]["value"]
        assert arrival == pytest.approx(expected["visits"][name] / expected["clicks"][name])
        assert row["money"]["cpa"] == pytest.approx(cost[name] / expected["orders"][name])


def test_report_by_keyword_has_only_the_ad_reports_measures(demo: Demo) -> None:
    payload = run("report", *demo.args, "--by", "keyword", "--format", "json").json()
    r = demo.reports
    impressions, clicks = by(r.ads, "Keyword", "Impressions"), by(r.ads, "Keyword", "Clicks")
    cost = by(r.ads, "Keyword", "Cost")
    rows = {row["group"]["keyword"]: row for row in payload["rows"]}
    assert set(rows) == {k.text for k in KEYWORDS} and len(payload["rows"]) == 43
    for keyword, row in rows.items():
        assert row["counts"] == {
            "impressions": impressions[keyword],
            "clicks": clicks[keyword],
            "visits": None,
            "inquiries": None,
            "orders": None,
        }
        assert row["cost"] == pytest.approx(cost[keyword], rel=1e-12)
        assert row["revenue"] is None
        rates = rates_by_name(row)
        assert rates["click-through rate"]["value"] == pytest.approx(
            clicks[keyword] / impressions[keyword]
        )
        for name in ("arrival rate", "inquiry rate", "order rate", "overall"):
            assert rates[name]["value"] is None and rates[name]["low"] is None
        assert row["money"]["cpc"] == pytest.approx(cost[keyword] / clicks[keyword])
        assert row["money"]["cpa"] is None and row["money"]["roas"] is None
    others = ", ".join(str(path) for path in demo.files[1:])
    assert (
        f"visits, inquiries, orders, revenue not broken down by keyword: {others} have no such "
        "column"
    ) in payload["notes"]


def test_report_by_rep_splits_the_order_rate_only(demo: Demo) -> None:
    """The inquiry log ('Assigned rep') and the order list ('Rep') both name the rep."""
    payload = run("report", *demo.args, "--by", "rep", "--format", "json").json()
    inquiries = by(demo.reports.inquiries, "Assigned rep")
    orders = by(demo.reports.orders, "Rep")
    revenue = by(demo.reports.orders, "Rep", "Revenue")
    rows = {row["group"]["rep"]: row for row in payload["rows"]}
    assert set(rows) == {"Anna", "Ben", "Chloe", "Dmitri", "Sam"}
    for rep, row in rows.items():
        assert row["counts"] == {
            "impressions": None,
            "clicks": None,
            "visits": None,
            "inquiries": inquiries[rep],
            "orders": orders[rep],
        }
        rates = rates_by_name(row)
        assert rates["order rate"]["value"] == pytest.approx(orders[rep] / inquiries[rep])
        assert rates["click-through rate"]["value"] is None
        assert row["cost"] is None and row["money"]["cpa"] is None
        assert row["money"]["revenue_per_order"] == pytest.approx(revenue[rep] / orders[rep])
    assert any("not broken down by rep" in note for note in payload["notes"])


def test_report_by_week_has_12_weeks_labelled_by_their_monday(demo: Demo) -> None:
    payload = run("report", *demo.args, "--period", "week", "--format", "json").json()
    r = demo.reports
    mondays = [(r.start + timedelta(weeks=w)).isoformat() for w in range(12)]
    assert [row["group"] for row in payload["rows"]] == [{"period": m} for m in mondays]

    def weekly(table: pa.Table, column: str, value: str | None = None) -> Counter[str]:
        out: Counter[str] = Counter()
        values = table[value].to_pylist() if value else [1] * table.num_rows
        for day, v in zip(days_of(table[column]), values, strict=True):
            out[monday(day)] += v
        return out

    expected = {
        "impressions": weekly(r.ads, "Day", "Impressions"),
        "clicks": weekly(r.ads, "Day", "Clicks"),
        "visits": weekly(r.analytics, "Date", "Sessions"),
        "inquiries": weekly(r.inquiries, "Received at"),
        "orders": weekly(r.orders, "Order date"),
    }
    for row in payload["rows"]:
        week = row["group"]["period"]
        assert row["counts"] == {stage: expected[stage][week] for stage in STAGES}, week


def test_report_csv_is_a_header_and_one_row(demo: Demo) -> None:
    result = run("report", *demo.args, "--format", "csv")
    assert result.code == 0
    header, *rows = list(csv.reader(io.StringIO(result.out)))
    rate_names = ["click-through rate", "arrival rate", "inquiry rate", "order rate", "overall"]
    assert header == [
        *STAGES,
        "cost",
        "revenue",
        *[f"{name}{part}" for name in rate_names for part in ("", " low", " high")],
        "cpm",
        "cpc",
        "cost_per_visit",
        "cost_per_inquiry",
        "cpa",
        "revenue_per_order",
        "roas",
    ]
    assert len(rows) == 1 and len(rows[0]) == len(header)
    t = demo_totals(demo.reports)
    line = dict(zip(header, rows[0], strict=True))
    for stage in STAGES:  # the shown precision (6 significant digits) at least
        assert float(line[stage]) == pytest.approx(t[stage], rel=1e-5)
    assert float(line["arrival rate"]) == pytest.approx(t["visits"] / t["clicks"], rel=1e-5)
    assert float(line["roas"]) == pytest.approx(t["revenue"] / t["cost"], rel=1e-5)


def test_report_csv_keeps_exact_counts_and_money(demo: Demo) -> None:
    result = run("report", *demo.args, "--format", "csv")
    line = dict(zip(*csv.reader(io.StringIO(result.out)), strict=True))
    t = demo_totals(demo.reports)
    assert line["impressions"] == str(t["impressions"])
    assert float(line["cost"]) == pytest.approx(t["cost"], abs=0.005)
    assert float(line["revenue"]) == pytest.approx(t["revenue"], abs=0.005)


def test_report_table_shows_the_stages_without_a_traceback(demo: Demo) -> None:
    result = run("report", *demo.args)
    assert result.code == 0
    for label in LABELS:
        assert label in result.out
    assert "CTR" in result.out and "ROAS" in result.out
    assert "3,238,492" in result.out  # the total impressions, as a person reads them
    assert "Traceback" not in result.out + result.err
    # An export's own totals line is expected: said in the notes, not warned about on stderr.
    assert result.err == ""
    assert "ads.csv: line 10,840 looks like a totals row; set aside" in result.out


def test_report_keeps_its_promise_about_rejected_rows(demo: Demo, tmp_path: Path) -> None:
    lines = demo.files[0].read_text(encoding="utf-8").splitlines()
    lines[5] = _break_clicks(lines[5])
    ads = tmp_path / "ads.csv"
    ads.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "rejects.csv"
    files = [ads, *demo.files[1:]]
    result = run("report", *files, "--format", "json", "--rejects", target)
    assert result.code == 0
    assert f"{ads}:6: 'Clicks':" in result.err  # the bad row, named on stderr
    assert f"all of them are in {target}; --format json lists them under rejected_rows" in (
        result.err.replace("\n", " ")
    )
    payload = result.json()
    assert [(r["line"], r["field"]) for r in payload["rejected_rows"]] == [
        (6, "Clicks"),
        (10840, "Day"),
    ]
    with target.open(newline="", encoding="utf-8") as handle:
        assert [row["line"] for row in csv.DictReader(handle)] == ["6", "10840"]


def _break_clicks(line: str) -> str:
    """The clicks cell (the 8th field) of an ads.csv data row made unreadable."""
    fields = next(csv.reader([line]))
    fields[7] = "12a"
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


# --- diagnose --------------------------------------------------------------------------------

LEAK_KEYS = [
    "layer",
    "from_stage",
    "segment",
    "rate",
    "reference_rate",
    "reference",
    "lost_final",
    "lost_revenue",
    "significant",
    "causes",
    "actions",
]


def test_diagnose_finds_exactly_the_three_planted_leaks(
    demo: Demo, diagnosis: dict[str, Any]
) -> None:
    leaks = diagnosis["leaks"]
    planted = {(p.layer, p.from_stage, json.dumps(p.segment)) for p in demo.reports.planted}
    assert planted == {
        ("clicks", "impressions", '{"keyword": "door"}'),
        ("orders", "inquiries", '{"rep": "Sam"}'),
        ("visits", "clicks", '{"campaign": "Spring-Brand"}'),
    }
    found = {(leak["layer"], leak["from_stage"], json.dumps(leak["segment"])) for leak in leaks}
    assert len(leaks) == 3 and found == planted
    lost = [leak["lost_final"] for leak in leaks]
    assert lost == sorted(lost, reverse=True)
    for leak in leaks:
        assert list(leak)[: len(LEAK_KEYS)] == LEAK_KEYS
        assert leak["significant"] is True
        assert leak["rate"] <= 0.9 * leak["reference_rate"]
        assert leak["causes"] and leak["actions"]
    assert diagnosis["period"] == "week"
    assert diagnosis["current"] == [(CURRENT[0] + timedelta(weeks=w)).isoformat() for w in range(4)]
    assert diagnosis["baseline"] == [
        (BASELINE[0] + timedelta(weeks=w)).isoformat() for w in range(8)
    ]
    assert diagnosis["final_stage"] == "Orders"


def test_diagnose_losses_are_recomputed_exactly(demo: Demo, diagnosis: dict[str, Any]) -> None:
    """Each leak's loss from the generator's rows: the rate gap on the current from-count,
    times the segment's current downstream yield (a keyword's: its campaign's)."""
    r = demo.reports
    leaks = {leak["layer"]: leak for leak in diagnosis["leaks"]}

    def now(table: pa.Table, column: str, value: str | None = None, **where: str) -> float:
        return total(table, column, value, where, CURRENT)

    # Sam against the other reps pooled; orders are the final stage (yield 1).
    n_sam = now(r.inquiries, "Received at", **{"Assigned rep": "Sam"})
    k_sam = now(r.orders, "Order date", Rep="Sam")
    n_all, k_all = now(r.inquiries, "Received at"), now(r.orders, "Order date")
    sam = leaks["orders"]
    assert (sam["from_count"], sam["to_count"], sam["reference"]) == (n_sam, k_sam, "peers")
    peers = (k_all - k_sam) / (n_all - n_sam)
    assert sam["reference_rate"] == pytest.approx(peers, rel=1e-12)
    assert sam["lost_final"] == pytest.approx(n_sam * (peers - k_sam / n_sam), rel=1e-9)
    sam_revenue = now(r.orders, "Order date", "Revenue", Rep="Sam")
    assert sam["lost_revenue"] == pytest.approx(sam["lost_final"] * sam_revenue / k_sam)

    # Spring-Brand against its own 8 weeks before; yield: its inquiry and order rates now.
    clicks = now(r.ads, "Day", "Clicks", Campaign="Spring-Brand")
    visits = now(r.analytics, "Date", "Sessions", **{"Session campaign": "spring-brand"})
    where_then = {"Campaign": "Spring-Brand"}
    then = total(r.ads, "Day", "Clicks", where_then, BASELINE)
    then_visits = total(
        r.analytics, "Date", "Sessions", {"Session campaign": "spring-brand"}, BASELINE
    )
    orders = now(r.orders, "Order date", Campaign="Spring-Brand")
    spring = leaks["visits"]
    assert spring["reference"] == "history"
    assert spring["reference_rate"] == pytest.approx(then_visits / then, rel=1e-12)
    lost_visits = clicks * (then_visits / then - visits / clicks)
    assert spring["lost_to"] == pytest.approx(lost_visits, rel=1e-9)
    assert spring["lost_final"] == pytest.approx(lost_visits * orders / visits, rel=1e-9)

    # "door" against the other 42 keywords; yield: its campaign's (Doors-Generic) rates now.
    impressions = now(r.ads, "Day", "Impressions", Keyword="door")
    door_clicks = now(r.ads, "Day", "Clicks", Keyword="door")
    all_impressions, all_clicks = now(r.ads, "Day", "Impressions"), now(r.ads, "Day", "Clicks")
    others = (all_clicks - door_clicks) / (all_impressions - impressions)
    campaign_clicks = now(r.ads, "Day", "Clicks", Campaign="Doors-Generic")
    campaign_orders = now(r.orders, "Order date", Campaign="Doors-Generic")
    door = leaks["clicks"]
    assert door["reference"] == "peers"
    assert door["context"]["campaign"] == "Doors-Generic"
    lost_clicks = impressions * (others - door_clicks / impressions)
    assert door["lost_to"] == pytest.approx(lost_clicks, rel=1e-9)
    assert door["lost_final"] == pytest.approx(
        lost_clicks * campaign_orders / campaign_clicks, rel=1e-9
    )


def test_diagnose_sets_the_totals_row_aside_with_its_line(
    demo: Demo, diagnosis: dict[str, Any]
) -> None:
    [row] = diagnosis["rejected_rows"]
    t = demo_totals(demo.reports)
    assert row["source"] == str(demo.files[0])
    assert row["line"] == demo.reports.ads.num_rows + 4  # title, date range, header, rows
    assert row["raw"].startswith(f"Total,,,,,,{t['impressions']},{t['clicks']},")
    assert "totals row" in row["reason"]


def test_diagnose_csv_has_one_row_per_leak(demo: Demo, diagnosis: dict[str, Any]) -> None:
    result = run("diagnose", *demo.args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [row["rank"] for row in rows] == ["1", "2", "3"]
    expected = [
        ";".join(f"{k}={v}" for k, v in leak["segment"].items()) for leak in diagnosis["leaks"]
    ]
    assert [row["segment"] for row in rows] == expected
    assert [row["layer"] for row in rows] == [leak["layer"] for leak in diagnosis["leaks"]]
    for row, leak in zip(rows, diagnosis["leaks"], strict=True):
        assert float(row["lost_final"]) == pytest.approx(leak["lost_final"], abs=0.005)
        assert row["reference"] == leak["reference"] and row["significant"] == "true"


def test_diagnose_table_names_the_three_segments(demo: Demo) -> None:
    result = run("diagnose", *demo.args)
    assert result.code == 0
    for text in ("keyword=door", "rep=Sam", "campaign=Spring-Brand", "orders lost"):
        assert text in result.out
    assert "Traceback" not in result.out + result.err
    one = run("diagnose", *demo.args, "--top", "1")
    assert "keyword=door" in one.out
    assert "rep=Sam" not in one.out and "Spring-Brand" not in one.out
    assert "... and 2 more" in one.out


def test_diagnose_min_gap_is_relative(demo: Demo, diagnosis: dict[str, Any]) -> None:
    door = diagnosis["leaks"][0]
    gap = 1 - door["rate"] / door["reference_rate"]
    assert 0.90 < gap < 0.95  # "door" clicks 0.59% against 6.14%: a 90.3% gap
    at_90 = run("diagnose", *demo.args, "--min-gap", "90%", "--format", "json").json()
    assert [leak["segment"] for leak in at_90["leaks"]] == [{"keyword": "door"}]
    at_95 = run("diagnose", *demo.args, "--min-gap", "95%", "--format", "json").json()
    assert at_95["leaks"] == []
    table = run("diagnose", *demo.args, "--min-gap", "0.95")
    assert table.code == 0 and "No leak" in table.out


def test_diagnose_by_campaign_only_finds_what_campaigns_show(demo: Demo) -> None:
    payload = run("diagnose", *demo.args, "--by", "campaign", "--format", "json").json()
    segments = [(leak["layer"], leak["segment"]) for leak in payload["leaks"]]
    assert ("visits", {"campaign": "Spring-Brand"}) in segments
    assert all(set(segment) <= {"campaign"} for _, segment in segments)
    # "door" drags its campaign down, so the campaign is what --by campaign can show
    assert ("clicks", {"campaign": "Doors-Generic"}) in segments
    assert all(layer != "orders" for layer, _ in segments)  # Sam needs the rep


def test_diagnose_rejects_file_lists_the_totals_row(demo: Demo, tmp_path: Path) -> None:
    target = tmp_path / "rejects.csv"
    result = run("diagnose", *demo.args, "--rejects", target)
    assert result.code == 0
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert list(rows[0]) == ["source", "line", "field", "value", "reason", "fix", "raw"]
    assert [(r["source"], r["line"], r["value"]) for r in rows] == [
        (str(demo.files[0]), str(demo.reports.ads.num_rows + 4), "Total")
    ]
    assert result.err == ""  # only the export's totals line was set aside: no warning


def test_diagnose_user_knowledge_comes_first_for_its_layer(demo: Demo, tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "version: 1\n"
        "layers:\n"
        "  orders:\n"
        "    causes:\n"
        "      - text: Sam is new and still learning the product.\n"
        "        when: {dimension: rep}\n"
        "    actions:\n"
        "      - text: Pair Sam with Chloe for two weeks.\n"
    )
    payload = run("diagnose", *demo.args, "--knowledge", mine, "--format", "json").json()
    leaks = {leak["layer"]: leak for leak in payload["leaks"]}
    assert leaks["orders"]["causes"][0] == "Sam is new and still learning the product."
    # an action without a condition: after the shipped conditioned ones, before the general ones
    actions = leaks["orders"]["actions"]
    assert actions[0].startswith("Coach this rep")
    general = actions.index("Track each rep's conversion rate from inquiry to order, every week.")
    assert actions.index("Pair Sam with Chloe for two weeks.") == general - 1
    for layer in ("clicks", "visits"):
        assert not any("Sam" in text for text in leaks[layer]["causes"] + leaks[layer]["actions"])


def test_diagnose_user_range_makes_the_whole_arrival_rate_a_range_leak(
    demo: Demo, tmp_path: Path
) -> None:
    ranges = tmp_path / "ranges.yaml"
    ranges.write_text("version: 1\nranges:\n  visits: {low: 0.9, high: 1.0, source: our goal}\n")
    payload = run("diagnose", *demo.args, "--ranges", ranges, "--format", "json").json()
    visits = [leak for leak in payload["leaks"] if leak["layer"] == "visits"]
    # everything at 72% is below 90%; the broken landing page stands out among the campaigns,
    # so it is a leak of its own (overlapping, not additive); the other campaigns are symptoms
    assert [v["segment"] for v in visits] == [{}, {"campaign": "Spring-Brand"}]
    leak, spring = visits
    r = demo.reports
    clicks = total(r.ads, "Day", "Clicks", None, CURRENT)
    arrived = total(r.analytics, "Date", "Sessions", None, CURRENT)
    orders = total(r.orders, "Order date", None, None, CURRENT)
    assert (leak["segment"], leak["reference"], leak["reference_rate"]) == ({}, "range", 0.9)
    assert leak["lost_to"] == pytest.approx(clicks * (0.9 - arrived / clicks), rel=1e-9)
    assert leak["lost_final"] == pytest.approx(leak["lost_to"] * orders / arrived, rel=1e-9)
    range_comparison = [c for c in leak["comparisons"] if c["reference"] == "range"]
    assert "our goal" in range_comparison[0]["detail"]
    assert {"campaign": "Spring-Brand"} not in [s["segment"] for s in leak["symptoms"]]
    # against 90% Spring-Brand loses more than against its own history (79.5%): range it is
    where = {"Campaign": "Spring-Brand"}
    spring_clicks = total(r.ads, "Day", "Clicks", where, CURRENT)
    spring_visits = total(
        r.analytics, "Date", "Sessions", {"Session campaign": "spring-brand"}, CURRENT
    )
    spring_orders = total(r.orders, "Order date", None, where, CURRENT)
    spring_lost = (0.9 * spring_clicks - spring_visits) * spring_orders / spring_visits
    assert spring["reference"] == "range"
    assert spring["lost_final"] == pytest.approx(spring_lost, rel=1e-9)
    assert {"clicks", "orders"} <= {leak["layer"] for leak in payload["leaks"]}


# --- whatif ----------------------------------------------------------------------------------


def test_whatif_lifting_the_arrival_rate(demo: Demo) -> None:
    result = run("whatif", *demo.args, "--step", "3", "--lift", "10%", "--format", "json")
    assert result.code == 0, result.err
    w = result.json()
    r = demo.reports
    clicks = total(r.ads, "Day", "Clicks", None, CURRENT)
    visits = total(r.analytics, "Date", "Sessions", None, CURRENT)
    inquiries = total(r.inquiries, "Received at", None, None, CURRENT)
    orders = total(r.orders, "Order date", None, None, CURRENT)
    revenue = total(r.orders, "Order date", "Revenue", None, CURRENT)
    cost = total(r.ads, "Day", "Cost", None, CURRENT)
    arrival = visits / clicks
    assert (w["layer"], w["from_stage"], w["segment"]) == ("visits", "clicks", {})
    assert w["rate"] == pytest.approx(arrival, rel=1e-12)
    assert w["new_rate"] == pytest.approx(arrival * 1.1, rel=1e-12)
    downstream = inquiries / visits * orders / inquiries
    gained = clicks * arrival * 0.10 * downstream
    assert w["delta"]["final"] == pytest.approx(gained, rel=1e-9)
    assert w["before"]["final"] == orders
    assert w["after"]["final"] - w["before"]["final"] == pytest.approx(w["delta"]["final"])
    assert w["before"]["cost"] == w["after"]["cost"] == pytest.approx(cost, rel=1e-12)
    for side in ("before", "after"):
        assert w[side]["cpa"] == pytest.approx(w[side]["cost"] / w[side]["final"], rel=1e-12)
    assert w["before"]["revenue"] == pytest.approx(revenue, rel=1e-12)
    assert w["delta"]["revenue"] == pytest.approx(gained * revenue / orders, rel=1e-9)
    assert w["delta"]["cpa"] == pytest.approx(w["after"]["cpa"] - w["before"]["cpa"])
    assert w["notes"] == []


def test_whatif_lift_on_one_rep_uses_the_reps_revenue(demo: Demo) -> None:
    w = run(
        "whatif", *demo.args, "--step", "orders", "--lift", "10%", "--segment", "rep=sam",
        "--format", "json",
    ).json()  # fmt: skip
    r = demo.reports
    inquiries = total(r.inquiries, "Received at", None, {"Assigned rep": "Sam"}, CURRENT)
    orders = total(r.orders, "Order date", None, {"Rep": "Sam"}, CURRENT)
    revenue = total(r.orders, "Order date", "Revenue", {"Rep": "Sam"}, CURRENT)
    assert w["segment"] == {"rep": "Sam"}
    assert w["rate"] == pytest.approx(orders / inquiries)
    assert w["delta"]["final"] == pytest.approx(0.1 * orders, rel=1e-9)
    assert w["delta"]["revenue"] == pytest.approx(0.1 * revenue, rel=1e-9)


def test_whatif_to_reference_gains_the_diagnosed_loss(
    demo: Demo, diagnosis: dict[str, Any]
) -> None:
    result = run(
        "whatif", *demo.args, "--step", "visits", "--to-reference",
        "--segment", "campaign=spring-brand", "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    w = result.json()
    [leak] = [leak for leak in diagnosis["leaks"] if leak["layer"] == "visits"]
    assert w["segment"] == {"campaign": "Spring-Brand"}
    assert w["change"] == "to reference"
    assert (w["rate"], w["new_rate"]) == (leak["rate"], leak["reference_rate"])
    assert w["delta"]["final"] == pytest.approx(leak["lost_final"], abs=1e-9)
    assert w["delta"]["revenue"] == pytest.approx(leak["lost_revenue"], abs=1e-6)


def test_whatif_to_reference_without_segment_gains_the_leaks_lost_revenue(
    demo: Demo, diagnosis: dict[str, Any]
) -> None:
    w = run("whatif", *demo.args, "--step", "visits", "--to-reference", "--format", "json").json()
    [leak] = [leak for leak in diagnosis["leaks"] if leak["layer"] == "visits"]
    assert w["delta"]["final"] == pytest.approx(leak["lost_final"], abs=1e-9)
    assert w["delta"]["revenue"] == pytest.approx(leak["lost_revenue"], abs=1e-6)


@pytest.mark.parametrize("how", [["--lift", "10%", "--to-reference"], []])
def test_whatif_needs_exactly_one_of_lift_and_to_reference(demo: Demo, how: list[str]) -> None:
    line = one_error_line(run("whatif", *demo.args, "--step", "3", *how))
    assert "--lift" in line and "--to-reference" in line


def test_whatif_caps_a_proportion_at_100_percent(demo: Demo) -> None:
    w = run("whatif", *demo.args, "--step", "visits", "--lift", "50%", "--format", "json").json()
    assert w["rate"] * 1.5 > 1 and w["new_rate"] == 1.0
    assert w["change"] == "+50.0%"
    assert w["notes"] == ["a rate cannot pass 100%: 72.2% +50.0% is capped at 100%"]
    r = demo.reports
    clicks = total(r.ads, "Day", "Clicks", None, CURRENT)
    visits = total(r.analytics, "Date", "Sessions", None, CURRENT)
    orders = total(r.orders, "Order date", None, None, CURRENT)
    assert w["delta"]["final"] == pytest.approx((clicks - visits) * orders / visits, rel=1e-9)
    table = run("whatif", *demo.args, "--step", "visits", "--lift", "50%")
    assert "capped at 100%" in table.out and "100.0%" in table.out


def test_whatif_a_cut_below_zero_stops_at_zero(demo: Demo) -> None:
    result = run("whatif", *demo.args, "--step", "visits", "--lift", "-150%", "--format", "json")
    if result.code == 1:  # refusing it is fine too
        one_error_line(result)
        return
    w = result.json()
    assert w["new_rate"] >= 0 and w["after"]["final"] >= 0


@pytest.mark.parametrize("step", ["9", "0"])
def test_whatif_step_out_of_range_names_the_range(demo: Demo, step: str) -> None:
    line = one_error_line(run("whatif", *demo.args, "--step", step, "--lift", "10%"))
    assert f"no step {step}" in line and "1..5" in line


def test_whatif_table_and_csv(demo: Demo) -> None:
    table = run("whatif", *demo.args, "--step", "3", "--lift", "10%")
    assert "What if Clicks -> Visits on everything" in table.out
    assert "cost per order" in table.out and "Traceback" not in table.out + table.err
    out = run("whatif", *demo.args, "--step", "3", "--lift", "10%", "--format", "csv").out
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["measure", "before", "after", "change"]
    assert [row[0] for row in rows[1:]] == ["final", "revenue", "cost", "cpa"]
    orders = total(demo.reports.orders, "Order date", None, None, CURRENT)
    assert float(rows[1][3]) == pytest.approx(0.1 * orders, rel=1e-5)
    assert float(rows[3][3]) == 0.0  # cost does not change


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "extra", "wanted"),
    [
        ("report", ["--template", "nope"], ["unknown template 'nope'", "search-marketing"]),
        ("diagnose", ["--stage", "nope=X"], ["--stage", "'nope'", "impressions, clicks"]),
        ("report", ["--join", "region"], ["ads.csv has no column 'region'", "campaign"]),
        ("diagnose", ["--by", "region"], ["'region'", "keyword"]),
        ("diagnose", ["--min-gap", "abc"], ["--min-gap", "'abc'", "10%"]),
        ("whatif", ["--step", "orders", "--lift", "5%", "--segment", "rep=Nobody"], ["Nobody"]),
    ],
)
def test_mistakes_are_one_error_line(
    demo: Demo, command: str, extra: list[str], wanted: list[str]
) -> None:
    line = one_error_line(run(command, *demo.args, *extra))
    for text in wanted:
        assert text in line, line


def test_join_error_lists_the_files_columns(demo: Demo) -> None:
    line = one_error_line(run("report", *demo.args, "--join", "region"))
    assert "campaign, ad_group, keyword, match_type, device" in line


def test_a_missing_file_is_named(demo: Demo) -> None:
    missing = demo.dir / "nope.csv"
    line = one_error_line(run("report", *demo.args, missing))
    assert str(missing) in line and "not found" in line


def test_a_spec_and_report_files_together_are_refused(demo: Demo, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("steps: [a, b]\n")
    line = one_error_line(run("diagnose", *demo.args, spec))
    assert "not both" in line and str(spec) in line


def test_a_copied_ad_report_is_named_and_dropped_measure_by_measure(
    demo: Demo, tmp_path: Path
) -> None:
    copy = tmp_path / "ads_copy.csv"
    copy.write_bytes(demo.files[0].read_bytes())
    dropped: list[str] = []
    for measure in ("impressions", "clicks", "cost"):
        line = one_error_line(run("report", *demo.args, copy, *dropped, "--format", "json"))
        assert f"{measure} is in both {demo.files[0]} and {copy}" in line
        assert f"--drop ads_copy.csv:{measure}" in line
        dropped += ["--drop", f"ads_copy.csv:{measure}"]
    result = run("report", *demo.args, copy, *dropped, "--format", "json")
    assert result.code == 0, result.err
    t = demo_totals(demo.reports)
    assert result.json()["rows"][0]["counts"] == {stage: t[stage] for stage in STAGES}


def test_clicks_in_the_analytics_export_too(demo: Demo, tmp_path: Path) -> None:
    web = tmp_path / "web.csv"
    lines = demo.files[1].read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    web.write_text(
        "Date,Session campaign,Device category,Clicks,Sessions\n"
        + "".join(",".join([*row[:3], "1", row[3]]) + "\n" for row in rows)
    )
    files = [demo.files[0], web, *demo.files[2:]]
    line = one_error_line(run("report", *files))
    assert f"clicks is in both {demo.files[0]} and {web}" in line
    assert "--drop web.csv:clicks" in line
    result = run("report", *files, "--drop", "web.csv:clicks", "--format", "json")
    assert result.code == 0, result.err
    counts = result.json()["rows"][0]["counts"]
    assert counts["clicks"] == demo_totals(demo.reports)["clicks"]  # the ad report's


def test_drop_of_a_file_that_is_not_given_is_an_error(demo: Demo) -> None:
    line = one_error_line(run("report", *demo.args, "--drop", "adz.csv:clicks"))
    assert "adz.csv" in line


# --- event funnels ---------------------------------------------------------------------------

EVENT_START = datetime(2024, 1, 1)  # a Monday
EVENT_DAYS = 112  # 16 weeks
CHANNELS = ("ads", "seo", "email")
PER_DAY = 12
BROKEN_FROM = 84  # "ads" signs up half as often in the last 4 weeks


def signups(channel: str, day: int) -> int:
    """Of the day's 12 visitors of a channel, the first this many sign up."""
    return 3 if channel == "ads" and day >= BROKEN_FROM else 6


@pytest.fixture(scope="module")
def event_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """view -> signup -> purchase over 16 weeks; each signup with an even index purchases."""
    directory = tmp_path_factory.mktemp("events")
    people: dict[str, list[tuple[Any, ...]]] = {}

    def stamp(t: datetime) -> str:
        return t.strftime("%Y-%m-%d %H:%M:%S")

    for day in range(EVENT_DAYS):
        for channel in CHANNELS:
            for i in range(PER_DAY):
                t = EVENT_START + timedelta(days=day, hours=9, minutes=i)
                events: list[tuple[Any, ...]] = [("view", stamp(t), {"channel": channel})]
                if i < signups(channel, day):
                    events.append(("signup", stamp(t + timedelta(minutes=5)), {}))
                    if i % 2 == 0:
                        events.append(("purchase", stamp(t + timedelta(minutes=30)), {}))
                people[f"{channel}-{day}-{i}"] = events
    table = journeys(people)
    when = pc.strftime(pc.cast(table["ts"], pa.timestamp("us", "UTC")), "%Y-%m-%dT%H:%M:%SZ")
    events_csv = directory / "events.csv"
    pa_csv.write_csv(
        pa.table(
            {
                "person_id": table["person_id"],
                "event": table["event"],
                "timestamp": when,
                "channel": table["channel"],
            }
        ),
        events_csv,
    )
    db = directory / "events.duckdb"
    loaded = run("ingest", events_csv, "--db", db, "--no-progress")
    assert loaded.code == 0, loaded.err
    spec = directory / "signup.yaml"
    spec.write_text("name: signup\nsteps: [view, signup, purchase]\nwindow: 1d\n")
    return spec, db


def _event_diagnosis(store: tuple[Path, Path], engine: str) -> dict[str, Any]:
    spec, db = store
    result = run(
        "diagnose", spec, "--by", "channel", "--db", db, "--engine", engine, "--format", "json"
    )
    assert result.code == 0, result.err
    payload: dict[str, Any] = result.json()
    return payload


def _expected_ads_numbers() -> tuple[int, int, float]:
    """(views, signups, purchases lost) of "ads" in the current window: the last 4 weeks, less
    the last day, whose attempts' 1-day window had not closed by the last event."""
    days = range(EVENT_DAYS - 28, EVENT_DAYS - 1)
    views = PER_DAY * len(days)
    signed = sum(signups("ads", day) for day in days)
    purchases = sum(len(range(0, signups("ads", day), 2)) for day in days)
    lost_signups = views * (0.5 - signed / views)  # every other week and channel: 6 of 12
    return views, signed, lost_signups * purchases / signed


def test_event_funnel_diagnose_finds_the_channel_at_step_2(
    event_store: tuple[Path, Path],
) -> None:
    payload = _event_diagnosis(event_store, "kernel")
    leak = payload["leaks"][0]
    assert (leak["layer"], leak["from_stage"], leak["segment"]) == (
        "signup",
        "view",
        {"channel": "ads"},
    )
    assert leak["reference"] in ("history", "peers")
    views, signed, lost = _expected_ads_numbers()
    assert (leak["from_count"], leak["to_count"]) == (views, signed)
    assert leak["reference_rate"] == pytest.approx(0.5)
    assert leak["lost_final"] == pytest.approx(lost, rel=1e-12)
    assert leak["lost_revenue"] is None  # no --value
    assert all(other["segment"].get("channel") != "seo" for other in payload["leaks"])
    assert payload["final_stage"] == "purchase"
    last_monday = EVENT_START + timedelta(days=EVENT_DAYS - 7)
    assert payload["current"][-1] == last_monday.date().isoformat()
    left_out = len(CHANNELS) * PER_DAY  # the last day's attempts
    assert any(note.startswith(f"{left_out} attempts that entered") for note in payload["notes"])


def test_event_funnel_engines_give_identical_leaks(event_store: tuple[Path, Path]) -> None:
    kernel = _event_diagnosis(event_store, "kernel")
    reference = _event_diagnosis(event_store, "reference")
    assert kernel["leaks"] and reference["leaks"] == kernel["leaks"]
