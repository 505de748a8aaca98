"""Errors that teach: each names where the problem is and how to fix it."""

from __future__ import annotations

import reprlib


class FunnelscopeError(Exception):
    """Base class of every error funnelscope raises on purpose."""


class SpecError(FunnelscopeError):
    """A funnel spec is invalid. `path` is where (e.g. ``steps[2].window``), `hint` the fix."""

    def __init__(self, path: str, problem: str, hint: str = "") -> None:
        self.path = _clipped(path)  # a key or value echoed whole could be megabytes long
        self.problem = _clipped(problem)
        self.hint = hint
        message = f"{self.path}: {self.problem}" if path else self.problem
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class IngestError(FunnelscopeError):
    """A source file cannot be read at all; nothing from it was loaded."""

    def __init__(
        self,
        source: str,
        problem: str,
        hint: str = "",
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem
        self.hint = hint
        where = source if line is None else f"{source}:{line}"
        message = f"{where}: {problem}"
        if column is not None:
            message += f" (column {column!r})"
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class EngineError(FunnelscopeError):
    """An engine cannot compute a funnel (unsupported spec, failed query)."""


_SHOWN = reprlib.Repr()
_SHOWN.maxlevel = 2
_SHOWN.maxtuple = _SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxset = _SHOWN.maxfrozenset = 4
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlong = 40


def shown(value: object, limit: int = 60, *, quote: bool = True) -> str:
    """A value as an error message echoes it: its repr (``str`` when not `quote`), at most
    `limit` characters (longer ones end in ``...``). Bounded work whatever the value's size."""
    text = _SHOWN.repr(value) if quote else str(value)[: limit + 1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clipped(text: str, limit: int = 500) -> str:
    """The start and end of a text too long for a one-line message."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return f"{text[:half]}...{text[-half:]}"
