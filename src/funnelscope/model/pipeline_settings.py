"""A sales team's pipeline settings as data: report currency and rates, pipelines' stage order,
follow-up cadences, rotting limits and targets.

Read from one YAML file (``funnelscope pipeline ... --settings pipeline.yaml``) through the
bounded spec loader; every mistake is a :class:`SpecError` naming the key and the fix. Example::

    currency: EUR
    rates: {USD: 0.92}              # 1 USD = 0.92 EUR
    pipelines:
      sales: {stages: [capture, proposal, qualification, closing], won: [won], lost: [lost]}
    cadences:
      hot:  {days: [0, 1, 3, 7], when: {source: [referral, inbound]}}
      slow: {every: 7, until: 90}
    default_cadence: slow
    rotting: {default: 14, proposal: 7}   # days without activity, per stage
    targets:
      - {period: 2026-12, owner: ana, revenue: 50000, deals: 5}
      - {period: 2026-Q4, team: north, revenue: 400000}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from funnelscope.errors import SpecError
from funnelscope.model.deals import Pipeline
from funnelscope.model.spec_files import read_spec_file

DEAL_FIELDS = ("pipeline", "stage", "owner", "team", "source", "campaign", "currency", "company")
_PERIOD = re.compile(r"^(\d{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])))?$")
_MAX_CADENCE_STEPS = 1000


@dataclass(frozen=True)
class Cadence:
    """A follow-up plan: touches on these days after the deal entered its stage (day 0 = that
    day). ``when`` picks the deals it applies to: deal field -> accepted values."""

    name: str
    days: tuple[int, ...]
    when: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def applies_to(self, values: dict[str, str | None]) -> bool:
        return all(values.get(key) in accepted for key, accepted in self.when)


@dataclass(frozen=True)
class Period:
    """A calendar month, quarter or year, as [start, end) in UTC."""

    label: str
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class Target:
    period: Period
    owner: str | None = None
    team: str | None = None
    revenue: float | None = None
    deals: int | None = None

    @property
    def who(self) -> str:
        if self.owner is not None:
            return f"owner {self.owner}"
        if self.team is not None:
            return f"team {self.team}"
        return "everyone"


@dataclass(frozen=True)
class PipelineSettings:
    currency: str | None = None
    rates: tuple[tuple[str, float], ...] = ()
    pipelines: tuple[Pipeline, ...] = ()
    cadences: tuple[Cadence, ...] = ()
    default_cadence: str | None = None
    rotting_days: tuple[tuple[str, int], ...] = ()
    default_rotting_days: int = 14
    targets: tuple[Target, ...] = field(default=())

    def rate(self, currency: str | None) -> float | None:
        """What one unit of ``currency`` is worth in the report currency (None: no rate)."""
        if currency is None or self.currency is None or currency == self.currency:
            return 1.0
        return dict(self.rates).get(currency)

    def rotting_limit(self, stage: str) -> int:
        return dict(self.rotting_days).get(stage, self.default_rotting_days)

    def cadence_for(self, values: dict[str, str | None]) -> Cadence | None:
        for cadence in self.cadences:
            if cadence.when and cadence.applies_to(values):
                return cadence
        by_name = {c.name: c for c in self.cadences}
        if self.default_cadence is not None:
            return by_name[self.default_cadence]
        unconditional = [c for c in self.cadences if not c.when]
        return unconditional[0] if unconditional else None


def parse_period(text: str, where: str = "period") -> Period:
    """``2026``, ``2026-Q4`` or ``2026-12`` as a period."""
    found = _PERIOD.match(text.strip())
    if found is None:
        raise SpecError(where, f"{text!r} is not a period", "write 2026, 2026-Q4 or 2026-12")
    year = int(found.group(1))
    if found.group(2):
        month = int(found.group(2))
        start, months = date(year, month, 1), 1
    elif found.group(3):
        start, months = date(year, 3 * (int(found.group(3)) - 1) + 1, 1), 3
    else:
        start, months = date(year, 1, 1), 12
    end_month = start.month - 1 + months
    end = date(year + end_month // 12, end_month % 12 + 1, 1)
    return Period(
        text.strip(),
        datetime(start.year, start.month, 1, tzinfo=UTC),
        datetime(end.year, end.month, 1, tzinfo=UTC),
    )


def load_settings(path: str | Path) -> PipelineSettings:
    data = read_spec_file(path)
    return parse_settings(data, str(path))


def parse_settings(data: Any, name: str = "settings") -> PipelineSettings:
    if data is None:
        return PipelineSettings()
    if not isinstance(data, dict):
        raise SpecError(name, "the settings must be a mapping", "see docs/pipeline.md")
    known = {"currency", "rates", "pipelines", "cadences", "default_cadence", "rotting", "targets"}
    for key in data:
        if key not in known:
            raise SpecError(str(key), "is not a setting", f"use one of {', '.join(sorted(known))}")
    currency = _text(data.get("currency"), "currency")
    rates = tuple(
        (str(code), _positive(value, f"rates.{code}"))
        for code, value in _mapping(data.get("rates"), "rates").items()
    )
    pipelines = tuple(
        _pipeline(str(pname), spec)
        for pname, spec in _mapping(data.get("pipelines"), "pipelines").items()
    )
    cadences = tuple(
        _cadence(str(cname), spec)
        for cname, spec in _mapping(data.get("cadences"), "cadences").items()
    )
    default_cadence = _text(data.get("default_cadence"), "default_cadence")
    if default_cadence is not None and default_cadence not in {c.name for c in cadences}:
        raise SpecError(
            "default_cadence",
            f"no cadence is named {default_cadence!r}",
            "name one of the cadences",
        )
    rotting = _mapping(data.get("rotting"), "rotting")
    days = {str(k): _whole(v, f"rotting.{k}", minimum=1) for k, v in rotting.items()}
    default_rotting = days.pop("default", 14)
    targets_data = data.get("targets") or []
    if not isinstance(targets_data, list):
        raise SpecError("targets", "must be a list", "write one item per period and owner/team")
    targets = tuple(_target(item, f"targets[{i}]") for i, item in enumerate(targets_data))
    return PipelineSettings(
        currency=currency,
        rates=rates,
        pipelines=pipelines,
        cadences=cadences,
        default_cadence=default_cadence,
        rotting_days=tuple(days.items()),
        default_rotting_days=default_rotting,
        targets=targets,
    )


def _mapping(value: Any, where: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(where, "must be a mapping", "write key: value lines under it")
    return value


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value).strip() == "":
        raise SpecError(where, f"must be a name, got {value!r}", "write a plain word")
    return str(value).strip()


def _names(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    names = tuple(_text(item, where) or "" for item in items)
    if len(set(names)) != len(names):
        raise SpecError(where, "names a stage twice", "list each stage once")
    return names


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise SpecError(where, f"must be a number above 0, got {value!r}", "e.g. 0.92")
    if value == float("inf"):
        raise SpecError(where, "is too large", "write a finite number")
    return float(value)


def _whole(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(
            where, f"must be a whole number of at least {minimum}, got {value!r}", "e.g. 7"
        )
    if value > 100_000:
        raise SpecError(where, f"{value} is too large", "write at most 100000")
    return value


def _pipeline(name: str, spec: Any) -> Pipeline:
    where = f"pipelines.{name}"
    if isinstance(spec, list):
        spec = {"stages": spec}
    spec = _mapping(spec, where)
    for key in spec:
        if key not in ("stages", "won", "lost", "probabilities"):
            raise SpecError(
                f"{where}.{key}",
                "is not a pipeline setting",
                "use stages, won, lost or probabilities",
            )
    stages = _names(spec.get("stages") or [], f"{where}.stages")
    if not stages:
        raise SpecError(f"{where}.stages", "lists no stage", "list the open stages in order")
    won = _names(spec.get("won", ["won"]), f"{where}.won")
    lost = _names(spec.get("lost", ["lost"]), f"{where}.lost")
    if set(stages) & (set(won) | set(lost)) or set(won) & set(lost):
        raise SpecError(
            where,
            "a stage is both open and closing, or both won and lost",
            "list each stage in one place",
        )
    probabilities = tuple(
        (str(stage), _probability(p, f"{where}.probabilities.{stage}"))
        for stage, p in _mapping(spec.get("probabilities"), f"{where}.probabilities").items()
    )
    return Pipeline(name, stages, won, lost, probabilities)


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise SpecError(where, f"must be between 0 and 1, got {value!r}", "e.g. 0.25")
    return float(value)


def _cadence(name: str, spec: Any) -> Cadence:
    where = f"cadences.{name}"
    spec = _mapping(spec, where)
    for key in spec:
        if key not in ("days", "every", "until", "when"):
            raise SpecError(
                f"{where}.{key}",
                "is not a cadence setting",
                "use days, or every and until, and when",
            )
    if "days" in spec:
        if "every" in spec or "until" in spec:
            raise SpecError(where, "has both days and every/until", "use one of them")
        raw = spec["days"]
        if not isinstance(raw, list) or not raw:
            raise SpecError(f"{where}.days", "must list days", "e.g. [0, 1, 3, 7]")
        days = tuple(_whole(d, f"{where}.days") for d in raw)
        if list(days) != sorted(set(days)):
            raise SpecError(f"{where}.days", "must rise", "list each day once, in order")
    elif "every" in spec:
        every = _whole(spec["every"], f"{where}.every", minimum=1)
        until = _whole(spec.get("until", 90), f"{where}.until")
        if until // every + 1 > _MAX_CADENCE_STEPS:
            raise SpecError(where, "plans more than 1000 touches", "raise every or lower until")
        days = tuple(range(0, until + 1, every))
    else:
        raise SpecError(where, "has no days", "write days: [0, 1, 3, 7] or every: 7, until: 90")
    when: list[tuple[str, tuple[str, ...]]] = []
    for key, accepted in _mapping(spec.get("when"), f"{where}.when").items():
        if key not in DEAL_FIELDS:
            raise SpecError(
                f"{where}.when.{key}", "is not a deal field", f"use one of {', '.join(DEAL_FIELDS)}"
            )
        when.append((str(key), _names(accepted, f"{where}.when.{key}")))
    return Cadence(name, days, tuple(when))


def _target(item: Any, where: str) -> Target:
    item = _mapping(item, where)
    for key in item:
        if key not in ("period", "owner", "team", "revenue", "deals"):
            raise SpecError(
                f"{where}.{key}",
                "is not a target field",
                "use period, owner or team, revenue, deals",
            )
    if "period" not in item:
        raise SpecError(f"{where}.period", "is missing", "write e.g. period: 2026-12")
    owner, team = (
        _text(item.get("owner"), f"{where}.owner"),
        _text(item.get("team"), f"{where}.team"),
    )
    if owner is not None and team is not None:
        raise SpecError(where, "names both an owner and a team", "write one target for each")
    revenue = _positive(item["revenue"], f"{where}.revenue") if "revenue" in item else None
    deals = _whole(item["deals"], f"{where}.deals", minimum=1) if "deals" in item else None
    if revenue is None and deals is None:
        raise SpecError(where, "sets neither revenue nor deals", "write revenue: or deals:")
    period = parse_period(str(item["period"]), f"{where}.period")
    return Target(period, owner, team, revenue, deals)
