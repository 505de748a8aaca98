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
        _show_trend_and_repurchase(run)
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
        _show_crm(db_path, directory, seed, console)


def _show_crm(db_path: str, directory: str, seed: int, status: Console) -> None:
    """The demo CRM: the stage funnel with the groups that convert worse, the planted truths,
    the call-today list and the target gap."""
    from collections import Counter
    from dataclasses import replace

    from rich.console import Console

    from funnelscope.app.pipeline.demo import run_crm_demo
    from funnelscope.cli.pipeline.followups import print_followups
    from funnelscope.cli.pipeline.output import percent
    from funnelscope.cli.pipeline.targets import print_targets

    with status.status("Writing and loading the demo CRM"):
        run = run_crm_demo(db_path, directory, seed)
    out = Console(soft_wrap=True)
    deals = sum(f.deals for f in run.load.files)
    out.print(f"\n[bold]Sales pipeline[/] (demo CRM in {run.files.deals.parent}/: {deals:,} deals, "
              f"as of {run.as_of_text} UTC)")  # fmt: skip
    from funnelscope.cli.pipeline.render_funnel import print_funnel

    overall = replace(run.by_owner, funnels=run.by_owner.funnels[:1], by=None, gaps=())
    print_funnel(overall)
    out.print("Found (groups that convert worse or lose more for one reason, Holm-adjusted):")
    for result in (run.by_owner, run.by_source):
        for gap in result.gaps:
            if gap.significant and gap.worse:
                what = (f"converts {percent(gap.group_rate)} at {gap.stage} vs "
                        f"{percent(gap.rest_rate)}" if gap.kind == "conversion" else
                        f"loses {percent(gap.group_rate)} of its lost deals for '{gap.stage}' vs "
                        f"{percent(gap.rest_rate)}")  # fmt: skip
                out.print(f"  - {result.by} {gap.group} {what}")
    stages = run.by_owner.funnels[0].stages
    slowest = max(stages, key=lambda s: s.time.median_days or 0.0)
    out.print(f"  - slowest stage: {slowest.stage} (median {slowest.time.median_days} days, "
              f"p90 {slowest.time.p90_days})")  # fmt: skip
    rotting = Counter(d.stage for d in run.followups.deals if d.rotting)
    if rotting:
        share = ", ".join(f"{stage} {n}" for stage, n in rotting.most_common())
        out.print(f"  - rotting open deals by stage: {share}")
    out.print("What the generator planted:")
    for truth in run.files.planted:
        out.print(f"  - {truth.kind}: {truth.where} ({truth.detail})")
    print_followups(run.followups)
    teams = tuple(t for t in run.targets.targets if t.target.team is not None)
    print_targets(replace(run.targets, targets=teams))  # each rep's target: pipeline targets
    settings, when = run.files.settings, run.as_of_text
    out.print(
        f"More: funnelscope pipeline funnel --by owner --settings {settings} --as-of {when}\n"
        f"      funnelscope pipeline forecast --backtest --settings {settings} --as-of {when}\n"
        f"      funnelscope pipeline score --settings {settings} --as-of {when}"
        + ("" if db_path == "funnelscope.duckdb" else f"  (add --db {db_path})")
    )


def _show_trend_and_repurchase(run: DemoRun) -> None:
    """The weekly conversion trend and the second orders, each beside the generator's truth."""
    from rich.console import Console

    from funnelscope.app.demo import REPEAT_WINDOWS
    from funnelscope.cli.render_retention import tables
    from funnelscope.cli.render_timing import trend_table

    out = Console(soft_wrap=True)
    steps = run.result.steps
    if run.trend is not None and steps:
        out.print()
        out.print(trend_table(run.trend, "persons", (steps[0].label, steps[-1].label)))
        if run.true_conversion is not None:
            out.print(f"The generator's true rate, every week: {run.true_conversion:.1%}")
    if run.repurchase is not None:
        out.print()
        for part in tables(run.repurchase)[:2]:
            out.print(part)
        truth = ", ".join(
            f"within {days}d {share:.1%}"
            for days, share in zip(REPEAT_WINDOWS, run.true_repeat, strict=True)
        )
        out.print(f"The generator's true second-order shares: {truth}")
        out.print(
            f"More: funnelscope funnel {run.spec_path} --trend week --time-to-convert; "
            "funnelscope retention repurchase --order order_completed (over the whole store, "
            "the A/B test's customers too)"
        )


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
