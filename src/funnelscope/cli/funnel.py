"""`funnelscope funnel`: compute a funnel from the store or straight from files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

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

F = TypeVar("F", bound=Callable[..., Any])


def depth_options(func: F) -> F:
    """Flags over the spec's depth keys (docs/semantics.md, "Funnel depth"); each given flag
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
    help="Which engine computes the funnel: kernel (compiled, fast) or reference (plain "
    "Python, the oracle). Both give identical results.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Print what the engine will do (where events are read from, the scan query with its "
    "pushed-down filters, and DuckDB's plan) instead of computing the funnel.",
)
@depth_options
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
    """
    from rich.console import Console

    from funnelscope.analyses.funnel import check_against_store, people, run_funnel
    from funnelscope.cli.render import people_output, print_result
    from funnelscope.engines import explain as explain_engine
    from funnelscope.errors import SpecError
    from funnelscope.model.overrides import with_overrides
    from funnelscope.model.spec import load_funnel

    status_given = ctx.get_parameter_source("status") is not click.core.ParameterSource.DEFAULT
    if status_given and people_step is None:
        raise click.UsageError("--status only applies with --people STEP")
    mapping = mapping_from(kwargs)
    funnel_spec = load_funnel(spec)
    try:
        funnel_spec = with_overrides(funnel_spec, **kwargs)
    except SpecError as exc:  # a command-line mistake: the parser's exit code 2
        raise click.UsageError(str(exc), ctx) from exc
    if event_files:
        source, where = open_files(event_files, mapping, funnel_spec, engine, progress)
    else:
        source, where = open_existing(db_path), f"the event store {db_path}"
    with source:
        if explain:
            click.echo(f"events: {where}")
            click.echo(explain_engine(engine, funnel_spec, source))
            return
        result = run_funnel(funnel_spec, source, engine=engine, person_ids=False)
        for warning in result.outcomes.warnings + check_against_store(funnel_spec, source, result):
            click.echo(f"warning: {warning}", err=True)
        if people_step is not None:
            listed = people(result, source, people_step, status)
            click.echo(people_output(people_step, status, listed, output_format), nl=False)
            return
    print_result(result, output_format, Console())


def open_files(
    files: tuple[str, ...], mapping: Any, funnel: Any, engine: str, progress: bool | None
) -> tuple[Any, str]:
    """Parquet files are read in place by the kernel when that is exact; anything else is
    loaded into a store in memory first (with ingest's checks and quarantine report)."""
    from funnelscope.cli.ingest import load_files
    from funnelscope.errors import FunnelscopeError
    from funnelscope.store import EventStore

    why = "the reference engine reads through a store"
    if engine == "kernel":
        from funnelscope.store.in_place import ParquetSource, why_not_in_place

        why_not = why_not_in_place(files, funnel)
        if why_not is None:
            direct = ParquetSource(files, mapping, funnel)
            if direct.refusal is None:
                return direct, "files read in place (only the columns the funnel needs)"
            why_not = direct.refusal
            direct.close()
        why = why_not
    store = EventStore(":memory:")
    failed = load_files(store, files, mapping, progress=show_progress(progress))
    if failed or not store.count_events():
        store.close()
        raise FunnelscopeError(
            "no funnel computed: the files above could not be loaded completely; fix the "
            "mapping flags or the rows reported, then run again"
        )
    return store, f"files loaded into a store in memory ({why})"


def open_existing(db_path: str) -> Any:
    from pathlib import Path

    from funnelscope.errors import FunnelscopeError
    from funnelscope.store import EventStore

    if db_path != ":memory:" and not Path(db_path).exists():
        raise FunnelscopeError(
            f"no event store at {db_path}; load events first with `funnelscope ingest FILE` "
            "(or run `funnelscope demo`), or compute from files with --events FILE"
        )
    return EventStore(db_path, read_only=True)
