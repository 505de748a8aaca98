"""`funnelscope pipeline targets`: attainment, pace and the per-stage gap of each target."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from funnelscope.cli.options import db_option, format_option

if TYPE_CHECKING:
    from funnelscope.analyses.pipeline.targets import TargetsResult


@click.command()
@click.option(
    "--settings",
    "settings_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Pipeline settings YAML: targets, currency and rates.",
)
@click.option(
    "--as-of",
    default=None,
    help="The day (or time) to measure at: ISO, UTC unless an offset is given (default: now).",
)
@click.option(
    "--period",
    default=None,
    help="One target from the command line: 2026, 2026-Q1 or 2026-01 (with --revenue "
    "and/or --deals) instead of the settings' targets.",
)
@click.option("--owner", default=None, help="The target's owner (or: only this owner's targets).")
@click.option("--team", default=None, help="The target's team (or: only this team's targets).")
@click.option(
    "--revenue",
    default=None,
    type=float,
    help="With --period: the revenue target, in the report currency.",
)
@click.option("--deals", default=None, type=int, help="With --period: the won-deals target.")
@db_option
@format_option
def targets(
    settings_path: str | None,
    as_of: str | None,
    period: str | None,
    owner: str | None,
    team: str | None,
    revenue: float | None,
    deals: int | None,
    db_path: str,
    output_format: str,
) -> None:  # fmt: skip
    """Each target's attainment so far, the pace still needed against the run rate, a projection,
    and how many more deals each stage needs at today's win rates."""
    from funnelscope.app.pipeline.targets import pipeline_targets
    from funnelscope.cli.pipeline.output import emit_data

    result = pipeline_targets(
        db_path,
        settings_path=settings_path,
        as_of=as_of,
        period=period,
        owner=owner,
        team=team,
        revenue=revenue,
        deals=deals,
    )
    if not emit_data(result, output_format):
        print_targets(result)


def print_targets(result: TargetsResult) -> None:
    """The targets table and each target's gap per stage."""
    from funnelscope.cli.pipeline.output import cell, console, percent, table

    out = console()
    currency = f" ({result.currency})" if result.currency else ""
    columns = ["period", "who", "state", "won_revenue", "revenue_share", "won_deals",
               "deals_share", "days_remaining", "revenue_run_rate", "revenue_needed_per_day",
               "projected_share"]  # fmt: skip
    rows = result.rows()
    title = f"Targets as of {result.as_of:%Y-%m-%d %H:%M} UTC{currency}"
    out.print(
        table(
            title,
            rows,
            columns,
            percent_columns=["revenue_share", "deals_share", "projected_share"],
        )
    )
    for progress in result.targets:
        if not progress.stages:
            continue
        out.print(
            f"\n[bold]{progress.target.period.label}, {progress.target.who}[/]: "
            f"{cell(progress.needed_won)} more won deals needed ({progress.needed_for}; average "
            f"won amount {cell(progress.average_won_amount)} from {progress.average_basis}, "
            f"{progress.average_from} deals)"
        )
        for gap in progress.stages:
            out.print(f"  {gap.phrase}  (win rate {percent(gap.win_rate)}, {gap.rate_basis})")
    for note in result.notes:
        out.print(f"[yellow]note[/] {note}")
