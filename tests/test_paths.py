"""Paths after a drop and between two steps (`funnelscope paths`): exact counts on hand-made
journeys, the command's JSON and CSV, and a brute-force oracle on random journeys."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelscope.analyses.funnel import run_funnel
from funnelscope.analyses.paths import PathQuery, PathsResult, funnel_paths
from funnelscope.cli.main import main
from funnelscope.engines import ENGINE_NAMES
from funnelscope.errors import SpecError
from funnelscope.model.spec import parse_funnel
from funnelscope.store.sources import TableSource

from journeys import Journey, journeys, to_us

STEPS = ["view", "cart", "buy"]
PEOPLE: dict[str, Journey] = {
    # drops at cart; exactly three events follow
    "a": [
        ("view", "2024-01-01 10:00"),
        ("cart", "2024-01-01 10:01"),
        ("faq", "2024-01-01 10:02"),
        ("faq", "2024-01-01 10:03"),
        ("exit", "2024-01-01 10:04"),
    ],
    # converts, with help between cart and buy
    "b": [
        ("view", "2024-01-01 10:00"),
        ("cart", "2024-01-01 10:01"),
        ("help", "2024-01-01 10:05"),
        ("buy", "2024-01-01 10:06"),
    ],
    # drops at cart and does nothing more
    "c": [("view", "2024-01-01 10:00"), ("cart", "2024-01-01 10:01")],
    # drops at cart: zoom at cart's very time is not after it; exit at entry + 1h is inside the
    # window, help a microsecond later is not
    "d": [
        ("view", "2024-01-01 10:00"),
        ("cart", "2024-01-01 10:01"),
        ("zoom", "2024-01-01 10:01"),
        ("faq", "2024-01-01 10:30"),
        ("exit", "2024-01-01 11:00"),
        ("help", "2024-01-01 11:00:00.000001"),
    ],
    # drops at cart: search and faq at one time go by name (faq first), not by event id
    "e": [
        ("view", "2024-01-01 10:00"),
        ("cart", "2024-01-01 10:01"),
        ("search", "2024-01-01 10:10"),
        ("faq", "2024-01-01 10:10"),
    ],
    # converts with buy at cart's time: nothing strictly between (faq at that time neither)
    "f": [
        ("view", "2024-01-01 10:00"),
        ("cart", "2024-01-01 10:01"),
        ("faq", "2024-01-01 10:01"),
        ("buy", "2024-01-01 10:01"),
    ],
    # drops at view
    "g": [("view", "2024-01-01 10:00"), ("scroll", "2024-01-01 10:05")],
}


def compute(query: PathQuery, engine: str, spec: dict[str, Any] | None = None) -> PathsResult:
    funnel = parse_funnel(spec or {"steps": STEPS, "window": "1h"})
    with TableSource(journeys(PEOPLE)) as source:
        result = run_funnel(funnel, source, engine, person_ids=False)
        return funnel_paths(result, source, query)


def rows(items: Any) -> list[tuple[str, int, int]]:
    return [(row.text(), row.attempts, row.persons) for row in items]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n6_after_drop_next_events_and_sequences(engine: str) -> None:
    paths = compute(PathQuery("after_drop", 2), engine)
    assert (paths.attempts, paths.persons) == (4, 4)  # a, c, d, e
    assert rows(paths.next_events) == [("faq", 3, 3), ("(end)", 1, 1)]
    assert [row.share for row in paths.next_events] == [0.75, 0.25]
    assert rows(paths.sequences) == [  # ties: by the events' names in order, shorter first
        ("(end)", 1, 1),
        ("faq → exit → (end)", 1, 1),
        ("faq → faq → exit → (end)", 1, 1),
        ("faq → search → (end)", 1, 1),
    ]
    assert paths.next_other is None and paths.sequences_other is None


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n5_collapse_repeats_merges_consecutive_events_of_one_name(engine: str) -> None:
    paths = compute(PathQuery("after_drop", 2, collapse_repeats=True), engine)
    assert rows(paths.sequences) == [
        ("faq → exit → (end)", 2, 2),
        ("(end)", 1, 1),
        ("faq → search → (end)", 1, 1),
    ]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n6_a_sequence_shows_end_only_when_nothing_followed(engine: str) -> None:
    paths = compute(PathQuery("after_drop", 2, steps=1), engine)
    assert rows(paths.sequences) == [("faq", 3, 3), ("(end)", 1, 1)]
    assert [row.ended for row in paths.sequences] == [False, True]
    longer = compute(PathQuery("after_drop", 2, steps=2), engine)
    assert rows(longer.sequences)[2] == ("faq → faq", 1, 1)  # a: exit follows, so no (end)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n2_within_bounds_the_span_from_the_step_instead_of_the_window(engine: str) -> None:
    paths = compute(PathQuery("after_drop", 2, within_seconds=30 * 60), engine)
    assert rows(paths.sequences) == [  # d: faq at 10:30 is at cart + 29 min; exit is not
        ("(end)", 1, 1),
        ("faq → (end)", 1, 1),
        ("faq → faq → exit → (end)", 1, 1),
        ("faq → search → (end)", 1, 1),
    ]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n1_after_drop_at_the_first_step(engine: str) -> None:
    paths = compute(PathQuery("after_drop", 1), engine)
    assert rows(paths.sequences) == [("scroll → (end)", 1, 1)]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n2_between_reads_strictly_between_the_two_steps(engine: str) -> None:
    paths = compute(PathQuery("between", 2), engine)
    assert (paths.attempts, paths.persons) == (2, 2)  # b, f
    assert rows(paths.next_events) == [("(end)", 1, 1), ("help", 1, 1)]
    assert rows(paths.sequences) == [("(end)", 1, 1), ("help → (end)", 1, 1)]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n7_each_attempt_counts_once_and_the_fold_counts_persons_once(engine: str) -> None:
    people: dict[str, Journey] = {
        # two attempts under count: totals (the first ends with its 10-minute window)
        "p": [
            ("view", "2024-01-01 10:00"),
            ("cart", "2024-01-01 10:01"),
            ("y", "2024-01-01 10:02"),
            ("view", "2024-01-01 10:20"),
            ("cart", "2024-01-01 10:21"),
            ("z", "2024-01-01 10:22"),
        ],
        "q": [
            ("view", "2024-01-01 11:00"),
            ("cart", "2024-01-01 11:01"),
            ("x", "2024-01-01 11:02"),
        ],
        "r": [
            ("view", "2024-01-01 12:00"),
            ("cart", "2024-01-01 12:01"),
            ("x", "2024-01-01 12:02"),
        ],
    }
    funnel = parse_funnel({"steps": STEPS, "window": "10m", "count": "totals"})
    with TableSource(journeys(people)) as source:
        result = run_funnel(funnel, source, engine, person_ids=False)
        paths = funnel_paths(result, source, PathQuery("after_drop", 2, steps=1, top=1))
    assert (paths.attempts, paths.persons) == (4, 3)
    assert rows(paths.next_events) == [("x", 2, 2)]
    other = paths.next_other
    assert other is not None
    assert (other.rows, other.attempts, other.persons, other.share) == (2, 2, 1, 0.5)


def test_n1_queries_that_cannot_be_answered_say_why() -> None:
    with pytest.raises(SpecError, match="step 3 has no step after it"):
        PathQuery("after_drop", 3).check(3)
    with pytest.raises(SpecError, match="step 2 is optional"):
        PathQuery("between", 1).check(3, [False, True, False])
    with pytest.raises(SpecError, match="--within"):
        PathQuery("between", 1, within_seconds=60).check(3)
    with pytest.raises(SpecError, match="--steps"):
        PathQuery("after_drop", 1, steps=21).check(3)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n3_every_event_counts_also_ones_the_steps_filter_out(engine: str) -> None:
    people: dict[str, Journey] = {
        "x": [
            ("view", "2024-01-01 10:00"),
            ("buy", "2024-01-01 10:01", {"price": 5}),
            ("view", "2024-01-01 10:02"),
        ],
    }
    buy = {"event": "buy", "where": [{"property": "price", "op": "gt", "value": 10}]}
    spec = {"steps": ["view", buy], "window": "1h"}
    with TableSource(journeys(people)) as source:
        result = run_funnel(parse_funnel(spec), source, engine, person_ids=False)
        paths = funnel_paths(result, source, PathQuery("after_drop", 1))
    # the best attempt is the first view's; the second view is an event of its span too
    assert rows(paths.sequences) == [("buy → view → (end)", 1, 1)]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n4_events_at_one_time_go_by_name_whatever_their_ids(engine: str) -> None:
    at = "2024-01-01 10:05"
    people: dict[str, Journey] = {
        "u": [("view", "2024-01-01 10:00"), ("zeta", at, {}, "u1"), ("alpha", at, {}, "u2")],
        "v": [("view", "2024-01-01 10:00"), ("alpha", at, {}, "v2"), ("zeta", at, {}, "v1")],
    }
    with TableSource(journeys(people)) as source:
        result = run_funnel(parse_funnel({"steps": STEPS}), source, engine, person_ids=False)
        paths = funnel_paths(result, source, PathQuery("after_drop", 1))
    assert rows(paths.sequences) == [("alpha → zeta → (end)", 2, 2)]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n8_ties_rank_by_the_events_names_a_prefix_first(engine: str) -> None:
    paths = compute(PathQuery("after_drop", 2, steps=2), engine)
    assert rows(paths.sequences) == [
        ("(end)", 1, 1),
        ("faq → exit → (end)", 1, 1),
        ("faq → faq", 1, 1),
        ("faq → search → (end)", 1, 1),
    ]


# ------------------------------------------------------------------ the command

CSV_HEAD = "user,action,ts\n"


def _csv_of(people: dict[str, Journey]) -> str:
    lines = [CSV_HEAD.strip()]
    for person, events in people.items():
        for event, time in events:
            stamp = time.replace(" ", "T") + "Z"
            lines.append(f"{person},{event},{stamp}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "150")
    (tmp_path / "events.csv").write_text(_csv_of(PEOPLE))
    (tmp_path / "spec.yaml").write_text("name: shop\nsteps: [view, cart, buy]\nwindow: 1h\n")
    flags = ["--person-col", "user", "--event-col", "action", "--time-col", "ts"]
    assert main(["ingest", "events.csv", *flags, "--no-progress"]) == 0
    return tmp_path


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_command_json_from_the_store(
    store: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    argv = ["paths", "spec.yaml", "--after-drop", "2", "--collapse-repeats", "--top", "2"]
    assert main([*argv, "--engine", engine, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "funnel": "shop",
        "counting": "persons",
        "paths": "after_drop",
        "step": 2,
        "step_label": "cart",
        "next_step_label": "buy",
        "window_seconds": 3600,
        "within_seconds": None,
        "sequence_steps": 3,
        "collapse_repeats": True,
        "top": 2,
        "attempts": 4,
        "persons": 4,
        "next_events": [
            {"event": "faq", "end": False, "attempts": 3, "persons": 3, "share": 0.75},
            {"event": "(end)", "end": True, "attempts": 1, "persons": 1, "share": 0.25},
        ],
        "next_events_other": None,
        "sequences": [
            {
                "events": ["faq", "exit", "(end)"],
                "ended": True,
                "attempts": 2,
                "persons": 2,
                "share": 0.5,
            },
            {"events": ["(end)"], "ended": True, "attempts": 1, "persons": 1, "share": 0.25},
        ],
        "sequences_other": {"rows": 1, "attempts": 1, "persons": 1, "share": 0.25},
    }


def test_command_csv_and_table(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["paths", "spec.yaml", "--between", "2", "--format", "csv"]) == 0
    assert capsys.readouterr().out == (
        "table,rank,path,ended,attempts,persons,share\n"
        "next_event,1,(end),True,1,1,0.5\n"
        "next_event,2,help,False,1,1,0.5\n"
        "sequence,1,(end),True,1,1,0.5\n"
        "sequence,2,help > (end),True,1,1,0.5\n"
    )
    assert main(["paths", "spec.yaml", "--after-drop", "2"]) == 0
    table = capsys.readouterr().out
    assert "after dropping at step 2 (cart; never buy)" in table
    assert "faq → faq → exit → (end)" in table


def test_command_needs_exactly_one_kind(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["paths", "spec.yaml"]) == 2
    assert main(["paths", "spec.yaml", "--after-drop", "1", "--between", "1"]) == 2
    assert main(["paths", "spec.yaml", "--between", "1", "--within", "1h"]) == 2
    assert "only bounds the span after a drop" in capsys.readouterr().err


# ------------------------------------------------------------------ random journeys

NAMES = ["a", "b", "c", "d"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Journey], dict[str, Any], PathQuery, bool]:
    people: dict[str, Journey] = {}
    for person in range(draw(st.integers(1, 6))):
        events = draw(st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 12)), max_size=9))
        people[f"p{person}"] = [(e, f"2024-01-01 00:00:{s:02d}") for e, s in events]
    n_steps = draw(st.integers(2, 3))
    spec = {
        "steps": draw(st.lists(st.sampled_from(NAMES), min_size=n_steps, max_size=n_steps)),
        "window": f"{draw(st.integers(1, 10))}s",
        "order": draw(st.sampled_from(["ordered", "strict", "any"])),
        "count": draw(st.sampled_from(["persons", "persons", "totals"])),
    }
    if spec["order"] == "any":
        spec["count"] = "persons"
    mode = draw(st.sampled_from(["after_drop", "between"]))
    within = draw(st.one_of(st.none(), st.integers(1, 6))) if mode == "after_drop" else None
    query = PathQuery(
        mode,
        draw(st.integers(1, n_steps - 1)),
        steps=draw(st.integers(1, 4)),
        top=draw(st.integers(1, 6)),
        collapse_repeats=draw(st.booleans()),
        within_seconds=within,
    )
    return people, spec, query, draw(st.booleans())


def oracle(people: dict[str, Journey], result: Any, query: PathQuery) -> dict[str, Any]:
    """The paths by brute force over each person's events, from the reference's attempts."""
    events = {
        person: sorted((to_us(time), event) for event, time in items)
        for person, items in people.items()
    }
    k = query.step - 1
    window = result.funnel.window_seconds * 1_000_000
    seqs: Counter[tuple[tuple[str, ...], bool]] = Counter()
    nexts: Counter[tuple[tuple[str, ...], bool]] = Counter()
    seq_people: defaultdict[tuple[tuple[str, ...], bool], set[str]] = defaultdict(set)
    next_people: defaultdict[tuple[tuple[str, ...], bool], set[str]] = defaultdict(set)
    attempts, persons = 0, set()
    for outcome in result.outcomes:
        times = outcome.times_us
        if query.mode == "after_drop":
            if outcome.reached != k + 1:
                continue
            lo = times[k]
            hi = (
                lo + query.within_seconds * 1_000_000 if query.within_seconds else times[0] + window
            )
            span = [e for t, e in events[outcome.person_id] if lo < t <= hi]
        else:
            if outcome.reached < k + 2:
                continue
            span = [e for t, e in events[outcome.person_id] if times[k] < t < times[k + 1]]
        if query.collapse_repeats:
            span = [name for name, _ in itertools.groupby(span)]
        attempts += 1
        persons.add(outcome.person_id)
        seq = (tuple(span[: query.steps]), len(span) <= query.steps)
        first = (tuple(span[:1]), not span)
        for counter, who, key in ((seqs, seq_people, seq), (nexts, next_people, first)):
            counter[key] += 1
            who[key].add(outcome.person_id)

    def table(counter: Counter[Any], who: dict[Any, set[str]]) -> tuple[list[Any], Any]:
        ranked = sorted(counter, key=lambda key: (-counter[key], key[0], key[1]))
        shown = [(list(key[0]), key[1], counter[key], len(who[key])) for key in ranked[: query.top]]
        rest = ranked[query.top :]
        if not rest:
            return shown, None
        folded = sum(counter[key] for key in rest)
        return shown, (len(rest), folded, len(set().union(*(who[key] for key in rest))))

    return {
        "attempts": attempts,
        "persons": len(persons),
        "next": table(nexts, next_people),
        "sequences": table(seqs, seq_people),
    }


def observed(paths: PathsResult) -> dict[str, Any]:
    def table(items: Any, other: Any) -> tuple[list[Any], Any]:
        shown = [(list(r.events), r.ended, r.attempts, r.persons) for r in items]
        return shown, None if other is None else (other.rows, other.attempts, other.persons)

    return {
        "attempts": paths.attempts,
        "persons": paths.persons,
        "next": table(paths.next_events, paths.next_other),
        "sequences": table(paths.sequences, paths.sequences_other),
    }


@settings(max_examples=2 * settings().max_examples, deadline=None)
@given(cases())
def test_n9_paths_equal_a_brute_force_oracle_on_both_engines(
    case: tuple[dict[str, Journey], dict[str, Any], PathQuery, bool],
) -> None:
    people, spec, query, integer_persons = case
    funnel = parse_funnel(spec)
    with TableSource(journeys(people), integer_persons=integer_persons) as source:
        reference = run_funnel(funnel, source, "reference")
        expected = oracle(people, reference, query)
        got = {}
        for engine in ENGINE_NAMES:
            result = run_funnel(funnel, source, engine, person_ids=False)
            got[engine] = funnel_paths(result, source, query).to_dict()
            assert observed(funnel_paths(result, source, query)) == expected, engine
    assert all(value == got["reference"] for value in got.values())


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_n1_after_drop_before_an_optional_step_takes_who_did_nothing_later(engine: str) -> None:
    people: dict[str, Journey] = {
        "stop": [("view", "2024-01-01 10:00"), ("x", "2024-01-01 10:01")],
        "coupon": [
            ("view", "2024-01-01 10:00"),
            ("coupon", "2024-01-01 10:01"),
            ("y", "2024-01-01 10:02"),
        ],
        "buyer": [("view", "2024-01-01 10:00"), ("buy", "2024-01-01 10:01")],
    }
    spec = {"steps": ["view", {"event": "coupon", "optional": True}, "buy"], "window": "1h"}
    with TableSource(journeys(people)) as source:
        result = run_funnel(parse_funnel(spec), source, engine, person_ids=False)
        paths = funnel_paths(result, source, PathQuery("after_drop", 1))
    # the funnel's drop-off at buy ([O3]) counts coupon too: it did the optional step and stopped
    assert [step.count for step in result.steps] == [3, 1, 1]
    assert (paths.attempts, paths.persons) == (1, 1)
    assert rows(paths.sequences) == [("x → (end)", 1, 1)]
