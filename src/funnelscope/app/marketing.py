"""Marketing use cases: report metrics, diagnose and what-if, from report files or (for
diagnose and what-if) from one event-funnel spec computed over the store.

The options dataclasses hold the values as a user gives them (``"visits=Sessions"``,
``"10%"``); errors name the command-line flag they come from, since that is how users give them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funnelscope.engines import DEFAULT_ENGINE
from funnelscope.errors import SpecError

if TYPE_CHECKING:
    from funnelscope.analyses.marketing.cells import DiagnosisInput
    from funnelscope.analyses.marketing.diagnosis import Diagnosis
    from funnelscope.analyses.marketing.knowledge import KnowledgeBase
    from funnelscope.analyses.marketing.leaks import DiagnoseOptions
    from funnelscope.analyses.marketing.metrics import MetricsRow
    from funnelscope.analyses.marketing.ranges import ReferenceRange
    from funnelscope.analyses.marketing.report import ReportSet
    from funnelscope.analyses.marketing.whatif import WhatIf
    from funnelscope.model.spec import Funnel
    from funnelscope.store.bad_rows import BadRow

__all__ = [
    "DEFAULT_BASELINE",
    "DEFAULT_CURRENT",
    "DEFAULT_DB",
    "DiagnoseSettings",
    "ReportMetrics",
    "ReportReading",
    "WhatIfOutcome",
    "canonical_dimension",
    "diagnose",
    "layer_guidance",
    "load_reports",
    "percent_value",
    "report_metrics",
    "what_if",
]

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_CURRENT = {"day": 28, "week": 4, "month": 1}
DEFAULT_BASELINE = {"day": 56, "week": 8, "month": 3}
DEFAULT_DB = "funnelscope.duckdb"


@dataclass(frozen=True)
class ReportReading:
    """How report files are read and joined (the report flags of report, diagnose and whatif)."""

    template: str = "search-marketing"
    join: str | None = None
    """Columns that match rows across files besides the date, comma-separated."""
    stage_columns: Sequence[str] = ()
    """``STAGE=COLUMN`` each: read a stage from this column."""
    cost_column: str | None = None
    revenue_column: str | None = None
    date_column: str | None = None
    date_format: str | None = None
    count_rows: Sequence[str] = ()
    """``FILE=STAGE`` each: every row of FILE counts one of STAGE."""
    drop: Sequence[str] = ()
    """``FILE:MEASURE`` each: ignore a measure in one file."""
    delimiter: str | None = None


@dataclass(frozen=True)
class DiagnoseSettings:
    """The comparison window, the references and the leak thresholds of a diagnosis."""

    period: str = "week"
    current: int | None = None
    """Latest periods judged; None: 4 weeks, 28 days or 1 month."""
    baseline: int | None = None
    """Periods before those that are each segment's own history; None: 8 weeks, 56 days or 3
    months."""
    by: str | None = None
    """Only these dimensions (or, for a spec, event properties), comma-separated."""
    ranges: Sequence[str] = ()
    """YAML files of typical ranges per layer, over the shipped ones."""
    no_default_ranges: bool = False
    knowledge: Sequence[str] = ()
    """YAML files of your own causes and actions per layer."""
    min_gap: str = "10%"
    alpha: float = 0.05
    include_insignificant: bool = False
    value_per_conversion: float | None = None
    """For a funnel spec: revenue per final conversion."""


@dataclass(frozen=True)
class ReportMetrics:
    """Rates and money of a report funnel: the report set read, one row per group, notes."""

    report: ReportSet
    rows: tuple[MetricsRow, ...]
    notes: tuple[str, ...]

    @property
    def rejected(self) -> tuple[BadRow, ...]:
        """Every input row that was not counted, file by file."""
        return tuple(r for s in self.report.sources for r in s.rejected)

    def to_dict(self) -> dict[str, Any]:
        """As `funnelscope report --format json` writes it."""
        return {
            "stages": list(self.report.stages),
            "rows": [row.to_dict() for row in self.rows],
            "notes": list(self.notes),
            "unmatched": [u.text() for u in self.report.unmatched],
            "rejected_rows": [r.to_dict() for r in self.rejected],
        }


@dataclass(frozen=True)
class WhatIfOutcome:
    """A what-if and the diagnosis input it changed (for stage labels and units)."""

    result: WhatIf
    data: DiagnosisInput


# ---------------------------------------------------------------------------------------------
# parsing the values users give


def _pairs(raw: Sequence[str], flag: str, sep: str = "=") -> list[tuple[str, str]]:
    out = []
    for text in raw:
        left, found, right = text.partition(sep)
        if not found or not left.strip() or not right.strip():
            example = {"=": "visits=Sessions", ":": "analytics.csv:clicks"}[sep]
            raise SpecError(flag, f"{text!r} is not LEFT{sep}RIGHT", f"write e.g. {flag} {example}")
        out.append((left.strip(), right.strip()))
    return out


def _names(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [canonical_dimension(part) for part in raw.split(",") if part.strip()]


def canonical_dimension(name: str) -> str:
    """A report column name as the dimension the readers call it ('Campaign name' -> campaign)."""
    from funnelscope.store.reports import DIMENSION_SYNONYMS

    key = re.sub(r"[^0-9a-z]+", "_", name.strip().casefold()).strip("_")
    return DIMENSION_SYNONYMS.get(key, key)


def percent_value(text: str, flag: str) -> float:
    """'10%' or '0.1' -> 0.1; '-5%' -> -0.05."""
    raw = text.strip()
    try:
        return float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise SpecError(flag, f"{text!r} is not a percentage", "write e.g. 10% or 0.1") from None


def _is_spec(inputs: Sequence[str] | Funnel) -> bool:
    if not isinstance(inputs, Sequence):  # a parsed funnel spec (the web face's)
        return True
    specs = [p for p in inputs if Path(p).suffix.lower() in SPEC_SUFFIXES]
    if specs and len(inputs) > 1:
        raise SpecError(
            "inputs", "give one funnel spec, or report files, not both", f"got {', '.join(inputs)}"
        )
    return bool(specs)


# ---------------------------------------------------------------------------------------------
# use cases


def load_reports(paths: Sequence[str], reading: ReportReading | None = None) -> ReportSet:
    """The report set of the files, read and joined as `reading` says."""
    from funnelscope.analyses.marketing.report import load_report_set
    from funnelscope.model.templates import get_template
    from funnelscope.store.reports import ReportMapping

    reading = reading or ReportReading()
    model = get_template(reading.template)
    columns = dict(_pairs(reading.stage_columns, "--stage"))
    for stage in columns:
        _check_stage(stage, model.stage_keys, model.name, "--stage")
    for measure, column in (("cost", reading.cost_column), ("revenue", reading.revenue_column)):
        if column:
            columns[measure] = column
    count_rows = {}
    for file, stage in _pairs(reading.count_rows, "--count-rows"):
        _check_stage(stage, model.stage_keys, model.name, "--count-rows")
        count_rows[file] = stage
    drop: dict[str, list[str]] = {}
    for file, measure in _pairs(reading.drop, "--drop", ":"):
        drop.setdefault(file, []).append(measure)
    mapping = ReportMapping(
        stages=model.stage_keys,
        stage_labels={s.key: s.label for s in model.stages},
        columns=columns,
        date_column=reading.date_column,
        count_rows=count_rows,
        delimiter=reading.delimiter,
        date_format=reading.date_format,
    )
    return load_report_set(paths, mapping, model.name, _names(reading.join), drop)


def _check_stage(stage: str, keys: Sequence[str], template: str, flag: str) -> None:
    if stage not in keys:
        raise SpecError(flag, f"{stage!r} is not a stage of {template}", f"use {', '.join(keys)}")


def report_metrics(
    paths: Sequence[str],
    reading: ReportReading | None = None,
    by: str | None = None,
    period: str | None = None,
) -> ReportMetrics:
    """Stage-to-stage rates with intervals and money, in total, by columns and by period."""
    from funnelscope.analyses.marketing.knowledge import load_knowledge
    from funnelscope.analyses.marketing.metrics import metrics

    report = load_reports(paths, reading)
    names = {key: layer.rate for key, layer in load_knowledge().layers.items() if layer.rate}
    rows, notes = metrics(report, tuple(_names(by) or ()), period, names)
    return ReportMetrics(report, tuple(rows), (*report.notes, *notes))


def diagnose(
    inputs: Sequence[str] | Funnel,
    reading: ReportReading | None = None,
    settings: DiagnoseSettings | None = None,
    *,
    db_path: str | Path = DEFAULT_DB,
    engine: str = DEFAULT_ENGINE,
) -> Diagnosis:
    """Where the funnel of report files, or of one funnel spec (a file, or parsed) over the
    store, leaks most."""
    diagnosis, _ = _diagnose(inputs, reading, settings, db_path, engine)
    return diagnosis


def what_if(
    inputs: Sequence[str] | Funnel,
    step: str,
    *,
    lift: str | None = None,
    to_reference: bool = False,
    segment: str | None = None,
    spend: float | None = None,
    reading: ReportReading | None = None,
    settings: DiagnoseSettings | None = None,
    db_path: str | Path = DEFAULT_DB,
    engine: str = DEFAULT_ENGINE,
) -> WhatIfOutcome:
    """The final conversions, revenue and CPA if one rate changed by `lift` (``"10%"``), or if
    its leaks were brought to their reference (`to_reference`), optionally in one segment
    (``"campaign=Spring"``). Reports use their own cost; a spec uses `spend`."""
    from funnelscope.analyses.marketing.metrics import current_totals
    from funnelscope.analyses.marketing.whatif import what_if as change_rate

    if (lift is None) == (not to_reference):
        raise SpecError("--lift", "give either --lift or --to-reference", "e.g. --lift 10%")
    spec_mode = _is_spec(inputs)
    parsed_segment = None
    if segment:
        [(dimension, value)] = _pairs([segment], "--segment")
        parsed_segment = {(canonical_dimension(dimension) if not spec_mode else dimension): value}
    settings = settings or DiagnoseSettings()
    grain = settings.period
    current = DEFAULT_CURRENT[grain] if settings.current is None else settings.current
    diagnosis, report = _diagnose(inputs, reading, settings, db_path, engine)
    data = diagnosis.input
    assert data is not None
    cost = spend
    if report is not None and "cost" in report.provider:
        cost = current_totals(report, grain, current)["cost"]
    result = change_rate(
        data,
        step,
        lift=None if lift is None else percent_value(lift, "--lift"),
        leaks=diagnosis.leaks,
        segment=parsed_segment,
        cost=cost,
    )
    return WhatIfOutcome(result, data)


def layer_guidance() -> tuple[KnowledgeBase, dict[str, ReferenceRange]]:
    """The shipped causes and actions per layer and the shipped typical ranges."""
    from funnelscope.analyses.marketing.knowledge import load_knowledge
    from funnelscope.analyses.marketing.ranges import load_ranges

    return load_knowledge(), load_ranges()


# ---------------------------------------------------------------------------------------------
# the diagnosis of reports or of a spec


def _options(settings: DiagnoseSettings) -> DiagnoseOptions:
    from funnelscope.analyses.marketing.leaks import DiagnoseOptions
    from funnelscope.analyses.marketing.ranges import load_ranges

    ranges = load_ranges(settings.ranges, use_defaults=not settings.no_default_ranges)
    return DiagnoseOptions(
        alpha=settings.alpha,
        min_gap=percent_value(settings.min_gap, "--min-gap"),
        ranges=ranges,
        include_insignificant=settings.include_insignificant,
    )


def _diagnose(
    inputs: Sequence[str] | Funnel,
    reading: ReportReading | None,
    settings: DiagnoseSettings | None,
    db_path: str | Path,
    engine: str,
) -> tuple[Diagnosis, ReportSet | None]:
    """The diagnosis, and the report set when the inputs are report files."""
    reading = reading or ReportReading()
    settings = settings or DiagnoseSettings()
    from funnelscope.analyses.marketing.diagnosis import (
        diagnose_funnel,
        diagnose_report,
        last_funnel_event_us,
    )
    from funnelscope.analyses.marketing.knowledge import load_knowledge

    knowledge = load_knowledge(settings.knowledge)
    options = _options(settings)
    grain = settings.period
    current = DEFAULT_CURRENT[grain] if settings.current is None else settings.current
    baseline = DEFAULT_BASELINE[grain] if settings.baseline is None else settings.baseline
    if not _is_spec(inputs):
        assert isinstance(inputs, Sequence)
        report = load_reports(inputs, reading)
        diagnosis = diagnose_report(
            report, knowledge, options, grain, current, baseline, _names(settings.by)
        )
        return diagnosis, report
    for flag, given in (("--stage", reading.stage_columns), ("--count-rows", reading.count_rows)):
        if given:
            raise SpecError(flag, "is for report files, not a funnel spec", f"remove {flag}")
    from funnelscope.analyses.funnel import run_funnel
    from funnelscope.app.events import open_store
    from funnelscope.model.spec import load_funnel

    spec = load_funnel(Path(inputs[0])) if isinstance(inputs, Sequence) else inputs
    funnel = _with_segments(spec, settings.by)
    with open_store(str(db_path)) as store:
        result = run_funnel(funnel, store, engine, person_ids=False)
        diagnosis = diagnose_funnel(
            funnel,
            result,
            knowledge,
            options,
            grain,
            current,
            baseline,
            settings.value_per_conversion,
            last_funnel_event_us(funnel, store),
        )
        return diagnosis, None


def _with_segments(funnel: Funnel, by: str | None) -> Funnel:
    from funnelscope.model.spec import Breakdown

    if by is None:
        return funnel
    names = tuple(part.strip() for part in by.split(",") if part.strip())
    if len(names) > 3:
        raise SpecError("--by", f"{len(names)} properties", "a funnel spec takes up to 3")
    return replace(funnel, breakdown=Breakdown(properties=names, limit=1_000_000))
