"""`funnelscope demo`: a synthetic shop, loaded, with ready specs, and its funnel shown."""

from __future__ import annotations

from pathlib import Path

import click

from funnelscope.cli.options import db_option, format_option, show_progress

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
    help="Where demo-data/ and funnels/ are written.",
)
@format_option
def demo(db_path: str, persons: int, seed: int, directory: str, output_format: str) -> None:
    """Generate a realistic shop, load it, write ready funnel specs and show the e-commerce funnel.

    The generator knows the true step rates; they are shown next to the measured ones.
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
    with EventStore(db_path) as store:
        report = store.ingest([data_file], progress=show_progress(None))
        console.print(
            f"{db_path}: {report.rows_loaded:,} events loaded, "
            f"{report.duplicates_skipped:,} already there"
        )
        with console.status("Computing the funnel"):
            result = run_funnel(load_funnel(spec_path), store)
    print_result(result, output_format, Console())
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
