"""`funnelscope ingest` and `funnelscope quarantine`."""

from __future__ import annotations

from typing import Any

import click

from funnelscope.cli.options import db_option, format_option, mapping_from, mapping_options

SHOWN_BAD_ROWS = 20


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@db_option
@mapping_options
@click.option("--progress/--no-progress", default=True, help="Show a progress bar per file.")
def ingest(files: tuple[str, ...], db_path: str, progress: bool, **kwargs: Any) -> None:
    """Load CSV, Parquet or JSON Lines files (plain or .gz) into the event store.

    Re-loading a file adds nothing. Bad rows are reported as file:line: reason and kept in the
    quarantine table; the good rows of the same file are loaded.
    """
    from funnelscope.store import EventStore

    mapping = mapping_from(kwargs)
    with EventStore(db_path) as store:
        failed = load_files(store, files, mapping, progress)
        click.echo(f"{store.count_events():,} events in {db_path}", err=True)
    if failed:
        raise click.exceptions.Exit(1)


def load_files(store: Any, files: tuple[str, ...], mapping: Any, progress: bool) -> int:
    """Ingest each file on its own, report to stderr; returns how many files could not be read."""
    from funnelscope.errors import IngestError

    failed = 0
    for path in files:
        try:
            report = store.ingest([path], mapping, progress=progress)
        except IngestError as exc:
            click.echo(f"error: {exc} (nothing loaded from this file)", err=True)
            failed += 1
            continue
        for file in report.files:
            click.echo(
                f"{file.source}: {file.rows_loaded:,} loaded, "
                f"{file.duplicates_skipped:,} duplicates skipped, "
                f"{file.rows_quarantined:,} quarantined (of {file.rows_read:,} rows)",
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
    return failed


@click.command()
@db_option
@click.option("--source", help="Only rows from this file (as shown by ingest).")
@click.option("--limit", type=int, default=None, help="Show at most this many rows.")
@format_option
def quarantine(db_path: str, source: str | None, limit: int | None, output_format: str) -> None:
    """List the rows ingest could not load, with file, line and reason."""
    from funnelscope.cli.render import to_json
    from funnelscope.store import EventStore

    with EventStore(db_path, read_only=True) as store:
        rows = store.quarantine(source=source, limit=limit)
    if output_format == "json":
        click.echo(
            to_json(
                {"rows": [{"source": r.source, "line": r.line, "reason": r.reason} for r in rows]}
            )
        )
    elif output_format == "csv":
        import csv
        import sys

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["source", "line", "reason"])
        writer.writerows([r.source, r.line, r.reason] for r in rows)
    else:
        for r in rows:
            click.echo(f"{r.source}:{r.line}: {r.reason}")
        click.echo(f"{len(rows):,} quarantined rows", err=True)
