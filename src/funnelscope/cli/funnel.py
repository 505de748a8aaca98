"""`funnelscope funnel`: compute a funnel from the store or straight from files."""

from __future__ import annotations

from typing import Any

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

    \b
    funnelscope funnel funnels/checkout.yaml
    funnelscope funnel checkout.yaml --events export.csv --person-col user
    funnelscope funnel checkout.yaml --people 3 --status dropped --format csv
    """
    from rich.console import Console

    from funnelscope.analyses.funnel import check_against_store, run_funnel
    from funnelscope.cli.render import people_output, print_result
    from funnelscope.engines import explain as explain_engine
    from funnelscope.model.spec import load_funnel

    status_given = ctx.get_parameter_source("status") is not click.core.ParameterSource.DEFAULT
    if status_given and people_step is None:
        raise click.UsageError("--status only applies with --people STEP")
    mapping = mapping_from(kwargs)
    funnel_spec = load_funnel(spec)
    if event_files:
        source, where = open_files(event_files, mapping, funnel_spec, engine, progress)
    else:
        source, where = open_existing(db_path), f"the event store {db_path}"
    with source:
        if explain:
            click.echo(f"events: {where}")
            click.echo(explain_engine(engine, funnel_spec, source))
            return
        result = run_funnel(funnel_spec, source, engine=engine)
        for warning in result.outcomes.warnings + check_against_store(funnel_spec, source, result):
            click.echo(f"warning: {warning}", err=True)
        if people_step is not None:
            people = result.people(people_step, status)
            click.echo(people_output(people_step, status, people, output_format), nl=False)
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
        from funnelscope.store.direct import ParquetSource, why_not_in_place

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
