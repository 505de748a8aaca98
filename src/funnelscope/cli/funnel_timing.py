"""`funnelscope funnel` flags for time to convert, conversion trends and segments that differ
(rendered by cli/render_timing.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from funnelscope.app.timing import TimingRequest

F = TypeVar("F", bound=Callable[..., Any])
_KEYS = (
    "time_to_convert",
    "time_from",
    "time_to",
    "bins",
    "trend",
    "trend_timezone",
    "segments",
    "min_n",
    "correction",
    "alpha",
)


def timing_options(func: F) -> F:
    options = [
        click.option(
            "--time-to-convert",
            is_flag=True,
            help="Also show the distribution of times to convert (PostHog's bins), with mean, "
            "median, p90 and p95.",
        ),
        click.option(
            "--time-from",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            metavar="N",
            help="With --time-to-convert: measure from step N (1-based).",
        ),
        click.option(
            "--time-to",
            type=click.IntRange(min=1),
            metavar="M",
            help="With --time-to-convert: measure to step M (default: the last step).",
        ),
        click.option(
            "--bins",
            type=click.IntRange(1, 90),
            metavar="N",
            help="With --time-to-convert: N bins (1-90) instead of the automatic count.",
        ),
        click.option(
            "--trend",
            type=click.Choice(["day", "week", "month"]),
            help="Also show the conversion by the period attempts entered in (weeks start Monday).",
        ),
        click.option(
            "--trend-timezone",
            metavar="ZONE",
            help="With --trend: cut periods at midnight in this IANA zone (default: the date "
            "range's zone, else UTC).",
        ),
        click.option(
            "--segments",
            is_flag=True,
            help="With a breakdown: test each value's step conversion against the other values "
            "pooled and flag those that differ.",
        ),
        click.option(
            "--min-n",
            type=click.IntRange(min=1),
            default=30,
            show_default=True,
            metavar="N",
            help="With --segments: test only where the value and the rest both have N attempts.",
        ),
        click.option(
            "--correction",
            type=click.Choice(["bh", "holm"]),
            default="bh",
            show_default=True,
            help="With --segments: multiple-testing correction, Benjamini-Hochberg or Holm.",
        ),
        click.option(
            "--alpha",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.05,
            show_default=True,
            help="With --segments: significant when the adjusted p-value is below this.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def timing_request(ctx: click.Context, kwargs: dict[str, Any]) -> TimingRequest:
    """Pop the timing flags out of the command's kwargs; a flag given without the feature it
    belongs to is a usage error."""
    from funnelscope.app.timing import TimingRequest

    values = {key: kwargs.pop(key) for key in _KEYS}
    given = {
        key
        for key in _KEYS
        if ctx.get_parameter_source(key) is not click.core.ParameterSource.DEFAULT
    }
    needs = {
        "time_to_convert": ("time_from", "time_to", "bins"),
        "trend": ("trend_timezone",),
        "segments": ("min_n", "correction", "alpha"),
    }
    for feature, keys in needs.items():
        for key in keys:
            if key in given and feature not in given:
                flag, owner = key.replace("_", "-"), feature.replace("_", "-")
                raise click.UsageError(f"--{flag} only applies with --{owner}", ctx)
    return TimingRequest(**values)
