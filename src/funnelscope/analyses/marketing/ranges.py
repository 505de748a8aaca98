"""Typical ranges of funnel rates, each labelled with where it comes from.

The shipped ranges (``ranges.yaml`` next to this module) cover the search-marketing funnel. Only
the arrival rate has a figure from the marketing handbook; the others are wide funnelscope
heuristics, there so that a healthy account is never flagged, and meant to be replaced by the
user's own ranges from files of the same shape (see `load_ranges`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from funnelscope.analyses.marketing.knowledge import (
    check_keys,
    wrong_value,
)
from funnelscope.errors import SpecError, shown
from funnelscope.model.spec_files import load_spec_text, read_spec_file

_TOP_KEYS = ("version", "ranges")
_RANGE_KEYS = ("low", "high", "source", "heuristic", "allow_above_one")
_VERSION = 1


@dataclass(frozen=True)
class ReferenceRange:
    """The typical range of the rate that leads to `layer`, as fractions (0.7 is 70%)."""

    layer: str
    low: float
    high: float
    source: str
    heuristic: bool

    @property
    def label(self) -> str:
        """``70%-80%``, with ``(heuristic)`` added for a rule of thumb."""
        text = f"{percent_text(self.low)}-{percent_text(self.high)}"
        return f"{text} (heuristic)" if self.heuristic else text


def percent_text(value: float) -> str:
    """0.7 -> '70%', 0.015 -> '1.5%': as a percentage with no needless decimals."""
    return f"{round(value * 100, 4):g}%"


def load_ranges(
    extra: Sequence[str | Path] = (), use_defaults: bool = True
) -> dict[str, ReferenceRange]:
    """Shipped ranges, overridden per layer by user YAML files (same schema; `low`/`high` as 0.7 or
    "70%"). Validation errors (low > high, outside [0, 1] — except that a layer may set
    `allow_above_one: true` for count ratios —, missing source -> user files default source to the
    file name) raise SpecError with file and path.

    A later file overrides an earlier one. A user range gives both `low` and `high`; `heuristic`
    defaults to false for user files. With `use_defaults=False` only the user files count.
    """
    ranges = dict(_shipped()) if use_defaults else {}
    for path in extra:
        ranges.update(_parse(read_spec_file(path), str(path)))
    return ranges


@functools.cache
def _shipped() -> tuple[tuple[str, ReferenceRange], ...]:
    text = (
        resources.files("funnelscope.analyses.marketing").joinpath("ranges.yaml").read_text("utf-8")
    )
    parsed = _parse(load_spec_text(text, "ranges.yaml"), "ranges.yaml", shipped=True)
    return tuple(parsed.items())


def _parse(raw: Any, name: str, shipped: bool = False) -> dict[str, ReferenceRange]:
    if not isinstance(raw, Mapping):
        raise SpecError(name, "is not a ranges file", "start it with version: 1 and ranges:")
    check_keys(raw, _TOP_KEYS, name, "")
    version = raw.get("version", _VERSION)
    if version != _VERSION or isinstance(version, bool):
        raise SpecError(
            f"{name}: version", f"{shown(version)} is not supported", "write version: 1"
        )
    body = raw.get("ranges")
    if not isinstance(body, Mapping):
        raise SpecError(
            f"{name}: ranges",
            wrong_value("a mapping of layers", body),
            "write ranges: {visits: {low: 0.7, high: 0.8}}",
        )
    parsed = {}
    for layer, item in body.items():
        path = f"ranges.{layer}"
        if not isinstance(layer, str) or not layer.strip():
            raise SpecError(
                f"{name}: {path}", "is not a layer name", "use a stage key such as visits"
            )
        if not isinstance(item, Mapping):
            raise SpecError(
                f"{name}: {path}", wrong_value("a mapping", item), "write {low: 0.7, high: 0.8}"
            )
        parsed[layer] = _range(layer, item, name, path, shipped)
    return parsed


def _range(
    layer: str, raw: Mapping[str, Any], name: str, path: str, shipped: bool
) -> ReferenceRange:
    check_keys(raw, _RANGE_KEYS, name, path)
    above_one = _flag(raw, "allow_above_one", name, path, default=False)
    low = _fraction(raw, "low", name, path)
    high = _fraction(raw, "high", name, path)
    for key, value in (("low", low), ("high", high)):
        where = f"{name}: {path}.{key}"
        if value < 0.0:
            raise SpecError(where, f"{value:g} is negative", "a rate is 0 or more")
        if value > 1.0 and not above_one:
            raise SpecError(
                where,
                f"{value:g} is above 1 (100%)",
                "write a share such as 0.7 or 70%; for a ratio of counts that can pass 1, "
                "set allow_above_one: true",
            )
    if low > high:
        raise SpecError(
            f"{name}: {path}",
            f"low ({percent_text(low)}) is above high ({percent_text(high)})",
            "swap them",
        )
    source = raw.get("source")
    if source is None and not shipped:
        source = name
    if not isinstance(source, str) or not source.strip():
        raise SpecError(
            f"{name}: {path}.source",
            wrong_value("some words", source),
            "say where the range comes from",
        )
    heuristic = _flag(raw, "heuristic", name, path, default=None if shipped else False)
    return ReferenceRange(layer, low, high, " ".join(source.split()), heuristic)


def _fraction(raw: Mapping[str, Any], key: str, name: str, path: str) -> float:
    """A share as 0.7 or "70%" (or "0.7")."""
    where = f"{name}: {path}.{key}"
    hint = "write a share such as 0.7 or 70%"
    if key not in raw:
        raise SpecError(where, "is required", hint)
    value = raw[key]
    if isinstance(value, bool):
        raise SpecError(where, wrong_value("a number", value), hint)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        scale = 100.0 if text.endswith("%") else 1.0
        try:
            number = float(text.removesuffix("%").strip()) / scale
        except ValueError:
            raise SpecError(where, f"{shown(value)} is not a number", hint) from None
    else:
        raise SpecError(where, wrong_value("a number", value), hint)
    if not math.isfinite(number):
        raise SpecError(where, f"{shown(value)} is not a finite number", hint)
    return number


def _flag(raw: Mapping[str, Any], key: str, name: str, path: str, default: bool | None) -> bool:
    """A true/false field; `default` None means the field is required."""
    where = f"{name}: {path}.{key}"
    if key not in raw:
        if default is None:
            raise SpecError(where, "is required", f"write {key}: true or {key}: false")
        return default
    value = raw[key]
    if not isinstance(value, bool):
        raise SpecError(where, wrong_value("true or false", value), f"write {key}: true")
    return value
