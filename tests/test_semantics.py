"""One test (at least) per sentence of docs/semantics.md, on every engine."""

from __future__ import annotations

import itertools
import random

import pytest

from funnelscope.model.filters import Filter

from conftest import RunFunnel

VBP = ["view", "cart", "buy"]
DAY = "2024-01-01"


def t(hhmmss: str, day: str = DAY) -> str:
    return f"{day} {hhmmss}"


def test_s1_ties_are_broken_by_event_id_when_steps_overlap(run: RunFunnel) -> None:
    # Both events at 10:00 can fill step 2 (view); only b can fill step 3 (view, page=/pricing).
    # The earliest by event_id (listed first) fills step 2, so the order decides the result.
    spec = {
        "steps": [
            {"event": "open"},
            {"event": "view"},
            {"event": "view", "where": [{"property": "page", "op": "eq", "value": "/pricing"}]},
        ]
    }
    first_plain = {
        "p": [
            ("open", t("09:00"), {"page": "/"}),
            ("view", t("10:00"), {"page": "/"}),
            ("view", t("10:00"), {"page": "/pricing"}),
        ]
    }
    first_pricing = {
        "p": [
            ("open", t("09:00"), {"page": "/"}),
            ("view", t("10:00"), {"page": "/pricing"}),
            ("view", t("10:00"), {"page": "/"}),
        ]
    }
    assert run(spec, first_plain).counts() == (1, 1, 1)
    assert run(spec, first_pricing).counts() == (1, 1, 0)
    # The event_id decides, not the row order: same rows as first_plain, ids swapped.
    swapped = {
        "p": [
            ("open", t("09:00"), {"page": "/"}, "id-0"),
            ("view", t("10:00"), {"page": "/"}, "id-2"),
            ("view", t("10:00"), {"page": "/pricing"}, "id-1"),
        ]
    }
    assert run(spec, swapped).counts() == (1, 1, 0)


def test_s2_microsecond_precision_times(run: RunFunnel) -> None:
    people = {"a": [("view", "2024-01-01 10:00:00.000001"), ("cart", "2024-01-01 10:00:00.500002")]}
    result = run(["view", "cart"], people)
    assert result.step(2).avg_seconds_from_previous == 0.500001
    exact = run(
        ["view", "cart"],
        {
            "a": [("view", "2024-01-01 10:00:00"), ("cart", "2024-01-01 10:00:00.1")],
            "b": [("view", "2024-01-01 10:00:00"), ("cart", "2024-01-01 10:00:00.2")],
        },
    )
    assert exact.step(2).avg_seconds_from_previous == 0.15  # not 0.15000000000000002
    assert exact.step(2).median_seconds_from_previous == 0.15


def test_s3_row_order_does_not_matter(run: RunFunnel) -> None:
    # Ties at 10:00 between steps whose definitions overlap (view / view with page=/pricing):
    # only the event ids, which travel with their events, may decide.
    spec = {
        "steps": [
            {"event": "open"},
            {"event": "view"},
            {"event": "view", "where": [{"property": "page", "op": "eq", "value": "/pricing"}]},
        ]
    }
    events = [
        ("open", t("09:00"), {"page": "/"}, "e1"),
        ("view", t("10:00"), {"page": "/"}, "e3"),
        ("view", t("10:00"), {"page": "/pricing"}, "e2"),
        ("open", t("11:00"), {"page": "/"}, "e4"),
        ("view", t("11:00"), {"page": "/"}, "e5"),
        ("view", t("11:30"), {"page": "/pricing"}, "e6"),
    ]
    expected = run(spec, {"a": events})
    assert expected.counts() == (1, 1, 1)
    assert expected.outcomes[0].times_us[0] == expected.outcomes[0].times_us[1] - 3600 * 10**6
    rng = random.Random(3)
    for _ in range(8):
        shuffled = events[:]
        rng.shuffle(shuffled)
        result = run(spec, {"a": shuffled})
        assert list(result.outcomes) == list(expected.outcomes)


def test_s4_event_name_and_every_filter_must_match(run: RunFunnel) -> None:
    spec = {
        "steps": [
            {"event": "view", "where": [{"property": "channel", "op": "eq", "value": "ads"}]},
            {"event": "buy", "where": [{"property": "price", "op": "gte", "value": 10}]},
        ],
        "where": [{"property": "country", "op": "neq", "value": "XX"}],
    }
    people = {
        "ok": [
            ("view", t("10:00"), {"channel": "ads", "country": "DE"}),
            ("buy", t("10:01"), {"price": 10.0, "country": "DE"}),
        ],
        "wrong_channel": [
            ("view", t("10:00"), {"channel": "seo", "country": "DE"}),
            ("buy", t("10:01"), {"price": 50.0, "country": "DE"}),
        ],
        "cheap": [
            ("view", t("10:00"), {"channel": "ads", "country": "DE"}),
            ("buy", t("10:01"), {"price": 9.99, "country": "DE"}),
        ],
        "global_filter": [
            ("view", t("10:00"), {"channel": "ads", "country": "DE"}),
            ("buy", t("10:01"), {"price": 50.0, "country": "XX"}),
        ],
        "other_name": [("visit", t("10:00"), {"channel": "ads"})],
    }
    result = run(spec, people)
    assert result.counts() == (3, 1)  # wrong_channel never entered: its view is not from ads
    assert result.people(2) == ["ok"]
    assert result.people(2, "dropped") == ["cheap", "global_filter"]


@pytest.mark.parametrize("order", ["ordered", "strict", "any"])
def test_s5_one_event_fills_one_step(run: RunFunnel, order: str) -> None:
    one = {"a": [("view", t("10:00"))]}
    two = {"a": [("view", t("10:00")), ("view", t("10:00"))]}
    assert run(["view", "view"], one, order=order).counts() == (1, 0)
    assert run(["view", "view"], two, order=order).counts() == (1, 1)


def test_s6_every_step1_event_starts_an_attempt(run: RunFunnel) -> None:
    # The first view is too early for buy within 1h; the second view converts.
    people = {"a": [("view", t("08:00")), ("view", t("10:00")), ("buy", t("10:30"))]}
    result = run(["view", "buy"], people, window="1h")
    assert result.counts() == (1, 1)
    assert result.step(2).avg_seconds_from_previous == 1800.0


def test_s7_earliest_event_at_or_after_previous_step(run: RunFunnel) -> None:
    people = {
        "tie": [("view", t("10:00")), ("buy", t("10:00"))],
        "two_buys": [("view", t("10:00")), ("buy", t("10:20")), ("buy", t("10:10"))],
    }
    result = run(["view", "buy"], people)
    assert result.counts() == (2, 2)
    times = {o.person_id: o.times_us[1] - o.times_us[0] for o in result.outcomes}
    assert times == {"tie": 0, "two_buys": 600_000_000}


@pytest.mark.parametrize("order", ["ordered", "strict", "any"])
def test_s8_window_is_inclusive_from_the_entry(run: RunFunnel, order: str) -> None:
    people = {
        "edge": [("view", "2024-01-01 00:00:00"), ("buy", "2024-01-08 00:00:00")],
        "late": [("view", "2024-01-01 00:00:00"), ("buy", "2024-01-08 00:00:00.000001")],
    }
    result = run(["view", "buy"], people, window="7d", order=order)
    assert result.counts() == (2, 1)
    assert result.people(2) == ["edge"]


def test_s8_window_counts_from_entry_not_previous_step(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", "2024-01-01 00:00:00"),
            ("cart", "2024-01-05 00:00:00"),
            ("buy", "2024-01-09 00:00:00"),
        ]
    }
    assert run(VBP, people, window="7d").counts() == (1, 1, 0)
    assert run(VBP, people, window="8d").counts() == (1, 1, 1)


def test_s9_out_of_order_events_do_not_convert(run: RunFunnel) -> None:
    people = {"a": [("buy", t("09:00")), ("cart", t("09:30")), ("view", t("10:00"))]}
    assert run(VBP, people).counts() == (1, 0, 0)


def test_s10_best_attempt_furthest_then_earliest(run: RunFunnel) -> None:
    people = {
        # attempt 1 (08:00) reaches cart; attempt 2 (12:00) reaches buy -> best is attempt 2.
        "further_later": [
            ("view", t("08:00")),
            ("cart", t("08:10")),
            ("view", t("12:00")),
            ("cart", t("12:01")),
            ("buy", t("12:02")),
        ],
        # both attempts reach cart; the earliest entry (08:00) gives the time: 2h, not 1 minute.
        "equal_earliest": [("view", t("08:00")), ("view", t("09:59")), ("cart", t("10:00"))],
    }
    result = run(VBP, people, window="3h")
    assert result.counts() == (2, 2, 1)
    gaps = {o.person_id: (o.times_us[1] - o.times_us[0]) // 1_000_000 for o in result.outcomes}
    assert gaps == {"further_later": 60, "equal_earliest": 7200}


def test_s11_repeated_events_count_the_person_once(run: RunFunnel) -> None:
    people = {
        "a": [
            ("view", t("10:00")),
            ("view", t("10:01")),
            ("view", t("10:02")),
            ("buy", t("10:03")),
        ],
        "b": [("view", t("10:00")), ("buy", t("10:01")), ("buy", t("10:02"))],
    }
    result = run(["view", "buy"], people)
    assert result.counts() == (2, 2)
    # a: the earliest of three equal attempts (view 10:00 -> buy 10:03) = 180 s; b: 60 s.
    assert result.step(2).median_seconds_from_previous == 120.0


def test_s12_strict_breaks_on_any_other_event_between(run: RunFunnel) -> None:
    people = {
        "clean": [("view", t("10:00")), ("cart", t("10:01")), ("buy", t("10:02"))],
        "interleaved": [
            ("view", t("10:00")),
            ("scroll", t("10:00:30")),
            ("cart", t("10:01")),
            ("buy", t("10:02")),
        ],
        "late_break": [
            ("view", t("10:00")),
            ("cart", t("10:01")),
            ("view", t("10:01:30")),
            ("buy", t("10:02")),
        ],
    }
    strict = run(VBP, people, order="strict")
    assert strict.counts() == (3, 2, 1)
    assert strict.people(2, "dropped") == ["interleaved"]
    assert strict.people(3, "dropped") == ["late_break"]
    assert run(VBP, people, order="ordered").counts() == (3, 3, 3)


def test_s12_strict_with_a_filtered_out_event_of_the_same_name(run: RunFunnel) -> None:
    spec = {
        "steps": [
            {"event": "view"},
            {"event": "buy", "where": [{"property": "price", "op": "gt", "value": 0}]},
        ],
        "order": "strict",
    }
    people = {
        "a": [
            ("view", t("10:00")),
            ("buy", t("10:01"), {"price": 0.0}),
            ("buy", t("10:02"), {"price": 5.0}),
        ]
    }
    assert run(spec, people).counts() == (1, 0)


def test_s13_strict_ties_do_not_break(run: RunFunnel) -> None:
    people = {
        "tie_with_next": [("view", t("10:00")), ("scroll", t("10:05")), ("buy", t("10:05"))],
        "tie_with_prev": [("view", t("10:00")), ("scroll", t("10:00")), ("buy", t("10:05"))],
    }
    assert run(["view", "buy"], people, order="strict").counts() == (2, 2)


def test_s14_any_order_counts_distinct_steps(run: RunFunnel) -> None:
    people = {
        "reverse": [("buy", t("10:00")), ("cart", t("10:01")), ("view", t("10:02"))],
        "two_of_three": [("cart", t("10:00")), ("buy", t("10:30"))],
        "repeats": [("buy", t("10:00")), ("buy", t("10:01")), ("buy", t("10:02"))],
        "outside": [("buy", t("10:00")), ("view", t("13:00")), ("cart", t("15:30"))],
    }
    result = run(VBP, people, order="any", window="4h")
    assert result.counts() == (4, 3, 1)
    assert result.people(3) == ["reverse"]
    assert result.people(2) == ["outside", "reverse", "two_of_three"]
    gaps = {
        o.person_id: [b - a for a, b in itertools.pairwise(o.times_us)] for o in result.outcomes
    }
    assert gaps["reverse"] == [60_000_000, 60_000_000]
    assert gaps["outside"] == [3 * 3600 * 1_000_000]  # two equal attempts: the earliest, buy 10:00


def test_s15_any_order_maximum_matching(run: RunFunnel) -> None:
    # e1 fits steps 1 and 2, e2 fits only step 1: assigning e2 -> 1 and e1 -> 2 counts two steps.
    spec = {
        "steps": [
            {"event": "view"},
            {"event": "view", "where": [{"property": "page", "op": "eq", "value": "/pricing"}]},
        ],
        "order": "any",
    }
    people = {
        "a": [("view", t("10:00"), {"page": "/pricing"}), ("view", t("10:05"), {"page": "/"})]
    }
    result = run(spec, people)
    assert result.counts() == (1, 1)
    assert result.step(2).avg_seconds_from_previous == 300.0


def test_s16_persons_counted_once_and_counts_never_grow(run: RunFunnel) -> None:
    people = {
        f"p{i}": [(name, f"{DAY} 10:{j:02d}") for j, name in enumerate(VBP[: 1 + i % 3])]
        for i in range(10)
    }
    result = run(VBP, people)
    assert result.counts() == (10, 6, 3)


def test_s17_conversion_and_drop_off(run: RunFunnel) -> None:
    people = {
        "a": [("view", t("10:00")), ("cart", t("10:01")), ("buy", t("10:02"))],
        "b": [("view", t("10:00")), ("cart", t("10:01"))],
        "c": [("view", t("10:00")), ("cart", t("10:01"))],
        "d": [("view", t("10:00"))],
    }
    steps = run(VBP, people).to_dict()["steps"]
    assert [(s["conversion_from_previous"], s["conversion_from_start"]) for s in steps] == [
        (1.0, 1.0),
        (0.75, 0.75),
        (1 / 3, 0.25),
    ]
    assert [s["dropped_from_previous"] for s in steps] == [0, 1, 2]


def test_s17_ratios_over_zero_are_null(run: RunFunnel) -> None:
    result = run(VBP, {"a": [("view", t("10:00"))]})
    assert result.step(2).count == 0
    assert result.step(3).conversion_from_previous is None
    assert result.step(3).conversion_from_start == 0.0
    empty = run(VBP, {"a": [("other", t("10:00"))]})
    assert empty.step(1).conversion_from_previous is None
    assert empty.step(1).conversion_from_start is None


def test_s18_average_and_median_from_best_attempts(run: RunFunnel) -> None:
    people = {
        "a": [("view", t("10:00")), ("buy", t("10:00:10"))],
        "b": [("view", t("10:00")), ("buy", t("10:00:20"))],
        "c": [("view", t("10:00")), ("buy", t("10:01:00"))],
        "d": [("view", t("10:00")), ("buy", t("10:10:00"))],
        "e": [("view", t("10:00"))],
    }
    result = run(["view", "buy"], people)
    assert result.step(1).avg_seconds_from_previous is None
    assert result.step(1).median_seconds_from_previous is None
    assert result.step(2).avg_seconds_from_previous == (10 + 20 + 60 + 600) / 4
    assert result.step(2).median_seconds_from_previous == 40.0  # mean of 20 and 60
    nobody = run(VBP, people)
    assert nobody.step(3).avg_seconds_from_previous is None


def test_s19_people_reached_and_dropped(run: RunFunnel) -> None:
    people = {
        "zed": [("view", t("10:00")), ("cart", t("10:01"))],
        "amy": [("view", t("10:00")), ("cart", t("10:01")), ("buy", t("10:02"))],
        "bob": [("view", t("10:00"))],
    }
    result = run(VBP, people)
    assert result.people(1) == ["amy", "bob", "zed"]
    assert result.people(2) == ["amy", "zed"]
    assert result.people(2, "dropped") == ["bob"]
    assert result.people(3, "dropped") == ["zed"]


def test_f1_equality_numbers_text_booleans() -> None:
    assert Filter("x", "eq", 5).matches(5.0)
    assert Filter("x", "eq", 5).matches("5")
    assert Filter("x", "eq", "5").matches(5)
    assert not Filter("x", "eq", "Ads").matches("ads")
    assert Filter("x", "eq", True).matches("TRUE")
    assert Filter("x", "eq", "false").matches(False)
    assert not Filter("x", "eq", 1).matches(True)
    assert Filter("x", "in", ("a", 2)).matches(2.0)
    assert Filter("x", "not_in", ("a", 2)).matches("b")
    assert not Filter("x", "neq", 3).matches(3.0)


def test_f2_contains_is_case_insensitive_on_text_form() -> None:
    assert Filter("url", "contains", "PRICING").matches("/en/pricing?x=1")
    assert Filter("flag", "contains", "tru").matches(True)
    assert not Filter("flag", "contains", "1").matches(True)
    assert Filter("n", "contains", "2.5").matches(12.5)
    assert Filter("n", "contains", "5.0").matches(5.0) and not Filter("n", "contains", ".").matches(
        5
    )
    assert Filter("url", "not_contains", "cart").matches("/pricing")
    assert not Filter("url", "not_contains", "Cart").matches("/cart")


def test_f1_large_integers_compare_exactly() -> None:
    assert not Filter("id", "eq", 9007199254740993).matches(9007199254740992)
    assert Filter("id", "eq", 9007199254740993).matches("9007199254740993")
    assert Filter("id", "gt", 9007199254740992).matches(9007199254740993)
    assert Filter("id", "neq", 9007199254740993).matches(9007199254740992)


def test_f1_only_plain_decimal_text_reads_as_a_number() -> None:
    assert not Filter("x", "eq", 1000).matches("1_000")
    assert not Filter("x", "eq", 12).matches("١٢")
    assert not Filter("x", "gt", 5).matches("inf")
    assert not Filter("x", "gt", 5).matches(float("inf"))
    assert not Filter("x", "lt", 5).matches("nan")
    assert Filter("x", "eq", 1000).matches(" 1e3 ")


def test_f3_ordering_ops() -> None:
    assert Filter("price", "gt", 10).matches(10.5)
    assert Filter("price", "gte", 10).matches("10")
    assert not Filter("price", "lt", 10).matches("ten")
    assert Filter("day", "lt", "2024-02-01").matches("2024-01-31")
    assert not Filter("day", "lt", "2024-02-01").matches("2024-02-01")
    assert Filter("day", "lte", "2024-02-01").matches("2024-02-01")
    assert not Filter("flag", "gt", 0).matches(True)


def test_f4_missing_properties() -> None:
    for op, value in [("eq", "a"), ("in", ("a",)), ("contains", "a"), ("gt", 1), ("lte", 1)]:
        assert not Filter("p", op, value).matches(None)
    for op, value in [("neq", "a"), ("not_in", ("a",)), ("not_contains", "a")]:
        assert Filter("p", op, value).matches(None)
    assert Filter("p", "is_set").matches(0) and not Filter("p", "is_set").matches(None)
    assert Filter("p", "is_not_set").matches(None) and not Filter("p", "is_not_set").matches("")


def test_f5_all_filters_must_hold(run: RunFunnel) -> None:
    spec = {
        "steps": [
            {
                "event": "view",
                "where": [
                    {"property": "channel", "op": "eq", "value": "ads"},
                    {"property": "device", "op": "in", "value": ["ios", "android"]},
                ],
            }
        ],
        "where": [{"property": "country", "op": "is_set"}],
    }
    people = {
        "both": [("view", t("10:00"), {"channel": "ads", "device": "ios", "country": "DE"})],
        "one": [("view", t("10:00"), {"channel": "ads", "device": "web", "country": "DE"})],
        "no_country": [("view", t("10:00"), {"channel": "ads", "device": "ios", "country": None})],
    }
    assert run(spec, people).people(1) == ["both"]
