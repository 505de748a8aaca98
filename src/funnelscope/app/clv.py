"""Use case: customer lifetime value from the order events in the store."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from funnelscope.app.events import open_store
from funnelscope.errors import SpecError
from funnelscope.model.durations import parse_duration

if TYPE_CHECKING:
    from funnelscope.analyses.clv import ClvResult

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class ClvOptions:
    """The options as users give them (`--horizon 365d`, `--end 2024-12-31` ...)."""

    order_event: str
    value_property: str
    horizon: str = "365d"
    discount: float = 0.01  # per 30-day period
    top: int = 20  # 0: every customer
    holdout: str | None = None  # a duration of whole days, e.g. 90d
    end: str | None = None  # YYYY-MM-DD, the observation's last day (UTC)


def customer_lifetime_value(options: ClvOptions, db_path: str = "funnelscope.duckdb") -> ClvResult:
    """Fit BG/NBD + Gamma-Gamma to the orders in the store at `db_path` and predict each
    customer's value (see analyses.clv)."""
    from funnelscope.analyses.clv import ClvSettings, customer_values, day_number

    horizon_days = parse_duration(options.horizon, "--horizon") / DAY_SECONDS
    if horizon_days <= 0:
        raise SpecError("--horizon", f"{options.horizon!r} is not a positive duration", "e.g. 365d")
    if not 0 <= options.discount < 1:
        raise SpecError(
            "--discount", f"{options.discount} is not a rate from 0 to 1", "e.g. 0.01 per 30 days"
        )
    if options.top < 0:
        raise SpecError("--top", f"{options.top} is negative", "0 lists every customer")
    holdout_days = None
    if options.holdout is not None:
        seconds = parse_duration(options.holdout, "--holdout")
        if seconds <= 0 or seconds % DAY_SECONDS:
            raise SpecError(
                "--holdout", f"{options.holdout!r} is not whole days", "e.g. 90d or 12w"
            )
        holdout_days = seconds // DAY_SECONDS
    end_day = None
    if options.end is not None:
        try:
            end_day = day_number(dt.date.fromisoformat(options.end))
        except ValueError:
            raise SpecError("--end", f"{options.end!r} is not a date", "e.g. 2024-12-31") from None
    settings = ClvSettings(horizon_days, options.discount, options.top, holdout_days, end_day)
    with open_store(db_path) as store:
        return customer_values(store, options.order_event, options.value_property, settings)
