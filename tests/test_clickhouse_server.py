"""A ClickHouse server through clickhouse-connect: the URL, the parameters, ingest and funnels.

The server is tests/clickhouse_http.py: ClickHouse's HTTP interface served by this process's
embedded chdb (a real ClickHouse engine), not clickhouse-server, which these machines do not
have in a modern version. clickhouse-connect talks real HTTP to it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("chdb")
pytest.importorskip("clickhouse_connect")

from funnelscope.app.events import LoadOptions, ingest_files, list_quarantine
from funnelscope.app.funnels import EventInput, compute_funnel, explain_funnel
from funnelscope.app.timing import TimingRequest, compute_timed_funnel
from funnelscope.errors import EngineError, FunnelscopeError, IngestError
from funnelscope.model.spec import Funnel
from funnelscope.store.clickhouse import ClickHouseStore, param_text, parse_url
from funnelscope.store.clickhouse.connection import (
    ClickHouseError,
    connect,
)

from clickhouse_http import ChdbHttpServer

PASSWORD = "pa:ss@w/rd'\\"  # characters a URL and SQL both care about
HOSTILE = [
    "'); DROP TABLE events; --",
    "it's",
    'say "hi"',
    "back\\slash",
    "ends with \\",
    "tab\tand\nnewline\r",
    "nul\0",
    "\\N",
    "{v:String}",
    "ünïcödé",
    "",
]
ROWS = [  # person, event, time, plan (a hostile value), amount
    ("u1", "signup", "2024-01-01T10:00:00Z", "pro", "10"),
    ("u1", "'); DROP TABLE events; --", "2024-01-01T10:30:00Z", "it's \\ odd", "11"),
    ("u1", "purchase", "2024-01-01T11:00:00Z", "pro", "20"),
    ("u2", "signup", "2024-01-01T10:00:00Z", "free", "5"),
    ("u2", "purchase", "not-a-time", "free", "7"),  # line 6: bad time
    ("", "signup", "2024-01-01T10:00:00Z", "free", "1"),  # line 7: no person
    ("u3", "signup", "2024-01-02T10:00:00Z", "it's \\ odd", "3"),
    ("u3", "'); DROP TABLE events; --", "2024-01-02T10:05:00Z", "pro", "4"),
    ("u3", "purchase", "2024-01-02T12:00:00Z", "it's \\ odd", "4"),
    ("u4", "signup", "2024-01-03T09:00:00Z", "pro", "oops"),
    ("u4", "signup", "2024-01-03T20:00:00Z", "pro", "2"),
    ("u4", "purchase", "2024-01-05T09:00:00Z", "pro", "2"),
]


def write_csv(path: Path) -> Path:
    lines = ["person_id,event,timestamp,plan,amount"]
    for row in ROWS:
        lines.append(",".join('"' + v.replace('"', '""') + '"' if v else "" for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[ChdbHttpServer]:
    shim = ChdbHttpServer(user="analyst", password=PASSWORD).start()
    try:
        yield shim
    finally:
        shim.stop()


@pytest.fixture
def url(
    server: ChdbHttpServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """A fresh database on the shim, the password from the environment."""
    monkeypatch.setenv("FUNNELSCOPE_CLICKHOUSE_PASSWORD", PASSWORD)
    name = "t_" + request.node.name.replace("[", "_").replace("]", "_").replace("-", "_")[:40]
    return f"clickhouse://analyst@127.0.0.1:{server.port}/{name}?max_threads=2"


# ----------------------------------------------------------------- the URL


def test_a_url_names_host_port_database_user_and_settings() -> None:
    a = parse_url(
        "clickhouse://bob:s%40cret@ch.example.com:9440/shop?secure=true&verify=false"
        "&ca_cert=/etc/ca.pem&max_threads=4&join_use_nulls=1",
        environ={},
    )
    assert (a.host, a.port, a.database, a.username, a.password) == (
        "ch.example.com",
        9440,
        "shop",
        "bob",
        "s@cret",
    )
    assert (a.secure, a.verify, a.ca_cert) == (True, False, "/etc/ca.pem")
    assert a.settings == (("max_threads", "4"), ("join_use_nulls", "1"))
    assert str(a) == "clickhouses://bob@ch.example.com:9440/shop"


def test_clickhouses_means_tls_on_8443_and_defaults_fill_the_rest() -> None:
    a = parse_url("clickhouses://ch.example.com", environ={})
    assert (a.secure, a.verify, a.port, a.database, a.username, a.password) == (
        True,
        True,
        8443,
        "funnelscope",
        "default",
        "",
    )
    b = parse_url("clickhouse://ch.example.com/x", environ={})
    assert (b.secure, b.port) == (False, 8123)


def test_the_password_comes_from_the_environment_and_the_url_wins() -> None:
    env = {"FUNNELSCOPE_CLICKHOUSE_PASSWORD": "from-env"}
    assert parse_url("clickhouse://u@h/db", environ=env).password == "from-env"
    assert parse_url("clickhouse://u:inline@h/db", environ=env).password == "inline"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("clickhouse://u:hunter2@h:99999/db", "out of range"),
        ("clickhouse://u:hunter2@h:port/db", "port"),
        ("clickhouse://u:hunter2@/db", "names no host"),
        ("clickhouse://u:hunter2@h/my-db", "not a plain name"),
        ("clickhouse://u:hunter2@h/db?secure=maybe", "secure='maybe' is not true or false"),
        ("clickhouse://u:hunter2@h/db?a%20b=1", "not a ClickHouse setting name"),
        ("clickhouse://u:hunter2@h/db?connect_timeout=soon", "whole number of seconds"),
    ],
)
def test_a_bad_url_is_named_without_its_password(url: str, problem: str) -> None:
    with pytest.raises(ClickHouseError, match=problem) as caught:
        parse_url(url, environ={})
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_wrong_password_is_refused_without_showing_it(server: ChdbHttpServer) -> None:
    with pytest.raises(ClickHouseError, match="cannot connect") as caught:
        connect(f"clickhouse://analyst:wrong-secret@127.0.0.1:{server.port}/x")
    assert "wrong-secret" not in str(caught.value)
    assert "Authentication failed" in str(caught.value)


def test_an_unreachable_server_is_named_without_its_password() -> None:
    with pytest.raises(ClickHouseError, match="cannot connect") as caught:
        connect("clickhouse://analyst:hunter2@127.0.0.1:9/x?connect_timeout=1")
    assert "hunter2" not in str(caught.value)
    assert "clickhouse://analyst@127.0.0.1:9/x" in str(caught.value)


def test_settings_of_the_url_reach_the_server(server: ChdbHttpServer, url: str) -> None:
    conn = connect(url)
    got = conn.query("SELECT getSetting('max_threads') AS m")
    assert got.column("m").to_pylist() == [2]
    assert server.requests[-1].settings["max_threads"] == "2"
    assert server.requests[-1].user == "analyst"


# ----------------------------------------------------------------- parameters are data


@pytest.mark.parametrize("value", HOSTILE)
def test_a_parameter_arrives_as_the_same_escaped_text_and_value(
    server: ChdbHttpServer, url: str, value: str
) -> None:
    conn = connect(url)
    got = conn.query("SELECT {v:String} AS v", {"v": param_text(value)})
    assert got.column("v").to_pylist() == [value]
    sent = server.requests[-1]
    assert sent.params == {"v": param_text(value)}  # a separate field, never SQL text
    assert value == "" or "DROP" not in sent.sql


def test_a_long_parameter_list_goes_as_form_fields(server: ChdbHttpServer, url: str) -> None:
    """Beyond 4 kB of parameters clickhouse-connect sends a multipart form; same values."""
    conn = connect(url)
    values = [f"v{n}'\\{n}" for n in range(600)]
    params = {f"p{n}": param_text(v) for n, v in enumerate(values)}
    listed = ", ".join(f"{{p{n}:String}}" for n in range(len(values)))
    got = conn.query(f"SELECT [{listed}] AS vs", params)
    assert got.column("vs").to_pylist() == [values]
    assert server.requests[-1].form


# ----------------------------------------------------------------- ingest and funnels


def test_ingest_stores_the_good_rows_and_quarantines_the_bad_with_file_line_and_field(
    tmp_path: Path, url: str
) -> None:
    csv = write_csv(tmp_path / "events.csv")
    result = ingest_files(url, [str(csv)], LoadOptions())
    (load,) = result.files
    assert load.error is None and load.report is not None
    assert (load.report.rows_read, load.report.rows_loaded, load.report.rows_quarantined) == (
        12,
        10,
        2,
    )
    assert result.events_in_store == 10
    listed = list_quarantine(url)
    assert listed.total == 2
    assert [(r.source, r.line) for r in listed.rows] == [(str(csv), 6), (str(csv), 7)]
    assert "'timestamp'" in listed.rows[0].reason and "not-a-time" in listed.rows[0].reason
    assert "person_id" in listed.rows[1].reason
    with ClickHouseStore(url) as store:
        assert store.event_counts() == {"'); DROP TABLE events; --": 2, "purchase": 3, "signup": 5}
        # amount has "oops" on one row: a text property, as the DuckDB store makes it
        assert store.property_types() == {"amount": "VARCHAR", "plan": "VARCHAR"}


def test_ingesting_again_adds_nothing_even_in_a_second_run(tmp_path: Path, url: str) -> None:
    csv = write_csv(tmp_path / "events.csv")
    first = ingest_files(url, [str(csv)], LoadOptions())
    second = ingest_files(url, [str(csv), str(csv)], LoadOptions())
    assert first.events_in_store == second.events_in_store == 10
    assert [f.report.rows_loaded for f in second.files if f.report] == [0, 0]
    assert second.files[0].report is not None
    assert second.files[0].report.duplicates_skipped == 10
    assert list_quarantine(url).total == 2


def test_a_given_id_stored_for_another_event_is_quarantined(tmp_path: Path, url: str) -> None:
    a = tmp_path / "a.csv"
    a.write_text("id,person_id,event,timestamp\ne1,u1,signup,2024-01-01T10:00:00Z\n")
    b = tmp_path / "b.csv"
    b.write_text(
        "id,person_id,event,timestamp\ne1,u9,signup,2024-01-01T10:00:00Z\n"
        "e2,u9,purchase,2024-01-01T11:00:00Z\n"
    )
    ingest_files(url, [str(a)], LoadOptions())
    result = ingest_files(url, [str(b)], LoadOptions())
    report = result.files[0].report
    assert report is not None
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    assert result.events_in_store == 2
    (row,) = list_quarantine(url, source=str(b)).rows
    assert "event_id 'e1' is already used by a different event" in row.reason
    assert json.loads(row.raw)["person"] == "u9"


SPECS = [
    {"steps": ["signup", "purchase"], "window": "1d"},
    {"steps": ["signup", "'); DROP TABLE events; --", "purchase"], "window": "1d"},
    {"steps": ["signup", "purchase"], "window": "1d", "order": "strict"},
    {"steps": ["signup", "purchase"], "window": "3d", "order": "any"},
    {
        "steps": ["signup", "purchase"],
        "window": "1d",
        "where": [{"property": "plan", "op": "eq", "value": "it's \\ odd"}],
    },
    {"steps": ["signup", "purchase"], "window": "3d", "count": "sessions", "session_gap": "2h"},
]


@pytest.mark.parametrize("spec", SPECS, ids=range(len(SPECS)))
def test_a_funnel_on_the_server_equals_the_kernel_on_a_duckdb_store(
    tmp_path: Path, url: str, spec: dict[str, object]
) -> None:
    csv = write_csv(tmp_path / "events.csv")
    duck = str(tmp_path / "store.duckdb")
    ingest_files(duck, [str(csv)], LoadOptions())
    ingest_files(url, [str(csv)], LoadOptions())
    funnel = Funnel.from_dict(spec)
    expected = compute_funnel(funnel, EventInput(duck), "kernel", people_step=2)
    got = compute_funnel(funnel, EventInput(url), None, people_step=2)
    assert [s.count for s in got.result.steps] == [s.count for s in expected.result.steps]
    assert got.people == expected.people
    assert got.where.startswith("the ClickHouse store clickhouse://analyst@127.0.0.1:")


def test_exact_counts_of_the_plain_funnel(tmp_path: Path, url: str) -> None:
    ingest_files(url, [str(write_csv(tmp_path / "events.csv"))], LoadOptions())
    run = compute_funnel(Funnel.from_dict(SPECS[0]), EventInput(url), None)
    assert [s.count for s in run.result.steps] == [4, 2]  # u2 never buys, u4 2 days late


def test_another_engine_is_refused_for_a_clickhouse_store(tmp_path: Path, url: str) -> None:
    ingest_files(url, [str(write_csv(tmp_path / "events.csv"))], LoadOptions())
    with pytest.raises(EngineError, match="leave --engine out") as caught:
        compute_funnel(Funnel.from_dict(SPECS[0]), EventInput(url), "kernel")
    assert PASSWORD not in str(caught.value)


def test_a_store_never_loaded_says_how_to_load_it(url: str) -> None:
    with pytest.raises(FunnelscopeError, match="funnelscope ingest FILES --db"):
        compute_funnel(Funnel.from_dict(SPECS[0]), EventInput(url), None)


def test_explain_shows_the_sql_with_names_as_parameters_and_no_password(
    tmp_path: Path, url: str
) -> None:
    ingest_files(url, [str(write_csv(tmp_path / "events.csv"))], LoadOptions())
    explained = explain_funnel(Funnel.from_dict(SPECS[1]), EventInput(url), None)
    assert explained.plan.startswith("engine: clickhouse")
    assert 'e1 = "\'); DROP TABLE events; --"' in explained.plan
    sql = explained.plan.split("sql:", 1)[1].split("ClickHouse's plan:", 1)[0]
    assert "DROP TABLE" not in sql and "{e1:String}" in sql
    # ClickHouse's own EXPLAIN shows the plan with the parameter substituted, as a string
    assert "ReadFromMergeTree" in explained.plan.split("ClickHouse's plan:", 1)[1]
    assert PASSWORD not in explained.plan + explained.where


def test_quarantine_of_one_file_and_its_count(tmp_path: Path, url: str) -> None:
    csv = write_csv(tmp_path / "events.csv")
    clean = tmp_path / "clean.csv"
    clean.write_text("person_id,event,timestamp\nu9,signup,2024-01-01T10:00:00Z\n")
    ingest_files(url, [str(csv), str(clean)], LoadOptions())
    assert list_quarantine(url, source=str(csv), limit=1).total == 2
    assert [r.line for r in list_quarantine(url, source=str(csv), limit=1).rows] == [6]
    assert list_quarantine(url, source=str(clean)).total == 0
    with pytest.raises(FunnelscopeError, match="--older-than is not offered"):
        list_quarantine(url, older_than=60)


def test_replace_is_refused_before_anything_is_loaded(tmp_path: Path, url: str) -> None:
    csv = write_csv(tmp_path / "events.csv")
    with pytest.raises(IngestError, match="--replace: is not supported for a ClickHouse store"):
        ingest_files(url, [str(csv)], LoadOptions(replace=True))
    with pytest.raises(FunnelscopeError, match="no funnelscope events here yet"):
        compute_funnel(Funnel.from_dict(SPECS[0]), EventInput(url), None)


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[3], SPECS[5]], ids=["ordered", "any", "sessions"])
def test_time_to_convert_and_the_trend_on_the_server_equal_the_kernels(
    tmp_path: Path, url: str, spec: dict[str, object]
) -> None:
    """Step times leave the server exactly: the whole JSON (steps, their times, the time to
    convert histogram and the weekly trend with its data end) equals the kernel's."""
    csv = write_csv(tmp_path / "events.csv")
    duck = str(tmp_path / "store.duckdb")
    ingest_files(duck, [str(csv)], LoadOptions())
    ingest_files(url, [str(csv)], LoadOptions())
    funnel = Funnel.from_dict(spec)
    request = TimingRequest(time_to_convert=True, trend="week")
    expected = compute_timed_funnel(funnel, EventInput(duck), request, "kernel")
    got = compute_timed_funnel(funnel, EventInput(url), request, None)
    assert got.to_dict() == expected.to_dict()
    assert got.trend is not None and got.time_to_convert is not None
    assert got.run.where.startswith("the ClickHouse store clickhouse://analyst@127.0.0.1:")
