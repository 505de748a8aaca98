"""`funnelscope templates`: the ready stage models, their stages, events and report columns.

Light on purpose: no DuckDB, pyarrow or numpy, only the templates, the knowledge base and the
ranges (YAML).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click

from funnelscope.cli.options import format_option
from funnelscope.model.templates import TEMPLATES, Stage, StageTemplate, get_template

REPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "impressions": ("Impressions", "Impr."),
    "clicks": ("Clicks",),
    "visits": ("Visits", "Sessions", "Landing page views"),
    "inquiries": ("Inquiries", "Leads", "Contacts"),
    "orders": ("Orders", "Purchases", "Transactions"),
}
"""The report column names (besides the stage key) that hold a search-marketing stage's count."""

CSV_FIELDS = ("template", "position", "key", "label", "event")


def report_columns(stage: Stage) -> list[str]:
    """The column names a report may give a stage's count under: the stage key first, then the
    known synonyms (search-marketing) or else the stage's label."""
    names = [stage.key, *REPORT_COLUMNS.get(stage.key, (stage.label,))]
    return list(dict.fromkeys(names))


def template_dict(template: StageTemplate) -> dict[str, Any]:
    """A template as the JSON output shows it."""
    return {
        "name": template.name,
        "title": template.title,
        "source": template.source,
        "stages": [
            {
                "key": stage.key,
                "label": stage.label,
                "event": event,
                "description": stage.description,
                "columns": report_columns(stage),
            }
            for stage, event in zip(template.stages, template.event_names, strict=True)
        ],
    }


@click.command()
@click.argument("name", required=False)
@click.option(
    "--spec",
    "as_spec",
    is_flag=True,
    help="Print NAME as a funnel spec (YAML) to save and run with `funnelscope funnel`.",
)
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="STAGE=EVENT",
    help="With --spec: the event in your data that marks a stage, e.g. won=deal_closed.",
)
@click.option("--window", default="7d", show_default=True, help="With --spec: the window.")
@format_option
def templates(
    name: str | None, as_spec: bool, events: tuple[str, ...], window: str, output_format: str
) -> None:
    """List the ready stage models, or show one (NAME) stage by stage.

    Each stage shows its key, the event name a spec written from the template uses, and the
    report columns that hold its count. One template's detail adds each stage's description,
    its rate and, where one is known, the rate's typical range and its source.

    \b
    Examples:
      funnelscope templates
      funnelscope templates search-marketing
      funnelscope templates --format json
      funnelscope templates sales-rep --spec --event won=deal_closed > deals.yaml
    """
    if as_spec or events:
        text = _spec_text(name, events, window)
        if output_format == "json":  # the same spec as JSON (a spec file may be JSON too)
            import yaml

            click.echo(json.dumps(yaml.safe_load(text), ensure_ascii=False, indent=2))
        else:
            click.echo(text, nl=False)
        return
    chosen = [get_template(name)] if name is not None else list(TEMPLATES.values())
    if output_format == "json":
        payload = {"templates": [template_dict(template) for template in chosen]}
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif output_format == "csv":
        click.echo(templates_csv(chosen), nl=False)
    elif name is None:
        _print_list(chosen)
    else:
        _print_detail(chosen[0])


def _spec_text(name: str | None, events: tuple[str, ...], window: str) -> str:
    """A template as a funnel spec, its stages mapped to the user's event names."""
    from funnelscope.demo.specs import template_spec_yaml
    from funnelscope.errors import SpecError
    from funnelscope.model.spec import parse_funnel

    if name is None:
        raise SpecError(
            "--spec", "needs a template NAME", "e.g. funnelscope templates sales-rep --spec"
        )
    mapping = {}
    for text in events:
        stage, found, event = text.partition("=")
        if not found or not stage.strip() or not event.strip():
            raise SpecError("--event", f"{text!r} is not STAGE=EVENT", "write e.g. won=deal_closed")
        mapping[stage.strip()] = event.strip()
    text = template_spec_yaml(get_template(name), window, mapping)
    import yaml

    parse_funnel(yaml.safe_load(text))  # the window and names make a valid spec
    return text


def templates_csv(chosen: list[StageTemplate]) -> str:
    """One row per stage: template, position (1 = top of the funnel), key, label, event."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for template in chosen:
        for position, (stage, event) in enumerate(
            zip(template.stages, template.event_names, strict=True), start=1
        ):
            writer.writerow([template.name, position, stage.key, stage.label, event])
    return out.getvalue()


def _print_list(chosen: list[StageTemplate]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("Name", no_wrap=True, style="bold")
    table.add_column("Title and source")
    table.add_column("Stages")
    for template in chosen:
        about = Text(template.title)
        about.append(f"\n{template.source}", style="dim")
        table.add_row(template.name, about, " -> ".join(template.stage_keys))
    console = Console()
    console.print(table)
    console.print(
        Text("One template's stages, events and report columns: funnelscope templates NAME")
    )


def _print_detail(template: StageTemplate) -> None:
    from rich.console import Console
    from rich.padding import Padding
    from rich.text import Text

    from funnelscope.app.marketing import layer_guidance

    knowledge, ranges = layer_guidance()
    console = Console()
    heading = Text(template.title, style="bold")
    heading.append(f"  ({template.name})", style="dim")
    console.print(heading)
    console.print(Text(f"Source: {template.source}"))
    previous: Stage | None = None
    for position, (stage, event) in enumerate(
        zip(template.stages, template.event_names, strict=True), start=1
    ):
        console.print()
        line = Text(f"{position}. {stage.label}", style="bold")
        line.append(f"  key {stage.key}, event {event}")
        console.print(line)
        facts = [stage.description, f"Report columns: {', '.join(report_columns(stage))}"]
        layer = knowledge.layers.get(stage.key)
        if layer is not None:
            rate = f"Rate: {layer.rate}"
            if previous is not None:
                rate += f" ({stage.label} / {previous.label})"
            facts.append(rate)
        reference = ranges.get(stage.key)
        if reference is not None:
            facts.append(f"Typical range: {reference.label}; source: {reference.source}")
        for fact in facts:
            console.print(Padding(Text(fact), (0, 0, 0, 3), expand=False))
        previous = stage
