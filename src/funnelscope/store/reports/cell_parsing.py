"""Number and date cells of report files: localised numbers, currencies, blanks and every
date style, read column by column (a plain ``float()`` fast path, the careful parser only
for cells that need it)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from funnelscope.errors import IngestError
from funnelscope.store.reports.columns import MONEY, word_set, word_tuple

_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
BAD_DAY: Final = int(np.iinfo(np.int64).min)

_BLANK_NUMBERS: Final = frozenset({"", "-", "--", "—", "–", "n/a", "na", "null", "none"})
_CURRENCY_SYMBOLS: Final = frozenset("$€£¥₽₹₩₺₴₪฿₫₦₱₲₡₭₸₼₾")
_CURRENCY_WORDS: Final = frozenset(
    {"kr", "zł", "zl", "руб", "р", "грн", "r$", "a$", "c$", "us$", "hk$", "s$", "nz$", "lei", "kč"}
)
_NUMBER_RE = re.compile(
    r"(?P<sign>[-+\u2212])?\s*"
    r"(?P<pre>[^\d\s.,'+\-\u2212()]{1,4}\.?)?\s*"
    r"(?P<sign2>[-+\u2212])?\s*"
    r"(?P<num>\d(?:[\d.,'\s\u00a0\u202f]*\d)?)\s*"
    r"(?P<post>[^\d\s.,'+\-\u2212()]{1,4}\.?)?"
)
_SPACES_RE = re.compile(r"[\s\u00a0\u202f']")

_MONTH_NAMES: Final = word_tuple(
    "january february march april may june july august september october november december"
)
_MONTHS: Final = {
    **{name: k for k, name in enumerate(_MONTH_NAMES, 1)},
    **{name[:3]: k for k, name in enumerate(_MONTH_NAMES, 1)},
    "sept": 9,
}
_DATE_FILLERS: Final = word_set(
    """
    mon monday tue tues tuesday wed wednesday thu thur thurs thursday fri friday sat
    saturday sun sunday am pm at of st nd rd th utc gmt z
    """
)
_YMD_RE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[Tt\s].*)?")
_WEEK_RE = re.compile(r"(\d{4})-?[Ww](\d{1,2})(?:-?([1-7]))?")
_YM_RE = re.compile(r"(\d{4})-(\d{1,2})")
_COMPACT_RE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_NUMERIC_DATE_RE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?:[Tt\s,].*)?")
_WORD_RE = re.compile(r"[^\W\d_]+|\d+")
DATE_FIX: Final = "write dates as 2026-09-03"


# ---------------------------------------------------------------------------------------------
# numbers


class NumberReader:
    """The careful number parser of one file; remembers which readings deserve a note."""

    def __init__(self, comma_decimal: bool) -> None:
        self.comma_decimal = comma_decimal
        self.comma_read_as_decimal = ""  # an example of '1,234' read as 1.234
        self.dot_read_as_thousands = ""  # an example of '1.234' read as 1234

    def parse(self, cell: str) -> float | str:
        """A value >= 0, or a problem code: "blank", "nan", "rate", "negative"."""
        s = cell.strip()
        if s.casefold() in _BLANK_NUMBERS:
            return "blank"
        if "%" in s:
            return "rate" if any(ch.isdigit() for ch in s) else "nan"
        negative = False
        if s.startswith("(") and s.endswith(")"):
            negative, s = True, s[1:-1].strip()
        match = _NUMBER_RE.fullmatch(s)
        if match is None or not (_currency(match["pre"]) and _currency(match["post"])):
            return "nan"
        if match["sign"] and match["sign2"]:
            return "nan"
        if (match["sign"] or match["sign2"] or "+") in "-\u2212":
            negative = True
        value = self._digits(_SPACES_RE.sub("", match["num"]))
        if value is None:
            return "nan"
        if negative and value != 0:
            return "negative"
        return value

    def _digits(self, num: str) -> float | None:
        commas, dots = num.count(","), num.count(".")
        try:
            if commas and dots:
                decimal = "," if num.rfind(",") > num.rfind(".") else "."
                thousands = "." if decimal == "," else ","
                whole, _, frac = num.rpartition(decimal)
                if decimal in whole or thousands in frac or not _grouped(whole, thousands):
                    return None
                return float(whole.replace(thousands, "") + "." + frac)
            if commas == 1:
                whole, frac = num.split(",")
                if len(frac) == 3 and len(whole) <= 3 and not self.comma_decimal:
                    return float(whole + frac)
                if len(frac) == 3 and not self.comma_read_as_decimal:
                    self.comma_read_as_decimal = num
                return float(whole + "." + frac)
            if commas:
                return float(num.replace(",", "")) if _grouped(num, ",") else None
            if dots == 1 and self.comma_decimal and re.fullmatch(r"\d{1,3}\.\d{3}", num):
                if not self.dot_read_as_thousands:
                    self.dot_read_as_thousands = num
                return float(num.replace(".", ""))
            if dots > 1:
                return float(num.replace(".", "")) if _grouped(num, ".") else None
            return float(num)
        except ValueError:
            return None


def _currency(token: str | None) -> bool:
    if not token:
        return True
    t = token.removesuffix(".")
    if all(ch in _CURRENCY_SYMBOLS for ch in t):
        return True
    return (len(t) == 3 and t.isascii() and t.isalpha() and t.isupper()) or (
        t.casefold() in _CURRENCY_WORDS
    )


def _grouped(whole: str, sep: str) -> bool:
    """Whether digits are grouped by `sep` as thousands (or Indian lakhs: 1,23,456)."""
    parts = whole.split(sep)
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return False
    return (
        1 <= len(parts[0]) <= 3
        and all(len(p) in (2, 3) for p in parts[1:-1])
        and len(parts[-1]) == 3
    )


FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def parse_numbers(
    cells: list[str], numbers: NumberReader
) -> tuple[FloatArray, BoolArray, list[tuple[int, str]]]:
    """Values, blank mask and (row, problem code) of a column chunk of text cells."""
    n = len(cells)
    if not numbers.comma_decimal:
        try:
            fast = np.array([float(c) for c in cells], dtype=np.float64)
        except ValueError:
            pass
        else:
            if bool(np.all(fast >= 0)) and bool(np.all(np.isfinite(fast))):
                return fast + 0.0, np.zeros(n, dtype=np.bool_), []
    values = np.zeros(n, dtype=np.float64)
    blank = np.zeros(n, dtype=np.bool_)
    bad: list[tuple[int, str]] = []
    careful_only = numbers.comma_decimal
    for i, cell in enumerate(cells):
        if not careful_only or ("," not in cell and "." not in cell):
            try:
                v = float(cell)
            except ValueError:
                pass
            else:
                if 0 <= v < math.inf:
                    values[i] = v + 0.0
                    continue
        result = numbers.parse(cell)
        if isinstance(result, float):
            values[i] = result
        elif result == "blank":
            blank[i] = True
        else:
            bad.append((i, result))
    return values, blank, bad


def number_problem(code: str, value: str, key: str) -> tuple[str, str]:
    count = key not in MONEY
    if code == "rate":
        what = "a count" if count else "an amount"
        return f"{value!r} is a rate, not {what}", "export the counts; rates are computed from them"
    if code == "negative":
        fix = "counts cannot be negative" if count else "cost and revenue cannot be negative"
        return f"{value!r} is negative", f"{fix}; check the export"
    return f"{value!r} is not a number", "write a plain number such as 1234 or 1,234.50"


# ---------------------------------------------------------------------------------------------
# dates

_Numeric = tuple[int, int, int, str]  # first field, second field, year, separator


def _day(y: int, m: int, d: int) -> int | None:
    try:
        return date(y, m, d).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None


def _parse_date(s: str) -> int | _Numeric | None:
    """Days since 1970 of an unambiguous date, a d/m vs m/d triple to decide later, or None."""
    m = _YMD_RE.fullmatch(s)
    if m:
        return _day(int(m[1]), int(m[2]), int(m[3]))
    m = _WEEK_RE.fullmatch(s)
    if m:
        try:
            day = date.fromisocalendar(int(m[1]), int(m[2]), int(m[3] or 1))
        except ValueError:
            return None
        return day.toordinal() - _EPOCH_ORDINAL
    m = _YM_RE.fullmatch(s)
    if m:
        return _day(int(m[1]), int(m[2]), 1)
    m = _COMPACT_RE.fullmatch(s)
    if m:
        year = int(m[1])
        return _day(year, int(m[2]), int(m[3])) if 1900 <= year <= 2200 else None
    m = _NUMERIC_DATE_RE.fullmatch(s)
    if m:
        first, second, year = int(m[1]), int(m[3]), int(m[4])
        if len(m[4]) == 2:
            year += 2000
        if first > 12 and second > 12:
            return None
        return (first, second, year, m[2])
    return _parse_month_name(s)


def _parse_month_name(s: str) -> int | None:
    """Dates with a month name: 'Sep 3, 2026', '3 September 2026', 'September 2026'."""
    month = year = day = None
    for token in _WORD_RE.findall(s.casefold()):
        if token.isdigit():
            if year is not None:
                continue  # a time of day after the year
            if len(token) == 4:
                year = int(token)
            elif len(token) <= 2 and day is None:
                day = int(token)
            else:
                return None
        elif token in _MONTHS and month is None:
            month = _MONTHS[token]
        elif token not in _DATE_FILLERS:
            return None
    if month is None or year is None:
        return None
    return _day(year, month, day or 1)


class DateReader:
    """Reads one text date column; decides day-first vs month-first for the whole column."""

    def __init__(self, source: str, column: str, date_format: str | None) -> None:
        self.source = source
        self.column = column
        self.date_format = date_format
        self.notes: list[str] = []

    def read(self, cells: list[str]) -> IntArray:
        """Days since 1970 per cell; BAD_DAY where the cell is not a date."""
        parsed: dict[str, int | _Numeric | None] = {}
        by_prefix: dict[str, int | None] = {}
        for s in set(cells):
            if len(s) > 10 and s[4] == "-" and s[7] == "-" and s[10] in "Tt ":
                # An ISO datetime: the calendar date as written, whatever the zone.
                prefix = s[:10]
                if prefix not in by_prefix:
                    got = _parse_date(prefix)
                    by_prefix[prefix] = got if not isinstance(got, tuple) else None
                parsed[s] = by_prefix[prefix]
            else:
                parsed[s] = _parse_date(s)
        numeric = {s: v for s, v in parsed.items() if isinstance(v, tuple)}
        if numeric:
            day_first = self._day_first(numeric)
            if not self.date_format:
                order = "day/month/year" if day_first else "month/day/year"
                self.notes.append(f"dates in {self.column!r} read as {order}")
            for s, (a, b, y, _) in numeric.items():
                parsed[s] = _day(y, b, a) if day_first else _day(y, a, b)
        if self.date_format:
            for s, v in parsed.items():
                if v is None and s:
                    parsed[s] = self._strptime(s)
        lookup = {s: (v if isinstance(v, int) else BAD_DAY) for s, v in parsed.items()}
        return np.fromiter(map(lookup.__getitem__, cells), dtype=np.int64, count=len(cells))

    def _strptime(self, s: str) -> int | None:
        assert self.date_format is not None
        for text in (s, s.split()[0]):
            try:
                return datetime.strptime(text, self.date_format).toordinal() - _EPOCH_ORDINAL
            except ValueError:
                continue
        return None

    def _day_first(self, numeric: dict[str, _Numeric]) -> bool:
        fmt = self.date_format or ""
        if "%d" in fmt and "%m" in fmt:
            return fmt.index("%d") < fmt.index("%m")
        days = sorted(s for s, v in numeric.items() if v[0] > 12)
        months = sorted(s for s, v in numeric.items() if v[1] > 12)
        example = sorted(numeric)[0]
        sep = numeric[example][3]
        hint = f"say which with --date-format %d{sep}%m{sep}%Y or --date-format %m{sep}%d{sep}%Y"
        if days and months:
            raise IngestError(
                self.source,
                f"dates in {self.column!r} mix day/month/year ({days[0]!r}) and "
                f"month/day/year ({months[0]!r})",
                hint,
                column=self.column,
            )
        if days or months:
            return bool(days)
        mixed = sorted(s for s, v in numeric.items() if v[0] != v[1])
        if mixed:
            raise IngestError(
                self.source,
                f"dates in {self.column!r} such as {mixed[0]!r} could be day/month/year or "
                "month/day/year",
                hint,
                column=self.column,
            )
        return True
