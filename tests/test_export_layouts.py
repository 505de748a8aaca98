"""Exports of five analytics tools load with no flags and give the funnel their own model says.

Each test writes one realistic export of a simulated shop (tests/export_layouts: about 3,000
people on one or two devices, anonymous browsing, sign-ins, carts bought on another device,
shared devices, a few planted bad records), loads it with `funnelscope ingest FILE` and no
mapping flags, and compares the 3-step funnel (view -> cart -> purchase within 7 days, in that
tool's event names), its first-touch breakdown by the nested traffic source, and the people who
bought, with the ground truth the generator computed from the rows it wrote by the identity rule
(docs/formats.md), not by running funnelscope.

The last tests need no export reader: they check that the ground truth is self-consistent, that
the planted records are really bad, and that the truth's own funnel search agrees with
funnelscope's engine once persons are stitched beforehand.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from export_layouts import LAYOUTS, Export, population, write_export
from export_layouts.population import build_population
from export_layouts.truth import NONE, Counts, Identity, Truth, Written, compute_truth
from funnelscope.cli.main import cli


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "150"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


class Loaded:
    """One export in a fresh store, and the commands over it."""

    def __init__(self, key: str, directory: Path) -> None:
        self.export: Export = write_export(key, directory)
        self.truth: Truth = self.export.truth
        self.db = str(directory / "store.duckdb")
        self.spec = directory / "checkout.yaml"
        self.spec.write_text(self.truth.spec())
        self.ingest = run("ingest", str(self.export.path), "--db", self.db, "--no-progress")

    def funnel(self, *flags: str) -> dict[str, Any]:
        args = ["funnel", str(self.spec), "--db", self.db, "--format", "json", "--no-progress"]
        result = run(*args, *flags)
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def json(self, *args: str) -> dict[str, Any]:
        result = run(*args, "--db", self.db, "--format", "json")
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data


def counts(steps: list[dict[str, Any]]) -> Counts:
    found = tuple(s["count"] for s in steps)
    assert len(found) == 3
    return (found[0], found[1], found[2])


def values(data: dict[str, Any]) -> dict[str, Counts]:
    return {str(row["value"]): counts(row["steps"]) for row in data["breakdown"]}


def check_export(key: str, directory: Path) -> Loaded:
    """What every layout must give: the layout recognised, the store holding exactly the good
    events, the planted bad lines quarantined, and the funnel, breakdown and people of the truth."""
    loaded = Loaded(key, directory)
    truth = loaded.truth
    assert loaded.ingest.exit_code == 0, loaded.ingest.output
    assert f"layout: {truth.layout}" in loaded.ingest.output

    (source,) = loaded.json("sources")["sources"]
    assert source["events"] == truth.events_loaded

    listed = loaded.json("quarantine")
    assert listed["total"] == len(truth.quarantined)
    rows = sorted(listed["rows"], key=lambda r: int(r["line"]))
    assert [int(r["line"]) for r in rows] == [bad.line for bad in truth.quarantined]
    for row, bad in zip(rows, truth.quarantined, strict=True):
        assert Path(row["source"]).name == loaded.export.path.name
        assert any(word in row["reason"].lower() for word in bad.keywords), (bad, row["reason"])

    plain = loaded.funnel()
    assert [s["label"] for s in plain["steps"]] == list(truth.steps)
    assert counts(plain["steps"]) == truth.counts
    assert truth.counts != truth.counts_unstitched  # so stitching is what is tested

    split = loaded.funnel("--breakdown", truth.source_property)
    assert split["breakdown_by"]["attribution"] == "first_touch"
    assert counts(split["steps"]) == truth.counts
    assert values(split) == truth.by_source

    people = loaded.funnel("--people", "3", "--status", "reached")
    assert people["people"] == list(truth.reached_last)
    return loaded


def check_plan_by_person(loaded: Loaded) -> None:
    """The plan trait, read per person ([B5]): the value on their latest event that has one."""
    truth = loaded.truth
    data = loaded.funnel("--breakdown", truth.plan_property, "--breakdown-scope", "person")
    assert data["breakdown_by"]["scope"] == "person"
    assert values(data) == truth.by_plan


# ------------------------------------------------------------- end to end, one per layout


def test_ga4_bigquery_jsonl(tmp_path: Path) -> None:
    loaded = check_export("ga4-jsonl", tmp_path)
    assert loaded.truth.session_counts is not None
    sessions = loaded.funnel("--count", "sessions")
    assert sessions["counting"] == "sessions"
    assert counts(sessions["steps"]) == loaded.truth.session_counts


def test_ga4_bigquery_parquet(tmp_path: Path) -> None:
    loaded = check_export("ga4-parquet", tmp_path)
    assert loaded.truth.session_counts is not None
    sessions = loaded.funnel("--count", "sessions")
    assert counts(sessions["steps"]) == loaded.truth.session_counts
    check_plan_by_person(loaded)  # user_properties.plan -> user.plan


def test_posthog_csv(tmp_path: Path) -> None:
    loaded = check_export("posthog-csv", tmp_path)
    check_plan_by_person(loaded)  # properties.$set.plan on $identify -> plan


def test_posthog_jsonl(tmp_path: Path) -> None:
    check_export("posthog-jsonl", tmp_path)


def test_segment(tmp_path: Path) -> None:
    loaded = check_export("segment", tmp_path)
    truth = loaded.truth
    # people who viewed and carted on one device and bought on another are counted as buyers
    assert truth.cross_device
    buyers = set(loaded.funnel("--people", "3")["people"])
    assert set(truth.cross_device) <= buyers
    assert truth.counts[2] > truth.counts_unstitched[2]
    check_plan_by_person(loaded)  # identify traits -> plan


def test_mixpanel(tmp_path: Path) -> None:
    check_export("mixpanel", tmp_path)


def test_amplitude(tmp_path: Path) -> None:
    check_export("amplitude", tmp_path)


# ------------------------------------------------------------- the generator itself


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Export]:
    root = tmp_path_factory.mktemp("exports")
    written = {}
    for key in LAYOUTS:
        (root / key).mkdir()
        written[key] = write_export(key, root / key)
    return written


def _non_increasing(found: Counts) -> bool:
    return found[0] >= found[1] >= found[2] >= 0


def _sum(groups: dict[str, Counts]) -> Counts:
    return (
        sum(c[0] for c in groups.values()),
        sum(c[1] for c in groups.values()),
        sum(c[2] for c in groups.values()),
    )


@pytest.mark.parametrize("key", list(LAYOUTS))
def test_ground_truth_is_self_consistent(exports: dict[str, Export], key: str) -> None:
    truth, written = exports[key].truth, exports[key].written
    assert len(population().persons) == 3000
    assert 10_000 <= truth.events_loaded <= 18_000
    assert _non_increasing(truth.counts) and truth.counts[2] > 300
    assert _non_increasing(truth.counts_unstitched)
    # stitching joins a person's ids: fewer persons enter, and more of them buy
    assert truth.counts[0] < truth.counts_unstitched[0]
    assert truth.counts[2] > truth.counts_unstitched[2]
    if truth.session_counts is not None:
        assert _non_increasing(truth.session_counts)
        assert truth.session_counts[0] >= truth.counts[0]
    # first touch gives each counted person one value ([B3]); so does the person's plan ([B5])
    assert _sum(truth.by_source) == truth.counts and _sum(truth.by_plan) == truth.counts
    assert NONE in truth.by_source and len(truth.by_source) <= 10  # direct traffic; no "Other"
    assert {"free", "plus", "pro"} <= set(truth.by_plan)
    assert list(truth.reached_last) == sorted(set(truth.reached_last))
    assert len(truth.reached_last) == truth.counts[2]
    assert truth.cross_device and set(truth.cross_device) <= set(truth.reached_last)
    # which of two merged user ids names the person is left open: no such person buys
    merged = {former for former, _ in written.merges} | {user for _, user in written.merges}
    assert not merged & set(truth.reached_last)
    # every record is a loaded event, a planted bad one, a repeat, or no event (an alias)
    aliases = truth.records - truth.events_loaded - len(truth.quarantined) - written.repeated
    assert aliases == len(written.links) + len(written.merges)
    lines = [bad.line for bad in truth.quarantined]
    assert len(set(lines)) == len(lines) >= 3
    assert truth.events_loaded > 2 * len(lines)  # far below half: ingest exits 0


def test_the_identity_rule_decides_the_answer(exports: dict[str, Export]) -> None:
    """A reader that took the last link of a shared device, ignored Segment's alias calls or its
    user-id merge, or PostHog's $identify, would give other numbers."""
    segment, layout = exports["segment"], LAYOUTS["segment"]
    properties = (layout.steps, layout.source_property, layout.plan_property)

    def truth_of(written: Written, *, latest: bool = False) -> Truth:
        return compute_truth("segment", written, *properties, latest=latest)

    truth = segment.truth
    assert truth_of(dataclasses.replace(segment.written, links=[])).counts != truth.counts
    merged = truth_of(dataclasses.replace(segment.written, merges=[]))
    assert (merged.counts, merged.by_source) != (truth.counts, truth.by_source)
    assert truth_of(segment.written, latest=True).counts != truth.counts
    posthog = exports["posthog-jsonl"]
    unlinked = [dataclasses.replace(r, link=None) for r in posthog.written.rows]
    blind = compute_truth(
        "posthog",
        dataclasses.replace(posthog.written, rows=unlinked),
        LAYOUTS["posthog-jsonl"].steps,
        "utm_source",
        "plan",
    )
    assert blind.counts == posthog.truth.counts_unstitched != posthog.truth.counts


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    assert isinstance(value, dict)
    return value


def _event_id(obj: dict[str, Any]) -> object:
    if "messageId" in obj:
        return obj["messageId"]
    if "$insert_id" in obj:
        return obj["$insert_id"]
    if "uuid" in obj:
        return obj["uuid"]
    properties = obj.get("properties")
    return properties.get("$insert_id") if isinstance(properties, dict) else None


NAME_KEYS = {"ga4": "event_name", "posthog": "event", "segment": "event", "mixpanel": "event"}


@pytest.mark.parametrize("key", [k for k, v in LAYOUTS.items() if v.file_name.endswith(".jsonl")])
def test_planted_json_lines_are_bad_and_only_they(exports: dict[str, Export], key: str) -> None:
    export = exports[key]
    lines = export.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == export.truth.records
    bad = {b.line: b.kind for b in export.truth.quarantined}
    ids: list[str] = []
    for number, line in enumerate(lines, start=1):
        obj = _json_or_none(line)
        kind = bad.get(number)
        assert (obj is None) == (kind == "broken line"), (number, line[:200])
        if obj is not None:
            ids.append(str(_event_id(obj)))
        if obj is None or kind is None:
            continue
        layout = export.truth.layout
        if kind == "missing event":
            name = obj.get("event_type") if layout == "amplitude" else obj.get(NAME_KEYS[layout])
            assert not name
        elif kind == "missing person":
            assert obj["user_pseudo_id"] is None and obj["user_id"] is None
    # event ids repeat only where a message was delivered twice (Segment's messageId)
    if export.truth.layout != "ga4":
        assert len(ids) - len(set(ids)) == export.written.repeated


def test_planted_csv_rows_are_bad_and_only_they(exports: dict[str, Export]) -> None:
    export = exports["posthog-csv"]
    with export.path.open(newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    header, body = records[0], records[1:]
    assert len(body) == export.truth.records
    bad = {b.line: b.kind for b in export.truth.quarantined}
    for number, record in enumerate(body, start=2):  # one physical line per record
        kind = bad.get(number)
        if kind == "broken line":
            assert len(record) < len(header)
            continue
        assert len(record) == len(header)
        fields = dict(zip(header, record, strict=True))
        parsed = _json_or_none(fields["properties"])
        assert (parsed is None) == (kind == "broken properties"), number
        assert bool(fields["event"]) == (kind != "missing event"), number


def test_planted_parquet_rows_are_bad_and_only_they(exports: dict[str, Export]) -> None:
    export = exports["ga4-parquet"]
    table = pq.read_table(export.path, columns=["event_name", "event_timestamp", "user_pseudo_id"])
    assert table.num_rows == export.truth.records
    columns = {"missing event": "event_name", "missing time": "event_timestamp"}
    columns["missing person"] = "user_pseudo_id"
    bad = {b.line: b.kind for b in export.truth.quarantined}
    for name in columns.values():
        nulls = [i + 1 for i, v in enumerate(table.column(name).to_pylist()) if v is None]
        assert [bad.get(n) for n in nulls] == [k for k, c in columns.items() if c == name]


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    assert build_population(7, 300).acts == build_population(7, 300).acts
    assert build_population(7, 300).acts != build_population(8, 300).acts
    for key in ("segment", "ga4-parquet", "posthog-csv"):
        first, second = tmp_path / f"{key}-1", tmp_path / f"{key}-2"
        first.mkdir()
        second.mkdir()
        a, b = write_export(key, first, 7, 300), write_export(key, second, 7, 300)
        assert a.path.read_bytes() == b.path.read_bytes()
        assert a.truth == b.truth


@pytest.mark.parametrize("key", ["segment", "ga4-jsonl"])
def test_the_truths_funnel_search_agrees_with_the_engine(
    exports: dict[str, Export], key: str, tmp_path: Path
) -> None:
    """Stitch the truth's rows by the rule here, load them as a plain CSV with mapping flags, and
    funnelscope's engine gives the truth's counts, breakdowns, sessions and people: an end-to-end
    failure above is then the reader's, not the generator's funnel search."""
    export = exports[key]
    truth, written = export.truth, export.written
    identity = Identity(written.rows, written.links, written.merges)
    events = tmp_path / "stitched.csv"
    with events.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["who", "what", "when", "channel", "tier", "visit", "own"])
        for row in written.rows:
            out.writerow(
                [
                    identity.person(row.own_id),
                    row.name,
                    row.time_us,
                    row.source or "",
                    row.plan or "",
                    row.session or "",
                    row.own_id,
                ]
            )
    spec = tmp_path / "checkout.yaml"
    spec.write_text(truth.spec())
    mapping = ["--person-col", "who", "--event-col", "what", "--time-col", "when"]
    mapping += ["--time-unit", "us", "--session-col", "visit", "--no-progress"]

    def funnel(*flags: str, person: str = "who") -> dict[str, Any]:
        flags_in = [*mapping[:1], person, *mapping[2:]]
        args = ["funnel", str(spec), "--events", str(events), *flags_in, "--format", "json"]
        result = run(*args, *flags)
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    assert counts(funnel()["steps"]) == truth.counts
    assert counts(funnel(person="own")["steps"]) == truth.counts_unstitched
    assert values(funnel("--breakdown", "channel")) == truth.by_source
    by_plan = funnel("--breakdown", "tier", "--breakdown-scope", "person")
    assert values(by_plan) == truth.by_plan
    assert funnel("--people", "3")["people"] == list(truth.reached_last)
    if truth.session_counts is not None:
        assert counts(funnel("--count", "sessions")["steps"]) == truth.session_counts
