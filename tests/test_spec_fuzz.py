"""Hostile and random specs: the parsers raise only funnelscope's errors, quickly, in little memory.

Random YAML text and random nested data (biased towards the shape of real specs, so the fuzzing
gets past the first check) go to every spec parser: funnels (`parse_funnel`, `load_funnel`),
filters, experiments, date ranges and durations. Whatever comes in, the answer is a value or a
`FunnelscopeError` (a SpecError that names the field), never another exception, within a
deadline; a few known attacks (alias bombs, deep nesting, long text) are checked for peak memory.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelscope.analyses.experiments.spec import parse_experiment
from funnelscope.errors import FunnelscopeError
from funnelscope.model.date_range import date_range_of, parse_date_range
from funnelscope.model.durations import parse_duration
from funnelscope.model.filters import parse_filter
from funnelscope.model.spec import load_funnel, parse_funnel
from funnelscope.model.spec_files import load_spec_text

DEADLINE = timedelta(seconds=2)  # per example; the parsers take milliseconds
FUZZ = settings(
    max_examples=4 * settings().max_examples,
    deadline=DEADLINE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PEAK_BYTES = 50 * 2**20

KEYS = [
    "name", "steps", "window", "order", "where", "exclusions", "hold_constant", "count",
    "session_gap", "breakdown", "date_range", "event", "label", "optional", "within", "between",
    "property", "properties", "attribution", "limit", "scope", "op", "value", "from", "to",
    "timezone", "funnel", "exposure", "control", "weights", "alpha", "variant_property",
    "person_property", "unit",
]  # fmt: skip
TEXTS = [
    "", " ", "a", "b", "view", "buy", "channel", "pro", "7d", "30m", "1.5h", "0s", "-1d",
    "1e400s", "99999999999999999999999d", "365250d", "365251d", "ordered", "strict", "any",
    "persons", "sessions", "totals", "first_touch", "last_touch", "all_events", "step:1",
    "step:99999999999999999999", "event", "person", "eq", "neq", "in", "not_in", "contains",
    "gt", "lte", "is_set", "is_not_set", "2024-01-31", "20240131", "0001-01-01", "9999-12-31",
    "2024-01-31T10:00:00Z", "9999-12-31T23:59:59.999999-14:00", "0001-01-01T00:00:00+14:00",
    "2024-02-30", "UTC", "Z", "Europe/Berlin", "Etc/GMT+12", "Nowhere/Land", "../x", "f.yaml",
    "missing.yaml", "day", "s", "timestamp", "A", "B", "nan", "inf",
]  # fmt: skip
NUMBERS = st.one_of(
    st.integers(-3, 60),
    st.integers(),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**30, 20240131, 99999999]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e400, -1e400, 1e308, 5e-324, 0.5, 1e18, 3.0]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.sampled_from(TEXTS),
    st.text(max_size=12),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
)
DATE_VALUE = st.one_of(
    SCALARS,
    st.sampled_from(["0001-01-01", "0001-01-02", "9999-12-30", "9999-12-31", "99991231"]),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat),
    st.datetimes(
        timezones=st.one_of(
            st.none(),
            st.timedeltas(timedelta(hours=-23, minutes=-59), timedelta(hours=23, minutes=59)).map(
                timezone
            ),
        )
    ).map(datetime.isoformat),
)
ZONE = st.one_of(
    st.none(),
    st.sampled_from(["UTC", "Europe/Berlin", "Etc/GMT+12", "Etc/GMT-14", "Pacific/Kiritimati"]),
    SCALARS,
)
DURATION_TEXT = st.builds(
    lambda number, unit: f"{number}{unit}",
    st.one_of(st.integers(0, 10**30), st.floats(0, allow_infinity=True), st.just("9" * 400)),
    st.sampled_from(["s", "m", "h", "d", "w", "days", "x", ""]),
)
KEY = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(-2, 2), st.none())


def nested(leaves: int = 25) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEY, inner, max_size=5),
        max_leaves=leaves,
    )


ANY = nested()


def spec_like(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mappings with some of `keys` (so parsers get past the unknown-key check), or anything."""
    return st.one_of(
        st.fixed_dictionaries({}, optional=dict.fromkeys(keys, values)),
        ANY,
    )


FILTER = spec_like(["property", "op", "value", "scope"], st.one_of(SCALARS, st.lists(SCALARS)))
DATE_RANGE = spec_like(["from", "to", "timezone"], st.one_of(DATE_VALUE, ZONE))
DURATION = st.one_of(
    SCALARS, DURATION_TEXT, spec_like(["value", "unit"], st.one_of(NUMBERS, SCALARS))
)
STEP = st.one_of(
    st.sampled_from(TEXTS),
    spec_like(
        ["event", "label", "where", "optional", "within"],
        st.one_of(SCALARS, st.lists(FILTER, max_size=2), DURATION),
    ),
)
EXCLUSION = spec_like(
    ["event", "where", "between"],
    st.one_of(SCALARS, st.lists(NUMBERS, max_size=3), st.lists(FILTER, max_size=2)),
)
BREAKDOWN = st.one_of(
    SCALARS,
    st.lists(st.sampled_from(TEXTS), max_size=4),
    spec_like(
        ["property", "properties", "attribution", "limit", "scope"],
        st.one_of(
            SCALARS,
            st.lists(SCALARS, max_size=4),
            st.sampled_from(["step:0", "step:2", "step:" + "9" * 5000, "step: 1"]),
        ),
    ),
)
FUNNEL = st.one_of(
    st.fixed_dictionaries(
        {"steps": st.lists(STEP, min_size=1, max_size=4)},
        optional={
            "name": SCALARS,
            "window": DURATION,
            "order": SCALARS,
            "where": st.one_of(FILTER, st.lists(FILTER, max_size=2)),
            "exclusions": st.one_of(SCALARS, st.lists(EXCLUSION, max_size=2)),
            "hold_constant": st.one_of(SCALARS, st.lists(SCALARS, max_size=4)),
            "count": SCALARS,
            "session_gap": DURATION,
            "breakdown": BREAKDOWN,
            "date_range": DATE_RANGE,
        },
    ),
    ANY,
)
EXPERIMENT = st.one_of(
    st.fixed_dictionaries(
        {"funnel": st.one_of(FUNNEL, st.sampled_from(["f.yaml", "missing.yaml", "../x"]))},
        optional={
            "name": SCALARS,
            "exposure": st.one_of(
                SCALARS,
                spec_like(["event", "variant_property", "person_property"], SCALARS),
            ),
            "control": SCALARS,
            "weights": st.one_of(SCALARS, st.dictionaries(st.sampled_from(["A", "B"]), SCALARS)),
            "alpha": SCALARS,
        },
    ),
    ANY,
)
YAML_CHARS = st.sampled_from([*"-:[]{},&*!|>'\"#%@?<\\ \n\t\x00", "steps", "a", "1", "e"])
YAML_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(YAML_CHARS, max_size=80).map("".join),
    FUNNEL.map(lambda data: yaml.safe_dump(data, default_flow_style=None, allow_unicode=True)),
)


def only_funnelscope_errors(call: Callable[[], object]) -> None:
    """`call` returns a value or raises a FunnelscopeError with a one-screen message."""
    try:
        call()
    except FunnelscopeError as exc:
        assert len(str(exc)) < 2_000, str(exc)[:200]


@FUZZ
@given(FUNNEL)
def test_parse_funnel_raises_only_spec_errors(data: Any) -> None:
    only_funnelscope_errors(lambda: parse_funnel(data))


@FUZZ
@given(FILTER)
def test_parse_filter_raises_only_spec_errors(data: Any) -> None:
    only_funnelscope_errors(lambda: parse_filter(data, "where[1]"))


@FUZZ
@given(DATE_RANGE, DATE_VALUE, DATE_VALUE, ZONE)
def test_date_ranges_raise_only_spec_errors(data: Any, start: Any, end: Any, zone: Any) -> None:
    only_funnelscope_errors(lambda: parse_date_range(data))
    only_funnelscope_errors(lambda: date_range_of(start, end, zone))


@FUZZ
@given(DURATION)
def test_durations_raise_only_spec_errors(data: Any) -> None:
    only_funnelscope_errors(lambda: parse_duration(data, "window"))


@pytest.fixture(scope="module")
def specs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory an experiment's `funnel: f.yaml` is found in."""
    path = tmp_path_factory.mktemp("specs")
    (path / "f.yaml").write_text("steps: [view, buy]\n")
    return path


@FUZZ
@given(EXPERIMENT)
def test_parse_experiment_raises_only_spec_errors(specs_dir: Path, data: Any) -> None:
    only_funnelscope_errors(lambda: parse_experiment(data, specs_dir))


@FUZZ
@given(YAML_TEXT, st.sampled_from(["spec.yaml", "spec.json"]))
def test_spec_files_raise_only_spec_errors(specs_dir: Path, text: str, name: str) -> None:
    only_funnelscope_errors(lambda: load_spec_text(text, name, as_json=name.endswith(".json")))
    path = specs_dir / f"fuzz-{name}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    only_funnelscope_errors(lambda: load_funnel(path))


# --------------------------------------------------------------------- known attacks, measured


def alias_bomb(levels: int, width: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\nsteps: [a]\n"


HOSTILE = {
    "alias bomb": alias_bomb(30),
    "wide alias bomb": alias_bomb(4, width=2000),
    "long text through aliases": "a: &a '"
    + "x" * 500_000
    + "'\nb: ["
    + ", ".join(["*a"] * 1000)
    + "]\n",
    "deep flow nesting": "steps: " + "[" * 50_000 + "]" * 50_000,
    "deep block nesting": "".join("  " * i + f"k{i}:\n" for i in range(2000)),
    "deep merge chain": "".join(
        f"m{i}: &m{i} {{<<: *m{i - 1}, k{i}: 1}}\n" for i in range(1, 60)
    ).replace("<<: *m0, ", ""),
    "self reference": "a: &a {steps: *a}\n",
    "many keys": "{" + ", ".join(f"k{i}: {i}" for i in range(10_000)) + "}",
    "duplicate keys": "{" + ", ".join("k: 1" for _ in range(10_000)) + "}",
    "huge number": "window: {value: " + "9" * 100 + ", unit: s}\nsteps: [a]\n",
    "overflowing float": "window: {value: 1e400, unit: s}\nsteps: [a]\n",
}
JSON_HOSTILE = {
    "deep json": "[" * 500_000 + "]" * 500_000,
    "deep json objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "json nan": '{"steps": ["a"], "window": {"value": NaN, "unit": "s"}}',
    "json huge int": '{"steps": ["a"], "limit": ' + "9" * 4400 + "}",
}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        *((f"{k}.yaml", v) for k, v in HOSTILE.items()),
        *((f"{k}.json", v) for k, v in JSON_HOSTILE.items()),
    ],
    ids=[*HOSTILE, *JSON_HOSTILE],
)
def test_hostile_specs_are_refused_in_bounded_time_and_memory(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(FunnelscopeError) as caught:
            load_funnel(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert peak < PEAK_BYTES, f"peak {peak / 2**20:.0f} MB"
    assert elapsed < 15, f"{elapsed:.1f} s"
    assert len(str(caught.value)) < 1_000
