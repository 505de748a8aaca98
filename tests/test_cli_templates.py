"""`funnelscope templates`: every stage model in order as a table, JSON or CSV; one in detail."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner, Result

from funnelscope.cli.templates import templates
from funnelscope.errors import SpecError
from funnelscope.model.templates import TEMPLATES

NAMES = [
    "seven-stage",
    "tofu-mofu-bofu",
    "ecommerce-capture",
    "crm-b2b",
    "aida-loyalty",
    "search-marketing",
    "ecommerce-behaviour",
    "growth-loop",
    "sales-rep",
]


@click.group()
def group() -> None:
    """A stand-in for the funnelscope group."""


group.add_command(templates)


def invoke(*args: str, columns: int = 80) -> Result:
    runner = CliRunner(env={"COLUMNS": str(columns)})
    return runner.invoke(group, ["templates", *args], catch_exceptions=True)


@pytest.mark.parametrize("columns", [80, 200])
def test_the_table_lists_the_nine_templates_in_order(columns: int) -> None:
    result = invoke(columns=columns)
    assert result.exit_code == 0, result.output
    positions = [result.output.index(f"\n{name} ") for name in NAMES]
    assert positions == sorted(positions)
    flat = " ".join(result.output.split())
    assert "Search-marketing funnel" in flat
    if columns == 200:  # wide enough for every row on one line
        line = next(ln for ln in result.output.splitlines() if ln.startswith("search-marketing"))
        assert "Search-marketing funnel" in line
        assert line.rstrip().endswith("impressions -> clicks -> visits -> inquiries -> orders")
    assert "a CRM vendor's guide" in result.output
    assert "funnelscope templates NAME" in result.output


def test_json_lists_the_nine_templates_with_exactly_the_documented_keys() -> None:
    result = invoke("--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["templates"]
    assert [t["name"] for t in data["templates"]] == NAMES
    for entry in data["templates"]:
        assert list(entry) == ["name", "title", "source", "stages"]
        template = TEMPLATES[entry["name"]]
        assert (entry["title"], entry["source"]) == (template.title, template.source)
        assert [s["key"] for s in entry["stages"]] == list(template.stage_keys)
        assert [s["event"] for s in entry["stages"]] == list(template.event_names)
        for stage in entry["stages"]:
            assert list(stage) == ["key", "label", "event", "description", "columns"]
            assert stage["columns"][0] == stage["key"]
    search = data["templates"][NAMES.index("search-marketing")]
    columns = {stage["key"]: stage["columns"] for stage in search["stages"]}
    assert columns == {
        "impressions": ["impressions", "Impressions", "Impr."],
        "clicks": ["clicks", "Clicks"],
        "visits": ["visits", "Visits", "Sessions", "Landing page views"],
        "inquiries": ["inquiries", "Inquiries", "Leads", "Contacts"],
        "orders": ["orders", "Orders", "Purchases", "Transactions"],
    }
    behaviour = data["templates"][NAMES.index("ecommerce-behaviour")]
    assert behaviour["stages"][2]["columns"] == ["added_to_cart", "Added to cart"]


def test_csv_has_a_row_per_stage_in_order() -> None:
    result = invoke("--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0]) == ["template", "position", "key", "label", "event"]
    assert len(rows) == sum(len(t.stages) for t in TEMPLATES.values())
    assert list(dict.fromkeys(row["template"] for row in rows)) == NAMES
    search = [row for row in rows if row["template"] == "search-marketing"]
    assert [(row["position"], row["key"], row["event"]) for row in search] == [
        ("1", "impressions", "ad_impression"),
        ("2", "clicks", "ad_clicked"),
        ("3", "visits", "page_loaded"),
        ("4", "inquiries", "inquiry_made"),
        ("5", "orders", "order_placed"),
    ]
    assert search[2]["label"] == "Visits"


def test_one_template_in_detail_shows_descriptions_rates_and_ranges() -> None:
    result = invoke("search-marketing")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # the table wraps to the terminal width
    assert out.startswith("Search-marketing funnel (search-marketing)")
    assert "Source: a marketing manager's handbook" in out
    assert "3. Visits key visits, event page_loaded" in out
    assert "20-30% loss is normal" in out  # the stage's description
    assert "Report columns: visits, Visits, Sessions, Landing page views" in out
    assert "Rate: arrival rate (Visits / Clicks)" in out
    assert "Typical range: 70%-80% (heuristic); source: Marketing handbook on the" in out
    assert "Rate: click-through rate (Clicks / Impressions)" in out
    assert "Typical range: 1%-10% (heuristic); source: funnelscope heuristic" in out
    assert "Seven-stage" not in out


def test_detail_of_an_event_funnel_names_rates_it_knows_only() -> None:
    result = invoke("ecommerce-behaviour")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "Rate: payment rate (Paid / Added to cart)" in out
    assert "Report columns: page_opened, Page opened" in out
    assert "Typical range" not in out
    assert out.count("Rate:") == 2  # added_to_cart and paid have entries; the others do not


def test_one_template_as_json_and_csv() -> None:
    data = json.loads(invoke("growth-loop", "--format", "json").output)
    assert [t["name"] for t in data["templates"]] == ["growth-loop"]
    assert data["templates"][0]["stages"][3]["description"].startswith("Customers bring in")
    rows = list(csv.reader(io.StringIO(invoke("growth-loop", "--format", "csv").output)))
    assert rows[1:] == [
        ["growth-loop", "1", "traffic", "Traffic", "site_visited"],
        ["growth-loop", "2", "conversion", "Conversion", "first_purchase"],
        ["growth-loop", "3", "repurchase", "Repurchase", "repeat_purchase"],
        ["growth-loop", "4", "referral", "Referral", "friend_referred"],
    ]


def test_an_unknown_name_raises_the_error_that_lists_the_names() -> None:
    result = invoke("funnel-of-doom")
    assert isinstance(result.exception, SpecError)
    message = str(result.exception)
    assert message.startswith("template: unknown template 'funnel-of-doom'; use one of: ")
    assert message.endswith(", ".join(NAMES))


def test_help_has_an_example() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "funnelscope templates search-marketing" in result.output
    assert "[table|json|csv]" in result.output


@pytest.mark.parametrize("args", [[], ["search-marketing"], ["--format", "json"]])
def test_the_command_loads_no_data_library(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from funnelscope.cli.templates import templates\n"
        f"result = CliRunner().invoke(templates, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = [m for m in ('duckdb', 'pyarrow', 'numpy', 'numba') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "HEAVY="
