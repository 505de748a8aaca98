"""`funnelscope pipeline forecast` (and `--backtest`)."""

from __future__ import annotations

import click

from funnelscope.cli.options import db_option, format_option


@click.command()
@click.option(
    "--period", default=None, help="2026-12, 2026-Q4 or 2026 (default: the --as-of month)."
)
@click.option("--as-of", default=None, help="Forecast as of this date or time (default: now, UTC).")
@click.option(
    "--by",
    type=click.Choice(["owner", "team", "source"]),
    default=None,
    help="Also show the buckets per owner, team or source.",
)
@click.option(
    "--commit-threshold",
    default=0.7,
    show_default=True,
    type=float,
    help="An open deal expected in the period is commit at this win probability or above.",
)
@click.option(
    "--min-closed",
    default=20,
    show_default=True,
    type=int,
    help="Closed deals a stage needs before its learned win rate is trusted alone.",
)
@click.option(
    "--backtest",
    is_flag=True,
    help="Replay every past month from its first day and compare with what was won.",
)
@click.option(
    "--settings",
    "settings_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Pipeline settings YAML (currency and rates, stage orders ...).",
)
@db_option
@format_option
def forecast(
    period: str | None,
    as_of: str | None,
    by: str | None,
    commit_threshold: float,
    min_closed: int,
    backtest: bool,
    settings_path: str | None,
    db_path: str,
    output_format: str,
) -> None:
    """Revenue forecast of a period: closed won, commit, best case, pipeline and the weighted
    pipeline from stage win rates learned from closed deals; slipped deals; --backtest."""
    from funnelscope.app.pipeline.data import as_of_time
    from funnelscope.app.pipeline.forecast import forecast_backtest, pipeline_forecast
    from funnelscope.cli.pipeline.output import emit_data
    from funnelscope.cli.pipeline.render_forecast import print_backtest, print_forecast

    moment = as_of_time(as_of)
    if backtest:
        tested = forecast_backtest(
            db_path, as_of=moment, settings_path=settings_path, min_closed=min_closed
        )
        if not emit_data(tested, output_format):
            print_backtest(tested)
        return
    result = pipeline_forecast(
        db_path,
        as_of=moment,
        settings_path=settings_path,
        period=period,
        commit_threshold=commit_threshold,
        min_closed=min_closed,
        by=by,
    )
    if not emit_data(result, output_format):
        print_forecast(result)
