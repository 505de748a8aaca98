"""Report columns: which header holds which stage, measure, date or dimension.

The synonym tables, the rules that set rates, ids and unused counts aside, and the column
plan of one file (:func:`make_plan`), with a note for every decision it takes."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from funnelscope.errors import IngestError


def word_tuple(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


MONEY: Final = ("cost", "revenue")

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
_RATE_TOKENS: Final = word_set(
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
_OTHER_COUNTS: Final = word_set(
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

_NOT_DATES: Final = word_set(
    """
    weekday day_of_week dayofweek hour_of_day day_of_month time_on_page time_on_site
    time_spent time_zone timezone
    """
)
_NON_ALNUM = re.compile(r"[\W_]+")


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


def quoted(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


def flag_for(key: str) -> str:
    return f"--{key} " if key in MONEY else f"--stage {key}="


def one_unit(key: str) -> str:
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


class Vocabulary:
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
class ColumnPlan:
    headers: list[str]
    date: int
    dims: list[tuple[str, int]]  # canonical name, column index
    measures: dict[str, int]  # measure key -> column index
    counted: str | None
    notes: list[str]

    def needed(self) -> list[int]:
        return sorted({self.date, *(j for _, j in self.dims), *self.measures.values()})


def find_column(source: str, name: str, headers: list[str], flag: str) -> int:
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
        f"{hint}the columns are {quoted(headers)}",
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


def make_plan(
    source: str,
    path: Path,
    headers: list[str],
    mapping: ReportMapping,
    typed_dates: frozenset[int] = frozenset(),
) -> ColumnPlan:
    vocab = Vocabulary(mapping)
    norms = [_normalise(h) for h in headers]
    allowed = (*mapping.stages, *MONEY)
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
            j = find_column(source, name, headers, f'{flag_for(key)}"{name}"')
        except IngestError:
            if mapping.optional_columns:
                continue
            raise
        explicit[key] = j
        claimed[j] = key
    date_index: int | None = None
    if mapping.date_column is not None:
        try:
            date_index = find_column(
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
                f'choose one with {flag_for(key)}"{first}"',
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
                f"no date column (columns: {quoted(headers)})",
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
            f"one {one_unit(counted)}"
        )
    if counted is None and not any(key in mapping.stages for key in measures):
        counted = _stem_stage(path, mapping)
    if counted is None and not measures:
        stage = mapping.stages[0] if mapping.stages else "visits"
        example = next((headers[j] for j in rest if j != date_index), None)
        raise IngestError(
            source,
            "no column holds a count of any stage "
            f"({', '.join(mapping.stages)}), nor cost or revenue (columns: {quoted(headers)})",
            (f'name one with --stage {stage}="{example}", or ' if example else "")
            + f"if each row is one {one_unit(stage)} use --count-rows {path.name}={stage}",
        )

    for key, j in measures.items():
        if j in claimed or norms[j] != key:
            notes.append(f"column {headers[j]!r} read as {key}")
    if counted is not None:
        notes.append(f"each row counts as one {one_unit(counted)}")
    if rates:
        notes.append(
            f"ignored rate and average columns {quoted(rates)} (rates are computed from the counts)"
        )
    if unused:
        notes.append(
            f"ignored columns {quoted(unused)}: counts this template does not use "
            f'(name one with --stage KEY="{unused[0]}")'
        )
    if ids:
        notes.append(f"id columns {quoted(ids)} are not used as dimensions")
    if unnamed:
        notes.append(f"ignored {unnamed} column{'s' * (unnamed != 1)} without a name")
    return ColumnPlan(headers, date_index, dims, measures, counted, notes)


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
