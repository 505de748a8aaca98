from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

# Under pytest-xdist each worker compiles into a numba cache of its own: numba's on-disk cache
# is not safe for two processes compiling the same function at once (the index is rewritten
# without a lock; see numba/numba#10128), and a fresh checkout compiles in every worker anyway.
# Set before funnelscope (and so numba) is imported below.
if "PYTEST_XDIST_WORKER" in os.environ and "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = str(
        Path(__file__).parent.parent / ".pytest_cache" / "numba" / os.environ["PYTEST_XDIST_WORKER"]
    )

from funnelscope.analyses.funnel import run_funnel
from funnelscope.engines import ENGINE_NAMES
from funnelscope.model.results import FunnelResult
from funnelscope.model.spec import parse_funnel

from journeys import Journey, journeys

RunFunnel = Callable[..., FunnelResult]

# Two depths of the same suite. `make test` runs the default: every hypothesis test at
# EXAMPLES random cases (times its weight), fresh cases on every run (derandomize=False), so
# successive runs and CI builds cover different journeys; a failure prints the seed blob to
# replay it (print_blob) and is kept in .hypothesis/ to be tried first next time.
# `make test-long` (FUNNELSCOPE_TESTS=long) runs LONG_FACTOR times as many cases and also the
# tests marked `@pytest.mark.long` (large data), which the default run skips.
# A test that wants more or fewer cases than the unit says so relative to it:
#     @settings(max_examples=3 * settings().max_examples, deadline=None)
# never as a fixed number, so that the long run multiplies it too.
LONG = os.environ.get("FUNNELSCOPE_TESTS", "").strip().lower() == "long"
EXAMPLES = 50
LONG_FACTOR = 10
settings.register_profile("standard", max_examples=EXAMPLES, deadline=None, print_blob=True)
settings.register_profile(
    "long", max_examples=EXAMPLES * LONG_FACTOR, deadline=None, print_blob=True
)
settings.load_profile("long" if LONG else "standard")


def pytest_report_header(config: pytest.Config) -> str:
    depth = "long" if LONG else "standard (FUNNELSCOPE_TESTS=long for the deep run)"
    return f"funnelscope tests: {depth}, hypothesis unit {settings().max_examples} examples"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if LONG:
        return
    skip = pytest.mark.skip(reason="deep check: make test-long (FUNNELSCOPE_TESTS=long)")
    for item in items:
        if item.get_closest_marker("long"):
            item.add_marker(skip)


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
