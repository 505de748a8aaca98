"""Tables of `pipeline forecast`, `pipeline forecast --backtest` and `pipeline velocity`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnelscope.cli.pipeline.output import cell, console, percent, table

if TYPE_CHECKING:
    from funnelscope.analyses.pipeline.forecast import Buckets, Forecast
    from funnelscope.analyses.pipeline.forecast_backtest import Accuracy, Backtest
    from funnelscope.analyses.pipeline.velocity import Velocity


def bucket_rows(buckets: Buckets) -> list[dict[str, object]]:
    named: list[tuple[str, float, int | None]] = [
        ("closed won", buckets.closed_won, buckets.closed_won_deals),
        ("commit", buckets.commit, buckets.commit_deals),
        ("best case", buckets.best_case, buckets.best_case_deals),
        ("pipeline", buckets.pipeline, buckets.pipeline_deals),
        ("weighted", buckets.weighted, buckets.best_case_deals),
        ("expected", buckets.expected, None),
    ]
    top = max(amount for _, amount, _ in named)
    return [
        {"bucket": name, "amount": amount, "deals": deals,
         "share": amount / top if top > 0 else 0.0}
        for name, amount, deals in named
    ]  # fmt: skip


def print_forecast(result: Forecast) -> None:
    out = console()
    currency = result.currency or "no currency"
    out.print(
        f"[bold]Forecast {result.period.label}[/] as of {result.as_of:%Y-%m-%d %H:%M} UTC, "
        f"in {currency}; commit: expected in the period at win probability >= "
        f"{result.commit_threshold:g}"
    )
    out.print(table("Buckets", bucket_rows(result.totals), ["bucket", "amount", "deals"],
                    bar_column="share"))  # fmt: skip
    if result.groups:
        columns = ["group", "closed_won", "commit", "best_case", "pipeline", "weighted",
                   "expected", "pipeline_deals", "slipped_deals"]  # fmt: skip
        out.print(table(f"By {result.by}", result.rows()[1:], columns))
    for rates in result.rates:
        rows = [
            {
                "stage": r.stage,
                "won": r.won,
                "closed": r.closed,
                "rate": r.rate,
                "interval": "-"
                if r.interval is None
                else f"{percent(r.interval[0])} - {percent(r.interval[1])}",
                "basis": r.basis,
                "crm": r.stated,
            }
            for r in rates.stages
        ]
        out.print(
            table(
                f"Win rate by stage: {rates.pipeline} (deals closed before as-of)",
                rows,
                ["stage", "won", "closed", "rate", "interval", "basis", "crm"],
                percent_columns=["rate", "crm"],
            )
        )
    slipped = [
        {
            "deal": d.deal_id,
            "owner": d.owner,
            "stage": d.stage,
            "expected_close": None if d.expected_close is None else str(d.expected_close.date()),
            "days_overdue": d.days_overdue,
            "amount": d.converted,
        }
        for d in result.slipped
    ]
    if slipped:
        columns = ["deal", "owner", "stage", "expected_close", "days_overdue", "amount"]
        out.print(table("Slipped: expected close before as-of (moves unknown)", slipped, columns))
    if result.not_converted:
        out.print(
            f"[yellow]not converted[/] (no rate to {currency}, left out of sums): "
            + ", ".join(result.not_converted)
        )


def accuracy_text(name: str, accuracy: Accuracy) -> str:
    mape = "-" if accuracy.mape is None else percent(accuracy.mape)
    return (
        f"{name}: MAPE {mape} over {accuracy.mape_months} months, "
        f"bias {cell(accuracy.bias)} per month over {accuracy.months} months"
    )


def print_backtest(result: Backtest) -> None:
    out = console()
    columns = ["month", "open_deals", "expected_deals", "forecast", "actual", "error",
               "share_won_within_month", "forecast_by_share", "error_by_share"]  # fmt: skip
    title = f"Forecast backtest ({result.currency or 'no currency'}; expected close: current)"
    out.print(table(title, result.rows(), columns, percent_columns=["share_won_within_month"]))
    out.print(accuracy_text("by expected close", result.by_close))
    out.print(accuracy_text("by share", result.by_share))


def print_velocity(result: Velocity) -> None:
    columns = ["name", "open_deals", "win_rate", "average_won", "average_cycle_days", "velocity",
               "previous_velocity", "change", "ratio"]  # fmt: skip
    title = (
        f"Pipeline velocity per day, {result.days} days to {result.as_of:%Y-%m-%d} "
        f"({result.currency or 'no currency'}), by {result.by}"
    )
    console().print(table(title, result.rows(), columns, percent_columns=["win_rate"]))
