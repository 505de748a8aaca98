"""A funnel as one self-contained HTML file: the same charts, tables and exports as the
server's funnel builder, with ECharts, the chart script, the styles and the result's JSON
inlined, so that the file opens anywhere with no network (and loads nothing from one).

The scripts and styles are the web face's static files (web/static/), read as files: the
report and the pages draw with the very same code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from jinja2 import Environment, FileSystemLoader, select_autoescape

from funnelscope.engines import DEFAULT_ENGINE

if TYPE_CHECKING:
    from funnelscope.app.funnels import EventInput
    from funnelscope.app.timing import TimedRun, TimingRequest
    from funnelscope.model.spec import Funnel

STATIC_DIR: Final = Path(__file__).parent.parent / "web" / "static"
TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
INLINED_SCRIPTS: Final = ("vendor/echarts.min.js", "charts.js")


def funnel_report(
    funnel: Funnel,
    events: EventInput,
    timing: TimingRequest,
    engine: str = DEFAULT_ENGINE,
) -> str:
    """Compute `funnel` (with the extras `timing` asks for) and return the report's HTML."""
    from funnelscope.app.timing import compute_timed_funnel

    timed = compute_timed_funnel(funnel, events, timing, engine)
    return render_report(timed, datetime.now(UTC))


def render_report(timed: TimedRun, made_at: datetime) -> str:
    """The HTML of a computed funnel (its JSON is `funnel --format json`'s, with the extras)."""
    data = timed.to_dict()
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"])
    )
    return environment.get_template("report.html").render(
        title=f"Funnel: {data['funnel']}",
        where=timed.run.where,
        warnings=timed.run.warnings,
        made_at=made_at.strftime("%Y-%m-%d %H:%M UTC"),
        style=(STATIC_DIR / "style.css").read_text(encoding="utf-8"),
        scripts=[_script(name) for name in INLINED_SCRIPTS],
        data_json=script_json(data),
    )


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no `<` (so no `</script>` nor `<!--`) and no
    line separators that old parsers end strings at."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _script(name: str) -> str:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    if "</script" in text.lower():  # would end the inline element early
        raise ValueError(f"web/static/{name} holds '</script' and cannot be inlined")
    return text
