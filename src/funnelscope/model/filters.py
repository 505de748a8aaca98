"""Property filters and how a value is compared, the way a user would expect.

The rules (docs/semantics.md, "Filters") in one place, so every engine can be checked against them:
numbers compare as numbers (``5 == 5.0``; a text property that reads as a number compares as that
number), booleans match ``true``/``false`` in any case, text compares exactly for ``eq``/``in`` and
case-insensitively for ``contains``, ordering ops compare numbers numerically and text
lexicographically (so ISO dates order correctly). A property that is not set never matches a
positive op (``eq``, ``in``, ``contains``, ordering) and always matches a negative one (``neq``,
``not_in``, ``not_contains``).
"""

from __future__ import annotations

import builtins
import datetime
import difflib
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from funnelscope.errors import SpecError, shown

Scalar = str | int | float | bool
PropertyValue = Scalar | None

POSITIVE_OPS = ("eq", "in", "contains", "gt", "gte", "lt", "lte")
NEGATIVE_OPS = ("neq", "not_in", "not_contains")
PRESENCE_OPS = ("is_set", "is_not_set")
OPS = POSITIVE_OPS + NEGATIVE_OPS + PRESENCE_OPS
SCOPES = ("event", "person")
TIME_FIELDS = ("timestamp", "time")  # the event's own time: a date range, never a filter


@dataclass(frozen=True)
class Filter:
    """``{property, op, value, scope}``: holds for an event when its property value passes
    `op`; with scope ``person``, the person's value of the property is tested instead
    (docs/semantics.md [P1])."""

    property: str
    op: str = "eq"
    value: Scalar | tuple[Scalar, ...] | None = None
    scope: str = "event"

    @builtins.property  # (`property` is a field here)
    def on_person(self) -> bool:
        return self.scope == "person"

    def matches(self, value: PropertyValue) -> bool:
        """Whether a property value (``None`` = not set) passes this filter."""
        op = self.op
        if op == "is_set":
            return value is not None
        if op == "is_not_set":
            return value is None
        if op in NEGATIVE_OPS:
            return value is None or not _positive(_POSITIVE_OF[op], value, self.value)
        return value is not None and _positive(op, value, self.value)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"property": self.property, "op": self.op}
        if self.op not in PRESENCE_OPS:
            out["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        if self.on_person:
            out["scope"] = self.scope
        return out


_POSITIVE_OF = {"neq": "eq", "not_in": "in", "not_contains": "contains"}


def _positive(op: str, prop: Scalar, wanted: Any) -> bool:
    if op == "eq":
        return values_equal(prop, wanted)
    if op == "in":
        return any(values_equal(prop, item) for item in wanted)
    if op == "contains":
        return text_form(wanted).casefold() in text_form(prop).casefold()
    return _ordered(op, prop, wanted)


_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def as_number(value: object) -> int | float | Decimal | None:
    """The finite number a value stands for: numbers themselves, or text in plain decimal notation
    (``12``, ``-3.5``, ``1e3``; not ``1_000``, ``inf`` or other scripts' digits). Integers stay
    integers, so comparisons between large integers are exact."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return value if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _INTEGER_TEXT.fullmatch(text):
        return int(text)
    if _DECIMAL_TEXT.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def as_bool(value: Scalar) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def text_form(value: object) -> str:
    """Text of a value: ``true``/``false`` for booleans, Python's shortest round-trip form for
    numbers (``5``, ``5.0``, ``1e+16``), ISO 8601 for dates and times, text as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def values_equal(prop: Scalar, wanted: Scalar) -> bool:
    if isinstance(prop, bool) or isinstance(wanted, bool):
        left, right = as_bool(prop), as_bool(wanted)
        return left is not None and left == right
    if isinstance(prop, str) and isinstance(wanted, str):
        return prop == wanted
    left_n, right_n = as_number(prop), as_number(wanted)
    return left_n is not None and left_n == right_n


def _ordered(op: str, prop: Scalar, wanted: Scalar) -> bool:
    if isinstance(prop, bool):
        return False
    left: Any
    right: Any
    if isinstance(wanted, str) and isinstance(prop, str):
        left, right = prop, wanted
    else:
        left_n, right_n = as_number(prop), as_number(wanted)
        if left_n is None or right_n is None:
            return False
        left, right = left_n, right_n
    return bool(_COMPARE[op](left, right))


_COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def parse_filter(raw: Any, path: str) -> Filter:
    """Build a Filter from its spec form, with errors naming `path` and the fix."""
    if not isinstance(raw, Mapping):
        raise SpecError(
            path, f"{shown(raw)} is not a filter", "write {property: channel, op: eq, value: ads}"
        )
    unknown = set(raw) - {"property", "op", "value", "scope"}
    if unknown:
        raise SpecError(
            f"{path}.{shown(sorted(unknown, key=str)[0], quote=False)}",
            "unknown filter key",
            "filter keys are property, op, value, scope",
        )
    prop = raw.get("property")
    if not isinstance(prop, str) or not prop.strip():
        raise SpecError(f"{path}.property", "is required", "name the event property to filter on")
    if prop.strip() in TIME_FIELDS:  # docs/semantics.md [R6]
        raise SpecError(
            f"{path}.property",
            f"{shown(prop)} is the event's time, not a property, so a filter on it matches nothing",
            "to keep a period use date_range: {from:, to:} or --from/--to",
        )
    scope = raw.get("scope", "event")
    if scope not in SCOPES:
        raise SpecError(
            f"{path}.scope",
            f"{shown(scope)} is not a filter scope",
            "use event (the event's own value, the default) or person (the person's latest)",
        )
    return _parse_test(raw, prop, path, scope)


def _parse_test(raw: Mapping[str, Any], prop: str, path: str, scope: str) -> Filter:
    """The op and value of a filter on `prop`."""
    op = raw.get("op", "eq")
    if op not in OPS:
        close = difflib.get_close_matches(str(op), OPS, n=1)
        hint = f"did you mean {close[0]}?" if close else f"use one of: {', '.join(OPS)}"
        raise SpecError(f"{path}.op", f"{shown(op)} is not a filter op", hint)
    value = raw.get("value")
    if op in PRESENCE_OPS:
        if value is not None:
            raise SpecError(f"{path}.value", f"{op} takes no value", "remove value")
        return Filter(prop, op, None, scope)
    if op in ("in", "not_in"):
        if isinstance(value, _SCALARS):
            value = [value]
        if not isinstance(value, list | tuple) or not value:
            raise SpecError(f"{path}.value", f"{op} needs a list of values", "write value: [a, b]")
        for i, item in enumerate(value):
            _check_scalar(item, f"{path}.value[{i + 1}]")
        return Filter(prop, op, tuple(value), scope)
    if isinstance(value, list | tuple) and op in ("eq", "neq"):
        wanted = "in" if op == "eq" else "not_in"
        raise SpecError(f"{path}.value", f"{op} takes one value, not a list", f"use op: {wanted}")
    _check_scalar(value, f"{path}.value")
    if op in ("gt", "gte", "lt", "lte") and isinstance(value, bool):
        raise SpecError(f"{path}.value", f"{op} compares numbers or text, not booleans", "use eq")
    return Filter(prop, op, value, scope)


_SCALARS = (str, int, float, bool)


def _check_scalar(value: Any, path: str) -> None:
    if value is None:
        raise SpecError(path, "is required", "give a text, number or true/false value")
    if not isinstance(value, _SCALARS) or (isinstance(value, float) and not math.isfinite(value)):
        raise SpecError(
            path,
            f"{shown(value)} is not a text, number or boolean",
            "write a plain value; quote dates and anything else, e.g. '2024-01-31'",
        )
