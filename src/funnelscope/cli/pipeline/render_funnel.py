"""The stage funnel as terminal tables with bars."""

from __future__ import annotations

from funnelscope.app.pipeline.funnel import PipelineFunnel
from funnelscope.cli.pipeline.output import console, percent, table


def print_funnel(result: PipelineFunnel) -> None:
    out = console()
    scope = "created" if result.mode == "created" else "reaching each stage"
    when = result.period.label if result.period else "all time"
    for funnel in result.funnels:
        if funnel.group is not None and result.by is not None:
            title = f"{funnel.pipeline} · {result.by} = {funnel.group}"
        else:
            title = f"Pipeline {funnel.pipeline}"
        win = funnel.won / (funnel.won + funnel.lost) if funnel.won + funnel.lost else None
        title += (
            f" · deals {scope} {when}: {funnel.deals:,} ({funnel.won:,} won, {funnel.lost:,} lost, "
            f"{funnel.open:,} open; win rate {percent(win)})"
        )
        rows = []
        for stage in funnel.stages:
            row = stage.to_dict(funnel.deals)
            time = stage.time
            reasons = ", ".join(f"{r} {n}" for r, n in stage.lost_reasons[:2])
            rows.append(
                {
                    **row,
                    "median_days": time.median_days,
                    "p90_days": time.p90_days,
                    "top_lost_reasons": reasons or "-",
                }
            )
        columns = [
            "stage",
            "reached",
            "skipped",
            "advanced",
            "conversion",
            "lost_here",
            "open_here",
            "median_days",
            "p90_days",
            "top_lost_reasons",
        ]
        out.print(
            table(title, rows, columns, bar_column="from_start", percent_columns=["conversion"])
        )
        notes = []
        if funnel.regressions:
            notes.append(f"{funnel.regressions} moves back to an earlier stage")
        if funnel.reopened:
            notes.append(f"{funnel.reopened} deals reopened after closing")
        if funnel.without_history:
            notes.append(
                f"{funnel.without_history} deals without stage history (counted at "
                "their current stage)"
            )
        if funnel.lost_stage_unknown:
            lost = sum(n for _, n in funnel.lost_stage_unknown)
            notes.append(f"{lost} lost from a stage the export does not name")
        if notes:
            out.print("  " + "; ".join(notes))
    worse = [g for g in result.gaps if g.significant and g.worse]
    if result.by is not None:
        if worse:
            out.print(
                f"\n[bold]Significantly worse than the other deals (Holm-adjusted, "
                f"{len(result.gaps)} tests):[/]"
            )
            for gap in worse:
                what = (
                    f"converts {percent(gap.group_rate)} at {gap.stage} vs {percent(gap.rest_rate)}"
                    if gap.kind == "conversion"
                    else f"loses {percent(gap.group_rate)} of its lost deals for '{gap.stage}' vs "
                    f"{percent(gap.rest_rate)}"
                )
                out.print(
                    f"  {result.by} {gap.group} {what} "
                    f"({gap.group_n} vs {gap.rest_n} deals, adjusted p {gap.adjusted_p:.3g})"
                )
        else:
            out.print(
                f"\nNo {result.by} converts significantly worse at any stage "
                f"({len(result.gaps)} tests, Holm-adjusted)."
            )
