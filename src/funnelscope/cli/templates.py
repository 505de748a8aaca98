"""`funnelscope templates`: the ready stage models, their stages, events and report columns.

Light on purpose: no DuckDB, pyarrow or numpy, only the templates, the knowledge base and the
ranges (YAML).
"""

from __future__ import annotations

import csv
import io
import json

import click

from funnelscope.app.templates import (
    list_templates,
    report_columns,
    template_spec,
    template_to_dict,
)
from funnelscope.cli.options import format_option
from funnelscope.model.templates import Stage, StageTemplate

CSV_FIELDS = ("template", "position", "key", "label", "event")


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
        text = template_spec(name, events, window)
        if output_format == "json":  # the same spec as JSON (a spec file may be JSON too)
            from funnelscope.model.spec_files import load_spec_text

            spec = load_spec_text(text, f"template {name}")
            click.echo(json.dumps(spec, ensure_ascii=False, indent=2))
        else:
            click.echo(text, nl=False)
        return
    chosen = list_templates(name)
    if output_format == "json":
        payload = {"templates": [template_to_dict(template) for template in chosen]}
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif output_format == "csv":
        click.echo(templates_csv(chosen), nl=False)
    elif name is None:
        _print_list(chosen)
    else:
        _print_detail(chosen[0])


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
