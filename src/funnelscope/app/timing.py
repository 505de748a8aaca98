"""Use case: a funnel with what happens around it in time and by segment: time to convert,
conversion trends by entry period, and breakdown values that differ from the rest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from funnelscope.app.events import OnLoaded
from funnelscope.app.funnels import EventInput, FunnelRun, events_for
from funnelscope.engines import DEFAULT_ENGINE

if TYPE_CHECKING:
    from funnelscope.analyses.segments import Segments
    from funnelscope.analyses.time_to_convert import TimeToConvert
    from funnelscope.analyses.trends import Trend
    from funnelscope.model.spec import Funnel


@dataclass(frozen=True)
class TimingRequest:
    """Which extras to compute (each None / False: not asked for)."""

    time_to_convert: bool = False
    time_from: int = 1
    time_to: int | None = None  # None: the last step
    bins: int | None = None  # None: PostHog's automatic count
    trend: str | None = None  # day, week or month
    trend_timezone: str | None = None  # None: the date range's zone, else UTC
    segments: bool = False
    min_n: int = 30
    correction: str = "bh"
    alpha: float = 0.05

    @property
    def asked(self) -> bool:
        return self.time_to_convert or self.trend is not None or self.segments


@dataclass(frozen=True)
class TimedRun:
    """A computed funnel and the extras asked for."""

    run: FunnelRun
    time_to_convert: TimeToConvert | None = None
    trend: Trend | None = None
    segments: Segments | None = None

    def to_dict(self) -> dict[str, Any]:
        """The funnel's JSON with a key per extra computed."""
        out = self.run.result.to_dict()
        if self.time_to_convert is not None:
            out["time_to_convert"] = self.time_to_convert.to_dict()
        if self.trend is not None:
            out["trend"] = self.trend.to_dict()
        if self.segments is not None:
            out["segments"] = self.segments.to_dict()
        return out


def check_request(funnel: Funnel, request: TimingRequest) -> None:
    """Raise the SpecError of an extra that cannot be computed for `funnel` (segments without
    a breakdown, a step out of range, an unknown time zone), without reading events."""
    from funnelscope.analyses.time_to_convert import check_steps
    from funnelscope.analyses.trends import zone_of
    from funnelscope.errors import SpecError

    if request.segments and funnel.breakdown is None:
        raise SpecError("--segments", "needs a breakdown", "add --breakdown PROP")
    if request.time_to_convert:
        check_steps(len(funnel.steps), request.time_from, request.time_to)
    if request.trend_timezone is not None:
        zone_of(request.trend_timezone)


def compute_timed_funnel(
    funnel: Funnel,
    events: EventInput,
    request: TimingRequest,
    engine: str | None = DEFAULT_ENGINE,
    on_loaded: OnLoaded | None = None,
) -> TimedRun:
    """Compute `funnel` over the store or files, then the extras `request` asks for, all from
    the engine's counted attempts (the trend also reads the data's last funnel event)."""
    from funnelscope.analyses.funnel import check_names, run_funnel
    from funnelscope.analyses.time_to_convert import time_to_convert
    from funnelscope.analyses.trends import conversion_trend, data_end

    check_request(funnel, request)  # mistakes in the request are told before any event is read
    trend = ttc = found = None
    with _opened(funnel, events, engine, on_loaded) as (source, where, chosen):
        result = run_funnel(funnel, source, engine=chosen, person_ids=False)
        warnings = (*result.outcomes.warnings, *check_names(funnel, source, result))
        if request.trend is not None:
            zone = request.trend_timezone
            if zone is None:
                zone = "UTC" if funnel.date_range is None else funnel.date_range.timezone
            end = data_end(result, source)
            trend = conversion_trend(result, request.trend, zone, end)
    if request.time_to_convert:
        ttc = time_to_convert(result, request.time_from, request.time_to, request.bins)
    if request.segments:  # scipy loads only when asked for
        from funnelscope.analyses.segments import segments

        found = segments(result, request.min_n, request.correction, request.alpha)
    run = FunnelRun(result, warnings, where)
    return TimedRun(run, ttc, trend, found)


@contextmanager
def _opened(
    funnel: Funnel, events: EventInput, engine: str | None, on_loaded: OnLoaded | None
) -> Iterator[tuple[Any, str, str]]:
    """(source, where the events are, the engine) for the block: a ClickHouse store's own
    events with the clickhouse engine, or the store or files as for any funnel."""
    from funnelscope.app import clickhouse

    if clickhouse.is_clickhouse(events.db_path) and not events.files:
        chosen = clickhouse.engine_for(events.db_path, engine) or clickhouse.ENGINE
        with clickhouse.opened_source(events.db_path) as (source, where):
            yield source, where, chosen
        return
    chosen = engine or DEFAULT_ENGINE
    with events_for(funnel, events, chosen, on_loaded) as opened:
        yield opened.source, opened.where, chosen
