"""Rendering results as a table with bars, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from funnelscope.model.durations import format_duration
from funnelscope.model.results import FunnelResult

BAR_MIN, BAR_MAX = 6, 40


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


def bar(fraction: float, width: int) -> Text:
    filled = fraction * width
    full = int(filled)
    text = "█" * full + ("▌" if filled - full >= 0.5 else "")
    return Text(text.ljust(width), style="cyan")


COLUMNS = ("#", "Step", "Persons", "", "Conv.", "Overall", "Dropped", "Avg time", "Median")


def funnel_table(result: FunnelResult, width: int = 100) -> Table | Group:
    """One row per step; the bar column takes what the terminal `width` leaves over. Too
    narrow for that, a block per step instead, so no number is ever cut."""
    funnel = result.funnel
    first = result.steps[0].count if result.steps else 0
    rows = [
        [
            str(step.step),
            step.label,
            f"{step.count:,}",
            percent(step.conversion_from_previous),
            percent(step.conversion_from_start),
            f"{step.dropped_from_previous:,}",
            human_seconds(step.avg_seconds_from_previous),
            human_seconds(step.median_seconds_from_previous),
        ]
        for step in result.steps
    ]
    title = (
        f"{funnel.name}: {funnel.order}, window {format_duration(funnel.window_seconds)}, "
        f"counting {result.counting}"
    )
    fractions = [step.count / first if first else 0.0 for step in result.steps]
    table = _steps_table(title, rows, fractions, BAR_MIN)
    natural = Console(width=10_000).measure(table).maximum
    if natural > width:
        return _steps_blocks(title, result, width)
    bar_width = max(BAR_MIN, min(BAR_MAX, BAR_MIN + width - natural))
    return _steps_table(title, rows, fractions, bar_width)


def _steps_blocks(title: str, result: FunnelResult, width: int) -> Group:
    """The narrow-terminal layout: a block per step, its numbers wrapped between words."""
    first = result.steps[0].count if result.steps else 0
    parts: list[Text | Padding] = [Text(title, style="bold")]
    for step in result.steps:
        fraction = step.count / first if first else 0.0
        facts = [f"{step.count:,} persons"]
        if step.step > 1:
            facts += [
                f"{percent(step.conversion_from_previous)} of previous",
                f"{percent(step.conversion_from_start)} overall",
                f"{step.dropped_from_previous:,} dropped",
                f"avg {human_seconds(step.avg_seconds_from_previous)}",
                f"median {human_seconds(step.median_seconds_from_previous)}",
            ]
        parts.append(Text(f"{step.step}  {step.label}", style="bold"))
        line = bar(fraction, max(BAR_MIN, min(BAR_MAX, width - 4)))
        line.rstrip()
        parts.append(Padding(line, (0, 0, 0, 3)))
        parts.append(Padding(Text(", ".join(facts)), (0, 0, 0, 3)))
    return Group(*parts)


def _steps_table(
    title: str, rows: list[list[str]], fractions: list[float], bar_width: int
) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
    )
    cells = [[row[i] for row in rows] for i in range(len(rows[0]))] if rows else []
    numbers = iter(cells[:1] + cells[2:])  # every column but Step and the bar keeps its width
    for name in COLUMNS:
        if name == "Step":
            table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=8)
        elif name == "":
            table.add_column(name, no_wrap=True, overflow="crop")
        else:
            widest = max([len(name), *(len(c) for c in next(numbers, []))])
            table.add_column(name, justify="right", no_wrap=True, min_width=widest)
    for row, fraction in zip(rows, fractions, strict=True):
        table.add_row(*row[:3], bar(fraction, bar_width), *row[3:])
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
        console.print(funnel_table(result, console.width))


def click_echo(text: str, nl: bool = True) -> None:
    import click

    click.echo(text, nl=nl)
