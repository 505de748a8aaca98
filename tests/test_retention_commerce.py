"""Repurchase, renewal and referral (analyses/retention/): exact numbers on hand-made event
logs, a seeded simulated population whose true rates are known, and the CLI end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from funnelscope.analyses.retention.cohorts import RetentionSpec, retention
from funnelscope.analyses.retention.referral import ReferralSpec, referral
from funnelscope.analyses.retention.renewal import RenewalSpec, parse_period, renewal
from funnelscope.analyses.retention.repurchase import RepurchaseSpec, repurchase
from funnelscope.cli.main import main
from funnelscope.errors import SpecError
from funnelscope.model.date_range import date_range_of
from funnelscope.store.sources import TableSource

from journeys import journeys

DAY = 86400

# ------------------------------------------------------------------ repurchase

ORDERS = {
    "a": [
        ("purchase", "2024-01-01 10:00"),
        ("purchase", "2024-01-31 10:00"),
        ("purchase", "2024-02-05 10:00"),
    ],  # exactly 30 d
    "b": [("purchase", "2024-01-05 10:00"), ("purchase", "2024-02-04 10:00:01")],  # 30 d + 1 s
    "c": [("purchase", "2024-01-20 10:00")],
    "d": [("purchase", "2024-02-10 10:00"), ("purchase", "2024-02-10 10:00")],  # twice at once
    "e": [("purchase", "2024-03-15 10:00")],  # its 30 days are not over at the data end
    "z": [("x", "2024-04-01 00:00")],
}


def repurchased(**settings: Any) -> Any:
    spec = RepurchaseSpec(("purchase",), **settings)
    with TableSource(journeys(ORDERS)) as source:
        return repurchase(source, spec)


def test_repurchase_within_30_days_counts_the_edge_and_waits_for_the_window() -> None:
    result = repurchased(within_days=(30, 90))
    thirty, ninety = result.total.within
    # eligible for 30 d: a, b, c, d (e's window ends after the data); a (exactly 30 d) and d
    assert (thirty.eligible, thirty.repurchased, thirty.not_yet_observable) == (4, 2, 1)
    assert thirty.rate == 0.5
    # 90 d: only a's whole window (to Mar 31) is observed; b's would end on Apr 4
    assert (ninety.eligible, ninety.repurchased) == (1, 1)
    assert result.total.customers == 5 and result.total.with_second_order == 3


def test_time_to_second_order_and_orders_per_customer() -> None:
    total = repurchased().total
    # gaps: 30 d, 30 d + 1 s, 0 -> median 30 d, p90 = 30 d + 0.8 s (linear interpolation)
    assert total.median_days_to_second == 30.0
    assert total.p90_days_to_second == pytest.approx(30 + 0.8 / DAY, abs=1e-9)
    assert total.orders_distribution["1"] == 2 and total.orders_distribution["2"] == 2
    assert total.orders_distribution["3"] == 1 and total.orders_distribution["10+"] == 0
    assert total.mean_orders == pytest.approx(9 / 5)


def test_repurchase_cohorts_by_first_order_month_in_the_time_zone() -> None:
    result = repurchased(within_days=(30,))
    assert [(c.label, c.customers) for c in result.cohorts] == [
        ("2024-01", 3),
        ("2024-02", 1),
        ("2024-03", 1),
    ]
    assert result.cohorts[0].within[0].repurchased == 1  # a only: b is one second late
    west = repurchased(timezone="Etc/GMT+12")  # UTC-12: a's first order is on Dec 31
    assert [(c.label, c.customers) for c in west.cohorts] == [
        ("2023-12", 1),
        ("2024-01", 2),
        ("2024-02", 1),
        ("2024-03", 1),
    ]


def test_repurchase_date_range_selects_first_orders() -> None:
    result = repurchased(dates=date_range_of("2024-01-02", "2024-01-31"))
    assert result.total.customers == 2  # b and c; a began on Jan 1


# ------------------------------------------------------------------ renewal

CHARGES = {
    "a": [
        ("charge", "2024-01-01 00:00"),
        ("charge", "2024-01-31 00:00"),
        ("charge", "2024-03-03 00:00"),
    ],
    "b": [("charge", "2024-01-10 00:00"), ("charge", "2024-02-10 00:00")],
    "c": [("charge", "2024-01-15 00:00"), ("x", "2024-04-01 00:00")],
}


def renewed(log: dict[str, Any] = CHARGES, **settings: Any) -> Any:
    spec = RenewalSpec(("charge",), **settings)
    with TableSource(journeys(log)) as source:
        return renewal(source, spec)


def cycles(result: Any) -> list[tuple[int, ...]]:
    return [
        (c.cycle, c.renewed_on_time, c.renewed_in_grace, c.churned, c.pending)
        for c in result.cycles
    ]


def test_renewal_by_due_date_with_grace() -> None:
    result = renewed(every=parse_period("30d"), grace_seconds=2 * DAY)
    # a: Jan 31 is the due date itself (on time); Mar 3 is 2 days late (in grace), then pending
    # b: Feb 10 is 1 day late (in grace), then churned; c: churned after the first charge
    assert cycles(result) == [(1, 1, 1, 1, 0), (2, 0, 1, 1, 0), (3, 0, 0, 0, 1)]
    assert [c.renewal_rate for c in result.cycles] == [2 / 3, 0.5, None]
    assert (result.subscriptions, result.active, result.churned) == (3, 1, 2)


def test_renewal_without_grace_churns_late_payers_and_counts_a_reactivation() -> None:
    result = renewed(every=parse_period("30d"))
    # a's Mar 3 and b's Feb 10 are late: each starts a new subscription
    assert cycles(result) == [(1, 1, 0, 3, 1), (2, 0, 0, 1, 0)]
    assert (result.subscriptions, result.reactivations) == (5, 2)


def test_calendar_months_clamp_to_the_month_end() -> None:
    result = renewed(every=parse_period("month"))
    # a: Jan 1 -> due Feb 1 (Jan 31 on time); Jan 31 -> due Feb 29, Mar 3 is late
    # b: Jan 10 -> due Feb 10 (on time, the edge); c churned
    assert cycles(result) == [(1, 2, 0, 1, 1), (2, 0, 0, 2, 0)]


def test_period_from_a_property_with_every_as_fallback() -> None:
    log = {
        "a": [
            ("charge", "2024-01-01 00:00", {"plan": "7"}),
            ("charge", "2024-01-09 00:00", {"plan": "7"}),
        ],
        "b": [
            ("charge", "2024-01-01 00:00", {"plan": "month"}),
            ("charge", "2024-01-25 00:00", {"plan": None}),
        ],
        "c": [("charge", "2024-01-01 00:00", {"plan": "weekly"}), ("x", "2024-06-01 00:00")],
    }
    result = renewed(log, period_property="plan", every=parse_period("30d"))
    # a: due Jan 8, Jan 9 late -> churned + new; b: due Feb 1, on time; its next (30 d) churns
    assert cycles(result) == [(1, 1, 0, 3, 0), (2, 0, 0, 1, 0)]
    no_fallback = renewed(log, period_property="plan")
    assert no_fallback.charges_without_period == 1


def test_renewal_needs_a_period() -> None:
    with pytest.raises(SpecError, match="--every"):
        RenewalSpec(("charge",))


# ------------------------------------------------------------------ referral

SIGNUPS = {
    "a": [
        ("signup", "2024-01-01 00:00"),
        ("invite", "2024-01-02 00:00"),
        ("invite", "2024-01-03 00:00"),
        ("invite", "2024-01-04 00:00"),
    ],
    "b": [("signup", "2024-01-05 00:00"), ("invite", "2024-01-06 00:00")],
    "c": [("signup", "2024-01-10 00:00")],
    "d": [("signup", "2024-01-11 00:00", {"referrer": "a"})],  # 10 days after a
    "e": [("signup", "2024-01-21 00:00", {"referrer": "a"})],  # 20 days after a
    "f": [("signup", "2024-01-10 00:00", {"referrer": "b-phone"})],  # b by a stitched id, 5 d
    "g": [("signup", "2024-01-12 00:00", {"referrer": "nobody"})],
    "h": [("signup", "2024-02-12 00:00", {"referrer": "d"})],  # d is no user in the range
}


def referred(aliases: dict[str, Any] | None = None, **settings: Any) -> Any:
    spec = ReferralSpec(("signup",), ("invite",), "referrer", **settings)
    table = journeys(SIGNUPS)
    with TableSource(table, integer_persons=False) as source:
        return referral(source, spec, aliases)


def test_viral_coefficient_is_invites_per_user_times_conversion() -> None:
    result = referred({"b-phone": "b"}, dates=date_range_of("2024-01-01", "2024-01-09"))
    assert (result.users, result.invites, result.inviters, result.invitees) == (2, 4, 2, 3)
    assert result.invites_per_user == 2.0 and result.invite_conversion == 0.75
    assert result.viral_coefficient == 1.5
    # cycle times 5, 10, 20 days: median 10, p90 = 10 + 0.8 * 10
    assert (result.median_cycle_days, result.p90_cycle_days) == (10.0, 18.0)
    assert result.unlinked_referrals == 2  # g (an unknown id), h (d is not in the range)
    assert result.invites_distribution == {"0": 0, "1": 1, "2": 0, "3": 1, "4": 0, "5+": 0}


def test_referrer_named_by_an_id_not_stitched_is_not_linked() -> None:
    result = referred(dates=date_range_of("2024-01-01", "2024-01-09"))
    assert result.invitees == 2 and result.invite_conversion == 0.5


def test_self_referrals_and_signups_before_the_inviter_are_not_linked() -> None:
    log = {
        "a": [("signup", "2024-01-05 00:00", {"referrer": "a"}), ("invite", "2024-01-06 00:00")],
        "b": [("signup", "2024-01-04 00:00", {"referrer": "a"})],  # before a signed up
        "c": [("signup", "2024-01-07 00:00", {"referrer": "a"})],
    }
    spec = ReferralSpec(("signup",), ("invite",), "referrer")
    with TableSource(journeys(log)) as source:
        result = referral(source, spec)
    assert (result.invitees, result.unlinked_referrals, result.median_cycle_days) == (1, 2, 2.0)


def test_referral_on_integer_person_keys_reads_the_ids_back() -> None:
    spec = ReferralSpec(("signup",), ("invite",), "referrer")
    with TableSource(journeys(SIGNUPS)) as source:
        result = referral(source, spec)
    # all eight sign up; linked: d, e (a), h (d): f's id is unknown, g's too
    assert (result.users, result.invites, result.invitees) == (8, 4, 3)


# ------------------------------------------------------------------ simulated population


def simulated(seed: int = 16) -> tuple[pa.Table, dict[str, float]]:
    """Persons with known true rates: day-1 return 0.35 (rolling), second order within 30
    days 0.4 x 29/59, renewal per 30-day cycle 0.8 (paid 0-2 days late, grace 3 days) for
    cycles 1-5, invites Poisson(1.5) each converting with 0.3 (k = 0.45), invitees signing up
    10.5-20 days after their inviter (median 15.25)."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows: list[tuple[str, str, float, str | None]] = []

    def add(person: str, event: str, at: datetime, referrer: str | None = None) -> None:
        rows.append((person, event, at.timestamp(), referrer))

    users = 4000
    for i in range(users):
        person = f"u{i}"
        signup = start + timedelta(days=float(rng.uniform(0, 10)))
        add(person, "signup", signup)
        if rng.random() < 0.35:  # a login inside rolling day 1
            add(person, "login", signup + timedelta(days=1 + float(rng.uniform(0.01, 0.99))))
        add(person, "purchase", signup)
        if rng.random() < 0.4:
            add(person, "purchase", signup + timedelta(days=float(rng.uniform(1, 60))))
        charge = signup
        for _cycle in range(6):
            add(person, "charge", charge)
            if rng.random() >= 0.8:
                break
            charge += timedelta(days=30 + float(rng.uniform(0, 2)))
        for j in range(int(rng.poisson(1.5))):
            add(person, "invite", signup + timedelta(hours=1 + j))
            if rng.random() < 0.3:
                later = signup + timedelta(days=float(rng.uniform(10.5, 20)))
                add(f"i{i}_{j}", "signup", later, person)
    add("end", "x", start + timedelta(days=400))
    table = pa.table(
        {
            "person_id": [r[0] for r in rows],
            "event_id": [f"e{n:07d}" for n in range(len(rows))],
            "event": [r[1] for r in rows],
            "ts": pa.array([round(r[2] * 1_000_000) for r in rows], pa.int64()),
            "referrer": [r[3] for r in rows],
        }
    )
    truth = {"day1": 0.35, "within30": 0.4 * 29 / 59, "renewal": 0.8, "k": 1.5 * 0.3}
    return table, truth


def test_simulated_population_rates_are_measured_within_tolerance() -> None:
    """Tolerance: 4 standard errors of each rate at its sample size (a false alarm about 1 in
    16,000 runs; the seed is fixed, so the test is deterministic)."""
    table, truth = simulated()
    in_range = date_range_of("2024-01-01", "2024-01-10")  # the users; invitees come later
    with TableSource(table) as source:
        kept = retention(
            source, RetentionSpec(("purchase",), ("login",), periods=3, dates=in_range)
        )
        bought = repurchase(source, RepurchaseSpec(("purchase",), (30,)))
        paid = renewal(source, RenewalSpec(("charge",), parse_period("30d"), None, 3 * DAY))
        spread = referral(source, ReferralSpec(("signup",), ("invite",), dates=in_range))

    def close(measured: float | None, true: float, n: int) -> None:
        assert measured is not None
        tolerance = 4 * (true * (1 - true) / n) ** 0.5
        assert abs(measured - true) <= tolerance, (measured, true, tolerance)

    day1 = kept.average[1]
    assert day1.size == 4000 and kept.average[0].rate == 0.0
    close(day1.rate, truth["day1"], day1.size)
    share = bought.total.within[0]
    close(share.rate, truth["within30"], share.eligible)
    assert [c.cycle for c in paid.cycles] == [1, 2, 3, 4, 5, 6]
    decided = paid.cycles[:5]  # the simulation stops after the 6th charge: all churn there
    renewed_n = sum(c.renewed for c in decided)
    churned_n = sum(c.churned for c in decided)
    close(renewed_n / (renewed_n + churned_n), truth["renewal"], renewed_n + churned_n)
    assert paid.cycles[5].renewed == 0 and sum(c.pending for c in paid.cycles) == 0
    assert spread.users == 4000
    # k = invitees / users: a Poisson(1.5 x 0.3) count per user, so its standard error is
    # sqrt(0.45 / users)
    assert spread.viral_coefficient is not None
    assert abs(spread.viral_coefficient - truth["k"]) <= 4 * (truth["k"] / spread.users) ** 0.5
    assert spread.median_cycle_days is not None
    assert abs(spread.median_cycle_days - 15.25) < 0.75


# ------------------------------------------------------------------ the command

EXPORT = """\
user,action,ts,referrer
alice,signup,2024-01-01T10:00:00Z,
alice,login,2024-01-02T11:00:00Z,
alice,purchase,2024-01-01T10:30:00Z,
alice,purchase,2024-01-20T10:30:00Z,
alice,invite,2024-01-01T12:00:00Z,
bob,signup,2024-01-01T12:00:00Z,alice
bob,purchase,2024-01-02T09:00:00Z,
bob,charge,2024-01-02T09:00:00Z,
bob,charge,2024-02-02T09:00:00Z,
carol,signup,2024-01-02T08:00:00Z,
carol,login,2024-01-02T09:00:00Z,
carol,x,2024-03-31T00:00:00Z,
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "150")
    (tmp_path / "export.csv").write_text(EXPORT)
    args = ["ingest", "export.csv", "--person-col", "user", "--event-col", "action"]
    assert main([*args, "--time-col", "ts", "--no-progress"]) == 0
    return tmp_path / "funnelscope.duckdb"


def command(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main(["retention", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_retention_commands_json(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cohorts = command(capsys, "cohorts", "--start", "signup", "--return", "login", "--periods", "2")
    assert [(c["cohort"], c["size"]) for c in cohorts["cohorts"]] == [
        ("2024-01-01", 2),
        ("2024-01-02", 1),
    ]
    assert [c["retained"] for c in cohorts["cohorts"][0]["cells"]] == [0, 1]
    assert cohorts["average"][0]["rate"] == pytest.approx(1 / 3)
    bought = command(capsys, "repurchase", "--order", "purchase", "--within", "30d")
    assert bought["total"]["within"][0] == {
        "days": 30,
        "eligible": 2,
        "repurchased": 1,
        "rate": 0.5,
        "not_yet_observable": 0,
    }
    paid = command(capsys, "renewal", "--charge", "charge", "--every", "30d", "--grace", "1d")
    assert [c["renewed_in_grace"] for c in paid["cycles"]] == [1, 0]
    assert paid["churned"] == 1
    spread = command(capsys, "referral", "--from", "2024-01-01", "--to", "2024-01-01")
    assert (spread["users"], spread["invites"], spread["invitees"]) == (2, 1, 1)
    assert spread["viral_coefficient"] == 0.5


def test_cli_retention_table_and_csv(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["retention", "cohorts", "--start", "signup", "--periods", "2"]) == 0
    out = capsys.readouterr().out
    assert "2024-01-01" in out and "average" in out
    assert (
        main(["retention", "renewal", "--charge", "charge", "--every", "month", "--format", "csv"])
        == 0
    )
    assert capsys.readouterr().out.splitlines()[0].startswith("cycle,charges,renewed_on_time")
    assert main(["retention", "renewal", "--charge", "charge"]) == 1
    assert "--every" in capsys.readouterr().err


STITCHED = """\
user,device,action,ts,referrer
,dev-a,signup,2024-01-01T10:00:00Z,
alice,dev-a,login,2024-01-01T11:00:00Z,
alice,,invite,2024-01-01T12:00:00Z,
bob,,signup,2024-01-03T10:00:00Z,dev-a
"""


def test_cli_referral_links_a_referrer_named_by_a_stitched_device_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stitched.csv").write_text(STITCHED)
    args = ["ingest", "stitched.csv", "--person-col", "user", "--device-col", "device"]
    assert main([*args, "--event-col", "action", "--time-col", "ts", "--no-progress"]) == 0
    spread = command(capsys, "referral", "--to", "2024-01-01")
    # alice's signup came from her device before she logged in: one person, who invited bob
    assert (spread["users"], spread["invites"], spread["invitees"]) == (1, 1, 1)
    assert spread["median_cycle_days"] == 2.0
