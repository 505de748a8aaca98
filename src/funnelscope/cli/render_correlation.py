"""Output of `funnelscope correlate`: tables with bars, JSON, CSV."""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from funnelscope.cli.render import bar, click_echo, percent, to_json
from funnelscope.model.durations import format_duration

if TYPE_CHECKING:
    from funnelscope.analyses.correlation import CorrelationResult, Driver

BAR_WIDTH = 12
DIRECTIONS = (("more", "More likely to convert"), ("less", "Less likely to convert"))
CSV_FIELDS = [
    "rank",
    "kind",
    "name",
    "value",
    "direction",
    "converted_with",
    "dropped_with",
    "converted_without",
    "dropped_without",
    "conversion_with",
    "conversion_without",
    "odds_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "test",
    "p_adjusted",
    "significant",
]


def ratio_text(x: float) -> str:
    return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


def p_text(p: float) -> str:
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def correlation_title(r: CorrelationResult) -> str:
    share = r.converted / r.entered if r.entered else None
    return (
        f"{r.funnel.name}: {r.entered:,} entered, {r.converted:,} converted ({percent(share)}), "
        f"{r.dropped:,} dropped"
    )


def correlation_rules(r: CorrelationResult) -> str:
    window = format_duration(r.funnel.window_seconds)
    span = (
        f"events from entry to conversion (dropped: to entry + {window})"
        if r.options.until == "conversion"
        else f"events from entry to entry + {window}"
    )
    left_out = f"; left out: {', '.join(r.excluded_events)}" if r.excluded_events else ""
    return (
        f"{span}{left_out}. {len(r.tested)} items tested (at least {r.min_count:,} persons"
        f"{f'; {r.untested:,} below' if r.untested else ''}); p adjusted by Benjamini-Hochberg, "
        f"* significant at {r.options.alpha:g}; odds ratio with +1 in every cell, "
        f"{r.options.confidence:.0%} Wald interval"
    )


def _lines(title: str, drivers: tuple[Driver, ...]) -> Text:
    """Too narrow for a table: one line of facts per item, wrapped, never cut."""
    lines = [title]
    for rank, d in enumerate(drivers, start=1):
        lines.append(
            f"{rank}. {d.label}: {d.persons:,} persons, with {percent(d.conversion_with)}, "
            f"without {percent(d.conversion_without)}, odds {ratio_text(d.odds_ratio)} "
            f"({ratio_text(d.ci_low)}-{ratio_text(d.ci_high)}), p adj. {p_text(d.p_adjusted)}"
            + (" *" if d.significant else "")
        )
    return Text("\n".join(lines))


def _table(title: str, drivers: tuple[Driver, ...], width: int) -> Table | Text:
    """One side's items; the bar (|log odds ratio|, scaled to the longest) when it fits. Only
    the label is ever shortened (with …, to no less than 12 characters)."""
    widest = max((abs(math.log(d.odds_ratio)) for d in drivers), default=0.0) or 1.0
    rows: list[list[Any]] = []
    for rank, d in enumerate(drivers, start=1):
        rows.append(
            [
                str(rank),
                d.label,
                f"{d.persons:,}",
                percent(d.conversion_with),
                percent(d.conversion_without),
                ratio_text(d.odds_ratio),
                bar(abs(math.log(d.odds_ratio)) / widest, BAR_WIDTH),
                f"{ratio_text(d.ci_low)}-{ratio_text(d.ci_high)}",
                p_text(d.p_adjusted),
                "*" if d.significant else "",
            ]
        )
    headers = [
        "#",
        "Event / value",
        "Persons",
        "With",
        "Without",
        "Odds",
        "",
        "95% CI",
        "p adj.",
        "",
    ]
    sizes = [max([len(h), *(len(str(r[i])) for r in rows)]) for i, h in enumerate(headers)]
    sizes[6] = BAR_WIDTH

    def room(shown: list[int]) -> int:  # what is left for the label: 3 between columns, 2 edges
        others = sum(sizes[i] for i in shown if i != 1)
        return width - others - 3 * (len(shown) - 1) - 2

    every = list(range(len(headers)))
    shown = every if room(every) >= min(sizes[1], 24) else [i for i in every if i != 6]
    if room(shown) < 12:
        return _lines(title, drivers)
    label_width = min(sizes[1], room(shown))
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i in shown:
        table.add_column(
            headers[i],
            justify="left" if i in (1, 6, 9) else "right",
            no_wrap=True,
            overflow="ellipsis",
            min_width=label_width if i == 1 else sizes[i],
            max_width=label_width if i == 1 else None,
        )
    for cells in rows:
        label = cells[1]
        if len(label) > label_width:
            cells[1] = label[: label_width - 1] + "…"
        table.add_row(*(cells[i] for i in shown))
    return table


def correlation_output(r: CorrelationResult, width: int = 100) -> RenderableType:
    parts: list[RenderableType] = [Text(correlation_title(r), style="bold")]
    parts.append(
        Text(
            correlation_rules(r) + ". With / Without: conversion of the persons with "
            "the item and of those without it",
            style="dim",
        )
    )
    if r.skewed and r.converted and r.dropped:
        parts.append(
            Text("note: converted and dropped are more than 10:1 apart; ratios lean on few persons")
        )
    for note in r.notes:
        parts.append(Text(f"note: {note}"))
    for direction, title in DIRECTIONS:
        drivers = r.more_likely if direction == "more" else r.less_likely
        if drivers:
            parts.append(_table(title, drivers, width))
        else:
            parts.append(Text(f"{title}: nothing tested"))
    return Group(*parts)


def correlation_csv(r: CorrelationResult) -> str:
    """A row per shown item: more likely first, then less likely, each ranked."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for direction, _ in DIRECTIONS:
        drivers = r.more_likely if direction == "more" else r.less_likely
        for rank, d in enumerate(drivers, start=1):
            row: dict[str, Any] = {"rank": rank, **d.to_dict()}
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def print_correlation(r: CorrelationResult, output_format: str, console: Console) -> None:
    if output_format == "json":
        click_echo(to_json(r.to_dict()))
    elif output_format == "csv":
        click_echo(correlation_csv(r), nl=False)
    else:
        console.print(correlation_output(r, console.width))
