"""Errors that teach: each names where the problem is and how to fix it."""

from __future__ import annotations


class FunnelscopeError(Exception):
    """Base class of every error funnelscope raises on purpose."""


class SpecError(FunnelscopeError):
    """A funnel spec is invalid. `path` is where (e.g. ``steps[2].window``), `hint` the fix."""

    def __init__(self, path: str, problem: str, hint: str = "") -> None:
        self.path = path
        self.problem = problem
        self.hint = hint
        message = f"{path}: {problem}" if path else problem
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
