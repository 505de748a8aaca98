"""Ready funnel spec files: one YAML spec per stage model in `funnelscope.model.templates`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from funnelscope.errors import SpecError
from funnelscope.model.templates import TEMPLATES, StageTemplate

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _./()+-]*")


def _scalar(text: str) -> str:
    """`text` as a YAML scalar: bare when that is safe, else double-quoted (JSON is valid YAML)."""
    plain = _PLAIN.fullmatch(text) is not None and text == text.strip()
    if plain and yaml.safe_load(text) == text:  # not read back as a number, boolean or null
        return text
    return json.dumps(text, ensure_ascii=False)


def template_spec_yaml(
    template: StageTemplate, window: str = "7d", events: Mapping[str, str] | None = None
) -> str:
    """The spec file text for `template`: a comment line, then name, steps, window and order.
    `events` maps stage keys to your own event names (the others keep the suggested ones)."""
    events = dict(events or {})
    unknown = sorted(set(events) - set(template.stage_keys))
    if unknown:
        raise SpecError(
            "--event",
            f"{unknown[0]!r} is not a stage of {template.name}",
            f"use one of: {', '.join(template.stage_keys)}",
        )
    flow = " -> ".join(stage.label.lower() for stage in template.stages)
    lines = [
        f"# Stage model: {template.title} ({flow}); expects events named as listed below.",
        f"name: {_scalar(template.name)}",
        "steps:",
    ]
    for stage, event in zip(template.stages, template.event_names, strict=True):
        lines.append(f"  - event: {_scalar(events.get(stage.key, event))}")
        lines.append(f"    label: {_scalar(stage.label)}")
    lines.append(f"window: {_scalar(window)}")
    lines.append("order: ordered")
    return "\n".join(lines) + "\n"


def write_template_specs(directory: Path, window: str = "7d") -> list[Path]:
    """Write ``<directory>/<template>.yaml`` for every template; return the paths in order."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, template in TEMPLATES.items():
        path = directory / f"{name}.yaml"
        path.write_text(template_spec_yaml(template, window), encoding="utf-8")
        paths.append(path)
    return paths
