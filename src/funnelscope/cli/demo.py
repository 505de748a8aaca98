"""`funnelscope demo`: a synthetic shop, loaded, with ready specs, and its funnel shown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from funnelscope.cli.options import db_option, format_option, show_progress

if TYPE_CHECKING:
    from rich.console import Console

DEMO_FUNNEL = "ecommerce-behaviour"


@click.command()
@db_option
@click.option(
    "--persons",
    default=50_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many shoppers to simulate.",
)
@click.option("--seed", default=7, show_default=True, help="Random seed (same seed, same data).")
@click.option(
    "--dir",
    "directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where demo-data/, funnels/ and reports/ are written.",
)
@format_option
def demo(db_path: str, persons: int, seed: int, directory: str, output_format: str) -> None:
    """Generate a realistic shop, load it, write ready funnel specs and show the e-commerce funnel;
    write a search-marketing report set (ad report, web analytics, inquiry log, orders) with
    three planted problems, and show the leaks `diagnose` finds in it.

    The generators know the truth: true step rates are shown next to the measured ones, and the
    planted problems next to the leaks found.
    """
    from rich.console import Console

    from funnelscope.analyses.funnel import run_funnel
    from funnelscope.cli.render import print_result
    from funnelscope.demo.shop import generate_shop
    from funnelscope.demo.specs import write_template_specs
    from funnelscope.model.spec import load_funnel
    from funnelscope.store import EventStore

    console = Console(stderr=True, soft_wrap=True)
    base = Path(directory)
    data_file = base / "demo-data" / "shop_events.parquet"
    data_file.parent.mkdir(parents=True, exist_ok=True)
    with console.status(f"Simulating {persons:,} shoppers"):
        shop = generate_shop(persons, seed=seed)
        shop.write_parquet(data_file)
    console.print(f"wrote {shop.events.num_rows:,} events to {data_file}")
    specs = write_template_specs(base / "funnels")
    spec_path = base / "funnels" / f"{DEMO_FUNNEL}.yaml"
    console.print(f"wrote {len(specs)} funnel specs to {base / 'funnels'}/")
    experiment_data, experiment_spec = _experiment_files(base, seed, console)
    with EventStore(db_path) as store:
        report = store.ingest([data_file, experiment_data], progress=show_progress(None))
        console.print(
            f"{db_path}: {report.rows_loaded:,} events loaded, "
            f"{report.duplicates_skipped:,} already there"
        )
        with console.status("Computing the funnel"):
            result = run_funnel(load_funnel(spec_path), store)
        with console.status("Comparing the experiment's variants"):
            verdict = _experiment_verdict(experiment_spec, store)
    print_result(result, output_format, Console())
    reports, planted = _search_reports(base, seed, console)
    if output_format == "table":
        true = shop.true_rates["all"]
        lines = [
            f"  {step.label}: measured {step.conversion_from_previous or 0:.1%}, true {rate:.1%}"
            for step, rate in zip(result.steps[1:], true, strict=True)
        ]
        Console().print("Step rates vs the generator's true rates:\n" + "\n".join(lines))
        Console(soft_wrap=True).print(
            f"Next: funnelscope funnel {spec_path} --db {db_path} --people 4 --status dropped\n"
            f"The other specs in {base / 'funnels'}/ are stage-model templates for your own "
            "events: edit their event names to match your data."
        )
        _show_leaks(reports, planted, Console(soft_wrap=True))
        out = Console(soft_wrap=True)
        out.print("\nA/B test (variant B truly lifts step 3, cart -> checkout, by 8% relative):")
        for line in verdict:
            out.print(f"  {line}")
        out.print(f"Details: funnelscope experiment {experiment_spec} --db {db_path}")


EXPERIMENT_PERSONS = 120_000
"""Enough persons per variant to detect the planted +8% relative lift after the correction."""


def _experiment_files(base: Path, seed: int, console: Console) -> tuple[Path, Path]:
    from funnelscope.demo.experiment import generate_experiment

    with console.status(f"Simulating an A/B test with {EXPERIMENT_PERSONS:,} persons"):
        data, spec = generate_experiment(EXPERIMENT_PERSONS, seed=seed).write(base / "demo-data")
    console.print(f"wrote an A/B test's events to {data} and its spec to {spec}")
    return data, spec


def _experiment_verdict(spec: Path, store: Any) -> list[str]:
    from funnelscope.analyses.experiment import experiment_counts, load_experiment
    from funnelscope.analyses.experiment_result import analyze_experiment

    return analyze_experiment(experiment_counts(load_experiment(spec), store)).verdict()


def _search_reports(base: Path, seed: int, console: Console) -> tuple[list[Path], Any]:
    from funnelscope.demo.search_reports import generate_search_reports

    demo = generate_search_reports(seed)
    paths = demo.write(base / "reports")
    console.print(
        f"wrote a search-marketing report set to {base / 'reports'}/: "
        + ", ".join(p.name for p in paths)
    )
    return paths, demo.planted


def _show_leaks(paths: list[Path], planted: Any, console: Console) -> None:
    """The report set's top leaks, as `funnelscope diagnose` ranks them, and the truth."""
    from funnelscope.app.marketing import diagnose
    from funnelscope.cli.render_marketing import leak_table

    diagnosis = diagnose([str(p) for p in paths])
    console.print("\nSearch-marketing funnel: the biggest leaks in the last 4 weeks")
    console.print(leak_table(diagnosis.leaks[:5], diagnosis))
    console.print("What the generator planted (expected orders lost in those 4 weeks):")
    for leak in planted:
        console.print(f"  - {leak.description} (about {leak.expected_lost_orders:.0f})")
    files = " ".join(str(p) for p in paths)
    console.print(
        f"Why and what to do: funnelscope diagnose {files}\n"
        f"What if: funnelscope whatif {files} --step visits --to-reference"
    )
