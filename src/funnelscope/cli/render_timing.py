"""Time to convert, conversion trends and segments that differ as tables with bars, JSON and
CSV (the flags are in cli/funnel_timing.py)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import click
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from funnelscope.cli.render import bar, funnel_output, human_seconds, percent, to_json, unit_name

if TYPE_CHECKING:
    from funnelscope.analyses.segments import Segments
    from funnelscope.analyses.time_to_convert import TimeToConvert
    from funnelscope.analyses.trends import Trend
    from funnelscope.app.timing import TimedRun

BAR_WIDTH = 30
TREND_BAR_WIDTH = 20  # five columns of numbers beside it still fit in 80 characters
HIGHER, LOWER = "▲", "▼"
CORRECTION_NAMES = {"bh": "Benjamini-Hochberg", "holm": "Holm"}


def print_timed(timed: TimedRun, output_format: str, console: Console) -> None:
    if output_format == "json":
        click.echo(to_json(timed.to_dict()))
    elif output_format == "csv":
        click.echo(timed_csv(timed), nl=False)
    else:
        console.print(timed_output(timed, console.width))


def timed_csv(timed: TimedRun) -> str:
    """The rows of the one extra asked for (bins, periods or tests)."""
    extras = [x for x in (timed.time_to_convert, timed.trend, timed.segments) if x is not None]
    if len(extras) != 1:
        raise click.UsageError(
            "--format csv writes one table: ask for one of --time-to-convert, --trend and "
            "--segments, or use --format json"
        )
    rows = extras[0].rows()
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def timed_output(timed: TimedRun, width: int = 100) -> RenderableType:
    result = timed.run.result
    parts: list[RenderableType] = [funnel_output(result, width)]
    unit = unit_name(result.counting)
    if timed.time_to_convert is not None:
        parts += [Text(""), time_to_convert_table(timed.time_to_convert, unit)]
    if timed.trend is not None:
        labels = (result.steps[0].label, result.steps[-1].label) if result.steps else ("", "")
        parts += [Text(""), trend_table(timed.trend, unit, labels)]
    if timed.segments is not None:
        parts += [Text(""), segments_table(timed.segments)]
    return Group(*parts)


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
    )


def time_to_convert_table(ttc: TimeToConvert, unit: str) -> RenderableType:
    how = "automatic" if ttc.auto_bins else "as asked"
    title = (
        f"Time to convert: {ttc.from_step} {ttc.from_label} -> {ttc.to_step} {ttc.to_label}, "
        f"{ttc.n:,} {unit} (bins of {human_seconds(ttc.bin_width_seconds)}, {how})"
    )
    if not ttc.n:
        return Group(Text(title, style="bold"), Text("  (no attempt did both steps)"))
    table = _table(title)
    for name in ("From", "To", unit.capitalize()):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("Share", justify="right", no_wrap=True)
    top = max(b.count for b in ttc.bins) or 1
    for b in ttc.bins:
        table.add_row(
            human_seconds(b.start_seconds),
            human_seconds(b.end_seconds),
            f"{b.count:,}",
            bar(b.count / top, BAR_WIDTH),
            percent(b.count / ttc.n),
        )
    summary = Text(
        f"mean {human_seconds(ttc.mean_seconds)} · median {human_seconds(ttc.median_seconds)}"
        f" · p90 {human_seconds(ttc.p90_seconds)} · p95 {human_seconds(ttc.p95_seconds)}"
        " (percentiles interpolated linearly between ranks)"
    )
    return Group(table, summary)


def _interval(interval: tuple[float, float] | None) -> str:
    return "-" if interval is None else f"{percent(interval[0])}-{percent(interval[1])}"


def trend_table(trend: Trend, unit: str, labels: tuple[str, str]) -> RenderableType:
    weeks = ", weeks start Monday" if trend.grain == "week" else ""
    title = (
        f"Conversion by {trend.grain} of entry ({trend.timezone}{weeks}): "
        f"{labels[0]} -> {labels[1]}"
    )
    if not trend.points:
        return Group(Text(title, style="bold"), Text("  (nothing entered the funnel)"))
    table = _table(title)
    for name in ("Period", unit.capitalize(), "Converted", "Rate", "95% interval"):
        table.add_column(name, justify="left" if name == "Period" else "right", no_wrap=True)
    table.add_column("", no_wrap=True)
    top = max((p.rate or 0.0) for p in trend.points) or 1.0
    for p in trend.points:
        table.add_row(
            p.period + (" *" if p.incomplete else ""),
            f"{p.n:,}",
            f"{p.conversions:,}",
            percent(p.rate),
            _interval(p.interval),
            bar((p.rate or 0.0) / top, TREND_BAR_WIDTH),
        )
    parts: list[RenderableType] = [table]
    if any(p.incomplete for p in trend.points):
        still = sum(p.open for p in trend.points)
        parts.append(
            Text(
                f"* incomplete: attempts entering then could still convert after the data's end "
                f"({trend.data_end}); {still:,} {unit} still within their window"
            )
        )
    return Group(*parts)


def _p_text(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.0001" if p < 0.0001 else f"{p:.4f}"


def segments_table(found: Segments) -> RenderableType:
    title = (
        f"Segments against the rest ({CORRECTION_NAMES[found.correction]}, alpha "
        f"{found.alpha:g}, min n {found.min_n:,})"
    )
    if not found.tests:
        return Group(Text(title, style="bold"), Text("  (no value to test)"))
    table = _table(title)
    for name in ("Value", "Step", "From", "n", "Rate", "Rest", "p", "p adj.", ""):
        left = name in ("Value", "Step")
        table.add_column(name, justify="left" if left else "right", no_wrap=True)
    for t in found.tests:
        mark = ""
        if t.significant:
            mark = HIGHER if t.direction == "higher" else LOWER
        table.add_row(
            t.value,
            f"{t.step} {t.label}",
            str(t.from_step),
            f"{t.n:,}",
            percent(t.rate),
            percent(t.rest_rate),
            _p_text(t.p),
            _p_text(t.p_adjusted),
            mark,
        )
    note = Text(
        f"{HIGHER} / {LOWER}: significantly higher / lower than the other values pooled; "
        f"p '-': fewer than {found.min_n:,} attempts on a side, not tested"
    )
    return Group(table, note)
