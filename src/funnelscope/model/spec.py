"""The funnel spec: which ordered steps matter, within what window, in which order mode.

One `Funnel` type; the order mode is data. Built from YAML/JSON (``load_funnel``) or directly.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from funnelscope.errors import SpecError
from funnelscope.model.durations import format_duration, parse_duration
from funnelscope.model.filters import Filter, parse_filter

ORDER_MODES = ("ordered", "strict", "any")
DEFAULT_WINDOW_SECONDS = 14 * 86400
MAX_STEPS = 50


@dataclass(frozen=True)
class Step:
    """One funnel step: an event name plus filters that must all hold on that event."""

    event: str
    label: str | None = None
    where: tuple[Filter, ...] = ()

    @property
    def display(self) -> str:
        return self.label or self.event

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event}
        if self.label:
            out["label"] = self.label
        if self.where:
            out["where"] = [f.to_dict() for f in self.where]
        return out


@dataclass(frozen=True)
class Funnel:
    """A funnel spec. `window_seconds` is measured from the entry event (step 1), inclusive."""

    steps: tuple[Step, ...]
    name: str = "funnel"
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    order: str = "ordered"
    where: tuple[Filter, ...] = field(default=())

    def __post_init__(self) -> None:
        if not 1 <= len(self.steps) <= MAX_STEPS:
            raise SpecError(
                "steps", f"has {len(self.steps)} steps", f"a funnel has 1 to {MAX_STEPS} steps"
            )
        if self.order not in ORDER_MODES:
            raise SpecError(
                "order", f"{self.order!r} is not an order mode", _order_hint(self.order)
            )
        if self.window_seconds <= 0:
            raise SpecError("window", "must be positive", "use e.g. 7d")

    def filters_for(self, index: int) -> tuple[Filter, ...]:
        """All filters an event must pass to fill step `index` (0-based): global then step."""
        return self.where + self.steps[index].where

    @property
    def event_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(step.event for step in self.steps))

    @property
    def properties(self) -> tuple[str, ...]:
        """Every property any filter reads, in first-use order."""
        names = [f.property for f in self.where]
        for step in self.steps:
            names.extend(f.property for f in step.where)
        return tuple(dict.fromkeys(names))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "steps": [s.to_dict() for s in self.steps],
            "window": format_duration(self.window_seconds),
            "order": self.order,
        }
        if self.where:
            out["where"] = [f.to_dict() for f in self.where]
        return out

    @classmethod
    def from_dict(cls, data: Any, default_name: str = "funnel") -> Funnel:
        return parse_funnel(data, default_name)


_FUNNEL_KEYS = ("name", "steps", "window", "order", "where")
_STEP_KEYS = ("event", "label", "where")


def _order_hint(order: Any) -> str:
    close = difflib.get_close_matches(str(order), ORDER_MODES, n=1)
    return f"did you mean {close[0]}?" if close else "use ordered, strict or any"


def _reject_unknown(raw: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]}?" if close else f"allowed keys: {', '.join(allowed)}"
            prefix = f"{path}." if path else ""
            raise SpecError(f"{prefix}{key}", "unknown key", hint)


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
        raise SpecError(path, f"{raw!r} is a number, not an event name", f"quote it: '{raw}'")
    if not isinstance(raw, Mapping):
        raise SpecError(path, f"{raw!r} is not a step", "write - event: view_item")
    _reject_unknown(raw, _STEP_KEYS, path)
    event = raw.get("event")
    if isinstance(event, int | float) and not isinstance(event, bool):
        raise SpecError(f"{path}.event", f"{event!r} is a number, not an event name", "quote it")
    if not isinstance(event, str) or not event.strip():
        raise SpecError(f"{path}.event", "is required", "name the event, e.g. event: view_item")
    label = raw.get("label")
    if label is not None and not isinstance(label, str):
        raise SpecError(f"{path}.label", f"{label!r} is not text", "quote it")
    return Step(event, label or None, _parse_filters(raw.get("where"), f"{path}.where"))


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
        raise SpecError("name", f"{name!r} is not a name", "use text, e.g. name: checkout")
    window = DEFAULT_WINDOW_SECONDS
    if data.get("window") is not None:
        window = parse_duration(data["window"], "window")
    order = data.get("order", "ordered")
    if order not in ORDER_MODES:
        raise SpecError("order", f"{order!r} is not an order mode", _order_hint(order))
    where = _parse_filters(data.get("where"), "where")
    return Funnel(steps=steps, name=name, window_seconds=window, order=order, where=where)


class _SpecLoader(yaml.SafeLoader):
    """YAML 1.2 core scalars: only true/false are booleans, no octal or base-60 numbers, dates
    stay text. Under YAML 1.1 ``value: NO`` (Norway) would become false and ``02134`` 1116."""


_SpecLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
]:
    _SpecLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _yaml_error(file: Path, exc: yaml.YAMLError) -> SpecError:
    """One line: file:line: what the YAML parser found, without its multi-line excerpt."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{file}:{mark.line + 1}" if mark is not None else str(file)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return SpecError(
        where,
        f"is not valid YAML ({detail})",
        "check indentation and brackets; quote values containing ':' or '#'",
    )


def load_funnel(path: str | Path) -> Funnel:
    """Read a YAML or JSON spec file. Errors name the file and the field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            str(file), f"cannot read spec file ({exc.strerror})", "check the path"
        ) from exc
    try:
        data = (
            json.loads(text)
            if file.suffix.lower() == ".json"
            else yaml.load(text, Loader=_SpecLoader)  # a SafeLoader subclass
        )
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"{file}:{exc.lineno}", f"is not valid JSON: {exc.msg} (column {exc.colno})", ""
        ) from exc
    except yaml.YAMLError as exc:
        raise _yaml_error(file, exc) from exc
    try:
        return parse_funnel(data, default_name=file.stem)
    except SpecError as exc:
        raise SpecError(
            f"{file}: {exc.path}" if exc.path else str(file), exc.problem, exc.hint
        ) from exc
