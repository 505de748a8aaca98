"""Referral: invites per user, invite conversion, the viral coefficient and the cycle time
(docs: "funnelscope retention referral").

- Users: persons whose first signup event ever falls in the date range.
- Invites: every invite event of those users (any time).
- An invitee is a person whose first signup carries the referrer property naming one of those
  users (by any id of the inviter: in the store, every id stitched to the inviter's person), at
  or after the inviter's own first signup, and who is not the inviter.
- invites per user = invites / users; invite conversion = invitees / invites;
  k = invites per user x invite conversion (= invitees / users).
- Cycle time: from the inviter's first signup to the invitee's (median and p90).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelscope.analyses.retention.common import (
    check_events,
    days,
    events_relation,
    in_list,
    iso,
    observed_until,
    quantile,
    range_condition,
    rate,
    rows,
)
from funnelscope.errors import SpecError
from funnelscope.model.date_range import DateRange
from funnelscope.store.sources import EventSource


@dataclass(frozen=True)
class ReferralSpec:
    signup_events: tuple[str, ...]
    invite_events: tuple[str, ...]
    referrer_property: str = "referrer"
    dates: DateRange | None = None  # which users (by first signup) count

    def __post_init__(self) -> None:
        check_events(self.signup_events, "--signup")
        check_events(self.invite_events, "--invite")
        if not self.referrer_property:
            raise SpecError("--referrer-property", "needs a property name", "e.g. invited_by")

    def to_dict(self) -> dict[str, Any]:
        return {
            "signup_events": list(self.signup_events),
            "invite_events": list(self.invite_events),
            "referrer_property": self.referrer_property,
            "date_range": None if self.dates is None else self.dates.bounds_dict(),
        }


@dataclass(frozen=True)
class ReferralResult:
    spec: ReferralSpec
    observed_until: str | None
    users: int
    inviters: int  # users with at least one invite
    invites: int
    invitees: int
    unlinked_referrals: int  # signups naming a referrer who is not one of the users
    median_cycle_days: float | None
    p90_cycle_days: float | None
    invites_distribution: dict[str, int]  # invites per user: "0".."4", "5+" -> users

    @property
    def invites_per_user(self) -> float | None:
        return rate(self.invites, self.users)

    @property
    def invite_conversion(self) -> float | None:
        return rate(self.invitees, self.invites)

    @property
    def viral_coefficient(self) -> float | None:
        per_user, conversion = self.invites_per_user, self.invite_conversion
        if per_user is None:
            return None
        if conversion is None:  # no invites at all: no invitee can be counted either
            return rate(self.invitees, self.users)
        return per_user * conversion

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysis": "referral",
            "settings": self.spec.to_dict(),
            "observed_until": self.observed_until,
            "users": self.users,
            "inviters": self.inviters,
            "invites": self.invites,
            "invites_per_user": self.invites_per_user,
            "invitees": self.invitees,
            "invite_conversion": self.invite_conversion,
            "viral_coefficient": self.viral_coefficient,
            "median_cycle_days": self.median_cycle_days,
            "p90_cycle_days": self.p90_cycle_days,
            "unlinked_referrals": self.unlinked_referrals,
            "invites_distribution": dict(self.invites_distribution),
        }

    def rows(self) -> list[dict[str, Any]]:
        row = self.to_dict()
        for key in ("analysis", "settings", "invites_distribution"):
            row.pop(key)
        return [row]


def referral(
    source: EventSource, spec: ReferralSpec, aliases: Mapping[str, Any] | None = None
) -> ReferralResult:
    """`aliases`: more ids of persons (id text -> the source's person value), e.g. the store's
    device ids stitched into persons; a person's own id always names them."""
    relation = events_relation(source, [spec.referrer_property])
    ref = relation.properties[spec.referrer_property]
    base = f"""{relation.cte},
    signups AS (SELECT person, ts, CAST({ref} AS VARCHAR) AS referrer,
                row_number() OVER (PARTITION BY person ORDER BY ts, eid) AS n
                FROM ev WHERE event IN {in_list(spec.signup_events)}),
    firsts AS (SELECT person, ts, referrer FROM signups WHERE n = 1),
    users AS (SELECT person, ts FROM firsts WHERE {range_condition("ts", spec.dates)}),
    invites AS (SELECT person, count(*) AS n FROM ev WHERE event IN {in_list(spec.invite_events)}
                GROUP BY person)
    """
    users = rows(
        source,
        base + "SELECT u.person, u.ts, coalesce(i.n, 0) FROM users u "
        "LEFT JOIN invites i USING (person) ORDER BY u.person",
    )
    referred = rows(
        source,
        base + "SELECT person, ts, referrer FROM firsts WHERE referrer IS NOT NULL "
        "AND trim(referrer) <> '' ORDER BY person",
    )
    signed = {person: int(ts) for person, ts, _ in users}
    names = _names(source, list(signed), aliases)
    cycles = []
    unlinked = 0
    for person, ts, referrer in referred:
        inviter = names.get(str(referrer).strip())
        if inviter is None or inviter == person or int(ts) < signed[inviter]:
            unlinked += 1
            continue
        cycles.append(int(ts) - signed[inviter])
    counts = np.array([int(n) for _, _, n in users], dtype=np.int64)
    spans = np.array(cycles, dtype=np.int64)
    distribution = {str(n): int((counts == n).sum()) for n in range(5)}
    distribution["5+"] = int((counts >= 5).sum())
    return ReferralResult(
        spec,
        iso(observed_until(source)),
        len(users),
        int((counts > 0).sum()),
        int(counts.sum()),
        len(cycles),
        unlinked,
        days(quantile(spans, 0.5)),
        days(quantile(spans, 0.9)),
        distribution,
    )


def _names(
    source: EventSource, persons: list[Any], aliases: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Id text -> person, for the users: their own ids, then any alias naming one of them."""
    users = set(persons)
    names: dict[str, Any] = {}
    if persons:
        if source.columns().integer_person:
            ids = source.person_ids(np.array(persons, dtype=np.int64))
        else:
            ids = [str(p) for p in persons]
        names = dict(zip(ids, persons, strict=True))
    for alias, person in (aliases or {}).items():
        if person in users:
            names.setdefault(alias, person)
    return names
