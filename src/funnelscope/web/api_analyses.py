"""The read API of the analyses over the store beside funnels: retention, customer lifetime
value, experiments, and the marketing diagnosis and what-if of a funnel spec. Each takes the
command's flags as JSON and returns the command's `--format json` (docs/server.md). A request
never names a file on the server: specs come inline, and the diagnosis uses the shipped ranges
and knowledge only."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict, Field

from funnelscope.web.access import db_path, read_access
from funnelscope.web.api import funnel_of
from funnelscope.web.api_common import (
    ERROR_RESPONSES,
    EXAMPLE_SPEC,
    ClippedErrorsRoute,
    SpecRequest,
    Strict,
    cli_json,
)

router = APIRouter(
    prefix="/api/v1",
    tags=["analyses"],
    dependencies=[read_access],
    route_class=ClippedErrorsRoute,
    responses=ERROR_RESPONSES,
)

EventNames = list[str]


class RetentionWindow(Strict):
    """`--from`, `--to` and `--timezone`, spelled alike by every retention request."""

    date_from: str | None = Field(
        None, alias="from", description="Cohorts start on or after this date"
    )
    date_to: str | None = Field(
        None, alias="to", description="Cohorts start on or before this date (the whole day)"
    )
    timezone: str = Field("UTC", description="IANA zone of days, weeks, months and from/to")

    def dates(self) -> Any:
        from funnelscope.app.retention import cohort_dates

        return cohort_dates(self.date_from, self.date_to, self.timezone)


class CohortsRequest(RetentionWindow):
    """`funnelscope retention cohorts`'s flags."""

    start: EventNames = Field(
        min_length=1, max_length=100, description="Events that put a person in a cohort"
    )
    return_: EventNames = Field(
        [],
        alias="return",
        max_length=100,
        description="Events that count as coming back (default: any event)",
    )
    kind: Literal["first", "recurring"] = Field(
        "first", alias="type", description="first: each person once; recurring: every period"
    )
    criterion: Literal["on", "on-or-after"] = Field(
        "on", description="Retained in period N: back in N (on), or in N or later"
    )
    period: Literal["day", "week", "month"] = Field("day", description="Cohort/period length")
    periods: int = Field(8, ge=1, le=400, description="How many periods (0 to N-1)")
    windows: Literal["rolling", "calendar"] = Field(
        "rolling", description="rolling: N x 24h from the start event; calendar: boundaries"
    )


@router.post(
    "/retention/cohorts",
    summary="Retention by cohort (as `funnelscope retention cohorts --format json`)",
    response_description="The cohorts' JSON",
)
def cohorts(body: CohortsRequest, request: Request) -> Response:
    from funnelscope.analyses.retention.cohorts import RetentionSpec
    from funnelscope.app.retention import compute_retention

    spec = RetentionSpec(
        tuple(body.start),
        tuple(body.return_) or None,
        body.kind,
        body.criterion.replace("-", "_"),
        body.period,
        body.periods,
        body.windows,
        body.timezone,
        body.dates(),
    )
    return cli_json(compute_retention(db_path(request), spec).to_dict())


class RepurchaseRequest(RetentionWindow):
    """`funnelscope retention repurchase`'s flags."""

    order: EventNames = Field(
        ["purchase"], min_length=1, max_length=100, description="The order events"
    )
    within: str = Field("30d,90d", description="Windows for the second order, in whole days")


@router.post(
    "/retention/repurchase",
    summary="Repurchase (as `funnelscope retention repurchase --format json`)",
    response_description="The repurchase JSON",
)
def repurchase(body: RepurchaseRequest, request: Request) -> Response:
    from funnelscope.analyses.retention.repurchase import RepurchaseSpec
    from funnelscope.app.retention import compute_repurchase, repurchase_windows

    windows = repurchase_windows(body.within)
    spec = RepurchaseSpec(tuple(body.order), windows, body.timezone, body.dates())
    return cli_json(compute_repurchase(db_path(request), spec).to_dict())


class RenewalRequest(RetentionWindow):
    """`funnelscope retention renewal`'s flags."""

    charge: EventNames = Field(
        min_length=1, max_length=100, description="Charge or renewal events, one per period"
    )
    every: str | None = Field(
        None, description="The period a charge pays for: 30d, 7d, month or year"
    )
    period_property: str | None = Field(
        None, description="Read each charge's period from this property (every: the fallback)"
    )
    grace: str = Field("0s", description="A renewal this long after the due time still counts")


@router.post(
    "/retention/renewal",
    summary="Renewal of subscriptions (as `funnelscope retention renewal --format json`)",
    response_description="The renewal JSON",
)
def renewal(body: RenewalRequest, request: Request) -> Response:
    from funnelscope.analyses.retention.renewal import RenewalSpec, parse_period
    from funnelscope.app.retention import compute_renewal, grace_seconds

    spec = RenewalSpec(
        tuple(body.charge),
        None if body.every is None else parse_period(body.every),
        body.period_property,
        grace_seconds(body.grace),
        body.timezone,
        body.dates(),
    )
    return cli_json(compute_renewal(db_path(request), spec).to_dict())


class ReferralRequest(RetentionWindow):
    """`funnelscope retention referral`'s flags."""

    signup: EventNames = Field(
        ["signup"], min_length=1, max_length=100, description="The signup events"
    )
    invite: EventNames = Field(
        ["invite"], min_length=1, max_length=100, description="The events of sending an invite"
    )
    referrer_property: str = Field(
        "referrer", description="The invitee's signup property naming the inviter's id"
    )


@router.post(
    "/retention/referral",
    summary="Referral (as `funnelscope retention referral --format json`)",
    response_description="The referral JSON: invites, conversion, viral coefficient, cycle",
)
def referral(body: ReferralRequest, request: Request) -> Response:
    from funnelscope.analyses.retention.referral import ReferralSpec
    from funnelscope.app.retention import compute_referral

    spec = ReferralSpec(
        tuple(body.signup), tuple(body.invite), body.referrer_property, body.dates()
    )
    return cli_json(compute_referral(db_path(request), spec).to_dict())


class ClvRequest(Strict):
    """`funnelscope clv`'s flags (needs the optional `clv` extra on the server)."""

    order: str = Field(description="The order event", examples=["purchase"])
    value: str = Field(description="The property holding each order's value")
    horizon: str = Field("365d", description="How far ahead to predict")
    discount: float = Field(0.01, description="Discount rate per 30 days")
    top: int = Field(20, ge=0, description="Customers listed (0: all)")
    holdout: str | None = Field(None, description="Hold out the last whole days, e.g. 90d")
    end: str | None = Field(None, description="The observation's last day, YYYY-MM-DD (UTC)")


@router.post(
    "/clv",
    summary="Customer lifetime value (as `funnelscope clv --format json`)",
    response_description="The CLV JSON; 400 naming the extra when pymc-marketing is missing",
)
def clv(body: ClvRequest, request: Request) -> Response:
    from funnelscope.app.clv import ClvOptions, customer_lifetime_value

    options = ClvOptions(
        body.order, body.value, body.horizon, body.discount, body.top, body.holdout, body.end
    )
    return cli_json(customer_lifetime_value(options, db_path(request)).to_dict())


class ExperimentRequest(Strict):
    """An experiment spec as an experiment file holds it, its funnel inline."""

    spec: dict[str, Any] = Field(
        description="The experiment spec (docs/experiments.md) with an inline funnel",
        examples=[
            {
                "funnel": {"steps": ["view", "buy"], "window": "7d"},
                "exposure": {"event": "exposure", "variant_property": "variant"},
                "control": "A",
            }
        ],
    )
    engine: Literal["kernel", "reference"] = Field(
        "kernel", description="The engine that computes each variant's funnel"
    )
    date_from: str | None = Field(None, alias="from", description="First exposed on or after")
    date_to: str | None = Field(None, alias="to", description="First exposed on or before")


@router.post(
    "/experiment",
    summary="A funnel A/B test (as `funnelscope experiment --format json`)",
    response_description="The experiment's JSON: per step and variant, the verdict",
)
def experiment(body: ExperimentRequest, request: Request) -> Response:
    from funnelscope.app.experiments import run_experiment_spec

    result = run_experiment_spec(
        body.spec, db_path(request), body.engine, date_from=body.date_from, date_to=body.date_to
    )
    return cli_json(result.to_dict())


class DiagnoseRequest(SpecRequest):
    """`funnelscope diagnose SPEC`'s flags: the spec runs over the store. The shipped typical
    ranges and knowledge are used (a request names no files on the server)."""

    period: Literal["day", "week", "month"] = Field("week", description="The period grain")
    current: int | None = Field(None, ge=1, description="Latest periods judged")
    baseline: int | None = Field(None, ge=0, description="Periods before them: the history")
    by: str | None = Field(None, description="Event properties to segment by, comma-separated")
    no_default_ranges: bool = Field(False, description="Do not use the shipped typical ranges")
    min_gap: str = Field("10%", description="How far below its reference a rate must be")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance after a BH correction")
    include_insignificant: bool = Field(
        False, alias="all", description="Also comparisons that are not significant (`--all`)"
    )
    value: float | None = Field(None, description="Revenue per final conversion")

    def settings(self) -> Any:
        from funnelscope.app.marketing import DiagnoseSettings

        return DiagnoseSettings(
            period=self.period,
            current=self.current,
            baseline=self.baseline,
            by=self.by,
            no_default_ranges=self.no_default_ranges,
            min_gap=self.min_gap,
            alpha=self.alpha,
            include_insignificant=self.include_insignificant,
            value_per_conversion=self.value,
        )


@router.post(
    "/diagnose",
    summary="Where a funnel leaks most (as `funnelscope diagnose SPEC --format json`)",
    response_description="The diagnosis JSON: ranked leaks with causes and actions",
)
def diagnose(body: DiagnoseRequest, request: Request) -> Response:
    from funnelscope.app.marketing import diagnose as run_diagnosis

    diagnosis = run_diagnosis(
        funnel_of(body), settings=body.settings(), db_path=db_path(request), engine=body.engine
    )
    return cli_json(diagnosis.to_dict())


class WhatIfRequest(DiagnoseRequest):
    """`funnelscope whatif SPEC`'s flags: one of lift or to_reference."""

    step: str = Field(description="The rate to change: a step number or stage key")
    lift: str | None = Field(None, description="Relative change of that rate", examples=["10%"])
    to_reference: bool = Field(False, description="Bring that rate's leaks to their reference")
    segment: str | None = Field(None, description="Only this segment, PROPERTY=VALUE")
    spend: float | None = Field(None, description="The spend in the current window")

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"spec": EXAMPLE_SPEC, "step": "2", "lift": "10%"}]},
    )


@router.post(
    "/whatif",
    summary="What if one rate changed (as `funnelscope whatif SPEC --format json`)",
    response_description="The what-if JSON: final conversions, revenue and CPA, now and then",
)
def whatif(body: WhatIfRequest, request: Request) -> Response:
    from funnelscope.app.marketing import what_if

    outcome = what_if(
        funnel_of(body),
        body.step,
        lift=body.lift,
        to_reference=body.to_reference,
        segment=body.segment,
        spend=body.spend,
        settings=body.settings(),
        db_path=db_path(request),
        engine=body.engine,
    )
    return cli_json(outcome.result.to_dict())
