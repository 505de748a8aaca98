"""Use cases of life after purchase: cohort retention, repurchase, renewal and referral over the
event store (analyses/retention/); each opens the store read-only, computes, closes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from funnelscope.app.events import open_store

if TYPE_CHECKING:
    from funnelscope.analyses.retention.cohorts import RetentionResult, RetentionSpec
    from funnelscope.analyses.retention.referral import ReferralResult, ReferralSpec
    from funnelscope.analyses.retention.renewal import RenewalResult, RenewalSpec
    from funnelscope.analyses.retention.repurchase import RepurchaseResult, RepurchaseSpec
    from funnelscope.model.date_range import DateRange
    from funnelscope.store import EventStore


def compute_retention(db_path: str, spec: RetentionSpec) -> RetentionResult:
    from funnelscope.analyses.retention.cohorts import retention

    with open_store(db_path) as store:
        return retention(store, spec)


def compute_repurchase(db_path: str, spec: RepurchaseSpec) -> RepurchaseResult:
    from funnelscope.analyses.retention.repurchase import repurchase

    with open_store(db_path) as store:
        return repurchase(store, spec)


def compute_renewal(db_path: str, spec: RenewalSpec) -> RenewalResult:
    from funnelscope.analyses.retention.renewal import renewal

    with open_store(db_path) as store:
        return renewal(store, spec)


def compute_referral(db_path: str, spec: ReferralSpec) -> ReferralResult:
    """Referrers are named by any of their ids: the ids the store stitched into one person
    (device ids, earlier ids) name that person too."""
    from funnelscope.analyses.retention.referral import referral

    with open_store(db_path) as store:
        return referral(store, spec, _stitched_ids(store))


def _stitched_ids(store: EventStore) -> dict[str, Any]:
    """Every id events were sent with -> the person it belongs to now (its person key)."""
    from funnelscope.store.schema import has_core_column

    if not has_core_column(store.connection, "distinct_id"):
        return {}
    columns = store.columns()
    found = store.connection.execute(
        f"SELECT DISTINCT distinct_id, {columns.person} FROM events WHERE distinct_id IS NOT NULL"
    ).fetchall()
    return {str(alias): person for alias, person in found}


def cohort_dates(date_from: str | None, date_to: str | None, timezone: str) -> DateRange | None:
    """`--from`/`--to` in `timezone` as a date range (None when neither is given)."""
    from funnelscope.model.date_range import date_range_of

    if date_from is None and date_to is None:
        return None
    return date_range_of(date_from, date_to, timezone, ("--from", "--to"), "--from/--to")


def repurchase_windows(text: str) -> tuple[int, ...]:
    """`--within` ("30d,90d"; a bare number is days) as whole days, each once."""
    from funnelscope.errors import SpecError
    from funnelscope.model.durations import parse_duration

    out = []
    for part in (p.strip() for p in text.split(",")):
        seconds = parse_duration(part if part and not part.isdigit() else f"{part}d", "--within")
        if seconds % 86400:
            raise SpecError("--within", f"{part!r} is not whole days", "give e.g. 30d,90d")
        out.append(seconds // 86400)
    return tuple(dict.fromkeys(out))


def grace_seconds(text: str) -> int:
    """`--grace` as seconds ("0" is none)."""
    from funnelscope.model.durations import parse_duration

    if text.strip() in ("0", "0s", "0d"):
        return 0
    return parse_duration(text, "--grace")
