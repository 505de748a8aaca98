"""`funnelscope funnel`: compute a funnel from the store or straight from files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from funnelscope.cli.funnel_timing import timing_options
from funnelscope.cli.options import (
    db_option,
    format_option,
    mapping_from,
    mapping_options,
    progress_option,
    show_progress,
)
from funnelscope.engines import DEFAULT_ENGINE, ENGINE_NAMES

F = TypeVar("F", bound=Callable[..., Any])


def feature_options(func: F) -> F:
    """Flags over the spec's feature keys (docs/semantics.md, "Funnel features"); each given flag
    replaces what the spec says (see funnelscope.model.overrides)."""
    options = [
        click.option(
            "--breakdown",
            "breakdown",
            metavar="PROP",
            multiple=True,
            help="Break down by this event property (repeat to combine up to 3).",
        ),
        click.option(
            "--attribution",
            metavar="HOW",
            help="Which event's value an attempt counts under: first_touch (default), "
            "last_touch, step:N or all_events.",
        ),
        click.option(
            "--breakdown-limit",
            type=click.IntRange(min=1),
            metavar="N",
            help="Show the N largest values; the rest fold into Other (default 10).",
        ),
        click.option(
            "--breakdown-scope",
            type=click.Choice(["event", "person"]),
            help="Read the value from the attempt's events, or the person's latest one.",
        ),
        click.option(
            "--count",
            type=click.Choice(["persons", "sessions", "totals"]),
            help="Count each person once, each session once, or every attempt.",
        ),
        click.option(
            "--session-gap",
            metavar="DURATION",
            help="With --count sessions: a new session after this inactivity, e.g. 30m "
            "(default: the session_id column).",
        ),
        click.option(
            "--hold-constant",
            metavar="PROP",
            multiple=True,
            help="Every step of an attempt must have its entry event's value of PROP (repeatable).",
        ),
        click.option(
            "--exclude",
            metavar="EVENT:I-J",
            multiple=True,
            help="EVENT between steps I and J ends the attempt, e.g. refund:1-3 (repeatable).",
        ),
        click.option(
            "--optional",
            metavar="STEP",
            type=click.IntRange(min=1),
            multiple=True,
            help="An attempt may skip this step (repeatable).",
        ),
        click.option(
            "--within",
            metavar="STEP=DURATION",
            multiple=True,
            help="STEP at most DURATION after the step before it, e.g. 3=1h (repeatable).",
        ),
        click.option(
            "--from",
            "date_from",
            metavar="DATE",
            help="Attempts start on or after DATE (2024-01-01, or a time with an offset); "
            "replaces the start of the spec's date_range.",
        ),
        click.option(
            "--to",
            "date_to",
            metavar="DATE",
            help="Attempts start on or before DATE (the whole day; later steps may follow "
            "within the window); replaces the end of the spec's date_range.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


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
    "--people",
    "people_step",
    type=click.IntRange(min=1),
    help="List the people at this step (1-based).",
)
@click.option(
    "--status",
    type=click.Choice(["reached", "dropped"]),
    default="reached",
    show_default=True,
    help="With --people: who reached the step, or who reached the step before but not this one.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINE_NAMES),
    default=DEFAULT_ENGINE,
    show_default=True,
    help="Which engine computes the funnel: kernel (compiled, fast), reference (plain "
    "Python, the oracle) or clickhouse (one ClickHouse query; over the DuckDB store it copies "
    "the events into an embedded chdb first). All give identical results. A ClickHouse --db "
    "is always computed by the clickhouse engine on the server.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Print what the engine will do (where events are read from, the scan query with its "
    "pushed-down filters, and DuckDB's plan; for clickhouse its SQL and parameters) instead "
    "of computing the funnel.",
)
@feature_options
@timing_options
@progress_option
@click.pass_context
def funnel(
    ctx: click.Context,
    /,
    spec: str,
    db_path: str,
    event_files: tuple[str, ...],
    output_format: str,
    people_step: int | None,
    status: str,
    engine: str,
    explain: bool,
    progress: bool | None,
    **kwargs: Any,
) -> None:
    """Count how many people reach each step of SPEC (a YAML or JSON funnel spec).

    Flags such as --breakdown, --count or --exclude replace what the spec says for that key.

    \b
    funnelscope funnel funnels/checkout.yaml
    funnelscope funnel checkout.yaml --events export.csv --person-col user
    funnelscope funnel checkout.yaml --people 3 --status dropped --format csv
    funnelscope funnel checkout.yaml --breakdown channel --attribution last_touch
    funnelscope funnel checkout.yaml --count sessions --session-gap 30m --exclude refund:1-3
    funnelscope funnel checkout.yaml --from 2024-01-01 --to 2024-01-31
    """
    from rich.console import Console

    from funnelscope.app.funnels import EventInput, compute_funnel, explain_funnel
    from funnelscope.cli.funnel_timing import timing_request
    from funnelscope.cli.ingest import report_load
    from funnelscope.cli.render import people_output, print_result
    from funnelscope.errors import SpecError
    from funnelscope.model.overrides import with_overrides
    from funnelscope.model.spec import load_funnel

    status_given = ctx.get_parameter_source("status") is not click.core.ParameterSource.DEFAULT
    if status_given and people_step is None:
        raise click.UsageError("--status only applies with --people STEP")
    mapping = mapping_from(kwargs)
    timing = timing_request(ctx, kwargs)
    if timing.asked and people_step is not None:
        raise click.UsageError("--people lists people; ask for the extras without it", ctx)
    funnel_spec = load_funnel(spec)
    try:
        funnel_spec = with_overrides(funnel_spec, **kwargs)
    except SpecError as exc:  # a command-line mistake: the parser's exit code 2
        raise click.UsageError(str(exc), ctx) from exc
    events = EventInput(db_path, event_files, mapping, show_progress(progress))
    engine_given = ctx.get_parameter_source("engine") is not click.core.ParameterSource.DEFAULT
    chosen = engine if engine_given else None  # None: the default, or clickhouse for its store
    if explain:
        explanation = explain_funnel(funnel_spec, events, chosen, report_load)
        click.echo(f"events: {explanation.where}")
        click.echo(explanation.plan)
        return
    if timing.asked:
        from funnelscope.app.timing import compute_timed_funnel
        from funnelscope.cli.render_timing import print_timed

        timed = compute_timed_funnel(funnel_spec, events, timing, chosen, report_load)
        for warning in timed.run.warnings:
            click.echo(f"warning: {warning}", err=True)
        print_timed(timed, output_format, Console())
        return
    run = compute_funnel(
        funnel_spec, events, chosen, people_step=people_step, status=status, on_loaded=report_load
    )
    for warning in run.warnings:
        click.echo(f"warning: {warning}", err=True)
    if people_step is not None:
        click.echo(people_output(run, output_format), nl=False)
        return
    print_result(run.result, output_format, Console())
