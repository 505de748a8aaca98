"""The funnel spec: which ordered steps matter, within what window, in which order mode.

One `Funnel` type; the order mode is data. Built from YAML/JSON (``load_funnel``) or directly.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from funnelscope.errors import SpecError, shown
from funnelscope.model.date_range import DateRange, parse_date_range
from funnelscope.model.durations import format_duration, parse_duration
from funnelscope.model.filters import Filter, parse_filter
from funnelscope.model.spec_files import read_spec_file


class Order(StrEnum):
    """The order mode of a funnel (docs/semantics.md). A str: equal to its value and written as
    it in JSON. The kernel's integer code for each is derived in engines/kernel/plain_machine.py.
    Adding a mode: docs/architecture.md, "How to add an order mode"."""

    ORDERED = "ordered"  # steps in order; other events may come between
    STRICT = "strict"  # steps in order with no other event between consecutive steps
    ANY = "any"  # k distinct steps within the window of the first, in any order


ORDER_MODES = tuple(o.value for o in Order)
COUNT_MODES = ("persons", "sessions", "totals")
ATTRIBUTIONS = ("first_touch", "last_touch", "step", "all_events")
SCOPES = ("event", "person")
DEFAULT_WINDOW_SECONDS = 14 * 86400
DEFAULT_BREAKDOWN_LIMIT = 10
MAX_BREAKDOWN_LIMIT = 1_000_000  # values shown; more is "all of them" anyway
MAX_STEPS = 50
MAX_HELD = 3
MAX_BREAKDOWN_PROPERTIES = 3
SESSION_COLUMN = "session_id"


@dataclass(frozen=True)
class Step:
    """One funnel step: an event name plus filters that must all hold on that event."""

    event: str
    label: str | None = None
    where: tuple[Filter, ...] = ()
    optional: bool = False  # an attempt may skip it (docs/semantics.md [O1])
    within_seconds: int | None = None  # at most this long after the previous step ([W1])

    @property
    def display(self) -> str:
        return self.label or self.event

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event}
        if self.label:
            out["label"] = self.label
        if self.where:
            out["where"] = [f.to_dict() for f in self.where]
        if self.optional:
            out["optional"] = True
        if self.within_seconds is not None:
            out["within"] = format_duration(self.within_seconds)
        return out


@dataclass(frozen=True)
class Exclusion:
    """An event that ends an attempt when it happens between steps `start` and `end` (1-based)."""

    event: str
    start: int
    end: int
    where: tuple[Filter, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event, "between": [self.start, self.end]}
        if self.where:
            out["where"] = [f.to_dict() for f in self.where]
        return out


@dataclass(frozen=True)
class Breakdown:
    """Split the result by the value(s) of `properties`, read as `attribution` says."""

    properties: tuple[str, ...]
    attribution: str = "first_touch"  # first_touch | last_touch | step | all_events
    step: int | None = None  # with attribution "step": the 1-based step whose event is read
    limit: int = DEFAULT_BREAKDOWN_LIMIT
    scope: str = "event"  # event | person

    @property
    def attribution_text(self) -> str:
        return f"step:{self.step}" if self.attribution == "step" else self.attribution

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "property": list(self.properties) if len(self.properties) > 1 else self.properties[0],
            "limit": self.limit,
            "scope": self.scope,
        }
        if self.scope == "event":
            out["attribution"] = self.attribution_text
        return out


@dataclass(frozen=True)
class Funnel:
    """A funnel spec. `window_seconds` is measured from the entry event (step 1), inclusive."""

    steps: tuple[Step, ...]
    name: str = "funnel"
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    order: Order = Order.ORDERED
    where: tuple[Filter, ...] = field(default=())
    exclusions: tuple[Exclusion, ...] = ()
    hold_constant: tuple[str, ...] = ()
    count: str = "persons"  # persons | sessions | totals
    session_gap_seconds: int | None = None  # sessions by inactivity, else the session_id column
    breakdown: Breakdown | None = None
    date_range: DateRange | None = None  # when attempts may start (docs/semantics.md [R1])

    def __post_init__(self) -> None:
        if not 1 <= len(self.steps) <= MAX_STEPS:
            raise SpecError(
                "steps", f"has {len(self.steps)} steps", f"a funnel has 1 to {MAX_STEPS} steps"
            )
        if self.order not in ORDER_MODES:
            raise SpecError(
                "order", f"{shown(self.order)} is not an order mode", _order_hint(self.order)
            )
        object.__setattr__(self, "order", Order(self.order))  # a str given becomes the enum
        if self.window_seconds <= 0:
            raise SpecError("window", "must be positive", "use e.g. 7d")
        _check_feature_combinations(self)

    def filters_for(self, index: int) -> tuple[Filter, ...]:
        """All filters an event must pass to fill step `index` (0-based): global then step."""
        return self.where + self.steps[index].where

    @property
    def event_names(self) -> tuple[str, ...]:
        """The steps' event names, in first-use order."""
        return tuple(dict.fromkeys(step.event for step in self.steps))

    @property
    def scan_event_names(self) -> tuple[str, ...]:
        """Every event name the funnel reads: its steps' and its exclusions'."""
        return tuple(dict.fromkeys([*self.event_names, *(x.event for x in self.exclusions)]))

    @property
    def reads_all_events(self) -> bool:
        """Whether events of any name matter: strict (any event breaks a sequence), sessions by
        inactivity (any event continues one), person values (the latest event carrying one)."""
        return (
            self.order == Order.STRICT
            or (self.count == "sessions" and self.session_gap_seconds is not None)
            or bool(self.person_properties)
        )

    @property
    def person_properties(self) -> tuple[str, ...]:
        """Properties read as the person's value ([B5]): a person-scope breakdown's and those
        of person-scope filters ([P1]), in first-use order."""
        names = [f.property for f in self._all_filters if f.on_person]
        if self.breakdown is not None and self.breakdown.scope == "person":
            names.extend(self.breakdown.properties)
        return tuple(dict.fromkeys(names))

    @property
    def _all_filters(self) -> tuple[Filter, ...]:
        """Top-level, step and exclusion filters, in that order."""
        return (
            *self.where,
            *(f for step in self.steps for f in step.where),
            *(f for x in self.exclusions for f in x.where),
        )

    @property
    def sessions_by_column(self) -> bool:
        return self.count == "sessions" and self.session_gap_seconds is None

    @property
    def filter_properties(self) -> tuple[str, ...]:
        """Every property a step, top-level or exclusion filter reads, in first-use order."""
        return tuple(dict.fromkeys(f.property for f in self._all_filters))

    @property
    def properties(self) -> tuple[str, ...]:
        """Every property the funnel reads (filters, held constant, broken down by)."""
        names = [*self.filter_properties, *self.hold_constant]
        if self.breakdown is not None:
            names.extend(self.breakdown.properties)
        return tuple(dict.fromkeys(names))

    @property
    def is_plain(self) -> bool:
        """Whether the funnel uses no feature beyond plain steps, window, order and filters
        (docs/semantics.md, "Funnel features"): then the kernel's plain machine serves it."""
        return not self.needs_unit_machine

    @property
    def has_depth(self) -> bool:
        """Deprecated: the former name of `needs_unit_machine`, kept for existing callers."""
        return self.needs_unit_machine

    @property
    def needs_id_order(self) -> bool:
        """Whether events with equal times must be ordered by event_id to match the reference.

        Only when one event name fills two steps with different filters can two tied events have
        overlapping but different step sets, the one case where their order changes a result
        (docs/semantics.md [S7]); otherwise tied events are interchangeable or never compete.
        """
        if self.order == Order.ANY:
            return False
        filters_by_name: dict[str, set[tuple[Filter, ...]]] = {}
        for step in self.steps:
            filters_by_name.setdefault(step.event, set()).add(step.where)
        return any(len(variants) > 1 for variants in filters_by_name.values())

    @property
    def needs_unit_machine(self) -> bool:
        """Whether any feature beyond the plain funnel is on (exclusions, held values, optional
        steps, per-step limits, counting sessions or totals, a breakdown): the kernel then runs
        its unit machine, which counts units (persons, sessions or every attempt)."""
        return bool(
            self.exclusions
            or self.hold_constant
            or self.count != "persons"
            or self.breakdown is not None
            or any(s.optional or s.within_seconds is not None for s in self.steps)
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "steps": [s.to_dict() for s in self.steps],
            "window": format_duration(self.window_seconds),
            "order": self.order.value,
        }
        if self.where:
            out["where"] = [f.to_dict() for f in self.where]
        if self.exclusions:
            out["exclusions"] = [x.to_dict() for x in self.exclusions]
        if self.hold_constant:
            out["hold_constant"] = list(self.hold_constant)
        if self.count != "persons":
            out["count"] = self.count
        if self.session_gap_seconds is not None:
            out["session_gap"] = format_duration(self.session_gap_seconds)
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown.to_dict()
        if self.date_range is not None:
            out["date_range"] = self.date_range.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Any, default_name: str = "funnel") -> Funnel:
        return parse_funnel(data, default_name)


_FUNNEL_KEYS = (
    "name",
    "steps",
    "window",
    "order",
    "where",
    "exclusions",
    "hold_constant",
    "count",
    "session_gap",
    "breakdown",
    "date_range",
)
_STEP_KEYS = ("event", "label", "where", "optional", "within")
_EXCLUSION_KEYS = ("event", "where", "between")
_BREAKDOWN_KEYS = ("property", "properties", "attribution", "limit", "scope")


def _check_feature_combinations(funnel: Funnel) -> None:
    """The combinations of features beyond a plain funnel that mean something (errors say which
    do)."""
    n = len(funnel.steps)
    for k, step in enumerate(funnel.steps, start=1):
        if step.optional:
            if funnel.order != Order.ORDERED:
                raise SpecError(
                    f"steps[{k}].optional",
                    f"optional steps need order: ordered (this funnel is {funnel.order})",
                    "under any every step counts wherever it happens; under strict a skipped "
                    "step would break the sequence",
                )
            if k in (1, n):
                raise SpecError(
                    f"steps[{k}].optional",
                    "the first and the last step cannot be optional",
                    "an attempt starts at step 1 and completes at the last step",
                )
        if step.within_seconds is not None:
            if k == 1:
                raise SpecError(
                    "steps[1].within", "step 1 has no previous step", "put within on a later step"
                )
            if funnel.order == Order.ANY:
                raise SpecError(
                    f"steps[{k}].within",
                    "within needs order: ordered or strict",
                    "under any there is no previous step; use the funnel's window",
                )
            if step.within_seconds <= 0:
                raise SpecError(f"steps[{k}].within", "must be positive", "use e.g. 1h")
    for i, x in enumerate(funnel.exclusions, start=1):
        if funnel.order == Order.ANY:
            raise SpecError(
                f"exclusions[{i}]",
                "exclusions need order: ordered or strict",
                "under any the steps have no order to be between",
            )
        if not 1 <= x.start < x.end <= n:
            raise SpecError(
                f"exclusions[{i}].between",
                f"[{x.start}, {x.end}] is not a pair of steps i < j",
                f"use two step numbers from 1 to {n}, the first smaller, e.g. [1, {n}]",
            )
    if len(funnel.hold_constant) > MAX_HELD:
        raise SpecError(
            "hold_constant",
            f"holds {len(funnel.hold_constant)} properties",
            f"hold at most {MAX_HELD} properties constant",
        )
    if funnel.count not in COUNT_MODES:
        close = difflib.get_close_matches(str(funnel.count), COUNT_MODES, n=1)
        hint = f"did you mean {close[0]}?" if close else "use persons, sessions or totals"
        raise SpecError("count", f"{shown(funnel.count)} is not a counting unit", hint)
    if funnel.session_gap_seconds is not None:
        if funnel.count != "sessions":
            raise SpecError(
                "session_gap", "only applies with count: sessions", "add count: sessions"
            )
        if funnel.session_gap_seconds <= 0:
            raise SpecError("session_gap", "must be positive", "use e.g. 30m")
    b = funnel.breakdown
    if b is not None:
        if not 1 <= len(b.properties) <= MAX_BREAKDOWN_PROPERTIES:
            raise SpecError(
                "breakdown.property",
                f"names {len(b.properties)} properties",
                f"break down by 1 to {MAX_BREAKDOWN_PROPERTIES} properties",
            )
        if b.attribution not in ATTRIBUTIONS:
            raise SpecError(
                "breakdown.attribution",
                f"{shown(b.attribution)} is not an attribution",
                "use first_touch, last_touch, step:N or all_events",
            )
        if b.attribution == "step" and (b.step is None or not 1 <= b.step <= n):
            raise SpecError(
                "breakdown.attribution",
                f"step:{b.step} is not a step of this funnel",
                f"use step:1 to step:{n}",
            )
        if b.scope not in SCOPES:
            raise SpecError(
                "breakdown.scope", f"{shown(b.scope)} is not a scope", "use event or person"
            )
        if b.limit < 1:
            raise SpecError("breakdown.limit", "must be at least 1", "use e.g. limit: 10")
        if b.limit > MAX_BREAKDOWN_LIMIT:
            raise SpecError("breakdown.limit", f"{b.limit:,} {_LIMIT_PROBLEM}", "use e.g. 10")


_LIMIT_PROBLEM = f"must be a whole number from 1 to {MAX_BREAKDOWN_LIMIT:,}"


def _parse_names(raw: Any, path: str, most: int) -> tuple[str, ...]:
    """One property name or a list of 1..`most` distinct names."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise SpecError(path, f"{shown(raw)} is not a property name", "write e.g. channel")
    if len(items) > most:
        raise SpecError(path, f"names {len(items)} properties", f"use at most {most}")
    names = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, str) or not item.strip():
            where = path if isinstance(raw, str) else f"{path}[{i}]"
            raise SpecError(where, f"{shown(item)} is not a property name", "write e.g. channel")
        if item in names:
            raise SpecError(path, f"names {shown(item)} twice", "name each property once")
        names.append(item)
    return tuple(names)


def _parse_exclusion(raw: Any, path: str) -> Exclusion:
    if not isinstance(raw, Mapping):
        raise SpecError(
            path, f"{shown(raw)} is not an exclusion", "write {event: refund, between: [1, 3]}"
        )
    _reject_unknown(raw, _EXCLUSION_KEYS, path)
    event = raw.get("event")
    if not isinstance(event, str) or not event.strip():
        raise SpecError(f"{path}.event", "is required", "name the excluded event, e.g. refund")
    between = raw.get("between")
    if (
        not isinstance(between, list)
        or len(between) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in between)
    ):
        raise SpecError(
            f"{path}.between",
            f"{shown(between)} is not a pair of step numbers"
            if between is not None
            else "is required",
            "write between: [1, 3] (1-based steps, first < second)",
        )
    return Exclusion(
        event, between[0], between[1], _parse_filters(raw.get("where"), f"{path}.where")
    )


def parse_breakdown(raw: Any, path: str = "breakdown") -> Breakdown:
    """``channel``, ``[channel, device]`` or ``{property, attribution, limit, scope}``."""
    if isinstance(raw, str | list):
        raw = {"property": raw}
    if not isinstance(raw, Mapping):
        raise SpecError(
            path, f"{shown(raw)} is not a breakdown", "write breakdown: {property: channel}"
        )
    _reject_unknown(raw, _BREAKDOWN_KEYS, path)
    if "property" in raw and "properties" in raw:
        raise SpecError(f"{path}.properties", "given with property", "use one of the two")
    key = "properties" if "properties" in raw else "property"
    if raw.get(key) is None:
        raise SpecError(f"{path}.property", "is required", "name the property, e.g. channel")
    names = _parse_names(raw[key], f"{path}.{key}", MAX_BREAKDOWN_PROPERTIES)
    scope = raw.get("scope", "event")
    if scope not in SCOPES:
        raise SpecError(f"{path}.scope", f"{shown(scope)} is not a scope", "use event or person")
    attribution_raw = raw.get("attribution")
    if attribution_raw is not None and scope == "person":
        raise SpecError(
            f"{path}.attribution",
            "does not apply to person properties (a person has one value)",
            "remove attribution, or use scope: event",
        )
    attribution, step = parse_attribution(attribution_raw or "first_touch", f"{path}.attribution")
    limit = raw.get("limit", DEFAULT_BREAKDOWN_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise SpecError(
            f"{path}.limit", f"{shown(limit)} is not a positive whole number", "use e.g. 10"
        )
    if limit > MAX_BREAKDOWN_LIMIT:
        raise SpecError(f"{path}.limit", f"{shown(limit)} {_LIMIT_PROBLEM}", "use e.g. 10")
    return Breakdown(names, attribution, step, limit, scope)


def parse_attribution(raw: Any, path: str) -> tuple[str, int | None]:
    """``first_touch``, ``last_touch``, ``all_events`` or ``step:N`` -> (name, N or None)."""
    text = str(raw).strip().replace(" ", "")
    match = re.fullmatch(r"step:(\d{1,9})", text)  # more digits is no step (and no int())
    if match:
        return "step", int(match.group(1))
    if text in ATTRIBUTIONS and text != "step":
        return text, None
    close = difflib.get_close_matches(text, [a for a in ATTRIBUTIONS if a != "step"], n=1)
    hint = (
        f"did you mean {close[0]}?"
        if close
        else "use first_touch, last_touch, step:N or all_events"
    )
    raise SpecError(path, f"{shown(raw)} is not an attribution", hint)


def _order_hint(order: Any) -> str:
    close = difflib.get_close_matches(str(order), ORDER_MODES, n=1)
    return f"did you mean {close[0]}?" if close else "use ordered, strict or any"


def _reject_unknown(raw: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in raw:
        if key not in allowed:
            key_text = shown(key, quote=False)
            close = difflib.get_close_matches(key_text, allowed, n=1)
            hint = f"did you mean {close[0]}?" if close else f"allowed keys: {', '.join(allowed)}"
            prefix = f"{path}." if path else ""
            raise SpecError(f"{prefix}{key_text}", "unknown key", hint)


def _parse_filters(raw: Any, path: str) -> tuple[Filter, ...]:
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise SpecError(
            path, "must be a list of filters", "write - {property: p, op: eq, value: v}"
        )
    return tuple(parse_filter(item, f"{path}[{i + 1}]") for i, item in enumerate(raw))


def _parse_step(raw: Any, path: str) -> Step:
    if isinstance(raw, str):
        raw = {"event": raw}
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raise SpecError(path, f"{shown(raw)} is a number, not an event name", f"quote it: '{raw}'")
    if not isinstance(raw, Mapping):
        raise SpecError(path, f"{shown(raw)} is not a step", "write - event: view_item")
    _reject_unknown(raw, _STEP_KEYS, path)
    event = raw.get("event")
    if isinstance(event, int | float) and not isinstance(event, bool):
        raise SpecError(
            f"{path}.event", f"{shown(event)} is a number, not an event name", "quote it"
        )
    if not isinstance(event, str) or not event.strip():
        raise SpecError(f"{path}.event", "is required", "name the event, e.g. event: view_item")
    label = raw.get("label")
    if label is not None and not isinstance(label, str):
        raise SpecError(f"{path}.label", f"{shown(label)} is not text", "quote it")
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise SpecError(f"{path}.optional", f"{shown(optional)} is not true or false", "use true")
    within = raw.get("within")
    return Step(
        event,
        label or None,
        _parse_filters(raw.get("where"), f"{path}.where"),
        optional,
        None if within is None else parse_duration(within, f"{path}.within"),
    )


def parse_funnel(data: Any, default_name: str = "funnel") -> Funnel:
    """Validate a spec mapping (as read from YAML/JSON) into a Funnel."""
    if not isinstance(data, Mapping):
        raise SpecError("", "a funnel spec is a mapping", "start with steps: [...]")
    _reject_unknown(data, _FUNNEL_KEYS, "")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise SpecError(
            "steps", "is required: a list of 1 to 50 steps", "write steps: [- event: x]"
        )
    if len(raw_steps) > MAX_STEPS:
        raise SpecError(
            "steps", f"has {len(raw_steps)} steps", f"a funnel has at most {MAX_STEPS} steps"
        )
    steps = tuple(_parse_step(s, f"steps[{i + 1}]") for i, s in enumerate(raw_steps))
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise SpecError("name", f"{shown(name)} is not a name", "use text, e.g. name: checkout")
    window = DEFAULT_WINDOW_SECONDS
    if data.get("window") is not None:
        window = parse_duration(data["window"], "window")
    order = data.get("order", Order.ORDERED)
    if order not in ORDER_MODES:
        raise SpecError("order", f"{shown(order)} is not an order mode", _order_hint(order))
    where = _parse_filters(data.get("where"), "where")
    raw_exclusions = data.get("exclusions") or []
    if not isinstance(raw_exclusions, list):
        raise SpecError("exclusions", "must be a list", "write - {event: refund, between: [1, 2]}")
    exclusions = tuple(
        _parse_exclusion(x, f"exclusions[{i}]") for i, x in enumerate(raw_exclusions, start=1)
    )
    held = data.get("hold_constant")
    hold = () if held is None else _parse_names(held, "hold_constant", MAX_HELD)
    count = data.get("count", "persons")
    gap = data.get("session_gap")
    breakdown = data.get("breakdown")
    date_range = data.get("date_range")
    return Funnel(
        steps=steps,
        name=name,
        window_seconds=window,
        order=order,
        where=where,
        exclusions=exclusions,
        hold_constant=hold,
        count=count,
        session_gap_seconds=None if gap is None else parse_duration(gap, "session_gap"),
        breakdown=None if breakdown is None else parse_breakdown(breakdown),
        date_range=None if date_range is None else parse_date_range(date_range),
    )


def load_funnel(path: str | Path) -> Funnel:
    """Read a YAML or JSON spec file (within the limits of :mod:`.spec_files`). Errors name the
    file and the field."""
    file = Path(path)
    data = read_spec_file(file)
    try:
        return parse_funnel(data, default_name=file.stem)
    except SpecError as exc:
        raise SpecError(
            f"{file}: {exc.path}" if exc.path else str(file), exc.problem, exc.hint
        ) from exc
