"""Rendering results as a table with bars, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from funnelscope.model.durations import format_duration
from funnelscope.model.results import FunnelResult

BAR_WIDTH = 30


def human_seconds(seconds: float | None) -> str:
    """72.5 -> '1m 12s'; None -> '-'."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds % 1 else f"{int(seconds)}s"
    whole = round(seconds)
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return " ".join(parts[:2])


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def bar(fraction: float) -> Text:
    filled = fraction * BAR_WIDTH
    full = int(filled)
    text = "█" * full + ("▌" if filled - full >= 0.5 else "")
    return Text(text.ljust(BAR_WIDTH), style="cyan")


def funnel_table(result: FunnelResult) -> Table:
    funnel = result.funnel
    table = Table(
        title=f"{funnel.name} — {funnel.order}, window {format_duration(funnel.window_seconds)}, "
        f"counting {result.counting}",
        title_justify="left",
    )
    for name, justify in [
        ("#", "right"),
        ("Step", "left"),
        ("Persons", "right"),
        ("", "left"),
        ("From prev.", "right"),
        ("From start", "right"),
        ("Dropped", "right"),
        ("Avg time", "right"),
        ("Median time", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    first = result.steps[0].count if result.steps else 0
    for step in result.steps:
        table.add_row(
            str(step.step),
            step.label,
            f"{step.count:,}",
            bar(step.count / first if first else 0.0),
            percent(step.conversion_from_previous),
            percent(step.conversion_from_start),
            f"{step.dropped_from_previous:,}",
            human_seconds(step.avg_seconds_from_previous),
            human_seconds(step.median_seconds_from_previous),
        )
    return table


def funnel_csv(result: FunnelResult) -> str:
    rows = [s.to_dict() for s in result.steps]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def to_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def people_output(step: int, status: str, people: Sequence[str], output_format: str) -> str:
    if output_format == "json":
        return to_json({"step": step, "status": status, "people": list(people)}) + "\n"
    if output_format == "csv":
        return "person_id\n" + "".join(f"{p}\n" for p in people)
    return "\n".join(people) + ("\n" if people else "")


def print_result(result: FunnelResult, output_format: str, console: Console) -> None:
    if output_format == "json":
        click_echo(to_json(result.to_dict()))
    elif output_format == "csv":
        click_echo(funnel_csv(result), nl=False)
    else:
        console.print(funnel_table(result))


def click_echo(text: str, nl: bool = True) -> None:
    import click

    click.echo(text, nl=nl)
