"""`funnelscope pipeline load FILES`."""

from __future__ import annotations

import click

from funnelscope.cli.options import db_option, format_option


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--layout",
    default=None,
    help="The export's layout when it is not recognised by its columns (docs/pipeline.md).",
)
@click.option(
    "--timezone",
    default=None,
    help="The zone of times written without an offset (IANA name, default UTC).",
)
@db_option
@format_option
def load(
    files: tuple[str, ...],
    layout: str | None,
    timezone: str | None,
    db_path: str,
    output_format: str,
) -> None:
    """Load CRM exports: deals, stage history, activities, stage lists (HubSpot, Salesforce,
    Pipedrive, Odoo, or funnelscope's CSV layout). Bad rows go to the quarantine."""
    from funnelscope.app.pipeline.data import load_pipeline_files
    from funnelscope.cli.pipeline.output import console, emit_data, table

    result = load_pipeline_files(files, db_path, layout=layout, timezone=timezone)
    if emit_data(result, output_format):
        return
    out = console()
    columns = ["source", "layout", "rows", "deals", "stage_changes", "activities", "stages",
               "already_loaded", "quarantined"]  # fmt: skip
    out.print(table("Loaded", result.rows(), columns))
    for file in result.files:
        for bad in file.quarantined[:5]:
            out.print(f"[yellow]quarantined[/] {bad.source}:{bad.line}: {bad.reason}")
        if len(file.quarantined) > 5:
            out.print(
                f"... {len(file.quarantined) - 5} more; see them with "
                f"`funnelscope quarantine --source {file.source}`"
            )
