"""`funnelscope identities`: who was merged with whom, and merging or unmerging by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from funnelscope.cli.options import db_option

if TYPE_CHECKING:
    from funnelscope.store.identities import IdentityChange, IdentityOverview, PersonIdentity


@click.command()
@click.argument("member", metavar="[ID]", required=False)
@db_option
@click.option("--unmerge", "unmerge_id", metavar="ID", help="Set this id apart from its person.")
@click.option("--rejoin", "rejoin_id", metavar="ID", help="Undo an --unmerge of this id.")
@click.option("--merge", "merge_id", metavar="ID", help="Merge this id (with --into) by hand.")
@click.option("--into", metavar="ID", help="With --merge: the id whose person it joins.")
@click.option(
    "--load",
    "mapping_file",
    type=click.Path(dir_okay=False),
    help="Load a mapping file (CSV: a column id and a column person_id).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output: a table for people, json for programs.",
)
def identities(
    member: str | None,
    db_path: str,
    unmerge_id: str | None,
    rejoin_id: str | None,
    merge_id: str | None,
    into: str | None,
    mapping_file: str | None,
    output_format: str,
) -> None:
    """Show how ids (devices, anonymous and known ids) were stitched into persons, or change it.

    funnelscope identities                 (merged persons, the largest, links set aside)
    funnelscope identities user-42         (that id's person: its ids, links and their sources)
    funnelscope identities --unmerge anon-7   (anon-7 becomes a person of its own again)
    """
    from funnelscope.app import identities as app
    from funnelscope.cli.render import to_json

    actions = [a for a in (unmerge_id, rejoin_id, merge_id, mapping_file) if a is not None]
    if len(actions) > 1 or (member is not None and actions):
        raise click.UsageError("give one of ID, --unmerge, --rejoin, --merge or --load")
    if (merge_id is None) != (into is None):
        raise click.UsageError("--merge ID needs --into ID (and --into needs --merge)")
    data: dict[str, Any]
    if unmerge_id is not None:
        data = _change("unmerged " + unmerge_id, app.unmerge(db_path, unmerge_id))
    elif rejoin_id is not None:
        data = _change("rejoined " + rejoin_id, app.rejoin(db_path, rejoin_id))
    elif merge_id is not None and into is not None:
        data = _change(f"merged {merge_id} into {into}", app.merge(db_path, merge_id, into))
    elif mapping_file is not None:
        loaded = app.load_identity_map(db_path, mapping_file)
        for bad in loaded.bad_rows:
            click.echo(f"  {bad.source}:{bad.line}: {bad.reason}", err=True)
        if loaded.forgotten_skipped:
            click.echo(
                f"{mapping_file}: {loaded.forgotten_skipped:,} rows of forgotten persons skipped",
                err=True,
            )
        data = _change(f"loaded {loaded.links:,} links from {mapping_file}", loaded.change)
    elif member is not None:
        person = app.person_identity(db_path, member)
        data = person.to_dict()
        if output_format == "table":
            _show_person(person)
            return
    else:
        overview = app.identity_overview(db_path)
        data = overview.to_dict()
        if output_format == "table":
            _show_overview(overview)
            return
    if output_format == "json":
        click.echo(to_json(data))
    else:
        click.echo(data["done"] + ": " + _summary(data))


def _change(done: str, change: IdentityChange) -> dict[str, Any]:
    return {"done": done, **change.to_dict()}


def _summary(data: dict[str, Any]) -> str:
    return (
        f"{data['ids_moved']:,} ids and {data['events_moved']:,} events moved; now "
        f"{data['merged_ids']:,} ids merged into {data['merged_persons']:,} persons"
    )


def _show_overview(overview: IdentityOverview) -> None:
    click.echo(
        f"{overview.merged_ids:,} ids merged into {overview.merged_persons:,} persons "
        f"({overview.links:,} links recorded, {len(overview.rejected):,} set aside)"
    )
    for person, ids in overview.largest:
        others = ", ".join(ids[1:6]) + (" ..." if len(ids) > 6 else "")
        click.echo(f"  {person}: {len(ids) - 1} more ids ({others})")
    for rejected in overview.rejected[:10]:
        link = rejected.link
        click.echo(f"  set aside: {link.from_id} -> {link.to_id} ({link.kind}): {rejected.reason}")
    if overview.apart:
        click.echo(f"  unmerged by hand: {', '.join(overview.apart)}")


def _show_person(person: PersonIdentity) -> None:
    data = person.to_dict()
    click.echo(f"person {person.person_id}: {len(person.ids)} ids")
    for entry in data["ids"]:
        click.echo(f"  {entry['id']}: {entry['events']:,} events")
    for link in data["links"]:
        click.echo(
            f"  {link['from']} -> {link['to']} ({link['kind']}, {link['at']}, {link['source']})"
        )
    for link in data["rejected"]:
        click.echo(
            f"  set aside: {link['from']} -> {link['to']} ({link['kind']}): {link['reason']}"
        )
    if person.apart:
        click.echo("  unmerged by hand (funnelscope identities --rejoin to undo)")
