"""The read API of funnels: each endpoint takes what the CLI's flags say as JSON, makes the same
app call and returns the same JSON as the command's `--format json` (see docs/server.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Self

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict, Field, model_validator

from funnelscope.web.access import db_path, read_access
from funnelscope.web.api_common import (
    ERROR_RESPONSES,
    EXAMPLE_SPEC,
    ClippedErrorsRoute,
    SpecRequest,
    cli_json,
)

if TYPE_CHECKING:
    from funnelscope.model.spec import Funnel

router = APIRouter(
    prefix="/api/v1",
    tags=["funnels"],
    dependencies=[read_access],
    route_class=ClippedErrorsRoute,
    responses=ERROR_RESPONSES,
)


class FunnelRequest(SpecRequest):
    """A funnel (spec, engine, from/to) and what to compute beside it: the people at a step, or
    the extras (time to convert, trend, segments), as `funnelscope funnel` flags say them."""

    people: int | None = Field(
        None, ge=1, le=50, description="List the people at this step, 1-based (`--people N`)"
    )
    status: Literal["reached", "dropped"] | None = Field(
        None,
        description="With people: who reached the step, or who reached the step before but "
        "not this one (`--status`; default reached)",
    )
    time_to_convert: bool = Field(
        False, description="Also the distribution of times to convert (`--time-to-convert`)"
    )
    time_from: int | None = Field(
        None, ge=1, le=50, description="With time_to_convert: from step N (default 1)"
    )
    time_to: int | None = Field(
        None, ge=1, le=50, description="With time_to_convert: to step M (default: the last)"
    )
    bins: int | None = Field(
        None, ge=1, le=90, description="With time_to_convert: N bins instead of the automatic"
    )
    trend: Literal["day", "week", "month"] | None = Field(
        None, description="Also the conversion by the period attempts entered in (`--trend`)"
    )
    trend_timezone: str | None = Field(
        None,
        description="With trend: cut periods at midnight in this IANA zone (default: the date "
        "range's zone, else UTC)",
        examples=["Europe/Berlin"],
    )
    segments: bool = Field(
        False, description="With a breakdown: values whose conversion differs (`--segments`)"
    )
    min_n: int | None = Field(None, ge=1, description="With segments: attempts needed (30)")
    correction: Literal["bh", "holm"] | None = Field(
        None, description="With segments: Benjamini-Hochberg (default) or Holm"
    )
    alpha: float | None = Field(
        None, gt=0, lt=1, description="With segments: significance level (0.05)"
    )

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"spec": EXAMPLE_SPEC, "from": "2024-01-01", "trend": "week"},
                {"spec": EXAMPLE_SPEC, "people": 2, "status": "dropped"},
            ]
        },
    )

    @model_validator(mode="after")
    def _options_belong(self) -> Self:
        """The CLI's usage rules: an option only with the feature it belongs to."""
        needs = {
            "time_to_convert": ("time_from", "time_to", "bins"),
            "trend": ("trend_timezone",),
            "segments": ("min_n", "correction", "alpha"),
            "people": ("status",),
        }
        for feature, keys in needs.items():
            for key in keys:
                if getattr(self, key) is not None and not getattr(self, feature):
                    raise ValueError(f"{key} only applies with {feature}")
        if self.people is not None and self.timing_asked:
            raise ValueError("people lists people; ask for the extras without it")
        return self

    @property
    def timing_asked(self) -> bool:
        return self.time_to_convert or self.trend is not None or self.segments


def funnel_of(body: SpecRequest) -> Funnel:
    """The body's spec with its from/to over the spec's date range (errors name the field)."""
    from funnelscope.model.overrides import with_overrides
    from funnelscope.model.spec import parse_funnel

    spec = parse_funnel(body.spec)
    return with_overrides(spec, date_from=body.date_from, date_to=body.date_to)


@router.post(
    "/funnel",
    summary="Compute a funnel (as `funnelscope funnel --format json`)",
    response_description="The funnel's JSON (with `time_to_convert`, `trend`, `segments` keys "
    'when asked), or with `people`: `{"step", "status", "people": [ids]}`',
)
def funnel(body: FunnelRequest, request: Request) -> Response:
    from funnelscope.app.funnels import EventInput, compute_funnel
    from funnelscope.app.timing import TimingRequest, compute_timed_funnel

    spec = funnel_of(body)
    events = EventInput(db_path(request))
    if body.timing_asked:
        given = {
            key: value
            for key in ("time_from", "time_to", "bins", "min_n", "correction", "alpha")
            if (value := getattr(body, key)) is not None
        }
        timing = TimingRequest(
            time_to_convert=body.time_to_convert,
            trend=body.trend,
            trend_timezone=body.trend_timezone,
            segments=body.segments,
            **given,
        )
        return cli_json(compute_timed_funnel(spec, events, timing, body.engine).to_dict())
    run = compute_funnel(
        spec, events, body.engine, people_step=body.people, status=body.status or "reached"
    )
    return cli_json(run.people_dict() if body.people is not None else run.result.to_dict())


@router.post(
    "/funnel/explain",
    summary="What the engine will do for a funnel (as `funnelscope funnel --explain`)",
    response_description='`{"where": where events are read from, "plan": the plan in words, '
    "its SQL and the database's plan}`",
)
def explain(body: SpecRequest, request: Request) -> Response:
    from funnelscope.app.funnels import EventInput, explain_funnel

    explanation = explain_funnel(funnel_of(body), EventInput(db_path(request)), body.engine)
    return cli_json({"where": explanation.where, "plan": explanation.plan})


class CorrelateRequest(SpecRequest):
    """`funnelscope correlate`'s flags over a funnel spec."""

    properties: list[str] = Field(
        [], max_length=50, description="Also test each value of these event properties"
    )
    person_properties: list[str] = Field(
        [], max_length=50, description="Also test each value of these person properties"
    )
    top: int = Field(10, ge=1, description="The N most significant items of each side")
    min_count: int | None = Field(
        None, ge=1, description="Test items at least N entered persons have (default: PostHog's)"
    )
    include_steps: bool = Field(False, description="Count the funnel's own step events too")
    exclude_events: list[str] = Field([], max_length=1000, description="Leave these events out")
    until: Literal["conversion", "window"] = Field(
        "conversion", description="Count events up to conversion, or up to entry + window"
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance (BH-adjusted p below it)")


def _names(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


@router.post(
    "/correlate",
    summary="What goes with converting (as `funnelscope correlate --format json`)",
    response_description="The correlation's JSON: the drivers of converting and of dropping",
)
def correlate(body: CorrelateRequest, request: Request) -> Response:
    from funnelscope.analyses.correlation import CorrelationOptions
    from funnelscope.app.correlation import correlate_funnel
    from funnelscope.app.funnels import EventInput

    options = CorrelationOptions(
        properties=_names(body.properties),
        person_properties=_names(body.person_properties),
        include_steps=body.include_steps,
        exclude_events=_names(body.exclude_events),
        until=body.until,
        min_count=body.min_count,
        top=body.top,
        alpha=body.alpha,
    )
    run = correlate_funnel(funnel_of(body), EventInput(db_path(request)), options, body.engine)
    return cli_json(run.result.to_dict())


class PathsRequest(SpecRequest):
    """`funnelscope paths`'s flags over a funnel spec: one of after_drop or between."""

    after_drop: int | None = Field(
        None, ge=1, description="What attempts that reached step K but no later step did next"
    )
    between: int | None = Field(None, ge=1, description="What happened between steps K and K+1")
    steps: int = Field(3, ge=1, le=20, description="Events per sequence")
    top: int = Field(10, ge=1, description="Rows per table; the rest fold into Other")
    collapse_repeats: bool = Field(False, description="Consecutive events of one name as one")
    within: str | None = Field(
        None, description="With after_drop: look this long after step K", examples=["1d"]
    )

    @model_validator(mode="after")
    def _one_mode(self) -> Self:
        if (self.after_drop is None) == (self.between is None):
            raise ValueError("give one of after_drop or between")
        return self


@router.post(
    "/paths",
    summary="Paths after a drop or between steps (as `funnelscope paths --format json`)",
    response_description="The paths' JSON: next events and sequences with their counts",
)
def paths(body: PathsRequest, request: Request) -> Response:
    from funnelscope.analyses.paths import AFTER_DROP, BETWEEN, PathQuery
    from funnelscope.app.funnels import EventInput
    from funnelscope.app.paths import compute_paths
    from funnelscope.model.durations import parse_duration

    within = None if body.within is None else parse_duration(body.within, "within")
    mode, step = (AFTER_DROP, body.after_drop) if body.after_drop else (BETWEEN, body.between)
    assert step is not None
    query = PathQuery(mode, step, body.steps, body.top, body.collapse_repeats, within)
    run = compute_paths(funnel_of(body), EventInput(db_path(request)), query, body.engine)
    return cli_json(run.result.to_dict())
