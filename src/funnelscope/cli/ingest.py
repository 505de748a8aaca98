"""`funnelscope ingest`, `quarantine`, `sources` and `forget`."""

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
    from funnelscope.store.rewrite import Rewrite

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
        + (
            f", {file.forgotten_skipped:,} rows of forgotten persons skipped"
            if file.forgotten_skipped
            else ""
        )
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
@click.option(
    "--older-than",
    metavar="DURATION",
    help="Only rows quarantined longer ago than this, e.g. 30d, 12h or 2w.",
)
@click.option(
    "--delete",
    is_flag=True,
    help="Delete the rows --older-than selects instead of listing them, and rewrite the store "
    "so their text leaves the file.",
)
@format_option
def quarantine(
    db_path: str,
    source: str | None,
    limit: int | None,
    older_than: str | None,
    delete: bool,
    output_format: str,
) -> None:
    """List the rows ingest could not load, with file, line and reason; or delete old ones.

    \b
    funnelscope quarantine --source export.csv --limit 20
    funnelscope quarantine --older-than 30d --delete   (rows quarantined over 30 days ago)
    """
    from funnelscope.app.events import delete_quarantine, list_quarantine
    from funnelscope.cli.render import to_json
    from funnelscope.errors import SpecError
    from funnelscope.model.durations import parse_duration

    seconds = None
    if older_than is not None:
        try:
            seconds = parse_duration(older_than, "--older-than")
        except SpecError as exc:  # a command-line mistake: the parser's exit code 2
            raise click.UsageError(str(exc)) from exc
    if delete:
        if seconds is None:
            raise click.UsageError("--delete needs --older-than DURATION (e.g. 30d)")
        if limit is not None:
            raise click.UsageError("--limit only applies to listing rows, not to --delete")
        deleted = delete_quarantine(db_path, seconds, source)
        if output_format == "json":
            click.echo(to_json(deleted.to_dict()))
        click.echo(
            f"deleted {deleted.rows:,} quarantined rows older than {older_than}"
            + _rewritten(db_path, deleted.rewrite),
            err=True,
        )
        return
    listing = list_quarantine(db_path, source, limit, seconds)
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
@click.argument("source", required=False)
@click.option(
    "--person",
    "person_ids",
    multiple=True,
    metavar="ID",
    help="Forget this person (the id and every id stitched to it); repeatable.",
)
@click.option(
    "--persons",
    "persons_file",
    type=click.Path(dir_okay=False),
    help="Forget the persons of the ids in this file (one per line, or a CSV with a "
    "person_id or id column).",
)
@db_option
def forget(
    source: str | None, person_ids: tuple[str, ...], persons_file: str | None, db_path: str
) -> None:
    """Remove everything a loaded file added, or everything of some persons (privacy).

    \b
    funnelscope forget export.csv                (that file's events and quarantined rows)
    funnelscope forget --person erin@example.com (her events, traits, links, quarantined rows)
    funnelscope forget --persons requests.csv    (every person named in the file)

    SOURCE is the path as given to ingest, its absolute path, or its file name. A person's ids
    are kept, hashed, so loading the same export again skips their rows. Either way the store
    file is rewritten so the removed values are not left in it.
    """
    from funnelscope.app.events import forget_persons, forget_source

    by_person = bool(person_ids) or persons_file is not None
    if (source is None) == (not by_person):
        raise click.UsageError("give either SOURCE or --person/--persons, not both nor neither")
    if source is not None:
        done = forget_source(db_path, source)
        click.echo(
            f"removed {done.events_removed:,} events of {source}; {done.events_left:,} left"
            + _rewritten(db_path, done.rewrite),
            err=True,
        )
        return
    result = forget_persons(db_path, person_ids, persons_file)
    removed = result.removed
    click.echo(
        f"forgot {removed.persons:,} {_plural(removed.persons, 'person')} "
        f"({len(removed.ids):,} {_plural(len(removed.ids), 'id')}): removed "
        f"{removed.events:,} events, {removed.links:,} identity links, "
        f"{removed.quarantined:,} quarantined rows and {removed.deals:,} CRM deals; "
        f"{result.events_left:,} events left" + _rewritten(db_path, result.rewrite),
        err=True,
    )
    if removed.unknown:
        shown = ", ".join(removed.unknown[:5]) + (", ..." if len(removed.unknown) > 5 else "")
        click.echo(
            f"warning: {len(removed.unknown):,} ids are not in the store ({shown}); "
            "later loads skip them all the same (ids are case-sensitive)",
            err=True,
        )


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _rewritten(db_path: str, rewrite: Rewrite | None) -> str:
    if rewrite is None:
        return ""
    return (
        f"; rewrote {db_path} without them ({rewrite.bytes_before / 1e6:.1f} MB -> "
        f"{rewrite.bytes_after / 1e6:.1f} MB in {rewrite.seconds:.1f} s)"
    )
