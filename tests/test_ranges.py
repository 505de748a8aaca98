"""Reference ranges: shipped ones labelled with their source, user files that override them."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelscope.analyses.marketing.ranges import ReferenceRange, load_ranges, percent_text
from funnelscope.errors import SpecError


def write(tmp_path: Path, text: str, name: str = "ranges.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_arrival_rate_range_is_the_handbooks() -> None:
    visits = load_ranges()["visits"]
    assert (visits.low, visits.high) == (0.70, 0.80)
    assert visits.heuristic is True
    assert "handbook" in visits.source and "20-30%" in visits.source
    assert visits.label == "70%-80% (heuristic)"


def test_the_other_defaults_are_wide_labelled_heuristics() -> None:
    ranges = load_ranges()
    assert set(ranges) == {"clicks", "visits", "inquiries", "orders"}
    expected = {"clicks": (0.01, 0.10), "inquiries": (0.01, 0.10), "orders": (0.10, 0.50)}
    for layer, (low, high) in expected.items():
        shipped = ranges[layer]
        assert (shipped.layer, shipped.low, shipped.high) == (layer, low, high)
        assert shipped.heuristic is True
        assert shipped.source.startswith("funnelscope heuristic")
        assert "your own" in shipped.source


def test_a_user_file_overrides_one_layer_with_a_percentage(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
version: 1
ranges:
  visits:
    low: "65%"
    high: 0.9
    source: Our account, 2024
""",
    )
    ranges = load_ranges([path])
    assert ranges["visits"] == ReferenceRange("visits", 0.65, 0.9, "Our account, 2024", False)
    assert ranges["clicks"] == load_ranges()["clicks"]


def test_a_user_range_without_a_source_is_labelled_with_its_file(tmp_path: Path) -> None:
    path = write(tmp_path, "ranges: {paid: {low: 40%, high: 60 %, heuristic: true}}")
    paid = load_ranges([path])["paid"]
    assert (paid.low, paid.high, paid.source, paid.heuristic) == (0.4, 0.6, str(path), True)


def test_later_files_win_and_defaults_can_be_left_out(tmp_path: Path) -> None:
    first = write(tmp_path, "ranges: {orders: {low: 0.2, high: 0.3}}", "a.yaml")
    second = write(tmp_path, "ranges: {orders: {low: 0.25, high: 0.35}}", "b.yaml")
    ranges = load_ranges([first, second], use_defaults=False)
    assert list(ranges) == ["orders"]
    assert (ranges["orders"].low, ranges["orders"].high) == (0.25, 0.35)
    assert ranges["orders"].source == str(second)


def test_count_ratios_may_pass_one_when_allowed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ranges: {visits: {low: 0.9, high: 1.4, allow_above_one: true, source: sessions}}",
    )
    visits = load_ranges([path])["visits"]
    assert (visits.low, visits.high) == (0.9, 1.4)
    assert visits.label == "90%-140%"


def test_percent_text_drops_needless_decimals() -> None:
    assert [percent_text(v) for v in (0.7, 0.015, 0.1, 1.0)] == ["70%", "1.5%", "10%", "100%"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ranges: {visits: {low: 0.9, high: 0.8}}",
            "ranges.yaml: ranges.visits: low (90%) is above high (80%); swap them",
        ),
        (
            "ranges: {visits: {low: 70, high: 80}}",
            "ranges.yaml: ranges.visits.low: 70 is above 1 (100%); write a share such as 0.7 or "
            "70%; for a ratio of counts that can pass 1, set allow_above_one: true",
        ),
        (
            "ranges: {visits: {low: -0.1, high: 0.8}}",
            "ranges.yaml: ranges.visits.low: -0.1 is negative; a rate is 0 or more",
        ),
        (
            "ranges: {visits: {low: 0.7}}",
            "ranges.yaml: ranges.visits.high: is required; write a share such as 0.7 or 70%",
        ),
        (
            "ranges: {visits: {low: seventy, high: 0.8}}",
            "ranges.yaml: ranges.visits.low: 'seventy' is not a number",
        ),
        (
            "ranges: {visits: {low: true, high: 0.8}}",
            "ranges.yaml: ranges.visits.low: must be a number, not bool True",
        ),
        (
            "ranges: {visits: {low: 0.7, high: 0.8, source: ''}}",
            "ranges.yaml: ranges.visits.source: is empty; expected some words; "
            "say where the range comes from",
        ),
        (
            "ranges: {visits: {low: 0.7, high: 0.8, heuristic: maybe}}",
            "ranges.yaml: ranges.visits.heuristic: must be true or false, not str 'maybe'",
        ),
        (
            "ranges: {visits: {low: 0.7, high: 0.8, hi: 0.9}}",
            "ranges.yaml: ranges.visits.hi: unknown key; "
            "use low, high, source, heuristic or allow_above_one",
        ),
        (
            "ranges: {visits: [0.7, 0.8]}",
            "ranges.yaml: ranges.visits: must be a mapping, not list [0.7, 0.8]",
        ),
        ("range: {}", "ranges.yaml: range: unknown key; use version or ranges"),
        ("version: 3\nranges: {}", "ranges.yaml: version: 3 is not supported"),
    ],
)
def test_each_mistake_names_the_file_the_path_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    write(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as caught:
        load_ranges(["ranges.yaml"])
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"gone\.yaml: file not found"):
        load_ranges([tmp_path / "gone.yaml"])
