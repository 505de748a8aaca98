"""The read API of the sales pipeline: `funnelscope pipeline funnel|followups|targets|forecast|
velocity|score` over the deals in the store, their settings given as the JSON object a
pipeline.yaml holds (docs/pipeline.md); each returns the command's `--format json`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import Field

from funnelscope.web.access import db_path, read_access
from funnelscope.web.api_common import ERROR_RESPONSES, ClippedErrorsRoute, Strict, cli_json

router = APIRouter(
    prefix="/api/v1/pipeline",
    tags=["pipeline"],
    dependencies=[read_access],
    route_class=ClippedErrorsRoute,
    responses=ERROR_RESPONSES,
)


class PipelineRequest(Strict):
    """The settings and the moment every pipeline command takes."""

    settings: dict[str, Any] | None = Field(
        None,
        description="What pipeline.yaml holds (currency, rates, pipelines, cadences, "
        "default_cadence, rotting, targets); default: the server's `--pipeline-settings` "
        "file, else none",
        examples=[{"currency": "EUR", "rates": {"USD": 0.9}}],
    )
    as_of: str | None = Field(
        None, description="Count what was known at this date or time (default: now, UTC)"
    )

    def parsed_settings(self, request: Request) -> Any:
        """The settings sent, else the server's (`serve --pipeline-settings`)."""
        from funnelscope.model.pipeline_settings import parse_settings

        if self.settings is None:
            return request.app.state.pipeline_settings
        return parse_settings(self.settings)

    def moment(self) -> Any:
        from funnelscope.app.pipeline.data import as_of_time

        return as_of_time(self.as_of)


class PipelineFunnelRequest(PipelineRequest):
    mode: Literal["created", "active"] = Field(
        "created", description="Deals created in the period, or what reached each stage in it"
    )
    period: str | None = Field(None, description="2026, 2026-Q4 or 2026-12 (default: all)")
    by: str | None = Field(None, description="Group by a deal field: owner, team, source ...")
    pipeline: str | None = Field(None, description="Only this pipeline")
    min_deals: int = Field(10, description="Test a group at a stage only with this many deals")


@router.post(
    "/funnel",
    summary="Stage funnel over deals (as `funnelscope pipeline funnel --format json`)",
    response_description="The stage funnel JSON, per group with the gaps found",
)
def funnel(body: PipelineFunnelRequest, request: Request) -> Response:
    from funnelscope.app.pipeline.funnel import pipeline_funnel

    result = pipeline_funnel(
        db_path(request),
        settings=body.parsed_settings(request),
        as_of=body.moment(),
        period=body.period,
        mode=body.mode,
        by=body.by,
        pipeline=body.pipeline,
        min_deals=body.min_deals,
    )
    return cli_json(result.to_dict())


class FollowupsRequest(PipelineRequest):
    owner: str | None = Field(None, description="Only this owner's deals")
    pipeline: str | None = Field(None, description="Only this pipeline's deals")
    limit: int | None = Field(None, description="At most this many deals to call")


@router.post(
    "/followups",
    summary="Follow-ups and rotting deals (as `funnelscope pipeline followups --format json`)",
    response_description="The follow-ups JSON",
)
def followups(body: FollowupsRequest, request: Request) -> Response:
    from funnelscope.app.pipeline.followups import pipeline_followups

    result = pipeline_followups(
        db_path(request),
        settings=body.parsed_settings(request),
        as_of=body.as_of,
        owner=body.owner,
        pipeline=body.pipeline,
        limit=body.limit,
    )
    return cli_json(result.to_dict())


class TargetsRequest(PipelineRequest):
    period: str | None = Field(None, description="With it: the one target described here")
    owner: str | None = Field(None, description="The target's owner (or: only theirs)")
    team: str | None = Field(None, description="The target's team (or: only theirs)")
    revenue: float | None = Field(None, description="With period: the revenue target")
    deals: int | None = Field(None, description="With period: the won-deals target")


@router.post(
    "/targets",
    summary="Targets and attainment (as `funnelscope pipeline targets --format json`)",
    response_description="The targets JSON",
)
def targets(body: TargetsRequest, request: Request) -> Response:
    from funnelscope.app.pipeline.targets import pipeline_targets

    result = pipeline_targets(
        db_path(request),
        settings=body.parsed_settings(request),
        as_of=body.as_of,
        period=body.period,
        owner=body.owner,
        team=body.team,
        revenue=body.revenue,
        deals=body.deals,
    )
    return cli_json(result.to_dict())


class ForecastRequest(PipelineRequest):
    period: str | None = Field(None, description="2026-12, 2026-Q4 or 2026 (default: as_of's)")
    by: Literal["owner", "team", "source"] | None = Field(None, description="Split by this")
    commit_threshold: float = Field(0.7, description="Win rate from which a deal is commit")
    min_closed: int = Field(20, description="Closed deals a learned stage rate needs alone")
    backtest: bool = Field(False, description="Replay every past month instead (`--backtest`)")


@router.post(
    "/forecast",
    summary="Revenue forecast (as `funnelscope pipeline forecast --format json`)",
    response_description="The forecast JSON, or with backtest the backtest's",
)
def forecast(body: ForecastRequest, request: Request) -> Response:
    from funnelscope.app.pipeline.forecast import forecast_backtest, pipeline_forecast

    if body.backtest:
        tested = forecast_backtest(
            db_path(request),
            as_of=body.moment(),
            settings=body.parsed_settings(request),
            min_closed=body.min_closed,
        )
        return cli_json(tested.to_dict())
    result = pipeline_forecast(
        db_path(request),
        as_of=body.moment(),
        settings=body.parsed_settings(request),
        period=body.period,
        commit_threshold=body.commit_threshold,
        min_closed=body.min_closed,
        by=body.by,
    )
    return cli_json(result.to_dict())


class VelocityRequest(PipelineRequest):
    days: int = Field(90, description="The window's length in days")
    by: Literal["owner", "team", "source"] = Field("owner", description="Group by this")


@router.post(
    "/velocity",
    summary="Sales velocity (as `funnelscope pipeline velocity --format json`)",
    response_description="The velocity JSON",
)
def velocity(body: VelocityRequest, request: Request) -> Response:
    from funnelscope.app.pipeline.velocity import pipeline_velocity

    result = pipeline_velocity(
        db_path(request),
        as_of=body.moment(),
        settings=body.parsed_settings(request),
        days=body.days,
        by=body.by,
    )
    return cli_json(result.to_dict())


class ScoreRequest(PipelineRequest):
    test_share: float = Field(0.25, description="Share of the latest closed deals held out")
    min_count: int = Field(5, ge=1, description="Rarer category values pool into (other)")
    ignore_field: list[str] = Field([], max_length=100, description="Features left out")
    top: int = Field(3, ge=0, description="Feature contributions per open deal")
    limit: int = Field(0, ge=0, description="Only the N most likely open deals (0: all)")


@router.post(
    "/score",
    summary="Lead scores (as `funnelscope pipeline score --format json`)",
    response_description="The scores JSON: evaluation and each open deal's chance",
)
def score(body: ScoreRequest, request: Request) -> Response:
    from dataclasses import replace

    from funnelscope.app.pipeline.scoring import score_deals

    result = score_deals(
        db_path(request),
        settings=body.parsed_settings(request),
        as_of=body.as_of,
        test_share=body.test_share,
        min_count=body.min_count,
        ignore=tuple(body.ignore_field),
        top=body.top,
    )
    if body.limit:
        result = replace(result, scores=result.scores[: body.limit])
    return cli_json(result.to_dict())
