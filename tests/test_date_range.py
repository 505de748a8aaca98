"""docs/semantics.md "Date range" ([R1]-[R7]): one test (at least) per sentence, on every engine
where a funnel is computed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from funnelscope.analyses.experiments import experiment_counts, parse_experiment
from funnelscope.errors import SpecError
from funnelscope.model.date_range import parse_date_range
from funnelscope.model.overrides import with_overrides
from funnelscope.model.spec import load_funnel, parse_funnel
from funnelscope.store.sources import TableSource

from conftest import RunFunnel
from journeys import journeys, to_us

JANUARY = {"from": "2024-01-01", "to": "2024-01-31"}
VB = ["view", "buy"]


def entered(run: RunFunnel, spec: dict[str, Any], people: dict[str, Any]) -> list[str]:
    return run(spec, people).people(1)


# --- [R1] when an attempt may start ------------------------------------------------------------


def test_r1_attempts_enter_only_inside_the_range_both_days_included(run: RunFunnel) -> None:
    people = {
        "dec31": [("view", "2023-12-31 23:59:59.999999"), ("buy", "2024-01-01 00:00:01")],
        "jan1": [("view", "2024-01-01 00:00:00")],
        "jan31": [("view", "2024-01-31 23:59:59.999999")],
        "feb1": [("view", "2024-02-01 00:00:00")],
    }
    spec = {"steps": VB, "date_range": JANUARY}
    assert entered(run, spec, people) == ["jan1", "jan31"]
    assert entered(run, {"steps": VB, "date_range": {"from": "2024-01-31"}}, people) == [
        "feb1",
        "jan31",
    ]
    assert entered(run, {"steps": VB, "date_range": {"to": "2023-12-31"}}, people) == ["dec31"]


def test_r1_days_are_read_in_the_ranges_time_zone(run: RunFunnel) -> None:
    # Berlin is UTC+1 in January: its January runs from Dec 31 23:00 to Jan 31 23:00 UTC
    people = {
        "early": [("view", "2023-12-31 23:30")],  # Jan 1 00:30 in Berlin
        "late": [("view", "2024-01-31 23:30")],  # Feb 1 00:30 in Berlin
        "mid": [("view", "2024-01-15 12:00")],
    }
    spec = {"steps": VB, "date_range": {**JANUARY, "timezone": "Europe/Berlin"}}
    assert entered(run, spec, people) == ["early", "mid"]
    assert entered(run, {"steps": VB, "date_range": JANUARY}, people) == ["late", "mid"]


def test_r1_ends_may_be_instants_with_an_offset_or_z_and_a_to_instant_is_included(
    run: RunFunnel,
) -> None:
    people = {
        "before": [("view", "2024-01-10 09:59:59.999999")],
        "start": [("view", "2024-01-10 10:00:00")],
        "end": [("view", "2024-01-10 11:00:00")],
        "after": [("view", "2024-01-10 11:00:00.000001")],
    }
    spec = {
        "steps": VB,
        "date_range": {"from": "2024-01-10T12:00:00+02:00", "to": "2024-01-10T11:00:00Z"},
    }
    assert entered(run, spec, people) == ["end", "start"]
    naive = {"from": "2024-01-10 11:00:00", "to": "2024-01-10 12:00", "timezone": "Europe/Berlin"}
    assert entered(run, {"steps": VB, "date_range": naive}, people) == ["end", "start"]


def test_r1_a_person_whose_entries_all_lie_outside_is_not_counted(run: RunFunnel) -> None:
    people = {
        # the view before the range would convert, but cannot start an attempt
        "converted_before": [("view", "2023-12-31 23:00"), ("buy", "2024-01-01 01:00")],
        # the best attempt is chosen among the entries inside the range only
        "outside_and_in": [
            ("view", "2023-12-31 23:00"),
            ("buy", "2023-12-31 23:30"),
            ("view", "2024-01-05 10:00"),
        ],
        "only_buys": [("buy", "2024-01-05 10:00")],
    }
    result = run({"steps": VB, "date_range": JANUARY}, people)
    assert result.counts() == (1, 0)
    assert result.people(1) == ["outside_and_in"]
    sessions = run(
        {"steps": VB, "date_range": JANUARY, "count": "sessions", "session_gap": "30m"}, people
    )
    assert sessions.counts() == (1, 0)


def test_r1_spec_errors_name_the_field_and_the_fix() -> None:
    cases = [
        ({"from": "2024-02-01", "to": "2024-01-31"}, "date_range: from 2024-02-01 is after to"),
        ({"from": "2024-13-01"}, "date_range.from: '2024-13-01' is not a date or time"),
        ({"to": "yesterday"}, "date_range.to: 'yesterday' is not a date or time"),
        ({"from": "2024-01-01", "timezone": "Europe/Berln"}, "did you mean Europe/Berlin"),
        ({"form": "2024-01-01"}, "date_range.form: unknown key; did you mean from"),
        ({"timezone": "UTC"}, "date_range: has neither from nor to"),
        ("2024-01", "date_range: '2024-01' is not a date range"),
    ]
    for raw, message in cases:
        with pytest.raises(SpecError, match=message):
            parse_funnel({"steps": VB, "date_range": raw})


def test_r1_the_range_parses_back_from_its_spec_form_and_yaml_dates_stay_days(
    tmp_path: Any,
) -> None:
    funnel = parse_funnel({"steps": VB, "date_range": {**JANUARY, "timezone": "Asia/Tokyo"}})
    assert funnel.to_dict()["date_range"] == {**JANUARY, "timezone": "Asia/Tokyo"}
    assert parse_funnel(funnel.to_dict()) == funnel
    spec = tmp_path / "f.yaml"
    spec.write_text("steps: [view, buy]\ndate_range: {from: 2024-01-01, to: 20240131}\n")
    assert load_funnel(spec).date_range == parse_date_range(JANUARY)
    # YAML 1.1 readers (the experiment file) give dates: they are days too
    days = parse_date_range({"from": dt.date(2024, 1, 1), "to": dt.date(2024, 1, 31)})
    assert (days.start_us, days.end_us) == (to_us("2024-01-01 00:00"), to_us("2024-02-01 00:00"))


# --- [R2] after `to`: the window runs on ------------------------------------------------------


def test_r2_later_steps_may_complete_after_to_within_the_window(run: RunFunnel) -> None:
    people = {
        "in_window": [("view", "2024-01-31 23:00"), ("buy", "2024-02-01 10:00")],
        "too_late": [("view", "2024-01-31 23:00"), ("buy", "2024-02-01 23:00:01")],
        "within_missed": [("view", "2024-01-31 00:30"), ("buy", "2024-02-01 00:00")],
    }
    spec = {"steps": ["view", {"event": "buy", "within": "23h"}], "window": "1d"}
    result = run({**spec, "date_range": JANUARY}, people)
    assert result.people(2) == ["in_window"]
    assert result.people(2, "dropped") == ["too_late", "within_missed"]


def test_r2_events_after_to_break_strict_sequences_and_end_attempts_as_exclusions(
    run: RunFunnel,
) -> None:
    people = {
        "broken": [("view", "2024-01-31 23:00"), ("other", "2024-02-01 00:10"),
                   ("buy", "2024-02-01 00:20")],
        "clean": [("view", "2024-01-31 23:00"), ("buy", "2024-02-01 00:20")],
    }  # fmt: skip
    strict = run({"steps": VB, "order": "strict", "date_range": JANUARY}, people)
    assert strict.people(2) == ["clean"]
    people["refunded"] = [("view", "2024-01-31 23:00"), ("refund", "2024-02-01 00:10"),
                          ("buy", "2024-02-01 00:20")]  # fmt: skip
    spec = {"steps": VB, "exclusions": [{"event": "refund", "between": [1, 2]}]}
    excluded = run({**spec, "date_range": JANUARY}, people)
    assert excluded.people(2) == ["broken", "clean"]
    assert excluded.people(2, "dropped") == ["refunded"]


def test_r2_under_any_events_after_to_count_as_steps_but_start_no_attempt(
    run: RunFunnel,
) -> None:
    people = {
        # buy (in the range) starts the attempt; view and cart after `to` count as steps
        "late_steps": [("buy", "2024-01-31 23:00"), ("view", "2024-02-01 00:30"),
                       ("cart", "2024-02-01 00:40")],
        # every event after `to`: no attempt
        "all_late": [("view", "2024-02-01 00:30"), ("cart", "2024-02-01 00:40")],
        # an entry in the range and a fuller attempt starting after it: only the first counts
        "better_later": [("view", "2024-01-31 23:00"), ("view", "2024-02-01 10:00"),
                         ("cart", "2024-02-01 10:05"), ("buy", "2024-02-01 10:10")],
    }  # fmt: skip
    spec = {"steps": ["view", "cart", "buy"], "order": "any", "window": "2h"}
    result = run({**spec, "date_range": JANUARY}, people)
    assert result.counts() == (2, 1, 1)
    assert result.people(3) == ["late_steps"]
    assert result.people(2, "dropped") == ["better_later"]


def test_r2_under_totals_no_next_attempt_starts_after_to(run: RunFunnel) -> None:
    people = {
        "p": [("view", "2024-01-31 10:00"), ("buy", "2024-01-31 11:00"),
              ("view", "2024-02-01 10:00"), ("buy", "2024-02-01 11:00")],
        "q": [("view", "2024-01-31 10:00"), ("view", "2024-01-31 20:00"),
              ("buy", "2024-02-01 09:00")],
    }  # fmt: skip
    spec = {"steps": VB, "window": "1d", "count": "totals"}
    result = run({**spec, "date_range": JANUARY}, people)
    # p: the Feb 1 view starts no attempt; q: its first attempt converts after `to` and the
    # view it skipped (Jan 31 20:00, inside the attempt) starts none either ([C3])
    assert result.counts() == (2, 2)
    assert run(spec, people).counts() == (3, 3)


def test_r2_events_later_than_to_plus_the_window_change_nothing(run: RunFunnel) -> None:
    base = {
        "p1": [("view", "2024-01-31 23:00"), ("x", "2024-02-01 10:00"),
               ("buy", "2024-02-01 22:00")],
        "p2": [("view", "2024-01-20 10:00"), ("buy", "2024-01-20 10:01")],
    }  # fmt: skip
    spec = {"steps": VB, "window": "1d", "date_range": JANUARY}
    # the last moment an attempt entering in January can reach is Feb 1 23:59:59.999999
    more = {
        name: [*events, ("x", "2024-02-02 00:00"), ("view", "2024-02-02 00:00"),
               ("buy", "2024-02-02 00:01")]
        for name, events in base.items()
    }  # fmt: skip
    for order in ("ordered", "strict", "any"):
        for count in ("persons", "totals"):
            shape = {**spec, "order": order, "count": count}
            assert run(shape, base).counts() == run(shape, more).counts()
            assert list(run(shape, base).outcomes) == list(run(shape, more).outcomes)


# --- [R3] before `from`: not in the data ------------------------------------------------------


def test_r3_events_before_from_fill_nothing_and_break_nothing(run: RunFunnel) -> None:
    people = {
        "p": [("other", "2023-12-31 23:59"), ("view", "2024-01-01 00:00"),
              ("buy", "2024-01-01 00:05")],
        # the view before `from` is no step: q has one view in January
        "q": [("view", "2023-12-31 23:59"), ("view", "2024-01-01 00:01"),
              ("buy", "2024-01-01 00:02")],
    }  # fmt: skip
    strict = run({"steps": VB, "order": "strict", "date_range": JANUARY}, people)
    assert strict.counts() == (2, 2)
    twice = {"steps": ["view", "view"], "order": "any"}
    assert run({**twice, "date_range": JANUARY}, people).counts() == (2, 0)
    assert run(twice, people).counts() == (2, 1)


def test_r3_a_session_that_began_before_from_counts_once_by_its_entries_in_the_range(
    run: RunFunnel,
) -> None:
    people = {
        "p": [("page", "2023-12-31 23:50"), ("view", "2023-12-31 23:55"),
              ("view", "2024-01-01 00:05"), ("buy", "2024-01-01 00:10")],
    }  # fmt: skip
    spec = {"steps": VB, "count": "sessions", "session_gap": "30m", "date_range": JANUARY}
    result = run(spec, people)
    assert result.counts() == (1, 1)
    assert [o.times_us[0] for o in result.outcomes] == [to_us("2024-01-01 00:05")]
    by_column = {
        name: [(e, t, {"session_id": "s1"}) for e, t in events] for name, events in people.items()
    }
    column = run({"steps": VB, "count": "sessions", "date_range": JANUARY}, by_column)
    assert column.counts() == (1, 1)


def test_r3_held_values_and_event_breakdowns_read_the_attempts_own_events(
    run: RunFunnel,
) -> None:
    people = {
        "p": [("view", "2023-12-31 23:00", {"sku": "A", "ch": "ads"}),
              ("view", "2024-01-01 01:00", {"sku": "B", "ch": "seo"}),
              ("buy", "2024-01-01 02:00", {"sku": "B", "ch": "mail"})],
    }  # fmt: skip
    spec = {"steps": VB, "hold_constant": ["sku"], "date_range": JANUARY,
            "breakdown": {"property": "ch"}}  # fmt: skip
    result = run(spec, people)
    assert result.counts() == (1, 1)
    assert [(row.label, row.steps[1].count) for row in result.breakdown] == [("seo", 1)]


# --- [R4] person values as of the range's end -------------------------------------------------


def test_r4_a_persons_value_is_the_one_they_had_when_the_range_ended(run: RunFunnel) -> None:
    people = {
        "p": [("$identify", "2023-12-20 10:00", {"plan": "free"}),
              ("view", "2024-01-05 10:00"), ("buy", "2024-01-05 10:05"),
              ("$identify", "2024-02-10 10:00", {"plan": "pro"})],
    }  # fmt: skip
    by_plan = {"steps": VB, "breakdown": {"property": "plan", "scope": "person"}}
    assert [r.label for r in run({**by_plan, "date_range": JANUARY}, people).breakdown] == ["free"]
    assert [r.label for r in run(by_plan, people).breakdown] == ["pro"]
    free = [{"property": "plan", "op": "eq", "value": "free", "scope": "person"}]
    assert run({"steps": VB, "where": free, "date_range": JANUARY}, people).counts() == (1, 1)
    assert run({"steps": VB, "where": free}, people).counts() == (0, 0)


# --- [R5] --from / --to ------------------------------------------------------------------------


def test_r5_from_and_to_replace_one_end_each_and_keep_the_zone() -> None:
    funnel = parse_funnel({"steps": VB, "date_range": {**JANUARY, "timezone": "Europe/Berlin"}})
    moved = with_overrides(funnel, date_from="2024-01-15")
    assert moved.date_range is not None
    assert moved.date_range.to_dict() == {
        "from": "2024-01-15",
        "to": "2024-01-31",
        "timezone": "Europe/Berlin",
    }
    fresh = with_overrides(parse_funnel({"steps": VB}), date_to="2024-03-01")
    assert fresh.date_range is not None and fresh.date_range.to_dict() == {"to": "2024-03-01"}
    with pytest.raises(SpecError, match=r"--from: from 2024-02-15 is after to 2024-01-31"):
        with_overrides(funnel, date_from="2024-02-15")
    with pytest.raises(SpecError, match=r"--to: 'soon' is not a date or time"):
        with_overrides(funnel, date_to="soon")
    assert with_overrides(funnel) is funnel


# --- [R6] no filters on the event's time ------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"steps": VB, "where": [{"property": "timestamp", "op": "gte", "value": "2024-01-01"}]},
        {"steps": ["view", {"event": "buy", "where": [{"property": "time", "op": "is_set"}]}]},
        {
            "steps": VB,
            "exclusions": [{"event": "x", "between": [1, 2], "where": [{"property": "timestamp"}]}],
        },
    ],
)
def test_r6_a_filter_on_timestamp_or_time_is_refused_with_the_fix(spec: dict[str, Any]) -> None:
    with pytest.raises(SpecError, match=r"use date_range: \{from:, to:\} or --from/--to"):
        parse_funnel(spec)


# --- [R7] experiments --------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["reference", "kernel"])
def test_r7_an_experiment_counts_persons_first_exposed_inside_the_range(engine: str) -> None:
    people = {
        # first exposed before the range: not in it, although exposed again inside
        "before": [("exposed", "2023-12-30 10:00", {"variant": "A"}),
                   ("exposed", "2024-01-05 10:00", {"variant": "A"}), ("view", "2024-01-05 11:00")],
        "inside": [("exposed", "2024-01-05 10:00", {"variant": "A"}), ("view", "2024-01-05 11:00")],
        "b_inside": [("exposed", "2024-01-06 10:00", {"variant": "B"})],
        # crossed over inside the range: left out and counted
        "crossed": [("exposed", "2024-01-07 10:00", {"variant": "A"}),
                    ("exposed", "2024-01-08 10:00", {"variant": "B"})],
        # crossed over only after the range: exposures after it are not read
        "late_cross": [("exposed", "2024-01-20 10:00", {"variant": "B"}),
                       ("exposed", "2024-02-03 10:00", {"variant": "A"}),
                       ("view", "2024-01-20 11:00")],
        # exposed inside, views only after `to`: exposed, no entry
        "late_view": [("exposed", "2024-01-31 22:00", {"variant": "B"}),
                      ("view", "2024-02-01 01:00")],
        "after": [("exposed", "2024-02-02 10:00", {"variant": "B"}), ("view", "2024-02-02 11:00")],
    }  # fmt: skip
    spec = {
        "funnel": {"steps": ["view", "buy"], "window": "7d", "date_range": JANUARY},
        "exposure": {"event": "exposed", "variant_property": "variant"},
        "control": "A",
    }
    counts = experiment_counts(parse_experiment(spec), TableSource(journeys(people)), engine)
    a, b = counts.variants
    assert (a.exposed, b.exposed, counts.crossovers) == (1, 3, 1)
    assert (a.result.people(1), b.result.people(1)) == (["inside"], ["late_cross"])


def test_r5_r7_experiment_takes_from_and_to(tmp_path: Any, capsys: Any) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from funnelscope.cli.main import main

    people = {
        "a1": [("exposed", "2024-01-05 10:00", {"variant": "A"}), ("view", "2024-01-05 11:00")],
        "b1": [("exposed", "2024-01-06 10:00", {"variant": "B"}), ("view", "2024-01-06 11:00")],
        "a2": [("exposed", "2024-02-05 10:00", {"variant": "A"}), ("view", "2024-02-05 11:00")],
    }
    table = journeys(people)
    events = pa.table(
        {
            "person_id": table.column("person_id"),
            "event": table.column("event"),
            "timestamp": table.column("ts").cast(pa.timestamp("us", tz="UTC")),
            "variant": table.column("variant"),
        }
    )
    data, db = tmp_path / "events.parquet", tmp_path / "store.duckdb"
    pq.write_table(events, data)
    assert main(["ingest", str(data), "--db", str(db)]) == 0
    spec = tmp_path / "experiment.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "funnel": {"steps": ["view", "buy"], "date_range": {"from": "2024-01-01"}},
                "exposure": {"event": "exposed", "variant_property": "variant"},
                "control": "A",
            }
        )
    )
    capsys.readouterr()
    base = ["experiment", str(spec), "--db", str(db)]
    assert main([*base, "--format", "json", "--to", "2024-01-31"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(v["variant"], v["exposed"]) for v in out["variants"]] == [("A", 1), ("B", 1)]
    assert out["date_range"]["from"] == "2024-01-01" and out["date_range"]["to"] == "2024-01-31"
    assert main(base) == 0
    assert "exposed A 2, B 1 (first exposed 2024-01-01..)" in capsys.readouterr().out
    assert main([*base, "--to", "2024-01-31"]) == 0
    assert "(first exposed 2024-01-01..2024-01-31)" in capsys.readouterr().out
    assert main([*base, "--to", "2023-12-01"]) == 2
    assert "--to: from 2024-01-01 is after to 2023-12-01" in capsys.readouterr().err
