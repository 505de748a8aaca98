"""Funnel experiment specs: the funnel, the exposure that assigns variants, the control."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funnelscope.errors import SpecError, shown
from funnelscope.model.spec import Funnel, load_funnel, parse_funnel
from funnelscope.model.spec_files import read_spec_file

_KEYS = ("name", "funnel", "exposure", "control", "weights", "alpha")
_EXPOSURE_KEYS = ("event", "variant_property", "person_property")


@dataclass(frozen=True)
class Exposure:
    """The event that puts a person in the experiment, and its property naming the variant.
    Without an event (`person_property`), a person is exposed at their first event of any name
    that carries the property."""

    event: str | None
    variant_property: str = "variant"


@dataclass(frozen=True)
class ExperimentSpec:
    """A funnel, how persons are assigned to variants, and which variant is the control."""

    name: str
    funnel: Funnel
    exposure: Exposure
    control: str
    weights: Mapping[str, float] = field(default_factory=dict)
    """Expected share of each variant (empty: equal shares), for the sample-ratio check."""
    alpha: float = 0.05


def parse_experiment(raw: Any, base: Path | None = None) -> ExperimentSpec:
    """An experiment spec from a mapping; `funnel` is a spec mapping or a path (relative to
    `base`, the experiment file's directory)."""
    if not isinstance(raw, Mapping):
        raise SpecError("", "an experiment spec is a mapping", "start with name: and funnel:")
    unknown = sorted(set(raw) - set(_KEYS), key=str)
    if unknown:
        raise SpecError(shown(unknown[0], quote=False), "unknown key", f"use {', '.join(_KEYS)}")
    funnel_raw = raw.get("funnel")
    if isinstance(funnel_raw, str):
        funnel = load_funnel((base or Path(".")) / funnel_raw)
    elif isinstance(funnel_raw, Mapping):
        funnel = parse_funnel(funnel_raw)
    else:
        raise SpecError(
            "funnel", "is required", "write funnel: checkout.yaml or funnel: {steps: [...]}"
        )
    if funnel.count != "persons":
        raise SpecError("funnel.count", f"{shown(funnel.count)}", "an experiment counts persons")
    exposure = _exposure(raw.get("exposure"))
    control = raw.get("control")
    if isinstance(control, int | float) and not isinstance(control, bool):
        control = str(control)  # `control: 1` in YAML names the variant "1"
    if not isinstance(control, str) or not control:
        raise SpecError("control", "is required", "name the control variant, e.g. control: A")
    weights = _weights(raw.get("weights"))
    if weights and control not in weights:
        raise SpecError(
            "weights", f"has no share for the control {shown(control)}", "give every variant"
        )
    alpha = raw.get("alpha", 0.05)
    if not isinstance(alpha, float | int) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise SpecError("alpha", f"{shown(alpha)}", "use a number between 0 and 1, e.g. 0.05")
    name = raw.get("name", funnel.name)
    return ExperimentSpec(str(name), funnel, exposure, control, weights, float(alpha))


def _exposure(raw: Any) -> Exposure:
    if isinstance(raw, str):
        return Exposure(raw)
    if isinstance(raw, Mapping) and set(raw) == {"person_property"}:
        prop = raw["person_property"]
        if not isinstance(prop, str) or not prop:
            raise SpecError("exposure.person_property", f"{shown(prop)}", "name a property")
        return Exposure(None, prop)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("event"), str):
        raise SpecError(
            "exposure", "needs an event", "write exposure: {event: experiment_started, "
            "variant_property: variant} or exposure: {person_property: ab_group}"
        )  # fmt: skip
    unknown = sorted(set(raw) - set(_EXPOSURE_KEYS), key=str)
    if unknown or "person_property" in raw:
        key = shown(unknown[0], quote=False) if unknown else "person_property"
        raise SpecError(
            f"exposure.{key}", "unknown key here", "use event and variant_property, or "
            "person_property alone"
        )  # fmt: skip
    prop = raw.get("variant_property", "variant")
    if not isinstance(prop, str) or not prop:
        raise SpecError(
            "exposure.variant_property", f"{shown(prop)}", "name a property, e.g. variant"
        )
    return Exposure(raw["event"], prop)


def _weights(raw: Any) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError("weights", "must map variants to shares", "write {A: 0.5, B: 0.5}")
    out = {}
    for variant, share in raw.items():
        number = _share(share)
        if number is None:
            where = f"weights.{shown(variant, quote=False)}"
            raise SpecError(where, f"{shown(share)}", "use a positive share")
        out[str(variant)] = number
    return out


def _share(raw: Any) -> float | None:
    """A positive finite share (None: not one; NaN, 1e400 read as infinity, 10**400)."""
    if not isinstance(raw, float | int) or isinstance(raw, bool):
        return None
    try:
        share = float(raw)
    except OverflowError:
        return None
    return share if 0 < share < math.inf else None


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read an experiment spec from a YAML or JSON file (within the limits of
    :mod:`funnelscope.model.spec_files`)."""
    file = Path(path)
    raw = read_spec_file(file)
    try:
        return parse_experiment(raw, file.parent)
    except SpecError as exc:
        raise SpecError(
            f"{file}: {exc.path}" if exc.path else str(file), exc.problem, exc.hint
        ) from None
