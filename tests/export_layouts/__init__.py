"""Realistic event exports of one simulated shop, in the layouts of five analytics tools, with
the funnel they must give computed independently of funnelscope.

    export = write_export("segment", tmp_path)
    export.path     # the file written
    export.truth    # the expected funnel (truth.Truth)

The population (population.py) is built once per seed; each layout module turns its acts into
that tool's records and plants a few bad ones; truth.py applies the identity rule to the rows
the writer reports and searches the funnel itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

from . import amplitude, ga4, mixpanel, posthog, segment
from .population import Population, build_population
from .truth import Truth, Written, compute_truth

SEED: Final = 20240304
PEOPLE: Final = 3000

Writer = Callable[[Population, Path, int], Written]


@dataclass(frozen=True)
class Layout:
    name: str  # as `funnelscope ingest` reports it: "layout: <name>"
    file_name: str
    write: Writer
    steps: tuple[str, str, str]
    source_property: str
    plan_property: str
    sessions: bool = False  # whether the layout's session id is part of the truth


LAYOUTS: Final = {
    "ga4-jsonl": Layout(
        "ga4",
        "events.jsonl",
        ga4.write_jsonl,
        ga4.STEPS,
        ga4.SOURCE_PROPERTY,
        ga4.PLAN_PROPERTY,
        sessions=True,
    ),
    "ga4-parquet": Layout(
        "ga4",
        "events.parquet",
        ga4.write_parquet,
        ga4.STEPS,
        ga4.SOURCE_PROPERTY,
        ga4.PLAN_PROPERTY,
        sessions=True,
    ),
    "posthog-csv": Layout(
        "posthog",
        "events.csv",
        posthog.write_csv,
        posthog.STEPS,
        posthog.SOURCE_PROPERTY,
        posthog.PLAN_PROPERTY,
    ),
    "posthog-jsonl": Layout(
        "posthog",
        "events.jsonl",
        posthog.write_jsonl,
        posthog.STEPS,
        posthog.SOURCE_PROPERTY,
        posthog.PLAN_PROPERTY,
    ),
    "segment": Layout(
        "segment",
        "events.jsonl",
        segment.write,
        segment.STEPS,
        segment.SOURCE_PROPERTY,
        segment.PLAN_PROPERTY,
    ),
    "mixpanel": Layout(
        "mixpanel",
        "events.jsonl",
        mixpanel.write,
        mixpanel.STEPS,
        mixpanel.SOURCE_PROPERTY,
        mixpanel.PLAN_PROPERTY,
    ),
    "amplitude": Layout(
        "amplitude",
        "events.jsonl",
        amplitude.write,
        amplitude.STEPS,
        amplitude.SOURCE_PROPERTY,
        amplitude.PLAN_PROPERTY,
    ),
}


@dataclass(frozen=True)
class Export:
    path: Path
    truth: Truth
    written: Written


@lru_cache(maxsize=2)
def population(seed: int = SEED, people: int = PEOPLE) -> Population:
    return build_population(seed, people)


def write_export(key: str, directory: Path, seed: int = SEED, people: int = PEOPLE) -> Export:
    """Write the export `key` (a key of LAYOUTS) into `directory`; return it with its truth."""
    layout = LAYOUTS[key]
    path = directory / layout.file_name
    written = layout.write(population(seed, people), path, seed)
    truth = compute_truth(
        layout.name,
        written,
        layout.steps,
        layout.source_property,
        layout.plan_property,
        sessions=layout.sessions,
    )
    return Export(path, truth, written)


__all__ = ["LAYOUTS", "PEOPLE", "SEED", "Export", "Layout", "Truth", "population", "write_export"]
