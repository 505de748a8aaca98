"""The ready stage models and the spec files written from them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from funnelscope.demo.specs import write_template_specs
from funnelscope.errors import SpecError
from funnelscope.model.spec import load_funnel
from funnelscope.model.templates import TEMPLATES, Stage, StageTemplate, get_template

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

# The stages of DOMAIN.md's table, as keys, for every model.
STAGES = {
    "seven-stage": [
        "awareness",
        "interest",
        "evaluation",
        "decision",
        "purchase",
        "re_evaluation",
        "repurchase",
    ],
    "tofu-mofu-bofu": ["top", "middle", "bottom"],
    "ecommerce-capture": ["capture", "proposal", "opportunity", "qualification", "closing"],
    "crm-b2b": [
        "awareness",
        "interest",
        "consideration",
        "intent",
        "evaluation",
        "purchase",
        "loyalty",
    ],
    "aida-loyalty": ["attention", "interest", "desire", "action", "loyalty"],
    "search-marketing": ["impressions", "clicks", "visits", "inquiries", "orders"],
    "ecommerce-behaviour": [
        "page_opened",
        "product_clicked",
        "added_to_cart",
        "paid",
        "order_completed",
    ],
    "growth-loop": ["traffic", "conversion", "repurchase", "referral"],
    "sales-rep": ["first_contact", "needs_analysis", "proposal", "negotiation", "won"],
}

SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def test_all_nine_templates_in_order() -> None:
    assert list(TEMPLATES) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_stage_lists_match_the_domain_table(name: str) -> None:
    template = get_template(name)
    assert isinstance(template, StageTemplate) and template.name == name
    assert [stage.key for stage in template.stages] == STAGES[name]
    assert template.stage_keys == tuple(STAGES[name])
    assert len(template.event_names) == len(template.stages)
    assert len(set(template.event_names)) == len(template.event_names)
    assert all(SNAKE.fullmatch(event) for event in template.event_names)
    assert template.title and template.source
    for stage in template.stages:
        assert isinstance(stage, Stage)
        assert stage.label and stage.label[0].isupper()
        assert len(stage.description) > 10


def test_ecommerce_behaviour_in_full() -> None:
    template = get_template("ecommerce-behaviour")
    assert template.event_names == (
        "page_opened",
        "product_clicked",
        "added_to_cart",
        "paid",
        "order_completed",
    )
    assert [s.label for s in template.stages] == [
        "Page opened",
        "Product clicked",
        "Added to cart",
        "Paid",
        "Order completed",
    ]


def test_search_marketing_and_sales_rep_in_full() -> None:
    search = get_template("search-marketing")
    assert [s.label for s in search.stages] == [
        "Impressions",
        "Clicks",
        "Visits",
        "Inquiries",
        "Orders",
    ]
    rep = get_template("sales-rep")
    assert rep.stages[-1].key == "won" and rep.stages[-1].label == "Won"
    assert "lost" not in rep.stage_keys


def test_templates_are_frozen() -> None:
    template = get_template("growth-loop")
    with pytest.raises(AttributeError):
        template.name = "other"  # type: ignore[misc]


def test_unknown_template_names_the_valid_ones() -> None:
    with pytest.raises(SpecError) as caught:
        get_template("aida")
    error = caught.value
    assert error.path == "template"
    assert error.problem == "unknown template 'aida'"
    assert error.hint == "use one of: " + ", ".join(NAMES)
    assert str(error).startswith("template: unknown template 'aida'; use one of: seven-stage, ")


def test_spec_files_have_the_documented_shape(tmp_path: Path) -> None:
    paths = write_template_specs(tmp_path / "funnels")
    assert paths == [tmp_path / "funnels" / f"{name}.yaml" for name in NAMES]
    for path, name in zip(paths, NAMES, strict=True):
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0]
        assert first.startswith("# Stage model: ") and "expects events named as listed" in first
        data = yaml.safe_load(text)
        template = TEMPLATES[name]
        assert data == {
            "name": name,
            "steps": [
                {"event": event, "label": stage.label}
                for stage, event in zip(template.stages, template.event_names, strict=True)
            ],
            "window": "7d",
            "order": "ordered",
        }
        assert list(data) == ["name", "steps", "window", "order"]
        funnel = load_funnel(path)
        assert [step.event for step in funnel.steps] == list(template.event_names)
        assert funnel.window_seconds == 7 * 86400


def test_ecommerce_behaviour_spec_text_exactly(tmp_path: Path) -> None:
    write_template_specs(tmp_path, window="14d")
    lines = (tmp_path / "ecommerce-behaviour.yaml").read_text(encoding="utf-8").splitlines()
    assert lines[1:] == [
        "name: ecommerce-behaviour",
        "steps:",
        "  - event: page_opened",
        "    label: Page opened",
        "  - event: product_clicked",
        "    label: Product clicked",
        "  - event: added_to_cart",
        "    label: Added to cart",
        "  - event: paid",
        "    label: Paid",
        "  - event: order_completed",
        "    label: Order completed",
        "window: 14d",
        "order: ordered",
    ]
