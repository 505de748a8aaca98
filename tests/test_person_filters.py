"""docs/semantics.md "Person-scope filters" ([P1]-[P3]): one test (at least) per sentence, on
every engine."""

from __future__ import annotations

from typing import Any

import pytest

from funnelscope.errors import SpecError
from funnelscope.model.filters import Filter
from funnelscope.model.spec import parse_funnel

from conftest import RunFunnel

VB = ["view", "buy"]
DAY = "2024-01-01"


def t(hhmm: str) -> str:
    return f"{DAY} {hhmm}"


def on_person(prop: str, op: str = "eq", value: Any = None) -> dict[str, Any]:
    f: dict[str, Any] = {"property": prop, "op": op, "scope": "person"}
    if value is not None:
        f["value"] = value
    return f


def identify(time: str, **traits: Any) -> tuple[str, str, dict[str, Any]]:
    return ("$identify", t(time), traits)


# --- [P1] the person's latest value, every op ---------------------------------------------------


def test_p1_a_person_scope_filter_tests_the_latest_event_of_any_name_carrying_it(
    run: RunFunnel,
) -> None:
    people = {
        "now_pro": [identify("09:00", plan="free"), identify("09:30", plan="pro"),
                    ("view", t("10:00")), ("buy", t("10:05"))],
        "now_free": [identify("09:00", plan="pro"), ("view", t("10:00"), {"plan": "pro"}),
                     ("buy", t("10:05")), ("logout", t("11:00"), {"plan": "free"})],
        # the latest event carrying it counts, even after the funnel's steps
        "later_pro": [("view", t("10:00")), ("buy", t("10:05")), identify("12:00", plan="pro")],
        "never": [("view", t("10:00")), ("buy", t("10:05"))],
    }  # fmt: skip
    spec = {"steps": ["view", {"event": "buy", "where": [on_person("plan", "eq", "pro")]}]}
    result = run(spec, people)
    assert result.people(2) == ["later_pro", "now_pro"]
    own = {"property": "plan", "value": "pro"}
    event_scope = {"steps": ["view", {"event": "buy", "where": [own]}]}
    assert run(event_scope, people).counts() == (4, 0)  # no buy event carries a plan


def test_p1_ties_at_the_latest_time_go_by_event_id(run: RunFunnel) -> None:
    people = {
        "p": [("$identify", t("09:00"), {"plan": "pro"}, "p:2"),
              ("$identify", t("09:00"), {"plan": "free"}, "p:1"), ("view", t("10:00"))],
    }  # fmt: skip
    assert run({"steps": ["view"], "where": [on_person("plan", "eq", "pro")]}, people).counts() == (
        1,
    )


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (on_person("age", "gt", 40), ["text_42"]),  # [F1]/[F3]: text that reads as a number
        (on_person("age", "eq", 42.0), ["text_42"]),
        (on_person("age", "lte", "30"), ["text_30"]),  # text against text: lexicographic
        (on_person("city", "contains", "BERL"), ["text_30"]),  # [F2] case-insensitive
        (on_person("city", "not_contains", "berl"), ["no_traits", "text_42"]),  # [F4] not set
        (on_person("city", "is_not_set"), ["no_traits", "text_42"]),
        (on_person("age", "in", [30, 42]), ["text_30", "text_42"]),
        (on_person("vip", "eq", "TRUE"), ["text_42"]),  # booleans in any case
        (on_person("age", "neq", 42), ["no_traits", "text_30"]),
    ],
)
def test_p1_every_op_and_the_comparison_rules_apply_to_the_persons_value(
    run: RunFunnel, f: dict[str, Any], expected: list[str]
) -> None:
    people = {
        "text_42": [identify("09:00", age="42", vip=True), ("view", t("10:00"))],
        "text_30": [identify("09:00", age="30", city="Berlin"), ("view", t("10:00"))],
        "no_traits": [("view", t("10:00"))],
    }
    assert run({"steps": ["view"], "where": [f]}, people).people(1) == expected


def test_p1_spec_form_round_trips_and_a_bad_scope_is_refused() -> None:
    funnel = parse_funnel({"steps": VB, "where": [on_person("plan", "eq", "pro")]})
    assert funnel.where == (Filter("plan", "eq", "pro", "person"),)
    assert funnel.to_dict()["where"] == [on_person("plan", "eq", "pro")]
    assert parse_funnel(funnel.to_dict()) == funnel
    assert funnel.person_properties == ("plan",) and funnel.reads_all_events
    with pytest.raises(SpecError, match=r"where\[1\].scope: 'user' is not a filter scope"):
        parse_funnel({"steps": VB, "where": [{**on_person("plan", "eq", "x"), "scope": "user"}]})


# --- [P2] all of a person's events, or none ---------------------------------------------------


def test_p2_in_the_top_level_where_it_keeps_or_removes_the_person_from_every_step(
    run: RunFunnel,
) -> None:
    people = {
        "de": [identify("09:00", country="DE"), ("view", t("10:00")), ("buy", t("10:05"))],
        "fr": [identify("09:00", country="FR"), ("view", t("10:00")), ("buy", t("10:05"))],
        # the view carries DE itself, but the person's latest value is FR
        "moved": [("view", t("10:00"), {"country": "DE"}), ("buy", t("10:05")),
                  identify("11:00", country="FR")],
    }  # fmt: skip
    result = run({"steps": VB, "where": [on_person("country", "eq", "DE")]}, people)
    assert result.counts() == (1, 1) and result.people(1) == ["de"]
    own = run({"steps": VB, "where": [{"property": "country", "value": "DE"}]}, people)
    assert own.counts() == (1, 0) and own.people(1) == ["moved"]  # event scope: each event's


def test_p2_on_a_step_it_decides_whether_the_persons_events_can_fill_it(run: RunFunnel) -> None:
    people = {
        "pro": [identify("09:00", plan="pro"), ("view", t("10:00")), ("cart", t("10:01")),
                ("buy", t("10:02"))],
        "free": [identify("09:00", plan="free"), ("view", t("10:00")), ("cart", t("10:01")),
                 ("buy", t("10:02"))],
    }  # fmt: skip
    spec = {"steps": ["view", {"event": "cart", "where": [on_person("plan", "eq", "pro")]}, "buy"]}
    result = run(spec, people)
    assert result.counts() == (2, 1, 1)
    assert result.people(2, "dropped") == ["free"]


def test_p2_on_an_exclusion_only_that_persons_events_are_excluded(run: RunFunnel) -> None:
    people = {
        "staff": [identify("09:00", role="staff"), ("view", t("10:00")),
                  ("refund", t("10:01")), ("buy", t("10:02"))],
        "customer": [identify("09:00", role="customer"), ("view", t("10:00")),
                     ("refund", t("10:01")), ("buy", t("10:02"))],
    }  # fmt: skip
    exclusion = {"event": "refund", "between": [1, 2], "where": [on_person("role", "neq", "staff")]}
    result = run({"steps": VB, "exclusions": [exclusion]}, people)
    assert result.people(2) == ["staff"]
    assert result.people(2, "dropped") == ["customer"]


def test_p2_person_and_event_scope_on_one_property_read_different_values(run: RunFunnel) -> None:
    people = {
        # latest plan pro; the buy itself was made on the free plan
        "p": [("view", t("10:00"), {"plan": "free"}), ("buy", t("10:05"), {"plan": "free"}),
              identify("11:00", plan="pro")],
    }  # fmt: skip
    both = [on_person("plan", "eq", "pro"), {"property": "plan", "value": "free"}]
    assert run({"steps": ["view", {"event": "buy", "where": both}]}, people).counts() == (1, 1)


# --- [P3] the person's, in every unit ---------------------------------------------------------


def test_p3_each_session_sees_the_persons_value_from_any_event(run: RunFunnel) -> None:
    people = {
        "p": [("view", t("08:00")), ("buy", t("08:05")),  # session 1: no trait in it
              identify("12:00", plan="pro"),  # session 2: the trait, no funnel step
              ("view", t("18:00")), ("buy", t("18:05"))],  # session 3
    }  # fmt: skip
    spec = {
        "steps": VB,
        "count": "sessions",
        "session_gap": "30m",
        "where": [on_person("plan", "eq", "pro")],
    }
    assert run(spec, people).counts() == (2, 2)
    totals = run({**spec, "count": "totals", "session_gap": None}, people)
    assert totals.counts() == (2, 2)
