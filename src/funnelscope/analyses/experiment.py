"""Funnel experiments: who saw which variant, and each variant's funnel from its first exposure.

A person is in the experiment from their first exposure event (``experiment_started`` with a
``variant`` property, say) and in the variant that event names. Only their events at or after
that moment count, so what they did before the experiment cannot move its result. A person whose
exposures name two variants crossed over and is left out of every variant (and counted). The
statistics over these counts live in `funnelscope.stats`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from funnelscope.errors import SpecError
from funnelscope.model.spec import Funnel, load_funnel, parse_funnel

if TYPE_CHECKING:
    import pyarrow as pa

    from funnelscope.model.results import FunnelResult
    from funnelscope.store.sources import EventSource

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
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise SpecError(unknown[0], "unknown key", f"use {', '.join(_KEYS)}")
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
        raise SpecError("funnel.count", f"{funnel.count!r}", "an experiment counts persons")
    exposure = _exposure(raw.get("exposure"))
    control = raw.get("control")
    if isinstance(control, int | float) and not isinstance(control, bool):
        control = str(control)  # `control: 1` in YAML names the variant "1"
    if not isinstance(control, str) or not control:
        raise SpecError("control", "is required", "name the control variant, e.g. control: A")
    weights = _weights(raw.get("weights"))
    if weights and control not in weights:
        raise SpecError(
            "weights", f"has no share for the control {control!r}", "give every variant"
        )
    alpha = raw.get("alpha", 0.05)
    if not isinstance(alpha, float | int) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise SpecError("alpha", f"{alpha!r}", "use a number between 0 and 1, e.g. 0.05")
    name = raw.get("name", funnel.name)
    return ExperimentSpec(str(name), funnel, exposure, control, weights, float(alpha))


def _exposure(raw: Any) -> Exposure:
    if isinstance(raw, str):
        return Exposure(raw)
    if isinstance(raw, Mapping) and set(raw) == {"person_property"}:
        prop = raw["person_property"]
        if not isinstance(prop, str) or not prop:
            raise SpecError("exposure.person_property", f"{prop!r}", "name a property")
        return Exposure(None, prop)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("event"), str):
        raise SpecError(
            "exposure", "needs an event", "write exposure: {event: experiment_started, "
            "variant_property: variant} or exposure: {person_property: ab_group}"
        )  # fmt: skip
    unknown = sorted(set(raw) - set(_EXPOSURE_KEYS))
    if unknown or "person_property" in raw:
        key = unknown[0] if unknown else "person_property"
        raise SpecError(
            f"exposure.{key}", "unknown key here", "use event and variant_property, or "
            "person_property alone"
        )  # fmt: skip
    prop = raw.get("variant_property", "variant")
    if not isinstance(prop, str) or not prop:
        raise SpecError("exposure.variant_property", f"{prop!r}", "name a property, e.g. variant")
    return Exposure(raw["event"], prop)


def _weights(raw: Any) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError("weights", "must map variants to shares", "write {A: 0.5, B: 0.5}")
    out = {}
    for variant, share in raw.items():
        if not isinstance(share, float | int) or isinstance(share, bool) or share <= 0:
            raise SpecError(f"weights.{variant}", f"{share!r}", "use a positive share")
        out[str(variant)] = float(share)
    return out


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read an experiment spec from a YAML or JSON file."""
    import yaml

    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(str(file), f"cannot read: {exc.strerror}", "check the path") from None
    except yaml.YAMLError as exc:
        raise SpecError(str(file), f"is not valid YAML: {exc}", "fix the syntax") from None
    try:
        return parse_experiment(raw, file.parent)
    except SpecError as exc:
        raise SpecError(
            f"{file}: {exc.path}" if exc.path else str(file), exc.problem, exc.hint
        ) from None


@dataclass(frozen=True)
class Assignment:
    """Who is in which variant, and since when (µs), from the exposure events."""

    persons: np.ndarray
    """Person ids (text) of everyone exposed to exactly one variant."""
    variants: np.ndarray
    since_us: np.ndarray
    crossovers: int
    """Persons whose exposures named two or more variants: left out."""
    unnamed: int
    """Exposure events without a variant value: ignored."""


def assign(exposures: pa.Table, exposure: Exposure) -> Assignment:
    """Each person's variant and first exposure time from their exposure events (scan format:
    person_id, event_id, event, ts, then the variant property)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = exposures
    if exposure.event is not None:
        table = table.filter(pc.equal(table.column("event"), exposure.event))
    if exposure.variant_property in table.column_names:
        variant = table.column(exposure.variant_property).cast("string")
    else:
        variant = pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    named = pc.is_valid(variant)
    # Only exposure events without a value are "unnamed"; with a person property, events
    # without it are simply not exposures.
    unnamed = 0 if exposure.event is None else table.num_rows - int(pc.sum(named).as_py() or 0)
    table = table.filter(named)
    persons = np.asarray(table.column("person_id").cast("string").to_pylist(), dtype=object)
    ts = table.column("ts").to_numpy()
    ids = np.asarray(table.column("event_id").cast("string").to_pylist(), dtype=object)
    names = np.asarray(variant.filter(named).to_pylist(), dtype=object)
    order = np.lexsort((ids, ts, persons))  # by person, then time, then event_id ([S1])
    persons, ts, names = persons[order], ts[order], names[order]
    first = np.ones(len(persons), dtype=bool)
    first[1:] = persons[1:] != persons[:-1]
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    labels, codes = np.unique(names.astype(str), return_inverse=True)
    pairs = np.unique(group * max(len(labels), 1) + codes.reshape(-1))
    per_person = np.bincount(pairs // max(len(labels), 1), minlength=len(starts))
    single = per_person == 1
    return Assignment(
        persons=persons[starts][single],
        variants=names[starts][single],
        since_us=ts[starts][single].astype(np.int64),
        crossovers=int((~single).sum()),
        unnamed=unnamed,
    )


@dataclass(frozen=True)
class VariantFunnel:
    """One variant's exposed persons and its funnel over their events since exposure."""

    variant: str
    exposed: int
    result: FunnelResult

    def reached(self, step: int) -> int:
        return self.result.step(step).count


@dataclass(frozen=True)
class ExperimentCounts:
    """Every variant's funnel (control first, then by name), and who was left out."""

    spec: ExperimentSpec
    variants: tuple[VariantFunnel, ...]
    crossovers: int
    unnamed: int

    def variant(self, name: str) -> VariantFunnel:
        for v in self.variants:
            if v.variant == name:
                return v
        raise KeyError(name)


def experiment_counts(
    spec: ExperimentSpec, source: EventSource, engine: str = "kernel"
) -> ExperimentCounts:
    """Assign persons from the exposure events, keep each person's events from their first
    exposure on, and run the funnel per variant with the named engine."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from funnelscope.analyses.funnel import run_funnel
    from funnelscope.store.sources import TableSource

    exposure = spec.exposure
    names_read = None if exposure.event is None else [exposure.event]
    assignment = assign(source.scan(names_read, [exposure.variant_property]), exposure)
    if not len(assignment.persons):
        what = "event" if exposure.event is None else f"{exposure.event!r} event"
        raise SpecError(
            "exposure",
            f"no {what} with a {exposure.variant_property!r} value",
            "check the exposure event and property names",
        )
    seen_variants = set(assignment.variants.tolist())
    if spec.control not in seen_variants:
        seen = ", ".join(sorted(seen_variants))
        raise SpecError("control", f"no person saw {spec.control!r}", f"the variants are: {seen}")
    unplanned = sorted(seen_variants - set(spec.weights)) if spec.weights else []
    if unplanned:
        raise SpecError(
            "weights",
            f"has no share for {unplanned[0]!r}, which persons saw",
            f"give every variant a share: {', '.join(sorted(seen_variants))}",
        )
    funnel = spec.funnel
    names = None if funnel.reads_all_events else list(funnel.scan_event_names)
    events = source.scan(names, list(funnel.properties), sessions=funnel.sessions_by_column)
    if names is not None:
        events = events.filter(pc.is_in(events.column("event"), pa.array(names)))
    lookup = {p: i for i, p in enumerate(assignment.persons.tolist())}
    person_index = np.array(
        [lookup.get(p, -1) for p in events.column("person_id").cast("string").to_pylist()],
        dtype=np.int64,
    )
    exposed = person_index >= 0
    since = np.where(exposed, assignment.since_us[np.maximum(person_index, 0)], 0)
    keep = exposed & (events.column("ts").to_numpy() >= since)
    kept = events.filter(pa.array(keep))
    kept_variants = assignment.variants[person_index[keep]]
    order = [spec.control, *sorted(set(assignment.variants.tolist()) - {spec.control})]
    out = []
    for variant in order:
        rows = pa.array(kept_variants == variant)
        exposed_count = int((assignment.variants == variant).sum())
        result = run_funnel(funnel, TableSource(kept.filter(rows)), engine)
        out.append(VariantFunnel(str(variant), exposed_count, result))
    return ExperimentCounts(spec, tuple(out), assignment.crossovers, assignment.unnamed)
