"""Read the tables marketers export into clean columns for report-level funnels.

Ad platform reports, web analytics exports, chat and call logs and order lists arrive as CSV
(plain, gzipped or saved from Excel) or Parquet, with title lines above the header, totals rows,
localised numbers and every date style. :func:`read_report` finds the header, maps columns to the
template's stages (plus cost and revenue), reads dates and numbers, and sets aside each row it
cannot count as a :class:`RejectedRow` that names the line, the reason and the fix. Every
decision it takes is written to :attr:`ReportSource.notes` in plain words.

CSV goes through Python's ``csv`` module so that each row keeps its physical line number; rows
are gathered in chunks and parsed column by column, with a plain ``float()`` fast path and the
careful parser only for cells that need it.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from funnelscope.errors import IngestError

__all__ = [
    "DIMENSION_SYNONYMS",
    "MEASURE_SYNONYMS",
    "RejectedRow",
    "ReportMapping",
    "ReportSource",
    "read_report",
]


def _ordered_words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


HEADER_SEARCH_LINES: Final = 30
_CHUNK_ROWS: Final = 65_536
_DELIMITERS: Final = (",", ";", "\t", "|")
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_BAD_DAY: Final = int(np.iinfo(np.int64).min)
_MONEY: Final = ("cost", "revenue")

MEASURE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "impressions": ("impressions", "impr", "impr_", "impression"),
    "clicks": ("clicks", "link_clicks"),
    "visits": ("visits", "sessions", "landing_page_views", "entrances"),
    "inquiries": ("inquiries", "inquiry", "leads", "contacts"),
    "orders": ("orders", "purchases", "transactions", "deals_won", "won_deals"),
    "cost": ("cost", "spend", "amount_spent", "ad_spend"),
    "revenue": (
        "revenue",
        "sales_amount",
        "order_value",
        "conversion_value",
        "conv_value",
        "value",
        "amount",
        "total",
        "total_revenue",
        "purchase_revenue",
    ),
}
"""Measure key -> normalised header names that hold it (besides the currency forms)."""

DIMENSION_SYNONYMS: dict[str, str] = {
    "day": "date",
    "campaign_name": "campaign",
    "session_campaign": "campaign",
    "utm_campaign": "campaign",
    "ad_group_name": "ad_group",
    "adgroup": "ad_group",
    "search_keyword": "keyword",
    "utm_term": "keyword",
    "device_category": "device",
    "assigned_rep": "rep",
    "sales_rep": "rep",
    "owner": "rep",
    "region_name": "region",
    "ad_set_name": "ad_set",
    "adset_name": "ad_set",
    "ad_name": "ad",
}
"""Normalised header -> canonical dimension name."""

_CURRENCY_MEASURE = re.compile(r"(cost|spend|amount_spent|ad_spend|revenue)_[a-z]{3}")

# Rates and averages: never a measure, never a dimension (rates are computed from the counts).
_RATE_NAMES: Final = frozenset(
    {"ctr", "conv_rate", "avg_cpc", "cpc", "cpm", "cpa", "roas", "conversion_rate"}
)
_RATE_TOKENS: Final = _words(
    """
    ctr cpc cpm cpa cpl cpv roas roi rate ratio avg average pct percent percentage share
    """
)
_RATE_PATTERN = re.compile(
    r"(?:cost|value|conv_value|revenue)_(?:per_)?(?:all_)?"
    r"(?:conv|convs|conversion|conversions|click|clicks|lead|leads|result|results|acquisition"
    r"|order|orders|sale|sales|session|sessions|visit|visits|user|users|cost)"
)

# Counts a template does not use (so neither a measure nor a dimension unless named by a flag).
_OTHER_COUNTS: Final = _words(
    """
    conversions conv convs all_conv all_conversions all_conv_value view_through_conv
    view_through_conversions cross_device_conv interactions engagements engaged_sessions
    users total_users new_users active_users returning_users views video_views reach
    frequency bounces pageviews page_views screen_page_views event_count key_events results
    calls phone_calls quality_score
    """
)

# File stems of one-row-per-event logs, besides the stage's own names.
_LOG_SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "inquiries": (
        "calls",
        "call",
        "chats",
        "chat",
        "call_log",
        "chat_log",
        "form_submissions",
        "contact_requests",
    ),
    "orders": ("sales",),
}

_NOT_DATES: Final = _words(
    """
    weekday day_of_week dayofweek hour_of_day day_of_month time_on_page time_on_site
    time_spent time_zone timezone
    """
)

_TOTAL_WORDS: Final = _words(
    """
    total totals summary итого всього всего 合计 总计 總計 합계 gesamt summe totaal totale
    """
) | {"grand total"}
_TOTALS_REASON: Final = (
    "looks like a totals row (the sum of the rows above); counting it would double every number"
)
_TOTALS_FIX: Final = (
    "nothing to do if it is the export's total line; remove it from the file to silence this"
)

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

_MONTH_NAMES: Final = _ordered_words(
    "january february march april may june july august september october november december"
)
_MONTHS: Final = {
    **{name: k for k, name in enumerate(_MONTH_NAMES, 1)},
    **{name[:3]: k for k, name in enumerate(_MONTH_NAMES, 1)},
    "sept": 9,
}
_DATE_FILLERS: Final = _words(
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
_NON_ALNUM = re.compile(r"[\W_]+")
_DATE_FIX: Final = "write dates as 2026-09-03"


@dataclass(frozen=True)
class ReportMapping:
    """How to read report files for one stage template; the dicts come from command-line flags."""

    stages: tuple[str, ...]
    stage_labels: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    date_column: str | None = None
    count_rows: dict[str, str] = field(default_factory=dict)
    delimiter: str | None = None
    date_format: str | None = None
    optional_columns: bool = False
    """Explicit columns (`columns`, `date_column`) that a file lacks are skipped in it, for
    flags given once for several files; the caller checks that some file had each."""


@dataclass(frozen=True)
class RejectedRow:
    """A row set aside: where it is, what is wrong with it and how to fix it."""

    source: str
    line: int
    field: str
    value: str
    reason: str
    fix: str
    raw: str

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "line": self.line,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
            "fix": self.fix,
            "raw": self.raw,
        }


@dataclass(frozen=True, eq=False)
class ReportSource:
    """One report file, read: a date, dimension texts and measure values per kept row."""

    path: str
    dimensions: tuple[str, ...]
    dimension_columns: dict[str, str]
    measures: dict[str, str]
    dates: np.ndarray
    dims: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    lines: np.ndarray
    rejected: tuple[RejectedRow, ...]
    notes: tuple[str, ...]
    date_column: str = ""
    """The header of the column the dates came from."""

    @property
    def rows(self) -> int:
        """Number of kept rows."""
        return len(self.lines)


# ---------------------------------------------------------------------------------------------
# names


def _normalise(header: str) -> str:
    return _NON_ALNUM.sub("_", header.casefold()).strip("_")


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 3:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _flag(key: str) -> str:
    return f"--{key} " if key in _MONEY else f"--stage {key}="


def _one(key: str) -> str:
    """'one inquiry': the singular of a stage key, for notes."""
    return _singular(key).replace("_", " ")


def _is_rate(header: str, norm: str) -> bool:
    if "%" in header or norm in _RATE_NAMES:
        return True
    if "_per_" in f"_{norm}_" or _RATE_PATTERN.fullmatch(norm):
        return True
    return any(token in _RATE_TOKENS for token in norm.split("_"))


def _date_rank(norm: str) -> int | None:
    """How date-like a name is by the contains rule (lower is better), None when not at all."""
    if norm in _NOT_DATES:
        return None
    tokens = norm.split("_")
    if "date" in norm:
        return 0
    if "at" in tokens[1:]:
        return 1
    if "time" in norm:
        return 2
    if "day" in norm:
        return 3
    if tokens[0] in _EVENT_VERBS or (len(tokens) > 1 and tokens[-1] == "on"):
        return 4  # "Created", "Created on", "Received", "Closed on"
    return None


_EVENT_VERBS = frozenset({"created", "received", "submitted", "opened", "closed", "placed"})


class _Vocabulary:
    """The names that make a column a measure under one mapping."""

    def __init__(self, mapping: ReportMapping) -> None:
        self.stages = mapping.stages
        self.own: dict[str, str] = {}
        for stage in mapping.stages:
            self.own.setdefault(_normalise(stage), stage)
        for stage, label in mapping.stage_labels.items():
            if stage in mapping.stages:
                self.own.setdefault(_normalise(label), stage)
        self.synonyms = {n: key for key, names in MEASURE_SYNONYMS.items() for n in names}
        self.explicit = {_normalise(c) for c in mapping.columns.values()}
        if mapping.date_column:
            self.explicit.add(_normalise(mapping.date_column))

    def measure_key(self, norm: str) -> str | None:
        key = self.own.get(norm) or self.synonyms.get(norm)
        if key is None:
            match = _CURRENCY_MEASURE.fullmatch(norm)
            if match:
                key = "revenue" if match.group(1) == "revenue" else "cost"
        return key

    def header_score(self, fields: list[str], line: str) -> bool:
        """Whether a line can be the header: it names a measure or a date column."""
        names = [f.strip() for f in fields if f.strip()]
        for name in names:
            norm = _normalise(name)
            if not norm:
                continue
            if norm in self.explicit:
                return True
            if not _is_rate(name, norm) and self.measure_key(norm) is not None:
                return True
            if DIMENSION_SYNONYMS.get(norm, norm) in ("date", "week", "month"):
                return True
        if any(_date_rank(_normalise(n)) is not None for n in names):
            # A lone title such as "Report date: 1 Sep 2026" is not a header.
            return len(names) >= 2 or not any(ch.isdigit() for ch in line)
        return False


# ---------------------------------------------------------------------------------------------
# the column plan


@dataclass
class _Plan:
    headers: list[str]
    date: int
    dims: list[tuple[str, int]]  # canonical name, column index
    measures: dict[str, int]  # measure key -> column index
    counted: str | None
    notes: list[str]

    def needed(self) -> list[int]:
        return sorted({self.date, *(j for _, j in self.dims), *self.measures.values()})


def _find_column(source: str, name: str, headers: list[str], flag: str) -> int:
    wanted = name.strip()
    for test in (str.strip, lambda s: s.strip().casefold(), _normalise):
        target = test(wanted)
        for j, header in enumerate(headers):
            if test(header) == target:
                return j
    close = difflib.get_close_matches(wanted, headers, n=1, cutoff=0.5)
    if not close:
        folded = {h.casefold(): h for h in headers}
        hit = difflib.get_close_matches(wanted.casefold(), list(folded), n=1, cutoff=0.5)
        close = [folded[h] for h in hit]
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise IngestError(
        source,
        f"{flag} names a column {wanted!r} that is not in the header",
        f"{hint}the columns are {_quoted(headers)}",
        column=wanted,
    )


def _count_rows_stage(source: str, path: Path, mapping: ReportMapping) -> str | None:
    """The stage an explicit --count-rows gives this file, if any."""
    for key, stage in mapping.count_rows.items():
        same = key in (source, path.name)
        if not same:
            other = Path(key)
            try:
                same = other.exists() and other.samefile(path)
            except OSError:
                same = False
        if same:
            if stage not in mapping.stages:
                raise IngestError(
                    source,
                    f"--count-rows {key}={stage}: {stage!r} is not a stage of this template",
                    f"the stages are {', '.join(mapping.stages)}",
                )
            return stage
    return None


def _stem_stage(path: Path, mapping: ReportMapping) -> str | None:
    """The stage a log file's name says each row is ("leads.csv", "calls.csv", "orders.csv")."""
    name = path.name.casefold()
    for _ in range(2):
        for suffix in (".gz", ".csv", ".tsv", ".txt", ".parquet", ".pq"):
            name = name.removesuffix(suffix)
    stem = _normalise(name)
    bases = {stem, re.sub(r"(_\d+)+$", "", stem), re.sub(r"^(\d+_)+", "", stem)}
    forms = {f for b in bases if b for f in (b, _singular(b), b + "s")}
    for stage in mapping.stages:
        names = {_normalise(stage), *MEASURE_SYNONYMS.get(stage, ()), *_LOG_SYNONYMS.get(stage, ())}
        if stage in mapping.stage_labels:
            names.add(_normalise(mapping.stage_labels[stage]))
        if forms & (names | {_singular(n) for n in names}):
            return stage
    return None


def _make_plan(
    source: str,
    path: Path,
    headers: list[str],
    mapping: ReportMapping,
    typed_dates: frozenset[int] = frozenset(),
) -> _Plan:
    vocab = _Vocabulary(mapping)
    norms = [_normalise(h) for h in headers]
    allowed = (*mapping.stages, *_MONEY)
    notes: list[str] = []
    claimed: dict[int, str] = {}
    explicit: dict[str, int] = {}
    for key, name in mapping.columns.items():
        if key not in allowed:
            raise IngestError(
                source,
                f"{key!r} is not a stage of this template",
                f"the stages are {', '.join(mapping.stages)}; cost and revenue have --cost and "
                "--revenue",
            )
        try:
            j = _find_column(source, name, headers, f'{_flag(key)}"{name}"')
        except IngestError:
            if mapping.optional_columns:
                continue
            raise
        explicit[key] = j
        claimed[j] = key
    date_index: int | None = None
    if mapping.date_column is not None:
        try:
            date_index = _find_column(
                source, mapping.date_column, headers, f'--date-column "{mapping.date_column}"'
            )
        except IngestError:
            if not mapping.optional_columns:
                raise

    rates: list[str] = []
    unused: list[str] = []
    ids: list[str] = []
    unnamed = 0
    found: dict[str, list[int]] = {}
    rest: list[int] = []
    for j, (header, norm) in enumerate(zip(headers, norms, strict=True)):
        if j in claimed or j == date_index:
            continue
        if not norm:
            unnamed += 1
            continue
        if _is_rate(header, norm):
            rates.append(header)
            continue
        measure = vocab.measure_key(norm)
        if measure is not None:
            if measure in explicit:
                notes.append(
                    f"column {header!r} also looks like {measure}; "
                    f"{headers[explicit[measure]]!r} is used as asked"
                )
            elif measure in allowed:
                found.setdefault(measure, []).append(j)
            else:
                unused.append(header)
            continue
        if norm in _OTHER_COUNTS:
            unused.append(header)
        elif norm == "id" or norm.endswith("_id"):
            ids.append(header)
        else:
            rest.append(j)
    for key, columns in found.items():
        if len(columns) > 1:
            first, second = (headers[j] for j in columns[:2])
            raise IngestError(
                source,
                f"columns {first!r} and {second!r} both read as {key}",
                f'choose one with {_flag(key)}"{first}"',
                column=second,
            )
    picked = {**explicit, **{key: columns[0] for key, columns in found.items()}}
    measures = {key: picked[key] for key in allowed if key in picked}

    if date_index is None:
        date_index = _choose_date(rest, norms, typed_dates)
        if date_index is None:
            candidates = [headers[j] for j in rest] or headers
            raise IngestError(
                source,
                f"no date column (columns: {_quoted(headers)})",
                f'name it with --date-column "{candidates[0]}"',
            )
    if norms[date_index] != "date":
        notes.append(f"column {headers[date_index]!r} read as the date")

    dims: list[tuple[str, int]] = []
    taken: set[str] = set()
    for j in rest:
        if j == date_index:
            continue
        canonical = DIMENSION_SYNONYMS.get(norms[j], norms[j])
        if canonical == "date":
            canonical = norms[j]
        name, k = canonical, 2
        while name in taken:
            name, k = f"{canonical}_{k}", k + 1
        if name != canonical:
            notes.append(
                f"column {headers[j]!r} read as dimension {name!r} ({canonical!r} is taken)"
            )
        taken.add(name)
        dims.append((name, j))

    counted = _count_rows_stage(source, path, mapping)
    if counted is not None and counted in measures:
        notes.append(
            f"column {headers[measures.pop(counted)]!r} ignored: --count-rows counts each row as "
            f"one {_one(counted)}"
        )
    if counted is None and not any(key in mapping.stages for key in measures):
        counted = _stem_stage(path, mapping)
    if counted is None and not measures:
        stage = mapping.stages[0] if mapping.stages else "visits"
        example = next((headers[j] for j in rest if j != date_index), None)
        raise IngestError(
            source,
            "no column holds a count of any stage "
            f"({', '.join(mapping.stages)}), nor cost or revenue (columns: {_quoted(headers)})",
            (f'name one with --stage {stage}="{example}", or ' if example else "")
            + f"if each row is one {_one(stage)} use --count-rows {path.name}={stage}",
        )

    for key, j in measures.items():
        if j in claimed or norms[j] != key:
            notes.append(f"column {headers[j]!r} read as {key}")
    if counted is not None:
        notes.append(f"each row counts as one {_one(counted)}")
    if rates:
        notes.append(
            f"ignored rate and average columns {_quoted(rates)} "
            "(rates are computed from the counts)"
        )
    if unused:
        notes.append(
            f"ignored columns {_quoted(unused)}: counts this template does not use "
            f'(name one with --stage KEY="{unused[0]}")'
        )
    if ids:
        notes.append(f"id columns {_quoted(ids)} are not used as dimensions")
    if unnamed:
        notes.append(f"ignored {unnamed} column{'s' * (unnamed != 1)} without a name")
    return _Plan(headers, date_index, dims, measures, counted, notes)


def _choose_date(rest: list[int], norms: list[str], typed_dates: frozenset[int]) -> int | None:
    for wanted in ("date", "week", "month"):
        for j in rest:
            if DIMENSION_SYNONYMS.get(norms[j], norms[j]) == wanted:
                return j
    ranked = [(rank, j) for j in rest if (rank := _date_rank(norms[j])) is not None]
    if ranked:
        return min(ranked)[1]
    typed = [j for j in rest if j in typed_dates]
    return typed[0] if typed else None


# ---------------------------------------------------------------------------------------------
# numbers


class _Numbers:
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


def _parse_numbers(
    cells: list[str], numbers: _Numbers
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


def _number_problem(code: str, value: str, key: str) -> tuple[str, str]:
    count = key not in _MONEY
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


class _DateReader:
    """Reads one text date column; decides day-first vs month-first for the whole column."""

    def __init__(self, source: str, column: str, date_format: str | None) -> None:
        self.source = source
        self.column = column
        self.date_format = date_format
        self.notes: list[str] = []

    def read(self, cells: list[str]) -> IntArray:
        """Days since 1970 per cell; _BAD_DAY where the cell is not a date."""
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
        lookup = {s: (v if isinstance(v, int) else _BAD_DAY) for s, v in parsed.items()}
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


# ---------------------------------------------------------------------------------------------
# assembling rows into columns


@dataclass
class _Cells:
    """One column of a chunk: text cells, or typed numbers (NaN = null) or days (NaT = null)."""

    text: list[str] | None = None
    numbers: FloatArray | None = None
    days: npt.NDArray[np.datetime64] | None = None


class _Strip(dict[str, str]):
    """Stripped text, computed once per distinct cell (dimension values repeat a lot)."""

    def __missing__(self, key: str) -> str:
        value = self[key] = key.strip()
        return value


def _is_total(text: str) -> bool:
    """'Total', 'Grand total:', 'Итого', and Google Ads' 'Total: Account'."""
    head, _, _ = text.casefold().partition(":")
    return head.strip() in _TOTAL_WORDS


@dataclass
class _Problem:
    column: int  # column index; -1 for whole-row problems that outrank any cell
    field: str
    value: str
    reason: str
    fix: str


class _Assembler:
    """Collects chunks of rows into the final columns and the rows set aside."""

    def __init__(self, source: str, plan: _Plan, mapping: ReportMapping, numbers: _Numbers):
        self.source = source
        self.plan = plan
        self.mapping = mapping
        self.numbers = numbers
        self.rows = 0
        self.starts: list[IntArray] = []
        self.ends: list[IntArray] = []
        self.dim_text: dict[int, list[str]] = {j: [] for _, j in plan.dims}
        self.date_text: list[str] = []
        self.date_days: list[npt.NDArray[np.datetime64]] = []
        self.values: dict[str, list[FloatArray]] = {k: [] for k in plan.measures}
        self.blanks: dict[str, list[BoolArray]] = {k: [] for k in plan.measures}
        self.problems: dict[int, _Problem] = {}
        self.dropped: list[int] = []
        self.totals: list[int] = []
        self.strips = {j: _Strip() for j in (plan.date, *self.dim_text)}

    def _problem(self, row: int, problem: _Problem) -> None:
        old = self.problems.get(row)
        if old is None or problem.column < old.column:
            self.problems[row] = problem

    def add(self, cols: dict[int, _Cells], starts: IntArray, ends: IntArray) -> None:
        n, base = len(starts), self.rows
        headers = self.plan.headers
        self.starts.append(starts)
        self.ends.append(ends)
        stripped: dict[int, list[str]] = {}
        for j, cells in cols.items():
            if cells.text is not None and (j == self.plan.date or j in self.dim_text):
                stripped[j] = list(map(self.strips[j].__getitem__, cells.text))
        for j, part in self.dim_text.items():
            part.extend(stripped[j])
        date_cells = cols[self.plan.date]
        if date_cells.days is not None:
            self.date_days.append(date_cells.days)
        else:
            self.date_text.extend(stripped[self.plan.date])

        blanks: dict[str, BoolArray] = {}
        for key, j in self.plan.measures.items():
            cells = cols[j]
            if cells.numbers is not None:
                blank = np.isnan(cells.numbers)
                vals = np.where(blank, 0.0, cells.numbers) + 0.0
                bad = [(int(i), "negative") for i in np.flatnonzero(vals < 0)]
                shown = cells.numbers
            else:
                assert cells.text is not None
                vals, blank, bad = _parse_numbers(cells.text, self.numbers)
                shown = None
            for i, code in bad:
                value = _repr_number(shown[i]) if shown is not None else _text(cells, i)
                reason, fix = _number_problem(code, value, key)
                self._problem(base + i, _Problem(j, headers[j], value, reason, fix))
            self.values[key].append(vals)
            self.blanks[key].append(blank)
            blanks[key] = blank

        self._find_totals(stripped, date_cells, blanks, base)
        self.rows += n

    def _find_totals(
        self,
        stripped: dict[int, list[str]],
        date_cells: _Cells,
        blanks: dict[str, BoolArray],
        base: int,
    ) -> None:
        """Set aside totals rows: a totals word in the first filled date/dimension cell, or
        counts under an entirely blank date and dimensions. Wholly blank rows are dropped."""
        headers, date_j = self.plan.headers, self.plan.date
        order = sorted(stripped)
        for pos, j in enumerate(order):
            col = stripped[j]
            words = {v for v in set(col) if v and _is_total(v)}
            if not words:
                continue
            earlier = order[:pos]
            dated = date_cells.days is not None and date_j < j
            for i, v in enumerate(col):
                if v not in words or any(stripped[k][i] for k in earlier):
                    continue
                if dated and date_cells.days is not None and not np.isnat(date_cells.days[i]):
                    continue
                self._set_totals(base + i, _Problem(-1, headers[j], v, _TOTALS_REASON, _TOTALS_FIX))
        if date_cells.days is not None:
            no_date = [int(i) for i in np.flatnonzero(np.isnat(date_cells.days))]
        else:
            dcol = stripped[date_j]
            no_date = [i for i, v in enumerate(dcol) if not v] if "" in set(dcol) else []
        dim_cols = [stripped[j] for _, j in self.plan.dims if j in stripped]
        for i in no_date:
            if any(col[i] for col in dim_cols):
                continue
            present = [key for key, blank in blanks.items() if not blank[i]]
            if present:
                self._set_totals(base + i, _Problem(-1, "", "", _TOTALS_REASON, _TOTALS_FIX))
            else:
                self.dropped.append(base + i)
                self.problems.pop(base + i, None)

    def _set_totals(self, row: int, problem: _Problem) -> None:
        if row not in self.problems or self.problems[row].column >= 0:
            self.totals.append(row)
        self._problem(row, problem)

    def finish(
        self,
        raw: RawLookup,
        reader_notes: list[str],
        ragged: Sequence[tuple[int, int, str]] = (),
    ) -> ReportSource:
        plan, headers, n = self.plan, self.plan.headers, self.rows
        starts = np.concatenate(self.starts) if self.starts else np.zeros(0, np.int64)
        ends = np.concatenate(self.ends) if self.ends else np.zeros(0, np.int64)
        dropped = np.zeros(n, dtype=np.bool_)
        dropped[self.dropped] = True
        date_header = headers[plan.date]
        date_notes: list[str] = []
        if self.date_days:
            day_values = np.concatenate(self.date_days).astype("datetime64[D]")
            days = day_values.astype(np.int64)
            missing = np.isnat(day_values)
            days[missing] = _BAD_DAY
        else:
            reader = _DateReader(self.source, date_header, self.mapping.date_format)
            days = reader.read(self.date_text)
            date_notes = reader.notes
            if self.mapping.date_format and self.date_text:
                date_notes.append(
                    f"dates in {date_header!r} read with --date-format {self.mapping.date_format}"
                )
        for i in np.flatnonzero(days == _BAD_DAY):
            row = int(i)
            if dropped[row]:
                continue
            text = self.date_text[row] if self.date_text else ""
            reason = f"{text!r} is not a date" if text else "the date is empty"
            self._problem(row, _Problem(plan.date, date_header, text, reason, _DATE_FIX))

        kept = ~dropped
        bad_rows = np.fromiter(self.problems, dtype=np.int64, count=len(self.problems))
        kept[bad_rows] = False

        values: dict[str, np.ndarray] = {}
        notes: list[str] = []
        for key in (*self.mapping.stages, *_MONEY):
            if key == plan.counted:
                values[key] = np.ones(int(kept.sum()), dtype=np.float64)
                continue
            if key not in plan.measures:
                continue
            column = headers[plan.measures[key]]
            joined = np.concatenate(self.values[key]) if n else np.zeros(0, np.float64)
            values[key] = joined[kept]
            blank = np.concatenate(self.blanks[key]) if n else np.zeros(0, np.bool_)
            empties = int((blank & kept).sum())
            if empties:
                what = "count" if key not in _MONEY else "value"
                notes.append(
                    f"{empties:,} empty {what}{'s' * (empties != 1)} in {column!r} read as 0"
                )
        if self.numbers.comma_read_as_decimal:
            example = self.numbers.comma_read_as_decimal
            notes.append(
                f"',' is the decimal mark in this ';'-separated file: {example!r} read as "
                f"{example.replace(',', '.')}"
            )
        if self.numbers.dot_read_as_thousands:
            example = self.numbers.dot_read_as_thousands
            notes.append(
                f"'.' groups thousands in this ';'-separated file: {example!r} read as "
                f"{example.replace('.', '')}"
            )
        totals = sorted(int(starts[r]) for r in set(self.totals))
        if totals:
            shown = ", ".join(f"{line:,}" for line in totals[:5])
            more = f" and {len(totals) - 5} more" if len(totals) > 5 else ""
            if len(totals) == 1:
                notes.append(f"line {shown} looks like a totals row; set aside")
            else:
                notes.append(f"lines {shown}{more} look like totals rows; set aside")
        if self.dropped:
            k = len(self.dropped)
            notes.append(f"skipped {k:,} row{'s' * (k != 1)} with no values")

        spans = {int(starts[r]): int(ends[r]) for r in self.problems}
        spans.update((start, end) for start, end, _ in ragged)
        raws = raw(sorted(spans.items()))
        rejected = [
            RejectedRow(
                self.source,
                int(starts[row]),
                p.field,
                p.value,
                p.reason,
                p.fix,
                raws.get(int(starts[row]), ""),
            )
            for row, p in self.problems.items()
        ]
        rejected += [
            RejectedRow(
                self.source,
                start,
                "",
                "",
                why,
                "check quoting or the delimiter",
                raws.get(start, ""),
            )
            for start, _, why in ragged
        ]
        measures = {
            key: ("(rows)" if key == plan.counted else headers[plan.measures[key]])
            for key in values
        }
        return ReportSource(
            path=self.source,
            dimensions=tuple(name for name, _ in plan.dims),
            dimension_columns={name: headers[j] for name, j in plan.dims},
            measures=measures,
            dates=days[kept].astype("datetime64[D]"),
            dims={
                name: np.array(self.dim_text[j], dtype=object)[kept] if n else _empty_text()
                for name, j in plan.dims
            },
            values=values,
            lines=starts[kept].astype(np.int64),
            rejected=tuple(sorted(rejected, key=lambda r: r.line)),
            notes=(*reader_notes, *plan.notes, *date_notes, *notes),
            date_column=headers[plan.date],
        )


def _empty_text() -> np.ndarray:
    return np.zeros(0, dtype=object)


def _text(cells: _Cells, i: int) -> str:
    assert cells.text is not None
    return cells.text[i].strip()


def _repr_number(value: float) -> str:
    """A typed number as a cell text: 12.0 -> '12'."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


RawLookup = Callable[[list[tuple[int, int]]], dict[int, str]]
"""Raw text of records given as (first line, last line) -> {first line: text}."""


# ---------------------------------------------------------------------------------------------
# CSV


def _guess_delimiter(line: str) -> str:
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _open_binary(path: Path, gz: bool) -> IO[bytes]:
    if gz:
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _sniff_encoding(path: Path, gz: bool, source: str) -> str:
    try:
        with _open_binary(path, gz) as f:
            head = f.read(4)
    except (OSError, EOFError) as exc:
        raise IngestError(
            source, f"cannot read the file: {exc}", "check it is a gzip file"
        ) from exc
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return "utf-8-sig"


def _open_text(path: Path, gz: bool, encoding: str) -> io.TextIOWrapper:
    errors = "replace" if encoding == "cp1252" else "strict"
    return io.TextIOWrapper(_open_binary(path, gz), encoding=encoding, errors=errors, newline="")


def _read_csv(source: str, path: Path, mapping: ReportMapping, gz: bool, tsv: bool) -> ReportSource:
    encoding = _sniff_encoding(path, gz, source)
    notes: list[str] = []
    if encoding == "utf-16":
        notes.append("read as UTF-16 text (an Excel 'Unicode text' export)")
    try:
        return _read_csv_as(source, path, mapping, gz, tsv, encoding, notes)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8-sig":
            raise IngestError(
                source, "the file is not valid UTF-16 text", "save it as UTF-8"
            ) from exc
    notes.append("the file is not UTF-8; read it as Windows-1252 (cp1252)")
    return _read_csv_as(source, path, mapping, gz, tsv, "cp1252", notes)


def _find_header(
    source: str, path: Path, head: list[str], mapping: ReportMapping, tsv: bool
) -> tuple[int, str, list[str]]:
    """Index of the header among the first lines, its delimiter and its fields."""
    vocab = _Vocabulary(mapping)
    forced = mapping.delimiter or ("\t" if tsv else None)
    start = 0
    if head and not forced:
        sep = re.fullmatch(r"sep=(.)\s*", head[0])
        if sep:
            forced, start = sep[1], 1
    candidates: list[tuple[int, str, list[str]]] = []
    for index in range(start, len(head)):
        line = head[index]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        delimiter = forced or _guess_delimiter(line)
        fields = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])
        candidates.append((index, delimiter, fields))
    for min_fields in (2, 1):
        for index, delimiter, fields in candidates:
            named = [f for f in fields if f.strip()]
            if len(named) >= min_fields and vocab.header_score(fields, head[index]):
                return index, delimiter, [f.strip() for f in fields]
    if not candidates:
        raise IngestError(source, "the file is empty: no header line", "export the report again")
    seen = max(candidates, key=lambda c: len(c[2]))[2]
    columns = [f.strip() for f in seen if f.strip()]
    for key, name in mapping.columns.items():
        _find_column(source, name, columns or [""], f'{_flag(key)}"{name}"')
    stage = mapping.stages[0] if mapping.stages else "visits"
    example = columns[-1] if columns else "Sessions"
    raise IngestError(
        source,
        f"no header with a date or measure column in the first {HEADER_SEARCH_LINES} lines"
        + f" (columns found: {_quoted(columns)})",
        f'name the columns: use --stage {stage}="{example}" for a count, --date-column for the '
        f"date, or --count-rows {path.name}={stage} if each row is one {_one(stage)}",
    )


def _read_csv_as(
    source: str,
    path: Path,
    mapping: ReportMapping,
    gz: bool,
    tsv: bool,
    encoding: str,
    notes: list[str],
) -> ReportSource:
    notes = list(notes)
    with _open_text(path, gz, encoding) as f:
        try:
            head = [line for line in (f.readline() for _ in range(HEADER_SEARCH_LINES)) if line]
        except (OSError, EOFError) as exc:
            raise IngestError(source, f"cannot read the file: {exc}") from exc
        index, delimiter, headers = _find_header(source, path, head, mapping, tsv)
        titles = index
        if head and re.fullmatch(r"sep=(.)\s*", head[0]) and not (mapping.delimiter or tsv):
            notes.append(f"read the separator {delimiter!r} from the 'sep=' line")
            titles -= 1
        if titles:
            notes.append(f"skipped {titles} title line{'s' * (titles != 1)} before the header")
        if delimiter != "," and not (tsv and delimiter == "\t"):
            shown = "tabs" if delimiter == "\t" else repr(delimiter)
            notes.append(f"columns are separated by {shown}")
        plan = _make_plan(source, path, headers, mapping)
        assembler = _Assembler(source, plan, mapping, _Numbers(comma_decimal=delimiter == ";"))
        ragged = _scan_rows(source, f, head[index:], index, delimiter, headers, plan, assembler)

    def raw(spans: list[tuple[int, int]]) -> dict[int, str]:
        return _raw_lines(path, gz, encoding, spans)

    return assembler.finish(raw, notes, ragged)


def _scan_rows(
    source: str,
    f: Iterator[str],
    first: list[str],
    offset: int,
    delimiter: str,
    headers: list[str],
    plan: _Plan,
    assembler: _Assembler,
) -> list[tuple[int, int, str]]:
    """Feed the data rows to the assembler in chunks; returns the ragged rows (start, end, why)."""
    reader = csv.reader(chain(first, f), delimiter=delimiter)
    ncols = len(headers)
    getters = [(j, itemgetter(j)) for j in plan.needed()]
    ragged: list[tuple[int, int, str]] = []
    rows: list[list[str]] = []
    starts: list[int] = []
    ends: list[int] = []

    def flush() -> None:
        cols = {j: _Cells(text=list(map(get, rows))) for j, get in getters}
        assembler.add(cols, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))
        rows.clear()
        starts.clear()
        ends.clear()

    try:
        next(reader)
        previous = reader.line_num + offset
        for row in reader:
            end = reader.line_num + offset
            start, previous = previous + 1, end
            if len(row) != ncols:
                fitted = _fit(row, headers)
                if fitted is None:
                    if any(c.strip() for c in row):
                        why = f"has {len(row)} fields, the header has {ncols}"
                        ragged.append((start, end, why))
                    continue
                row = fitted
            rows.append(row)
            starts.append(start)
            ends.append(end)
            if len(rows) >= _CHUNK_ROWS:
                flush()
    except csv.Error as exc:
        raise IngestError(
            source,
            f"the CSV cannot be parsed: {exc}",
            "check quoting",
            line=reader.line_num + offset,
        ) from exc
    if rows or not assembler.rows:
        flush()
    return ragged


def _fit(row: list[str], headers: list[str]) -> list[str] | None:
    """A row with trailing empty extras trimmed (or short by unnamed columns padded); None if
    it cannot be lined up with the header."""
    n, ncols = len(row), len(headers)
    if n > ncols and not any(c.strip() for c in row[ncols:]):
        return row[:ncols]
    if 0 < n < ncols and not any(headers[n:]):
        return row + [""] * (ncols - n)
    return None


def _raw_lines(path: Path, gz: bool, encoding: str, spans: list[tuple[int, int]]) -> dict[int, str]:
    """The raw text of the records at (start, end) physical lines, read again from the file."""
    if not spans:
        return {}
    owner: dict[int, int] = {}
    for start, end in spans:
        for k in range(start, end + 1):
            owner[k] = start
    last = max(end for _, end in spans)
    parts: dict[int, list[str]] = {}
    with _open_text(path, gz, encoding) as f:
        for number, line in enumerate(f, 1):
            if number > last:
                break
            first = owner.get(number)
            if first is not None:
                parts.setdefault(first, []).append(line.rstrip("\r\n"))
    return {start: "\n".join(lines) for start, lines in parts.items()}


# ---------------------------------------------------------------------------------------------
# Parquet


def _read_parquet(source: str, path: Path, mapping: ReportMapping) -> ReportSource:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise IngestError(source, f"not a readable Parquet file: {exc}") from exc
    headers = [str(name) for name in table.column_names]
    typed_dates = frozenset(
        j
        for j, f in enumerate(table.schema)
        if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)
    )
    plan = _make_plan(source, path, headers, mapping, typed_dates)
    measure_columns = set(plan.measures.values())
    cols: dict[int, _Cells] = {}
    for j in plan.needed():
        column = table.column(j)
        kind = column.type
        if j == plan.date and j in typed_dates:
            cols[j] = _Cells(days=_arrow_days(column))
        elif j in measure_columns and (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        ):
            numbers = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            cols[j] = _Cells(numbers=np.asarray(numbers, dtype=np.float64))
        else:
            cols[j] = _Cells(text=_arrow_text(column))
    n = table.num_rows
    lines = np.arange(1, n + 1, dtype=np.int64)
    assembler = _Assembler(source, plan, mapping, _Numbers(comma_decimal=False))
    assembler.add(cols, lines, lines)

    def raw(spans: list[tuple[int, int]]) -> dict[int, str]:
        out: dict[int, str] = {}
        for start, _ in spans:
            record = table.slice(start - 1, 1).to_pylist()[0]
            out[start] = ", ".join(f"{k}={'' if v is None else v}" for k, v in record.items())
        return out

    return assembler.finish(raw, [])


def _arrow_days(column: Any) -> npt.NDArray[np.datetime64]:
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        column = pc.local_timestamp(column)  # the calendar date where it was recorded
    days = pc.cast(column, pa.date32()).to_numpy(zero_copy_only=False)
    return np.asarray(days, dtype="datetime64[D]")


def _arrow_text(column: Any) -> list[str]:
    try:
        values = pc.cast(column, pa.string()).to_pylist()
    except (pa.ArrowException, NotImplementedError):
        values = [None if v is None else str(v) for v in column.to_pylist()]
    return ["" if v is None else v for v in values]


# ---------------------------------------------------------------------------------------------
# entry point


def read_report(path: str | Path, mapping: ReportMapping) -> ReportSource:
    """Read one report file (CSV, TSV, optionally gzipped, or Parquet) under `mapping`.

    Raises IngestError when the file cannot be used at all; single bad rows are returned in
    ``rejected`` and the other rows are kept.
    """
    source = str(path)
    p = Path(path)
    if not p.exists():
        near: list[str] = []
        if p.parent.is_dir():
            names = [c.name for c in p.parent.iterdir()]
            near = difflib.get_close_matches(p.name, names, n=1, cutoff=0.6)
        hint = f"did you mean {str(p.parent / near[0])!r}?" if near else "check the path"
        raise IngestError(source, "file not found", hint)
    if p.is_dir():
        raise IngestError(source, "is a directory, not a report file", "pass the file itself")
    name = p.name.casefold()
    gz = name.endswith(".gz")
    base = name.removesuffix(".gz")
    if base.endswith((".parquet", ".pq")) and not gz:
        return _read_parquet(source, p, mapping)
    if base.endswith((".csv", ".tsv", ".txt")):
        return _read_csv(source, p, mapping, gz, tsv=base.endswith(".tsv"))
    suffix = "".join(p.suffixes[-2:]) or "(none)"
    hint = "save it as CSV from Excel" if base.endswith((".xlsx", ".xls")) else ""
    raise IngestError(
        source,
        f"cannot read {suffix} files",
        (hint + "; " if hint else "") + "use .csv or .tsv (optionally .gz) or .parquet",
    )
