"""`funnelscope pipeline funnel`."""

from __future__ import annotations

import click

from funnelscope.cli.options import db_option, format_option


@click.command()
@click.option(
    "--mode",
    type=click.Choice(["created", "active"]),
    default="created",
    show_default=True,
    help="created: deals created in the period and how far they got; active: what "
    "reached each stage in the period.",
)
@click.option("--period", default=None, help="2026, 2026-Q4 or 2026-12 (default: all time).")
@click.option("--by", default=None, help="Group by a deal field: owner, team, source, campaign ...")
@click.option("--pipeline", "pipeline_name", default=None, help="Only this pipeline.")
@click.option("--as-of", default=None, help="Count what was known at this date (default: now).")
@click.option(
    "--settings",
    "settings_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Pipeline settings YAML (stage orders, currency ...).",
)
@click.option(
    "--min-deals",
    default=10,
    show_default=True,
    help="Test a group at a stage only with at least this many deals there.",
)
@db_option
@format_option
def funnel(
    mode: str,
    period: str | None,
    by: str | None,
    pipeline_name: str | None,
    as_of: str | None,
    settings_path: str | None,
    min_deals: int,
    db_path: str,
    output_format: str,
) -> None:
    """Stage funnel over deals: conversion, skips, time in stage, lost reasons, per group."""
    from funnelscope.app.pipeline.data import as_of_time
    from funnelscope.app.pipeline.funnel import pipeline_funnel
    from funnelscope.cli.pipeline.output import emit_data
    from funnelscope.cli.pipeline.render_funnel import print_funnel

    result = pipeline_funnel(
        db_path,
        settings_path=settings_path,
        as_of=as_of_time(as_of),
        period=period,
        mode=mode,
        by=by,
        pipeline=pipeline_name,
        min_deals=min_deals,
    )
    if not emit_data(result, output_format):
        print_funnel(result)
