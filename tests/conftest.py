from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from funnelscope.analyses.funnel import run_funnel
from funnelscope.engines import ENGINE_NAMES
from funnelscope.model.results import FunnelResult
from funnelscope.model.spec import parse_funnel

from journeys import Journey, journeys

RunFunnel = Callable[..., FunnelResult]


@pytest.fixture(params=ENGINE_NAMES)
def run(request: pytest.FixtureRequest) -> RunFunnel:
    """Every scenario runs on every engine: ``run(spec_dict_or_step_list, people)``."""
    engine = request.param

    def _run(spec: Any, people: dict[str, Journey], **overrides: Any) -> FunnelResult:
        if isinstance(spec, list):
            spec = {"steps": spec}
        funnel = parse_funnel({**spec, **overrides})
        return run_funnel(funnel, journeys(people), engine)

    return _run
