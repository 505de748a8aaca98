"""The one bad-row type: an input row set aside, where it is, what is wrong and how to fix it.

Ingest puts such rows in the quarantine table (source, line, reason, raw); the report readers
set them aside as rejected rows and also name the column, its value and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BadRow:
    """A row that was not counted."""

    source: str
    """The file as given (or as registered by ingest)."""
    line: int
    """The physical line of the record (its first line if it spans several; the 1-based row
    number for Parquet)."""
    reason: str
    raw: str = ""
    """The record as read (CSV line, JSON object, Parquet values)."""
    field: str = ""
    """The column whose cell is wrong; "" when the whole row is."""
    value: str = ""
    """The wrong cell's text; "" when the whole row is wrong."""
    fix: str = ""
    """How to fix it, when there is a known fix."""

    def to_dict(self) -> dict[str, object]:
        """Every field: the report commands' ``rejected_rows`` entries."""
        return {
            "source": self.source,
            "line": self.line,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
            "fix": self.fix,
            "raw": self.raw,
        }
