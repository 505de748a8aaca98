"""The clickhouse engine on chdb against the kernel and a hand-written windowFunnel (issue 18).

Not a test. Run:  .venv/bin/python bench/clickhouse_bench.py --events 10M,50M [--runs 3]
Sizing (docs/scale.md):  .venv/bin/python bench/clickhouse_bench.py --sizing --events 1M,10M,50M

The events are funnel_bench.py's seeded log (generated once into bench/data/), loaded once into
a funnelscope store by `funnelscope ingest` (what the kernel reads) and once into a chdb MergeTree
table in bench/data/chdb-N-seedS/ (the table `ClickHouseSource` creates: person, event_id, event,
ts, p0...; ORDER BY (person, ts, event_id)), filled from the store itself so that both hold the
same event ids, which order events with equal times ([S1]). Load times are printed apart from
the query times and kept next to the data.

Then, for each funnel (4 steps in 1 day: ordered, strict, any, and ordered with a `where` on
`channel`), side by side in one run:

- clickhouse engine: `funnelscope.engines.clickhouse.compile` / `execute` over the chdb table;
- kernel: `run_funnel(funnel, EventStore(store), "kernel")`;
- chdb windowFunnel: `windowFunnel(W)(ts, step conditions...)` per person over the same chdb
  table, written by hand (ordered funnels only: it has no "strict" in our sense and no "any").

Each contender is a whole process (this script with --child), run after one untimed warm-up
(numba's disk cache, chdb's page cache), --runs times, interleaved; the table shows the median of
the time inside the process (the query, or the engine call), the median of the whole process
and its peak RSS (wait4, from funnel_bench's launcher, so the harness does not count). The
clickhouse engine's step counts must equal the kernel's: the table says so per funnel, and the
script exits non-zero when they differ. windowFunnel's counts are shown with their difference.

--ch-settings "max_threads=1,max_bytes_before_external_group_by=2000000000" sets ClickHouse
settings in the chdb session before the engine's and windowFunnel's queries.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funnel_bench import (  # the script's own folder is on sys.path
    DATA_DIR,
    ensure_events,
    ensure_store,
    parse_count,
    run_process,
    short_count,
)
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

STEPS = ("visit", "view_item", "add_to_cart", "checkout")
DAY_US = 86_400 * 1_000_000
WHERE = {"property": "channel", "op": "eq", "value": "paid_search"}
FUNNELS: dict[str, dict[str, Any]] = {
    "ordered": {"name": "ch-ordered", "steps": list(STEPS), "order": "ordered", "window": "1d"},
    "strict": {"name": "ch-strict", "steps": list(STEPS), "order": "strict", "window": "1d"},
    "any": {"name": "ch-any", "steps": list(STEPS), "order": "any", "window": "1d"},
    "where": {
        "name": "ch-where",
        "steps": list(STEPS),
        "order": "ordered",
        "window": "1d",
        "where": [WHERE],
    },
}
CONTENDERS = ("clickhouse", "kernel", "windowfunnel")
LABELS = {
    "clickhouse": "clickhouse engine",
    "kernel": "kernel (store)",
    "windowfunnel": "windowFunnel by hand",
}


# ---------------------------------------------------------------------------------------------
# The chdb table
# ---------------------------------------------------------------------------------------------


def chdb_dir(n: int, seed: int) -> Path:
    return DATA_DIR / f"chdb-{n}-seed{seed}"


def open_chdb(path: Path) -> Any:
    """The process's chdb session on the persistent directory `path`: the session
    `ClickHouseSource` uses (chdb runs one session per process)."""
    from funnelscope.store.clickhouse import connection

    return connection.session(str(path))


def close_chdb() -> None:
    from funnelscope.store.clickhouse import connection

    if connection._SESSION is not None:
        connection._SESSION.close()
        connection._SESSION = None
        connection._SESSION_PATH = None


def ensure_chdb(n: int, seed: int, store: Path, console: Console) -> dict[str, Any]:
    """The chdb table of the store's events (made once; its load figures kept beside it)."""
    import duckdb
    import pyarrow as pa

    from funnelscope.engines.clickhouse import ClickHouseSource
    from funnelscope.store.event_store import EventStore

    path = chdb_dir(n, seed)
    sidecar = path.with_suffix(".load.json")
    if path.exists() and sidecar.exists():
        return dict(json.loads(sidecar.read_text()))
    shutil.rmtree(path, ignore_errors=True)
    export = DATA_DIR / f"chdb-export-{n}-seed{seed}.parquet"
    with EventStore(store, read_only=True) as events:
        columns = events.columns()
        con: duckdb.DuckDBPyConnection = events.duckdb_connection
        props = "".join(f", {sql} AS {name}" for name, (sql, _) in columns.properties.items())
        select = (
            f'SELECT person_id, event_id, event, epoch_us("timestamp") AS ts{props} FROM events'
        )
        empty: pa.Table = con.sql(f"{select} LIMIT 0").to_arrow_table()
        session = open_chdb(path)
        source = ClickHouseSource(empty)  # the engine's own CREATE TABLE, with p0, p1... columns
        # chdb reads a file's columns by the names of the table it inserts into
        named = "".join(
            f", {sql} AS {source.properties[name][0]}"
            for name, (sql, _) in columns.properties.items()
            if name in source.properties
        )
        started = time.perf_counter()
        with console.status(f"exporting the {short_count(n)} store's events to Parquet"):
            con.execute(
                f"COPY (SELECT person_id AS person, event_id, event, "
                f'epoch_us("timestamp") AS ts{named} FROM events) '
                f"TO '{export}' (FORMAT parquet, COMPRESSION zstd)"
            )
        export_s = time.perf_counter() - started
    started = time.perf_counter()
    with console.status(f"INSERT of {short_count(n)} events into chdb MergeTree"):
        session.query(f"INSERT INTO {source.table_name} SELECT * FROM file('{export}', Parquet)")
    insert_s = time.perf_counter() - started
    rows = int(str(session.query(f"SELECT count() FROM {source.table_name}", "CSV")).strip())
    export.unlink()
    close_chdb()  # children open the directory next: one process at a time holds it
    info = {
        "table": source.table_name,
        "properties": source.properties,
        "rows": rows,
        "export_seconds": export_s,
        "insert_seconds": insert_s,
    }
    sidecar.write_text(json.dumps(info))
    console.print(
        f"  chdb table {source.table_name}: {rows:,} rows; export from the store "
        f"{export_s:.1f} s, INSERT into MergeTree {insert_s:.1f} s"
    )
    return info


def connection_path() -> str | None:
    from funnelscope.store.clickhouse import connection

    return connection._SESSION_PATH


def stored_source(info: dict[str, Any]) -> Any:
    """A ClickHouseSource over the table `ensure_chdb` made (not dropped on close), timing each
    query it runs (the engine's SQL apart from the Python that reads its rows)."""
    from funnelscope.engines.clickhouse import ClickHouseSource

    class StoredSource(ClickHouseSource):
        def __init__(self) -> None:  # the table exists: no CREATE, no INSERT
            from funnelscope.store.clickhouse.connection import ChdbConnection, session

            path = connection_path()
            self._connection = ChdbConnection(path, database="default")
            self._owned = False
            self.where = f"chdb:{path}"
            self._events = None
            assert session(path) is not None
            self.table_name = info["table"]
            self.properties = {k: (v[0], v[1]) for k, v in info["properties"].items()}
            self.unloaded = {}
            self._open = True  # not owned: close() leaves the table alone
            self.sql_seconds = self.sql_cpu_seconds = 0.0

        def query(self, sql: str, params: Any = None) -> Any:
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return super().query(sql, params)
            finally:
                self.sql_seconds += time.perf_counter() - started
                self.sql_cpu_seconds += time.process_time() - cpu

    return StoredSource()


def apply_settings(session: Any, settings: str) -> None:
    for item in filter(None, (s.strip() for s in settings.split(","))):
        name, _, value = item.partition("=")
        session.query(f"SET {name.strip()} = {value.strip()}")


def window_funnel_sql(key: str, info: dict[str, Any]) -> str:
    """windowFunnel per person over the chdb table, then persons reaching at least each level."""
    spec = FUNNELS[key]
    also = ""
    if spec.get("where"):
        column = info["properties"][WHERE["property"]][0]
        also = f" AND {column} = '{WHERE['value']}'"
    conditions = ", ".join(f"event = '{step}'{also}" for step in spec["steps"])
    names = ", ".join(f"'{step}'" for step in spec["steps"])
    levels = ", ".join(f"countIf(level >= {k})" for k in range(1, len(spec["steps"]) + 1))
    return (
        f"SELECT {levels} FROM (SELECT person, windowFunnel({DAY_US})(toUInt64(ts), "
        f"{conditions}) AS level FROM {info['table']} WHERE event IN ({names}) GROUP BY person)"
    )


# ---------------------------------------------------------------------------------------------
# One contender in its own process
# ---------------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """Compute one funnel with one contender; print its counts and times as one JSON line."""
    n, key = args.events[0], args.funnel
    out: dict[str, Any] = {}
    if args.child == "kernel":
        from funnelscope.analyses.funnel import run_funnel
        from funnelscope.model.spec import parse_funnel
        from funnelscope.store.event_store import EventStore

        funnel = parse_funnel(FUNNELS[key])
        with EventStore(DATA_DIR / f"store-{n}-seed{args.seed}.duckdb", read_only=True) as store:
            started, cpu = time.perf_counter(), time.process_time()
            result = run_funnel(funnel, store, "kernel", person_ids=False)
            out["seconds"] = time.perf_counter() - started
            out["cpu_seconds"] = time.process_time() - cpu
        out["steps"] = [[s.count, s.avg_seconds_from_previous] for s in result.steps]
    else:
        path = chdb_dir(n, args.seed)
        info = json.loads(path.with_suffix(".load.json").read_text())
        session = open_chdb(path)
        apply_settings(session, args.ch_settings)
        if args.child == "windowfunnel":
            started, cpu = time.perf_counter(), time.process_time()
            text = str(session.query(window_funnel_sql(key, info), "JSONCompact"))
            out["seconds"] = time.perf_counter() - started
            out["cpu_seconds"] = time.process_time() - cpu
            out["steps"] = [[int(c), None] for c in json.loads(text)["data"][0]]
        else:
            from funnelscope.analyses.funnel import summarize
            from funnelscope.engines import clickhouse
            from funnelscope.model.spec import parse_funnel

            funnel = parse_funnel(FUNNELS[key])
            source = stored_source(info)
            started, cpu = time.perf_counter(), time.process_time()
            plan = clickhouse.compile(funnel, source)
            outcomes = clickhouse.execute(plan, source)
            result = summarize(funnel, outcomes)
            out["seconds"] = time.perf_counter() - started
            out["cpu_seconds"] = time.process_time() - cpu
            out["sql_seconds"] = source.sql_seconds
            out["sql_cpu_seconds"] = source.sql_cpu_seconds
            out["steps"] = [[s.count, s.avg_seconds_from_previous] for s in result.steps]
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# The side-by-side run
# ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    contender: str
    funnel: str
    n: int
    cmd: list[str]
    inner: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    sql_cpu: list[float] = field(default_factory=list)
    whole: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    steps: list[list[Any]] | None = None
    error: str | None = None

    @property
    def counts(self) -> list[int] | None:
        return None if self.steps is None else [int(s[0]) for s in self.steps]


def child_cmd(args: argparse.Namespace, contender: str, n: int, key: str) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", contender]
    cmd += ["--events", str(n), "--funnel", key, "--seed", str(args.seed)]
    return cmd + (["--ch-settings", args.ch_settings] if args.ch_settings else [])


def run_rows(
    rows: list[Row], runs: int, timeout: float, console: Console, warmups: int = 1
) -> None:
    """`warmups` untimed runs of each row, then `runs` timed runs, interleaved."""
    total = len(rows) * (runs + warmups)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=total)
        for i in range(-warmups, runs):
            for row in rows:
                what = "warm-up" if i < 0 else f"run {i + 1}/{runs}"
                label = f"{row.funnel} @ {short_count(row.n)}: {LABELS[row.contender]}, {what}"
                progress.update(task, description=label)
                if row.error is None:
                    load = os.getloadavg()[0]
                    outcome = run_process(row.cmd, timeout)
                    if outcome.error is not None:
                        row.error = outcome.error
                        console.print(f"  [red]{label} failed[/]: {outcome.error}")
                    else:
                        got = json.loads(outcome.stdout.strip().splitlines()[-1])
                        if row.steps is not None and got["steps"] != row.steps:
                            row.error = f"results changed between runs: {row.steps}"
                        row.steps = got["steps"]
                        if i >= 0:
                            row.inner.append(got["seconds"])
                            row.cpu.append(got["cpu_seconds"])
                            row.load.append(load)
                            row.sql.append(got.get("sql_seconds", got["seconds"]))
                            row.sql_cpu.append(got.get("sql_cpu_seconds", got["cpu_seconds"]))
                            row.whole.append(outcome.seconds)
                            row.rss.append(outcome.rss)
                            console.print(
                                f"  {label}: {got['seconds']:.2f} s in process "
                                f"({got['cpu_seconds']:.2f} CPU s, load before {load:.1f}), "
                                f"{outcome.seconds:.2f} s whole, {outcome.rss / 2**20:,.0f} MB"
                            )
                progress.advance(task)


def compare(row: Row, kernel: Row | None) -> str:
    if row.contender == "kernel" or kernel is None or kernel.counts is None:
        return ""
    if row.counts is None:
        return ""
    if row.counts == kernel.counts:
        if row.contender == "clickhouse" and row.steps != kernel.steps:
            return "yes (counts; mean times differ)"
        return "yes" + (" (counts and mean times)" if row.contender == "clickhouse" else "")
    diff = [a - b for a, b in zip(row.counts, kernel.counts, strict=True)]
    return f"NO: minus kernel {diff}"


HEADERS = (
    "funnel",
    "contender",
    "events",
    "query s",
    "CPU s",
    "SQL s",
    "process s",
    "peak RSS MB",
    "step counts",
    "= kernel",
)


def table_rows(rows: list[Row]) -> list[list[str]]:
    out = []
    for row in rows:
        kernel = next((r for r in rows if r.funnel == row.funnel and r.contender == "kernel"), None)
        cells = [row.funnel, LABELS[row.contender], short_count(row.n)]
        if row.error is not None or not row.inner:
            out.append([*cells, "failed", "", "", "", "", str(row.error), ""])
            continue
        sql = f"{statistics.median(row.sql):.2f}" if row.contender == "clickhouse" else ""
        counts = ", ".join(f"{c:,}" for c in row.counts or [])
        out.append(
            [
                *cells,
                f"{statistics.median(row.inner):.2f}",
                f"{statistics.median(row.cpu):.2f}",
                sql,
                f"{statistics.median(row.whole):.2f}",
                f"{max(row.rss) / 2**20:,.0f}",
                counts,
                compare(row, kernel),
            ]
        )
    return out


def print_rows(rows: list[Row], title: str, console: Console, markdown: bool) -> None:
    body = table_rows(rows)
    if markdown:
        print(f"\n**{title}**\n")
        print("| " + " | ".join(HEADERS) + " |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for cells in body:
            print("| " + " | ".join(cells) + " |")
        return
    table = Table(title=title)
    for header in HEADERS:
        left = header in ("funnel", "contender", "= kernel")
        table.add_column(header, justify="left" if left else "right")
    for cells in body:
        table.add_row(*cells)
    console.print(table)


def prepare(n: int, seed: int, console: Console, timeout: float) -> dict[str, Any]:
    """The log, the store and the chdb table for `n` events; prints what loading them cost."""
    path, note = ensure_events(n, seed, console)
    console.print(note)
    store = ensure_store(path, n, seed, console, timeout)
    if store.error is not None:
        raise SystemExit(f"the store could not be loaded: {store.error}")
    console.print(
        f"  store ({short_count(n)}): funnelscope ingest {store.seconds:.1f} s, "
        f"peak RSS {store.rss_mb:,.0f} MB {store.note}"
    )
    info = ensure_chdb(n, seed, store.path, console)
    console.print(
        f"  chdb ({short_count(n)}): {info['rows']:,} rows, export from the store "
        f"{info['export_seconds']:.1f} s, INSERT into MergeTree {info['insert_seconds']:.1f} s"
    )
    return info


def bench(args: argparse.Namespace, console: Console) -> int:
    failures = 0
    for n in args.events:
        prepare(n, args.seed, console, args.timeout)
        rows = []
        for key in args.funnel_keys:
            for contender in args.contender_keys:
                if contender == "windowfunnel" and FUNNELS[key]["order"] != "ordered":
                    continue
                rows.append(Row(contender, key, n, child_cmd(args, contender, n, key)))
        run_rows(rows, args.runs, args.timeout, console, args.warmups)
        settings = f", ClickHouse settings: {args.ch_settings}" if args.ch_settings else ""
        loads = [x for row in rows for x in row.load]
        title = (
            f"{short_count(n)} events, 4 steps in 1 day, median of {args.runs} "
            f"after {args.warmups} warm-up(s) "
            f"(query s: inside the process; process s: the whole process){settings}; "
            f"load average before a run {min(loads, default=0):.1f}-{max(loads, default=0):.1f}"
        )
        print_rows(rows, title, console, args.markdown)
        for row in rows:
            kernel = next(r for r in rows if r.funnel == row.funnel and r.contender == "kernel")
            if row.contender == "clickhouse" and (
                row.counts is None or row.counts != kernel.counts
            ):
                failures += 1
                console.print(f"[bold red]clickhouse engine != kernel[/] on {row.funnel}")
    return failures


# ---------------------------------------------------------------------------------------------
# Sizing (docs/scale.md)
# ---------------------------------------------------------------------------------------------

IDLE = "import sys; sys.path.insert(0, sys.argv[1]); import clickhouse_bench as b; " \
    "b.open_chdb(b.Path(sys.argv[2])).query('SELECT 1')"  # fmt: skip


def sizing(args: argparse.Namespace, console: Console) -> None:
    """Per size: bytes on disk per event, the engine query's events/s on 1 and 2 threads, and
    its memory above an idle chdb process, per million persons."""
    out = []
    for n in args.events:
        info = prepare(n, args.seed, console, args.timeout)
        session = open_chdb(chdb_dir(n, args.seed))  # only this parent reads it; children wait
        stats = str(
            session.query(
                "SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes), "
                f"count() FROM system.parts WHERE active AND table = '{info['table']}'",
                "CSV",
            )
        ).strip()
        rows, packed, raw, parts = (int(x) for x in stats.split(","))
        persons = int(
            str(session.query(f"SELECT uniqExact(person) FROM {info['table']}", "CSV")).strip()
        )
        by_column = str(
            session.query(
                "SELECT name, data_compressed_bytes FROM system.columns "
                f"WHERE table = '{info['table']}' ORDER BY name",
                "CSV",
            )
        ).strip()
        close_chdb()
        idle = run_process(
            [sys.executable, "-c", IDLE, str(Path(__file__).parent), str(chdb_dir(n, args.seed))],
            args.timeout,
        )
        per_thread = {}
        for threads in (1, 2):
            sub = argparse.Namespace(**vars(args))
            sub.ch_settings = ",".join(filter(None, [f"max_threads={threads}", args.ch_settings]))
            row = Row("clickhouse", args.funnel_keys[0], n, child_cmd(sub, "clickhouse", n, "x"))
            row.cmd[row.cmd.index("--funnel") + 1] = args.funnel_keys[0]
            run_rows([row], args.runs, args.timeout, console, args.warmups)
            per_thread[threads] = row
        one, two = per_thread[1], per_thread[2]

        def median(values: list[float]) -> float:
            return statistics.median(values) if values else float("nan")

        cpu1 = median(one.sql_cpu)
        peak = max(two.rss) if two.rss else 0
        above = (peak - idle.rss) / 2**20
        out.append(
            [
                short_count(n),
                f"{persons:,}",
                f"{parts}",
                f"{packed / rows:.1f}",
                f"{raw / rows:.1f}",
                f"{median(one.sql):.2f}",
                f"{cpu1:.2f}",
                f"{rows / cpu1 / 1e6:.2f}",
                f"{median(two.sql):.2f}",
                f"{median(two.sql_cpu):.2f}",
                f"{peak / 2**20:,.0f}",
                f"{idle.rss / 2**20:,.0f}",
                f"{above / (persons / 1e6):,.0f}",
            ]
        )
        console.print(
            f"  compressed bytes by column ({short_count(n)}): " + by_column.replace("\n", "; ")
        )
    headers = (
        "events",
        "persons",
        "parts",
        "bytes/event on disk",
        "bytes/event raw",
        "SQL s, 1 thread",
        "SQL CPU s, 1 thread",
        "M events per CPU s",
        "SQL s, 2 threads",
        "SQL CPU s, 2 threads",
        "peak RSS MB (2 threads)",
        "idle chdb RSS MB",
        "MB above idle per M persons",
    )
    title = f"Sizing: the clickhouse engine, funnel {args.funnel_keys[0]}, median of {args.runs}"
    if args.markdown:
        print(f"\n**{title}**\n")
        print("| " + " | ".join(headers) + " |")
        print("| --- |" + " ---: |" * (len(headers) - 1))
        for cells in out:
            print("| " + " | ".join(cells) + " |")
        return
    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="right")
    for cells in out:
        table.add_row(*cells)
    console.print(table)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", default="10M,50M", help="sizes, e.g. 10M,50M (default)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per contender")
    parser.add_argument("--warmups", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--funnels", default=",".join(FUNNELS), help=f"any of {','.join(FUNNELS)} (default all)"
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"any of {','.join(CONTENDERS)} (default all)",
    )
    parser.add_argument("--ch-settings", default="", help="ClickHouse settings: name=value,...")
    parser.add_argument("--sizing", action="store_true", help="the sizing table of docs/scale.md")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per process")
    parser.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--funnel", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.events = [parse_count(x) for x in args.events.split(",") if x.strip()]
    args.funnel_keys = [k.strip() for k in args.funnels.split(",") if k.strip()]
    args.contender_keys = [k.strip() for k in args.contenders.split(",") if k.strip()]
    unknown = set(args.funnel_keys) - set(FUNNELS) | set(args.contender_keys) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown funnels or contenders: {sorted(unknown)}")
    if "kernel" not in args.contender_keys and not args.sizing and not args.child:
        parser.error("the kernel is the reference for the counts: keep it in --contenders")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    console = Console(width=max(160, Console().width), stderr=args.markdown)
    if args.sizing:
        sizing(args, console)
        return
    failures = bench(args, console)
    if failures:
        raise SystemExit(f"{failures} funnel(s): the clickhouse engine's counts != the kernel's")


if __name__ == "__main__":
    main()
