"""`funnelscope experiment`: a funnel A/B test's result per step and variant, in words."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import TYPE_CHECKING

import click

from funnelscope.cli.options import db_option, format_option
from funnelscope.engines import DEFAULT_ENGINE, ENGINE_NAMES

if TYPE_CHECKING:
    from rich.console import Console

    from funnelscope.analyses.experiments import ExperimentResult


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, exists=True))
@db_option
@click.option(
    "--engine",
    type=click.Choice(ENGINE_NAMES),
    default=DEFAULT_ENGINE,
    show_default=True,
    help="The engine that computes each variant's funnel.",
)
@format_option
@click.option(
    "--from",
    "date_from",
    metavar="DATE",
    help="Only persons first exposed on or after DATE (2024-01-31, or a time with an offset); "
    "replaces the start of the funnel's date_range.",
)
@click.option(
    "--to",
    "date_to",
    metavar="DATE",
    help="Only persons first exposed on or before DATE (the whole day); replaces the end of "
    "the funnel's date_range.",
)
@click.pass_context
def experiment(
    ctx: click.Context,
    /,
    spec: str,
    db_path: str,
    engine: str,
    output_format: str,
    date_from: str | None,
    date_to: str | None,
) -> None:
    """Which funnel step an A/B test moved, by how much, and whether it is safe to decide.

    SPEC is an experiment file: a funnel (inline or a spec file), the exposure event with its
    variant property, and the control variant. Persons count from their first exposure; each
    step's rate (from the step before) is compared with the control's, with Holm-corrected
    p-values, a confidence interval of the lift and the chance to beat control; the split is
    checked for a sample-ratio mismatch.

    \b
    funnelscope experiment experiment.yaml
    funnelscope experiment experiment.yaml --format json
    funnelscope experiment experiment.yaml --from 2024-03-01 --to 2024-03-31
    """
    from rich.console import Console

    from funnelscope.app.experiments import run_experiment
    from funnelscope.errors import SpecError

    try:
        result = run_experiment(spec, db_path, engine, date_from=date_from, date_to=date_to)
    except SpecError as exc:
        if exc.path in ("--from", "--to"):  # a command-line mistake: the parser's exit code 2
            raise click.UsageError(str(exc), ctx) from exc
        raise
    if output_format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    elif output_format == "csv":
        sys.stdout.write(_csv(result))
    else:
        _table(result, Console())


def _csv(result: ExperimentResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["step", "label", "variant", "control_rate", "variant_rate", "relative_lift",
         "relative_ci_low", "relative_ci_high", "p_adjusted", "significant", "chance_to_win"]
    )  # fmt: skip
    for s in (*result.steps, *result.overall):
        c = s.comparison
        low, high = c.relative_ci if c.relative_ci else (None, None)
        writer.writerow(
            [s.step, s.label, s.variant, c.control_rate, c.treatment_rate, c.relative_lift, low,
             high, s.p_adjusted, str(s.significant).lower(), s.chance_to_win]
        )  # fmt: skip
    return out.getvalue()


def _table(result: ExperimentResult, console: Console) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    counts = result.counts
    spec = counts.spec
    exposed = ", ".join(f"{v.variant} {v.exposed:,}" for v in counts.variants)
    dates = spec.funnel.date_range
    first = "" if dates is None else f" (first exposed {dates.text})"
    console.print(
        Text.assemble(
            ("Experiment ", "bold"), (spec.name, "bold cyan"), f": exposed {exposed}{first}"
        )
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("step", no_wrap=True, min_width=10, max_width=20, overflow="ellipsis")
    table.add_column("var.", no_wrap=True)
    table.add_column("rate %", justify="right", no_wrap=True)
    table.add_column("ctrl %", justify="right", no_wrap=True)
    table.add_column("lift [95% CI]", justify="right", no_wrap=True)
    table.add_column("p Holm", justify="right", no_wrap=True)
    table.add_column("P(win)", justify="right", no_wrap=True)
    for s in (*result.steps, *result.overall):
        c = s.comparison
        lift = "-"
        if c.relative_lift is not None and c.relative_ci is not None:
            low, high = c.relative_ci
            lift = f"{c.relative_lift * 100:+.1f}% [{low * 100:+.1f},{high * 100:+.1f}]"
        table.add_row(
            f"{s.step}. {s.label}" if s in result.steps else s.label,
            s.variant,
            f"{c.treatment_rate * 100:.1f}",
            f"{c.control_rate * 100:.1f}",
            lift,
            f"{s.p_adjusted:.2g}",
            f"{s.chance_to_win:.0%}",
            style="bold green" if s.significant else None,
        )
    console.print(table)
    console.print(Text("Rows in bold green moved significantly (Holm-corrected).", style="dim"))
    srm = result.srm
    if srm is not None:
        state = "MISMATCH" if srm.mismatch else "ok"
        console.print(f"Sample ratio: {state} (chi-square p = {srm.p_value:.2g}); "
                      f"crossovers left out: {counts.crossovers:,}")  # fmt: skip
    for line in result.verdict():
        console.print(Text(line, style="bold" if line.startswith("Safe") else ""))
