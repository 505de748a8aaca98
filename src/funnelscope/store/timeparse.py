"""SQL that turns source time values into UTC-naive TIMESTAMPs.

Everything here builds DuckDB SQL expressions, so parsing stays set-based (one pass over the
staging table) instead of a Python call per row. Naive ISO strings and naive TIMESTAMP values are
read in the session's ``TimeZone`` setting, which the store sets to the mapping's zone for the
duration of an ingest; the result is converted back to UTC and stored without a zone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from funnelscope.model.durations import US_PER_SECOND
from funnelscope.store.sql_text import (
    INT_PATTERN,
    INTEGER_TYPES,
    NUMBER_PATTERN,
    is_numeric_type,
    sql_string,
)

TIME_UNITS: Final = ("auto", "s", "ms", "us")
_FACTORS: Final = {"s": US_PER_SECOND, "ms": 1_000, "us": 1}

# Microseconds of 0001-01-01 and 9999-12-31 23:59:59.999999: epochs outside are unparseable.
_MIN_MICROS: Final = -62_135_596_800_000_000
_MAX_MICROS: Final = 253_402_300_799_999_999


def unit_factor(unit: str) -> int:
    """Microseconds per unit (``s``, ``ms`` or ``us``)."""
    return _FACTORS[unit]


# Epoch numbers in auto mode: each value's unit comes from its own magnitude. Seconds reach 1e11
# only in the year 5138 and milliseconds reach 1e14 in 5138 too, so the magnitude separates the
# three units for any realistic date; one outlier row never changes how the others are read.
_SECONDS_BELOW: Final = 100_000_000_000  # 1e11
_MILLIS_BELOW: Final = 100_000_000_000_000  # 1e14

UNIT_NAMES: Final = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}

# In auto mode an epoch number is only trusted when it lands in this window; anything else
# (a compact date like 20240131, a bare year like 2024) is quarantined instead of becoming 1970.
PLAUSIBLE_FROM: Final = "1990-01-01"
PLAUSIBLE_AHEAD: Final = "INTERVAL 1 YEAR"


def _auto_unit_sql(value: str) -> str:
    """'s', 'ms' or 'us' for the epoch number ``value`` (any numeric SQL type), by magnitude."""
    return (
        f"CASE WHEN {value} > -{_SECONDS_BELOW} AND {value} < {_SECONDS_BELOW} THEN 's' "
        f"WHEN {value} > -{_MILLIS_BELOW} AND {value} < {_MILLIS_BELOW} THEN 'ms' "
        f"WHEN {value} IS NOT NULL THEN 'us' END"
    )


def _numeric_text_sql(column: str) -> str:
    """``column`` (VARCHAR) as a DOUBLE when it is written as a number, else NULL."""
    text = f"trim({column})"
    return (
        f"CASE WHEN regexp_full_match({text}, {sql_string(NUMBER_PATTERN)}) "
        f"THEN TRY_CAST({text} AS DOUBLE) END"
    )


def epoch_unit_sql(column: str, duck_type: str, unit: str) -> str:
    """SQL naming the epoch unit a value is read in: 's', 'ms', 'us', or NULL (not an epoch).

    With an explicit ``unit`` this is that unit for every number; in ``auto`` mode it is chosen
    per value from its magnitude (|x| < 1e11 seconds, < 1e14 milliseconds, else microseconds).
    """
    if is_numeric_type(duck_type):
        number = f"CAST({column} AS DOUBLE)"
    elif duck_type.startswith("TIMESTAMP") or duck_type == "DATE":
        return "CAST(NULL AS VARCHAR)"
    else:
        text = column if duck_type == "VARCHAR" else f"CAST({column} AS VARCHAR)"
        number = _numeric_text_sql(text)
    if unit != "auto":
        return f"CASE WHEN {number} IS NOT NULL THEN {sql_string(unit)} END"
    return _auto_unit_sql(number)


def implausible_epoch_sql(ts: str) -> str:
    """True when the UTC-naive TIMESTAMP ``ts`` is outside the window trusted in auto mode."""
    return (
        f"({ts} < TIMESTAMP '{PLAUSIBLE_FROM}' "
        f"OR {ts} > CAST(timezone('UTC', now()) AS TIMESTAMP) + {PLAUSIBLE_AHEAD})"
    )


def iso_utc_sql(ts: str) -> str:
    """A UTC-naive TIMESTAMP as ISO 8601 text: ``2024-01-01T10:00:00Z``, ``.ffffff`` if needed."""
    return (
        f"CASE WHEN strftime({ts}, '%f') = '000000' THEN strftime({ts}, '%Y-%m-%dT%H:%M:%SZ') "
        f"ELSE strftime({ts}, '%Y-%m-%dT%H:%M:%S.%fZ') END"
    )


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


def _from_number(value: str, unit: str, convert: Callable[[str, int], str]) -> str:
    """Epoch number -> TIMESTAMP in ``unit``; in ``auto`` mode the unit is chosen per value."""
    if unit != "auto":
        return convert(value, unit_factor(unit))
    return (
        f"CASE WHEN {value} > -{_SECONDS_BELOW} AND {value} < {_SECONDS_BELOW} "
        f"THEN {convert(value, unit_factor('s'))} "
        f"WHEN {value} > -{_MILLIS_BELOW} AND {value} < {_MILLIS_BELOW} "
        f"THEN {convert(value, unit_factor('ms'))} "
        f"ELSE {convert(value, unit_factor('us'))} END"
    )


# A space before a numeric offset (``2024-03-01 10:15:00 +0100``, as Shopify writes it) is
# removed so DuckDB can read the offset; ``+0100`` without a colon is read as is.
_SPACED_OFFSET: Final = r"(:[0-9]{2}(?:\.[0-9]+)?)\s+([+-][0-9]{2}(?::?[0-9]{2})?)$"
# A time written without any offset or zone: it is read in the session TimeZone (--timezone).
NAIVE_PATTERN: Final = (
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
)


def offset_text_sql(text: str) -> str:
    """``text`` with the space between a time and its numeric offset removed."""
    return f"regexp_replace({text}, {sql_string(_SPACED_OFFSET)}, '\\1\\2')"


def gap_sql(text: str, ts: str) -> str:
    """True when the naive time ``text`` does not exist in the session zone (spring forward).

    DuckDB moves such a time (02:30 on the night clocks jump from 02:00 to 03:00) past the gap;
    converting the UTC result ``ts`` back to local time then gives another wall-clock time. An
    ambiguous time (fall back, 02:30 happens twice) keeps DuckDB's choice of the two instants.
    """
    stripped = f"trim({text})"
    return (
        f"(regexp_full_match({stripped}, {sql_string(NAIVE_PATTERN)}) AND {ts} IS NOT NULL "
        f"AND isfinite({ts}) AND CAST(timezone('UTC', {ts}) AS TIMESTAMP) "
        f"<> TRY_CAST({stripped} AS TIMESTAMP))"
    )


def _from_text(column: str, unit: str) -> str:
    text = f"trim({column})"
    zoned = offset_text_sql(text)
    as_int = f"TRY_CAST({text} AS BIGINT)"
    as_double = f"TRY_CAST({text} AS DOUBLE)"
    return (
        f"CASE WHEN regexp_full_match({text}, {sql_string(INT_PATTERN)}) "
        f"THEN {_from_number(as_int, unit, _from_int)} "
        f"WHEN regexp_full_match({text}, {sql_string(NUMBER_PATTERN)}) "
        f"THEN {_from_number(as_double, unit, _from_double)} "
        f"ELSE timezone('UTC', TRY_CAST({zoned} AS TIMESTAMPTZ)) END"
    )


def timestamp_utc_sql(column: str, duck_type: str) -> str | None:
    """A DATE/TIMESTAMP/TIMESTAMPTZ value as a UTC-naive TIMESTAMP (None: not such a type).

    Naive values are read in the session ``TimeZone`` (the ingest's --timezone).
    """
    if duck_type in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"timezone('UTC', {column})"
    if duck_type.startswith("TIMESTAMP") or duck_type == "DATE":
        return f"timezone('UTC', CAST(CAST({column} AS TIMESTAMP) AS TIMESTAMPTZ))"
    return None


def time_sql(column: str, duck_type: str, unit: str) -> str:
    """SQL giving ``column`` as a UTC-naive TIMESTAMP, or NULL when it cannot be parsed.

    The result may be +/-infinity for strings like 'infinity'; callers reject non-finite values.
    ``unit`` (auto, s, ms, us) says how epoch numbers are read; see :func:`epoch_unit_sql`.
    """
    typed = timestamp_utc_sql(column, duck_type)
    if typed is not None:
        return typed
    if duck_type in INTEGER_TYPES:
        return _from_number(f"TRY_CAST({column} AS BIGINT)", unit, _from_int)
    if is_numeric_type(duck_type):
        return _from_number(f"CAST({column} AS DOUBLE)", unit, _from_double)
    if duck_type == "VARCHAR":
        return _from_text(column, unit)
    return _from_text(f"CAST({column} AS VARCHAR)", unit)
