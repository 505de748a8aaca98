"""Rendering `funnelscope retention` results: tables with bars, JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from funnelscope.analyses.retention.cohorts import RetentionResult
from funnelscope.analyses.retention.referral import ReferralResult
from funnelscope.analyses.retention.renewal import RenewalResult
from funnelscope.analyses.retention.repurchase import RepurchaseResult
from funnelscope.cli.render import bar, click_echo, percent, to_json

BAR_WIDTH = 20


def show(result: Any, output_format: str) -> None:
    if output_format == "json":
        click_echo(to_json(result.to_dict()))
    elif output_format == "csv":
        click_echo(csv_text(result.rows()), nl=False)
    else:
        console = Console()
        for part in tables(result):
            console.print(part)


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def days_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}d"


def tables(result: Any) -> list[Any]:
    if isinstance(result, RetentionResult):
        return _retention(result)
    if isinstance(result, RepurchaseResult):
        return _repurchase(result)
    if isinstance(result, RenewalResult):
        return _renewal(result)
    if isinstance(result, ReferralResult):
        return _referral(result)
    raise TypeError(type(result).__name__)


def _retention(result: RetentionResult) -> list[Any]:
    spec = result.spec
    title = (
        f"{spec.kind} retention of {', '.join(spec.start_events)} -> "
        f"{'any event' if spec.return_events is None else ', '.join(spec.return_events)} "
        f"({spec.criterion.replace('_', '-')}, {spec.windows} {spec.unit}s, {spec.timezone})"
    )
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("cohort")
    table.add_column("size", justify="right")
    for period in range(spec.periods):
        table.add_column(f"{spec.unit[0]}{period}", justify="right")
    for cohort in result.cohorts:
        cells = []
        for cell in cohort.cells:
            if cell.complete:
                cells.append(Text(percent(cell.rate)))
            else:
                seen = cell.retained / cohort.size if cohort.size else 0.0
                cells.append(Text(f"{percent(seen)}*", style="dim"))
        table.add_row(cohort.label, str(cohort.size), *cells)
    table.add_row(
        Text("average", style="bold"),
        "",
        *(Text(percent(a.rate), style="bold") for a in result.average),
    )
    curve = Table(box=None, show_header=False, title="average (size-weighted, complete cells)")
    for avg in result.average:
        curve.add_row(
            f"{spec.unit} {avg.period}",
            bar(avg.rate or 0.0, BAR_WIDTH),
            percent(avg.rate),
            f"{avg.retained}/{avg.size}",
        )
    note = Text(
        f"* period not over at the end of the data ({result.observed_until}): observed so far, "
        "left out of the average",
        style="dim",
    )
    return [table, note, curve]


def _repurchase(result: RepurchaseResult) -> list[Any]:
    table = Table(
        title=f"repurchase of {', '.join(result.spec.order_events)} by first-order month",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        padding=(0, 1, 0, 0),  # the share over its counts: several windows fit 80 columns
        pad_edge=False,
    )
    for name in ("cohort", "customers", "2nd\norder"):
        table.add_column(name, justify="left" if name == "cohort" else "right", no_wrap=True)
    for window in result.spec.within_days:
        table.add_column(f"within {window}d", justify="right", no_wrap=True)
    for name in ("median\nto 2nd", "p90\nto 2nd", "orders/\ncust."):
        table.add_column(name, justify="right", no_wrap=True)
    for group in (result.total, *result.cohorts):
        within = [
            f"{percent(s.rate)}\n{s.repurchased}/{s.eligible}" if s.eligible else "-*"
            for s in group.within
        ]
        table.add_row(
            group.label,
            str(group.customers),
            str(group.with_second_order),
            *within,
            days_text(group.median_days_to_second),
            days_text(group.p90_days_to_second),
            "-" if group.mean_orders is None else f"{group.mean_orders:.2f}",
        )
    spread = Table(box=None, show_header=False, title="orders per customer")
    total = result.total.customers
    for orders, count in result.total.orders_distribution.items():
        share = count / total if total else 0.0
        spread.add_row(orders, bar(share, BAR_WIDTH), str(count), percent(share))
    note = Text(
        "a window counts only customers whose whole window is observed (-*: none yet); "
        f"data end {result.observed_until}",
        style="dim",
    )
    return [table, note, spread]


def _renewal(result: RenewalResult) -> list[Any]:
    spec = result.spec
    every = spec.period_property or (spec.every.text if spec.every else "")
    table = Table(
        title=f"renewal of {', '.join(spec.charge_events)} (every {every}, grace "
        f"{spec.grace_seconds}s)",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for name in ("cycle", "charges", "on time", "in grace", "churned", "pending", "renewal"):
        table.add_column(name, justify="right")
    table.add_column("")
    for cycle in (*result.cycles, result.total):
        table.add_row(
            "all" if cycle.cycle == 0 else str(cycle.cycle),
            str(cycle.charges),
            str(cycle.renewed_on_time),
            str(cycle.renewed_in_grace),
            str(cycle.churned),
            str(cycle.pending),
            percent(cycle.renewal_rate),
            bar(cycle.renewal_rate or 0.0, BAR_WIDTH),
        )
    facts = Text(
        f"{result.subscribers} subscribers, {result.subscriptions} subscriptions "
        f"({result.reactivations} reactivations), {result.active} active, {result.churned} "
        f"churned; charges without a period: {result.charges_without_period}; data end "
        f"{result.observed_until}",
        style="dim",
    )
    return [table, facts]


def _referral(result: ReferralResult) -> list[Any]:
    table = Table(title="referral", box=box.SIMPLE_HEAD, show_header=False, title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for name, value in (
        ("users (first signup in range)", str(result.users)),
        ("users who invited", str(result.inviters)),
        ("invites sent", str(result.invites)),
        ("invites per user", number(result.invites_per_user)),
        ("invitees who signed up", str(result.invitees)),
        ("invite conversion", percent(result.invite_conversion)),
        ("viral coefficient k", number(result.viral_coefficient)),
        ("median cycle time", days_text(result.median_cycle_days)),
        ("p90 cycle time", days_text(result.p90_cycle_days)),
        ("referrals not linked to a user", str(result.unlinked_referrals)),
    ):
        table.add_row(name, value)
    spread = Table(box=None, show_header=False, title="invites per user")
    for invites, count in result.invites_distribution.items():
        share = count / result.users if result.users else 0.0
        spread.add_row(invites, bar(share, BAR_WIDTH), str(count))
    return [table, spread]
