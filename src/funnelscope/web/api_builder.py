"""What the funnel builder page reads beyond `POST /api/v1/funnel`: the store's event and
property names, and a funnel with its time to convert and conversion trend (the JSON of
`funnelscope funnel --time-to-convert --trend GRAIN --format json`). Programs may use them too."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from funnelscope.web.access import db_path, read_access

router = APIRouter(prefix="/api/v1", tags=["funnel builder"], dependencies=[read_access])


@router.get("/event-names", summary="Event names (with counts) and properties of the store")
def event_names(request: Request) -> dict[str, Any]:
    from funnelscope.app.catalog import event_catalog

    return event_catalog(db_path(request)).to_dict()


class TimedFunnelRequest(BaseModel):
    """A funnel spec and the extras to compute around it (as `funnel`'s flags say)."""

    spec: dict[str, Any] = Field(
        description="The funnel spec, as a YAML/JSON spec file holds it (docs/spec.md)",
        examples=[{"steps": ["view", "cart", "buy"], "window": "7d"}],
    )
    engine: Literal["kernel", "reference"] = "kernel"
    time_to_convert: bool = Field(True, description="as --time-to-convert")
    trend: Literal["day", "week", "month"] | None = Field("week", description="as --trend")


@router.post(
    "/funnel-timed",
    summary="A funnel with time to convert and trend "
    "(as `funnelscope funnel --time-to-convert --trend week --format json`)",
)
def funnel_timed(body: TimedFunnelRequest, request: Request) -> dict[str, Any]:
    from funnelscope.app.funnels import EventInput
    from funnelscope.app.timing import TimingRequest, compute_timed_funnel
    from funnelscope.model.spec import parse_funnel

    spec = parse_funnel(body.spec)
    asked = TimingRequest(time_to_convert=body.time_to_convert, trend=body.trend)
    return compute_timed_funnel(spec, EventInput(db_path(request)), asked, body.engine).to_dict()
