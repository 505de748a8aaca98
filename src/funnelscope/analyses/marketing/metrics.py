"""Rates and money of a report set, in total, by any dimensions and over time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelscope.analyses.marketing.periods import calendar
from funnelscope.analyses.marketing.report import ReportSet, available, group
from funnelscope.errors import SpecError
from funnelscope.stats.proportions import Proportion, wilson_interval

# Stage keys of the search-marketing funnel -> the names marketers use for cost per unit.
_COST_NAMES = {"impressions": "cpm", "clicks": "cpc", "visits": "cost_per_visit",
               "inquiries": "cost_per_inquiry"}  # fmt: skip
_SINGULAR = {"orders": "order", "visits": "visit", "inquiries": "inquiry", "clicks": "click"}


@dataclass(frozen=True)
class Rate:
    """One stage-to-stage (or overall) rate with its 95% Wilson interval."""

    name: str
    from_stage: str
    to_stage: str
    value: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from": self.from_stage,
            "to": self.to_stage,
            "value": self.value,
            "low": self.low,
            "high": self.high,
        }


@dataclass(frozen=True)
class MetricsRow:
    """Counts, rates and money of one group (all, a dimension value, a period ...)."""

    group: dict[str, str]
    counts: dict[str, float | None]
    """Stage -> count; None where the stage's source lacks a grouping dimension."""
    cost: float | None
    revenue: float | None
    rates: tuple[Rate, ...]
    money: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "counts": self.counts,
            "cost": self.cost,
            "revenue": self.revenue,
            "rates": [r.to_dict() for r in self.rates],
            "money": self.money,
        }


def rate_names(report: ReportSet, names: Mapping[str, str]) -> dict[str, str]:
    """Layer key -> the rate's name (`names` from the knowledge base, else 'visits/clicks')."""
    out = {}
    for before, after in zip(report.stages, report.stages[1:], strict=False):
        out[after] = names.get(after) or f"{after}/{before}"
    return out


def metrics(
    report: ReportSet,
    by: Sequence[str] = (),
    grain: str | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[list[MetricsRow], list[str]]:
    """One row per group of `by` (and per period of `grain`), plus notes on what is missing."""
    known = {d for s in report.sources for d in s.dimensions}
    for dimension in by:
        if dimension not in known:
            raise SpecError(
                "by",
                f"no file has a column {dimension!r}",
                f"use any of: {', '.join(sorted(known))}",
            )
    measures = [*report.stages, *(m for m in ("cost", "revenue") if m in report.provider)]
    usable = [m for m in measures if available(report, m, by)]
    missing = [m for m in measures if m not in usable]
    notes = []
    if missing:
        notes.append(
            f"{', '.join(missing)} not broken down by {', '.join(by)}: "
            f"{', '.join(sorted({report.sources[report.provider[m]].path for m in missing}))} "
            f"ha{'s' if len(missing) == 1 else 've'} no such column"
        )
    if not usable:
        raise SpecError("by", f"no measure can be split by {', '.join(by)}", "pick other columns")
    starts = None
    if grain is not None:
        starts = calendar(report.first_date, report.last_date, grain)
    grouped = group(report, usable, by, starts, grain or "day")
    names = rate_names(report, names or {})
    rows = []
    for i in range(len(grouped.keys)):
        label = {d: report.values[d][int(grouped.keys[i, j])] for j, d in enumerate(by)}
        if starts is not None:
            start = starts[int(grouped.keys[i, -1])]
            label["period"] = str(start)[:7] if grain == "month" else str(start)
        values = {m: float(grouped.sums[m][i]) for m in usable}
        rows.append(_row(report, label, values, names))
    rows.sort(key=lambda row: tuple(str(v).casefold() for v in row.group.values()))
    if not by and grain is None and not rows:
        rows.append(_row(report, {}, dict.fromkeys(usable, 0.0), names))
    return rows, notes


def _row(
    report: ReportSet, label: dict[str, str], values: dict[str, float], names: Mapping[str, str]
) -> MetricsRow:
    counts: dict[str, float | None] = {s: values.get(s) for s in report.stages}
    rates = []
    for before, after in zip(report.stages, report.stages[1:], strict=False):
        rates.append(_rate(names[after], before, after, counts[before], counts[after]))
    top, final = report.stages[0], report.final
    rates.append(_rate("overall", top, final, counts[top], counts[final]))
    cost, revenue = values.get("cost"), values.get("revenue")
    money: dict[str, float | None] = {}
    if "cost" in report.provider:
        for stage in report.stages:
            name = "cpa" if stage == final else _COST_NAMES.get(stage, f"cost_per_{stage}")
            scale = 1000.0 if name == "cpm" else 1.0
            money[name] = _ratio(cost, counts[stage], scale)
    if "revenue" in report.provider:
        money[f"revenue_per_{_SINGULAR.get(final, final)}"] = _ratio(revenue, counts[final])
    if "cost" in report.provider and "revenue" in report.provider:
        money["roas"] = _ratio(revenue, cost)
    return MetricsRow(label, counts, cost, revenue, tuple(rates), money)


def _ratio(top: float | None, bottom: float | None, scale: float = 1.0) -> float | None:
    if top is None or bottom is None or bottom <= 0:
        return None
    return top / bottom * scale


def _rate(name: str, before: str, after: str, n: float | None, k: float | None) -> Rate:
    if n is None or k is None or n <= 0:
        return Rate(name, before, after, None, None, None)
    interval = wilson_interval(Proportion(n, k))
    low, high = interval if interval is not None else (None, None)
    return Rate(name, before, after, k / n, low, high)


def current_totals(report: ReportSet, grain: str, current: int) -> dict[str, float]:
    """Each measure's sum over the last `current` periods."""
    starts = calendar(report.first_date, report.last_date, grain)
    measures = [*report.stages, *(m for m in ("cost", "revenue") if m in report.provider)]
    grouped = group(report, measures, (), starts, grain)
    mask = grouped.keys[:, -1] >= len(starts) - current
    return {m: float(np.asarray(grouped.sums[m])[mask].sum()) for m in measures}
