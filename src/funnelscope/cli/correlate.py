"""`funnelscope correlate`: which events and property values go with converting."""

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


def _names(values: tuple[str, ...]) -> tuple[str, ...]:
    """NAME,NAME given once or repeated -> the names, each once, in order."""
    return tuple(dict.fromkeys(n.strip() for v in values for n in v.split(",") if n.strip()))


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@db_option
@click.option(
    "--events",
    "event_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Read these files instead of the store (repeatable; loaded into a store in memory).",
)
@mapping_options
@format_option
@click.option(
    "--properties",
    metavar="NAME,...",
    multiple=True,
    help="Also test each value of these event properties, read on the counted events.",
)
@click.option(
    "--person-properties",
    metavar="NAME,...",
    multiple=True,
    help="Also test each value of these person properties (the value on the person's latest "
    "event that carries it; not set is a value too).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Show the N most significant items of each side.",
)
@click.option(
    "--min-count",
    type=click.IntRange(min=1),
    help="Test only items that at least N entered persons have (default: PostHog's rule, "
    "min(25, 2% of those who entered)).",
)
@click.option(
    "--include-steps",
    is_flag=True,
    help="Count the funnel's own step events too (left out by default).",
)
@click.option(
    "--exclude-events",
    metavar="NAME,...",
    multiple=True,
    help="Leave these events out as well.",
)
@click.option(
    "--until",
    type=click.Choice(["conversion", "window"]),
    default="conversion",
    show_default=True,
    help="Count a converted person's events up to their conversion (PostHog), or everyone's "
    "up to entry + window.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significant: Benjamini-Hochberg adjusted p-value below this.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINE_NAMES),
    default=DEFAULT_ENGINE,
    show_default=True,
    help="Which engine computes the funnel's attempts (both give identical results).",
)
@click.option(
    "--from", "date_from", metavar="DATE", help="Attempts start on or after DATE (as funnel)."
)
@click.option(
    "--to", "date_to", metavar="DATE", help="Attempts start on or before DATE (as funnel)."
)
@progress_option
@click.pass_context
def correlate(
    ctx: click.Context,
    /,
    spec: str,
    db_path: str,
    event_files: tuple[str, ...],
    output_format: str,
    properties: tuple[str, ...],
    person_properties: tuple[str, ...],
    top: int,
    min_count: int | None,
    include_steps: bool,
    exclude_events: tuple[str, ...],
    until: str,
    alpha: float,
    engine: str,
    date_from: str | None,
    date_to: str | None,
    progress: bool | None,
    **kwargs: Any,
) -> None:
    """Which events and property values make converting more or less likely among the people
    who entered SPEC's funnel: odds ratios with 95% intervals, p-values corrected for the
    number of items tested (Benjamini-Hochberg), most significant first.

    \b
    funnelscope correlate funnels/checkout.yaml
    funnelscope correlate checkout.yaml --properties channel,device --person-properties plan
    funnelscope correlate checkout.yaml --until window --min-count 50 --format json
    """
    from rich.console import Console

    from funnelscope.analyses.correlation import CorrelationOptions
    from funnelscope.app.correlation import correlate_funnel
    from funnelscope.app.funnels import EventInput
    from funnelscope.cli.ingest import report_load
    from funnelscope.cli.render_correlation import print_correlation
    from funnelscope.errors import SpecError
    from funnelscope.model.overrides import with_overrides
    from funnelscope.model.spec import load_funnel

    mapping = mapping_from(kwargs)
    funnel_spec = load_funnel(spec)
    try:
        funnel_spec = with_overrides(funnel_spec, date_from=date_from, date_to=date_to)
    except SpecError as exc:  # a command-line mistake: the parser's exit code 2
        raise click.UsageError(str(exc), ctx) from exc
    options = CorrelationOptions(
        properties=_names(properties),
        person_properties=_names(person_properties),
        include_steps=include_steps,
        exclude_events=_names(exclude_events),
        until=until,
        min_count=min_count,
        top=top,
        alpha=alpha,
    )
    events = EventInput(db_path, event_files, mapping, show_progress(progress))
    run = correlate_funnel(funnel_spec, events, options, engine, report_load)
    for warning in run.warnings:
        click.echo(f"warning: {warning}", err=True)
    print_correlation(run.result, output_format, Console())
