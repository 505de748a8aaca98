"""`funnelscope pipeline velocity`."""

from __future__ import annotations

import click

from funnelscope.cli.options import db_option, format_option


@click.command()
@click.option("--as-of", default=None, help="The window ends here (default: now, UTC).")
@click.option("--days", default=90, show_default=True, type=int, help="The window's length.")
@click.option(
    "--by",
    type=click.Choice(["owner", "team", "source"]),
    default="owner",
    show_default=True,
    help="One row per owner, team or source, after the overall row.",
)
@click.option(
    "--settings",
    "settings_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Pipeline settings YAML (currency and rates ...).",
)
@db_option
@format_option
def velocity(
    as_of: str | None,
    days: int,
    by: str,
    settings_path: str | None,
    db_path: str,
    output_format: str,
) -> None:
    """Pipeline velocity: open deals x win rate x average won amount / sales cycle days, per
    owner, against the previous window of the same length."""
    from funnelscope.app.pipeline.data import as_of_time
    from funnelscope.app.pipeline.velocity import pipeline_velocity
    from funnelscope.cli.pipeline.output import emit_data
    from funnelscope.cli.pipeline.render_forecast import print_velocity

    result = pipeline_velocity(
        db_path, as_of=as_of_time(as_of), settings_path=settings_path, days=days, by=by
    )
    if not emit_data(result, output_format):
        print_velocity(result)
