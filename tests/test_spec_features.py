"""The "Funnel features" spec keys: each refused combination names the path, the problem and
the fix; a spec survives to_dict -> parse, JSON and YAML unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from funnelscope.errors import SpecError
from funnelscope.model.filters import Filter
from funnelscope.model.spec import (
    Breakdown,
    Exclusion,
    Funnel,
    Step,
    load_funnel,
    parse_funnel,
)

THREE = ["a", "b", "c"]
OPTIONAL_B = ["a", {"event": "b", "optional": True}, "c"]
DURATION_HINT = "use e.g. 30s, 15m, 12h, 7d, 2w or {value: 7, unit: day}"


def spec(**keys: Any) -> dict[str, Any]:
    return {"steps": THREE, **keys}


@pytest.mark.parametrize(
    ("raw", "path", "problem", "hint"),
    [
        # optional steps ([O1])
        (
            {"steps": [{"event": "a", "optional": True}, "b", "c"]},
            "steps[1].optional",
            "the first and the last step cannot be optional",
            "an attempt starts at step 1 and completes at the last step",
        ),
        (
            {"steps": ["a", "b", {"event": "c", "optional": True}]},
            "steps[3].optional",
            "the first and the last step cannot be optional",
            "an attempt starts at step 1 and completes at the last step",
        ),
        (
            {"steps": OPTIONAL_B, "order": "strict"},
            "steps[2].optional",
            "optional steps need order: ordered (this funnel is strict)",
            "under any every step counts wherever it happens; under strict a skipped step would "
            "break the sequence",
        ),
        (
            {"steps": OPTIONAL_B, "order": "any"},
            "steps[2].optional",
            "optional steps need order: ordered (this funnel is any)",
            "under any every step counts wherever it happens; under strict a skipped step would "
            "break the sequence",
        ),
        (
            {"steps": ["a", {"event": "b", "optional": "yes"}, "c"]},
            "steps[2].optional",
            "'yes' is not true or false",
            "use true",
        ),
        (
            {"steps": ["a", {"event": "b", "optinal": True}, "c"]},
            "steps[2].optinal",
            "unknown key",
            "did you mean optional?",
        ),
        # per-step time limits ([W1])
        (
            {"steps": [{"event": "a", "within": "1h"}, "b"]},
            "steps[1].within",
            "step 1 has no previous step",
            "put within on a later step",
        ),
        (
            {"steps": ["a", {"event": "b", "within": "1h"}], "order": "any"},
            "steps[2].within",
            "within needs order: ordered or strict",
            "under any there is no previous step; use the funnel's window",
        ),
        (
            {"steps": ["a", {"event": "b", "within": "0m"}]},
            "steps[2].within",
            "'0m' must be a positive whole number of seconds",
            DURATION_HINT,
        ),
        (
            {"steps": ["a", {"event": "b", "within": "soon"}]},
            "steps[2].within",
            "'soon' is not a duration",
            DURATION_HINT,
        ),
        # exclusions ([X1])
        (
            spec(exclusions=[{"event": "refund", "between": [3, 2]}]),
            "exclusions[1].between",
            "[3, 2] is not a pair of steps i < j",
            "use two step numbers from 1 to 3, the first smaller, e.g. [1, 3]",
        ),
        (
            spec(exclusions=[{"event": "refund", "between": [2, 2]}]),
            "exclusions[1].between",
            "[2, 2] is not a pair of steps i < j",
            "use two step numbers from 1 to 3, the first smaller, e.g. [1, 3]",
        ),
        (
            spec(
                exclusions=[
                    {"event": "refund", "between": [1, 2]},
                    {"event": "refund", "between": [0, 3]},
                ]
            ),
            "exclusions[2].between",
            "[0, 3] is not a pair of steps i < j",
            "use two step numbers from 1 to 3, the first smaller, e.g. [1, 3]",
        ),
        (
            spec(exclusions=[{"event": "refund", "between": [1, 4]}]),
            "exclusions[1].between",
            "[1, 4] is not a pair of steps i < j",
            "use two step numbers from 1 to 3, the first smaller, e.g. [1, 3]",
        ),
        (
            spec(exclusions=[{"event": "refund", "between": [1]}]),
            "exclusions[1].between",
            "[1] is not a pair of step numbers",
            "write between: [1, 3] (1-based steps, first < second)",
        ),
        (
            spec(exclusions=[{"event": "refund", "between": [True, 2]}]),
            "exclusions[1].between",
            "[True, 2] is not a pair of step numbers",
            "write between: [1, 3] (1-based steps, first < second)",
        ),
        (
            spec(exclusions=[{"event": "refund"}]),
            "exclusions[1].between",
            "is required",
            "write between: [1, 3] (1-based steps, first < second)",
        ),
        (
            spec(exclusions=[{"between": [1, 2]}]),
            "exclusions[1].event",
            "is required",
            "name the excluded event, e.g. refund",
        ),
        (
            spec(exclusions=[{"event": "refund", "betwen": [1, 2]}]),
            "exclusions[1].betwen",
            "unknown key",
            "did you mean between?",
        ),
        (
            spec(exclusions={"event": "refund", "between": [1, 2]}),
            "exclusions",
            "must be a list",
            "write - {event: refund, between: [1, 2]}",
        ),
        (
            spec(exclusions=["refund"]),
            "exclusions[1]",
            "'refund' is not an exclusion",
            "write {event: refund, between: [1, 3]}",
        ),
        (
            spec(exclusions=[{"event": "refund", "between": [1, 2]}], order="any"),
            "exclusions[1]",
            "exclusions need order: ordered or strict",
            "under any the steps have no order to be between",
        ),
        (
            spec(exclusion=[{"event": "refund", "between": [1, 2]}]),
            "exclusion",
            "unknown key",
            "did you mean exclusions?",
        ),
        # hold_constant ([H1])
        (
            spec(hold_constant=["plan", "country", "device", "os"]),
            "hold_constant",
            "names 4 properties",
            "use at most 3",
        ),
        (
            spec(hold_constant=["plan", "plan"]),
            "hold_constant",
            "names 'plan' twice",
            "name each property once",
        ),
        (
            spec(hold_constant=[1]),
            "hold_constant[1]",
            "1 is not a property name",
            "write e.g. channel",
        ),
        (
            spec(hold_constant=[]),
            "hold_constant",
            "[] is not a property name",
            "write e.g. channel",
        ),
        # count and session_gap ([C1]-[C3])
        (
            spec(count="sesions"),
            "count",
            "'sesions' is not a counting unit",
            "did you mean sessions?",
        ),
        (
            spec(count="users"),
            "count",
            "'users' is not a counting unit",
            "use persons, sessions or totals",
        ),
        (
            spec(session_gap="30m"),
            "session_gap",
            "only applies with count: sessions",
            "add count: sessions",
        ),
        (
            spec(count="totals", session_gap="30m"),
            "session_gap",
            "only applies with count: sessions",
            "add count: sessions",
        ),
        (
            spec(count="sessions", session_gap="-5m"),
            "session_gap",
            "'-5m' is not a duration",
            DURATION_HINT,
        ),
        # breakdown ([B1]-[B7])
        (
            spec(breakdown={"property": "channel", "attribution": "step:9"}),
            "breakdown.attribution",
            "step:9 is not a step of this funnel",
            "use step:1 to step:3",
        ),
        (
            spec(breakdown={"property": "channel", "attribution": "step:0"}),
            "breakdown.attribution",
            "step:0 is not a step of this funnel",
            "use step:1 to step:3",
        ),
        (
            spec(breakdown={"property": "channel", "attribution": "frist_touch"}),
            "breakdown.attribution",
            "'frist_touch' is not an attribution",
            "did you mean first_touch?",
        ),
        (
            spec(breakdown={"property": "channel", "attribution": "middle"}),
            "breakdown.attribution",
            "'middle' is not an attribution",
            "use first_touch, last_touch, step:N or all_events",
        ),
        (
            spec(breakdown={"property": "plan", "attribution": "last_touch", "scope": "person"}),
            "breakdown.attribution",
            "does not apply to person properties (a person has one value)",
            "remove attribution, or use scope: event",
        ),
        (
            spec(breakdown={"property": "channel", "limit": 0}),
            "breakdown.limit",
            "0 is not a positive whole number",
            "use e.g. 10",
        ),
        (
            spec(breakdown={"property": "channel", "limit": True}),
            "breakdown.limit",
            "True is not a positive whole number",
            "use e.g. 10",
        ),
        (
            spec(breakdown={"property": "channel", "limit": 2.5}),
            "breakdown.limit",
            "2.5 is not a positive whole number",
            "use e.g. 10",
        ),
        (
            spec(breakdown={"property": "plan", "scope": "people"}),
            "breakdown.scope",
            "'people' is not a scope",
            "use event or person",
        ),
        (
            spec(breakdown={"property": "a", "properties": ["b"]}),
            "breakdown.properties",
            "given with property",
            "use one of the two",
        ),
        (
            spec(breakdown={"property": ["a", "b", "c", "d"]}),
            "breakdown.property",
            "names 4 properties",
            "use at most 3",
        ),
        (
            spec(breakdown={"property": ["a", "a"]}),
            "breakdown.property",
            "names 'a' twice",
            "name each property once",
        ),
        (
            spec(breakdown={"limit": 3}),
            "breakdown.property",
            "is required",
            "name the property, e.g. channel",
        ),
        (
            spec(breakdown={"property": "channel", "limt": 3}),
            "breakdown.limt",
            "unknown key",
            "did you mean limit?",
        ),
        (
            spec(breakdown=5),
            "breakdown",
            "5 is not a breakdown",
            "write breakdown: {property: channel}",
        ),
    ],
)
def test_depth_spec_errors_name_path_problem_and_fix(
    raw: dict[str, Any], path: str, problem: str, hint: str
) -> None:
    with pytest.raises(SpecError) as info:
        parse_funnel(raw)
    assert (info.value.path, info.value.problem, info.value.hint) == (path, problem, hint)
    assert str(info.value) == f"{path}: {problem}; {hint}"


def test_depth_spec_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("steps: [a, b, c]\nexclusions:\n  - {event: refund, between: [3, 2]}\n")
    with pytest.raises(SpecError) as info:
        load_funnel(path)
    assert info.value.path == f"{path}: exclusions[1].between"
    assert info.value.problem == "[3, 2] is not a pair of steps i < j"


STEPS = (Step("a"), Step("b"), Step("c"))


@pytest.mark.parametrize(
    ("keys", "path", "problem", "hint"),
    [
        (
            {"hold_constant": ("p", "q", "r", "s")},
            "hold_constant",
            "holds 4 properties",
            "hold at most 3 properties constant",
        ),
        (
            {"count": "sesions"},
            "count",
            "'sesions' is not a counting unit",
            "did you mean sessions?",
        ),
        (
            {"count": "sessions", "session_gap_seconds": 0},
            "session_gap",
            "must be positive",
            "use e.g. 30m",
        ),
        (
            {"session_gap_seconds": 1800},
            "session_gap",
            "only applies with count: sessions",
            "add count: sessions",
        ),
        (
            {"exclusions": (Exclusion("refund", 2, 1),)},
            "exclusions[1].between",
            "[2, 1] is not a pair of steps i < j",
            "use two step numbers from 1 to 3, the first smaller, e.g. [1, 3]",
        ),
        (
            {"breakdown": Breakdown(("channel",), limit=0)},
            "breakdown.limit",
            "must be at least 1",
            "use e.g. limit: 10",
        ),
        (
            {"breakdown": Breakdown(())},
            "breakdown.property",
            "names 0 properties",
            "break down by 1 to 3 properties",
        ),
        (
            {"breakdown": Breakdown(("channel",), attribution="step", step=4)},
            "breakdown.attribution",
            "step:4 is not a step of this funnel",
            "use step:1 to step:3",
        ),
        (
            {"breakdown": Breakdown(("channel",), attribution="middle")},
            "breakdown.attribution",
            "'middle' is not an attribution",
            "use first_touch, last_touch, step:N or all_events",
        ),
        (
            {"breakdown": Breakdown(("plan",), scope="people")},
            "breakdown.scope",
            "'people' is not a scope",
            "use event or person",
        ),
        (
            {"steps": (Step("a"), Step("b", within_seconds=0))},
            "steps[2].within",
            "must be positive",
            "use e.g. 1h",
        ),
    ],
)
def test_funnel_objects_are_checked_like_specs(
    keys: dict[str, Any], path: str, problem: str, hint: str
) -> None:
    with pytest.raises(SpecError) as info:
        Funnel(**{"steps": STEPS, **keys})
    assert (info.value.path, info.value.problem, info.value.hint) == (path, problem, hint)


FULL = {
    "name": "deep",
    "steps": [
        {"event": "view"},
        {"event": "promo", "optional": True, "within": "30m"},
        {"event": "cart", "label": "Added", "within": "1h"},
        {"event": "buy"},
    ],
    "window": "2d",
    "order": "ordered",
    "where": [{"property": "country", "op": "eq", "value": "DE"}],
    "exclusions": [
        {
            "event": "refund",
            "between": [1, 4],
            "where": [{"property": "amount", "op": "gt", "value": 0}],
        },
        {"event": "logout", "between": [2, 3]},
    ],
    "hold_constant": ["plan", "device"],
    "count": "sessions",
    "session_gap": "30m",
    "breakdown": {
        "property": ["channel", "campaign"],
        "limit": 5,
        "scope": "event",
        "attribution": "step:3",
    },
}


def test_depth_spec_to_dict_is_the_spec_and_parses_back() -> None:
    funnel = parse_funnel(FULL)
    assert funnel.to_dict() == FULL
    assert parse_funnel(funnel.to_dict()) == funnel
    assert funnel.steps[1] == Step("promo", None, (), True, 1800)
    assert funnel.exclusions == (
        Exclusion("refund", 1, 4, (Filter("amount", "gt", 0),)),
        Exclusion("logout", 2, 3),
    )
    assert funnel.hold_constant == ("plan", "device")
    assert (funnel.count, funnel.session_gap_seconds) == ("sessions", 1800)
    assert funnel.breakdown == Breakdown(("channel", "campaign"), "step", 3, 5, "event")
    assert funnel.has_depth
    assert funnel.scan_event_names == ("view", "promo", "cart", "buy", "refund", "logout")
    assert funnel.properties == ("country", "amount", "plan", "device", "channel", "campaign")


def test_depth_spec_round_trips_through_json_and_yaml(tmp_path: Path) -> None:
    funnel = parse_funnel(FULL)
    as_json = tmp_path / "deep.json"
    as_json.write_text(json.dumps(funnel.to_dict()))
    assert load_funnel(as_json) == funnel
    as_yaml = tmp_path / "deep.yaml"
    as_yaml.write_text(
        "name: deep\n"
        "steps:\n"
        "  - view\n"
        "  - {event: promo, optional: true, within: 30m}\n"
        "  - {event: cart, label: Added, within: 1h}\n"
        "  - buy\n"
        "window: 2d\n"
        "where: [{property: country, op: eq, value: DE}]\n"
        "exclusions:\n"
        "  - {event: refund, between: [1, 4], where: [{property: amount, op: gt, value: 0}]}\n"
        "  - {event: logout, between: [2, 3]}\n"
        "hold_constant: [plan, device]\n"
        "count: sessions\n"
        "session_gap: 30m\n"
        "breakdown: {properties: [channel, campaign], attribution: 'step:3', limit: 5}\n"
    )
    assert load_funnel(as_yaml) == funnel


@pytest.mark.parametrize(
    ("raw", "as_dict"),
    [
        (
            "channel",
            {"property": "channel", "limit": 10, "scope": "event", "attribution": "first_touch"},
        ),
        (
            ["channel", "device"],
            {
                "property": ["channel", "device"],
                "limit": 10,
                "scope": "event",
                "attribution": "first_touch",
            },
        ),
        (
            {"property": "channel", "attribution": " all_events "},
            {"property": "channel", "limit": 10, "scope": "event", "attribution": "all_events"},
        ),
        (
            {"property": "channel", "attribution": "step: 2"},
            {"property": "channel", "limit": 10, "scope": "event", "attribution": "step:2"},
        ),
        (
            {"property": "plan", "scope": "person", "limit": 3},
            {"property": "plan", "limit": 3, "scope": "person"},
        ),
    ],
)
def test_breakdown_forms_and_defaults(raw: Any, as_dict: dict[str, Any]) -> None:
    funnel = parse_funnel(spec(breakdown=raw))
    assert funnel.breakdown is not None
    assert funnel.breakdown.to_dict() == as_dict
    assert parse_funnel(funnel.to_dict()) == funnel


def test_defaults_leave_the_depth_keys_out() -> None:
    funnel = parse_funnel({"steps": THREE, "count": "persons", "exclusions": []})
    assert funnel == parse_funnel({"steps": THREE})
    assert not funnel.has_depth
    assert funnel.to_dict() == {
        "name": "funnel",
        "steps": [{"event": e} for e in THREE],
        "window": "14d",
        "order": "ordered",
    }
    totals = parse_funnel(spec(count="totals"))
    assert totals.to_dict()["count"] == "totals" and totals.has_depth


def test_reads_all_events_when_any_event_matters() -> None:
    assert not parse_funnel(spec()).reads_all_events
    assert parse_funnel(spec(order="strict")).reads_all_events
    assert parse_funnel(spec(count="sessions", session_gap="30m")).reads_all_events
    assert not parse_funnel(spec(count="sessions")).reads_all_events
    assert parse_funnel(spec(count="sessions")).sessions_by_column
    assert parse_funnel(spec(breakdown={"property": "plan", "scope": "person"})).reads_all_events
    assert not parse_funnel(spec(breakdown="channel")).reads_all_events
