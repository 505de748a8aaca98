"""`pipeline forecast`: the forecast of a period as of a moment, and its backtest."""

from __future__ import annotations

from datetime import datetime

from funnelscope.analyses.pipeline.forecast import COMMIT_THRESHOLD, GROUP_FIELDS, Forecast
from funnelscope.analyses.pipeline.forecast import forecast as compute_forecast
from funnelscope.analyses.pipeline.forecast_backtest import Backtest, backtest
from funnelscope.analyses.pipeline.money import money_for
from funnelscope.analyses.pipeline.rates import MIN_CLOSED
from funnelscope.app.pipeline.data import read_pipeline, settings_from
from funnelscope.errors import SpecError
from funnelscope.model.pipeline_settings import PipelineSettings, parse_period


def pipeline_forecast(
    db_path: str,
    *,
    as_of: datetime,
    settings_path: str | None = None,
    settings: PipelineSettings | None = None,
    period: str | None = None,
    commit_threshold: float = COMMIT_THRESHOLD,
    min_closed: int = MIN_CLOSED,
    by: str | None = None,
) -> Forecast:
    """The forecast of ``period`` (default: the month of ``as_of``), as of ``as_of``."""
    check_common(min_closed)
    if not 0 <= commit_threshold <= 1:
        raise SpecError(
            "--commit-threshold", f"{commit_threshold} is not a probability", "e.g. 0.7"
        )
    if by is not None and by not in GROUP_FIELDS:
        raise SpecError("--by", f"{by!r} is not a group", f"use {', '.join(GROUP_FIELDS)}")
    chosen = parse_period(period if period is not None else f"{as_of:%Y-%m}", "--period")
    settings = settings_from(settings_path, settings)
    data = read_pipeline(db_path, settings)
    return compute_forecast(
        data,
        money_for(settings, data.deals),
        chosen,
        as_of,
        commit_threshold=commit_threshold,
        min_closed=min_closed,
        by=by,
    )


def forecast_backtest(
    db_path: str,
    *,
    as_of: datetime,
    settings_path: str | None = None,
    settings: PipelineSettings | None = None,
    min_closed: int = MIN_CLOSED,
) -> Backtest:
    """Every past month with a closed deal, replayed from its first day."""
    check_common(min_closed)
    settings = settings_from(settings_path, settings)
    data = read_pipeline(db_path, settings)
    return backtest(data, money_for(settings, data.deals), as_of, min_closed=min_closed)


def check_common(min_closed: int) -> None:
    if min_closed < 1:
        raise SpecError("--min-closed", f"{min_closed} is below 1", "e.g. 20")
