"""Use cases of the ready stage models: list them, show one as data, write one as a funnel spec.

Light on purpose (the `templates` command): the templates and YAML only, no DuckDB, pyarrow or
numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from funnelscope.model.templates import TEMPLATES, Stage, StageTemplate, get_template


def list_templates(name: str | None = None) -> list[StageTemplate]:
    """Template `name`, or every template (in their listed order)."""
    return [get_template(name)] if name is not None else list(TEMPLATES.values())


REPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "impressions": ("Impressions", "Impr."),
    "clicks": ("Clicks",),
    "visits": ("Visits", "Sessions", "Landing page views"),
    "inquiries": ("Inquiries", "Leads", "Contacts"),
    "orders": ("Orders", "Purchases", "Transactions"),
}
"""The report column names (besides the stage key) that hold a search-marketing stage's count."""


def report_columns(stage: Stage) -> list[str]:
    """The column names a report may give a stage's count under: the stage key first, then the
    known synonyms (search-marketing) or else the stage's label."""
    names = [stage.key, *REPORT_COLUMNS.get(stage.key, (stage.label,))]
    return list(dict.fromkeys(names))


def template_to_dict(template: StageTemplate) -> dict[str, Any]:
    """A template as the JSON output shows it."""
    return {
        "name": template.name,
        "title": template.title,
        "source": template.source,
        "stages": [
            {
                "key": stage.key,
                "label": stage.label,
                "event": event,
                "description": stage.description,
                "columns": report_columns(stage),
            }
            for stage, event in zip(template.stages, template.event_names, strict=True)
        ],
    }


def template_spec(name: str | None, events: Sequence[str], window: str = "7d") -> str:
    """Template `name` as a funnel spec (YAML), its stages mapped to the user's event names
    (``STAGE=EVENT`` each); the spec is checked before it is returned."""
    from funnelscope.demo.specs import template_spec_yaml
    from funnelscope.errors import SpecError
    from funnelscope.model.spec import parse_funnel

    if name is None:
        raise SpecError(
            "--spec", "needs a template NAME", "e.g. funnelscope templates sales-rep --spec"
        )
    mapping = {}
    for text in events:
        stage, found, event = text.partition("=")
        if not found or not stage.strip() or not event.strip():
            raise SpecError("--event", f"{text!r} is not STAGE=EVENT", "write e.g. won=deal_closed")
        mapping[stage.strip()] = event.strip()
    text = template_spec_yaml(get_template(name), window, mapping)
    from funnelscope.model.spec_files import load_spec_text

    parse_funnel(load_spec_text(text, f"template {name}"))  # the window and names make a spec
    return text
