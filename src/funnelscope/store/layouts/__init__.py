"""Export layouts that real tools write (GA4, PostHog, Segment, Mixpanel, Amplitude), recognised
from a file's first record and flattened, record by record, into plain rows.

A layout turns one source record (a JSON object, a CSV row as a dict, a Parquet row) into a flat
row: property name -> value, plus the core fields under the ``CORE`` keys below (the event's own
id, the device/anonymous id it links to that person, the event, its time, its id, its session).
Ingest then treats that row like any other. See docs/formats.md for what maps to what, and
docs/architecture.md ("How to add an export layout").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from funnelscope.store.layouts.core import (
    DEVICE,
    EVENT,
    EVENT_ID,
    LINK_KIND,
    PERSON,
    SESSION,
    TIME,
    LayoutError,
)

Transform = Callable[[dict[str, Any]], dict[str, Any] | list[dict[str, Any]]]
"""One record to its flat row (or rows: a person export links several ids)."""


@dataclass(frozen=True)
class Layout:
    """One export layout: how to recognise its first record and how to flatten each record."""

    name: str
    title: str
    recognises: Callable[[Mapping[str, Any]], bool]
    transform: Transform
    fields: Mapping[str, str]  # core key -> the source field(s) it comes from, for messages
    time_unit: str = "auto"  # how the time field's epoch numbers are read


GENERIC: Final = "generic"


def _registry() -> dict[str, Layout]:
    from types import ModuleType

    from funnelscope.store.layouts import amplitude, ga4, mixpanel, persons, posthog, segment

    def layout(module: ModuleType, time_unit: str = "auto") -> Layout:
        return Layout(
            module.NAME,
            module.TITLE,
            module.recognises,
            module.transform,
            module.FIELDS,
            time_unit,
        )

    # the order recognition tries them in: most specific first
    layouts = [
        layout(ga4, "us"),
        layout(segment),
        layout(amplitude),
        layout(posthog),
        layout(mixpanel),
        layout(persons),
    ]
    return {item.name: item for item in layouts}


LAYOUTS: Final = _registry()
LAYOUT_NAMES: Final = (*LAYOUTS, GENERIC)


def recognise(first: Mapping[str, Any]) -> Layout | None:
    """The layout whose records look like `first` (a file's first record), or None (generic)."""
    return next((layout for layout in LAYOUTS.values() if layout.recognises(first)), None)


__all__ = [
    "DEVICE",
    "EVENT",
    "EVENT_ID",
    "GENERIC",
    "LAYOUTS",
    "LAYOUT_NAMES",
    "LINK_KIND",
    "PERSON",
    "SESSION",
    "TIME",
    "Layout",
    "LayoutError",
    "Transform",
    "recognise",
]
