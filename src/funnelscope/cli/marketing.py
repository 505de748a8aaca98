"""`funnelscope report`, `diagnose` and `whatif`: marketing funnels from exported report counts
(and, for `diagnose` and `whatif`, from an event funnel spec over the store)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from funnelscope.cli.options import db_option, format_option
from funnelscope.engines import DEFAULT_ENGINE, ENGINE_NAMES
from funnelscope.errors import SpecError

if TYPE_CHECKING:
    from funnelscope.analyses.marketing.diagnosis import Diagnosis
    from funnelscope.analyses.marketing.leaks import DiagnoseOptions
    from funnelscope.analyses.marketing.report import ReportSet

F = TypeVar("F", bound=Callable[..., Any])
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_CURRENT = {"day": 28, "week": 4, "month": 1}
DEFAULT_BASELINE = {"day": 56, "week": 8, "month": 3}


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


def _pairs(raw: Sequence[str], flag: str, sep: str = "=") -> list[tuple[str, str]]:
    out = []
    for text in raw:
        left, found, right = text.partition(sep)
        if not found or not left.strip() or not right.strip():
            example = {"=": "visits=Sessions", ":": "analytics.csv:clicks"}[sep]
            raise SpecError(flag, f"{text!r} is not LEFT{sep}RIGHT", f"write e.g. {flag} {example}")
        out.append((left.strip(), right.strip()))
    return out


def _names(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [_canonical(part) for part in raw.split(",") if part.strip()]


def _canonical(name: str) -> str:
    import re

    from funnelscope.store.reports import DIMENSION_SYNONYMS

    key = re.sub(r"[^0-9a-z]+", "_", name.strip().casefold()).strip("_")
    return DIMENSION_SYNONYMS.get(key, key)


def percent_value(text: str, flag: str) -> float:
    """'10%' or '0.1' -> 0.1; '-5%' -> -0.05."""
    raw = text.strip()
    try:
        return float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise SpecError(flag, f"{text!r} is not a percentage", "write e.g. 10% or 0.1") from None


def load_reports(paths: Sequence[str], kw: dict[str, Any]) -> ReportSet:
    """The report set from the files and the report flags (popped from `kw`)."""
    from funnelscope.analyses.marketing.report import load_report_set
    from funnelscope.model.templates import get_template
    from funnelscope.store.reports import ReportMapping

    model = get_template(kw.pop("template"))
    columns = dict(_pairs(kw.pop("stage_columns"), "--stage"))
    for stage in columns:
        if stage not in model.stage_keys:
            raise SpecError(
                "--stage",
                f"{stage!r} is not a stage of {model.name}",
                f"use {', '.join(model.stage_keys)}",
            )
    for measure in ("cost", "revenue"):
        column = kw.pop(f"{measure}_column")
        if column:
            columns[measure] = column
    count_rows = {}
    for file, stage in _pairs(kw.pop("count_rows"), "--count-rows"):
        if stage not in model.stage_keys:
            raise SpecError(
                "--count-rows",
                f"{stage!r} is not a stage of {model.name}",
                f"use {', '.join(model.stage_keys)}",
            )
        count_rows[file] = stage
    drop: dict[str, list[str]] = {}
    for file, measure in _pairs(kw.pop("drop"), "--drop", ":"):
        drop.setdefault(file, []).append(measure)
    mapping = ReportMapping(
        stages=model.stage_keys,
        stage_labels={s.key: s.label for s in model.stages},
        columns=columns,
        date_column=kw.pop("date_column"),
        count_rows=count_rows,
        delimiter=kw.pop("delimiter"),
        date_format=kw.pop("date_format"),
    )
    join = _names(kw.pop("join"))
    return load_report_set(paths, mapping, model.name, join, drop)


def _is_spec(inputs: Sequence[str]) -> bool:
    specs = [p for p in inputs if Path(p).suffix.lower() in SPEC_SUFFIXES]
    if specs and len(inputs) > 1:
        raise SpecError(
            "inputs", "give one funnel spec, or report files, not both", f"got {', '.join(inputs)}"
        )
    return bool(specs)


def _options(kw: dict[str, Any]) -> DiagnoseOptions:
    from funnelscope.analyses.marketing.leaks import DiagnoseOptions
    from funnelscope.analyses.marketing.ranges import load_ranges

    ranges = load_ranges(kw.pop("ranges"), use_defaults=not kw.pop("no_default_ranges"))
    min_gap = percent_value(kw.pop("min_gap"), "--min-gap")
    return DiagnoseOptions(
        alpha=kw.pop("alpha"),
        min_gap=min_gap,
        ranges=ranges,
        include_insignificant=kw.pop("include_insignificant", False),
    )


def _diagnose(inputs: Sequence[str], kw: dict[str, Any]) -> tuple[Diagnosis, ReportSet | None]:
    """Run the diagnosis of report files or of one funnel spec; pops every flag it uses."""
    from funnelscope.analyses.marketing.diagnosis import (
        diagnose_funnel,
        diagnose_report,
        last_funnel_event_us,
    )
    from funnelscope.analyses.marketing.knowledge import load_knowledge

    knowledge = load_knowledge(kw.pop("knowledge"))
    options = _options(kw)
    grain, current, baseline = kw.pop("period"), kw.pop("current"), kw.pop("baseline")
    current = DEFAULT_CURRENT[grain] if current is None else current
    baseline = DEFAULT_BASELINE[grain] if baseline is None else baseline
    by = kw.pop("by")
    db_path, engine, value = kw.pop("db_path"), kw.pop("engine"), kw.pop("value_per_conversion")
    if not _is_spec(inputs):
        report = load_reports(inputs, kw)
        diagnosis = diagnose_report(
            report, knowledge, options, grain, current, baseline, _names(by)
        )
        return diagnosis, report
    for flag, key in (("--stage", "stage_columns"), ("--count-rows", "count_rows")):
        if kw.get(key):
            raise SpecError(flag, "is for report files, not a funnel spec", f"remove {flag}")
    from funnelscope.analyses.funnel import run_funnel
    from funnelscope.model.spec import load_funnel
    from funnelscope.store import EventStore

    funnel = load_funnel(Path(inputs[0]))
    funnel = _with_segments(funnel, by)
    with EventStore(db_path, read_only=True) as store:
        result = run_funnel(funnel, store, engine)
        diagnosis = diagnose_funnel(
            funnel,
            result,
            knowledge,
            options,
            grain,
            current,
            baseline,
            value,
            last_funnel_event_us(funnel, store),
        )
        return diagnosis, None


def _with_segments(funnel: Any, by: str | None) -> Any:
    from dataclasses import replace

    from funnelscope.model.spec import Breakdown

    if by is None:
        return funnel
    names = tuple(part.strip() for part in by.split(",") if part.strip())
    if len(names) > 3:
        raise SpecError("--by", f"{len(names)} properties", "a funnel spec takes up to 3")
    return replace(funnel, breakdown=Breakdown(properties=names, limit=1_000_000))


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

    from funnelscope.cli.render_marketing import print_diagnosis, write_rejects

    diagnosis, _ = _diagnose(inputs, {**kw, "include_insignificant": show_all})
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

    from funnelscope.analyses.marketing.metrics import current_totals
    from funnelscope.analyses.marketing.whatif import what_if
    from funnelscope.cli.render_marketing import print_whatif

    if (lift is None) == (not to_reference):
        raise SpecError("--lift", "give either --lift or --to-reference", "e.g. --lift 10%")
    spec_mode = _is_spec(inputs)
    parsed_segment = None
    if segment:
        [(dimension, value)] = _pairs([segment], "--segment")
        parsed_segment = {(_canonical(dimension) if not spec_mode else dimension): value}
    grain = kw["period"]
    current = DEFAULT_CURRENT[grain] if kw["current"] is None else kw["current"]
    diagnosis, report = _diagnose(inputs, kw)
    data = diagnosis.input
    assert data is not None
    cost = spend
    if report is not None and "cost" in report.provider:
        cost = current_totals(report, grain, current)["cost"]
    result = what_if(
        data,
        step,
        lift=None if lift is None else percent_value(lift, "--lift"),
        leaks=diagnosis.leaks,
        segment=parsed_segment,
        cost=cost,
    )
    print_whatif(result, data, output_format, Console())


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

    from funnelscope.analyses.marketing.knowledge import load_knowledge
    from funnelscope.analyses.marketing.metrics import metrics
    from funnelscope.cli.render_marketing import print_metrics, write_rejects

    reports = load_reports(inputs, kw)
    names = {key: layer.rate for key, layer in load_knowledge().layers.items() if layer.rate}
    rows, notes = metrics(reports, tuple(_names(by) or ()), period, names)
    if rejects:
        write_rejects([r for s in reports.sources for r in s.rejected], Path(rejects))
    print_metrics(reports, rows, [*reports.notes, *notes], output_format, Console(), rejects)
