"""`funnelscope report`, `diagnose` and `whatif`: marketing funnels from exported report counts
(and, for `diagnose` and `whatif`, from an event funnel spec over the store)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from funnelscope.cli.options import db_option, format_option
from funnelscope.engines import DEFAULT_ENGINE, ENGINE_NAMES

if TYPE_CHECKING:
    from funnelscope.app.marketing import DiagnoseSettings, ReportReading

F = TypeVar("F", bound=Callable[..., Any])


def _apply(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def report_options(func: F) -> F:
    """How report files are read and joined (shared by report, diagnose and whatif)."""
    return _apply(
        func,
        [
            click.option(
                "--template",
                default="search-marketing",
                show_default=True,
                help="The stage model whose stages the files' columns are (funnelscope templates).",
            ),
            click.option(
                "--join",
                metavar="COLS",
                help="Columns that match rows across files, comma-separated, besides the date "
                "(default: the columns every file has), e.g. campaign.",
            ),
            click.option(
                "--stage",
                "stage_columns",
                multiple=True,
                metavar="STAGE=COLUMN",
                help='Read a stage from this column, e.g. visits="Landing page views".',
            ),
            click.option("--cost", "cost_column", metavar="COLUMN", help="The cost column."),
            click.option(
                "--revenue", "revenue_column", metavar="COLUMN", help="The revenue column."
            ),
            click.option(
                "--date-column", metavar="COLUMN", help="The date column (default: auto)."
            ),
            click.option(
                "--date-format",
                metavar="FORMAT",
                help="For ambiguous dates such as 03/04/2026: %d/%m/%Y or %m/%d/%Y.",
            ),
            click.option(
                "--count-rows",
                multiple=True,
                metavar="FILE=STAGE",
                help="Each row of FILE counts one of STAGE (a log of inquiries or orders).",
            ),
            click.option(
                "--drop",
                multiple=True,
                metavar="FILE:MEASURE",
                help="Ignore a measure in one file when two files have it, "
                "e.g. analytics.csv:clicks.",
            ),
            click.option("--delimiter", help="CSV field separator (default: detected)."),
        ],
    )


def window_options(func: F) -> F:
    return _apply(
        func,
        [
            click.option(
                "--period",
                type=click.Choice(["day", "week", "month"]),
                default="week",
                show_default=True,
                help="The period grain of the comparison with earlier periods.",
            ),
            click.option(
                "--current",
                type=click.IntRange(min=1),
                help="How many of the latest periods are judged "
                "(default: 4 weeks, 28 days or 1 month).",
            ),
            click.option(
                "--baseline",
                type=click.IntRange(min=0),
                help="How many periods before those are the segment's own history "
                "(default: 8 weeks, 56 days or 3 months).",
            ),
            click.option(
                "--by",
                metavar="COLS",
                help="Only these dimensions (report columns, or event properties for a spec), "
                "comma-separated (default for reports: every one).",
            ),
            click.option(
                "--ranges",
                multiple=True,
                type=click.Path(dir_okay=False, exists=True),
                help="A YAML file of typical ranges per layer (overrides the shipped ones).",
            ),
            click.option(
                "--no-default-ranges",
                is_flag=True,
                help="Do not use the shipped heuristic ranges.",
            ),
            click.option(
                "--knowledge",
                multiple=True,
                type=click.Path(dir_okay=False, exists=True),
                help="A YAML file of your own causes and actions per layer.",
            ),
            click.option(
                "--min-gap",
                default="10%",
                show_default=True,
                help="How far below its reference (relative) a rate must be to be a leak.",
            ),
            click.option(
                "--alpha",
                type=click.FloatRange(0, 1, min_open=True, max_open=True),
                default=0.05,
                show_default=True,
                help="Significance level, after a Benjamini-Hochberg correction.",
            ),
            db_option,
            click.option(
                "--engine",
                type=click.Choice(ENGINE_NAMES),
                default=DEFAULT_ENGINE,
                show_default=True,
                help="For a funnel spec: the engine that computes it.",
            ),
            click.option(
                "--value",
                "value_per_conversion",
                type=float,
                metavar="AMOUNT",
                help="For a funnel spec: revenue per final conversion.",
            ),
        ],
    )


def _reading(kw: dict[str, Any]) -> ReportReading:
    """The report flags, popped from `kw`."""
    from funnelscope.app.marketing import ReportReading

    return ReportReading(**{f.name: kw.pop(f.name) for f in fields(ReportReading)})


def _settings(kw: dict[str, Any]) -> DiagnoseSettings:
    """The diagnosis flags, popped from `kw`."""
    from funnelscope.app.marketing import DiagnoseSettings

    return DiagnoseSettings(
        **{f.name: kw.pop(f.name) for f in fields(DiagnoseSettings) if f.name in kw}
    )


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@report_options
@window_options
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Show this many leaks in the table (json and csv list all).",
)
@click.option(
    "--all", "show_all", is_flag=True, help="Also list comparisons that are not significant."
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    help="Write every rejected input row (file, line, column, reason, fix, raw) to this CSV.",
)
@format_option
def diagnose(
    inputs: tuple[str, ...],
    top: int,
    show_all: bool,
    rejects: str | None,
    output_format: str,
    **kw: Any,
) -> None:
    """Find where the funnel leaks most, why, and what to do about it.

    INPUTS are report files (an ad report, web analytics, an inquiry log, an order list: CSV or
    Parquet) or one funnel spec (YAML/JSON) computed over the store. Every rate is compared with
    its own earlier periods, its peers and a typical range; leaks are ranked by the final
    conversions they cost, each with the numbers, likely causes and actions.

    \b
    funnelscope diagnose ads.csv analytics.csv inquiries.csv orders.csv
    funnelscope diagnose funnels/ecommerce-behaviour.yaml --by channel,device
    """
    from rich.console import Console

    from funnelscope.app.marketing import diagnose as run_diagnosis
    from funnelscope.cli.render_marketing import print_diagnosis, write_rejects

    db_path, engine = kw.pop("db_path"), kw.pop("engine")
    reading = _reading(kw)
    settings = _settings({**kw, "include_insignificant": show_all})
    diagnosis = run_diagnosis(inputs, reading, settings, db_path=db_path, engine=engine)
    if rejects:
        write_rejects(diagnosis.rejected, Path(rejects))
    print_diagnosis(diagnosis, output_format, Console(), top, rejects)


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@report_options
@window_options
@click.option(
    "--step",
    required=True,
    metavar="N|STAGE",
    help="The rate to change: a stage number (3: into the 3rd stage) or stage key.",
)
@click.option("--lift", metavar="PCT", help="Relative change of that rate, e.g. 10% or -5%.")
@click.option(
    "--to-reference",
    is_flag=True,
    help="Bring that rate's leaks to their reference instead (runs the diagnosis).",
)
@click.option(
    "--segment", metavar="COL=VALUE", help="Only this segment, e.g. campaign=Spring-Brand."
)
@click.option(
    "--spend",
    type=float,
    metavar="AMOUNT",
    help="For a funnel spec: the spend in the current window (reports use their cost).",
)
@format_option
def whatif(
    inputs: tuple[str, ...],
    step: str,
    lift: str | None,
    to_reference: bool,
    segment: str | None,
    spend: float | None,
    output_format: str,
    **kw: Any,
) -> None:
    """What the final conversions, revenue and CPA would be if one rate changed.

    \b
    funnelscope whatif ads.csv analytics.csv inquiries.csv orders.csv --step 3 --lift 10%
    funnelscope whatif ads.csv analytics.csv inquiries.csv orders.csv --step visits --to-reference
    """
    from rich.console import Console

    from funnelscope.app.marketing import what_if
    from funnelscope.cli.render_marketing import print_whatif

    db_path, engine = kw.pop("db_path"), kw.pop("engine")
    outcome = what_if(
        inputs,
        step,
        lift=lift,
        to_reference=to_reference,
        segment=segment,
        spend=spend,
        reading=_reading(kw),
        settings=_settings(kw),
        db_path=db_path,
        engine=engine,
    )
    print_whatif(outcome.result, outcome.data, output_format, Console())


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@report_options
@click.option(
    "--by", metavar="COLS", help="Split by these columns, comma-separated, e.g. campaign."
)
@click.option(
    "--period",
    type=click.Choice(["day", "week", "month"]),
    help="Also split by period (weeks start on Monday).",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    help="Write every rejected input row (file, line, column, reason, fix, raw) to this CSV.",
)
@format_option
def report(
    inputs: tuple[str, ...],
    by: str | None,
    period: str | None,
    rejects: str | None,
    output_format: str,
    **kw: Any,
) -> None:
    """Rates and money of a funnel made of report files, in total, by columns and over time.

    Stage-to-stage rates (CTR, arrival, inquiry and order rate) with 95% Wilson intervals, the
    overall rate, CPM, CPC, cost per visit and inquiry, CPA, revenue per order and ROAS.

    \b
    funnelscope report ads.csv analytics.csv inquiries.csv orders.csv --by campaign
    funnelscope report ads.csv --by keyword --period week
    """
    from rich.console import Console

    from funnelscope.app.marketing import report_metrics
    from funnelscope.cli.render_marketing import print_metrics, write_rejects

    result = report_metrics(inputs, _reading(kw), by, period)
    if rejects:
        write_rejects(result.rejected, Path(rejects))
    print_metrics(result, output_format, Console(), rejects)
