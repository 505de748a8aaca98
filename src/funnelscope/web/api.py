"""The read API: each endpoint takes what the CLI's flags say as JSON, makes the same app call
and returns the same JSON as the command's `--format json` (see docs/server.md)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from funnelscope.web.access import db_path, read_access

router = APIRouter(prefix="/api/v1", tags=["funnels"], dependencies=[read_access])


class FunnelRequest(BaseModel):
    """A funnel spec as in a spec file (steps, window, order, filters, breakdown, date_range,
    ...) and how to compute it."""

    spec: dict[str, Any] = Field(
        description="The funnel spec, as a YAML/JSON spec file holds it (docs/spec.md)",
        examples=[{"name": "checkout", "steps": ["view", "cart", "buy"], "window": "7d"}],
    )
    engine: Literal["kernel", "reference"] = "kernel"


@router.post("/funnel", summary="Compute a funnel (as `funnelscope funnel --format json`)")
def funnel(body: FunnelRequest, request: Request) -> dict[str, Any]:
    from funnelscope.app.funnels import EventInput, compute_funnel
    from funnelscope.model.spec import parse_funnel

    spec = parse_funnel(body.spec)
    run = compute_funnel(spec, EventInput(db_path(request)), body.engine)
    return run.result.to_dict()
