"""Reading the pipeline back from the store as :class:`CrmData`, with each pipeline's stage order:
from the settings, else from the stages an export defined, else learned from the history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from funnelscope.model.deals import (
    Activity,
    CrmData,
    Deal,
    DealStatus,
    Pipeline,
    StageChange,
    StageKind,
)
from funnelscope.store.crm.records import kind_of_stage
from funnelscope.store.crm.tables import create_crm_schema


def read_crm(con: duckdb.DuckDBPyConnection, pipelines: Sequence[Pipeline] = ()) -> CrmData:
    if not _has_tables(con):
        return CrmData((), (), (), tuple(pipelines))
    deals = tuple(_deals(con))
    changes = tuple(
        StageChange(str(d), None if f is None else str(f), str(t), _aware(at), by)
        for d, f, t, at, by in con.execute(
            "SELECT deal_id, from_stage, to_stage, changed_at, changed_by FROM crm_stage_changes "
            "ORDER BY changed_at, load_id, deal_id"
        ).fetchall()
    )
    activities = tuple(
        Activity(str(d), str(k), _maybe(due), _maybe(done), owner)
        for d, k, due, done, owner in con.execute(
            "SELECT deal_id, kind, due_at, done_at, owner FROM crm_activities "
            "ORDER BY deal_id, coalesce(done_at, due_at), kind"
        ).fetchall()
    )
    known = {p.name: p for p in pipelines}
    defined = _defined_pipelines(con)
    names = sorted({d.pipeline for d in deals} | set(defined) | set(known))
    resolved = []
    for name in names:
        if name in known:
            resolved.append(known[name])
        elif name in defined:
            resolved.append(defined[name])
        else:
            resolved.append(learn_pipeline(name, deals, changes))
    return CrmData(deals, changes, activities, tuple(resolved))


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    sql = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'crm_deals'"
    return bool(con.execute(sql).fetchall()[0][0])


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    create_crm_schema(con)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def _maybe(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def _deals(con: duckdb.DuckDBPyConnection) -> list[Deal]:
    rows = con.execute(
        "SELECT deal_id, pipeline, stage, status, created_at, name, amount, currency, owner, team, "
        "source, campaign, expected_close, closed_at, lost_reason, person_id, company, fields "
        "FROM crm_deals ORDER BY deal_id"
    ).fetchall()
    deals = []
    for row in rows:
        (
            deal_id,
            pipeline,
            stage,
            status,
            created,
            name,
            amount,
            currency,
            owner,
            team,
            source,
            campaign,
            expected,
            closed,
            reason,
            person,
            company,
            fields,
        ) = row
        extra = tuple(sorted((str(k), str(v)) for k, v in (fields or {}).items()))
        deals.append(
            Deal(
                str(deal_id),
                str(pipeline),
                str(stage),
                DealStatus(status),
                _aware(created),
                name,
                amount,
                currency,
                owner,
                team,
                source,
                campaign,
                _maybe(expected),
                _maybe(closed),
                reason,
                person,
                company,
                extra,
            )
        )
    return deals


def _defined_pipelines(con: duckdb.DuckDBPyConnection) -> dict[str, Pipeline]:
    rows = con.execute(
        "SELECT pipeline, stage, kind, probability FROM crm_stages "
        "ORDER BY pipeline, position, stage"
    ).fetchall()
    grouped: dict[str, list[tuple[str, str, float | None]]] = defaultdict(list)
    for pipeline, stage, kind, probability in rows:
        grouped[str(pipeline)].append((str(stage), str(kind), probability))
    pipelines = {}
    for name, stages in grouped.items():
        pipelines[name] = Pipeline(
            name,
            tuple(s for s, k, _ in stages if k == StageKind.OPEN.value),
            tuple(s for s, k, _ in stages if k == StageKind.WON.value),
            tuple(s for s, k, _ in stages if k == StageKind.LOST.value),
            tuple((s, float(p)) for s, _, p in stages if p is not None),
        )
    return pipelines


def learn_pipeline(name: str, deals: Sequence[Deal], changes: Sequence[StageChange]) -> Pipeline:
    """A pipeline's open stages ordered by the history: stage A comes before B when more deals
    entered A before B than B before A; stages are ranked by how many others they precede
    (ties by name). Won and lost stages are recognised by their names (won, closed won ...)."""
    members = {d.deal_id for d in deals if d.pipeline == name}
    stages = {d.stage for d in deals if d.pipeline == name}
    entries: dict[str, list[str]] = defaultdict(list)
    for change in sorted(changes, key=lambda c: c.changed_at):
        if change.deal_id in members:
            stages.update(s for s in (change.from_stage, change.to_stage) if s is not None)
            seen = entries[change.deal_id]
            for stage in (change.from_stage, change.to_stage):
                if stage is not None and stage not in seen:
                    seen.append(stage)
    open_stages = sorted(s for s in stages if kind_of_stage(s) is StageKind.OPEN)
    before: dict[tuple[str, str], int] = defaultdict(int)
    for seen in entries.values():
        for i, first in enumerate(seen):
            for later in seen[i + 1 :]:
                before[first, later] += 1
    wins = {
        s: sum(1 for o in open_stages if o != s and before[s, o] > before[o, s])
        for s in open_stages
    }
    ordered = tuple(sorted(open_stages, key=lambda s: (-wins[s], s)))
    won = tuple(sorted(s for s in stages if kind_of_stage(s) is StageKind.WON)) or ("won",)
    lost = tuple(sorted(s for s in stages if kind_of_stage(s) is StageKind.LOST)) or ("lost",)
    return Pipeline(name, ordered, won, lost)
