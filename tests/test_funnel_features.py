"""One test (at least) per sentence of docs/semantics.md "Funnel features", on every engine."""

from __future__ import annotations

from typing import Any

import pytest

from funnelscope.model.results import FunnelResult, no_session_warning

from conftest import RunFunnel
from journeys import to_us

VBP = ["view", "cart", "buy"]
DAY = "2024-01-01"
OPTIONAL_PROMO: list[Any] = ["view", {"event": "promo", "optional": True}, "buy"]


def t(hhmmss: str, day: str = DAY) -> str:
    return f"{day} {hhmmss}"


def refund_between(start: int, end: int, **extra: Any) -> dict[str, Any]:
    return {"event": "refund", "between": [start, end], **extra}


def rows(result: FunnelResult) -> list[tuple[str, tuple[int, ...]]]:
    """The breakdown as (label, step counts), in the listed order."""
    return [(row.label, tuple(s.count for s in row.steps)) for row in result.breakdown]


def gaps(result: FunnelResult, step: int) -> dict[str, int]:
    """Seconds from the previous step the attempt did to `step`, per person who did `step`
    (one such attempt each)."""
    out = {}
    for o in result.outcomes:
        done = o.times_us[step - 1] if o.reached >= step else None
        if done is not None:
            previous = [x for x in o.times_us[: step - 1] if x is not None][-1]
            out[o.person_id] = (done - previous) // 1_000_000
    return out


# --- Exclusions -------------------------------------------------------------------------------


def test_x1_excluded_event_passes_its_own_where_not_the_funnel_where(run: RunFunnel) -> None:
    spec = {
        "steps": ["view", "buy"],
        "where": [{"property": "country", "op": "eq", "value": "DE"}],
        "exclusions": [
            refund_between(1, 2, where=[{"property": "amount", "op": "gt", "value": 0}])
        ],
    }
    people = {
        # the refund is from FR: the top-level where does not apply to exclusions
        "excluded": [
            ("view", t("10:00"), {"country": "DE"}),
            ("refund", t("10:01"), {"country": "FR", "amount": 5}),
            ("buy", t("10:02"), {"country": "DE"}),
        ],
        # a refund of 0 fails the exclusion's own where
        "zero_refund": [
            ("view", t("10:00"), {"country": "DE"}),
            ("refund", t("10:01"), {"country": "DE", "amount": 0}),
            ("buy", t("10:02"), {"country": "DE"}),
        ],
        "clean": [("view", t("10:00"), {"country": "DE"}), ("buy", t("10:02"), {"country": "DE"})],
    }
    result = run(spec, people)
    assert result.counts() == (3, 2)
    assert result.people(2) == ["clean", "zero_refund"]
    assert result.people(2, "dropped") == ["excluded"]
    assert run(["view", "buy"], people, where=spec["where"]).counts() == (3, 3)


def test_x1_exclusions_apply_under_strict_to_an_event_tied_with_a_middle_step(
    run: RunFunnel,
) -> None:
    # The refund ties with cart, so strict sees no gap; it is still strictly between view and buy.
    people = {
        "tied": [
            ("view", t("10:00")),
            ("cart", t("10:01")),
            ("refund", t("10:01")),
            ("buy", t("10:02")),
        ]
    }
    exclusions = [refund_between(1, 3)]
    assert run(VBP, people, order="strict").counts() == (1, 1, 1)
    assert run(VBP, people, order="strict", exclusions=exclusions).counts() == (1, 1, 0)
    assert run(VBP, people, order="ordered", exclusions=exclusions).counts() == (1, 1, 0)


def test_x2_excluded_event_ends_the_attempt_but_keeps_earlier_steps(run: RunFunnel) -> None:
    people = {
        "mid": [
            ("view", t("10:00")),
            ("cart", t("10:01")),
            ("refund", t("10:02")),
            ("buy", t("10:03")),
        ],
        "early": [
            ("view", t("10:00")),
            ("refund", t("10:01")),
            ("cart", t("10:02")),
            ("buy", t("10:03")),
        ],
        "after": [
            ("view", t("10:00")),
            ("cart", t("10:01")),
            ("buy", t("10:02")),
            ("refund", t("10:03")),
        ],
        "before_entry": [
            ("refund", t("09:59")),
            ("view", t("10:00")),
            ("cart", t("10:01")),
            ("buy", t("10:02")),
        ],
    }
    result = run({"steps": VBP, "exclusions": [refund_between(1, 3)]}, people)
    assert result.counts() == (4, 3, 2)
    assert result.people(2, "dropped") == ["early"]
    assert result.people(3, "dropped") == ["mid"]
    assert result.people(3) == ["after", "before_entry"]
    assert result.step(2).avg_seconds_from_previous == 60.0


def test_x2_ties_with_the_steps_are_not_between(run: RunFunnel) -> None:
    people = {
        "tie_entry": [("view", t("10:00")), ("refund", t("10:00")), ("buy", t("10:01"))],
        "tie_entry_first_id": [("refund", t("10:00")), ("view", t("10:00")), ("buy", t("10:01"))],
        "tie_step": [("view", t("10:00")), ("buy", t("10:01")), ("refund", t("10:01"))],
        "tie_step_first_id": [("view", t("10:00")), ("refund", t("10:01")), ("buy", t("10:01"))],
        "between": [("view", t("10:00")), ("refund", t("10:00:30")), ("buy", t("10:01"))],
    }
    result = run({"steps": ["view", "buy"], "exclusions": [refund_between(1, 2)]}, people)
    assert result.counts() == (5, 4)
    assert result.people(2, "dropped") == ["between"]


def test_x2_only_steps_k_with_i_below_k_up_to_j_are_guarded(run: RunFunnel) -> None:
    people = {
        "before_cart": [
            ("view", t("10:00")),
            ("refund", t("10:01")),
            ("cart", t("10:02")),
            ("buy", t("10:03")),
        ],
        "after_cart": [
            ("view", t("10:00")),
            ("cart", t("10:01")),
            ("refund", t("10:02")),
            ("buy", t("10:03")),
        ],
    }
    # [2, 3]: only between cart and buy (a refund before cart is before step i)
    late = run({"steps": VBP, "exclusions": [refund_between(2, 3)]}, people)
    assert late.counts() == (2, 2, 1)
    assert late.people(3) == ["before_cart"]
    # [1, 2]: only between view and cart (a refund between cart and buy is past step j)
    early = run({"steps": VBP, "exclusions": [refund_between(1, 2)]}, people)
    assert early.counts() == (2, 1, 1)
    assert early.people(3) == ["after_cart"]


def test_x2_an_excluded_event_the_attempt_used_as_a_step_does_not_end_it(
    run: RunFunnel,
) -> None:
    spec = {"steps": VBP, "exclusions": [{"event": "cart", "between": [1, 3]}]}
    people = {
        "one_cart": [("view", t("10:00")), ("cart", t("10:01")), ("buy", t("10:03"))],
        "two_carts": [
            ("view", t("10:00")),
            ("cart", t("10:01")),
            ("cart", t("10:02")),
            ("buy", t("10:03")),
        ],
    }
    result = run(spec, people)
    assert result.counts() == (2, 2, 1)
    assert result.people(3, "dropped") == ["two_carts"]


def test_x2_after_a_skipped_optional_step_i_the_range_starts_at_the_step_before(
    run: RunFunnel,
) -> None:
    # exclusion [2, 3] with step 2 optional: "after the latest step done at or before step 2"
    spec = {"steps": OPTIONAL_PROMO, "exclusions": [refund_between(2, 3)]}
    people = {
        "skipped_promo": [("view", t("10:00")), ("refund", t("10:01")), ("buy", t("10:02"))],
        "did_promo": [
            ("view", t("10:00")),
            ("refund", t("10:01")),
            ("promo", t("10:02")),
            ("buy", t("10:03")),
        ],
    }
    result = run(spec, people)
    assert result.counts() == (2, 1, 1)
    assert result.people(3) == ["did_promo"]
    assert result.people(3, "dropped") == ["skipped_promo"]


def test_x2_a_skipped_optional_step_j_guards_nothing(run: RunFunnel) -> None:
    # exclusion [1, 2] guards step 2 only; an attempt that skips it fills no guarded step
    spec = {"steps": OPTIONAL_PROMO, "exclusions": [refund_between(1, 2)]}
    people = {
        "skipped_promo": [("view", t("10:00")), ("refund", t("10:01")), ("buy", t("10:02"))],
        "did_promo": [
            ("view", t("10:00")),
            ("refund", t("10:01")),
            ("promo", t("10:02")),
            ("buy", t("10:03")),
        ],
    }
    result = run(spec, people)
    assert result.counts() == (2, 0, 1)
    assert result.people(3) == ["skipped_promo"]


def test_x3_an_attempt_entering_after_the_excluded_event_still_converts(run: RunFunnel) -> None:
    people = {
        "reentered": [
            ("view", t("10:00")),
            ("refund", t("10:05")),
            ("view", t("10:10")),
            ("buy", t("10:20")),
        ],
        # not removed from the funnel: still counted at the step really reached
        "stopped": [("view", t("10:00")), ("refund", t("10:05")), ("buy", t("10:20"))],
    }
    result = run({"steps": ["view", "buy"], "exclusions": [refund_between(1, 2)]}, people)
    assert result.counts() == (2, 1)
    assert result.people(1) == ["reentered", "stopped"]
    assert result.people(2) == ["reentered"]
    assert result.step(2).avg_seconds_from_previous == 600.0  # from the view at 10:10


# --- Hold a property constant ------------------------------------------------------------------


def test_h1_steps_must_carry_the_entry_value(run: RunFunnel) -> None:
    people = {
        "same": [
            ("view", t("10:00"), {"plan": "a"}),
            ("cart", t("10:01"), {"plan": "b"}),
            ("cart", t("10:02"), {"plan": "a"}),
            ("buy", t("10:03"), {"plan": "a"}),
        ],
        "switch": [
            ("view", t("10:00"), {"plan": "a"}),
            ("cart", t("10:01"), {"plan": "a"}),
            ("buy", t("10:02"), {"plan": "b"}),
        ],
    }
    result = run({"steps": VBP, "hold_constant": ["plan"]}, people)
    assert result.counts() == (2, 2, 1)
    assert result.people(3) == ["same"]
    assert result.step(2).avg_seconds_from_previous == 90.0  # same: 120 s, switch: 60 s
    assert run(VBP, people).counts() == (2, 2, 2)


def test_h1_best_attempt_is_taken_over_all_values(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"plan": "a"}),
            ("view", t("10:01"), {"plan": "b"}),
            ("cart", t("10:02"), {"plan": "b"}),
            ("buy", t("10:03"), {"plan": "b"}),
        ]
    }
    result = run({"steps": VBP, "hold_constant": "plan"}, people)
    assert result.counts() == (1, 1, 1)
    assert result.step(2).avg_seconds_from_previous == 60.0  # from the plan-b view


def test_h1_under_strict_other_values_still_break_the_sequence(run: RunFunnel) -> None:
    people = {
        "broken": [
            ("view", t("10:00"), {"plan": "a"}),
            ("cart", t("10:01"), {"plan": "b"}),
            ("cart", t("10:02"), {"plan": "a"}),
        ],
        "clean": [("view", t("10:00"), {"plan": "a"}), ("cart", t("10:01"), {"plan": "a"})],
    }
    spec = {"steps": ["view", "cart"], "hold_constant": ["plan"]}
    strict = run(spec, people, order="strict")
    assert strict.counts() == (2, 1)
    assert strict.people(2) == ["clean"]
    assert run(spec, people, order="ordered").counts() == (2, 2)


def test_h1_up_to_three_properties_all_held(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"plan": "a", "country": "DE", "device": "ios"}),
            ("buy", t("10:01"), {"plan": "a", "country": "FR", "device": "ios"}),
            ("buy", t("10:02"), {"plan": "a", "country": "DE", "device": "web"}),
            ("buy", t("10:03"), {"plan": "a", "country": "DE", "device": "ios"}),
        ]
    }
    spec = {"steps": ["view", "buy"], "hold_constant": ["plan", "country", "device"]}
    result = run(spec, people)
    assert result.counts() == (1, 1)
    assert result.step(2).avg_seconds_from_previous == 180.0


def test_h1_under_any_every_counted_step_carries_the_entry_value(run: RunFunnel) -> None:
    people = {
        "a": [
            ("buy", t("10:00"), {"plan": "a"}),
            ("view", t("10:01"), {"plan": "b"}),
            ("cart", t("10:02"), {"plan": "a"}),
        ]
    }
    result = run({"steps": VBP, "order": "any", "hold_constant": ["plan"]}, people)
    assert result.counts() == (1, 1, 0)
    assert result.step(2).avg_seconds_from_previous == 120.0  # buy -> cart, both plan a
    assert run(VBP, people, order="any").counts() == (1, 1, 1)


def test_h2_not_set_matches_only_not_set(run: RunFunnel) -> None:
    people = {
        "unset": [
            ("view", t("10:00"), {}),
            ("buy", t("10:01"), {"plan": "a"}),
            ("buy", t("10:02"), {}),
        ],
        "set": [("view", t("10:00"), {"plan": "a"}), ("buy", t("10:01"), {})],
    }
    result = run({"steps": ["view", "buy"], "hold_constant": ["plan"]}, people)
    assert result.counts() == (2, 1)
    assert result.people(2) == ["unset"]
    assert result.step(2).avg_seconds_from_previous == 120.0


def test_h2_zero_and_negative_zero_are_one_value_and_so_is_every_nan(run: RunFunnel) -> None:
    people = {
        "zeros": [("view", t("10:00"), {"price": 0.0}), ("buy", t("10:01"), {"price": -0.0})],
        "nans": [
            ("view", t("10:00"), {"price": float("nan")}),
            ("buy", t("10:01"), {"price": float("nan")}),
        ],
        "different": [("view", t("10:00"), {"price": 1.0}), ("buy", t("10:01"), {"price": 2.0})],
        "nan_vs_unset": [
            ("view", t("10:00"), {"price": float("nan")}),
            ("buy", t("10:01"), {"price": None}),
        ],
    }
    result = run({"steps": ["view", "buy"], "hold_constant": ["price"]}, people)
    assert result.counts() == (4, 2)
    assert result.people(2) == ["nans", "zeros"]


# --- Counting unit ---------------------------------------------------------------------------


def test_c1_persons_count_each_person_once_by_the_best_attempt(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00")),
            ("buy", t("10:01")),
            ("view", t("10:02")),
            ("buy", t("10:04")),
        ],
        "b": [("view", t("10:00")), ("view", t("10:01"))],
    }
    result = run(["view", "buy"], people, count="persons")
    assert result.counts() == (2, 1)
    assert result.counting == "persons"
    assert result.step(2).avg_seconds_from_previous == 60.0  # a's earliest best attempt
    assert result.to_dict() == run(["view", "buy"], people).to_dict()
    assert run(["view", "buy"], people, count="totals").counts() == (3, 2)


def test_c2_sessions_by_the_session_id_column(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"session_id": "s1"}),
            ("buy", t("10:05"), {"session_id": "s1"}),
            ("view", t("11:00"), {"session_id": "s2"}),
            ("buy", t("11:01"), {"session_id": "s2"}),
        ],
        # the view's session has no buy; the buy's session has no entry
        "b": [
            ("view", t("10:00"), {"session_id": "s3"}),
            ("buy", t("10:05"), {"session_id": "s4"}),
        ],
        # a view without a session fills no step
        "c": [
            ("view", t("10:00"), {"session_id": None}),
            ("buy", t("10:01"), {"session_id": "s5"}),
        ],
    }
    result = run(["view", "buy"], people, count="sessions")
    assert result.counts() == (3, 2)
    assert result.counting == "sessions"
    assert result.people(1) == ["a", "b"]
    assert result.people(2) == ["a"]
    assert result.people(2, "dropped") == ["b"]
    assert result.step(2).avg_seconds_from_previous == 180.0  # 300 s and 60 s
    assert result.outcomes.warnings == [no_session_warning(1)]
    assert run(["view", "buy"], people).counts() == (3, 3)


def test_c2_the_best_attempt_lies_inside_one_session(run: RunFunnel) -> None:
    people = {
        "interleaved": [
            ("view", t("10:00"), {"session_id": "s1"}),
            ("view", t("10:01"), {"session_id": "s2"}),
            ("buy", t("10:02"), {"session_id": "s1"}),
        ]
    }
    result = run(["view", "buy"], people, count="sessions")
    assert result.counts() == (2, 1)
    assert result.step(2).avg_seconds_from_previous == 120.0  # s1's view, not s2's
    assert result.people(2) == ["interleaved"]
    assert result.people(2, "dropped") == ["interleaved"]


def test_c2_strict_looks_at_the_sessions_own_events(run: RunFunnel) -> None:
    people = {
        "other_session": [
            ("view", t("10:00"), {"session_id": "s1"}),
            ("scroll", t("10:01"), {"session_id": "s2"}),
            ("buy", t("10:02"), {"session_id": "s1"}),
        ],
        "no_session": [
            ("view", t("10:00"), {"session_id": "s3"}),
            ("scroll", t("10:01"), {"session_id": None}),
            ("buy", t("10:02"), {"session_id": "s3"}),
        ],
        "same_session": [
            ("view", t("10:00"), {"session_id": "s4"}),
            ("scroll", t("10:01"), {"session_id": "s4"}),
            ("buy", t("10:02"), {"session_id": "s4"}),
        ],
    }
    sessions = run(["view", "buy"], people, order="strict", count="sessions")
    assert sessions.counts() == (3, 2)
    assert sessions.people(2) == ["no_session", "other_session"]
    assert run(["view", "buy"], people, order="strict").counts() == (3, 0)


def test_c2_sessions_by_inactivity_gap(run: RunFunnel) -> None:
    people = {
        "gap_exact": [("view", "2024-01-01 10:00:00"), ("buy", "2024-01-01 10:30:00")],
        "gap_over": [("view", "2024-01-01 10:00:00"), ("buy", "2024-01-01 10:30:00.000001")],
        # an event of another name continues the session
        "bridged": [("view", t("10:00")), ("scroll", t("10:25")), ("buy", t("10:50"))],
        "two": [
            ("view", t("10:00")),
            ("buy", t("10:10")),
            ("view", t("11:00")),
            ("buy", t("11:05")),
        ],
    }
    result = run(["view", "buy"], people, count="sessions", session_gap="30m")
    assert result.counts() == (5, 4)
    assert result.people(2) == ["bridged", "gap_exact", "two"]
    assert result.people(2, "dropped") == ["gap_over"]
    assert result.step(2).avg_seconds_from_previous == 1425.0  # 1800, 3000, 600, 300
    assert result.step(2).median_seconds_from_previous == 1200.0
    assert result.outcomes.warnings == []


def test_c2_session_gap_derives_sessions_even_with_a_session_id_column(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"session_id": "s1"}),
            ("buy", t("10:05"), {"session_id": "s2"}),
        ]
    }
    assert run(["view", "buy"], people, count="sessions").counts() == (1, 0)
    assert run(["view", "buy"], people, count="sessions", session_gap="30m").counts() == (1, 1)
    assert run(["view", "buy"], people, count="sessions", session_gap="4m").counts() == (1, 0)


def test_c3_totals_count_every_attempt_in_turn(run: RunFunnel) -> None:
    people = {
        # the second view has the time of the first buy: at the end of the completed attempt
        "twice": [
            ("view", t("10:00")),
            ("buy", t("10:05")),
            ("view", t("10:05")),
            ("buy", t("10:06")),
        ],
        # the 10:10 view is inside the open attempt: no attempt of its own
        "open": [("view", t("10:00")), ("view", t("10:10")), ("buy", t("10:20"))],
    }
    result = run(["view", "buy"], people, count="totals")
    assert result.counts() == (3, 3)
    assert result.counting == "totals"
    assert result.people(2) == ["open", "twice"]
    assert result.step(2).avg_seconds_from_previous == 520.0  # 300, 60, 1200


def test_c3_totals_next_attempt_starts_strictly_after_the_window(run: RunFunnel) -> None:
    people = {
        # 11:00:00 is entry + W: still inside the first attempt's window
        "edge": [
            ("view", "2024-01-01 10:00:00"),
            ("view", "2024-01-01 11:00:00"),
            ("buy", "2024-01-01 11:30:00"),
        ],
        "past": [
            ("view", "2024-01-01 10:00:00"),
            ("view", "2024-01-01 11:00:00.000001"),
            ("buy", "2024-01-01 11:30:00"),
        ],
    }
    totals = run(["view", "buy"], people, count="totals", window="1h")
    assert totals.counts() == (3, 1)
    assert totals.people(2) == ["past"]
    assert totals.people(2, "dropped") == ["edge", "past"]
    # persons count edge's second view: totals can show fewer conversions than persons
    persons = run(["view", "buy"], people, window="1h")
    assert persons.counts() == (2, 2)


def test_c3_totals_after_an_exclusion_the_next_attempt_may_start_at_its_time(
    run: RunFunnel,
) -> None:
    people = {
        "a": [
            ("view", t("10:00")),
            ("refund", t("10:10")),
            ("view", t("10:10")),
            ("buy", t("10:20")),
        ]
    }
    spec = {"steps": ["view", "buy"], "count": "totals"}
    excluded = run({**spec, "exclusions": [refund_between(1, 2)]}, people)
    assert excluded.counts() == (2, 1)
    assert excluded.step(2).avg_seconds_from_previous == 600.0
    assert run(spec, people).counts() == (1, 1)  # without it, the 10:10 view is inside


def test_c3_totals_an_exclusion_ends_an_attempt_whose_next_step_never_comes(
    run: RunFunnel,
) -> None:
    # No buy follows: the refund still ends the open attempt (the reference's reading of [X2]
    # when no event fills step k), so the 10:20 view starts a second attempt.
    people = {"a": [("view", t("10:00")), ("refund", t("10:10")), ("view", t("10:20"))]}
    spec = {"steps": ["view", "buy"], "count": "totals"}
    assert run({**spec, "exclusions": [refund_between(1, 2)]}, people).counts() == (2, 0)
    assert run(spec, people).counts() == (1, 0)


def test_c3_totals_under_any(run: RunFunnel) -> None:
    people = {
        "a": [
            ("buy", t("10:00")),
            ("view", t("10:01")),
            ("view", t("10:02")),
            ("buy", t("10:03")),
            ("buy", t("10:04")),
        ]
    }
    result = run(["view", "buy"], people, order="any", count="totals")
    # buy+view (ends 10:01), then view+buy (ends 10:03), then buy alone
    assert result.counts() == (3, 2)
    assert result.step(2).avg_seconds_from_previous == 60.0


def test_c3_events_used_by_one_attempt_are_never_used_by_another(run: RunFunnel) -> None:
    people = {
        "four_tied": [("view", t("10:00"))] * 4,
        "three": [("view", t("10:00")), ("view", t("10:01")), ("view", t("10:02"))],
    }
    result = run(["view", "view"], people, count="totals")
    assert result.counts() == (4, 3)
    assert result.people(2, "dropped") == ["three"]


def test_c4_per_step_numbers_over_units_and_people_named_once(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00")),
            ("buy", t("10:01")),
            ("view", t("10:02")),
            ("buy", t("10:04")),
        ],
        "b": [("view", t("10:00")), ("buy", t("10:10")), ("view", t("10:20"))],
        "c": [("view", t("10:00"))],
    }
    result = run(["view", "buy"], people, count="totals")
    assert result.counts() == (5, 3)
    step = result.step(2)
    assert (step.conversion_from_previous, step.conversion_from_start) == (0.6, 0.6)
    assert step.dropped_from_previous == 2
    assert step.avg_seconds_from_previous == 260.0  # 60, 120, 600
    assert step.median_seconds_from_previous == 120.0
    assert result.people(1) == ["a", "b", "c"]
    assert result.people(2) == ["a", "b"]
    assert result.people(2, "dropped") == ["b", "c"]


# --- Optional steps ----------------------------------------------------------------------------


def test_o1_an_optional_step_can_be_skipped(run: RunFunnel) -> None:
    people = {
        "took": [("view", t("10:00")), ("promo", t("10:01")), ("buy", t("10:02"))],
        "skipped": [("view", t("10:00")), ("buy", t("10:02"))],
    }
    result = run(OPTIONAL_PROMO, people)
    assert result.counts() == (2, 1, 2)
    assert result.people(2) == ["took"]
    assert result.people(3) == ["skipped", "took"]
    assert run(["view", "promo", "buy"], people).counts() == (2, 1, 1)


def test_o2_optional_step_is_skipped_when_later_than_the_next_required_step(
    run: RunFunnel,
) -> None:
    people = {
        "after": [
            ("view", t("10:00")),
            ("buy", t("10:01")),
            ("promo", t("10:02")),
            ("buy", t("10:03")),
        ],
        "before": [("view", t("10:00")), ("promo", t("10:01")), ("buy", t("10:03"))],
        # the same time as the earliest buy is not later: promo is taken, the buy ties in order
        "tie": [("view", t("10:00")), ("buy", t("10:01")), ("promo", t("10:01"))],
    }
    result = run(OPTIONAL_PROMO, people)
    assert result.counts() == (3, 2, 3)
    assert result.people(2) == ["before", "tie"]
    assert gaps(result, 3) == {"after": 60, "before": 120, "tie": 0}
    assert result.step(3).avg_seconds_from_previous == 60.0


def test_o2_optional_step_is_skipped_when_its_event_is_the_next_steps_event(
    run: RunFunnel,
) -> None:
    pricing = [{"property": "page", "op": "eq", "value": "/pricing"}]
    spec = {
        "steps": [
            "visit",
            {"event": "view", "optional": True},
            {"event": "view", "where": pricing},
        ]
    }
    people = {
        # the earliest view could fill both: step 2 is skipped, even with a second view
        "same": [
            ("visit", t("10:00"), {"page": "/"}),
            ("view", t("10:01"), {"page": "/pricing"}),
            ("view", t("10:02"), {"page": "/pricing"}),
        ],
        "plain_first": [
            ("visit", t("10:00"), {"page": "/"}),
            ("view", t("10:01"), {"page": "/"}),
            ("view", t("10:02"), {"page": "/pricing"}),
        ],
    }
    result = run(spec, people)
    assert result.counts() == (2, 1, 2)
    assert result.people(2) == ["plain_first"]
    assert gaps(result, 3) == {"same": 60, "plain_first": 60}


def test_o2_optional_step_follows_the_hold_and_within_rules(run: RunFunnel) -> None:
    spec = {
        "steps": ["view", {"event": "promo", "optional": True, "within": "10m"}, "buy"],
        "hold_constant": ["plan"],
    }
    people = {
        "late_promo": [
            ("view", t("10:00"), {"plan": "a"}),
            ("promo", t("10:11"), {"plan": "a"}),
            ("buy", t("10:20"), {"plan": "a"}),
        ],
        "other_plan": [
            ("view", t("10:00"), {"plan": "a"}),
            ("promo", t("10:01"), {"plan": "b"}),
            ("buy", t("10:02"), {"plan": "a"}),
        ],
        "ok": [
            ("view", t("10:00"), {"plan": "a"}),
            ("promo", t("10:10"), {"plan": "a"}),
            ("buy", t("10:20"), {"plan": "a"}),
        ],
    }
    result = run(spec, people)
    assert result.counts() == (3, 1, 3)
    assert result.people(2) == ["ok"]
    assert gaps(result, 3) == {"late_promo": 1200, "other_plan": 120, "ok": 600}


def test_o2_the_rival_is_the_next_non_optional_step(run: RunFunnel) -> None:
    spec = {
        "steps": [
            "view",
            {"event": "promo", "optional": True},
            {"event": "coupon", "optional": True},
            "buy",
        ]
    }
    people = {
        # promo (10:02) is before buy (10:03), so it is taken; the coupon before it is then
        # too early for step 3
        "a": [
            ("view", t("10:00")),
            ("coupon", t("10:01")),
            ("promo", t("10:02")),
            ("buy", t("10:03")),
        ],
        "b": [("view", t("10:00")), ("coupon", t("10:01")), ("buy", t("10:02"))],
    }
    result = run(spec, people)
    assert result.counts() == (2, 1, 1, 2)
    assert result.people(2) == ["a"]
    assert result.people(3) == ["b"]


def test_o3_optional_step_conversion_is_measured_from_the_previous_required_step(
    run: RunFunnel,
) -> None:
    people = {
        "a": [("view", t("10:00")), ("promo", t("10:01")), ("buy", t("10:02"))],
        "b": [("view", t("10:00")), ("buy", t("10:05"))],
        "c": [("view", t("10:00"))],
    }
    result = run(OPTIONAL_PROMO, people)
    assert result.counts() == (3, 1, 2)  # counts grow after the optional step
    promo, buy = result.step(2), result.step(3)
    assert (promo.conversion_from_previous, promo.dropped_from_previous) == (1 / 3, 2)
    assert (buy.conversion_from_previous, buy.dropped_from_previous) == (2 / 3, 1)
    assert buy.conversion_from_start == 2 / 3
    assert result.people(2, "dropped") == ["b", "c"]
    assert result.people(3, "dropped") == ["c"]
    # times from the previous step the attempt did: a from promo (60 s), b from view (300 s)
    assert promo.avg_seconds_from_previous == 60.0
    assert buy.avg_seconds_from_previous == 180.0
    assert buy.median_seconds_from_previous == 180.0


def test_o4_best_attempt_most_required_steps_then_most_steps_then_earliest(
    run: RunFunnel,
) -> None:
    people = {
        # 08:00 does view + promo (1 required step); 10:00 does view + buy (2 required)
        "required_first": [
            ("view", t("08:00")),
            ("promo", t("08:10")),
            ("view", t("10:00")),
            ("buy", t("10:05")),
        ],
        # 08:00 does view + buy; 10:00 does view + promo + buy (more steps)
        "more_steps": [
            ("view", t("08:00")),
            ("buy", t("08:05")),
            ("view", t("10:00")),
            ("promo", t("10:01")),
            ("buy", t("10:02")),
        ],
        # both do all three steps: the earliest entry
        "earliest": [
            ("view", t("08:00")),
            ("promo", t("08:01")),
            ("buy", t("08:02")),
            ("view", t("09:00")),
            ("promo", t("09:01")),
            ("buy", t("09:30")),
        ],
    }
    result = run(OPTIONAL_PROMO, people, window="1h")
    assert result.counts() == (3, 2, 3)
    assert result.people(2) == ["earliest", "more_steps"]
    assert gaps(result, 3) == {"required_first": 300, "more_steps": 60, "earliest": 60}
    entries = {o.person_id: o.times_us[0] for o in result.outcomes}
    assert entries == {
        "required_first": to_us(t("10:00")),
        "more_steps": to_us(t("10:00")),
        "earliest": to_us(t("08:00")),
    }
    assert result.step(3).avg_seconds_from_previous == 140.0


# --- Per-step time limit -----------------------------------------------------------------------


def test_w1_within_is_inclusive_from_the_previous_step(run: RunFunnel) -> None:
    spec = {"steps": ["view", "cart", {"event": "buy", "within": "1h"}]}
    people = {
        "edge": [
            ("view", "2024-01-01 10:00:00"),
            ("cart", "2024-01-01 10:30:00"),
            ("buy", "2024-01-01 11:30:00"),
        ],
        "late": [
            ("view", "2024-01-01 10:00:00"),
            ("cart", "2024-01-01 10:30:00"),
            ("buy", "2024-01-01 11:30:00.000001"),
        ],
    }
    result = run(spec, people)
    assert result.counts() == (2, 2, 1)
    assert result.people(3) == ["edge"]
    assert result.step(3).avg_seconds_from_previous == 3600.0


def test_w1_earlier_steps_are_not_revisited_for_a_later_candidate(run: RunFunnel) -> None:
    # The earliest cart is taken; buy is 90 min after it, and the 11:30 cart is not tried instead.
    spec = {"steps": ["view", "cart", {"event": "buy", "within": "1h"}]}
    people = {
        "a": [("view", t("10:00")), ("cart", t("10:10")), ("cart", t("11:30")), ("buy", t("11:40"))]
    }
    assert run(spec, people).counts() == (1, 1, 0)
    assert run(VBP, people).counts() == (1, 1, 1)


def test_w1_within_is_on_top_of_the_window(run: RunFunnel) -> None:
    spec = {"steps": ["view", "cart", {"event": "buy", "within": "2h"}], "window": "1h"}
    people = {
        "window_late": [("view", t("10:00")), ("cart", t("10:30")), ("buy", t("11:10"))],
        "ok": [("view", t("10:00")), ("cart", t("10:30")), ("buy", t("11:00"))],
    }
    result = run(spec, people)
    assert result.counts() == (2, 2, 1)
    assert result.people(3) == ["ok"]


def test_w1_within_counts_from_the_step_the_attempt_did_before(run: RunFunnel) -> None:
    spec = {
        "steps": ["view", {"event": "promo", "optional": True}, {"event": "buy", "within": "1h"}]
    }
    people = {
        "skipped": [("view", t("10:00")), ("buy", t("11:00"))],
        "via_promo": [("view", t("10:00")), ("promo", t("10:30")), ("buy", t("11:20"))],
        "too_late": [("view", t("10:00")), ("buy", t("11:00:01"))],
    }
    result = run(spec, people)
    assert result.counts() == (3, 1, 2)
    assert result.people(3) == ["skipped", "via_promo"]
    assert gaps(result, 3) == {"skipped": 3600, "via_promo": 3000}


def test_w1_within_under_strict(run: RunFunnel) -> None:
    spec = {"steps": ["view", {"event": "buy", "within": "30m"}], "order": "strict"}
    people = {
        "edge": [("view", t("10:00")), ("buy", t("10:30"))],
        "late": [("view", t("10:00")), ("buy", t("10:31"))],
    }
    result = run(spec, people)
    assert result.counts() == (2, 1)
    assert result.people(2) == ["edge"]


# --- Breakdowns --------------------------------------------------------------------------------


def test_b1_each_value_gets_the_full_step_result(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"channel": "ads"}),
            ("cart", t("10:01"), {"channel": "ads"}),
            ("buy", t("10:02"), {"channel": "ads"}),
        ],
        "b": [("view", t("10:00"), {"channel": "ads"}), ("cart", t("10:05"))],
        "c": [
            ("view", t("10:00"), {"channel": "seo"}),
            ("cart", t("10:02")),
            ("buy", t("10:03")),
        ],
        "d": [("view", t("10:00"), {"channel": "seo"})],
        "e": [("view", t("10:00"), {"channel": "email"})],
    }
    result = run(VBP, people, breakdown={"property": "channel"})
    assert rows(result) == [
        ("ads", (2, 2, 1)),
        ("seo", (2, 1, 1)),
        ("email", (1, 0, 0)),
    ]
    ads, seo, email = result.breakdown
    assert ads.steps[1].avg_seconds_from_previous == 180.0  # 60 and 300
    assert ads.steps[2].conversion_from_previous == 0.5
    assert seo.steps[1].dropped_from_previous == 1
    assert seo.steps[1].avg_seconds_from_previous == 120.0
    assert email.steps[1].conversion_from_previous == 0.0
    assert email.steps[1].avg_seconds_from_previous is None
    assert result.steps == run(VBP, people).steps
    as_dict = result.to_dict()
    assert [(r["value"], [s["count"] for s in r["steps"]]) for r in as_dict["breakdown"]] == [
        ("ads", [2, 2, 1]),
        ("seo", [2, 1, 1]),
        ("email", [1, 0, 0]),
    ]
    assert as_dict["breakdown"][0]["steps"][1] == ads.steps[1].to_dict()


def test_b1_several_properties_combine(run: RunFunnel) -> None:
    people = {
        "a": [("view", t("10:00"), {"channel": "ads", "device": "ios"})],
        "b": [("view", t("10:00"), {"channel": "ads", "device": "web"})],
        "c": [
            ("view", t("10:00"), {"channel": "ads", "device": "ios"}),
            ("buy", t("10:01"), {"channel": "seo", "device": "web"}),
        ],
    }
    result = run(["view", "buy"], people, breakdown={"property": ["channel", "device"]})
    assert rows(result) == [("ads / ios", (2, 1)), ("ads / web", (1, 0))]
    assert result.breakdown[0].texts == ("ads", "ios")
    assert result.breakdown[0].value == ("ads", "ios")
    assert [r["value"] for r in result.to_dict()["breakdown"]] == [["ads", "ios"], ["ads", "web"]]
    assert result.counts() == (3, 1)


def test_b2_first_touch_last_touch_and_step_n(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"channel": "ads"}),
            ("cart", t("10:01"), {"channel": "seo"}),
            ("buy", t("10:02"), {"channel": "email"}),
        ],
        "b": [("view", t("10:00"), {"channel": "ads"}), ("cart", t("10:01"), {"channel": "seo"})],
        "c": [("view", t("10:00"), {"channel": "seo"})],
    }

    def by(attribution: str | None) -> list[tuple[str, tuple[int, ...]]]:
        breakdown = {"property": "channel"}
        if attribution is not None:
            breakdown["attribution"] = attribution
        return rows(run(VBP, people, breakdown=breakdown))

    first = [("ads", (2, 2, 1)), ("seo", (1, 0, 0))]
    assert by(None) == first
    assert by("first_touch") == first
    assert by("last_touch") == [("seo", (2, 1, 0)), ("email", (1, 1, 1))]
    assert by("step:2") == [("seo", (2, 2, 1)), ("(none)", (1, 0, 0))]
    assert by("step:3") == [("(none)", (2, 1, 0)), ("email", (1, 1, 1))]


def test_b2_under_any_step_n_is_the_event_of_the_nth_distinct_step(run: RunFunnel) -> None:
    people = {
        "a": [
            ("buy", t("10:00"), {"channel": "x"}),
            ("view", t("10:01"), {"channel": "y"}),
            ("cart", t("10:02"), {"channel": "z"}),
        ],
        "b": [("cart", t("10:00"), {"channel": "w"})],
    }

    def by(attribution: str) -> list[tuple[str, tuple[int, ...]]]:
        breakdown = {"property": "channel", "attribution": attribution}
        return rows(run(VBP, people, order="any", breakdown=breakdown))

    assert by("first_touch") == [("w", (1, 0, 0)), ("x", (1, 1, 1))]
    assert by("step:1") == [("w", (1, 0, 0)), ("x", (1, 1, 1))]
    assert by("step:2") == [("(none)", (1, 0, 0)), ("y", (1, 1, 1))]
    assert by("step:3") == [("(none)", (1, 0, 0)), ("z", (1, 1, 1))]
    assert by("last_touch") == [("w", (1, 0, 0)), ("z", (1, 1, 1))]


def test_b2_step_n_of_a_skipped_optional_step_is_none(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"channel": "ads"}),
            ("promo", t("10:01"), {"channel": "seo"}),
            ("buy", t("10:02"), {"channel": "ads"}),
        ],
        "b": [("view", t("10:00"), {"channel": "ads"}), ("buy", t("10:02"), {"channel": "ads"})],
    }
    breakdown = {"property": "channel", "attribution": "step:2"}
    result = run(OPTIONAL_PROMO, people, breakdown=breakdown)
    assert rows(result) == [("(none)", (1, 0, 1)), ("seo", (1, 1, 1))]
    last = run(
        OPTIONAL_PROMO, people, breakdown={"property": "channel", "attribution": "last_touch"}
    )
    assert rows(last) == [("ads", (2, 1, 2))]


B3_PEOPLE = {
    "a": [
        ("view", t("10:00"), {"channel": "ads"}),
        ("cart", t("10:01"), {"channel": "seo"}),
        ("view", t("10:02"), {"channel": "seo"}),
        ("cart", t("10:03"), {"channel": "seo"}),
        ("buy", t("10:04"), {"channel": "ads"}),
    ],
    "b": [("view", t("10:00"), {"channel": "seo"}), ("cart", t("10:30"), {"channel": "ads"})],
    "c": [("view", t("10:00"), {"channel": "email"}), ("view", t("10:01"), {"channel": "ads"})],
    "d": [
        ("view", t("10:00"), {"channel": "ads"}),
        ("cart", t("10:01"), {"channel": "ads"}),
        ("buy", t("10:02"), {"channel": "seo"}),
        ("view", t("10:03"), {"channel": "ads"}),
        ("cart", t("10:04"), {"channel": "email"}),
        ("buy", t("10:05"), {"channel": "email"}),
    ],
}


@pytest.mark.parametrize("attribution", ["first_touch", "last_touch", "step:2", "step:3"])
@pytest.mark.parametrize(
    ("count", "total"), [("persons", (4, 3, 2)), ("totals", (5, 4, 3)), ("sessions", (4, 3, 2))]
)
def test_b3_values_add_up_to_the_total(
    run: RunFunnel, attribution: str, count: str, total: tuple[int, ...]
) -> None:
    spec: dict[str, Any] = {"steps": VBP, "count": count}
    if count == "sessions":
        spec["session_gap"] = "1h"
    breakdown = {"property": "channel", "attribution": attribution}
    result = run(spec, B3_PEOPLE, breakdown=breakdown)
    assert result.counts() == total
    assert tuple(sum(counts) for counts in zip(*(c for _, c in rows(result)), strict=True)) == total
    assert result.steps == run(spec, B3_PEOPLE).steps


def test_b3_first_touch_rows_exactly(run: RunFunnel) -> None:
    result = run(VBP, B3_PEOPLE, breakdown="channel")
    # a and d enter with ads, b with seo; c's two equal attempts: the earliest (email)
    assert rows(result) == [("ads", (2, 2, 2)), ("email", (1, 0, 0)), ("seo", (1, 1, 0))]
    # d's second attempt (after its first completed) enters with ads too
    totals = run(VBP, B3_PEOPLE, breakdown="channel", count="totals")
    assert rows(totals) == [("ads", (3, 3, 3)), ("email", (1, 0, 0)), ("seo", (1, 1, 0))]


def test_b4_all_events_counts_a_person_under_every_value(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"channel": "ads"}),
            ("view", t("10:01"), {"channel": "seo"}),
            ("buy", t("10:02"), {"channel": "seo"}),
        ],
        "b": [
            ("view", t("10:00"), {"channel": "ads"}),
            ("buy", t("10:01:30"), {"channel": "ads"}),
            ("view", t("10:02"), {"channel": "seo"}),
            ("buy", t("10:03"), {"channel": "seo"}),
        ],
        # the seo buy cannot fill the ads attempt (held constant), nor enter
        "c": [("view", t("10:00"), {"channel": "ads"}), ("buy", t("10:01"), {"channel": "seo"})],
    }
    breakdown = {"property": "channel", "attribution": "all_events"}
    result = run(["view", "buy"], people, breakdown=breakdown)
    assert rows(result) == [("ads", (3, 1)), ("seo", (2, 2))]
    ads, seo = result.breakdown
    assert ads.steps[1].avg_seconds_from_previous == 90.0
    assert seo.steps[1].avg_seconds_from_previous == 60.0
    # the total keeps each person's best attempt over their values: b's earliest (ads, 90 s)
    assert result.counts() == (3, 2)
    assert result.step(2).avg_seconds_from_previous == 75.0  # a: 60 s (seo), b: 90 s (ads)
    assert result.people(2) == ["a", "b"]
    assert result.people(2, "dropped") == ["c"]
    # unlike first_touch ([B1]), the total differs from the funnel without a breakdown: c's
    # seo buy completes c's attempt there
    assert run(["view", "buy"], people).counts() == (3, 3)


def test_b4_all_events_per_session(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"channel": "ads", "session_id": "s1"}),
            ("view", t("10:01"), {"channel": "seo", "session_id": "s1"}),
            ("buy", t("10:02"), {"channel": "seo", "session_id": "s1"}),
            ("view", t("11:00"), {"channel": "ads", "session_id": "s2"}),
            ("buy", t("11:01"), {"channel": "ads", "session_id": "s2"}),
        ]
    }
    breakdown = {"property": "channel", "attribution": "all_events"}
    result = run(["view", "buy"], people, count="sessions", breakdown=breakdown)
    assert rows(result) == [("ads", (2, 1)), ("seo", (1, 1))]
    assert result.counts() == (2, 2)  # each session's best over its values


def test_b5_person_scope_reads_the_latest_value_from_any_event(run: RunFunnel) -> None:
    people = {
        # the latest plan is on an event the funnel does not use
        "a": [
            ("view", t("10:00"), {"plan": "free"}),
            ("buy", t("10:01")),
            ("identify", t("12:00"), {"plan": "pro"}),
        ],
        "b": [("identify", t("09:00"), {"plan": "pro"}), ("view", t("10:00"), {"plan": "free"})],
        "c": [("view", t("10:00"))],
        # a tie at 10:00: the larger event_id is the latest ([S1])
        "d": [
            ("identify", t("10:00"), {"plan": "pro"}, "d-2"),
            ("view", t("10:00"), {"plan": "basic"}, "d-1"),
        ],
    }
    result = run(["view", "buy"], people, breakdown={"property": "plan", "scope": "person"})
    assert rows(result) == [("pro", (2, 1)), ("(none)", (1, 0)), ("free", (1, 0))]
    assert result.to_dict()["breakdown_by"] == {"property": "plan", "limit": 10, "scope": "person"}


def test_b5_person_scope_reads_each_property_on_its_own(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"plan": "pro", "country": "DE"}),
            ("identify", t("11:00"), {"plan": None, "country": "FR"}),
        ]
    }
    breakdown = {"property": ["plan", "country"], "scope": "person"}
    result = run(["view", "buy"], people, breakdown=breakdown)
    assert rows(result) == [("pro / FR", (1, 0))]


def test_b5_person_scope_counts_every_attempt_under_the_persons_value(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00"), {"plan": "a"}),
            ("buy", t("10:01"), {"plan": "a"}),
            ("view", t("10:02"), {"plan": "b"}),
            ("buy", t("10:03"), {"plan": "b"}),
        ]
    }
    breakdown = {"property": "plan", "scope": "person"}
    result = run(["view", "buy"], people, count="totals", breakdown=breakdown)
    assert rows(result) == [("b", (2, 2))]


def test_b6_unset_values_show_as_none_and_values_in_text_form(run: RunFunnel) -> None:
    def labels(prop: str, values: list[Any]) -> list[str]:
        people = {f"p{i}": [("view", t("10:00"), {prop: v})] for i, v in enumerate(values)}
        return [row.label for row in run(["view"], people, breakdown=prop).breakdown]

    assert labels("vip", [True, True, False, None]) == ["true", "(none)", "false"]
    assert labels("price", [5.0, 5.0, 1e16, None]) == ["5.0", "(none)", "1e+16"]
    assert labels("qty", [5, 5, 12, None]) == ["5", "(none)", "12"]
    assert labels("channel", ["Ads", "Ads", "ads", None]) == ["Ads", "(none)", "ads"]


def test_b7_values_ordered_by_step1_count_then_text_and_folded_past_limit(
    run: RunFunnel,
) -> None:
    channels = ["seo"] * 3 + ["email"] * 2 + ["ads"] * 2 + ["direct"]
    people = {
        f"p{i}": [("view", t("10:00"), {"channel": c}), ("buy", t("10:01"))]
        for i, c in enumerate(channels)
    }
    people["p0"] = [("view", t("10:00"), {"channel": "seo"})]
    result = run(["view", "buy"], people, breakdown={"property": "channel", "limit": 2})
    assert rows(result) == [("seo", (3, 2)), ("ads", (2, 2)), ("Other", (3, 3))]
    assert result.breakdown[-1].other
    assert result.breakdown[-1].texts == ("Other",)
    assert result.to_dict()["breakdown"][-1]["value"] == "Other"
    unfolded = run(["view", "buy"], people, breakdown="channel")
    assert [label for label, _ in rows(unfolded)] == ["seo", "ads", "email", "direct"]


def test_b7_default_limit_is_ten(run: RunFunnel) -> None:
    people = {f"p{i:02d}": [("view", t("10:00"), {"n": f"v{i:02d}"})] for i in range(12)}
    result = run(["view"], people, breakdown="n")
    assert [label for label, _ in rows(result)] == [f"v{i:02d}" for i in range(10)] + ["Other"]
    assert rows(result)[-1] == ("Other", (2,))


def test_b7_other_counts_a_person_under_two_folded_values_once(run: RunFunnel) -> None:
    people = {
        "a": [("view", t("10:00"), {"channel": "ads"}), ("buy", t("10:01"), {"channel": "ads"})],
        "b": [("view", t("10:00"), {"channel": "ads"})],
        "x": [
            ("view", t("10:00"), {"channel": "seo"}),
            ("view", t("10:01"), {"channel": "email"}),
            ("buy", t("10:03"), {"channel": "email"}),
        ],
    }
    breakdown = {"property": "channel", "attribution": "all_events", "limit": 1}
    result = run(["view", "buy"], people, breakdown=breakdown)
    assert rows(result) == [("ads", (2, 1)), ("Other", (1, 1))]
    other = result.breakdown[-1]
    assert other.steps[1].avg_seconds_from_previous == 120.0  # x's best: the email attempt
    unfolded = run(["view", "buy"], people, breakdown={**breakdown, "limit": 10})
    assert rows(unfolded) == [("ads", (2, 1)), ("email", (1, 1)), ("seo", (1, 0))]


def test_depth_features_work_together(run: RunFunnel) -> None:
    spec = {
        "steps": ["view", {"event": "promo", "optional": True}, {"event": "buy", "within": "1h"}],
        "exclusions": [refund_between(1, 3)],
        "hold_constant": ["plan"],
        "count": "sessions",
        "session_gap": "2h",
        "breakdown": {"property": "channel", "attribution": "last_touch"},
    }
    people = {
        "a": [
            ("view", t("10:00"), {"plan": "x", "channel": "ads"}),
            ("promo", t("10:10"), {"plan": "x", "channel": "mail"}),
            ("buy", t("10:20"), {"plan": "y", "channel": "ads"}),
            ("buy", t("10:30"), {"plan": "x", "channel": "ads"}),
            # a new session (gap > 2h): a refund ends its attempt at the view
            ("view", t("14:00"), {"plan": "x", "channel": "seo"}),
            ("refund", t("14:05"), {}),
            ("buy", t("14:10"), {"plan": "x", "channel": "seo"}),
        ],
        "b": [
            ("view", t("10:00"), {"plan": "x", "channel": "seo"}),
            ("buy", t("11:01"), {"plan": "x", "channel": "ads"}),
        ],
    }
    result = run(spec, people)
    assert result.counts() == (3, 1, 1)
    assert rows(result) == [("seo", (2, 0, 0)), ("ads", (1, 1, 1))]
    assert gaps(result, 3) == {"a": 1200}


def test_c3_totals_an_attempt_past_its_step_within_ends_then(run: RunFunnel) -> None:
    people = {
        "p": [("a", t("10:00")), ("a", t("11:00")), ("b", t("11:00:30"))],
    }
    steps = ["a", {"event": "b", "within": "1m"}]
    # the 10:00 attempt can do b until 10:01 only: the 11:00 entry starts an attempt
    totals = run(steps, people, count="totals", window="1d")
    assert totals.counts() == (2, 1)
    assert run(steps, people, window="1d").counts() == (1, 1)


def test_c3_totals_a_strict_break_ends_the_attempt_at_the_breaking_event(run: RunFunnel) -> None:
    people = {
        "p": [("a", t("10:00")), ("c", t("10:01")), ("a", t("11:00")), ("b", t("11:01"))],
        # the breaking event is itself an entry: it starts the next attempt
        "q": [("a", t("10:00")), ("a", t("10:01")), ("b", t("10:02"))],
    }
    totals = run({"steps": ["a", "b"], "order": "strict"}, people, count="totals", window="1d")
    assert totals.counts() == (4, 2)
    assert totals.people(2) == ["p", "q"]


def test_c2_events_without_any_session_column_fill_no_step(run: RunFunnel) -> None:
    people = {"p": [("view", t("10:00")), ("buy", t("10:05"))]}
    result = run(["view", "buy"], people, count="sessions")
    assert result.counts() == (0, 0)
    assert result.outcomes.warnings == [no_session_warning(2)]


def test_b6_every_nan_is_one_value_even_when_ties_decide(run: RunFunnel) -> None:
    nan = float("nan")
    people = {
        # tied entries: the NaN one is first by event_id, so p1 counts under nan
        "p1": [("a", t("10:00"), {"price": nan}), ("a", t("10:00"), {"price": 1.0}),
               ("b", t("10:01"))],
        "p2": [("a", t("10:00"), {"price": nan}), ("b", t("10:01"))],
    }  # fmt: skip
    result = run(["a", "b"], people, breakdown="price")
    assert [(row.label, [s.count for s in row.steps]) for row in result.breakdown] == [
        ("nan", [2, 2])
    ]
