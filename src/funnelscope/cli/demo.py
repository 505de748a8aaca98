"""`funnelscope demo`: a synthetic shop, loaded, with ready specs, and its funnel shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from funnelscope.cli.options import db_option, format_option, show_progress

if TYPE_CHECKING:
    from rich.console import Console

    from funnelscope.app.demo import DemoRun


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

    from funnelscope.app.demo import run_demo
    from funnelscope.cli.render import print_result

    console = Console(stderr=True, soft_wrap=True)
    run = run_demo(
        db_path,
        persons,
        seed,
        directory,
        progress=show_progress(None),
        diagnose_reports=output_format == "table",
        stage=console.status,
        note=console.print,
    )
    print_result(run.result, output_format, Console())
    if output_format == "table":
        lines = [
            f"  {step.label}: measured {step.conversion_from_previous or 0:.1%}, true {rate:.1%}"
            for step, rate in zip(run.result.steps[1:], run.true_rates, strict=True)
        ]
        Console().print("Step rates vs the generator's true rates:\n" + "\n".join(lines))
        Console(soft_wrap=True).print(
            f"Next: funnelscope funnel {run.spec_path} --db {db_path} --people 4 --status dropped\n"
            f"The other specs in {run.specs_dir}/ are stage-model templates for your own "
            "events: edit their event names to match your data."
        )
        _show_leaks(run, Console(soft_wrap=True))
        out = Console(soft_wrap=True)
        out.print("\nA/B test (variant B truly lifts step 3, cart -> checkout, by 8% relative):")
        for line in run.verdict:
            out.print(f"  {line}")
        out.print(f"Details: funnelscope experiment {run.experiment_spec} --db {db_path}")


def _show_leaks(run: DemoRun, console: Console) -> None:
    """The report set's top leaks, as `funnelscope diagnose` ranks them, and the truth."""
    from funnelscope.cli.render_marketing import leak_table

    diagnosis = run.diagnosis
    assert diagnosis is not None
    console.print("\nSearch-marketing funnel: the biggest leaks in the last 4 weeks")
    console.print(leak_table(diagnosis.leaks[:5], diagnosis))
    console.print("What the generator planted (expected orders lost in those 4 weeks):")
    for leak in run.planted:
        console.print(f"  - {leak.description} (about {leak.expected_lost_orders:.0f})")
    files = " ".join(str(p) for p in run.report_files)
    console.print(
        f"Why and what to do: funnelscope diagnose {files}\n"
        f"What if: funnelscope whatif {files} --step visits --to-reference"
    )
