"""Rendering results as a table with bars, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from funnelscope.model.durations import format_duration
from funnelscope.model.results import FunnelResult, StepResult
from funnelscope.model.spec import Breakdown

if TYPE_CHECKING:
    from funnelscope.app.funnels import FunnelRun

BAR_MIN, BAR_MAX = 6, 40
VALUE_BAR_MIN, VALUE_BAR_MAX = 4, 12  # the bars of a breakdown's value rows
LABEL_MIN = VALUE_MIN = 12  # a step label or breakdown value is never shortened below this
UNITS = {"persons": "persons", "sessions": "sessions", "totals": "attempts"}
TOTAL_TEXT = "(total)"


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


def unit_name(counting: str) -> str:
    """What a count counts: persons, sessions or attempts (``count: totals``)."""
    return UNITS.get(counting, counting)


def breakdown_text(breakdown: Breakdown) -> str:
    """``channel / device (first_touch)``; ``country (person property)`` for scope person."""
    how = "person property" if breakdown.scope == "person" else breakdown.attribution_text
    return f"{' / '.join(breakdown.properties)} ({how})"


def funnel_title(result: FunnelResult) -> str:
    funnel = result.funnel
    title = (
        f"{funnel.name}: {funnel.order}, window {format_duration(funnel.window_seconds)}, "
        f"counting {result.counting}"
    )
    if funnel.breakdown is not None:
        title += f", by {breakdown_text(funnel.breakdown)}"
    if funnel.date_range is not None:
        title += f", entering {funnel.date_range.text}"
    return title


def funnel_output(result: FunnelResult, width: int = 100) -> RenderableType:
    """The total table, then with a breakdown a row per value."""
    total = funnel_table(result, width)
    if result.funnel.breakdown is None:
        return total
    return Group(total, Text(""), breakdown_table(result, width))


def funnel_table(result: FunnelResult, width: int = 100) -> Table | Group:
    """One row per step; the bar column takes what the terminal `width` leaves over. Too
    narrow for that, long step labels are shortened, then a block per step instead, so no
    number is ever cut."""
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
    title = funnel_title(result)
    unit = unit_name(result.counting).capitalize()
    fractions = [step.count / first if first else 0.0 for step in result.steps]
    table = _steps_table(title, unit, rows, fractions, BAR_MIN)
    natural = _natural_width(table)
    if natural > width:  # step labels may be shortened (with …) to LABEL_MIN, numbers never
        longest = max(cell_len("Step"), *(cell_len(row[1]) for row in rows))
        cut = min(natural - width, longest - min(longest, LABEL_MIN))
        if natural - cut > width:
            return _steps_blocks(title, result, width)
        return _steps_table(title, unit, rows, fractions, BAR_MIN, longest - cut)
    bar_width = max(BAR_MIN, min(BAR_MAX, BAR_MIN + width - natural))
    return _steps_table(title, unit, rows, fractions, bar_width)


def _natural_width(renderable: Table) -> int:
    return Console(width=10_000).measure(renderable).maximum


def _steps_blocks(title: str, result: FunnelResult, width: int) -> Group:
    """The narrow-terminal layout: a block per step, its numbers wrapped between words."""
    first = result.steps[0].count if result.steps else 0
    parts: list[Text | Padding] = [Text(title, style="bold")]
    for step in result.steps:
        fraction = step.count / first if first else 0.0
        facts = [f"{step.count:,} {unit_name(result.counting)}"]
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
    title: str,
    unit: str,
    rows: list[list[str]],
    fractions: list[float],
    bar_width: int,
    label_width: int | None = None,
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
    for name in ("#", "Step", unit, "", "Conv.", "Overall", "Dropped", "Avg time", "Median"):
        if name == "Step":
            table.add_column(name, no_wrap=True, overflow="ellipsis", width=label_width)
        elif name == "":
            table.add_column(name, no_wrap=True, overflow="crop")
        else:
            widest = max([len(name), *(len(c) for c in next(numbers, []))])
            table.add_column(name, justify="right", no_wrap=True, min_width=widest)
    for row, fraction in zip(rows, fractions, strict=True):
        table.add_row(*row[:3], bar(fraction, bar_width), *row[3:])
    return table


def breakdown_table(result: FunnelResult, width: int = 100) -> RenderableType:
    """A row per breakdown value: its step-1 count, then per step a bar, the count and its
    share of the value's step 1. Bars shrink, then go, before a number would be cut; too
    narrow (or too many steps) for even that, a compact block per value."""
    breakdown = result.funnel.breakdown
    assert breakdown is not None
    title = Text(f"By {breakdown_text(breakdown)}", style="bold")
    if len(result.steps) > 1:
        title.append("; shares are of the value's step 1")
    if breakdown.scope == "event" and breakdown.attribution == "all_events":
        unit = unit_name(result.counting)
        title.append(f"; {unit} count under each of their values, so values add up to more")
    if not result.breakdown:
        return Group(title, Text("  (nothing entered the funnel)"))
    header = " / ".join(breakdown.properties)
    longest = max(cell_len(header), *(cell_len(row.label) for row in result.breakdown))
    # Full values with bars, then without bars, then values shortened (with …), then blocks.
    for bar_width, shorten in ((VALUE_BAR_MIN, False), (VALUE_BAR_MIN - 1, False), (0, True)):
        table = _values_table(header, result, bar_width, longest)
        natural = _natural_width(table)
        if natural > width:
            cut = min(natural - width, longest - min(longest, VALUE_MIN)) if shorten else 0
            if natural - cut > width:
                continue
            table = _values_table(header, result, bar_width, longest - cut)
        elif bar_width and len(result.steps) > 1:
            grow = (width - natural) // (len(result.steps) - 1)
            table = _values_table(header, result, min(VALUE_BAR_MAX, bar_width + grow), longest)
        return Group(title, table)
    return Group(title, _values_blocks(result, width))


def _share(step: StepResult, first: int) -> float | None:
    return step.count / first if first else None


def _values_table(header: str, result: FunnelResult, bar_width: int, value_width: int) -> Table:
    """Every cell is laid out here to its column's exact width, so rich never cuts one; only
    the Value column (text) is shortened with … when `value_width` is below its longest."""
    rows = result.breakdown
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)
    table.add_column(header, no_wrap=True, overflow="ellipsis", width=value_width)
    firsts = [row.steps[0].count for row in rows]
    first_cells = [f"{count:,}" for count in firsts]
    unit = unit_name(result.counting).capitalize()
    first_width = max(len(unit), *(len(c) for c in first_cells))
    table.add_column(unit, justify="right", no_wrap=True, width=first_width)
    columns: list[list[Text]] = [[Text(c) for c in first_cells]]
    for k in range(1, len(result.steps)):
        counts = [f"{row.steps[k].count:,}" for row in rows]
        shares = [
            percent(_share(row.steps[k], first)) for row, first in zip(rows, firsts, strict=True)
        ]
        count_width = max(len(c) for c in counts)
        share_width = max(len(p) for p in shares)
        cells = []
        for row, first, count, share in zip(rows, firsts, counts, shares, strict=True):
            cell = Text()
            if bar_width:
                cell.append_text(bar(_share(row.steps[k], first) or 0.0, bar_width))
                cell.append(" ")
            cell.append(f"{count.rjust(count_width)} {share.rjust(share_width)}")
            cells.append(cell)
        cell_width = (bar_width + 1 if bar_width else 0) + count_width + 1 + share_width
        label = f"{k + 1} {result.steps[k].label}"
        table.add_column(label, no_wrap=True, overflow="ellipsis", width=cell_width)
        columns.append(cells)
    for i, row in enumerate(rows):
        style = "italic" if row.other else ""
        table.add_row(Text(row.label, style=style), *(column[i] for column in columns))
    return table


def _values_blocks(result: FunnelResult, width: int) -> Group:
    """The compact layout: a line per value, then its counts, lines broken between steps only
    (the step labels are in the total above)."""
    parts: list[Text | Padding] = []
    for row in result.breakdown:
        first = row.steps[0].count
        facts = [f"{first:,} {unit_name(result.counting)}"]
        facts += [f"#{s.step}: {s.count:,} ({percent(_share(s, first))})" for s in row.steps[1:]]
        parts.append(Text(row.label, style="bold italic" if row.other else "bold"))
        parts.extend(Padding(Text(line), (0, 0, 0, 3)) for line in _join_lines(facts, width - 3))
    return Group(*parts)


def _join_lines(facts: list[str], width: int) -> list[str]:
    """`facts` joined by " · ", a new line instead wherever the next would pass `width`."""
    lines = [facts[0]]
    for fact in facts[1:]:
        if len(lines[-1]) + 3 + len(fact) <= width:
            lines[-1] += f" · {fact}"
        else:
            lines.append(fact)
    return lines


def funnel_csv(result: FunnelResult) -> str:
    """A row per step; with a breakdown a leading `breakdown` column and a row per (value,
    step), the total's rows first as "(total)"."""
    sections: list[tuple[str | None, tuple[StepResult, ...]]] = [(None, result.steps)]
    if result.funnel.breakdown is not None:
        sections = [(TOTAL_TEXT, result.steps)]
        sections += [(row.label, row.steps) for row in result.breakdown]
    out = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for value, steps in sections:
        for step in steps:
            row: dict[str, Any] = {} if value is None else {"breakdown": value}
            row.update(step.to_dict())
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
                writer.writeheader()
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def to_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def people_output(run: FunnelRun, output_format: str) -> str:
    people = list(run.people or ())
    if output_format == "json":
        return to_json(run.people_dict()) + "\n"
    if output_format == "csv":
        return "person_id\n" + "".join(f"{p}\n" for p in people)
    return "\n".join(people) + ("\n" if people else "")


def print_result(result: FunnelResult, output_format: str, console: Console) -> None:
    if output_format == "json":
        click_echo(to_json(result.to_dict()))
    elif output_format == "csv":
        click_echo(funnel_csv(result), nl=False)
    else:
        console.print(funnel_output(result, console.width))


def click_echo(text: str, nl: bool = True) -> None:
    import click

    click.echo(text, nl=nl)
