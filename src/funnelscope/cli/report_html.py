"""`funnelscope report-html`: a funnel as one self-contained HTML file (report/html.py)."""

from __future__ import annotations

from pathlib import Path

import click

from funnelscope.cli.options import db_option


@click.command("report-html")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write (replaced if it exists).",
)
@db_option
@click.option(
    "--from",
    "date_from",
    metavar="DATE",
    help="Attempts start on or after DATE; replaces the start of the spec's date_range.",
)
@click.option(
    "--to",
    "date_to",
    metavar="DATE",
    help="Attempts start on or before DATE (the whole day); replaces the end of the spec's "
    "date_range.",
)
@click.option(
    "--time-to-convert", is_flag=True, help="Add the time-to-convert histogram and its table."
)
@click.option(
    "--trend",
    type=click.Choice(["day", "week", "month"]),
    help="Add the conversion by entry period with its Wilson interval (weeks start Monday).",
)
def report_html(
    spec: str,
    output: str,
    db_path: str,
    date_from: str | None,
    date_to: str | None,
    time_to_convert: bool,
    trend: str | None,
) -> None:
    """Write SPEC's funnel over the store as one HTML file: the funnel chart and step table,
    breakdown rows, and with the flags the time to convert and the trend, each with CSV and
    PNG export. ECharts and the data are inside the file: it opens with no network.

    \b
    funnelscope report-html funnels/ecommerce-behaviour.yaml -o report.html
    funnelscope report-html checkout.yaml -o jan.html --from 2024-01-01 --to 2024-01-31 \\
        --time-to-convert --trend week
    """
    from funnelscope.app.funnels import EventInput
    from funnelscope.app.timing import TimingRequest
    from funnelscope.errors import SpecError
    from funnelscope.model.overrides import with_overrides
    from funnelscope.model.spec import load_funnel
    from funnelscope.report.html import funnel_report

    funnel_spec = load_funnel(spec)
    try:
        funnel_spec = with_overrides(funnel_spec, date_from=date_from, date_to=date_to)
    except SpecError as exc:
        raise click.UsageError(str(exc)) from exc
    timing = TimingRequest(time_to_convert=time_to_convert, trend=trend)
    html = funnel_report(funnel_spec, EventInput(db_path), timing)
    target = Path(output)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(target)
    click.echo(f"wrote {target} ({len(html.encode('utf-8')) / 1e6:.1f} MB)", err=True)
