"""`funnelscope paths`: what people did after dropping at a step, or between two steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from funnelscope.cli.options import (
    db_option,
    format_option,
    mapping_from,
    mapping_options,
    progress_option,
    show_progress,
)
from funnelscope.engines import DEFAULT_ENGINE, ENGINE_NAMES

if TYPE_CHECKING:
    from rich.table import Table

    from funnelscope.analyses.paths import Folded, PathRow, PathsResult

BAR_WIDTH = 20


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@db_option
@click.option(
    "--events",
    "event_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Compute straight from these files instead of the store (repeatable).",
)
@mapping_options
@format_option
@click.option(
    "--engine",
    type=click.Choice(ENGINE_NAMES),
    default=DEFAULT_ENGINE,
    show_default=True,
    help="Which engine computes the funnel's attempts (both give identical paths).",
)
@click.option(
    "--after-drop",
    "after_drop",
    type=click.IntRange(min=1),
    metavar="K",
    help="The attempts that reached step K but no later step: what they did next.",
)
@click.option(
    "--between",
    type=click.IntRange(min=1),
    metavar="K",
    help="The attempts that did steps K and K+1: what they did in between.",
)
@click.option(
    "--steps",
    "sequence_steps",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    metavar="N",
    help="Events per sequence (1 to 20).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    metavar="N",
    help="Rows shown per table; the rest fold into Other.",
)
@click.option(
    "--collapse-repeats",
    is_flag=True,
    help="Count consecutive events of one name as one (view, view, cart -> view, cart).",
)
@click.option(
    "--within",
    metavar="DURATION",
    help="With --after-drop: look this long after step K (e.g. 1d) instead of up to the end "
    "of the funnel window.",
)
@click.option(
    "--from",
    "date_from",
    metavar="DATE",
    help="Attempts start on or after DATE; replaces the start of the spec's date_range.",
)
@click.option(
    "--to",
    "date_to",
    metavar="DATE",
    help="Attempts start on or before DATE; replaces the end of the spec's date_range.",
)
@progress_option
@click.pass_context
def paths(
    ctx: click.Context,
    /,
    spec: str,
    db_path: str,
    event_files: tuple[str, ...],
    output_format: str,
    engine: str,
    after_drop: int | None,
    between: int | None,
    sequence_steps: int,
    top: int,
    collapse_repeats: bool,
    within: str | None,
    date_from: str | None,
    date_to: str | None,
    progress: bool | None,
    **kwargs: Any,
) -> None:
    """What people did after dropping at a step of SPEC, or between two of its steps: the top
    next events and the top sequences of up to N events, each attempt counted once.

    \b
    funnelscope paths checkout.yaml --after-drop 2
    funnelscope paths checkout.yaml --between 3 --steps 5 --collapse-repeats
    funnelscope paths checkout.yaml --after-drop 1 --within 1d --format json
    """
    from rich.console import Console

    from funnelscope.analyses.paths import AFTER_DROP, BETWEEN, PathQuery
    from funnelscope.app.funnels import EventInput
    from funnelscope.app.paths import compute_paths
    from funnelscope.cli.ingest import report_load
    from funnelscope.errors import SpecError
    from funnelscope.model.durations import parse_duration
    from funnelscope.model.overrides import with_overrides
    from funnelscope.model.spec import load_funnel

    if (after_drop is None) == (between is None):
        raise click.UsageError("give one of --after-drop K or --between K", ctx)
    mapping = mapping_from(kwargs)
    funnel_spec = load_funnel(spec)
    try:
        funnel_spec = with_overrides(funnel_spec, date_from=date_from, date_to=date_to)
        within_seconds = None if within is None else parse_duration(within, "--within")
        mode, step = (AFTER_DROP, after_drop) if after_drop is not None else (BETWEEN, between)
        assert step is not None
        query = PathQuery(mode, step, sequence_steps, top, collapse_repeats, within_seconds)
        query.check(len(funnel_spec.steps), [s.optional for s in funnel_spec.steps])
    except SpecError as exc:  # a command-line mistake: the parser's exit code 2
        raise click.UsageError(str(exc), ctx) from exc
    events = EventInput(db_path, event_files, mapping, show_progress(progress))
    run = compute_paths(funnel_spec, events, query, engine, report_load)
    for warning in run.warnings:
        click.echo(f"warning: {warning}", err=True)
    result = run.result
    if output_format == "json":
        from funnelscope.cli.render import to_json

        click.echo(to_json(result.to_dict()))
    elif output_format == "csv":
        click.echo(_csv(result), nl=False)
    else:
        console = Console()
        console.print(_title(result))
        console.print(_table("Next event", result.next_events, result.next_other))
        console.print(_table("Sequence", result.sequences, result.sequences_other))
        console.print(
            "Each attempt counts once per table; events at the same time are ordered by name."
        )


def _title(result: PathsResult) -> str:
    from funnelscope.model.durations import format_duration

    q = result.query
    if q.mode == "after_drop":
        span = (
            f"within {format_duration(q.within_seconds)} after step {q.step}"
            if q.within_seconds is not None
            else f"up to the end of the {format_duration(result.window_seconds)} window"
        )
        what = (
            f"after dropping at step {q.step} ({result.step_label}; never "
            f"{result.next_label}), {span}"
        )
    else:
        what = f"between step {q.step} ({result.step_label}) and {q.step + 1} ({result.next_label})"
    repeats = ", consecutive repeats collapsed" if q.collapse_repeats else ""
    return (
        f"{result.funnel}: paths {what}\n{result.attempts:,} attempts of "
        f"{result.persons:,} persons (counting {result.counting}){repeats}"
    )


def _table(header: str, rows: tuple[PathRow, ...], other: Folded | None) -> Table:
    from rich import box
    from rich.table import Table

    from funnelscope.cli.render import bar, percent

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column(header, overflow="fold")
    table.add_column("Attempts", justify="right")
    table.add_column("Persons", justify="right")
    table.add_column("Share", justify="right")
    table.add_column("")
    for rank, row in enumerate(rows, start=1):
        table.add_row(
            str(rank),
            row.text(),
            f"{row.attempts:,}",
            f"{row.persons:,}",
            percent(row.share),
            bar(row.share, BAR_WIDTH),
        )
    if other is not None:
        table.add_row(
            "",
            f"Other ({other.rows:,})",
            f"{other.attempts:,}",
            f"{other.persons:,}",
            percent(other.share),
            bar(other.share, BAR_WIDTH),
        )
    return table


def _csv(result: PathsResult) -> str:
    import csv
    import io

    out = io.StringIO()
    fields = ["table", "rank", "path", "ended", "attempts", "persons", "share"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in result.rows():
        writer.writerow(row)
    return out.getvalue()
