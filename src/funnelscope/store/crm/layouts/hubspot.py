"""HubSpot: the deals export (CRM > Deals > Export, or the deal properties by internal name) and a
deal-stage property history (one row per property change, only the ``dealstage`` rows read).

HubSpot writes the stages of its default pipeline by internal id in some exports
(``appointmentscheduled`` ... ``closedwon``): those are read as the labels HubSpot shows, so a
deals export with labels and a history with ids name the same stages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, tzinfo

from funnelscope.model.deals import Deal, DealStatus
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.crm.cells import parse_currency
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
    required,
    required_time,
    when,
)
from funnelscope.store.crm.records import CrmFile, CrmRecord, Row, status_from_stage

DEFAULT_STAGES = {
    "appointmentscheduled": "Appointment Scheduled",
    "qualifiedtobuy": "Qualified To Buy",
    "presentationscheduled": "Presentation Scheduled",
    "decisionmakerboughtin": "Decision Maker Bought-In",
    "contractsent": "Contract Sent",
    "closedwon": "Closed Won",
    "closedlost": "Closed Lost",
}
DEFAULT_PIPELINE = {"default": "Sales Pipeline"}

COLUMNS: dict[str, tuple[str, ...]] = {
    "deal_id": ("record_id", "hs_object_id", "deal_id", "dealid", "object_id", "objectid", "id"),
    "name": ("deal_name", "dealname"),
    "stage": ("deal_stage", "dealstage"),
    "pipeline": ("pipeline",),
    "amount": ("amount",),
    "currency": ("currency", "deal_currency_code"),
    "owner": ("deal_owner", "hubspot_owner_id", "owner"),
    "team": ("hubspot_team", "hubspot_team_id"),
    "created_at": ("create_date", "createdate"),
    "close_date": ("close_date", "closedate"),
    "lost_reason": ("closed_lost_reason", "closed_lost_reason_hs", "lost_reason"),
    "source": ("original_source", "original_source_type", "hs_analytics_source"),
    "campaign": ("original_source_drill_down_2", "hs_analytics_source_data_2", "campaign"),
    "company": ("associated_company", "associated_company_primary", "company"),
    "person_id": ("associated_contact", "associated_contact_primary", "contact_id"),
    "is_won": ("is_closed_won", "hs_is_closed_won"),
    "is_closed": ("is_closed", "hs_is_closed"),
}
HISTORY: dict[str, tuple[str, ...]] = {
    "deal_id": COLUMNS["deal_id"],
    "property": ("property", "property_name", "property_internal_name", "internal_name"),
    "value": ("value", "new_value", "property_value"),
    "at": (
        "timestamp",
        "date_changed",
        "change_date",
        "changed_at",
        "updated_at",
        "update_date",
        "date",
        "time",
    ),
    "by": ("updated_by", "source_label", "updated_by_user_id", "updatedbyuserid", "user", "source"),
}
_STAGE_PROPERTIES = frozenset({"dealstage", "deal_stage", "deal stage"})
_ID_ONLY = ("record_id", "hs_object_id", "dealid", "objectid", "object_id")
# columns only HubSpot writes: with them, an older export's "Deal ID" is HubSpot's too
_MARKERS = (
    "closed_lost_reason",
    "closed_won_reason",
    "hubspot_team",
    "original_source",
    "original_source_type",
    "associated_company",
    "is_closed_won",
    "deal_type",
)


def stage_label(value: str) -> str:
    return DEFAULT_STAGES.get(value.strip().lower(), value.strip())


class HubSpotLayout:
    """A HubSpot deals export, or a deal-stage property history."""

    name = "hubspot"

    def matches(self, header: Sequence[str]) -> bool:
        return self.kind(header) is not None

    def kind(self, header: Sequence[str]) -> str | None:
        has_id = has(header, *_ID_ONLY) or ("deal_id" in header and has(header, *_MARKERS))
        long_history = has(header, *HISTORY["property"]) and has(header, *HISTORY["value"])
        if (has_id or "deal_id" in header) and long_history and has(header, *HISTORY["at"]):
            return "history"
        stage = has(header, *COLUMNS["stage"])
        created = has(header, *COLUMNS["created_at"])
        if has_id and stage and has(header, *HISTORY["at"]) and not created:
            return "stage_history"  # record id, deal stage, timestamp: one row per value
        if has_id and stage and created:
            return "deals"
        if "dealstage" in header and "dealname" in header and created:
            return "deals"  # internal property names with an id column of another name
        return None

    def records(self, file: CrmFile, zone: tzinfo = UTC) -> Iterator[CrmRecord | BadRow]:
        kind = self.kind(file.header)
        if kind == "deals":
            yield from each_row(file, lambda row: [_deal(row, zone)])
            return
        snapshots: list[Snapshot] = []

        def snapshot(row: Row) -> Iterable[CrmRecord]:
            found = _snapshot(row, zone, kind == "stage_history")
            if found is not None:
                snapshots.append(found)
            return ()

        yield from each_row(file, snapshot)
        yield from changes_from(snapshots)


def _snapshot(row: Row, zone: tzinfo, wide: bool) -> Snapshot | None:
    if wide:
        value = required(row, COLUMNS["stage"], "dealstage", "write the deal stage of this row")
    else:
        prop = cell(row, HISTORY["property"])
        if prop is None or prop.strip().lower() not in _STAGE_PROPERTIES:
            return None  # another property's history
        value = required(row, HISTORY["value"], "value", "write the stage the deal moved to")
    deal_id = required(row, HISTORY["deal_id"], "deal_id", "every history row names its deal")
    at = required_time(row, HISTORY["at"], "timestamp", zone, "write when the stage was set")
    return Snapshot(deal_id, stage_label(value), at, cell(row, HISTORY["by"]), row.line)


def _status(row: Row, stage: str) -> DealStatus:
    won = flag(row.get(*COLUMNS["is_won"]), "is_closed_won")
    closed = flag(row.get(*COLUMNS["is_closed"]), "is_closed")
    if won:
        return DealStatus.WON
    if closed:
        return DealStatus.LOST
    if closed is False:
        return DealStatus.OPEN
    return status_from_stage(stage)


def _deal(row: Row, zone: tzinfo) -> Deal:
    c = COLUMNS
    deal_id = required(row, c["deal_id"], "record_id", "every deal needs its HubSpot record id")
    stage = stage_label(required(row, c["stage"], "deal_stage", "write the deal's current stage"))
    created = when(row, c["created_at"], "create_date", zone)
    if created is None:
        raise Missing("create_date", "export the Create Date column")
    amount, written = money(row.get(*c["amount"]), "amount")
    currency = parse_currency(row.get(*c["currency"]), "currency") or written
    status = _status(row, stage)
    close = when(row, c["close_date"], "close_date", zone)
    pipeline = cell(row, c["pipeline"]) or "default"
    used = {name for names in c.values() for name in names}
    return Deal(
        deal_id=deal_id,
        pipeline=DEFAULT_PIPELINE.get(pipeline, pipeline),
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
        lost_reason=cell(row, c["lost_reason"]) if status is DealStatus.LOST else None,
        person_id=cell(row, c["person_id"]),
        company=cell(row, c["company"]),
        fields=extras(row, used),
    )
