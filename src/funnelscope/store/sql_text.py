"""Text of SQL: string literals, quoted identifiers, the number patterns and DuckDB's numeric
type names, shared by everything in the store that writes SQL."""

from __future__ import annotations

from typing import Final

INT_PATTERN: Final = r"[+-]?[0-9]+"
NUMBER_PATTERN: Final = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"


INTEGER_TYPES: Final = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    }
)
FLOAT_TYPES: Final = frozenset({"FLOAT", "DOUBLE", "REAL"})


def sql_string(text: str) -> str:
    """Quote ``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """Quote ``name`` as a SQL identifier (any character allowed)."""
    return '"' + name.replace('"', '""') + '"'


def is_numeric_type(duck_type: str) -> bool:
    return duck_type in INTEGER_TYPES or duck_type in FLOAT_TYPES or duck_type.startswith("DECIMAL")
