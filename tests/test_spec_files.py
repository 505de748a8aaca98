"""Spec files are read within bounds (model/spec_files.py; docs/cli.md, "Limits").

Every reader of YAML/JSON specs (funnels, experiments, knowledge, ranges) goes through one loader,
so each limit is checked here once and its use by each reader once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from funnelscope.analyses.experiments.spec import load_experiment
from funnelscope.analyses.marketing.knowledge import load_knowledge
from funnelscope.analyses.marketing.ranges import load_ranges
from funnelscope.errors import SpecError, shown
from funnelscope.model.spec import load_funnel
from funnelscope.model.spec_files import (
    MAX_DEPTH,
    MAX_SPEC_BYTES,
    load_spec_text,
    read_spec_file,
)


def alias_bomb(levels: int = 12, width: int = 10) -> str:
    """Each anchor lists the previous one `width` times: width**levels values once expanded."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def error(text: str, name: str = "spec.yaml") -> str:
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, name, as_json=name.endswith(".json"))
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message
    return message


def test_anchors_aliases_and_merge_keys_of_ordinary_size_are_read() -> None:
    text = (
        "base: &base {property: plan, op: eq, value: pro}\n"
        "steps:\n"
        "  - {event: a, where: [*base]}\n"
        "  - {event: b, where: [{<<: *base, value: team}]}\n"
    )
    data = load_spec_text(text, "spec.yaml")
    assert data["steps"][1]["where"][0] == {"property": "plan", "op": "eq", "value": "team"}
    assert data["steps"][0]["where"][0] is data["base"]


def test_an_alias_bomb_is_refused_while_it_is_read() -> None:
    message = error(alias_bomb())
    assert message.startswith("spec.yaml:")
    assert "expands to more than 100,000 values or 2,000,000 characters" in message


def test_long_text_repeated_through_aliases_is_refused() -> None:
    text = "a: &a '" + "x" * 100_000 + "'\nb: [" + ", ".join(["*a"] * 30) + "]\n"
    assert "2,000,000 characters" in error(text)


@pytest.mark.parametrize("text", ["a: &a [*a]", "a: &a {b: *a}", "a: &a {<<: *a}"])
def test_a_value_containing_itself_is_refused(text: str) -> None:
    assert error(text) == (
        "spec.yaml:1: alias *a is used inside the value it names; a spec cannot contain itself; "
        "write the value out"
    )


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("[" * 100 + "]" * 100, "spec.yaml"),
        ("".join("  " * i + f"k{i}:\n" for i in range(100)), "spec.yaml"),
        ("[" * 100 + "]" * 100, "spec.json"),
        ('{"a":' * 100 + "1" + "}" * 100, "spec.json"),
        ("[" * 100_000 + "]" * 100_000, "spec.json"),  # deeper than Python's own stack
    ],
)
def test_nesting_deeper_than_the_limit_is_refused(text: str, name: str) -> None:
    message = error(text, name)
    assert f"nests lists and mappings more than {MAX_DEPTH} levels deep" in message
    assert message.startswith(f"{name}:")


def test_nesting_up_to_the_limit_is_read() -> None:
    assert load_spec_text("[" * MAX_DEPTH + "]" * MAX_DEPTH, "spec.yaml") is not None
    assert load_spec_text("[" * MAX_DEPTH + "]" * MAX_DEPTH, "s.json", as_json=True) is not None


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        (
            "steps: [a]\nwindow: 1d\nsteps: [b]\n",
            "spec.yaml",
            "spec.yaml:3: key 'steps' appears twice in one mapping (also on line 1); keep one; "
            "YAML readers would silently use the last",
        ),
        (
            "steps:\n  - event: a\n    where: {property: p, property: q}\n",
            "spec.yaml",
            "spec.yaml:3: key 'property' appears twice in one mapping (also on line 3)",
        ),
        ("{1: a, 1.0: b}", "spec.yaml", "spec.yaml:1: key '1.0' appears twice"),
        (
            '{"steps": ["a"],\n "where": {"op": "eq"},\n "steps": ["b"]}',
            "spec.json",
            "spec.json:3: key 'steps' appears twice in one mapping (also on line 1); keep one; "
            "JSON readers would silently use the last",
        ),
        ('{"a\\u0062": 1, "ab": 2}', "spec.json", "spec.json:1: key 'ab' appears twice"),
    ],
)
def test_a_key_given_twice_is_an_error_naming_the_line(text: str, name: str, message: str) -> None:
    assert error(text, name).startswith(message)


def test_the_same_key_in_different_mappings_is_fine() -> None:
    text = '{"a": {"x": 1}, "b": {"x": 2}, "c": ["x", "x"], "d": "{\\"a\\": 1, \\"a\\": 2}"}'
    assert load_spec_text(text, "s.json", as_json=True)["b"] == {"x": 2}
    assert load_spec_text("a: {x: 1}\nb: {x: 2}\nc: {<<: {x: 3}, x: 4}\n", "s.yaml")["c"] == {
        "x": 4
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!int xyz", "spec.yaml:1: 'xyz' is not a valid int"),
        ("a: !!int ''", "spec.yaml:1: '' is not a valid int"),
        ("a: !!bool maybe", "spec.yaml:1: 'maybe' is not a valid bool"),
        ("a: !!set {x}", "spec.yaml:1: tag 'tag:yaml.org,2002:set' is not used in spec files"),
        ("a: !!python/name:os.system x", "spec.yaml:1: tag 'tag:yaml.org,2002:python/name:os"),
        ("a: !local x", "spec.yaml:1: tag '!local' is not used in spec files"),
        ("a: " + "9" * 5000, "spec.yaml:1: has a number of 5000 digits"),
        ("a: \x07", "spec.yaml: is not valid YAML (unacceptable character #x0007"),
        ("a: 1\n---\nb: 2\n", "spec.yaml:2: is not valid YAML (expected a single document"),
    ],
)
def test_tags_and_odd_scalars_give_one_line_errors(text: str, message: str) -> None:
    assert error(text).startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN}', "spec.json: NaN is not a number JSON allows"),
        ('{"a": -Infinity}', "spec.json: -Infinity is not a number JSON allows"),
        ('{"a": ' + "9" * 5000 + "}", "spec.json: has a number of 5000 digits"),
        ('{"a": [}', "spec.json:1: is not valid JSON: Expecting value (column 8)"),
    ],
)
def test_json_numbers_beyond_reason_are_refused(text: str, message: str) -> None:
    assert error(text, "spec.json").startswith(message)


def test_yaml_scalars_are_yaml_1_2_core() -> None:
    data = load_spec_text("a: NO\nb: 02134\nc: 12:30\nd: 2024-01-31\ne: yes\nf: 1e3\n", "s.yaml")
    assert data == {"a": "NO", "b": "02134", "c": "12:30", "d": "2024-01-31", "e": "yes", "f": 1e3}


def test_a_file_larger_than_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (MAX_SPEC_BYTES // 10 + 1))
    with pytest.raises(SpecError) as caught:
        read_spec_file(big)
    assert str(caught.value) == (
        f"{big}: is larger than 1,000,000 bytes; a spec file is small; split it or check it is "
        "the file you meant"
    )
    if os.path.exists("/dev/zero"):  # endless: only the limit is read
        with pytest.raises(SpecError, match="is larger than 1,000,000 bytes"):
            read_spec_file("/dev/zero")


def test_unreadable_files_are_spec_errors(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"steps:\n  - caf\xe9\n")
    with pytest.raises(SpecError, match=r"latin\.yaml:2: is not UTF-8 text; save it as UTF-8"):
        read_spec_file(latin)
    with pytest.raises(SpecError, match="cannot read spec file"):
        read_spec_file(str(tmp_path / "nul\0.yaml"))
    bom = tmp_path / "bom.json"
    bom.write_bytes(b'\xef\xbb\xbf{"steps": ["a"]}')
    assert read_spec_file(bom) == {"steps": ["a"]}


LOADERS: dict[str, Callable[[Path], Any]] = {
    "funnel": load_funnel,
    "experiment": load_experiment,
    "knowledge": lambda path: load_knowledge([path]),
    "ranges": lambda path: load_ranges([path]),
}


@pytest.mark.parametrize("reader", sorted(LOADERS))
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (alias_bomb(), ":5: expands to more than 100,000 values"),
        ("version: 1\nversion: 1\n", ":2: key 'version' appears twice"),
        ("[" * 70 + "]" * 70, ":1: nests lists and mappings more than 64 levels deep"),
    ],
)
def test_every_spec_reader_uses_the_bounded_loader(
    tmp_path: Path, reader: str, text: str, message: str
) -> None:
    path = tmp_path / f"{reader}.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        LOADERS[reader](path)
    assert str(caught.value).startswith(f"{path}{message}")


def test_an_experiment_naming_a_funnel_file_reads_it_within_bounds(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text('{"steps": ["a", "b"], "steps": ["c"]}')
    spec = tmp_path / "exp.yaml"
    spec.write_text("funnel: f.json\nexposure: seen\ncontrol: A\n")
    with pytest.raises(SpecError, match=r"f\.json:1: key 'steps' appears twice"):
        load_experiment(spec)


def test_shown_values_are_short_whatever_their_size() -> None:
    assert shown("abc") == "'abc'"
    assert shown(1.5) == "1.5"
    long = shown("x" * 1000)
    assert len(long) == 60 and long.startswith("'xxx") and long.endswith("...")
    nested: list[Any] = [list(range(10**5))] * 10**3  # repr would be ~600 MB
    assert len(shown(nested)) <= 60
    assert shown("a" * 100, quote=False) == "a" * 57 + "..."
    assert len(str(SpecError("k" * 10**6, "v" * 10**6))) < 1100


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("window: 1e400", "window: inf is not a duration"),
        ("window: -1e400", "window: -inf is not a duration"),
        ("window: {value: 1e400, unit: s}", "window: {'unit': 's', 'value': inf} is longer than"),
        ("window: 99999999999999999999999d", "window: '99999999999999999999999d' is longer than"),
        ("steps: [a, {event: b, within: 1e400s}]", "steps[2].within: '1e400s' is not a duration"),
        (
            "breakdown: {property: p, limit: 99999999999999999999999}",
            "breakdown.limit: 99999999999999999999999 must be a whole number from 1 to 1,000,000",
        ),
        (
            "breakdown: {property: p, attribution: 'step:" + "9" * 5000 + "'}",
            "breakdown.attribution: 'step:9999",
        ),
        (
            "date_range: {from: 2024-01-01, to: 9999-12-31}",
            "date_range.to: '9999-12-31' is outside the years 1 to 9999 (in UTC)",
        ),
        (
            "date_range: {from: '0001-01-01T00:00:00+14:00'}",
            "date_range.from: '0001-01-01T00:00:00+14:00' is outside the years 1 to 9999",
        ),
        ("order: [" + ", ".join(["strict"] * 1000) + "]", "order: ['strict', 'strict', "),
    ],
)
def test_numbers_and_dates_out_of_range_name_the_field(
    tmp_path: Path, spec: str, message: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(("steps: [a, b]\n" if not spec.startswith("steps") else "") + spec + "\n")
    with pytest.raises(SpecError) as caught:
        load_funnel(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: {message}"), text
    assert len(text) < len(str(path)) + 300


def test_experiment_weights_must_be_finite(tmp_path: Path) -> None:
    path = tmp_path / "exp.json"
    path.write_text(
        '{"funnel": {"steps": ["a", "b"]}, "exposure": "seen", "control": "A",'
        ' "weights": {"A": 1e400, "B": 1}}'
    )
    with pytest.raises(SpecError, match=r"exp\.json: weights\.A: inf; use a positive share"):
        load_experiment(path)
