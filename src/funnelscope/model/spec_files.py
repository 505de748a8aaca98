"""Reading YAML and JSON spec files within bounds: the one loader every spec reader uses.

A spec file (funnel, experiment, knowledge, ranges) is small and written by hand, so anything far
beyond that is refused with a SpecError naming the file (docs/cli.md, "Limits"):

- at most ``MAX_SPEC_BYTES`` bytes, read as UTF-8;
- at most ``MAX_DEPTH`` levels of nested lists and mappings;
- at most ``MAX_VALUES`` values and ``MAX_TEXT`` characters of text, counting what every YAML
  alias stands for at each use (a "billion laughs" file is refused while it is read, long before
  it takes memory); an alias inside the value it names (a structure containing itself) is
  refused;
- a key given twice in one mapping is an error naming both lines (YAML and JSON parsers would
  keep the last one silently);
- YAML 1.2 core scalars: only true/false are booleans, no octal or base-60 numbers, dates stay
  text; no tags beyond the standard ones (``!!str``, ``!!int``, ...); numbers of more than
  ``MAX_NUMBER_DIGITS`` digits and JSON's NaN/Infinity are refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from funnelscope.errors import SpecError, shown

MAX_SPEC_BYTES: Final = 1_000_000
MAX_DEPTH: Final = 64
MAX_VALUES: Final = 100_000
MAX_TEXT: Final = 2_000_000
MAX_NUMBER_DIGITS: Final = 100

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))
_MERGE = _CORE + "merge"
_TAGS: Final = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL, _MERGE, _CORE + "seq", _CORE + "map"})
_YAML_HINT = "check indentation and brackets; quote values containing ':' or '#'"


def read_spec_file(path: str | Path, *, json_suffix: bool = True) -> Any:
    """The content of a spec file: JSON when its name ends in ``.json`` (and `json_suffix`), else
    YAML. Every problem is a SpecError naming the file (and the line, where there is one)."""
    file = Path(path)
    name = str(path)
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(name, "file not found", "check the path") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SpecError(name, f"cannot read spec file ({reason})", "check the path") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            name,
            f"is larger than {MAX_SPEC_BYTES:,} bytes",
            "a spec file is small; split it or check it is the file you meant",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(f"{name}:{line}", "is not UTF-8 text", "save it as UTF-8") from None
    return load_spec_text(text, name, as_json=json_suffix and file.suffix.lower() == ".json")


def load_spec_text(text: str, name: str, *, as_json: bool = False) -> Any:
    """Parse spec text (already read) within the limits above; `name` names it in errors."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(name, f"is longer than {MAX_SPEC_BYTES:,} characters", "split it")
    return _load_json(text, name) if as_json else _load_yaml(text, name)


# ---------------------------------------------------------------------------------------------
# YAML


class _Line:
    """Where a token is: its line only (PyYAML's marks hold the column, the text and more, and a
    spec of many small values would keep one per value twice over)."""

    __slots__ = ("line",)

    def __init__(self, line: int) -> None:
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line + 1}"


class _SpecLoader(yaml.SafeLoader):
    """A SafeLoader that composes within the limits and refuses duplicate keys. YAML 1.2 core
    scalars: under YAML 1.1 ``value: NO`` (Norway) would become false and ``02134`` 1116."""

    def __init__(self, text: str, name: str) -> None:
        self.lines: dict[int, _Line] = {}
        super().__init__(text)
        self.name = name
        self.depth = 0
        self.values = 0
        self.text = 0
        self.sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, text) it expands to

    def get_mark(self) -> Any:
        mark = self.lines.get(self.line)
        if mark is None:
            mark = self.lines[self.line] = _Line(self.line)
        return mark

    def fail(self, node_or_line: Node | int, problem: str, hint: str) -> SpecError:
        line = node_or_line if isinstance(node_or_line, int) else node_or_line.start_mark.line + 1
        return SpecError(f"{self.name}:{line}", problem, hint)

    def _next_event(self) -> Any:
        return self.peek_event()  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self._next_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self.sizes.get(id(target))
                if size is None:
                    raise self.fail(
                        event.start_mark.line + 1,
                        f"alias *{shown(event.anchor, quote=False)} is used inside the value "
                        "it names",
                        "a spec cannot contain itself; write the value out",
                    )
                self._count(size[0], size[1], event.start_mark.line + 1)
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            line = self._next_event().start_mark.line + 1
            raise self.fail(
                line, f"nests lists and mappings more than {MAX_DEPTH} levels deep", "flatten it"
            )
        values, text = self.values, self.text
        node = super().compose_node(parent, index)
        self.depth -= 1
        if node is None:
            return None
        if node.tag not in _TAGS:
            raise self.fail(
                node,
                f"tag {shown(node.tag)} is not used in spec files",
                "remove the tag; write plain text, numbers, lists and mappings",
            )
        length = len(node.value) if isinstance(node, ScalarNode) else 0
        self._count(1, length, node.start_mark.line + 1)
        self.sizes[id(node)] = (self.values - values, self.text - text)
        if isinstance(node, MappingNode):
            self._check_keys(node)
        return node

    def _count(self, values: int, text: int, line: int) -> None:
        self.values += values
        self.text += text
        if self.values > MAX_VALUES or self.text > MAX_TEXT:
            raise self.fail(
                line,
                f"expands to more than {MAX_VALUES:,} values or {MAX_TEXT:,} characters "
                "(counting what each alias stands for)",
                "a spec is small; use fewer aliases",
            )

    def _check_keys(self, node: MappingNode) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE:
                continue  # keys that are lists or mappings: the constructor refuses them
            key = self._key(key_node)
            line = key_node.start_mark.line + 1
            first = seen.get(key)
            if first is not None:
                raise self.fail(
                    line,
                    f"key {shown(key_node.value)} appears twice in one mapping (also on line "
                    f"{first})",
                    "keep one; YAML readers would silently use the last",
                )
            seen[key] = line

    def _key(self, node: ScalarNode) -> Any:
        if node.tag in (_INT, _FLOAT, _BOOL, _NULL):
            return self.construct_object(node)
        return (node.tag, node.value)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError, IndexError, TypeError, OverflowError) as exc:
            if isinstance(exc, yaml.YAMLError):
                raise
            raise self.fail(
                node,
                f"{shown(node.value) if isinstance(node, ScalarNode) else 'a value'} is not "
                f"a valid {node.tag.removeprefix(_CORE)}",
                "write the value without a tag, or quote it",
            ) from None

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = len(node.value.lstrip("+-"))
        if digits > MAX_NUMBER_DIGITS:
            raise self.fail(
                node,
                f"has a number of {digits} digits",
                f"numbers in a spec have at most {MAX_NUMBER_DIGITS} digits",
            )
        return super().construct_yaml_int(node)


_SpecLoader.add_constructor(_INT, _SpecLoader.construct_yaml_int)
_SpecLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in [
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (_INT, r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
    (
        _FLOAT,
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)$",
        "-+0123456789.",
    ),
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_MERGE, r"^(?:<<)$", "<"),
]:
    _SpecLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _load_yaml(text: str, name: str) -> Any:
    loader: _SpecLoader | None = None
    try:
        loader = _SpecLoader(text, name)  # checks the characters: may raise a ReaderError
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _yaml_error(name, exc) from None
    except RecursionError:  # a merge chain deeper than the stack (nesting itself is bounded)
        raise SpecError(name, "nests too deeply", "flatten it") from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_error(name: str, exc: yaml.YAMLError) -> SpecError:
    """One line: file:line: what the YAML parser found, without its multi-line excerpt."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{name}:{mark.line + 1}" if mark is not None else name
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    return SpecError(where, f"is not valid YAML ({detail})", _YAML_HINT)


# ---------------------------------------------------------------------------------------------
# JSON

_JSON_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\[\]{},\n]')


def _load_json(text: str, name: str) -> Any:
    _check_json_shape(text, name)

    def number(kind: str) -> Any:
        def parse(token: str) -> Any:
            digits = len(token.lstrip("-"))
            if digits > MAX_NUMBER_DIGITS:
                raise SpecError(
                    name,
                    f"has a number of {digits} digits",
                    f"numbers in a spec have at most {MAX_NUMBER_DIGITS} digits",
                )
            return int(token) if kind == "int" else float(token)

        return parse

    def constant(token: str) -> Any:
        raise SpecError(name, f"{token} is not a number JSON allows", "write a finite number")

    try:
        return json.loads(
            text, parse_int=number("int"), parse_float=number("float"), parse_constant=constant
        )
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"{name}:{exc.lineno}", f"is not valid JSON: {exc.msg} (column {exc.colno})", ""
        ) from None
    except RecursionError:
        raise SpecError(name, "nests too deeply", "flatten it") from None


def _check_json_shape(text: str, name: str) -> None:
    """Nesting depth and duplicate keys, with their lines, in one pass over the tokens that
    matter (strings, brackets, commas, newlines); malformed text is left to the JSON parser."""
    stack: list[dict[str, int] | None] = []  # a dict of keys per open object, None per array
    line = 1
    expect_key = False
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token == "\n":
            line += 1
        elif token in "[{":
            stack.append({} if token == "{" else None)
            if len(stack) > MAX_DEPTH:
                raise SpecError(
                    f"{name}:{line}",
                    f"nests lists and mappings more than {MAX_DEPTH} levels deep",
                    "flatten it",
                )
            expect_key = token == "{"
        elif token in "]}":
            if stack:
                stack.pop()
            expect_key = False
        elif token == ",":
            expect_key = bool(stack) and stack[-1] is not None
        elif expect_key and stack and stack[-1] is not None:
            expect_key = False
            try:
                key = json.loads(token)
            except ValueError:
                return
            keys = stack[-1]
            if key in keys:
                raise SpecError(
                    f"{name}:{line}",
                    f"key {shown(key)} appears twice in one mapping (also on line {keys[key]})",
                    "keep one; JSON readers would silently use the last",
                )
            keys[key] = line
