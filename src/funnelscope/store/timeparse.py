"""SQL that turns source time values into UTC-naive TIMESTAMPs.

Everything here builds DuckDB SQL expressions, so parsing stays set-based (one pass over the
staging table) instead of a Python call per row. Naive ISO strings and naive TIMESTAMP values are
read in the session's ``TimeZone`` setting, which the store sets to the mapping's zone for the
duration of an ingest; the result is converted back to UTC and stored without a zone.
"""

from __future__ import annotations

from typing import Final

INT_PATTERN: Final = r"[+-]?[0-9]+"
NUMBER_PATTERN: Final = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"

TIME_UNITS: Final = ("auto", "s", "ms", "us")
_FACTORS: Final = {"s": 1_000_000, "ms": 1_000, "us": 1}

# Microseconds of 0001-01-01 and 9999-12-31 23:59:59.999999: epochs outside are unparseable.
_MIN_MICROS: Final = -62_135_596_800_000_000
_MAX_MICROS: Final = 253_402_300_799_999_999

_INTEGER_TYPES: Final = frozenset(
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
_FLOAT_TYPES: Final = frozenset({"FLOAT", "DOUBLE", "REAL"})


def sql_string(text: str) -> str:
    """Quote ``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """Quote ``name`` as a SQL identifier (any character allowed)."""
    return '"' + name.replace('"', '""') + '"'


def is_integer_type(duck_type: str) -> bool:
    return duck_type in _INTEGER_TYPES


def is_numeric_type(duck_type: str) -> bool:
    return (
        duck_type in _INTEGER_TYPES or duck_type in _FLOAT_TYPES or duck_type.startswith("DECIMAL")
    )


def unit_for_magnitude(max_abs: float | None) -> str:
    """Pick the epoch unit from the largest absolute value in a file.

    Seconds reach 1e11 only in the year 5138, milliseconds reach 1e14 in 5138 too, so the
    magnitude separates the three units for any realistic date.
    """
    if max_abs is None or max_abs < 1e11:
        return "s"
    if max_abs < 1e14:
        return "ms"
    return "us"


def unit_factor(unit: str) -> int:
    """Microseconds per unit (``s``, ``ms`` or ``us``)."""
    return _FACTORS[unit]


def epoch_magnitude_sql(column: str, duck_type: str) -> str | None:
    """An aggregate giving the largest absolute epoch number in ``column`` (None: not numeric)."""
    if is_numeric_type(duck_type):
        return f"max(abs(CAST({column} AS DOUBLE)))"
    if duck_type == "VARCHAR":
        text = f"trim({column})"
        return (
            f"max(abs(TRY_CAST({text} AS DOUBLE))) "
            f"FILTER (WHERE regexp_full_match({text}, {sql_string(NUMBER_PATTERN)}))"
        )
    return None


def _from_int(value: str, factor: int) -> str:
    low, high = _MIN_MICROS // factor, _MAX_MICROS // factor
    return (
        f"CASE WHEN {value} BETWEEN {low} AND {high} "
        f"THEN make_timestamp(CAST({value} AS BIGINT) * {factor}) END"
    )


def _from_double(value: str, factor: int) -> str:
    micros = f"({value} * {factor})"
    return (
        f"CASE WHEN {micros} BETWEEN {_MIN_MICROS} AND {_MAX_MICROS} "
        f"THEN make_timestamp(CAST(round({micros}) AS BIGINT)) END"
    )


def _from_text(column: str, factor: int) -> str:
    text = f"trim({column})"
    as_int = f"TRY_CAST({text} AS BIGINT)"
    as_double = f"TRY_CAST({text} AS DOUBLE)"
    return (
        f"CASE WHEN regexp_full_match({text}, {sql_string(INT_PATTERN)}) "
        f"THEN {_from_int(as_int, factor)} "
        f"WHEN regexp_full_match({text}, {sql_string(NUMBER_PATTERN)}) "
        f"THEN {_from_double(as_double, factor)} "
        f"ELSE timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) END"
    )


def time_sql(column: str, duck_type: str, factor: int) -> str:
    """SQL giving ``column`` as a UTC-naive TIMESTAMP, or NULL when it cannot be parsed.

    The result may be +/-infinity for strings like 'infinity'; callers reject non-finite values.
    ``factor`` converts epoch numbers to microseconds.
    """
    if duck_type in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"timezone('UTC', {column})"
    if duck_type.startswith("TIMESTAMP") or duck_type == "DATE":
        return f"timezone('UTC', CAST(CAST({column} AS TIMESTAMP) AS TIMESTAMPTZ))"
    if duck_type in _INTEGER_TYPES:
        return _from_int(f"TRY_CAST({column} AS BIGINT)", factor)
    if is_numeric_type(duck_type):
        return _from_double(f"CAST({column} AS DOUBLE)", factor)
    if duck_type == "VARCHAR":
        return _from_text(column, factor)
    return _from_text(f"CAST({column} AS VARCHAR)", factor)
