"""`funnelscope funnel` with the funnel-feature flags: they override the spec, and every output
format shows the breakdown. Numbers are worked out by hand from EVENTS (docs/semantics.md)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from funnelscope.cli.main import cli
from funnelscope.errors import SpecError
from funnelscope.model.overrides import with_overrides
from funnelscope.model.spec import Breakdown, Exclusion, parse_funnel

# Six persons on view -> cart -> buy. channel is set on entries (and on carol's buy), device
# only on alice's events.
#   alice  two journeys a day apart: view(ads) cart buy, then view(email) cart
#   bob    view(seo), cart 30 min later
#   carol  view(ads), refund, cart 20 min after the view, buy(email)
#   dave   view(seo)
#   erin   view(ads), cart an hour later, buy
#   frank  view(email), buy (no cart)
EVENTS = """\
user,action,ts,channel,device
alice,view,2024-03-01T10:00:00Z,ads,mobile
alice,cart,2024-03-01T10:05:00Z,,desktop
alice,buy,2024-03-01T10:10:00Z,,mobile
alice,view,2024-03-02T10:00:00Z,email,mobile
alice,cart,2024-03-02T10:05:00Z,,mobile
bob,view,2024-03-01T11:00:00Z,seo,
bob,cart,2024-03-01T11:30:00Z,,
carol,view,2024-03-01T09:00:00Z,ads,
carol,refund,2024-03-01T09:10:00Z,,
carol,cart,2024-03-01T09:20:00Z,,
carol,buy,2024-03-01T09:30:00Z,email,
dave,view,2024-03-01T08:00:00Z,seo,
erin,view,2024-03-01T12:00:00Z,ads,
erin,cart,2024-03-01T13:00:00Z,,
erin,buy,2024-03-01T13:10:00Z,,
frank,view,2024-03-01T14:00:00Z,email,
frank,buy,2024-03-01T14:30:00Z,,
"""

SPEC = """\
name: shop
steps: [view, cart, buy]
window: 7d
count: persons
breakdown: {property: device, limit: 5}
"""

PLAIN = "name: shop\nsteps: [view, cart, buy]\nwindow: 7d\n"

MAPPING = ["--person-col", "user", "--event-col", "action", "--time-col", "ts"]


@pytest.fixture(params=["kernel", "reference"])
def funnel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``funnel(*flags, spec=SPEC, columns=100)``: the command over EVENTS, on each engine."""
    monkeypatch.chdir(tmp_path)
    engine = request.param
    events = tmp_path / "events.csv"
    events.write_text(EVENTS)

    def _run(*flags: str, spec: str = SPEC, columns: int = 100) -> Result:
        spec_file = tmp_path / "shop.yaml"
        spec_file.write_text(spec)
        args = ["funnel", str(spec_file), "--events", str(events), *MAPPING]
        args += ["--no-progress", "--engine", engine, *flags]
        result = CliRunner().invoke(cli, args, env={"COLUMNS": str(columns)})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return _run


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def counts(data: dict[str, Any]) -> list[int]:
    return [s["count"] for s in data["steps"]]


def values(data: dict[str, Any]) -> list[tuple[Any, list[int]]]:
    return [(row["value"], [s["count"] for s in row["steps"]]) for row in data["breakdown"]]


def test_the_spec_alone(funnel) -> None:  # type: ignore[no-untyped-def]
    data = as_json(funnel("--format", "json"))
    assert data["counting"] == "persons"
    assert counts(data) == [6, 4, 3]
    assert data["breakdown_by"] == {
        "property": "device",
        "limit": 5,
        "scope": "event",
        "attribution": "first_touch",
    }
    assert values(data) == [("(none)", [5, 3, 2]), ("mobile", [1, 1, 1])]


def test_count_totals_overrides_count_persons(funnel) -> None:  # type: ignore[no-untyped-def]
    # alice's second journey is an attempt of its own: 7 attempts, 5 carts, 3 buys.
    data = as_json(funnel("--format", "json", "--count", "totals", "--breakdown", "channel"))
    assert data["counting"] == "totals"
    assert counts(data) == [7, 5, 3]
    # email (alice's 2nd attempt, frank) ties seo (bob, dave) at 2: by text, email first.
    assert values(data) == [("ads", [3, 3, 3]), ("email", [2, 1, 0]), ("seo", [2, 1, 0])]


def test_breakdown_replaces_the_spec_property_and_keeps_its_limit(funnel) -> None:  # type: ignore[no-untyped-def]
    data = as_json(funnel("--format", "json", "--breakdown", "channel"))
    assert counts(data) == [6, 4, 3]
    assert data["breakdown_by"] == {
        "property": "channel",
        "limit": 5,
        "scope": "event",
        "attribution": "first_touch",
    }
    assert values(data) == [("ads", [3, 3, 3]), ("seo", [2, 1, 0]), ("email", [1, 0, 0])]
    seo = data["breakdown"][1]["steps"]
    assert seo[1] == {
        "step": 2,
        "label": "cart",
        "count": 1,
        "conversion_from_previous": 0.5,
        "conversion_from_start": 0.5,
        "dropped_from_previous": 1,
        "avg_seconds_from_previous": 1800.0,
        "median_seconds_from_previous": 1800.0,
    }


def test_attribution_limit_and_combined_properties(funnel) -> None:  # type: ignore[no-untyped-def]
    # last_touch: the furthest step's event; only carol's buy carries a channel after entry.
    data = as_json(
        funnel("--format", "json", "--breakdown", "channel", "--attribution", "last_touch")
    )
    assert data["breakdown_by"]["attribution"] == "last_touch"
    assert values(data) == [("(none)", [3, 3, 2]), ("email", [2, 1, 1]), ("seo", [1, 0, 0])]
    # Past the limit, seo (bob, dave) and email (frank) fold into Other.
    data = as_json(funnel("--format", "json", "--breakdown", "channel", "--breakdown-limit", "1"))
    assert data["breakdown_by"]["limit"] == 1
    assert values(data) == [("ads", [3, 3, 3]), ("Other", [3, 1, 0])]
    data = as_json(funnel("--format", "json", "--breakdown", "channel", "--breakdown", "device"))
    assert data["breakdown_by"]["property"] == ["channel", "device"]
    assert values(data) == [
        (["ads", "(none)"], [2, 2, 2]),
        (["seo", "(none)"], [2, 1, 0]),
        (["ads", "mobile"], [1, 1, 1]),
        (["email", "(none)"], [1, 0, 0]),
    ]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        # carol's refund between her view and cart ends her attempt at step 1.
        (["--exclude", "refund:1-3"], [6, 3, 2]),
        # bob's cart 30 min after his view is within 30m (inclusive); erin's hour is not.
        (["--within", "2=30m"], [6, 3, 2]),
        (["--within", "2=20m"], [6, 2, 2]),
        # frank skips the cart and buys: 4 buys, still 4 carts.
        (["--optional", "2"], [6, 4, 4]),
        # alice's first cart is on desktop: that attempt stops at step 1, her second reaches 2.
        (["--hold-constant", "device"], [6, 4, 2]),
        # Sessions: alice has two; erin's cart an hour after her view opens a new session.
        (["--count", "sessions", "--session-gap", "30m"], [7, 4, 2]),
        (["--count", "sessions", "--session-gap", "2h"], [7, 5, 3]),
    ],
)
def test_depth_flags_change_the_counts(funnel, flags: list[str], expected: list[int]) -> None:  # type: ignore[no-untyped-def]
    assert counts(as_json(funnel("--format", "json", *flags))) == expected


def test_list_flags_replace_the_spec_lists(funnel) -> None:  # type: ignore[no-untyped-def]
    spec = PLAIN + "exclusions: [{event: refund, between: [1, 3]}]\n"
    assert counts(as_json(funnel("--format", "json", spec=spec))) == [6, 3, 2]
    replaced = funnel("--format", "json", "--exclude", "coupon:1-2", spec=spec)
    assert counts(as_json(replaced)) == [6, 4, 3]
    sessions = PLAIN + "count: sessions\nsession_gap: 30m\n"
    assert counts(as_json(funnel("--format", "json", spec=sessions))) == [7, 4, 2]
    # Counting persons drops the spec's session gap with the sessions it cut.
    persons = as_json(funnel("--format", "json", "--count", "persons", spec=sessions))
    assert persons["counting"] == "persons" and counts(persons) == [6, 4, 3]


def test_csv_has_a_breakdown_column_with_the_total_first(funnel) -> None:  # type: ignore[no-untyped-def]
    result = funnel("--format", "csv", "--breakdown", "channel")
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:4] == ["breakdown", "step", "label", "count"]
    assert rows[0][4:] == [
        "conversion_from_previous",
        "conversion_from_start",
        "dropped_from_previous",
        "avg_seconds_from_previous",
        "median_seconds_from_previous",
    ]
    assert [r[:4] for r in rows[1:]] == [
        ["(total)", "1", "view", "6"],
        ["(total)", "2", "cart", "4"],
        ["(total)", "3", "buy", "3"],
        ["ads", "1", "view", "3"],
        ["ads", "2", "cart", "3"],
        ["ads", "3", "buy", "3"],
        ["seo", "1", "view", "2"],
        ["seo", "2", "cart", "1"],
        ["seo", "3", "buy", "0"],
        ["email", "1", "view", "1"],
        ["email", "2", "cart", "0"],
        ["email", "3", "buy", "0"],
    ]
    assert rows[8] == ["seo", "2", "cart", "1", "0.5", "0.5", "1", "1800.0", "1800.0"]
    plain = funnel("--format", "csv", spec=PLAIN).stdout.splitlines()
    assert plain[0].startswith("step,label,count,") and plain[1].startswith("1,view,6,")


def value_rows(table: str) -> list[str]:
    """The breakdown's value rows as text without bars, spaces collapsed."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("By "))
    rows = []
    for line in lines[start + 3 :]:  # past the title, the header and its rule
        if not line.strip():
            break
        rows.append(" ".join(line.replace("█", " ").replace("▌", " ").split()))
    return rows


def test_table_has_a_row_per_value(funnel) -> None:  # type: ignore[no-untyped-def]
    out = funnel("--breakdown", "channel").stdout
    assert (
        out.splitlines()[0].rstrip()
        == "shop: ordered, window 7d, counting persons, by channel (first_touch)"
    )
    assert "By channel (first_touch); shares are of the value's step 1" in out
    assert value_rows(out) == [
        "ads 3 3 100.0% 3 100.0%",
        "seo 2 1 50.0% 0 0.0%",
        "email 1 0 0.0% 0 0.0%",
    ]
    header = next(line for line in out.splitlines() if line.startswith("channel"))
    assert header.split() == ["channel", "Persons", "2", "cart", "3", "buy"]
    ads = next(line for line in out.splitlines() if line.startswith("ads"))
    assert ads.count("█") == 2 * 12  # 100% of ads' step 1 at both steps, bars at their widest


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_no_number_is_cut_at_common_widths(funnel, columns: int) -> None:  # type: ignore[no-untyped-def]
    out = funnel(
        "--breakdown", "channel", "--breakdown", "device", "--count", "totals", columns=columns
    ).stdout
    assert all(len(line) <= columns for line in out.splitlines())
    assert "…" not in out
    # Attempts: alice's two (ads and email, on mobile), then one each for the others.
    assert value_rows(out) == [
        "ads / (none) 2 2 100.0% 2 100.0%",
        "seo / (none) 2 1 50.0% 0 0.0%",
        "ads / mobile 1 1 100.0% 1 100.0%",
        "email / (none) 1 0 0.0% 0 0.0%",
        "email / mobile 1 1 100.0% 0 0.0%",
    ]


def test_unit_names_follow_the_count(funnel) -> None:  # type: ignore[no-untyped-def]
    totals = funnel("--breakdown", "channel", "--count", "totals").stdout
    assert "counting totals" in totals.splitlines()[0]
    assert sum(line.split()[:3] == ["#", "Step", "Attempts"] for line in totals.splitlines()) == 1
    assert any(line.split()[:2] == ["channel", "Attempts"] for line in totals.splitlines())
    sessions = funnel("--count", "sessions", "--session-gap", "30m").stdout
    assert any(line.split()[:3] == ["#", "Step", "Sessions"] for line in sessions.splitlines())


def test_narrow_terminals_get_a_line_per_value(funnel) -> None:  # type: ignore[no-untyped-def]
    out = funnel("--breakdown", "channel", columns=30).stdout
    assert all(len(line.rstrip()) <= 30 for line in out.splitlines())
    lines = [line.rstrip() for line in out.splitlines()]
    start = lines.index("ads")
    assert lines[start : start + 9] == [
        "ads",
        "   3 persons · #2: 3 (100.0%)",  # lines break between steps only
        "   #3: 3 (100.0%)",
        "seo",
        "   2 persons · #2: 1 (50.0%)",
        "   #3: 0 (0.0%)",
        "email",
        "   1 persons · #2: 0 (0.0%)",
        "   #3: 0 (0.0%)",
    ]


def test_long_values_are_shortened_before_numbers(funnel, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    long = EVENTS.replace(",ads,", ",a_very_long_campaign_name_for_ads,")
    (tmp_path / "events.csv").write_text(long)
    out = funnel("--breakdown", "channel", columns=60).stdout
    rows = value_rows(out)
    assert rows[0].startswith("a_very_long") and "…" in rows[0]
    assert rows[0].split()[1:] == ["3", "3", "100.0%", "3", "100.0%"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--exclude", "refund"], "--exclude: 'refund' is not EVENT:I-J; write e.g. --exclude"),
        (["--exclude", "refund:3-1"], "--exclude: in 'refund:3-1', 3-1 is not a pair of steps"),
        (["--within", "2-30m"], "--within: '2-30m' is not STEP=DURATION; write e.g. --within 3=1h"),
        (["--within", "2=soon"], "--within: in '2=soon', 'soon' is not a duration; use e.g. 30s"),
        (["--within", "1=1h"], "--within: step 1 has no previous step"),
        (["--optional", "3"], "--optional: step 3: the first and the last step cannot be"),
        (["--session-gap", "30m"], "--session-gap: only applies when counting sessions"),
        (["--attribution", "frist_touch"], "--attribution: 'frist_touch' is not an attribution"),
        (
            ["--breakdown-scope", "person", "--attribution", "last_touch"],
            "--attribution: does not apply to person properties",
        ),
    ],
)
def test_bad_flags_are_usage_errors_naming_the_flag(funnel, flags: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = funnel(*flags)
    assert result.exit_code == 2
    assert f"Error: {message}" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_breakdown_options_need_a_breakdown(funnel) -> None:  # type: ignore[no-untyped-def]
    result = funnel("--attribution", "last_touch", spec=PLAIN)
    assert result.exit_code == 2
    assert (
        "Error: --attribution: there is no breakdown to apply it to (the spec has none); "
        "add --breakdown PROPERTY, or a breakdown to the spec" in result.stderr
    )
    assert funnel("--breakdown-limit", "3", spec=PLAIN).exit_code == 2
    assert funnel("--breakdown-limit", "0").exit_code == 2  # click's range check


# with_overrides itself: a pure function of a Funnel.

BASE = parse_funnel(
    {
        "steps": ["view", "cart", "pay", "buy"],
        "hold_constant": ["device"],
        "exclusions": [{"event": "refund", "between": [1, 4]}],
        "breakdown": {"property": "channel", "attribution": "step:2", "limit": 3},
    }
)


def test_with_overrides_without_flags_is_the_spec() -> None:
    assert with_overrides(BASE) is BASE


def test_with_overrides_replaces_what_flags_give() -> None:
    funnel = with_overrides(
        BASE,
        breakdown=["channel", "device"],
        hold_constant=["country"],
        exclude=["page:error:2-3"],
        optional=[2],
        within=["3=1h", "4=2d"],
    )
    assert funnel.breakdown == Breakdown(("channel", "device"), "step", 2, 3, "event")
    assert funnel.hold_constant == ("country",)
    assert funnel.exclusions == (Exclusion("page:error", 2, 3),)  # names may hold colons
    assert [s.optional for s in funnel.steps] == [False, True, False, False]
    assert [s.within_seconds for s in funnel.steps] == [None, None, 3600, 172800]
    assert BASE.hold_constant == ("device",)  # the spec is not changed


def test_with_overrides_person_scope_drops_the_spec_attribution() -> None:
    funnel = with_overrides(BASE, breakdown_scope="person")
    assert funnel.breakdown == Breakdown(("channel",), "first_touch", None, 3, "person")
    fresh = with_overrides(parse_funnel({"steps": ["a", "b"]}), breakdown=["plan"])
    assert fresh.breakdown == Breakdown(("plan",), "first_touch", None, 10, "event")


@pytest.mark.parametrize(
    ("options", "path", "problem"),
    [
        ({"exclude": [":1-2"]}, "--exclude", "':1-2' is not EVENT:I-J"),
        ({"exclude": ["refund:1-5"]}, "--exclude", "1-5 is not a pair of steps I < J"),
        ({"within": ["3=1h", "3=2h"]}, "--within", "gives step 3 twice"),
        ({"optional": [9]}, "--optional", "step 9 does not exist"),
        ({"breakdown": ["a", "b", "c", "d"]}, "--breakdown", "names 4 properties"),
        ({"hold_constant": ["x", "x"]}, "--hold-constant", "names 'x' twice"),
        ({"attribution": "step:5"}, "--attribution", "step:5 is not a step of this funnel"),
        (
            {"count": "sessions", "session_gap": "0m"},
            "--session-gap",
            "'0m' must be a positive whole number",
        ),
    ],
)
def test_with_overrides_errors_name_the_flag(
    options: dict[str, Any], path: str, problem: str
) -> None:
    with pytest.raises(SpecError) as caught:
        with_overrides(BASE, **options)
    assert caught.value.path == path
    assert problem in caught.value.problem


def test_with_overrides_order_errors_name_the_flag() -> None:
    any_order = parse_funnel({"steps": ["a", "b", "c"], "order": "any"})
    with pytest.raises(SpecError) as caught:
        with_overrides(any_order, exclude=["refund:1-3"])
    assert str(caught.value) == (
        "--exclude: in 'refund:1-3': exclusions need order: ordered or strict; "
        "under any the steps have no order to be between"
    )
    with pytest.raises(SpecError) as caught:
        with_overrides(any_order, optional=[2])
    assert caught.value.path == "--optional"
    assert caught.value.problem.startswith("step 2: optional steps need order: ordered")


def test_explain_says_how_depth_features_run(funnel) -> None:  # type: ignore[no-untyped-def]
    fast = funnel("--engine", "kernel", "--explain").stdout
    assert "packed above the step bits" in fast and "code << 50" in fast
    assert "counted under the value of first_touch" in fast
    sorted_scan = funnel(
        "--engine", "kernel", "--explain", "--count", "sessions", "--session-gap", "30m"
    ).stdout
    assert "sorted by person, time and event_id" in sorted_scan
    assert "per session, the best attempt" in sorted_scan
    assert "ORDER BY person, ts, eid" in sorted_scan


# --- date ranges and person-scope filters on the command line (docs/semantics.md [R5]) --------


def test_r5_from_and_to_replace_the_specs_ends_and_the_output_names_the_range(funnel) -> None:  # type: ignore[no-untyped-def]
    ranged = PLAIN + "date_range: {from: 2024-03-01, to: 2024-03-01}\n"
    data = as_json(funnel("--format", "json", spec=ranged))
    assert counts(data) == [6, 4, 3]
    # only alice enters on March 2 (her second journey: view, cart)
    data = as_json(
        funnel("--format", "json", "--from", "2024-03-02", "--to", "2024-03-02", spec=ranged)
    )
    assert counts(data) == [1, 1, 0]
    assert data["date_range"] == {
        "from": "2024-03-02",
        "to": "2024-03-02",
        "timezone": "UTC",
        "start": "2024-03-02T00:00:00Z",
        "end_exclusive": "2024-03-03T00:00:00Z",
    }
    table = funnel("--to", "2024-03-02", spec=ranged).stdout
    assert "entering 2024-03-01..2024-03-02" in table
    # an instant: dave (08:00) and carol (09:00) enter by 09:00; carol converts later
    early = as_json(funnel("--format", "json", "--to", "2024-03-01T10:00:00+01:00", spec=PLAIN))
    assert counts(early) == [2, 1, 1]
    assert early["date_range"]["end_exclusive"] == "2024-03-01T09:00:00.000001Z"
    assert "date_range" not in as_json(funnel("--format", "json", spec=PLAIN))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--from", "soon"], "--from: 'soon' is not a date or time; write a day as 2024-01-31"),
        (["--from", "2024-03-05", "--to", "2024-03-01"], "--from: from 2024-03-05 is after to"),
    ],
)
def test_r5_bad_dates_are_usage_errors_naming_the_flag(
    funnel, flags: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    result = funnel(*flags, spec=PLAIN)
    assert result.exit_code == 2
    assert f"Error: {message}" in result.stderr


def test_r6_a_where_on_timestamp_says_to_use_a_date_range(funnel) -> None:  # type: ignore[no-untyped-def]
    spec = PLAIN + "where: [{property: timestamp, op: gte, value: '2024-03-02'}]\n"
    with pytest.raises(SpecError, match=r"use date_range: \{from:, to:\} or --from/--to"):
        funnel(spec=spec)  # main() prints it as one line, exit code 1


def test_person_scope_filters_run_from_files(funnel) -> None:  # type: ignore[no-untyped-def]
    # the latest channel is email for alice (her second view), carol (her buy) and frank
    spec = PLAIN + "where: [{property: channel, op: eq, value: email, scope: person}]\n"
    data = as_json(funnel("--format", "json", spec=spec))
    assert counts(data) == [3, 2, 2]
    explained = funnel("--engine", "kernel", "--explain", spec=spec).stdout
    assert "person values (channel)" in explained and "person's channel eq 'email'" in explained
