"""`funnelscope pipeline score`."""

from __future__ import annotations

import click

from funnelscope.cli.options import db_option, format_option


@click.command()
@db_option
@click.option(
    "--settings",
    "settings_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="Pipeline settings YAML (currency rates for amounts, stage orders).",
)
@click.option(
    "--as-of",
    default=None,
    help="Score as things stood on this date: later deals left out, later closes still open "
    "(default: now).",
)
@click.option(
    "--test-share",
    type=float,
    default=0.25,
    show_default=True,
    help="Share of closed deals, the latest by close time, held out to check the model.",
)
@click.option(
    "--min-count",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="A category value seen in fewer training deals is pooled into (other).",
)
@click.option(
    "--ignore-field",
    "ignore",
    multiple=True,
    help="Leave a feature out (source, owner, amount, field.<column> ...); repeatable.",
)
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Feature contributions shown per open deal.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=0,
    help="Show only the N most likely open deals (default 0: all).",
)
@format_option
def score(
    db_path: str,
    settings_path: str | None,
    as_of: str | None,
    test_share: float,
    min_count: int,
    ignore: tuple[str, ...],
    top: int,
    limit: int,
    output_format: str,
) -> None:
    """Lead scores: the chance each open deal is won, learned from closed deals.

    A logistic regression on what was known at each deal's creation (source, campaign, owner,
    team, pipeline, amount, currency, other export columns, the person's events before it) is
    checked on the latest closed deals (AUC, Brier, calibration) against the naive Bayes
    baseline of Odoo's predictive lead scoring, then trained on every closed deal to rank the
    open ones."""
    from dataclasses import replace

    from funnelscope.app.pipeline.scoring import score_deals
    from funnelscope.cli.pipeline.output import console, emit_data, percent, table

    result = score_deals(
        db_path,
        settings_path=settings_path,
        as_of=as_of,
        test_share=test_share,
        min_count=min_count,
        ignore=ignore,
        top=top,
    )
    if limit:
        result = replace(result, scores=result.scores[:limit])
    if emit_data(result, output_format):
        return
    out = console()
    evaluation = result.evaluation
    train, test = evaluation.train, evaluation.test
    out.print(
        f"Trained on {train.deals} deals closed {train.first_closed:%Y-%m-%d} to "
        f"{train.last_closed:%Y-%m-%d} ({train.won} won, {train.lost} lost); tested on the "
        f"latest {test.deals} ({test.won} won, {test.lost} lost, closed "
        f"{test.first_closed:%Y-%m-%d} to {test.last_closed:%Y-%m-%d})."
    )
    checks = [
        {"model": f"{c.name}: {name}", "auc": f"{c.auc:.3f}", "brier": f"{c.brier:.3f}"}
        for name, c in ((result.model, evaluation.model), (result.baseline, evaluation.baseline))
    ]
    out.print(table("Test split", checks, ["model", "auc", "brier"]))
    calibration_rows = [
        {
            "bin": f"{percent(m.low)}-{percent(m.high)}",
            "deals": m.deals,
            "model_predicted": m.mean_predicted,
            "model_won": m.observed_win_rate,
            "baseline_deals": b.deals,
            "baseline_predicted": b.mean_predicted,
            "baseline_won": b.observed_win_rate,
        }
        for m, b in zip(evaluation.model.calibration, evaluation.baseline.calibration, strict=True)
    ]
    rates = ["model_predicted", "model_won", "baseline_predicted", "baseline_won"]
    out.print(
        table(
            "Calibration on the test split",
            calibration_rows,
            ["bin", "deals", *rates[:2], "baseline_deals", *rates[2:]],
            percent_columns=rates,
        )
    )
    rows = result.rows()
    columns = ["rank", "deal_id", "owner", "stage", "probability", "baseline_probability"]
    if top:
        columns.append("top_features")
    out.print(
        table(
            f"Open deals as of {result.as_of:%Y-%m-%d}, most likely won first",
            rows,
            columns,
            bar_column="probability",
            percent_columns=["probability", "baseline_probability"],
        )
    )
    for note in result.notes:
        out.print(f"[dim]note:[/] {note}")
