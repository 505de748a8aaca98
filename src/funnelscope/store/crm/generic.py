"""funnelscope's own CRM layout: plain CSV files of deals, stage changes, activities and
stages, with the column names of docs/pipeline.md (and the common synonyms below)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, tzinfo

from funnelscope.model.deals import Activity, Deal, StageChange, StageKind
from funnelscope.store.bad_rows import BadRow
from funnelscope.store.crm.cells import (
    CellError,
    parse_amount,
    parse_currency,
    parse_status,
    parse_time,
    text,
)
from funnelscope.store.crm.records import (
    CrmFile,
    CrmRecord,
    Row,
    StageRow,
    bad_row,
    kind_of_stage,
    missing,
    status_from_stage,
)

DEAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "deal_id": ("deal_id", "deal", "opportunity_id", "id"),
    "name": ("name", "deal_name", "title", "opportunity_name"),
    "pipeline": ("pipeline", "pipeline_name"),
    "stage": ("stage", "deal_stage", "stage_name"),
    "amount": ("amount", "value", "deal_value", "revenue", "expected_revenue"),
    "currency": ("currency", "currency_code"),
    "owner": ("owner", "rep", "deal_owner", "salesperson", "sales_rep", "user"),
    "team": ("team", "sales_team"),
    "source": ("source", "lead_source", "channel"),
    "campaign": ("campaign", "utm_campaign"),
    "created_at": ("created_at", "created", "create_date", "created_date", "add_time"),
    "expected_close": ("expected_close", "expected_close_date", "close_date", "expected_closing"),
    "status": ("status", "outcome", "won_lost", "state"),
    "closed_at": ("closed_at", "closed", "close_time", "date_closed", "closed_date"),
    "lost_reason": ("lost_reason", "loss_reason", "reason_lost"),
    "person_id": ("person_id", "contact_id", "person", "distinct_id"),
    "company": ("company", "account", "organization", "organisation"),
}
CHANGE_COLUMNS: dict[str, tuple[str, ...]] = {
    "deal_id": ("deal_id", "deal", "opportunity_id"),
    "from_stage": ("from_stage", "from", "old_stage", "previous_stage"),
    "to_stage": ("to_stage", "to", "new_stage"),
    "changed_at": ("changed_at", "at", "changed", "date", "timestamp", "time"),
    "changed_by": ("changed_by", "by", "user", "author"),
}
ACTIVITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "deal_id": ("deal_id", "deal", "opportunity_id"),
    "kind": ("kind", "type", "activity_type", "activity"),
    "due_at": ("due_at", "due", "due_date", "planned_at"),
    "done_at": ("done_at", "done", "completed_at", "done_date", "completed"),
    "owner": ("owner", "user", "assigned_to", "rep"),
}
STAGE_COLUMNS: dict[str, tuple[str, ...]] = {
    "pipeline": ("pipeline",),
    "stage": ("stage", "stage_name"),
    "position": ("position", "order", "sequence", "sort_order"),
    "kind": ("kind", "stage_kind", "type"),
    "probability": ("probability", "win_probability"),
}


def _has(header: Sequence[str], names: tuple[str, ...]) -> bool:
    return any(name in header for name in names)


class GenericLayout:
    """Which of the four files a header is: stages, stage changes, activities or deals."""

    name = "generic"

    def matches(self, header: Sequence[str]) -> bool:
        return self.kind(header) is not None

    def kind(self, header: Sequence[str]) -> str | None:
        if (
            _has(header, STAGE_COLUMNS["position"])
            and "stage" in header
            and "deal_id" not in header
        ):
            return "stages"
        if not _has(header, DEAL_COLUMNS["deal_id"][:3]):
            return None
        if _has(header, CHANGE_COLUMNS["to_stage"]):
            return "stage_changes"
        if _has(header, ACTIVITY_COLUMNS["due_at"]) or _has(header, ACTIVITY_COLUMNS["done_at"]):
            return "activities"
        if _has(header, DEAL_COLUMNS["stage"]):
            return "deals"
        return None

    def records(self, file: CrmFile, zone: tzinfo = UTC) -> Iterator[CrmRecord | BadRow]:
        kind = self.kind(file.header)
        readers: dict[str, Callable[[CrmFile, Row, tzinfo], CrmRecord]] = {
            "stages": _stage_row,
            "stage_changes": _change,
            "activities": _activity,
            "deals": _deal,
        }
        reader = readers[kind or "deals"]
        for row in file.rows:
            try:
                yield reader(file, row, zone)
            except CellError as error:
                yield bad_row(file, row, error)
            except _Missing as gap:
                yield missing(file, row, gap.field, gap.fix)


class _Missing(Exception):
    def __init__(self, field: str, fix: str) -> None:
        super().__init__(field)
        self.field, self.fix = field, fix


def _cell(row: Row, columns: dict[str, tuple[str, ...]], field: str) -> str | None:
    return text(row.get(*columns[field]))


def _required(row: Row, columns: dict[str, tuple[str, ...]], field: str, fix: str) -> str:
    value = _cell(row, columns, field)
    if value is None:
        raise _Missing(field, fix)
    return value


def _deal(file: CrmFile, row: Row, zone: tzinfo) -> Deal:
    c = DEAL_COLUMNS
    deal_id = _required(row, c, "deal_id", "every deal needs its CRM id")
    stage = _required(row, c, "stage", "write the deal's current stage")
    created = parse_time(row.get(*c["created_at"]), "created_at", zone)
    if created is None:
        raise _Missing("created_at", "write when the deal was created")
    amount, written_currency = parse_amount(row.get(*c["amount"]), "amount")
    currency = parse_currency(row.get(*c["currency"]), "currency") or written_currency
    status = parse_status(row.get(*c["status"]), "status") or status_from_stage(stage)
    used = {name for names in c.values() for name in names if name in row.cells}
    extra = tuple((k, v) for k, v in row.cells.items() if k not in used and text(v) is not None)
    return Deal(
        deal_id=deal_id,
        pipeline=_cell(row, c, "pipeline") or "default",
        stage=stage,
        status=status,
        created_at=created,
        name=_cell(row, c, "name"),
        amount=amount,
        currency=currency,
        owner=_cell(row, c, "owner"),
        team=_cell(row, c, "team"),
        source=_cell(row, c, "source"),
        campaign=_cell(row, c, "campaign"),
        expected_close=parse_time(row.get(*c["expected_close"]), "expected_close", zone),
        closed_at=parse_time(row.get(*c["closed_at"]), "closed_at", zone),
        lost_reason=_cell(row, c, "lost_reason"),
        person_id=_cell(row, c, "person_id"),
        company=_cell(row, c, "company"),
        fields=extra,
    )


def _change(file: CrmFile, row: Row, zone: tzinfo) -> StageChange:
    c = CHANGE_COLUMNS
    at = parse_time(row.get(*c["changed_at"]), "changed_at", zone)
    if at is None:
        raise _Missing("changed_at", "write when the deal changed stage")
    return StageChange(
        deal_id=_required(row, c, "deal_id", "every stage change names its deal"),
        from_stage=_cell(row, c, "from_stage"),
        to_stage=_required(row, c, "to_stage", "write the stage the deal moved to"),
        changed_at=at,
        changed_by=_cell(row, c, "changed_by"),
    )


def _activity(file: CrmFile, row: Row, zone: tzinfo) -> Activity:
    c = ACTIVITY_COLUMNS
    due = parse_time(row.get(*c["due_at"]), "due_at", zone)
    done = parse_time(row.get(*c["done_at"]), "done_at", zone)
    if due is None and done is None:
        raise _Missing("due_at", "an activity needs a due time, a done time or both")
    return Activity(
        deal_id=_required(row, c, "deal_id", "every activity names its deal"),
        kind=_cell(row, c, "kind") or "activity",
        due_at=due,
        done_at=done,
        owner=_cell(row, c, "owner"),
    )


def _stage_row(file: CrmFile, row: Row, zone: tzinfo) -> StageRow:
    c = STAGE_COLUMNS
    stage = _required(row, c, "stage", "name the stage")
    position_text = _required(row, c, "position", "write the stage's place, 1 for the first")
    try:
        position = int(float(position_text))
    except ValueError:
        raise CellError(
            "position",
            position_text,
            f"{position_text!r} is not a whole number",
            "write 1 for the first stage, 2 for the next ...",
        ) from None
    kind_text = (_cell(row, c, "kind") or "").lower()
    try:
        kind = StageKind(kind_text) if kind_text else kind_of_stage(stage)
    except ValueError:
        raise CellError(
            "kind", kind_text, f"{kind_text!r} is not a stage kind", "write open, won or lost"
        ) from None
    probability_text = _cell(row, c, "probability")
    probability = None
    if probability_text is not None:
        try:
            probability = float(probability_text.rstrip("%"))
        except ValueError:
            raise CellError(
                "probability", probability_text, "is not a number", "write 0.25 or 25%"
            ) from None
        if probability_text.endswith("%") or probability > 1:
            probability /= 100
        if not 0 <= probability <= 1:
            raise CellError(
                "probability", probability_text, "is not between 0 and 1", "write 0.25 or 25%"
            )
    return StageRow(_cell(row, c, "pipeline") or "default", stage, position, kind, probability)
