"""Cohort retention (analyses/retention/cohorts.py): exact numbers on hand-made event logs for
each rule: on vs on-or-after, rolling vs calendar (across a DST change), incomplete cells,
first-time vs recurring cohorts, the date range and the anchor event itself."""

from __future__ import annotations

from typing import Any

from funnelscope.analyses.retention.cohorts import RetentionResult, RetentionSpec, retention
from funnelscope.model.date_range import date_range_of
from funnelscope.store.sources import TableSource

from journeys import journeys

LOG = {
    # a: 23 h after signup (rolling day 0, calendar day 1), then 49 h after (day 2 either way)
    "a": [
        ("signup", "2024-01-01 10:00"),
        ("login", "2024-01-02 09:00"),
        ("login", "2024-01-03 11:00"),
    ],
    "b": [("signup", "2024-01-01 12:00"), ("login", "2024-01-04 12:00")],  # 72 h: day 3
    "c": [("signup", "2024-01-02 12:00"), ("login", "2024-01-02 13:00"), ("x", "2024-01-06 00:00")],
}


def run(log: dict[str, Any], **settings: Any) -> RetentionResult:
    settings.setdefault("return_events", ("login",))
    spec = RetentionSpec(settings.pop("start_events", ("signup",)), **settings)
    with TableSource(journeys(log)) as source:
        return retention(source, spec)


def table(result: RetentionResult) -> dict[str, list[Any]]:
    """cohort -> [size, retained per period ...] with '?' after an incomplete cell's count."""
    return {
        c.label: [c.size, *(x.retained if x.complete else f"{x.retained}?" for x in c.cells)]
        for c in result.cohorts
    }


def average(result: RetentionResult) -> list[tuple[int, int]]:
    return [(a.retained, a.size) for a in result.average]


def test_on_counts_a_return_in_that_period_only() -> None:
    result = run(LOG, periods=4)
    assert table(result) == {"2024-01-01": [2, 1, 0, 1, 1], "2024-01-02": [1, 1, 0, 0, "0?"]}
    assert average(result) == [(2, 3), (0, 3), (1, 3), (1, 2)]


def test_on_or_after_counts_a_return_in_that_period_or_any_later() -> None:
    result = run(LOG, periods=4, criterion="on_or_after")
    assert table(result) == {"2024-01-01": [2, 2, 2, 2, 1], "2024-01-02": [1, 1, 0, 0, "0?"]}
    assert average(result) == [(3, 3), (2, 3), (2, 3), (1, 2)]


def test_on_or_after_counts_returns_beyond_the_last_period_shown() -> None:
    result = run(LOG, periods=2, criterion="on_or_after")  # b's day-3 return counts for day 1
    assert table(result)["2024-01-01"] == [2, 2, 2]


def test_calendar_days_count_midnights_not_24_hours() -> None:
    result = run(LOG, periods=4, windows="calendar")
    # a: next calendar day and the one after; b: 3 days later; c: the same day; c's day 3
    # (2024-01-05) ends at midnight, the last event: complete in calendar terms
    assert table(result) == {"2024-01-01": [2, 0, 1, 1, 1], "2024-01-02": [1, 1, 0, 0, 0]}


def test_incomplete_cells_are_marked_and_left_out_of_the_average() -> None:
    result = run(LOG, periods=4)
    late = result.cohorts[1].cells[3]
    assert (late.complete, late.rate, late.to_dict()["observed_rate"]) == (False, None, 0.0)
    # period 3 averages only the first cohort: 1 of 2, not 1 of 3
    assert result.average[3].rate == 0.5 and result.average[3].cohorts == 1


DST_LOG = {
    # Berlin switches to summer time on 2024-03-31 at 02:00 (that day has 23 hours).
    # p signs up on Sat 2024-03-30 12:00 CET (11:00Z) and logs in 22.5 h later, on Sunday.
    "p": [("signup", "2024-03-30 11:00"), ("login", "2024-03-31 09:30")],
    # q signs up at 00:30 Berlin on Sunday (23:30Z on Saturday): a Sunday cohort in Berlin
    "q": [("signup", "2024-03-30 23:30"), ("login", "2024-03-31 20:00")],
    "z": [("x", "2024-03-31 21:59:59.999999")],  # the data end: just before Monday 00:00 CEST
}


def test_dst_rolling_counts_24_hours_calendar_counts_the_23_hour_day() -> None:
    zone = "Europe/Berlin"
    rolling = run(DST_LOG, periods=2, timezone=zone)
    calendar = run(DST_LOG, periods=2, timezone=zone, windows="calendar")
    assert table(rolling) == {"2024-03-30": [1, 1, "0?"], "2024-03-31": [1, "1?", "0?"]}
    # calendar: p came back the next calendar day; Sunday ends at 22:00Z (23 hours), so day 1
    # of the Saturday cohort is complete at the data end, while q's Monday (day 1) is not
    assert table(calendar) == {"2024-03-30": [1, 0, 1], "2024-03-31": [1, 1, "0?"]}
    assert [c.start for c in calendar.cohorts] == ["2024-03-29T23:00:00Z", "2024-03-30T23:00:00Z"]
    utc = run(DST_LOG, periods=2, windows="calendar")  # in UTC both sign up on Saturday
    assert table(utc) == {"2024-03-30": [2, 0, "2?"]}


def test_a_calendar_day_whose_midnight_was_skipped_starts_at_the_change() -> None:
    # Havana skips 2024-03-10 00:00-01:00 (CST -5 to CDT -4): that day starts at 05:00Z
    log = {
        "p": [
            ("signup", "2024-03-09 17:00"),
            ("login", "2024-03-10 04:59:59"),
            ("login", "2024-03-10 05:00"),
        ],
        "q": [("signup", "2024-03-10 05:00")],
        "z": [("x", "2024-03-20 00:00")],
    }
    result = run(log, periods=2, timezone="America/Havana", windows="calendar")
    assert [c.start for c in result.cohorts] == ["2024-03-09T05:00:00Z", "2024-03-10T05:00:00Z"]
    assert table(result) == {"2024-03-09": [1, 1, 1], "2024-03-10": [1, 0, 0]}


def test_a_wall_time_in_a_gap_is_the_first_instant_after_it() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from funnelscope.analyses.retention.common import from_us, local_to_us

    def utc(wall: dt.datetime, zone: str) -> str:
        return from_us(local_to_us(wall, ZoneInfo(zone))).isoformat()

    # Lord Howe moves 02:00 -> 02:30 (+10:30 to +11): 02:10 does not exist there
    assert (
        utc(dt.datetime(2024, 10, 6, 2, 10), "Australia/Lord_Howe") == "2024-10-05T15:30:00+00:00"
    )
    assert utc(dt.datetime(2024, 3, 31, 2, 30), "Europe/Berlin") == "2024-03-31T01:00:00+00:00"
    # an hour that happens twice is read the first time
    assert utc(dt.datetime(2024, 10, 27, 2, 30), "Europe/Berlin") == "2024-10-27T00:30:00+00:00"


RECURRING_LOG = {
    "a": [
        ("login", "2024-01-01 10:00"),
        ("login", "2024-01-01 18:00"),
        ("login", "2024-01-03 10:00"),
    ],
    "b": [("login", "2024-01-03 09:00"), ("login", "2024-01-04 09:00")],
    "z": [("x", "2024-01-20 00:00")],
}


def test_first_time_cohorts_hold_each_person_once_at_their_first_start_ever() -> None:
    result = run(RECURRING_LOG, start_events=("login",), periods=3)
    # a's day 0: the 18:00 login (the anchor itself does not count); day 2: Jan 3
    assert table(result) == {"2024-01-01": [1, 1, 0, 1], "2024-01-03": [1, 0, 1, 0]}


def test_recurring_cohorts_hold_a_person_in_every_period_they_started_in() -> None:
    result = run(RECURRING_LOG, start_events=("login",), periods=3, kind="recurring")
    # a again on Jan 3 (anchored at that login: no return after it), b on Jan 3 and Jan 4
    assert table(result) == {
        "2024-01-01": [1, 1, 0, 1],
        "2024-01-03": [2, 0, 1, 0],
        "2024-01-04": [1, 0, 0, 0],
    }
    assert average(result) == [(1, 4), (1, 4), (1, 4)]


def test_the_date_range_picks_cohorts_by_the_first_start_ever() -> None:
    dates = date_range_of("2024-01-02", "2024-01-31")
    first = run(RECURRING_LOG, start_events=("login",), periods=2, dates=dates)
    assert table(first) == {"2024-01-03": [1, 0, 1]}  # a began before the range: not in it
    recurring = run(
        RECURRING_LOG, start_events=("login",), periods=2, dates=dates, kind="recurring"
    )
    assert table(recurring) == {"2024-01-03": [2, 0, 1], "2024-01-04": [1, 0, 0]}


def test_the_anchor_event_itself_is_never_a_return() -> None:
    log = {"a": [("login", "2024-01-01 10:00")], "z": [("x", "2024-01-09 00:00")]}
    result = run(log, start_events=("login",), periods=1)
    assert table(result) == {"2024-01-01": [1, 0]}
    any_event = run(log, start_events=("login",), periods=1, return_events=None)
    assert table(any_event) == {"2024-01-01": [1, 0]}


def test_weeks_start_on_monday_and_rolling_months_are_30_days() -> None:
    log = {
        "a": [("signup", "2024-01-07 10:00"), ("login", "2024-01-08 09:00")],  # Sun -> Mon
        "b": [("signup", "2024-01-31 10:00"), ("login", "2024-03-01 09:00")],  # 29.96 days
        "z": [("x", "2024-06-01 00:00")],
    }
    weeks = run(log, periods=2, unit="week", windows="calendar")
    assert table(weeks)["2024-01-01"] == [1, 0, 1]  # the week of Monday Jan 1
    months = run(log, periods=2, unit="month")
    assert table(months)["2024-01"] == [2, 2, 0]  # both within 30 days: month 0
    calendar = run(log, periods=2, unit="month", windows="calendar")
    assert table(calendar)["2024-01"] == [2, 1, 0]  # b: March is 2 months after January


def test_json_names_every_field() -> None:
    data = run(LOG, periods=2).to_dict()
    assert data["analysis"] == "retention"
    assert data["observed_until"] == "2024-01-06T00:00:00Z"
    assert data["settings"]["criterion"] == "on"
    assert data["cohorts"][0]["cells"][0] == {
        "period": 0,
        "retained": 1,
        "rate": 0.5,
        "complete": True,
        "observed_rate": 0.5,
    }
    assert data["average"][0] == {
        "period": 0,
        "cohorts": 2,
        "size": 3,
        "retained": 2,
        "rate": 2 / 3,
    }
