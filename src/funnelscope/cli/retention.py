"""`funnelscope retention`: life after purchase from the events in the store: cohort retention,
repurchase, renewal of subscriptions and referral."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from funnelscope.cli.options import db_option, format_option

F = TypeVar("F", bound=Callable[..., Any])


def common_options(func: F) -> F:
    """--db, --from, --to, --timezone and --format, spelled alike by every subcommand."""
    options = [
        db_option,
        click.option(
            "--from",
            "date_from",
            metavar="DATE",
            help="Cohorts start on or after DATE (2024-01-01, or a time with an offset).",
        ),
        click.option(
            "--to",
            "date_to",
            metavar="DATE",
            help="Cohorts start on or before DATE (the whole day); later events still count.",
        ),
        click.option(
            "--timezone",
            default="UTC",
            show_default=True,
            help="IANA zone of days, weeks and months (cohorts, calendar periods, --from/--to).",
        ),
        format_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def retention() -> None:
    """Life after purchase: retention cohorts, repurchase, renewal and referral.

    \b
    funnelscope retention cohorts --start signup --return login --period week
    funnelscope retention repurchase --order purchase --within 30d,90d
    funnelscope retention renewal --charge charge --every month --grace 3d
    funnelscope retention referral --signup signup --invite invite_sent --referrer-property referrer
    """


@retention.command()
@click.option(
    "--start",
    "start",
    multiple=True,
    required=True,
    metavar="EVENT",
    help="The event that puts a person in a cohort (repeatable).",
)
@click.option(
    "--return",
    "return_",
    multiple=True,
    metavar="EVENT",
    help="The event that counts as coming back (repeatable; default: any event).",
)
@click.option(
    "--type",
    "kind",
    type=click.Choice(["first", "recurring"]),
    default="first",
    show_default=True,
    help="first: each person once, at their first start event ever; recurring: in "
    "every period in which they did a start event.",
)
@click.option(
    "--criterion",
    type=click.Choice(["on", "on-or-after"]),
    default="on",
    show_default=True,
    help="Retained in period N when they came back in period N (on), or in N or any "
    "later period (on-or-after).",
)
@click.option(
    "--period",
    "unit",
    type=click.Choice(["day", "week", "month"]),
    default="day",
    show_default=True,
    help="Cohort and period length.",
)
@click.option(
    "--periods",
    type=click.IntRange(1, 400),
    default=8,
    show_default=True,
    help="How many periods to show (period 0 to N-1).",
)
@click.option(
    "--windows",
    type=click.Choice(["rolling", "calendar"]),
    default="rolling",
    show_default=True,
    help="rolling: N x 24h (7d, 30d) from each person's start event; calendar: the "
    "calendar day/week/month boundaries in --timezone.",
)
@common_options
def cohorts(
    start: tuple[str, ...],
    return_: tuple[str, ...],
    kind: str,
    criterion: str,
    unit: str,
    periods: int,
    windows: str,
    db_path: str,
    date_from: str | None,
    date_to: str | None,
    timezone: str,
    output_format: str,
) -> None:
    """Retention by cohort: of the persons who did --start in a period, the share who did
    --return N periods later, per cohort and on average (weighted by cohort size)."""
    from funnelscope.analyses.retention.cohorts import RetentionSpec
    from funnelscope.app.retention import cohort_dates, compute_retention
    from funnelscope.cli.render_retention import show

    spec = RetentionSpec(
        start,
        return_ or None,
        kind,
        criterion.replace("-", "_"),
        unit,
        periods,
        windows,
        timezone,
        cohort_dates(date_from, date_to, timezone),
    )
    show(compute_retention(db_path, spec), output_format)


@retention.command()
@click.option(
    "--order",
    "order",
    multiple=True,
    default=("purchase",),
    show_default=True,
    metavar="EVENT",
    help="The order event (repeatable).",
)
@click.option(
    "--within",
    default="30d,90d",
    show_default=True,
    metavar="DAYS",
    help="Windows for the second order, comma-separated whole days: 30d,90d.",
)
@common_options
def repurchase(
    order: tuple[str, ...],
    within: str,
    db_path: str,
    date_from: str | None,
    date_to: str | None,
    timezone: str,
    output_format: str,
) -> None:
    """Repurchase: the share of customers with a second order within N days of their first,
    the time to the second order, and orders per customer, by first-order month."""
    from funnelscope.analyses.retention.repurchase import RepurchaseSpec
    from funnelscope.app.retention import cohort_dates, compute_repurchase, repurchase_windows
    from funnelscope.cli.render_retention import show

    spec = RepurchaseSpec(
        order, repurchase_windows(within), timezone, cohort_dates(date_from, date_to, timezone)
    )
    show(compute_repurchase(db_path, spec), output_format)


@retention.command()
@click.option(
    "--charge",
    "charge",
    multiple=True,
    required=True,
    metavar="EVENT",
    help="The charge or renewal event; each pays for one period (repeatable).",
)
@click.option(
    "--every",
    metavar="PERIOD",
    help="The period each charge pays for: 30d, 7d, month or year (calendar, in --timezone).",
)
@click.option(
    "--period-property",
    metavar="PROP",
    help="Read each charge's period from this property (days, or day/week/month/"
    "year); --every is the fallback.",
)
@click.option(
    "--grace",
    default="0s",
    show_default=True,
    metavar="DURATION",
    help="A renewal this long after the due time still counts (in grace).",
)
@common_options
def renewal(
    charge: tuple[str, ...],
    every: str | None,
    period_property: str | None,
    grace: str,
    db_path: str,
    date_from: str | None,
    date_to: str | None,
    timezone: str,
    output_format: str,
) -> None:
    """Renewal of subscriptions: per cycle, the charges renewed by the due date (or within the
    grace), churned, or still pending at the end of the data, and the renewal rate."""
    from funnelscope.analyses.retention.renewal import RenewalSpec, parse_period
    from funnelscope.app.retention import cohort_dates, compute_renewal, grace_seconds
    from funnelscope.cli.render_retention import show

    spec = RenewalSpec(
        charge,
        None if every is None else parse_period(every),
        period_property,
        grace_seconds(grace),
        timezone,
        cohort_dates(date_from, date_to, timezone),
    )
    show(compute_renewal(db_path, spec), output_format)


@retention.command()
@click.option(
    "--signup",
    "signup",
    multiple=True,
    default=("signup",),
    show_default=True,
    metavar="EVENT",
    help="The signup event (repeatable).",
)
@click.option(
    "--invite",
    "invite",
    multiple=True,
    default=("invite",),
    show_default=True,
    metavar="EVENT",
    help="The event of a user sending an invite (repeatable).",
)
@click.option(
    "--referrer-property",
    default="referrer",
    show_default=True,
    metavar="PROP",
    help="The property of the invitee's signup naming the inviter's id, e.g. invited_by.",
)
@common_options
def referral(
    signup: tuple[str, ...],
    invite: tuple[str, ...],
    referrer_property: str,
    db_path: str,
    date_from: str | None,
    date_to: str | None,
    timezone: str,
    output_format: str,
) -> None:
    """Referral: invites per user, invite conversion, the viral coefficient k and the cycle
    time from an inviter's signup to their invitee's."""
    from funnelscope.analyses.retention.referral import ReferralSpec
    from funnelscope.app.retention import cohort_dates, compute_referral
    from funnelscope.cli.render_retention import show

    spec = ReferralSpec(
        signup, invite, referrer_property, cohort_dates(date_from, date_to, timezone)
    )
    show(compute_referral(db_path, spec), output_format)
