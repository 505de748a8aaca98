"""The CRM export layouts (HubSpot, Salesforce, Pipedrive, Odoo): each fixture under
tests/data/crm/ is recognised by its columns with no --layout flag, loads the exact deals and
stage changes, and quarantines each bad cell with its field, value and fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from funnelscope.app.pipeline.data import PipelineLoad, load_pipeline_files
from funnelscope.cli.main import cli
from funnelscope.model.deals import CrmData, Deal, DealStatus, StageKind
from funnelscope.store import EventStore
from funnelscope.store.crm.cells import CellError
from funnelscope.store.crm.files import pick_layout, read_crm_file
from funnelscope.store.crm.layouts.common import money, percent
from funnelscope.store.crm.read import read_crm
from funnelscope.store.crm.records import CrmFile, normalise

DATA = Path(__file__).parent / "data" / "crm"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def load(tmp_path: Path, *names: str) -> tuple[PipelineLoad, CrmData]:
    db = str(tmp_path / "crm.duckdb")
    result = load_pipeline_files([DATA / name for name in names], db)
    store = EventStore(db)
    try:
        data = read_crm(store.connection)
    finally:
        store.close()
    return result, data


def changes(data: CrmData) -> set[tuple[str, str | None, str, datetime, str | None]]:
    return {(c.deal_id, c.from_stage, c.to_stage, c.changed_at, c.changed_by) for c in data.changes}


def quarantined(result: PipelineLoad) -> list[tuple[str, int, str | None, str | None]]:
    return [
        (Path(bad.source).name, bad.line, bad.field, bad.value)
        for file in result.files
        for bad in file.quarantined
    ]


def header(*names: str) -> tuple[str, ...]:
    return tuple(normalise(name) for name in names)


def layout_of(names: tuple[str, ...]) -> str:
    return pick_layout(CrmFile("x.csv", names, [])).name


# --- recognition --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "layout"),
    [
        ("hubspot/deals.csv", "hubspot"),
        ("hubspot/dealstage_history.csv", "hubspot"),
        ("salesforce/Opportunity.csv", "salesforce"),
        ("salesforce/OpportunityHistory.csv", "salesforce"),
        ("salesforce/OpportunityStage.csv", "salesforce"),
        ("salesforce/opportunities_report.csv", "salesforce"),
        ("pipedrive/deals.csv", "pipedrive"),
        ("pipedrive/deal_flow.csv", "pipedrive"),
        ("odoo/crm_lead.csv", "odoo"),
        ("odoo/crm_stage.csv", "odoo"),
    ],
)
def test_each_fixture_is_recognised_by_its_own_layout(fixture: str, layout: str) -> None:
    assert pick_layout(read_crm_file(DATA / fixture)).name == layout


@pytest.mark.parametrize(
    ("names", "layout"),
    [
        # funnelscope's own files, also with the synonyms the generic layout accepts
        (("deal_id", "name", "pipeline", "stage", "amount", "created_at", "status"), "generic"),
        (("deal_id", "from_stage", "to_stage", "changed_at", "changed_by"), "generic"),
        (("deal_id", "old_stage", "new_stage", "time", "user"), "generic"),
        (("deal_id", "kind", "due_at", "done_at", "owner"), "generic"),
        (("pipeline", "stage", "position", "kind", "probability"), "generic"),
        (("Deal ID", "Deal Name", "Deal Stage", "Create Date", "Close Date"), "generic"),
        (("deal_id", "stage", "expected_revenue", "salesperson", "sales_team"), "generic"),
        (("opportunity_id", "opportunity_name", "stage", "amount", "created"), "generic"),
        (("deal_id", "deal_name", "deal_stage", "deal_type", "created_at"), "generic"),
        # the CRMs' other spellings
        (("hs_object_id", "dealname", "dealstage", "pipeline", "amount", "createdate"), "hubspot"),
        (("dealId", "property", "value", "timestamp", "updatedByUserId"), "hubspot"),
        (("Deal ID", "Deal Name", "Deal Stage", "Create Date", "Closed Lost Reason"), "hubspot"),
        (("Record ID", "Deal Stage", "Date changed"), "hubspot"),
        (("ID", "Title", "Value", "Currency", "Stage", "Status", "Deal created"), "pipedrive"),
        (("Deal ID", "Field key", "Old value", "New value", "Log time", "User"), "pipedrive"),
        (("id", "name", "expected_revenue", "stage_id", "user_id", "create_date"), "odoo"),
        (("External ID", "Opportunity", "Stage", "Expected Revenue", "Salesperson"), "odoo"),
    ],
)
def test_headers_pick_the_right_layout(names: tuple[str, ...], layout: str) -> None:
    assert layout_of(header(*names)) == layout


# --- HubSpot ------------------------------------------------------------------------------


def test_hubspot_deals_and_stage_history(tmp_path: Path) -> None:
    result, data = load(tmp_path, "hubspot/deals.csv", "hubspot/dealstage_history.csv")
    assert [f.layout for f in result.files] == ["hubspot", "hubspot"]
    assert data.deals == (
        Deal(
            "1001", "Sales Pipeline", "Appointment Scheduled", DealStatus.OPEN,
            at("2026-01-05 10:00"), name="Acme renewal", amount=1200.5, owner="Ana Silva",
            source="Organic Search", expected_close=at("2026-03-31"), company="Acme",
            fields=(("deal_type", "newbusiness"),),
        ),
        Deal(
            "1002", "Sales Pipeline", "Closed Won", DealStatus.WON, at("2026-01-06 09:30"),
            name="Globex pilot", amount=4000.0, owner="Ben Ode", source="Paid Search",
            closed_at=at("2026-02-10 16:00"), company="Globex",
            fields=(("deal_type", "newbusiness"),),
        ),
        Deal(
            "1003", "Sales Pipeline", "Closed Lost", DealStatus.LOST, at("2026-01-05 10:00"),
            name="Initech seats", amount=900.0, owner="Ana Silva", source="Referrals",
            closed_at=at("2026-02-20"), lost_reason="Price too high", company="Initech",
            fields=(("deal_type", "existingbusiness"),),
        ),
    )  # fmt: skip
    assert changes(data) == {
        ("1001", None, "Appointment Scheduled", at("2026-01-05 10:00"), "Ana Silva"),
        ("1002", None, "Appointment Scheduled", at("2026-01-06 09:30"), "Ben Ode"),
        ("1002", "Appointment Scheduled", "Contract Sent", at("2026-01-20 12:00"), "Ben Ode"),
        ("1002", "Contract Sent", "Closed Won", at("2026-02-10 16:00"), "Ben Ode"),
        ("1003", None, "Qualified To Buy", at("2026-01-05 10:00"), "Ana Silva"),
        ("1003", "Qualified To Buy", "Closed Lost", at("2026-02-20 16:00"), "Ana Silva"),
    }
    assert quarantined(result) == [
        ("deals.csv", 5, "amount", "twelve"),
        ("deals.csv", 6, "create_date", "yesterday"),
        ("dealstage_history.csv", 8, "timestamp", "not a time"),
    ]
    fixes = [bad.fix for f in result.files for bad in f.quarantined]
    assert all(fixes)


# --- Salesforce ---------------------------------------------------------------------------


def test_salesforce_opportunities_history_and_stages(tmp_path: Path) -> None:
    result, data = load(
        tmp_path,
        "salesforce/OpportunityStage.csv",
        "salesforce/Opportunity.csv",
        "salesforce/OpportunityHistory.csv",
    )
    assert [(f.layout, f.deals, f.stage_changes, f.stages) for f in result.files] == [
        ("salesforce", 0, 0, 6),
        ("salesforce", 3, 0, 0),
        ("salesforce", 0, 8, 0),
    ]
    by_id = {d.deal_id: d for d in data.deals}
    assert by_id["006A1"] == Deal(
        "006A1", "default", "Prospecting", DealStatus.OPEN, at("2026-01-05 10:00"),
        name="Umbrella expansion", amount=25000.0, currency="USD", owner="Dana Lee",
        source="Web", expected_close=at("2026-03-31"),
        fields=(("industry_c", "Pharma"), ("type", "New Customer")),
    )  # fmt: skip
    won = by_id["006A2"]
    assert (won.status, won.amount, won.currency, won.closed_at, won.expected_close) == (
        DealStatus.WON, 12500.0, "EUR", at("2026-02-14"), None,
    )  # fmt: skip
    lost = by_id["006A3"]
    assert (lost.status, lost.created_at, lost.lost_reason) == (
        DealStatus.LOST, at("2026-01-09 15:30"), "Competitor",  # US date with AM/PM
    )  # fmt: skip
    assert ("loss_reason_c", "Competitor") in lost.fields
    # a snapshot that only changed the amount is no stage change; out-of-order rows are sorted
    assert changes(data) == {
        ("006A1", None, "Prospecting", at("2026-01-05 10:00"), "005X1"),
        ("006A2", None, "Qualification", at("2026-01-07 08:00"), "005X2"),
        ("006A2", "Qualification", "Proposal/Price Quote", at("2026-01-20 09:00"), "005X2"),
        ("006A2", "Proposal/Price Quote", "Closed Won", at("2026-02-14 17:00"), "005X2"),
        ("006A3", None, "Qualification", at("2026-01-09 15:30"), "005X1"),
        ("006A3", "Qualification", "Needs Analysis", at("2026-01-15 11:00"), "005X1"),
        ("006A3", "Needs Analysis", "Qualification", at("2026-01-25 11:00"), "005X1"),
        ("006A3", "Qualification", "Closed Lost", at("2026-02-01 12:00"), "005X1"),
    }
    pipeline = data.pipeline("default")
    assert pipeline is not None
    assert pipeline.stages == (
        "Prospecting",
        "Qualification",
        "Needs Analysis",
        "Proposal/Price Quote",
    )
    assert (pipeline.won_stages, pipeline.lost_stages) == (("Closed Won",), ("Closed Lost",))
    assert dict(pipeline.probabilities)["Proposal/Price Quote"] == 0.75
    assert pipeline.kind("Closed Lost") is StageKind.LOST
    assert quarantined(result) == [
        ("OpportunityStage.csv", 8, "SortOrder", "later"),
        ("Opportunity.csv", 5, "Amount", "abc"),
        ("Opportunity.csv", 6, "IsWon", "maybe"),
        ("OpportunityHistory.csv", 11, "CreatedDate", "last tuesday"),
    ]


def test_salesforce_report_export_with_labels_and_us_dates(tmp_path: Path) -> None:
    result, data = load(tmp_path, "salesforce/opportunities_report.csv")
    assert result.files[0].layout == "salesforce"
    assert [
        (d.deal_id, d.stage, d.status, d.amount, d.currency, d.owner, d.company, d.created_at,
         d.expected_close, d.closed_at)
        for d in data.deals
    ] == [
        ("006R1", "Negotiation/Review", DealStatus.OPEN, 1500.0, "USD", "Dana Lee", "Soylent",
         at("2026-01-05"), at("2026-03-15"), None),
        ("006R2", "Closed Won", DealStatus.WON, 2250.0, "USD", "Eli Roth", "Tyrell",
         at("2026-01-06"), None, at("2026-02-27")),
    ]  # fmt: skip


# --- Pipedrive ----------------------------------------------------------------------------


def test_pipedrive_deals_and_flow(tmp_path: Path) -> None:
    result, data = load(tmp_path, "pipedrive/deals.csv", "pipedrive/deal_flow.csv")
    assert [(f.layout, f.deals, f.stage_changes) for f in result.files] == [
        ("pipedrive", 3, 2),
        ("pipedrive", 0, 3),
    ]
    assert data.deals == (
        Deal(
            "17", "Sales", "Proposal Made", DealStatus.OPEN, at("2026-01-05 10:00"),
            name="Northwind CRM rollout", amount=4500.0, currency="EUR", owner="Carla Diaz",
            expected_close=at("2026-03-01"), company="Northwind",
            fields=(("deal_label", "Hot"),),
        ),
        Deal(
            "18", "Sales", "won", DealStatus.WON, at("2026-01-06 11:00"),
            name="Contoso licences", amount=1200.5, currency="USD", owner="Dev Patel",
            expected_close=at("2026-02-15"), closed_at=at("2026-02-02 15:00"),
            company="Contoso", fields=(("stage_at_close", "Negotiations Started"),),
        ),
        Deal(
            "19", "Sales", "lost", DealStatus.LOST, at("2026-01-07 12:00"),
            name="Fabrikam audit", amount=800.0, currency="EUR", owner="Carla Diaz",
            expected_close=at("2026-02-28"), closed_at=at("2026-01-28 09:15"),
            lost_reason="No budget", company="Fabrikam",
            fields=(("stage_at_close", "Qualified"),),
        ),
    )  # fmt: skip
    assert changes(data) == {
        ("17", "Qualified", "Contact Made", at("2026-01-09 10:00"), "11"),
        ("17", "Contact Made", "Proposal Made", at("2026-01-20 10:00"), "11"),
        ("18", "Qualified", "Negotiations Started", at("2026-01-15 09:00"), "12"),
        ("18", "Negotiations Started", "won", at("2026-02-02 15:00"), None),
        ("19", "Qualified", "lost", at("2026-01-28 09:15"), None),
    }
    assert quarantined(result) == [
        ("deals.csv", 5, "Deal - Status", "Paused"),
        ("deals.csv", 6, "Deal - Deal created", ""),
        ("deal_flow.csv", 7, "log_time", "soon"),
    ]


def test_times_without_offset_are_read_in_the_timezone_given(tmp_path: Path) -> None:
    db = str(tmp_path / "berlin.duckdb")
    load_pipeline_files([DATA / "pipedrive/deals.csv"], db, timezone="Europe/Berlin")
    store = EventStore(db)
    data = read_crm(store.connection)
    store.close()
    northwind = data.deal("17")
    assert northwind is not None
    assert northwind.created_at == at("2026-01-05 09:00")  # 10:00 in Berlin is 09:00 UTC


def test_pipedrive_lost_deal_journey_knows_where_it_was_lost(tmp_path: Path) -> None:
    from funnelscope.analyses.pipeline.journeys import journeys

    _, data = load(tmp_path, "pipedrive/deals.csv", "pipedrive/deal_flow.csv")
    by_id = {j.deal.deal_id: j for j in journeys(data)}
    assert by_id["19"].lost_from == "Qualified"
    assert by_id["19"].closed_at == at("2026-01-28 09:15")
    assert [(s.stage, s.entered_at) for s in by_id["17"].stays] == [
        ("Qualified", at("2026-01-05 10:00")),
        ("Contact Made", at("2026-01-09 10:00")),
        ("Proposal Made", at("2026-01-20 10:00")),
    ]


# --- Odoo ---------------------------------------------------------------------------------


def test_odoo_leads_and_stages(tmp_path: Path) -> None:
    result, data = load(tmp_path, "odoo/crm_stage.csv", "odoo/crm_lead.csv")
    assert [(f.layout, f.deals, f.stage_changes, f.stages) for f in result.files] == [
        ("odoo", 0, 0, 5),
        ("odoo", 3, 4, 0),
    ]
    assert data.deals == (
        Deal(
            "__export__.crm_lead_41", "default", "Qualified", DealStatus.OPEN,
            at("2026-01-05 10:00"), name="Office chairs", amount=12000.0,
            owner="Mitchell Admin", team="Sales", source="Search engine",
            campaign="Spring promo", expected_close=at("2026-03-01"),
            company="Azure Interior", fields=(("medium", "Email"),),
        ),
        Deal(
            "__export__.crm_lead_42", "default", "Won", DealStatus.WON, at("2026-01-06 10:00"),
            name="Desk upgrade", amount=5000.0, owner="Marc Demo", team="Sales",
            source="Newsletter", expected_close=at("2026-02-01"),
            closed_at=at("2026-02-03 14:00"), company="Deco Addict",
            fields=(("medium", "Email"),),
        ),
        Deal(
            "__export__.crm_lead_43", "default", "lost", DealStatus.LOST, at("2026-01-07 10:00"),
            name="Lamp order", amount=750.0, owner="Mitchell Admin", team="Website",
            closed_at=at("2026-01-30 16:00"), lost_reason="Too expensive",
            company="Gemini Furniture", fields=(("stage_at_close", "Proposition"),),
        ),
    )  # fmt: skip
    assert changes(data) == {
        ("__export__.crm_lead_41", None, "Qualified", at("2026-01-12 09:00"), None),
        ("__export__.crm_lead_42", None, "Won", at("2026-02-03 14:00"), None),
        ("__export__.crm_lead_43", None, "Proposition", at("2026-01-20 10:00"), None),
        ("__export__.crm_lead_43", "Proposition", "lost", at("2026-01-30 16:00"), None),
    }
    pipeline = data.pipeline("default")
    assert pipeline is not None
    assert (pipeline.stages, pipeline.won_stages, pipeline.lost_stages) == (
        ("New", "Qualified", "Proposition"), ("Won",), ("lost",),
    )  # fmt: skip
    assert quarantined(result) == [
        ("crm_lead.csv", 5, "probability", "high"),
        ("crm_lead.csv", 6, "active", "maybe"),
    ]


def test_odoo_technical_names_and_archived_lead(tmp_path: Path) -> None:
    path = tmp_path / "crm.lead.csv"
    path.write_text(
        "id,name,expected_revenue,probability,stage_id,user_id,team_id,create_date,"
        "date_last_stage_update,date_closed,active,lost_reason_id\n"
        "crm.lead_1,Chairs,1500.0,0.0,New,Admin,Europe,2026-01-05 10:00:00,"
        "2026-01-05 10:00:00,2026-01-10 08:00:00,False,Not interested\n"
        "crm.lead_2,Tables,900,100.0,Signed,Admin,Europe,2026-01-06 10:00:00,,,True,\n",
        encoding="utf-8",
    )
    db = str(tmp_path / "odoo.duckdb")
    result = load_pipeline_files([path], db)
    assert result.files[0].layout == "odoo"
    store = EventStore(db)
    data = read_crm(store.connection)
    store.close()
    read = [(d.deal_id, d.stage, d.status, d.team, d.lost_reason, d.closed_at) for d in data.deals]
    assert read == [
        ("crm.lead_1", "lost", DealStatus.LOST, "Europe", "Not interested", at("2026-01-10 08:00")),
        ("crm.lead_2", "Signed", DealStatus.WON, "Europe", None, None),  # probability 100
    ]  # fmt: skip
    assert changes(data) == {
        ("crm.lead_1", None, "New", at("2026-01-05 10:00"), None),
        ("crm.lead_1", "New", "lost", at("2026-01-10 08:00"), None),
    }


# --- shared cells and the CLI -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1200.5", (1200.5, None)),
        ("1,200.50", (1200.5, None)),
        ("1.200,50", (1200.5, None)),
        ("$4,000", (4000.0, None)),
        ("€ 800,00", (800.0, "EUR")),
        ("£1,250,000.10", (1250000.1, "GBP")),
        ("USD 1,500.00", (1500.0, "USD")),
        ("1 234,5 EUR", (1234.5, "EUR")),
        ("1\u00a0234,50\u00a0€", (1234.5, "EUR")),
        ("1.234.567", (1234567.0, None)),
        ("12,5", (12.5, None)),
        ("", (None, None)),
    ],
)
def test_amounts_as_exports_write_them(
    text: str, expected: tuple[float | None, str | None]
) -> None:
    assert money(text, "amount") == expected


def test_bad_amount_names_field_value_and_fix() -> None:
    with pytest.raises(CellError) as caught:
        money("$ twelve", "Amount")
    assert (caught.value.field, caught.value.value) == ("Amount", "$ twelve")
    assert caught.value.fix


def test_probabilities() -> None:
    assert percent("25", "p") == 0.25
    assert percent("25%", "p") == 0.25
    assert percent("0.25", "p") == 0.25
    assert percent("1", "p", out_of_100=True) == 0.01
    with pytest.raises(CellError):
        percent("150", "p")


def test_cli_loads_every_export_without_a_layout_flag(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.duckdb")
    files = [
        str(DATA / name)
        for name in (
            "hubspot/deals.csv",
            "salesforce/OpportunityHistory.csv",
            "pipedrive/deals.csv",
            "odoo/crm_lead.csv",
        )
    ]
    outcome = CliRunner().invoke(cli, ["pipeline", "load", *files, "--db", db, "--format", "json"])
    assert outcome.exit_code == 0, outcome.output
    loaded = json.loads(outcome.output)["files"]
    assert [
        (
            Path(f["source"]).parent.name,
            f["layout"],
            f["deals"],
            f["stage_changes"],
            f["quarantined"],
        )
        for f in loaded
    ] == [
        ("hubspot", "hubspot", 3, 0, 2),
        ("salesforce", "salesforce", 0, 8, 1),
        ("pipedrive", "pipedrive", 3, 2, 2),
        ("odoo", "odoo", 3, 4, 2),
    ]
    bad = loaded[0]["quarantined_rows"][0]
    assert (bad["line"], bad["field"], bad["value"]) == (5, "amount", "twelve")
