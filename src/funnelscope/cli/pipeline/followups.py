"""`funnelscope pipeline followups`: who to call today."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from funnelscope.cli.options import db_option, format_option

if TYPE_CHECKING:
    from funnelscope.analyses.pipeline.followups import FollowupsResult


@click.command()
@click.option(
    "--settings",
    "settings_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Pipeline settings YAML: cadences, rotting limits, currency and rates.",
)
@click.option(
    "--as-of",
    default=None,
    help="The day (or time) to look from: ISO, UTC unless an offset is given (default: now).",
)
@click.option("--owner", default=None, help="Only this owner's deals.")
@click.option("--pipeline", default=None, help="Only this pipeline's deals.")
@click.option("--limit", default=None, type=int, help="Show at most this many deals to call.")
@db_option
@format_option
def followups(
    settings_path: str | None,
    as_of: str | None,
    owner: str | None,
    pipeline: str | None,
    limit: int | None,
    db_path: str,
    output_format: str,
) -> None:  # fmt: skip
    """The open deals' follow-up cadences: touches done on time, late or overdue, rotting deals,
    and the call-today list ranked by the value at risk (amount x stage win rate)."""
    from funnelscope.app.pipeline.followups import pipeline_followups
    from funnelscope.cli.pipeline.output import emit_data

    result = pipeline_followups(
        db_path,
        settings_path=settings_path,
        as_of=as_of,
        owner=owner,
        pipeline=pipeline,
        limit=limit,
    )
    if not emit_data(result, output_format):
        print_followups(result)


def print_followups(result: FollowupsResult) -> None:
    """The call-today table and the counts above it."""
    from funnelscope.cli.pipeline.output import console, table

    out = console()
    summary = result.to_dict()
    currency = f" ({result.currency})" if result.currency else ""
    out.print(
        f"As of {result.as_of:%Y-%m-%d %H:%M} UTC: {summary['open_deals']} open deals, "
        f"{summary['overdue_deals']} overdue, {summary['due_today_deals']} due today, "
        f"{summary['rotting_deals']} rotting"
    )
    rows = result.rows()
    for row in rows:
        idle = row["idle_days"]
        row["idle_days"] = round(idle, 1) if isinstance(idle, float) else idle
    columns = ["rank", "deal_id", "owner", "stage", "reasons", "value_at_risk", "amount_report",
               "win_probability", "overdue", "next_due", "idle_days", "flags"]  # fmt: skip
    title = f"Call today{currency}: {len(rows)} of {result.on_list}"
    out.print(table(title, rows, columns, percent_columns=["win_probability"]))
    for note in result.notes:
        out.print(f"[yellow]note[/] {note}")
