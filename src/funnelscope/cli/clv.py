"""`funnelscope clv`: customer lifetime value from order events (BG/NBD + Gamma-Gamma)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import click

from funnelscope.cli.options import db_option, format_option

if TYPE_CHECKING:
    from rich.console import RenderableType

    from funnelscope.analyses.clv import ClvResult


@click.command()
@click.option("--order", "order_event", required=True, metavar="EVENT", help="The order event.")
@click.option(
    "--value",
    "value_property",
    required=True,
    metavar="PROPERTY",
    help="The order event's property holding its amount.",
)
@click.option(
    "--horizon",
    default="365d",
    show_default=True,
    metavar="DURATION",
    help="Predict purchases and value over this many days ahead, e.g. 365d or 26w.",
)
@click.option(
    "--discount",
    type=float,
    default=0.01,
    show_default=True,
    help="Discount rate per 30-day period for the value (0: none).",
)
@click.option(
    "--top",
    type=int,
    default=20,
    show_default=True,
    metavar="N",
    help="List the N customers of highest value (0: every customer).",
)
@click.option(
    "--holdout",
    metavar="DURATION",
    help="Also fit on the orders before the last DURATION (whole days, e.g. 90d) and compare "
    "its predicted purchases with the actual ones there.",
)
@click.option(
    "--end",
    metavar="DATE",
    help="The observation's last day, YYYY-MM-DD in UTC (default: the last order's day).",
)
@db_option
@format_option
def clv(
    order_event: str,
    value_property: str,
    horizon: str,
    discount: float,
    top: int,
    holdout: str | None,
    end: str | None,
    db_path: str,
    output_format: str,
) -> None:
    """Customer lifetime value: a BG/NBD purchase model and a Gamma-Gamma spend model fitted to
    each customer's orders (needs the extra: pip install 'funnelscope[clv]').

    \b
    funnelscope clv --order purchase --value revenue
    funnelscope clv --order purchase --value revenue --horizon 180d --discount 0 --top 50
    funnelscope clv --order purchase --value revenue --holdout 90d --format json
    """
    from funnelscope.app.clv import ClvOptions, customer_lifetime_value
    from funnelscope.cli.render import to_json

    options = ClvOptions(order_event, value_property, horizon, discount, top, holdout, end)
    result = customer_lifetime_value(options, db_path)
    if output_format == "json":
        click.echo(to_json(result.to_dict()))
    elif output_format == "csv":
        click.echo(clv_csv(result), nl=False)
    else:
        from rich.console import Console

        Console().print(clv_output(result))


def clv_csv(result: ClvResult) -> str:
    out = io.StringIO()
    rows = result.rows()
    fields = list(rows[0]) if rows else ["person_id"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def clv_output(result: ClvResult) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from funnelscope.cli.render import bar, percent

    p = result.parameters
    head = Text(
        f"Customer lifetime value: orders '{result.order_event}', value '{result.value_property}'"
        f", observed to {result.end}\n"
        f"{result.customers} customers, {result.repeat_customers} with a repeat order; "
        f"horizon {result.horizon_days:g} days, discount {result.discount:g} per 30 days\n"
        f"BG/NBD r={p.r:.4g} alpha={p.alpha:.4g} a={p.a:.4g} b={p.b:.4g}; Gamma-Gamma "
        f"p={p.p:.4g} q={p.q:.4g} v={p.v:.4g} (mean order value {_money(p.mean_order_value)})\n"
        f"Expected purchases {result.expected_purchases:,.1f}, mean P(alive) "
        f"{percent(result.mean_probability_alive)}, total CLV {_money(result.total_clv)}, "
        f"mean {_money(result.mean_clv)}"
    )
    table = Table(title=f"Top {len(result.top)} customers by CLV", title_justify="left")
    for name in ("customer", "first order", "freq", "recency", "T", "avg repeat"):
        table.add_column(name, justify="left" if name in ("customer", "first order") else "right")
    for name in ("exp. purchases", "P(alive)", "", "exp. order", "CLV"):
        table.add_column(name, justify="right" if name else "left")
    for c in result.top:
        table.add_row(
            c.person_id,
            c.first_order,
            str(c.frequency),
            f"{c.recency:g}",
            f"{c.T:g}",
            _money(c.monetary_value),
            f"{c.expected_purchases:.2f}",
            percent(c.probability_alive),
            bar(c.probability_alive, 10),
            _money(c.expected_order_value),
            _money(c.clv),
        )
    parts: list[RenderableType] = [head, table]
    if result.holdout is not None:
        h = result.holdout
        check = Table(
            title=f"Holdout: fitted to {h.calibration_end}, next {h.holdout_days} days "
            f"(actual {h.actual_total}, predicted {h.predicted_total:,.1f}, "
            f"error {percent(h.relative_error)})",
            title_justify="left",
        )
        for name in ("calibration freq", "customers", "actual mean", "predicted mean"):
            check.add_column(name, justify="right")
        for g in h.groups:
            check.add_row(g.frequency, str(g.customers), f"{g.actual:.3f}", f"{g.predicted:.3f}")
        parts.append(check)
    parts.extend(Text(f"note: {n}") for n in result.notes)
    return Group(*parts)
