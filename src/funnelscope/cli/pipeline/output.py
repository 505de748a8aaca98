"""Printing a pipeline result in the three formats: a rich table (with bars where asked),
JSON (the result's ``to_dict()``) or CSV (its ``rows()``)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from typing import Any, Protocol

import click
from rich.console import Console
from rich.table import Table

from funnelscope.cli.render import bar


class Result(Protocol):
    def to_dict(self) -> dict[str, Any]: ...

    def rows(self) -> list[dict[str, Any]]: ...


def emit_data(result: Result, output_format: str) -> bool:
    """Print JSON or CSV and return True; False means the caller prints its table."""
    if output_format == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return True
    if output_format == "csv":
        write_csv(result.rows())
        return True
    return False


def write_csv(rows: Sequence[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})


def cell(value: Any) -> str:
    """A table cell: counts with thousands marks, rates as percentages, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def table(
    title: str,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    bar_column: str | None = None,
    percent_columns: Sequence[str] = (),
) -> Table:
    """A rich table of ``rows``; ``bar_column`` (a 0-1 share) also drawn as a bar."""
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(
            column.replace("_", " "), justify="left" if column == columns[0] else "right"
        )
    if bar_column is not None:
        out.add_column("")
    for row in rows:
        cells = [percent(row.get(c)) if c in percent_columns else cell(row.get(c)) for c in columns]
        if bar_column is not None:
            share = row.get(bar_column)
            out.add_row(*cells, bar(float(share or 0.0), 16))
        else:
            out.add_row(*cells)
    return out


def console() -> Console:
    """A console as wide as the terminal; 160 columns when the output is a file or a pipe, so
    the pipeline's wide tables are not squeezed into 80."""
    out = Console(highlight=False)
    return out if out.is_terminal else Console(highlight=False, width=160)
