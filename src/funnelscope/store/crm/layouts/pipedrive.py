"""Pipedrive: the deals export (Deals list view > ... > Export filter results; columns named
``Deal - Title`` ..., or without the ``Deal - `` prefix) and the deal flow (each deal's change
log from the API's ``/deals/{id}/flow`` or a warehouse sync's ``dealflow`` table, as CSV).

A Pipedrive deal keeps its stage when it is won or lost: the status says so. Such a deal is read
in the closing stage ``won`` or ``lost``, with one stage change from the stage it was in to the
closing stage at its won or lost time (the stage it was in stays in ``stage_at_close``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, tzinfo

from funnelscope.model.deals import Deal, DealStatus, StageChange
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.crm.cells import CellError, parse_currency, parse_status
from funnelscope.store.crm.layouts.common import (
    Missing,
    cell,
    each_row,
    extras,
    has,
    money,
    required,
    required_time,
    when,
)
from funnelscope.store.crm.records import CrmFile, CrmRecord, Row

_FIELDS: dict[str, tuple[str, ...]] = {
    "deal_id": ("id",),
    "name": ("title",),
    "stage": ("stage",),
    "pipeline": ("pipeline",),
    "amount": ("value",),
    "currency": ("currency", "currency_of_value"),
    "status": ("status",),
    "owner": ("owner", "owner_name"),
    "created_at": ("deal_created", "add_time", "created"),
    "won_at": ("won_time",),
    "lost_at": ("lost_time",),
    "closed_at": ("deal_closed_on", "close_time", "closed_on"),
    "expected_close": ("expected_close_date",),
    "lost_reason": ("lost_reason",),
    "source": ("source_channel", "source_origin", "source"),
    "campaign": ("campaign",),
    "company": ("organization", "organization_name", "org_name"),
    "person_id": ("contact_person", "person", "person_name"),
}
# every name with and without the "Deal - " prefix (normalised: "deal_")
COLUMNS: dict[str, tuple[str, ...]] = {
    field: tuple(n for name in names for n in (f"deal_{name}", name))
    for field, names in _FIELDS.items()
}
FLOW: dict[str, tuple[str, ...]] = {
    "deal_id": ("deal_id", "item_id", "deal"),
    "field": ("field_key", "field"),
    "old": ("old_value_formatted", "old_stage", "old_value", "from_stage"),
    "new": ("new_value_formatted", "new_stage", "new_value", "to_stage"),
    "at": ("log_time", "time", "timestamp", "change_time", "changed_at"),
    "by": ("user_name", "user", "user_id", "changed_by"),
}
_FLOW_MARKERS = ("field_key", "log_time", "item_id", "old_value", "new_value")
_UNPREFIXED_MARKERS = ("deal_created", "won_time", "lost_time", "deal_closed_on", "weighted_value")


class PipedriveLayout:
    """A Pipedrive deals export or deal flow."""

    name = "pipedrive"

    def matches(self, header: Sequence[str]) -> bool:
        return self.kind(header) is not None

    def kind(self, header: Sequence[str]) -> str | None:
        if "deal_title" in header and "deal_stage" in header:
            return "deals"
        if "title" in header and "stage" in header and has(header, *_UNPREFIXED_MARKERS):
            return "deals"
        flow = all(has(header, *FLOW[k]) for k in ("deal_id", "old", "new", "at"))
        if flow and has(header, *_FLOW_MARKERS):
            return "flow"
        return None

    def records(self, file: CrmFile, zone: tzinfo = UTC) -> Iterator[CrmRecord | BadRow]:
        if self.kind(file.header) == "flow":
            only_stages = has(file.header, *FLOW["field"])
            yield from each_row(file, lambda row: _flow(row, zone, only_stages))
        else:
            yield from each_row(file, lambda row: _deal(row, zone))


def _flow(row: Row, zone: tzinfo, only_stages: bool) -> Iterable[CrmRecord]:
    if only_stages and (cell(row, FLOW["field"]) or "").lower() not in ("stage_id", "stage"):
        return ()  # a change of another field
    deal_id = required(row, FLOW["deal_id"], "deal_id", "every flow row names its deal")
    new = required(row, FLOW["new"], "new_value", "write the stage the deal moved to")
    at = required_time(row, FLOW["at"], "log_time", zone, "write when the deal moved")
    return [StageChange(deal_id, cell(row, FLOW["old"]), new, at, cell(row, FLOW["by"]))]


def _deal(row: Row, zone: tzinfo) -> Iterable[CrmRecord]:
    c = COLUMNS
    deal_id = required(row, c["deal_id"], "Deal - ID", "every deal needs its Pipedrive id")
    stage = required(row, c["stage"], "Deal - Stage", "write the deal's stage")
    created = when(row, c["created_at"], "Deal - Deal created", zone)
    if created is None:
        raise Missing("Deal - Deal created", "export the Deal created column")
    status_text = cell(row, c["status"])
    if status_text is not None and status_text.lower() == "deleted":
        raise CellError(
            "Deal - Status", status_text, "the deal is deleted", "leave deleted deals out"
        )
    status = parse_status(status_text, "Deal - Status") or DealStatus.OPEN
    amount, written = money(row.get(*c["amount"]), "Deal - Value")
    currency = parse_currency(row.get(*c["currency"]), "Deal - Currency") or written
    won_at = when(row, c["won_at"], "Deal - Won time", zone)
    lost_at = when(row, c["lost_at"], "Deal - Lost time", zone)
    closed_at = when(row, c["closed_at"], "Deal - Deal closed on", zone)
    if status is DealStatus.WON:
        closed_at = won_at or closed_at
    elif status is DealStatus.LOST:
        closed_at = lost_at or closed_at
    else:
        closed_at = None
    used = {name for names in c.values() for name in names}
    fields = extras(row, used)
    current = stage
    if status is not DealStatus.OPEN:
        fields = (*fields, ("stage_at_close", stage))
        current = status.value
    deal = Deal(
        deal_id=deal_id,
        pipeline=cell(row, c["pipeline"]) or "default",
        stage=current,
        status=status,
        created_at=created,
        name=cell(row, c["name"]),
        amount=amount,
        currency=currency,
        owner=cell(row, c["owner"]),
        source=cell(row, c["source"]),
        campaign=cell(row, c["campaign"]),
        expected_close=when(row, c["expected_close"], "Deal - Expected close date", zone),
        closed_at=closed_at,
        lost_reason=cell(row, c["lost_reason"]) if status is DealStatus.LOST else None,
        person_id=cell(row, c["person_id"]),
        company=cell(row, c["company"]),
        fields=fields,
    )
    if closed_at is None or current == stage:
        return [deal]
    return [deal, StageChange(deal_id, stage, current, closed_at)]
