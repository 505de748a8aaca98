"""Use case: what goes with converting, over the store or files (funnel correlation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from funnelscope.app.events import OnLoaded
from funnelscope.app.funnels import EventInput, events_for
from funnelscope.engines import DEFAULT_ENGINE

if TYPE_CHECKING:
    from funnelscope.analyses.correlation import CorrelationOptions, CorrelationResult
    from funnelscope.model.spec import Funnel

# events_for reads Parquet in place for engines that can; correlation reads every event of
# each person, so files always go through a store in memory (the reference engine's route)
_THROUGH_A_STORE = "reference"


@dataclass(frozen=True)
class CorrelationRun:
    result: CorrelationResult
    warnings: tuple[str, ...]  # rows the engine left out, names the data never has
    where: str


def correlate_funnel(
    funnel: Funnel,
    events: EventInput,
    options: CorrelationOptions,
    engine: str = DEFAULT_ENGINE,
    on_loaded: OnLoaded | None = None,
) -> CorrelationRun:
    """Correlate every event and asked property value of the persons who entered `funnel`
    with their conversion (docs/semantics.md, "Correlation")."""
    from funnelscope.analyses.correlation import correlate
    from funnelscope.analyses.funnel import check_names

    opened_with = _THROUGH_A_STORE if events.files else engine
    with events_for(funnel, events, opened_with, on_loaded) as opened:
        result = correlate(funnel, opened.source, engine, options)
        warnings: list[str] = []
        if result.funnel_result is not None:
            warnings.extend(result.funnel_result.outcomes.warnings)
            warnings.extend(check_names(result.funnel, opened.source, result.funnel_result))
    where = opened.where
    if events.files:
        where = "files loaded into a store in memory (correlation reads every event)"
    return CorrelationRun(result, tuple(dict.fromkeys(warnings)), where)
