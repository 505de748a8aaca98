"""Rendering diagnoses, what-ifs and report metrics as tables with bars, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from funnelscope.analyses.marketing.cells import DiagnosisInput
from funnelscope.analyses.marketing.diagnosis import Diagnosis
from funnelscope.analyses.marketing.leaks import Leak
from funnelscope.analyses.marketing.metrics import MetricsRow
from funnelscope.analyses.marketing.report import ReportSet
from funnelscope.analyses.marketing.whatif import WhatIf
from funnelscope.app.marketing import ReportMetrics
from funnelscope.cli.render import bar
from funnelscope.store.bad_rows import BadRow

SHOWN_REJECTS = 20
SHOWN_ADVICE = 3


def rate_text(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate * 100:.2f}%" if abs(rate) < 0.1 else f"{rate * 100:.1f}%"


def number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def segment_text(leak: Leak, context: bool = True) -> str:
    if not leak.segment:
        return "(everything)"
    text = ", ".join(f"{k}={v}" for k, v in leak.segment.items())
    if context and leak.context:
        inside = ", ".join(f"{k}={v}" for k, v in leak.context.items())
        text += f" (in {inside})"
    return text


def layer_text(leak: Leak, data: DiagnosisInput | None) -> str:
    labels = data.stage_labels if data is not None else {}
    to = labels.get(leak.layer, leak.layer)
    if leak.from_stage is None:
        return f"{to} volume"
    return f"{labels.get(leak.from_stage, leak.from_stage)} -> {to}"


def singular(noun: str) -> str:
    """'orders' -> 'order', 'inquiries' -> 'inquiry' (stage labels as one unit)."""
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def is_totals_row(row: BadRow) -> bool:
    return row.reason.startswith("looks like a totals row")


def write_rejects(rejected: Sequence[BadRow], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "line", "field", "value", "reason", "fix", "raw"])
        for row in rejected:
            writer.writerow(
                [row.source, row.line, row.field, row.value, row.reason, row.fix, row.raw]
            )


def _report_rejects(rejected: Sequence[BadRow], rejects: str | None) -> None:
    """Bad input rows on stderr: the first few with file:line, and where all of them are."""
    problems = [row for row in rejected if not is_totals_row(row)]
    if not problems:  # an export's own totals line is expected: the notes mention it
        return
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    err.print(f"{len(problems):,} input row(s) were not counted:")
    for row in problems[:SHOWN_REJECTS]:
        field = f" {row.field!r}:" if row.field else ""
        err.print(f"  {row.source}:{row.line}:{field} {row.reason}; {row.fix}")
    where = f"all of them are in {rejects}" if rejects else "--rejects FILE writes all of them"
    err.print(f"  ({where}; --format json lists them under rejected_rows)")


def _title(diagnosis: Diagnosis) -> Text:
    p = diagnosis.periods
    against = []
    if p.baseline:
        against.append(f"the {p.describe(p.baseline)} before")
    against.append("peers")
    if diagnosis.ranges_used:
        against.append("typical ranges")
    data = diagnosis.input
    final = diagnosis.final_label.lower()
    if data is not None and data.unit is not None:
        final = f"{diagnosis.final_label!r} conversions"
    return Text.assemble(
        ("Leaks", "bold"),
        f" in the last {p.describe(p.current)} vs {', '.join(against[:-1])}"
        + (f" and {against[-1]}" if len(against) > 1 else against[-1])
        + f"; ranked by {final} lost",
    )


def print_diagnosis(
    diagnosis: Diagnosis,
    output_format: str,
    console: Console,
    top: int,
    rejects: str | None,
) -> None:
    _report_rejects(diagnosis.rejected, rejects)
    if output_format == "json":
        sys.stdout.write(json.dumps(diagnosis.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return
    if output_format == "csv":
        sys.stdout.write(_diagnosis_csv(diagnosis))
        return
    console.print(_title(diagnosis))
    leaks = diagnosis.leaks[:top]
    if not leaks:
        console.print("No leak: every rate is within its references (see --all, --min-gap).")
    else:
        console.print(leak_table(leaks, diagnosis))
        for rank, leak in enumerate(leaks, start=1):
            _print_leak(console, rank, leak, diagnosis.input)
        if len(diagnosis.leaks) > top:
            console.print(f"... and {len(diagnosis.leaks) - top} more (--top, or --format json)")
    _print_notes(console, diagnosis)


def leak_table(leaks: Sequence[Leak], diagnosis: Diagnosis) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("#", justify="right", no_wrap=True, min_width=1)
    table.add_column("layer", no_wrap=True)
    table.add_column("segment", no_wrap=True, min_width=14, max_width=24)
    table.add_column("rate", justify="right", no_wrap=True)
    table.add_column("vs", justify="right", no_wrap=True)
    table.add_column("ref", no_wrap=True)
    table.add_column("lost", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    with_revenue = any(leak.lost_revenue is not None for leak in leaks)
    if with_revenue:
        table.add_column("revenue", justify="right", no_wrap=True)
    labels = diagnosis.input.stage_labels if diagnosis.input is not None else {}
    largest = max(leak.lost_final for leak in leaks) or 1.0
    for rank, leak in enumerate(leaks, start=1):
        volume = leak.from_stage is None
        rate = number(leak.rate) + "/day" if volume else rate_text(leak.rate)
        ref = number(leak.reference_rate) + "/day" if volume else rate_text(leak.reference_rate)
        marker = "" if leak.significant else " (n.s.)"
        cells: list[str | Text] = [
            str(rank),
            labels.get(leak.layer, leak.layer) + (" volume" if volume else ""),
            segment_text(leak, context=False),
            rate,
            ref,
            leak.reference + marker,
            number(leak.lost_final, 0 if leak.lost_final >= 10 else 1),
            bar(leak.lost_final / largest, 6),
        ]
        table.add_row(*cells, *([number(leak.lost_revenue)] if with_revenue else []))
    return table


def _print_leak(console: Console, rank: int, leak: Leak, data: DiagnosisInput | None) -> None:
    console.print(
        Text.assemble(
            (f"{rank}. ", "bold"),
            (f"{layer_text(leak, data)}, ", "bold"),
            (segment_text(leak), "bold cyan"),
        )
    )
    console.print(Padding(Text(leak.evidence), (0, 0, 0, 3), expand=False))
    for title, items in (("likely causes", leak.causes), ("actions", leak.actions)):
        if items:
            console.print(Text(f"   {title}:", style="italic"))
            for item in items[:SHOWN_ADVICE]:
                console.print(Padding(Text(f"- {item}"), (0, 0, 0, 3), expand=False))
    if leak.symptoms:
        shown = ", ".join(
            ", ".join(f"{k}={v}" for k, v in s["segment"].items()) or "everything"
            for s in leak.symptoms[:4]
        )
        more = f" and {len(leak.symptoms) - 4} more" if len(leak.symptoms) > 4 else ""
        console.print(Text(f"   also shows in: {shown}{more} (the same leak)", style="dim"))


def _print_notes(console: Console, diagnosis: Diagnosis) -> None:
    lines = [*diagnosis.notes, *(u.text() for u in diagnosis.unmatched)]
    if lines:
        console.print(Text("Notes:", style="italic"))
        for line in lines:
            console.print(Text(f"- {line}", style="dim"))


def _diagnosis_csv(diagnosis: Diagnosis) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["rank", "layer", "from_stage", "segment", "rate", "reference_rate", "reference",
         "lost_final", "lost_revenue", "significant", "p_value", "evidence"]
    )  # fmt: skip
    for rank, leak in enumerate(diagnosis.leaks, start=1):
        writer.writerow(
            [
                rank,
                leak.layer,
                leak.from_stage or "",
                ";".join(f"{k}={v}" for k, v in leak.segment.items()),
                _csv(leak.rate),
                _csv(leak.reference_rate),
                leak.reference,
                f"{leak.lost_final:.2f}",
                "" if leak.lost_revenue is None else f"{leak.lost_revenue:.2f}",
                str(leak.significant).lower(),
                f"{leak.p_value:.3g}",
                leak.evidence,
            ]
        )
    return out.getvalue()


def print_whatif(
    result: WhatIf, data: DiagnosisInput, output_format: str, console: Console
) -> None:
    out = result.to_dict()
    if output_format == "json":
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
        return
    rows = [
        ("final", data.final_label.lower()),
        ("revenue", "revenue"),
        ("cost", "cost"),
        ("cpa", "cost per " + singular(data.final_label.lower())),
    ]
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["measure", "before", "after", "change"])
        for key, _ in rows:
            before, after = out["before"][key], out["after"][key]
            change = None if before is None or after is None else after - before
            writer.writerow([key, _csv(before), _csv(after), _csv(change)])
        sys.stdout.write(buffer.getvalue())
        return
    labels = data.stage_labels
    to = labels.get(result.layer, result.layer)
    name = (
        f"{to} volume"
        if result.from_stage is None
        else (f"{labels.get(result.from_stage, result.from_stage)} -> {to}")
    )
    where = ", ".join(f"{k}={v}" for k, v in result.segment.items()) or "everything"
    volume = result.from_stage is None
    old = number(result.rate) + "/day" if volume else rate_text(result.rate)
    new = number(result.new_rate) + "/day" if volume else rate_text(result.new_rate)
    window = data.periods.describe(data.periods.current)
    console.print(
        f"[bold]What if[/bold] {name} on {where} went from {old} to {new} ({result.change}), "
        f"over the last {window}:"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("", "now", "what if", "change"):
        table.add_column(column, justify="right" if column else "left")
    for key, label in rows:
        before, after = out["before"][key], out["after"][key]
        if before is None and after is None:
            continue
        digits = 2 if key == "cpa" else (1 if key == "final" else 0)
        change = None if before is None or after is None else after - before
        sign = "" if change is None or change < 0 else "+"
        table.add_row(
            label,
            number(before, digits),
            number(after, digits),
            sign + number(change, digits) if change is not None else "-",
        )
    console.print(table)
    for note in result.notes:
        console.print(Text(f"- {note}", style="dim"))


def _csv(value: float | None) -> str:
    """Whole numbers without a decimal point, others to 9 decimals (a sum of cents carries float
    noise in its 12th decimal: 245492.8900000004 is written 245492.89)."""
    if value is None:
        return ""
    number = round(float(value), 9)
    return str(int(number)) if number.is_integer() else repr(number)


def print_metrics(
    result: ReportMetrics, output_format: str, console: Console, rejects: str | None = None
) -> None:
    report, rows, notes = result.report, result.rows, result.notes
    _report_rejects(list(result.rejected), rejects)
    if output_format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return
    group_keys = list(rows[0].group) if rows else []
    rate_names = [r.name for r in rows[0].rates] if rows else []
    money_names = list(rows[0].money) if rows else []
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = [*group_keys, *report.stages]
        header += ["cost"] * ("cost" in report.provider) + ["revenue"] * (
            "revenue" in report.provider
        )
        header += [f"{n} {part}" for n in rate_names for part in ("", "low", "high")]
        header = [h.strip() for h in header] + money_names
        writer.writerow(header)
        for row in rows:
            line = [row.group[k] for k in group_keys]
            line += [_csv(row.counts[s]) for s in report.stages]
            if "cost" in report.provider:
                line.append(_csv(row.cost))
            if "revenue" in report.provider:
                line.append(_csv(row.revenue))
            for rate in row.rates:
                line += [_csv(rate.value), _csv(rate.low), _csv(rate.high)]
            line += [_csv(row.money[m]) for m in money_names]
            writer.writerow(line)
        sys.stdout.write(buffer.getvalue())
        return
    labels = report.labels

    def table(title: str) -> Table:
        out = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=title, title_justify="left")
        for key in group_keys:
            out.add_column(key.replace("_", " "), no_wrap=True, max_width=20)
        return out

    counts = table("Counts")
    for stage in report.stages:
        counts.add_column(labels[stage], justify="right", no_wrap=True)
    wide = console.width >= 120
    rates = table("Rates (± half the 95% interval)" if wide else "Rates")
    for rate_name in rate_names:
        rates.add_column(_short_rate(rate_name), justify="right", no_wrap=True)
    for row in rows:
        cells = [row.group[k] for k in group_keys]
        counts.add_row(*cells, *(number(row.counts[s]) for s in report.stages))
        rates.add_row(
            *cells,
            *(
                _rate_cell(r.value, r.low, r.high) if wide else rate_text(r.value)
                for r in row.rates
            ),
        )
    console.print(counts)
    console.print(rates)
    unit_costs = [m for m in money_names if m in _UNIT_COSTS or m.startswith("cost_per_")]
    outcome = [m for m in money_names if m not in unit_costs]
    sums = [name for name in ("cost", "revenue") if name in report.provider]
    for title, names, with_sums in (("Money", outcome, True), ("Cost per unit", unit_costs, False)):
        if not names:
            continue
        money = table(title)
        shown = sums if with_sums else []
        for column in shown + names:
            money.add_column(_MONEY_HEADERS.get(column, column.replace("_", " ")), justify="right")
        for row in rows:
            cells = [row.group[k] for k in group_keys]
            cells += [number(row.cost if key == "cost" else row.revenue) for key in shown]
            cells += [_money(row.money[m]) for m in names]
            money.add_row(*cells)
        console.print(money)
    if not group_keys and rows:
        _funnel_bars(console, report, rows[0])
    for note in [*notes, *(u.text() for u in report.unmatched)]:
        console.print(Text(f"- {note}", style="dim"))


def _money(value: float | None) -> str:
    """Two decimals below 100, whole numbers above (the table stays narrow)."""
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _short_rate(name: str) -> str:
    """'click-through rate' -> 'CTR', 'arrival rate' -> 'arrival'."""
    if name == "click-through rate":
        return "CTR"
    return name.removesuffix(" rate")


_UNIT_COSTS = ("cpm", "cpc", "cost_per_visit", "cost_per_inquiry")
_MONEY_HEADERS = {
    "cpm": "CPM",
    "cpc": "CPC",
    "cost_per_visit": "per visit",
    "cost_per_inquiry": "per inquiry",
    "cpa": "CPA",
    "revenue_per_order": "revenue per order",
    "roas": "ROAS",
}


def _rate_cell(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "-"
    if low is None or high is None:
        return rate_text(value)
    half = (high - low) / 2 * 100
    return f"{rate_text(value)}±{half:.2g}" if half < 0.995 else f"{rate_text(value)}±{half:.1f}"


def _funnel_bars(console: Console, report: ReportSet, row: MetricsRow) -> None:
    """The whole funnel's stage counts as bars on a log scale (impressions and orders differ a
    thousandfold), with each stage's rate from the one before."""
    import math

    table = Table(box=None, pad_edge=False, title="Funnel (bars on a log scale)",
                  title_justify="left")  # fmt: skip
    table.add_column("stage")
    table.add_column("count", justify="right")
    table.add_column("bar")
    table.add_column("from previous", justify="right")
    top = max((c for c in row.counts.values() if c), default=0.0)
    previous = None
    for stage in report.stages:
        count = row.counts[stage]
        share = None if previous in (None, 0) or count is None else count / previous
        length = math.log10(1 + count) / math.log10(1 + top) if count and top else 0.0
        table.add_row(
            report.label(stage),
            number(count),
            bar(length, 30),
            "" if share is None else rate_text(share),
        )
        previous = count
    console.print(table)
