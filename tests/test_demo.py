"""The demo: its funnel, computed through the whole product, is within sampling error of truth."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from funnelscope.analyses.funnel import run_funnel
from funnelscope.cli.main import main
from funnelscope.demo.shop import generate_shop
from funnelscope.model.spec import load_funnel, parse_funnel
from funnelscope.store import EventStore


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("demo")
    shop = generate_shop(20_000, seed=11)
    path = directory / "shop.parquet"
    shop.write_parquet(path)
    store = EventStore(":memory:")
    report = store.ingest([path])
    assert report.rows_loaded == shop.events.num_rows and report.rows_quarantined == 0
    yield shop, store
    store.close()


def within_sampling_error(measured: float, true: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(measured - true) <= sigmas * math.sqrt(true * (1 - true) / n)


STEPS = ["page_opened", "product_clicked", "added_to_cart", "paid", "order_completed"]


def test_measured_step_rates_match_the_generator(demo_store) -> None:  # type: ignore[no-untyped-def]
    shop, store = demo_store
    result = run_funnel(parse_funnel({"steps": STEPS, "window": "7d"}), store)
    persons = len(set(shop.events.column("person_id").to_pylist()))
    assert result.step(1).count == persons  # everyone opens a page first
    for k, true in enumerate(shop.true_rates["all"], start=2):
        previous = result.step(k - 1).count
        measured = result.step(k).conversion_from_previous
        assert measured is not None
        assert within_sampling_error(measured, true, previous), (k, measured, true)


@pytest.mark.parametrize("channel", ["paid_search", "email"])
def test_per_channel_rates_match_the_generator(demo_store, channel: str) -> None:  # type: ignore[no-untyped-def]
    shop, store = demo_store
    spec = {
        "steps": STEPS,
        "window": "7d",
        "where": [{"property": "channel", "op": "eq", "value": channel}],
    }
    result = run_funnel(parse_funnel(spec), store)
    assert result.step(1).count > 500
    for k, true in enumerate(shop.true_rates[channel], start=2):
        measured = result.step(k).conversion_from_previous
        assert measured is not None
        assert within_sampling_error(measured, true, result.step(k - 1).count), (k, measured, true)


def test_demo_command_loads_writes_specs_and_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    db = tmp_path / "demo.duckdb"
    args = ["demo", "--persons", "3000", "--dir", str(tmp_path), "--db", str(db)]
    assert main([*args, "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["funnel"] == "ecommerce-behaviour" and first["steps"][0]["count"] == 3000
    assert len(list((tmp_path / "funnels").glob("*.yaml"))) == 9
    for spec in (tmp_path / "funnels").glob("*.yaml"):
        load_funnel(spec)
    # Running it again loads nothing new and gives the same numbers.
    assert main([*args, "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == first
    assert "0 events loaded" in captured.err
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "Page opened" in table and "true" in table
    # the weekly trend and the second orders, each beside the generator's truth
    assert "Conversion by week of entry (UTC, weeks start Monday)" in table
    assert "The generator's true rate, every week: 9.3%" in table
    assert "The generator's true second-order shares: within 7d 17.6%, within 14d 26.4%" in table
    # The search-marketing report set, and its top leaks: the three planted ones.
    reports = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert reports == ["ads.csv", "analytics.csv", "inquiries.csv", "orders.csv"]
    leaks, crm = table.split("the biggest leaks in the last 4 weeks", 1)[1].split(
        "Sales pipeline", 1
    )
    # The demo CRM: its planted truths are found and the follow-up list and team targets shown.
    assert "owner carol converts 33.3% at qualification vs 66.4%" in crm
    assert "source paid_social loses 85.4% of its lost deals for 'budget' vs 8.4%" in crm
    assert "rotting open deals by stage: proposal 41, capture 1" in crm
    assert "Call today (EUR): 8 of 98" in crm and "2026-Q4, team north: 22 more won deals" in crm
    assert "Step 3 (checkout_started) for B moved" in leaks and "Safe to decide: yes." in leaks
    assert (tmp_path / "demo-data" / "experiment.yaml").exists()
    rows = [line.split()[:3] for line in leaks.splitlines() if line[:3].strip().isdigit()]
    assert rows == [
        ["1", "Clicks", "keyword=door"],
        ["2", "Orders", "rep=Sam"],
        ["3", "Visits", "campaign=Spring-Brand"],
    ]
