"""The demo as one use case: a synthetic shop and an A/B test loaded into a store, ready funnel
specs, the shop's funnel and the experiment's verdict, and a search-marketing report set with
its diagnosis; the generators' truth comes back beside what was measured."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from funnelscope.analyses.marketing.diagnosis import Diagnosis
    from funnelscope.analyses.retention.repurchase import RepurchaseResult
    from funnelscope.analyses.trends import Trend
    from funnelscope.demo.search_reports import PlantedLeak
    from funnelscope.model.results import FunnelResult
    from funnelscope.store import IngestReport

DEMO_FUNNEL = "ecommerce-behaviour"
REPEAT_WINDOWS = (7, 14)  # days: the demo's repurchase table
EXPERIMENT_PERSONS = 120_000
"""Enough persons per variant to detect the planted +8% relative lift after the correction."""

Stage = Callable[[str], AbstractContextManager[Any]]  # "doing this now", for a spinner
Note = Callable[[str], None]  # "this is done"


def _quiet_stage(what: str) -> AbstractContextManager[Any]:
    return nullcontext()


def _quiet_note(text: str) -> None:
    return None


@dataclass(frozen=True)
class DemoRun:
    db_path: str
    spec_path: Path  # the e-commerce funnel's spec
    specs_dir: Path  # every template's spec
    ingest: IngestReport
    result: FunnelResult
    true_rates: tuple[float, ...]  # the generator's step rates (from the step before), step 2 on
    verdict: tuple[str, ...]  # the experiment's verdict in words
    experiment_spec: Path
    report_files: tuple[Path, ...]
    planted: tuple[PlantedLeak, ...]  # the search-report problems the generator planted
    diagnosis: Diagnosis | None  # what `diagnose` finds in the report set (if asked)
    trend: Trend | None = None  # the funnel's weekly conversion by entry week
    true_conversion: float | None = None  # the generator's first -> last step rate
    repurchase: RepurchaseResult | None = None  # second orders within REPEAT_WINDOWS days
    true_repeat: tuple[float, ...] = ()  # the generator's share for each of REPEAT_WINDOWS


def run_demo(
    db_path: str,
    persons: int = 50_000,
    seed: int = 7,
    directory: str | Path = ".",
    *,
    progress: bool = False,
    diagnose_reports: bool = True,
    stage: Stage = _quiet_stage,
    note: Note = _quiet_note,
) -> DemoRun:
    """Generate, write and load the demo data under `directory` into the store at `db_path`,
    compute the e-commerce funnel and the experiment, and (with `diagnose_reports`) diagnose the
    search-marketing report set; `stage` and `note` hear what happens."""
    import numpy as np
    import pyarrow as pa

    from funnelscope.analyses.funnel import run_funnel
    from funnelscope.analyses.retention.repurchase import RepurchaseSpec
    from funnelscope.analyses.retention.repurchase import repurchase as measure_repurchase
    from funnelscope.analyses.trends import conversion_trend, data_end
    from funnelscope.app.experiments import run_experiment_on
    from funnelscope.app.marketing import diagnose
    from funnelscope.demo.experiment import generate_experiment
    from funnelscope.demo.repeat_orders import generate_repeat_orders, true_repeat_share
    from funnelscope.demo.search_reports import generate_search_reports
    from funnelscope.demo.shop import generate_shop
    from funnelscope.demo.specs import write_template_specs
    from funnelscope.model.spec import load_funnel
    from funnelscope.store import EventStore
    from funnelscope.store.sources import TableSource

    base = Path(directory)
    data_file = base / "demo-data" / "shop_events.parquet"
    data_file.parent.mkdir(parents=True, exist_ok=True)
    with stage(f"Simulating {persons:,} shoppers"):
        shop = generate_shop(persons, seed=seed)
        shop.write_parquet(data_file)
    note(f"wrote {shop.events.num_rows:,} events to {data_file}")
    repeats = generate_repeat_orders(shop)
    repeat_file = repeats.write_parquet(base / "demo-data" / "shop_repeat_orders.parquet")
    note(f"wrote {repeats.repeaters:,} customers' second orders to {repeat_file}")
    specs_dir = base / "funnels"
    specs = write_template_specs(specs_dir)
    spec_path = specs_dir / f"{DEMO_FUNNEL}.yaml"
    note(f"wrote {len(specs)} funnel specs to {specs_dir}/")
    with stage(f"Simulating an A/B test with {EXPERIMENT_PERSONS:,} persons"):
        experiment_data, experiment_spec = generate_experiment(EXPERIMENT_PERSONS, seed=seed).write(
            base / "demo-data"
        )
    note(f"wrote an A/B test's events to {experiment_data} and its spec to {experiment_spec}")
    with EventStore(db_path) as store:
        ingest = store.ingest([data_file, repeat_file, experiment_data], progress=progress)
        note(
            f"{db_path}: {ingest.rows_loaded:,} events loaded, "
            f"{ingest.duplicates_skipped:,} already there"
        )
        with stage("Computing the funnel"):
            result = run_funnel(load_funnel(spec_path), store, person_ids=False)
            trend = conversion_trend(result, "week", "UTC", data_end(result, store))
        with stage("Comparing the experiment's variants"):
            verdict = run_experiment_on(experiment_spec, store).verdict()
    with stage("Measuring second orders"):  # of the shop's customers (not the A/B test's)
        orders = pa.concat_tables([shop.events, repeats.events]).select(
            ["person_id", "event_id", "event", "timestamp"]
        )
        scan = orders.rename_columns(["person_id", "event_id", "event", "ts"]).set_column(
            3, "ts", orders["timestamp"].cast(pa.int64())
        )
        with TableSource(scan) as shop_source:
            spec = RepurchaseSpec(("order_completed",), within_days=REPEAT_WINDOWS)
            repurchase = measure_repurchase(shop_source, spec)
    reports = generate_search_reports(seed)
    report_files = reports.write(base / "reports")
    note(
        f"wrote a search-marketing report set to {base / 'reports'}/: "
        + ", ".join(p.name for p in report_files)
    )
    diagnosis = None
    if diagnose_reports:
        with stage("Diagnosing the report set"):
            diagnosis = diagnose([str(p) for p in report_files])
    return DemoRun(
        db_path=db_path,
        spec_path=spec_path,
        specs_dir=specs_dir,
        ingest=ingest,
        result=result,
        true_rates=tuple(shop.true_rates["all"]),
        verdict=tuple(verdict),
        experiment_spec=experiment_spec,
        report_files=tuple(report_files),
        planted=tuple(reports.planted),
        diagnosis=diagnosis,
        trend=trend,
        true_conversion=float(np.prod(shop.true_rates["all"])),
        repurchase=repurchase,
        true_repeat=tuple(true_repeat_share(days) for days in REPEAT_WINDOWS),
    )
