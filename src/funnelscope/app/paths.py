"""Use case: what the attempts of a funnel did after dropping at a step, or between two steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from funnelscope.app.events import OnLoaded
from funnelscope.app.funnels import EventInput, events_for
from funnelscope.engines import DEFAULT_ENGINE

if TYPE_CHECKING:
    from funnelscope.analyses.paths import PathQuery, PathsResult
    from funnelscope.model.spec import Funnel


@dataclass(frozen=True)
class PathsRun:
    """The paths, what was noticed on the way (rows the engine left out), and where the events
    were read from."""

    result: PathsResult
    warnings: tuple[str, ...]
    where: str


def compute_paths(
    funnel: Funnel,
    events: EventInput,
    query: PathQuery,
    engine: str = DEFAULT_ENGINE,
    on_loaded: OnLoaded | None = None,
) -> PathsRun:
    """Compute `funnel` with `engine` over the store or files, then the paths of `query` over
    the same events (docs: "funnelscope paths")."""
    from funnelscope.analyses.funnel import run_funnel
    from funnelscope.analyses.paths import funnel_paths

    query.check(len(funnel.steps), [step.optional for step in funnel.steps])
    with events_for(funnel, events, engine, on_loaded) as opened:
        result = run_funnel(funnel, opened.source, engine=engine, person_ids=False)
        paths = funnel_paths(result, opened.source, query)
    return PathsRun(paths, tuple(result.outcomes.warnings), opened.where)
