"""The sales pipeline's data as plain values: deals, their stage history, activities, pipelines.

No I/O here: `funnelscope.store.crm` loads these from CRM exports into the store and reads them
back as a :class:`CrmData`; `funnelscope.analyses.pipeline` computes over it. Every time is an
aware UTC ``datetime``; amounts keep the currency they were sold in (conversion happens in the
analyses, with the rates of the pipeline settings).

A deal's **status** is ``open``, ``won`` or ``lost``. Its stage history is append-only: one
:class:`StageChange` per move, ``from_stage`` None for the stage a deal was created in. A deal
that was won or lost and then moved to an open stage again is *reopened*: its status is the
export's current one and the history keeps every move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class StageKind(StrEnum):
    """Where a stage sits: one of the ordered open stages, or a closing stage."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class Pipeline:
    """One pipeline's stages: the open stages in funnel order, then its won and lost stages.

    ``probabilities`` holds the win probability a CRM states for a stage (0-1), when the export
    carries one; the forecast learns its own and shows these beside them.
    """

    name: str
    stages: tuple[str, ...]
    won_stages: tuple[str, ...] = ("won",)
    lost_stages: tuple[str, ...] = ("lost",)
    probabilities: tuple[tuple[str, float], ...] = ()

    def kind(self, stage: str) -> StageKind | None:
        """The stage's kind, or None for a stage this pipeline does not have."""
        if stage in self.stages:
            return StageKind.OPEN
        if stage in self.won_stages:
            return StageKind.WON
        if stage in self.lost_stages:
            return StageKind.LOST
        return None

    def position(self, stage: str) -> int | None:
        """0-based place of an open stage; won stages come after every open stage; lost and
        unknown stages have no place (None)."""
        if stage in self.stages:
            return self.stages.index(stage)
        if stage in self.won_stages:
            return len(self.stages)
        return None

    @property
    def all_stages(self) -> tuple[str, ...]:
        return (*self.stages, *self.won_stages, *self.lost_stages)


@dataclass(frozen=True)
class Deal:
    deal_id: str
    pipeline: str
    stage: str
    status: DealStatus
    created_at: datetime
    name: str | None = None
    amount: float | None = None
    currency: str | None = None
    owner: str | None = None
    team: str | None = None
    source: str | None = None
    campaign: str | None = None
    expected_close: datetime | None = None
    closed_at: datetime | None = None
    lost_reason: str | None = None
    person_id: str | None = None
    company: str | None = None
    fields: tuple[tuple[str, str], ...] = ()  # the export's other columns, for lead scoring


@dataclass(frozen=True)
class StageChange:
    deal_id: str
    from_stage: str | None
    to_stage: str
    changed_at: datetime
    changed_by: str | None = None


@dataclass(frozen=True)
class Activity:
    """A follow-up: planned (``due_at``), done (``done_at``) or both."""

    deal_id: str
    kind: str
    due_at: datetime | None
    done_at: datetime | None
    owner: str | None = None


@dataclass(frozen=True)
class CrmData:
    """Everything the pipeline analyses read, as loaded from the store."""

    deals: tuple[Deal, ...]
    changes: tuple[StageChange, ...]
    activities: tuple[Activity, ...]
    pipelines: tuple[Pipeline, ...]
    _by_id: dict[str, Deal] = field(default_factory=dict, compare=False, repr=False)
    memo: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
    """Values derived from this data once and read by several analyses (each deal's journey);
    the data is frozen, so they never go stale."""

    def __post_init__(self) -> None:
        self._by_id.update((deal.deal_id, deal) for deal in self.deals)

    def deal(self, deal_id: str) -> Deal | None:
        return self._by_id.get(deal_id)

    def pipeline(self, name: str) -> Pipeline | None:
        return next((p for p in self.pipelines if p.name == name), None)

    def history(self) -> dict[str, list[StageChange]]:
        """Each deal's stage changes in time order (ties keep the export's order); computed
        once, and the lists are shared: do not change them."""
        cached = self.memo.get("history")
        if isinstance(cached, dict):
            return cached
        by_deal: dict[str, list[StageChange]] = {}
        for change in sorted(self.changes, key=lambda c: c.changed_at):
            by_deal.setdefault(change.deal_id, []).append(change)
        self.memo["history"] = by_deal
        return by_deal
