"""Command-line values over a funnel spec: `with_overrides` returns the spec as the flags say.

A flag given replaces what the spec says for that key (``--breakdown``, ``--hold-constant`` and
``--exclude`` replace the spec's whole list); ``--optional`` and ``--within`` set single steps,
and the other steps keep the spec's settings; ``--from`` and ``--to`` set one end of the date
range each, and the other end and the time zone stay the spec's. Errors are SpecErrors whose
path is the flag.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from funnelscope.errors import SpecError, shown
from funnelscope.model.date_range import DateRange, date_range_of
from funnelscope.model.durations import parse_duration
from funnelscope.model.spec import (
    DEFAULT_BREAKDOWN_LIMIT,
    MAX_BREAKDOWN_PROPERTIES,
    MAX_HELD,
    SCOPES,
    Breakdown,
    Exclusion,
    Funnel,
    Step,
    parse_attribution,
)

_EXCLUDE_HINT = (
    "write e.g. --exclude refund:1-3 (the event, then steps I < J it ends attempts between)"
)
_WITHIN_HINT = "write e.g. --within 3=1h (step 3 at most 1h after the step before it)"
_DURATION_HINT = "use e.g. 30s, 15m, 12h, 7d or 2w"
_STEPS = re.compile(r"\s*(\d{1,9})\s*-\s*(\d{1,9})\s*")  # more digits is no step


def with_overrides(
    funnel: Funnel,
    *,
    breakdown: Sequence[str] = (),
    attribution: str | None = None,
    breakdown_limit: int | None = None,
    breakdown_scope: str | None = None,
    count: str | None = None,
    session_gap: str | None = None,
    hold_constant: Sequence[str] = (),
    exclude: Sequence[str] = (),
    optional: Sequence[int] = (),
    within: Sequence[str] = (),
    date_from: str | None = None,
    date_to: str | None = None,
) -> Funnel:
    """`funnel` with the command line's values in place of the spec's (empty or None: keep the
    spec's). The result is validated like any spec; errors name the flag and the fix."""
    n = len(funnel.steps)
    flags: dict[str, str] = {}  # spec field -> the flag that set it, to name in errors
    changes: dict[str, Any] = {}

    new_breakdown = _breakdown(
        funnel.breakdown, breakdown, attribution, breakdown_limit, breakdown_scope
    )
    if new_breakdown is not funnel.breakdown:
        changes["breakdown"] = new_breakdown
        for field, flag, given in (
            ("breakdown.property", "--breakdown", bool(breakdown)),
            ("breakdown.attribution", "--attribution", attribution is not None),
            ("breakdown.limit", "--breakdown-limit", breakdown_limit is not None),
            ("breakdown.scope", "--breakdown-scope", breakdown_scope is not None),
        ):
            if given:
                flags[field] = flag

    if count is not None or session_gap is not None:
        new_count = funnel.count if count is None else count
        gap = funnel.session_gap_seconds
        if session_gap is not None:
            if new_count != "sessions":
                raise SpecError(
                    "--session-gap",
                    f"only applies when counting sessions (this funnel counts {new_count})",
                    "add --count sessions",
                )
            gap = _duration(session_gap, "--session-gap")
        elif new_count != "sessions":
            gap = None  # the spec's gap belonged to the sessions the flag no longer counts
        changes["count"], changes["session_gap_seconds"] = new_count, gap
        flags["count"], flags["session_gap"] = "--count", "--session-gap"

    if hold_constant:
        changes["hold_constant"] = _names(hold_constant, "--hold-constant", MAX_HELD)
        flags["hold_constant"] = "--hold-constant"

    if exclude:
        changes["exclusions"] = tuple(_exclusion(text, n) for text in exclude)
        flags["exclusions"] = "--exclude"

    if optional or within:
        changes["steps"] = _steps(funnel.steps, optional, within)
        flags["steps"] = "--optional" if optional else "--within"
        flags["optional"], flags["within"] = "--optional", "--within"

    if date_from is not None or date_to is not None:
        changes["date_range"] = with_dates(funnel.date_range, date_from, date_to)

    if not changes:
        return funnel
    try:
        return dataclasses.replace(funnel, **changes)
    except SpecError as exc:
        raise _flag_error(exc, flags, exclude) from exc


def with_dates(
    spec: DateRange | None, date_from: str | None, date_to: str | None
) -> DateRange | None:
    """The spec's date range with ``--from`` / ``--to`` in place of its ends (None: keep); the
    time zone stays the spec's (UTC without one)."""
    if date_from is None and date_to is None:
        return spec
    start = date_from if date_from is not None else spec and spec.start_text
    end = date_to if date_to is not None else spec and spec.end_text
    zone = spec.timezone if spec is not None else None
    flag = "--from" if date_from is not None else "--to"
    return date_range_of(start, end, zone, ("--from", "--to"), flag)


def _breakdown(
    spec: Breakdown | None,
    properties: Sequence[str],
    attribution: str | None,
    limit: int | None,
    scope: str | None,
) -> Breakdown | None:
    if not properties and attribution is None and limit is None and scope is None:
        return spec
    if spec is None and not properties:
        flag = next(
            f
            for f, v in (
                ("--attribution", attribution),
                ("--breakdown-limit", limit),
                ("--breakdown-scope", scope),
            )
            if v is not None
        )
        raise SpecError(
            flag,
            "there is no breakdown to apply it to (the spec has none)",
            "add --breakdown PROPERTY, or a breakdown to the spec",
        )
    names = _names(properties, "--breakdown", MAX_BREAKDOWN_PROPERTIES)
    if scope is not None and scope not in SCOPES:
        raise SpecError(
            "--breakdown-scope", f"{shown(scope)} is not a scope", "use event or person"
        )
    if limit is not None and limit < 1:
        raise SpecError(
            "--breakdown-limit", f"{shown(limit)} is not a positive whole number", "use e.g. 10"
        )
    base = spec or Breakdown(names, limit=DEFAULT_BREAKDOWN_LIMIT)
    new_scope = base.scope if scope is None else scope
    name, step = base.attribution, base.step
    if attribution is not None:
        if new_scope == "person":
            raise SpecError(
                "--attribution",
                "does not apply to person properties (a person has one value)",
                "remove --attribution, or use --breakdown-scope event",
            )
        name, step = parse_attribution(attribution, "--attribution")
    elif new_scope == "person":
        name, step = "first_touch", None  # the spec's attribution read events; a person has one
    return Breakdown(
        names or base.properties,
        name,
        step,
        base.limit if limit is None else limit,
        new_scope,
    )


def _names(raw: Sequence[str], flag: str, most: int) -> tuple[str, ...]:
    names: list[str] = []
    for name in raw:
        if not name.strip():
            raise SpecError(
                flag, f"{shown(name)} is not a property name", f"write e.g. {flag} channel"
            )
        if name in names:
            raise SpecError(flag, f"names {shown(name)} twice", "name each property once")
        names.append(name)
    if len(names) > most:
        raise SpecError(flag, f"names {len(names)} properties", f"give at most {most}")
    return tuple(names)


def _exclusion(text: str, n: int) -> Exclusion:
    """``refund:1-3`` -> Exclusion('refund', 1, 3); the event name may itself hold colons."""
    event, colon, between = text.rpartition(":")
    match = _STEPS.fullmatch(between)
    if not colon or not event.strip() or match is None:
        raise SpecError("--exclude", f"{shown(text)} is not EVENT:I-J", _EXCLUDE_HINT)
    start, end = int(match.group(1)), int(match.group(2))
    if not 1 <= start < end <= n:
        raise SpecError(
            "--exclude",
            f"in {shown(text)}, {start}-{end} is not a pair of steps I < J of this {n}-step funnel",
            f"use two step numbers from 1 to {n}, the first smaller, e.g. {event}:1-{n}"
            if n > 1
            else "a one-step funnel has no steps to exclude between",
        )
    return Exclusion(event, start, end)


def _steps(
    steps: tuple[Step, ...], optional: Sequence[int], within: Sequence[str]
) -> tuple[Step, ...]:
    n = len(steps)
    out = list(steps)
    for k in dict.fromkeys(optional):
        if not 1 <= k <= n:
            raise SpecError(
                "--optional",
                f"step {k} does not exist",
                f"use a step from 2 to {n - 1}"
                if n > 2
                else "a funnel needs 3 or more steps to have an optional one",
            )
        out[k - 1] = dataclasses.replace(out[k - 1], optional=True)
    seen: set[int] = set()
    for text in within:
        number, equals, duration = text.partition("=")
        if not equals or not re.fullmatch(r"\s*[0-9]{1,9}\s*", number) or not duration.strip():
            raise SpecError("--within", f"{shown(text)} is not STEP=DURATION", _WITHIN_HINT)
        k = int(number)
        if not 1 <= k <= n:
            raise SpecError(
                "--within",
                f"in {shown(text)}, step {k} does not exist",
                f"use a step from 2 to {n}" if n > 1 else "a one-step funnel has no later step",
            )
        if k in seen:
            raise SpecError("--within", f"gives step {k} twice", "give each step once")
        seen.add(k)
        seconds = _duration(duration.strip(), "--within", text)
        out[k - 1] = dataclasses.replace(out[k - 1], within_seconds=seconds)
    return tuple(out)


def _duration(raw: str, flag: str, text: str | None = None) -> int:
    try:
        return parse_duration(raw, flag)
    except SpecError as exc:
        problem = exc.problem if text is None else f"in {shown(text)}, {exc.problem}"
        hint = _DURATION_HINT if "{" in exc.hint else exc.hint
        raise SpecError(flag, problem, hint) from exc


def _flag_error(exc: SpecError, flags: dict[str, str], exclude: Sequence[str]) -> SpecError:
    """The error of a spec field that a flag set, told in the flag's words: ``steps[2].optional``
    -> ``--optional: step 2: ...``, ``exclusions[1]`` -> ``--exclude: in 'refund:1-3': ...``."""
    base = re.sub(r"\[\d+\]", "", exc.path)
    flag = next(
        (flags[f] for f in (base, base.split(".")[-1], base.split(".")[0]) if f in flags), None
    )
    if flag is None:
        return exc
    problem = exc.problem
    index = re.search(r"\[(\d+)\]", exc.path)
    if index and flag in ("--optional", "--within") and f"step {index.group(1)}" not in problem:
        problem = f"step {index.group(1)}: {problem}"
    elif index and flag == "--exclude" and int(index.group(1)) <= len(exclude):
        problem = f"in {shown(exclude[int(index.group(1)) - 1])}: {problem}"
    return SpecError(flag, problem, exc.hint)
