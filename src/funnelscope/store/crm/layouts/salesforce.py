"""Salesforce: the Opportunity object (Data Loader / Data Export, API field names) or an
opportunities report exported with its labels; OpportunityHistory (one snapshot per change of
stage, amount, probability or close date); OpportunityStage (the stage picklist: order, won,
closed, default probability).

Salesforce has one stage list per org (sales processes pick from it), so every opportunity is in
the pipeline ``default``; the record type is kept among the deal's other fields."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, tzinfo

from funnelscope.model.deals import Deal, DealStatus, StageKind
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.crm.cells import CellError, parse_currency
from funnelscope.store.crm.layouts.common import (
    Missing,
    Snapshot,
    cell,
    changes_from,
    each_row,
    extras,
    flag,
    has,
    money,
    percent,
    required,
    required_time,
    when,
)
from funnelscope.store.crm.records import CrmFile, CrmRecord, Row, StageRow, status_from_stage

PIPELINE = "default"
COLUMNS: dict[str, tuple[str, ...]] = {
    "deal_id": ("id", "opportunity_id", "opportunityid", "opportunity_id_18"),
    "name": ("name", "opportunity_name"),
    "stage": ("stagename", "stage"),
    "amount": ("amount",),
    "currency": ("currencyisocode", "opportunity_currency", "amount_currency", "currency"),
    "owner": ("owner_name", "opportunity_owner", "owner_full_name", "ownerid", "owner"),
    "created_at": ("createddate", "created_date"),
    "close_date": ("closedate", "close_date"),
    "is_won": ("iswon", "won"),
    "is_closed": ("isclosed", "closed"),
    "source": ("leadsource", "lead_source"),
    "campaign": ("campaign_name", "campaignid", "primary_campaign_source", "campaign"),
    "company": ("account_name", "accountid"),
    "person_id": ("contactid", "contact_id"),
    "team": ("owner_userrole_name", "owner_role", "territory2_name", "territory"),
}
HISTORY: dict[str, tuple[str, ...]] = {
    "deal_id": ("opportunityid",),
    "stage": ("stagename",),
    "at": ("createddate",),
    "by": ("createdby_name", "createdbyid"),
}
STAGES: dict[str, tuple[str, ...]] = {
    "stage": ("apiname", "masterlabel"),
    "position": ("sortorder",),
    "is_won": ("iswon",),
    "is_closed": ("isclosed",),
    "probability": ("defaultprobability",),
}
_LOST_REASON_WORDS = ("loss_reason", "lost_reason", "reason_lost", "reason_for_loss")
_REPORT_MARKERS = ("opportunity_owner", "account_name", "fiscal_period", "probability")


class SalesforceLayout:
    """Opportunity, OpportunityHistory or OpportunityStage, by their API field names (or an
    opportunities report by its column labels)."""

    name = "salesforce"

    def matches(self, header: Sequence[str]) -> bool:
        return self.kind(header) is not None

    def kind(self, header: Sequence[str]) -> str | None:
        if "opportunityid" in header and "stagename" in header and "createddate" in header:
            return "history"
        if has(header, *STAGES["stage"]) and "sortorder" in header and "isclosed" in header:
            return "stages"
        if "stagename" in header and has(header, "id", "opportunity_id"):
            return "deals"
        if "opportunity_name" in header and "stage" in header and has(header, *_REPORT_MARKERS):
            return "deals"
        return None

    def records(self, file: CrmFile, zone: tzinfo = UTC) -> Iterator[CrmRecord | BadRow]:
        kind = self.kind(file.header)
        if kind == "stages":
            yield from each_row(file, lambda row: [_stage_row(row)])
        elif kind == "history":
            snapshots: list[Snapshot] = []

            def snapshot(row: Row) -> Iterable[CrmRecord]:
                snapshots.append(_snapshot(row, zone))
                return ()

            yield from each_row(file, snapshot)
            yield from changes_from(snapshots)
        else:
            yield from each_row(file, lambda row: [_deal(row, zone)])


def _snapshot(row: Row, zone: tzinfo) -> Snapshot:
    h = HISTORY
    deal_id = required(row, h["deal_id"], "OpportunityId", "every history row names its deal")
    stage = required(row, h["stage"], "StageName", "write the stage of this snapshot")
    at = required_time(row, h["at"], "CreatedDate", zone, "write when the snapshot was taken")
    return Snapshot(deal_id, stage, at, cell(row, h["by"]), row.line)


def _status(row: Row, stage: str) -> DealStatus:
    won = flag(row.get(*COLUMNS["is_won"]), "IsWon")
    closed = flag(row.get(*COLUMNS["is_closed"]), "IsClosed")
    if closed is None:
        return DealStatus.WON if won else status_from_stage(stage)
    if not closed:
        return DealStatus.OPEN
    return DealStatus.WON if won else DealStatus.LOST


def _deal(row: Row, zone: tzinfo) -> Deal:
    c = COLUMNS
    deal_id = required(row, c["deal_id"], "Id", "every opportunity needs its Salesforce Id")
    stage = required(row, c["stage"], "StageName", "write the opportunity's stage")
    created = when(row, c["created_at"], "CreatedDate", zone)
    if created is None:
        raise Missing("CreatedDate", "export the CreatedDate field")
    amount, written = money(row.get(*c["amount"]), "Amount")
    currency = parse_currency(row.get(*c["currency"]), "CurrencyIsoCode") or written
    status = _status(row, stage)
    close = when(row, c["close_date"], "CloseDate", zone)
    reason_columns = [
        name for name in row.cells if any(word in name for word in _LOST_REASON_WORDS)
    ]
    lost_reason = cell(row, reason_columns) if status is DealStatus.LOST else None
    used = {name for names in c.values() for name in names}
    return Deal(
        deal_id=deal_id,
        pipeline=PIPELINE,
        stage=stage,
        status=status,
        created_at=created,
        name=cell(row, c["name"]),
        amount=amount,
        currency=currency,
        owner=cell(row, c["owner"]),
        team=cell(row, c["team"]),
        source=cell(row, c["source"]),
        campaign=cell(row, c["campaign"]),
        expected_close=close if status is DealStatus.OPEN else None,
        closed_at=close if status is not DealStatus.OPEN else None,
        lost_reason=lost_reason,
        person_id=cell(row, c["person_id"]),
        company=cell(row, c["company"]),
        fields=extras(row, used),
    )


def _stage_row(row: Row) -> StageRow:
    s = STAGES
    stage = required(row, s["stage"], "MasterLabel", "name the stage")
    position_text = required(row, s["position"], "SortOrder", "write the stage's place")
    try:
        position = int(float(position_text))
    except ValueError:
        raise CellError(
            "SortOrder", position_text, f"{position_text!r} is not a whole number", "write 1, 2 ..."
        ) from None
    closed = flag(row.get(*s["is_closed"]), "IsClosed")
    won = flag(row.get(*s["is_won"]), "IsWon")
    kind = StageKind.OPEN if not closed else StageKind.WON if won else StageKind.LOST
    probability = percent(row.get(*s["probability"]), "DefaultProbability", out_of_100=True)
    return StageRow(PIPELINE, stage, position, kind, probability)
