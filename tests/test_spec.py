"""The funnel spec: YAML/JSON and Python objects agree; errors name the path and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funnelscope.errors import SpecError
from funnelscope.model.durations import format_duration, parse_duration
from funnelscope.model.filters import Filter
from funnelscope.model.spec import Funnel, Step, load_funnel, parse_funnel

CHECKOUT_YAML = """\
name: checkout
steps:
  - event: view_item
    label: Viewed an item
    where:
      - {property: channel, op: eq, value: paid_search}
  - event: add_to_cart
  - event: purchase
window: 7d
order: ordered
where: []
"""


def test_yaml_spec_equals_python_objects(tmp_path: Path) -> None:
    path = tmp_path / "checkout.yaml"
    path.write_text(CHECKOUT_YAML)
    expected = Funnel(
        name="checkout",
        steps=(
            Step("view_item", "Viewed an item", (Filter("channel", "eq", "paid_search"),)),
            Step("add_to_cart"),
            Step("purchase"),
        ),
        window_seconds=604800,
        order="ordered",
    )
    assert load_funnel(path) == expected
    as_json = tmp_path / "checkout.json"
    as_json.write_text(json.dumps(expected.to_dict()))
    assert load_funnel(as_json) == expected


def test_defaults_name_from_file_window_14d_order_ordered(tmp_path: Path) -> None:
    path = tmp_path / "signup.yml"
    path.write_text("steps: [visit, signup]\n")
    funnel = load_funnel(path)
    assert (funnel.name, funnel.window_seconds, funnel.order) == ("signup", 14 * 86400, "ordered")
    assert [s.display for s in funnel.steps] == ["visit", "signup"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text, "window") == seconds
    assert parse_duration({"value": 7, "unit": "day"}, "window") == 604800
    assert parse_duration(format_duration(seconds), "window") == seconds


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"steps": ["a"], "window": "7 dayz"},
            "window: '7 dayz' is not a duration; use e.g. 30s, 15m, 12h, 7d, 2w",
        ),
        ({"steps": []}, "steps: is required"),
        ({"steps": ["a"] * 51}, "steps: has 51 steps; a funnel has at most 50 steps"),
        (
            {"steps": ["a"], "order": "strikt"},
            "order: 'strikt' is not an order mode; did you mean strict?",
        ),
        ({"steps": ["a", {"label": "x"}]}, "steps[2].event: is required"),
        ({"steps": ["a"], "windw": "7d"}, "windw: unknown key; did you mean window?"),
        (
            {"steps": [{"event": "a", "where": [{"property": "p", "op": "equals", "value": 1}]}]},
            "steps[1].where[1].op: 'equals' is not a filter op",
        ),
        (
            {"steps": ["a"], "where": [{"property": "p", "op": "in", "value": []}]},
            "where[1].value: in needs a list of values",
        ),
        (
            {"steps": ["a"], "where": [{"property": "p", "op": "is_set", "value": 1}]},
            "where[1].value: is_set takes no value",
        ),
        (
            {"steps": ["a"], "where": [{"property": "p", "op": "gt", "value": True}]},
            "where[1].value: gt compares numbers or text, not booleans",
        ),
        ({"steps": ["a"], "where": [{"op": "eq", "value": 1}]}, "where[1].property: is required"),
    ],
)
def test_validation_errors_name_path_and_fix(spec: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_funnel(spec)
    assert str(info.value).startswith(message)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("steps:\n  - event: a\nwindow: 7 dayz\n")
    with pytest.raises(SpecError, match=r"bad\.yaml: window: '7 dayz' is not a duration"):
        load_funnel(path)
    path.write_text("steps: [a\n")
    with pytest.raises(SpecError, match=r"bad\.yaml:2: is not valid YAML"):
        load_funnel(path)
    with pytest.raises(SpecError, match=r"missing\.yaml: file not found; check the path"):
        load_funnel(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_funnel(tmp_path)  # a directory


def test_in_accepts_a_single_value_and_filters_collect_properties() -> None:
    funnel = parse_funnel(
        {
            "steps": [
                {"event": "a", "where": [{"property": "country", "op": "in", "value": "DE"}]}
            ],
            "where": [{"property": "channel", "op": "is_set"}],
        }
    )
    assert funnel.steps[0].where[0].value == ("DE",)
    assert funnel.properties == ("channel", "country")
    assert funnel.filters_for(0) == (Filter("channel", "is_set"), Filter("country", "in", ("DE",)))


def test_f6_yaml_values_are_read_as_written(tmp_path: Path) -> None:
    """YAML 1.1 would turn NO into false, 02134 into 1116 and 12:30 into 750."""
    path = tmp_path / "values.yaml"
    path.write_text(
        "steps:\n  - event: a\n    where:\n"
        "      - {property: country, op: eq, value: NO}\n"
        "      - {property: zip, op: eq, value: 02134}\n"
        "      - {property: at, op: eq, value: 12:30}\n"
        "      - {property: day, op: gte, value: 2024-01-31}\n"
        "      - {property: paid, op: eq, value: true}\n"
        "      - {property: n, op: eq, value: 10}\n"
    )
    values = [f.value for f in load_funnel(path).steps[0].where]
    assert values == ["NO", "02134", "12:30", "2024-01-31", True, 10]
    assert isinstance(values[5], int) and not isinstance(values[5], bool)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "steps:\n  - event: 404\n",
            "steps[1].event: 404 is a number, not an event name; quote it",
        ),
        (
            "steps:\n  - event: a\n    where: [{property: p, op: eq, value: [5, 10]}]\n",
            "steps[1].where[1].value: eq takes one value, not a list; use op: in",
        ),
        ("steps:\n  - event: a\n   label: x\n", "bad.yaml:3: is not valid YAML"),
    ],
)
def test_common_mistakes_get_one_line_with_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_funnel(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_window_longer_than_1000_years_is_refused() -> None:
    from funnelscope.errors import SpecError
    from funnelscope.model.spec import parse_funnel

    assert parse_funnel({"steps": ["a"], "window": "365250d"}).window_seconds == 365_250 * 86400
    with pytest.raises(SpecError, match=r"window: '365251d' is longer than 1000 years; use at"):
        parse_funnel({"steps": ["a"], "window": "365251d"})
