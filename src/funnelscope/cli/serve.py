"""`funnelscope serve` (the team server) and the access it needs: `keys` and `users`."""

from __future__ import annotations

import click

from funnelscope.cli.options import db_option, format_option


@click.command()
@db_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 127.0.0.1 serves this machine only (give 0.0.0.0 to serve "
    "others, behind TLS).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--capture-log",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory of the capture log (captured events kept until folded into the store); "
    "default: STORE.capture beside the store.",
)
@click.option(
    "--fold-interval",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="Seconds between folds of captured events into the store.",
)
@click.option(
    "--pipeline-settings",
    "pipeline_settings",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="Pipeline settings YAML (as `pipeline ... --settings` takes): stages, cadences, "
    "rotting, targets, currency for the pipeline page, and for pipeline API requests that send "
    "no settings. Read once at start.",
)
def serve(
    db_path: str,
    host: str,
    port: int,
    capture_log: str | None,
    fold_interval: float,
    pipeline_settings: str | None,
) -> None:
    """Serve the store: event capture (Segment's and PostHog's APIs) for write keys, the read
    API (OpenAPI at /docs) for read keys, and the pages for users (log in at /login;
    `funnelscope users add NAME` makes one).

    \b
    funnelscope keys create --kind read --name dashboard
    funnelscope serve --port 8000
    curl -H "Authorization: Bearer KEY" -d '{"spec": {"steps": ["view", "buy"]}}' \\
        http://127.0.0.1:8000/api/v1/funnel
    curl -u WRITE_KEY: -d '{"event": "view", "userId": "u1"}' http://127.0.0.1:8000/v1/track
    """
    import uvicorn

    from funnelscope.web.server import ServerSettings, create_app

    app = create_app(
        ServerSettings(
            db_path,
            capture_log=capture_log,
            fold_interval=fold_interval,
            pipeline_settings=pipeline_settings,
        )
    )
    click.echo(f"serving {db_path} on http://{host}:{port} (API docs at /docs)", err=True)
    # access_log off: request lines would print query strings, which may carry keys
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


@click.group()
def keys() -> None:
    """API keys of the server: write keys capture events, read keys read the API, admin keys
    do both."""


@keys.command("create")
@db_option
@click.option("--kind", type=click.Choice(["write", "read", "admin"]), required=True)
@click.option("--name", required=True, help="Who uses the key, e.g. website or dashboard.")
def keys_create(db_path: str, kind: str, name: str) -> None:
    """Make a key; it is printed once (only its digest is kept)."""
    from funnelscope.app.access import create_key

    made = create_key(db_path, kind, name)
    click.echo(made.secret)
    click.echo(
        f"{kind} key {made.key.key_id} ({made.key.name}): keep it now, it is not shown again",
        err=True,
    )


@keys.command("list")
@db_option
@format_option
def keys_list(db_path: str, output_format: str) -> None:
    """The keys (ids, kinds, names, when made and revoked; never the secrets)."""
    from funnelscope.app.access import list_keys
    from funnelscope.cli.render import to_json

    listed = list_keys(db_path)
    rows = [k.to_dict() for k in listed]
    columns = ["key_id", "kind", "name", "created_at", "revoked_at"]
    if output_format == "json":
        click.echo(to_json(rows))
    elif output_format == "csv":
        click.echo(",".join(columns))
        for row in rows:
            click.echo(",".join("" if row[c] is None else str(row[c]) for c in columns))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns, title=f"API keys of {db_path}", title_justify="left")
        for row in rows:
            table.add_row(*("-" if row[c] is None else str(row[c]) for c in columns))
        Console().print(table)


@keys.command("revoke")
@db_option
@click.argument("key_id")
def keys_revoke(db_path: str, key_id: str) -> None:
    """Revoke the key KEY_ID at once."""
    from funnelscope.app.access import revoke_key

    revoke_key(db_path, key_id)
    click.echo(f"revoked {key_id}", err=True)


@click.group()
def users() -> None:
    """Users who log in to the server's pages."""


@users.command("add")
@db_option
@click.argument("name")
@click.password_option(
    "--password",
    envvar="FUNNELSCOPE_PASSWORD",
    help="The password (asked for when not given; env FUNNELSCOPE_PASSWORD).",
)
def users_add(db_path: str, name: str, password: str) -> None:
    """Add the user NAME (or set their password); it is kept hashed with scrypt."""
    from funnelscope.app.access import set_user

    new = set_user(db_path, name, password)
    click.echo(f"{'added' if new else 'changed the password of'} {name}", err=True)


@users.command("list")
@db_option
def users_list(db_path: str) -> None:
    """The user names."""
    from funnelscope.app.access import users as names

    for name in names(db_path):
        click.echo(name)
