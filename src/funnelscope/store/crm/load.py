"""Loading CRM exports into the store: one transaction per file; a later export of a deal
replaces the earlier row; stage history and activities are appended without repeats."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import duckdb
import pyarrow as pa

from funnelscope.model.deals import Activity, Deal, StageChange
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.crm.files import pick_layout, read_crm_file
from funnelscope.store.crm.records import StageRow
from funnelscope.store.crm.tables import create_crm_schema
from funnelscope.store.privacy import ForgottenIds
from funnelscope.store.staging import execute_with_table


@dataclass(frozen=True)
class CrmFileReport:
    source: str
    layout: str
    rows: int
    deals: int
    stage_changes: int
    activities: int
    stages: int
    quarantined: tuple[BadRow, ...] = field(default=())
    repeated: int = 0  # stage changes and activities already in the store
    forgotten: int = 0  # rows of deals or persons forgotten for privacy, skipped

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "layout": self.layout,
            "rows": self.rows,
            "deals": self.deals,
            "stage_changes": self.stage_changes,
            "activities": self.activities,
            "stages": self.stages,
            "already_loaded": self.repeated,
            "forgotten_skipped": self.forgotten,
            "quarantined": len(self.quarantined),
            "quarantined_rows": [bad.to_dict() for bad in self.quarantined[:20]],
        }


def load_crm_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    layout: str | None = None,
    zone: tzinfo = UTC,
    source: str | None = None,
) -> CrmFileReport:
    create_crm_schema(con)
    file = read_crm_file(path)
    chosen = pick_layout(file, layout)
    deals: dict[str, Deal] = {}
    changes: list[StageChange] = []
    activities: list[Activity] = []
    stages: list[StageRow] = []
    bad: list[BadRow] = []
    forgotten = ForgottenIds(con)
    skipped = 0
    for record in chosen.records(file, zone):
        if forgotten and _forgotten(record, forgotten):
            skipped += 1
            continue
        if isinstance(record, Deal):
            deals[record.deal_id] = record  # a deal listed twice: its last row wins
        elif isinstance(record, StageChange):
            changes.append(record)
        elif isinstance(record, Activity):
            activities.append(record)
        elif isinstance(record, StageRow):
            stages.append(record)
        else:
            bad.append(record)
    name = source or str(path)
    con.execute("BEGIN TRANSACTION")
    try:
        load_id = int(_one(con, "SELECT nextval('load_ids')"))
        repeated = _write(con, load_id, list(deals.values()), changes, activities, stages)
        _quarantine(con, load_id, name, bad)
        con.execute(
            "INSERT INTO crm_loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                load_id,
                name,
                chosen.name,
                _now(),
                len(deals),
                len(changes),
                len(activities),
                len(stages),
                len(bad),
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return CrmFileReport(
        name, chosen.name, len(file.rows), len(deals), len(changes), len(activities),
        len(stages), tuple(bad), repeated, skipped,
    )  # fmt: skip


def _forgotten(record: object, forgotten: ForgottenIds) -> bool:
    """A deal of a forgotten person, any row of a forgotten deal, or a bad row naming one."""
    if isinstance(record, BadRow):
        return forgotten.in_text(record.raw)
    if isinstance(record, Deal) and record.person_id is not None and record.person_id in forgotten:
        return True
    deal_id = getattr(record, "deal_id", None)
    return isinstance(deal_id, str) and deal_id in forgotten


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


def _naive(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def _write(
    con: duckdb.DuckDBPyConnection,
    load_id: int,
    deals: Sequence[Deal],
    changes: Sequence[StageChange],
    activities: Sequence[Activity],
    stages: Sequence[StageRow],
) -> int:
    """Write the records; returns how many changes and activities were already stored."""
    if deals:
        table = pa.table(
            {
                "deal_id": [d.deal_id for d in deals],
                "pipeline": [d.pipeline for d in deals],
                "stage": [d.stage for d in deals],
                "status": [d.status.value for d in deals],
                "created_at": pa.array([_naive(d.created_at) for d in deals], pa.timestamp("us")),
                "name": [d.name for d in deals],
                "amount": pa.array([d.amount for d in deals], pa.float64()),
                "currency": [d.currency for d in deals],
                "owner": [d.owner for d in deals],
                "team": [d.team for d in deals],
                "source": [d.source for d in deals],
                "campaign": [d.campaign for d in deals],
                "expected_close": pa.array(
                    [_naive(d.expected_close) for d in deals], pa.timestamp("us")
                ),
                "closed_at": pa.array([_naive(d.closed_at) for d in deals], pa.timestamp("us")),
                "lost_reason": [d.lost_reason for d in deals],
                "person_id": [d.person_id for d in deals],
                "company": [d.company for d in deals],
                "fields": pa.array(
                    [list(d.fields) for d in deals], pa.map_(pa.string(), pa.string())
                ),
            }
        )
        execute_with_table(
            con,
            "_fs_crm_deals",
            table,
            "DELETE FROM crm_deals WHERE deal_id IN (SELECT deal_id FROM _fs_crm_deals)",
        )
        execute_with_table(
            con,
            "_fs_crm_deals",
            table,
            f"INSERT INTO crm_deals SELECT *, {load_id} FROM _fs_crm_deals",
        )
    before = int(_one(con, "SELECT count(*) FROM crm_stage_changes")) + int(
        _one(con, "SELECT count(*) FROM crm_activities")
    )
    if changes:
        table = pa.table(
            {
                "deal_id": [c.deal_id for c in changes],
                "from_stage": pa.array([c.from_stage for c in changes], pa.string()),
                "to_stage": [c.to_stage for c in changes],
                "changed_at": pa.array([_naive(c.changed_at) for c in changes], pa.timestamp("us")),
                "changed_by": pa.array([c.changed_by for c in changes], pa.string()),
            }
        )
        execute_with_table(
            con,
            "_fs_crm_changes",
            table,
            f"""
            INSERT INTO crm_stage_changes
            SELECT DISTINCT n.*, {load_id} FROM _fs_crm_changes n
            WHERE NOT EXISTS (SELECT 1 FROM crm_stage_changes o WHERE o.deal_id = n.deal_id
                AND o.to_stage = n.to_stage AND o.changed_at = n.changed_at
                AND o.from_stage IS NOT DISTINCT FROM n.from_stage)""",
        )
    if activities:
        table = pa.table(
            {
                "deal_id": [a.deal_id for a in activities],
                "kind": [a.kind for a in activities],
                "due_at": pa.array([_naive(a.due_at) for a in activities], pa.timestamp("us")),
                "done_at": pa.array([_naive(a.done_at) for a in activities], pa.timestamp("us")),
                "owner": pa.array([a.owner for a in activities], pa.string()),
            }
        )
        execute_with_table(
            con,
            "_fs_crm_activities",
            table,
            f"""
            INSERT INTO crm_activities
            SELECT DISTINCT n.*, {load_id} FROM _fs_crm_activities n
            WHERE NOT EXISTS (SELECT 1 FROM crm_activities o WHERE o.deal_id = n.deal_id
                AND o.kind = n.kind AND o.due_at IS NOT DISTINCT FROM n.due_at
                AND o.done_at IS NOT DISTINCT FROM n.done_at)""",
        )
    if stages:
        table = pa.table(
            {
                "pipeline": [s.pipeline for s in stages],
                "stage": [s.stage for s in stages],
                "position": pa.array([s.position for s in stages], pa.int32()),
                "kind": [s.kind.value for s in stages],
                "probability": pa.array([s.probability for s in stages], pa.float64()),
            }
        )
        execute_with_table(
            con,
            "_fs_crm_stages",
            table,
            """
            DELETE FROM crm_stages WHERE (pipeline, stage) IN
                (SELECT (pipeline, stage) FROM _fs_crm_stages)""",
        )
        execute_with_table(
            con,
            "_fs_crm_stages",
            table,
            f"INSERT INTO crm_stages SELECT *, {load_id} FROM _fs_crm_stages",
        )
    after = int(_one(con, "SELECT count(*) FROM crm_stage_changes")) + int(
        _one(con, "SELECT count(*) FROM crm_activities")
    )
    return len(changes) + len(activities) - (after - before)


def _quarantine(
    con: duckdb.DuckDBPyConnection, load_id: int, source: str, bad: Sequence[BadRow]
) -> None:
    if not bad:
        return
    now = _now()
    con.executemany(
        "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?)",
        [[source, b.line, b.reason, b.raw, now, load_id] for b in bad],
    )


OnFile = Callable[[CrmFileReport], None]
