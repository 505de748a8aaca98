"""`funnelscope pipeline ...`: the sales pipeline's commands, one module each."""

from __future__ import annotations

import click

from funnelscope.cli.pipeline.followups import followups
from funnelscope.cli.pipeline.forecast import forecast
from funnelscope.cli.pipeline.funnel import funnel
from funnelscope.cli.pipeline.load import load
from funnelscope.cli.pipeline.score import score
from funnelscope.cli.pipeline.targets import targets
from funnelscope.cli.pipeline.velocity import velocity


@click.group()
def pipeline() -> None:
    """The sales pipeline: deals, stage history, follow-ups, targets, forecast, lead scores.

    \b
    Load:     funnelscope pipeline load deals.csv stage_history.csv activities.csv
    Funnel:   funnelscope pipeline funnel --by owner
    Today:    funnelscope pipeline followups
    """


pipeline.add_command(load)
pipeline.add_command(forecast)
pipeline.add_command(velocity)
pipeline.add_command(followups)
pipeline.add_command(targets)
pipeline.add_command(score)
pipeline.add_command(funnel)
