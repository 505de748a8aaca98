"""What usually breaks each funnel layer, and what to do about it: the knowledge base of causes
and actions that a diagnosis attaches to a leak.

The shipped base lives in ``knowledge.yaml`` next to this module; users extend or replace its
layers with YAML files of the same shape (see `load_knowledge`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from funnelscope.errors import SpecError, shown
from funnelscope.model.spec_files import load_spec_text, read_spec_file

SHIPPED = "funnelscope"
"""The `source` of every shipped entry."""

DEFAULT_LAYER = "default"
"""The layer whose entries serve every stage that has none of its own."""

REFERENCES = ("history", "peers", "range")
"""Kinds of reference a leak is found against: its own earlier weeks, the other segments of the
same dimension, or a typical range."""

WHEN_KEYS = ("dimension", "reference")

_TOP_KEYS = ("version", "layers")
_LAYER_KEYS = ("title", "rate", "causes", "actions", "replace")
_ENTRY_KEYS = ("text", "when")
_VERSION = 1


@dataclass(frozen=True)
class Advice:
    """One likely cause or action. `when` limits it to leaks whose dimension and reference are
    among the listed values (an empty `when` fits every leak); `source` is ``"funnelscope"`` for
    shipped entries, else the user file it came from."""

    text: str
    when: dict[str, tuple[str, ...]]
    source: str

    @property
    def specificity(self) -> int:
        """How many conditions the entry sets: more conditions, more specific."""
        return len(self.when)

    def fits(self, dimension: str | None, reference: str) -> bool:
        """Whether the entry applies to a leak in a segment of `dimension` (None: no segment)
        found against `reference`."""
        dimensions = self.when.get("dimension")
        if dimensions is not None and dimension not in dimensions:
            return False
        references = self.when.get("reference")
        return references is None or reference in references


@dataclass(frozen=True)
class LayerKnowledge:
    """The causes and actions for one layer (a stage key, or ``default``), with the layer's
    title and its rate's name in words."""

    key: str
    title: str
    rate: str
    causes: tuple[Advice, ...]
    actions: tuple[Advice, ...]


@dataclass(frozen=True)
class KnowledgeBase:
    """Every layer's knowledge, by layer key."""

    layers: dict[str, LayerKnowledge]

    def layer(self, layer: str) -> LayerKnowledge | None:
        """The layer's own knowledge, else the ``default`` layer's (None when neither exists)."""
        return self.layers.get(layer) or self.layers.get(DEFAULT_LAYER)

    def advice(
        self, layer: str, dimension: str | None, reference: str
    ) -> tuple[list[str], list[str]]:
        """(causes, actions) for a leak: the entries whose `when` matches, those with a `when`
        before the general ones (most specific first), user entries before shipped ones at the
        same specificity; falls back to the `default` layer when the layer is unknown."""
        if reference not in REFERENCES:
            raise ValueError(
                f"reference must be one of {', '.join(REFERENCES)}, not {shown(reference)}"
            )
        knowledge = self.layer(layer)
        if knowledge is None:
            return [], []
        return (
            _matching(knowledge.causes, dimension, reference),
            _matching(knowledge.actions, dimension, reference),
        )


def _matching(entries: Sequence[Advice], dimension: str | None, reference: str) -> list[str]:
    """The texts of the entries that fit, most specific first; the sort is stable, so entries of
    equal specificity keep their stored order (user files before the shipped base)."""
    fitting = sorted(
        (entry for entry in entries if entry.fits(dimension, reference)),
        key=lambda entry: -entry.specificity,
    )
    return list(dict.fromkeys(entry.text for entry in fitting))


def load_knowledge(extra: Sequence[str | Path] = ()) -> KnowledgeBase:
    """The shipped base (importlib.resources), extended by each user YAML in order: a user layer's
    causes/actions are added to the shipped ones; `replace: true` on a user layer replaces them; a
    user file may add new layers. Unknown keys, a wrong type, a bad `when` key/value, or a missing
    `text` raise SpecError with the file name and the YAML path, e.g.
    `my.yaml: layers.visits.causes[2].when.referense: unknown key; use dimension or reference`.

    Each file is laid over what came before it: its entries go before the existing ones of the
    same layer, so a later file's entries come first among entries of equal specificity. A user
    layer's `title` and `rate` replace the existing ones; a new layer without them gets a title
    made from its key and the rate name "conversion rate".
    """
    layers = dict(_shipped())
    for path in extra:
        name = str(path)
        for user_layer in _parse(read_spec_file(path), name):
            layers[user_layer.layer.key] = user_layer.merged_into(layers.get(user_layer.layer.key))
    return KnowledgeBase(layers)


@functools.cache
def _shipped() -> tuple[tuple[str, LayerKnowledge], ...]:
    """The shipped layers, parsed once (immutable, so every caller can share them)."""
    text = (
        resources.files("funnelscope.analyses.marketing")
        .joinpath("knowledge.yaml")
        .read_text("utf-8")
    )
    parsed = _parse(load_spec_text(text, "knowledge.yaml"), "knowledge.yaml", shipped=True)
    return tuple((layer.layer.key, layer.layer) for layer in parsed)


@dataclass(frozen=True)
class _UserLayer:
    """A parsed layer of one file, with which of its fields the file set."""

    layer: LayerKnowledge
    has_title: bool
    has_rate: bool
    replace: bool

    def merged_into(self, existing: LayerKnowledge | None) -> LayerKnowledge:
        if existing is None:
            return self.layer
        causes, actions = self.layer.causes, self.layer.actions
        if not self.replace:
            causes += existing.causes
            actions += existing.actions
        return LayerKnowledge(
            key=self.layer.key,
            title=self.layer.title if self.has_title else existing.title,
            rate=self.layer.rate if self.has_rate else existing.rate,
            causes=causes,
            actions=actions,
        )


def _parse(raw: Any, name: str, shipped: bool = False) -> list[_UserLayer]:
    """Validate one file's content; every error names the file and the YAML path."""
    source = SHIPPED if shipped else name
    if not isinstance(raw, Mapping):
        raise SpecError(name, "is not a knowledge file", "start it with version: 1 and layers:")
    check_keys(raw, _TOP_KEYS, name, "")
    version = raw.get("version", _VERSION)
    if version != _VERSION or isinstance(version, bool):
        raise SpecError(
            f"{name}: version", f"{shown(version)} is not supported", "write version: 1"
        )
    layers = raw.get("layers")
    if not isinstance(layers, Mapping):
        raise SpecError(
            f"{name}: layers",
            wrong_value("a mapping of layers", layers),
            "write layers: {visits: ...}",
        )
    parsed = []
    for key, body in layers.items():
        path = f"layers.{key}"
        if not isinstance(key, str) or not key.strip():
            raise SpecError(
                f"{name}: {path}", "is not a layer name", "use a stage key such as visits"
            )
        if not isinstance(body, Mapping):
            raise SpecError(
                f"{name}: {path}", wrong_value("a mapping", body), "give it causes: and actions:"
            )
        check_keys(body, _LAYER_KEYS, name, path)
        title = _text(body, "title", name, path, required=shipped)
        rate = _text(body, "rate", name, path, required=shipped)
        replace = body.get("replace", False)
        if not isinstance(replace, bool):
            raise SpecError(f"{name}: {path}.replace", wrong_value("true or false", replace), "")
        layer = LayerKnowledge(
            key=key,
            title=title or key.replace("_", " ").capitalize(),
            rate=rate or "conversion rate",
            causes=_entries(body.get("causes", []), name, f"{path}.causes", source),
            actions=_entries(body.get("actions", []), name, f"{path}.actions", source),
        )
        parsed.append(_UserLayer(layer, title is not None, rate is not None, replace))
    return parsed


def _entries(raw: Any, name: str, path: str, source: str) -> tuple[Advice, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SpecError(
            f"{name}: {path}", wrong_value("a list", raw), "write each entry as - text: ..."
        )
    entries = []
    for k, item in enumerate(raw):
        where = f"{path}[{k}]"
        if not isinstance(item, Mapping):
            raise SpecError(
                f"{name}: {where}",
                wrong_value("a mapping", item),
                "write each entry as - text: ...",
            )
        check_keys(item, _ENTRY_KEYS, name, where)
        text = _text(item, "text", name, where, required=True)
        assert text is not None
        entries.append(Advice(text, _when(item.get("when"), name, f"{where}.when"), source))
    return tuple(entries)


def _when(raw: Any, name: str, path: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError(
            f"{name}: {path}",
            wrong_value("a mapping", raw),
            "write e.g. when: {reference: history}",
        )
    check_keys(raw, WHEN_KEYS, name, path)
    when: dict[str, tuple[str, ...]] = {}
    for key in WHEN_KEYS:
        if key not in raw:
            continue
        where = f"{name}: {path}.{key}"
        value = raw[key]
        values = value if isinstance(value, list) else [value]
        example = "history" if key == "reference" else "keyword"
        if not values:
            raise SpecError(where, "is an empty list", f"name at least one, e.g. {example}")
        for item in values:
            if not isinstance(item, str) or not item.strip():
                raise SpecError(
                    where, f"{shown(item)} is not a name", f"write e.g. {key}: {example}"
                )
            if key == "reference" and item not in REFERENCES:
                raise SpecError(
                    where,
                    f"{shown(item)} is not a reference",
                    f"use one of {', '.join(REFERENCES)}",
                )
        when[key] = tuple(dict.fromkeys(item.strip() for item in values))
    return when


def _text(raw: Mapping[str, Any], key: str, name: str, path: str, required: bool) -> str | None:
    """A non-empty string field, whitespace collapsed (folded YAML keeps single spaces)."""
    where = f"{name}: {path}.{key}"
    if key not in raw:
        if required:
            raise SpecError(where, "is required", f"write {key}: followed by the words")
        return None
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise SpecError(
            where, wrong_value("some words", value), f"write {key}: followed by the words"
        )
    return " ".join(value.split())


def check_keys(raw: Mapping[Any, Any], allowed: Sequence[str], name: str, path: str) -> None:
    for key in raw:
        if key not in allowed:
            key_text = shown(key, quote=False)
            where = f"{path}.{key_text}" if path else key_text
            choices = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
            raise SpecError(f"{name}: {where}", "unknown key", f"use {choices}")


def wrong_value(expected: str, value: Any) -> str:
    """'must be a list, not a str' for a value of the wrong type; 'is empty' for nothing."""
    if value is None or value == "":
        return f"is empty; expected {expected}"
    return f"must be {expected}, not {type(value).__name__} {shown(value, 40)}"
