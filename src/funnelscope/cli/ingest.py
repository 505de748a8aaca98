"""`funnelscope ingest` and `funnelscope quarantine`."""

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

if TYPE_CHECKING:
    from funnelscope.app.events import FileLoad

SHOWN_BAD_ROWS = 20


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@db_option
@mapping_options
@progress_option
@click.option(
    "--replace",
    is_flag=True,
    help="Remove what earlier loads of these files added, then load them again "
    "(after changing a mapping flag such as --timezone).",
)
@click.option(
    "--max-rejected",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Exit with 1 when a file quarantines a larger share of its rows than this "
    "(its good rows are loaded all the same); 1 never fails for rejected rows.",
)
def ingest(
    files: tuple[str, ...],
    db_path: str,
    progress: bool | None,
    replace: bool,
    max_rejected: float,
    **kwargs: Any,
) -> None:
    """Load CSV, Parquet or JSON Lines files (plain or .gz) into the event store.

    Exports of GA4 (BigQuery), PostHog, Segment, Mixpanel and Amplitude are recognised and
    flattened, and their anonymous and known ids stitched into persons. Re-loading a file adds
    nothing. Bad rows are reported as file:line: reason and kept in the quarantine table; the
    good rows of the same file are loaded. The exit code is 1 when a file cannot be read or more
    than half of its rows (--max-rejected) were rejected.
    """
    from funnelscope.app.events import LoadOptions, ingest_files

    options = LoadOptions(mapping_from(kwargs), show_progress(progress), replace, max_rejected)
    result = ingest_files(db_path, files, options, on_loaded=report_load)
    click.echo(f"{result.events_in_store:,} events in {db_path}", err=True)
    identities = next(
        (f.report.identities for f in reversed(result.files) if f.report and f.report.identities),
        None,
    )
    if identities is not None:
        click.echo(
            f"identities: {identities.merged_ids:,} ids merged into "
            f"{identities.merged_persons:,} persons"
            + (f" ({identities.events_moved:,} events moved)" if identities.events_moved else "")
            + (
                f"; {identities.rejected_links:,} links set aside (funnelscope identities)"
                if identities.rejected_links
                else ""
            ),
            err=True,
        )
    if result.failed:
        raise click.exceptions.Exit(1)


def report_load(load: FileLoad) -> None:
    """One file's load on stderr: counts, the first bad rows, or why nothing was loaded."""
    if load.error is not None:
        click.echo(f"error: {load.error} (nothing loaded from this file)", err=True)
        return
    file = load.report
    assert file is not None
    if load.failed:
        click.echo(
            f"error: {file.source}: every row was rejected (0 of {file.rows_read:,} "
            "loaded); the reasons below usually point at a mapping flag",
            err=True,
        )
    if load.too_many_rejected and not load.failed:
        click.echo(
            f"error: {file.source}: {load.rejected_share:.0%} of the rows were rejected (more "
            f"than {load.max_rejected:.0%}); the good rows are loaded, but check the reasons "
            "below (often a mapping flag) or pass --max-rejected to accept it",
            err=True,
        )
    if file.layout != "generic":
        click.echo(f"{file.source}: layout: {file.layout}", err=True)
    for note in file.notes:
        click.echo(f"{file.source}: {note}", err=True)
    click.echo(
        f"{file.source}: {file.rows_loaded:,} loaded, "
        f"{file.duplicates_skipped:,} duplicates skipped, "
        f"{file.rows_quarantined:,} quarantined"
        + (f", {file.link_rows:,} only linking ids" if file.link_rows else "")
        + f" (of {file.rows_read:,} rows)",
        err=True,
    )
    for bad in file.bad_rows[:SHOWN_BAD_ROWS]:
        click.echo(f"  {bad.source}:{bad.line}: {bad.reason}", err=True)
    if file.rows_quarantined > SHOWN_BAD_ROWS:
        click.echo(
            f"  ... and {file.rows_quarantined - SHOWN_BAD_ROWS:,} more: "
            f"funnelscope quarantine --source {file.source}",
            err=True,
        )


@click.command()
@db_option
@click.option("--source", help="Only rows from this file (as shown by ingest).")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Show at most this many rows."
)
@format_option
def quarantine(db_path: str, source: str | None, limit: int | None, output_format: str) -> None:
    """List the rows ingest could not load, with file, line and reason."""
    from funnelscope.app.events import list_quarantine
    from funnelscope.cli.render import to_json

    listing = list_quarantine(db_path, source, limit)
    rows, total = listing.rows, listing.total
    if output_format == "json":
        click.echo(to_json(listing.to_dict()))
    elif output_format == "csv":
        import csv
        import sys

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["source", "line", "reason", "raw"])
        writer.writerows([r.source, r.line, r.reason, r.raw] for r in rows)
    else:
        for r in rows:
            click.echo(f"{r.source}:{r.line}: {r.reason}")
            if r.raw:
                click.echo(f"    {r.raw}")
        shown = f"showing {len(rows):,} of {total:,}" if len(rows) < total else f"{total:,}"
        click.echo(f"{shown} quarantined rows", err=True)


@click.command()
@db_option
@format_option
def sources(db_path: str, output_format: str) -> None:
    """List the files loaded into the store: when, with which options, how many events."""
    from funnelscope.app.events import list_loads
    from funnelscope.cli.render import to_json

    loads = list_loads(db_path)
    rows = [load.to_dict() for load in loads]
    if output_format == "json":
        click.echo(to_json({"sources": rows}))
    elif output_format == "csv":
        import csv
        import sys

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["source", "events", "loaded_at", "options"])
        writer.writerows(
            [r["source"], r["events"], r["loaded_at"], load.options]
            for r, load in zip(rows, loads, strict=True)
        )
    else:
        for row in rows:
            changed = {k: v for k, v in row["options"].items() if v not in (None, "auto", "UTC")}
            extra = f"  {changed}" if changed else ""
            click.echo(
                f"{row['source']}: {row['events']:,} events, loaded {row['loaded_at']}{extra}"
            )


@click.command()
@click.argument("source")
@db_option
def forget(source: str, db_path: str) -> None:
    """Remove everything a loaded file added: its events and its quarantined rows.

    SOURCE is the path as given to ingest, its absolute path, or its file name.
    """
    from funnelscope.app.events import forget_source

    done = forget_source(db_path, source)
    click.echo(
        f"removed {done.events_removed:,} events of {source}; {done.events_left:,} left", err=True
    )
