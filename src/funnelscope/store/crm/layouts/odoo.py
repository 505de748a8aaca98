"""Odoo CRM: the crm.lead export (CRM > Pipeline, list view, select > Action > Export), by field
labels ("Expected Revenue") or technical names (``expected_revenue``, the import-compatible
export), and the crm.stage export (CRM > Configuration > Stages).

Odoo keeps no stage history: the one known move is the lead entering its current stage at its
"Last Stage Update". A lost lead is archived (``active`` false, probability 0) and keeps its
stage: it is read in the closing stage ``lost``, with a move there from the stage it was in at
its "Closed Date". A won lead is in a won stage (named "Won" unless the stage export says
otherwise) or has probability 100. Odoo's stages are shared by the sales teams, so every lead is
in the pipeline ``default``; its sales team is its team."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, tzinfo

from funnelscope.model.deals import Deal, DealStatus, StageChange, StageKind
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.crm.cells import CellError, parse_currency
from funnelscope.store.crm.layouts.common import (
    Missing,
    cell,
    each_row,
    extras,
    flag,
    has,
    money,
    percent,
    required,
    when,
)
from funnelscope.store.crm.records import CrmFile, CrmRecord, Row, StageRow, status_from_stage

PIPELINE = "default"
LOST_STAGE = "lost"
COLUMNS: dict[str, tuple[str, ...]] = {
    "deal_id": ("id", "external_id", "database_id"),
    "name": ("opportunity", "name"),
    "stage": ("stage", "stage_id"),
    "amount": ("expected_revenue", "planned_revenue"),
    "currency": ("currency", "company_currency", "currency_id"),
    "owner": ("salesperson", "user_id"),
    "team": ("sales_team", "team_id"),
    "created_at": ("created_on", "create_date"),
    "expected_close": ("expected_closing", "date_deadline"),
    "lost_reason": ("lost_reason", "lost_reason_id"),
    "active": ("active",),
    "probability": ("probability",),
    "won_status": ("is_won", "won_status"),
    "source": ("source", "source_id"),
    "campaign": ("campaign", "campaign_id"),
    "last_stage_update": ("last_stage_update", "date_last_stage_update"),
    "closed_at": ("closed_date", "date_closed"),
    "company": ("customer", "partner_id", "company_name", "partner_name"),
}
STAGES: dict[str, tuple[str, ...]] = {
    "stage": ("stage_name", "name"),
    "position": ("sequence",),
    "is_won": ("is_won_stage", "is_won"),
}
_LABEL_MARKERS = ("salesperson", "expected_closing", "sales_team", "last_stage_update")


class OdooLayout:
    """An Odoo crm.lead or crm.stage export."""

    name = "odoo"

    def matches(self, header: Sequence[str]) -> bool:
        return self.kind(header) is not None

    def kind(self, header: Sequence[str]) -> str | None:
        if "deal_id" in header:
            return None  # funnelscope's own columns
        if (
            has(header, *STAGES["stage"])
            and "sequence" in header
            and has(header, *STAGES["is_won"])
        ):
            return "stages"
        if "stage_id" in header and has(header, "expected_revenue", "planned_revenue"):
            return "leads"
        if "stage" in header and "opportunity" in header and has(header, *_LABEL_MARKERS):
            return "leads"
        if "stage" in header and "expected_revenue" in header and has(header, *_LABEL_MARKERS):
            return "leads"
        return None

    def records(self, file: CrmFile, zone: tzinfo = UTC) -> Iterator[CrmRecord | BadRow]:
        if self.kind(file.header) == "stages":
            last = -1
            for record in each_row(file, lambda row: [_stage_row(row)]):
                if isinstance(record, StageRow):
                    last = max(last, record.position)
                yield record
            yield StageRow(PIPELINE, LOST_STAGE, last + 1, StageKind.LOST)
        else:
            yield from each_row(file, lambda row: _lead(row, zone))


def _status(row: Row, stage: str) -> DealStatus:
    c = COLUMNS
    written = cell(row, c["won_status"])
    if written is not None:
        word = written.lower()
        if word in ("won", "lost"):
            return DealStatus(word)
        if word in ("pending", "open", "in progress", "ongoing"):
            return DealStatus.OPEN
        raise CellError(
            "won_status",
            written,
            f"{written!r} is not won, lost or pending",
            "write won, lost or pending",
        )
    active = flag(row.get(*c["active"]), "active")
    if active is False:
        return DealStatus.LOST
    probability = percent(row.get(*c["probability"]), "probability", out_of_100=True)
    if probability == 1 or status_from_stage(stage) is DealStatus.WON:
        return DealStatus.WON
    return DealStatus.OPEN


def _lead(row: Row, zone: tzinfo) -> Iterable[CrmRecord]:
    c = COLUMNS
    deal_id = required(row, c["deal_id"], "id", "export the ID (or External ID) field")
    stage = required(row, c["stage"], "stage_id", "write the lead's stage")
    created = when(row, c["created_at"], "create_date", zone)
    if created is None:
        raise Missing("create_date", "export the Created on field")
    amount, written = money(row.get(*c["amount"]), "expected_revenue")
    currency = parse_currency(row.get(*c["currency"]), "currency") or written
    status = _status(row, stage)
    entered = when(row, c["last_stage_update"], "date_last_stage_update", zone)
    closed = when(row, c["closed_at"], "date_closed", zone)
    if status is DealStatus.WON:
        closed = closed or entered
    elif status is DealStatus.OPEN:
        closed = None
    used = {name for names in c.values() for name in names}
    fields = extras(row, used)
    current = stage
    if status is DealStatus.LOST and status_from_stage(stage) is not DealStatus.LOST:
        fields = (*fields, ("stage_at_close", stage))
        current = LOST_STAGE
    deal = Deal(
        deal_id=deal_id,
        pipeline=PIPELINE,
        stage=current,
        status=status,
        created_at=created,
        name=cell(row, c["name"]),
        amount=amount,
        currency=currency,
        owner=cell(row, c["owner"]),
        team=cell(row, c["team"]),
        source=cell(row, c["source"]),
        campaign=cell(row, c["campaign"]),
        expected_close=when(row, c["expected_close"], "date_deadline", zone),
        closed_at=closed,
        lost_reason=cell(row, c["lost_reason"]) if status is DealStatus.LOST else None,
        company=cell(row, c["company"]),
        fields=fields,
    )
    records: list[CrmRecord] = [deal]
    if entered is not None:
        records.append(StageChange(deal_id, None, stage, entered))
    if current != stage and closed is not None:
        records.append(StageChange(deal_id, stage, current, closed))
    return records


def _stage_row(row: Row) -> StageRow:
    stage = required(row, STAGES["stage"], "name", "name the stage")
    position_text = required(row, STAGES["position"], "sequence", "write the stage's sequence")
    try:
        position = int(float(position_text))
    except ValueError:
        raise CellError(
            "sequence", position_text, f"{position_text!r} is not a whole number", "write 1, 2 ..."
        ) from None
    won = flag(row.get(*STAGES["is_won"]), "is_won")
    kind = StageKind.WON if won else StageKind.OPEN
    return StageRow(PIPELINE, stage, position, kind)
