"""Options shared by several commands: one decorator each, so every command spells them the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("table", "json", "csv")
# the export layouts (store/layouts), spelled here so that `--help` imports no reader
LAYOUT_CHOICES = ("ga4", "segment", "amplitude", "posthog", "mixpanel", "persons", "generic")


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_path",
        default="funnelscope.duckdb",
        show_default=True,
        envvar="FUNNELSCOPE_DB",
        type=click.Path(dir_okay=False),
        help="The DuckDB event store file (env FUNNELSCOPE_DB); or a ClickHouse store: "
        "clickhouse://user@host:8123/database (TLS: clickhouses://; password in "
        "FUNNELSCOPE_CLICKHOUSE_PASSWORD) or chdb:DIR for an embedded one (ingest, quarantine "
        "and funnel; docs/clickhouse.md).",
    )(func)


def format_option(func: F) -> F:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output: a table for people, json or csv for programs.",
    )(func)


def mapping_options(func: F) -> F:
    """Column mapping flags of `ingest`, also used by `funnel --events`."""
    options = [
        click.option("--person-col", help="Column holding the person id (default: auto)."),
        click.option("--event-col", help="Column holding the event name (default: auto)."),
        click.option("--time-col", help="Column holding the event time (default: auto)."),
        click.option("--id-col", help="Column holding a unique event id (default: derived)."),
        click.option("--session-col", help="Column holding the session id (optional)."),
        click.option(
            "--device-col",
            help="Column holding a device or anonymous id: the person where --person-col is "
            "empty, stitched to the person it is seen with (default: auto when the person "
            "column is often empty).",
        ),
        click.option(
            "--layout",
            type=click.Choice(LAYOUT_CHOICES),
            help="Read the files as this export layout (default: recognised from the first "
            "record; generic = plain columns).",
        ),
        click.option(
            "--timezone",
            default="UTC",
            show_default=True,
            help="IANA zone in which times without an offset are read, e.g. Europe/Berlin.",
        ),
        click.option(
            "--delimiter",
            help="CSV field separator, e.g. ';' (default: detected from the header line).",
        ),
        click.option(
            "--time-unit",
            type=click.Choice(["auto", "s", "ms", "us"]),
            default="auto",
            show_default=True,
            help="Unit of epoch-number times; auto detects it from the magnitude.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def progress_option(func: F) -> F:
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Progress bars on stderr (default: only when stderr is a terminal).",
    )(func)


def show_progress(flag: bool | None) -> bool:
    import sys

    return sys.stderr.isatty() if flag is None else flag


def mapping_from(kwargs: dict[str, Any]) -> Any:
    """Pop the mapping flags out of a command's kwargs into a ColumnMapping."""
    from funnelscope.store import ColumnMapping

    return ColumnMapping(
        person_col=kwargs.pop("person_col"),
        event_col=kwargs.pop("event_col"),
        time_col=kwargs.pop("time_col"),
        id_col=kwargs.pop("id_col"),
        session_col=kwargs.pop("session_col"),
        device_col=kwargs.pop("device_col"),
        layout=kwargs.pop("layout"),
        timezone=kwargs.pop("timezone"),
        delimiter=kwargs.pop("delimiter"),
        time_unit=kwargs.pop("time_unit"),
    )
