"""Funnel benchmark: funnelscope's engines vs ClickHouse (chdb) windowFunnel and DuckDB ASOF SQL.

Not a test. Run:  .venv/bin/python bench/funnel_bench.py --events 10M

What it measures: a seeded synthetic event log (Parquet, written in global time order like an
ingester writes it: ~N/10 persons with a geometric number of events, sessions, 20 event names of
which 5 are funnel steps, whole-second times over ~30 days, `channel` and `price` properties) is
generated once and cached in bench/data/. Three funnels run on it: 5 ordered steps in 7 days, the
same 5 steps repeated 4 times (20 steps: same rows read, so it isolates the cost of steps), and
the 5 steps with a `where` filter. Every contender runs as a whole separate process, `--runs`
times, and the table shows the median wall time, the peak RSS of that process (max over runs) and
the ratio to chdb's median:

- funnelscope (ENGINE): `funnelscope funnel SPEC --events FILE --engine ENGINE --format json`;
- chdb windowFunnel: `windowFunnel(W)(ts, step conditions...)` per person, then levels -> counts;
- DuckDB ASOF SQL: for each step-1 event, an ASOF JOIN chain to the earliest next step at or after
  the previous one, within entry + W (inclusive); persons reaching step k = distinct persons whose
  chain got to stage k;
- funnelscope reference on a 1M-event sample (same generator and seed; pure Python, so only
  there), next to the other contenders on that same sample;
- funnelscope from the store: `funnelscope ingest` into a cached DuckDB store (timed once), then
  `funnelscope funnel SPEC --db STORE`.

Peak RSS comes from wait4 in a minimal launcher process, because Linux starts a child's ru_maxrss
at its parent's RSS (the harness holds the generated arrays for a while). Useful flags: --runs,
--funnels 5,20,where, --contenders kernel,chdb,duckdb,reference,store, --engine reference,
--skip-store, --chdb-mode strict_once, --funnelscope CMD (another funnelscope build), --markdown.

All contenders of one funnel and size must report the same "persons reaching at least step k"
counts: an AGREE/DIFFER line per funnel says whether they do. The DuckDB SQL for funnels that repeat
an event name breaks ties by file row and assumes whole-second times (the generator's).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.status import Status
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
BIN_DIR = Path(sys.executable).parent

STEPS = ("visit", "view_item", "add_to_cart", "checkout", "purchase")
# fmt: off
OTHER_EVENTS = (
    "page_view", "search", "scroll", "click", "view_cart", "login", "add_to_wishlist",
    "remove_from_cart", "apply_coupon", "share", "review", "signup", "newsletter_signup",
    "contact_support", "logout",
)
# fmt: on
EVENT_NAMES = STEPS + OTHER_EVENTS
CHANNELS = ("organic_search", "paid_search", "direct", "email", "social", "referral")
CHANNEL_WEIGHTS = (0.30, 0.22, 0.20, 0.12, 0.10, 0.06)
START_EPOCH = 1_709_251_200  # 2024-03-01 00:00:00 UTC
DAY = 86_400
ROW_GROUP = 1_000_000
WINDOW_7D = 7 * DAY
TIE_KEY = 2**30  # DuckDB SQL tie-break key: epoch seconds * 2^30 + file row number


# ---------------------------------------------------------------------------------------------
# Synthetic event log
# ---------------------------------------------------------------------------------------------


def parse_count(text: str) -> int:
    """`10M`, `1.5M`, `500k`, `2G` or a plain integer (underscores allowed)."""
    match = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([kKmMgG]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count like 10M, 500k or 1000000")
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[match.group(2).lower()]
    value = int(float(match.group(1).replace("_", "")) * scale)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def short_count(n: int) -> str:
    """10000000 -> 10M, 1500000 -> 1.5M."""
    for scale, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= scale:
            return f"{n / scale:g}{suffix}"
    return str(n)


def events_path(n: int, seed: int) -> Path:
    return DATA_DIR / f"events-{n}-seed{seed}.parquet"


def _distinct_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` distinct int64 ids drawn at random from [1e11, 1e12), in random order."""
    ids = np.empty(0, dtype=np.int64)
    while ids.size < count:
        more = rng.integers(10**11, 10**12, int(count * 1.01) + 16, dtype=np.int64)
        ids = np.unique(np.concatenate([ids, more]))
    return rng.permutation(ids)[:count]


def _funnel_events(
    rng: np.random.Generator, counts: np.ndarray, starts: np.ndarray, n: int
) -> np.ndarray:
    """Event codes (index into EVENT_NAMES) for rows laid out person by person.

    `counts` is sorted descending, so the persons still active at position `pos` are a prefix.
    About 25% of rows are funnel steps; each person walks the funnel: mostly the next step, now
    and then a repeat of the current step or a fresh visit, sometimes a random (out of order) step.
    """
    persons = counts.size
    other_p = 1.0 / np.arange(1, len(OTHER_EVENTS) + 1) ** 0.8
    codes = (len(STEPS) + rng.choice(len(OTHER_EVENTS), n, p=other_p / other_p.sum())).astype(
        np.int8
    )
    step_rate = rng.beta(1.5, 4.5, persons)  # mean 0.25 of a person's rows are steps
    keep_going = rng.beta(4.0, 3.0, persons)  # chance the next step row advances the funnel
    state = np.zeros(persons, dtype=np.int8)  # steps done in order in the current walk (0..5)
    active = counts.size
    neg_counts = -counts
    for pos in range(int(counts[0])):
        active = int(np.searchsorted(neg_counts, -pos, side="left"))
        rows = starts[:active] + pos
        is_step = rng.random(active) < step_rate[:active]
        who = np.flatnonzero(is_step)
        if who.size == 0:
            continue
        cur = state[who]
        roll = rng.random(who.size)
        advance = (roll < keep_going[who]) | (cur == 0)
        nxt = np.where(cur >= len(STEPS), 1, cur + 1)  # after a purchase, a new visit
        restart = ~advance & (rng.random(who.size) < 0.4)
        step = np.where(advance, nxt, np.where(restart, 1, np.maximum(cur, 1))).astype(np.int8)
        new_state = np.where(advance | restart, step, cur).astype(np.int8)
        stray = rng.random(who.size) < 0.08  # out of order: any step, the walk is unchanged
        step = np.where(stray, rng.integers(1, len(STEPS) + 1, who.size), step).astype(np.int8)
        new_state = np.where(stray, cur, new_state).astype(np.int8)
        state[who] = new_state
        codes[rows[who]] = step - 1
    return codes


def generate_events(n: int, seed: int, path: Path, status: Status | None = None) -> None:
    """Write the seeded synthetic log of `n` events to `path` (see the module docstring)."""

    def say(text: str) -> None:
        if status is not None:
            status.update(f"[bold]generating {short_count(n)} events[/]: {text}")

    rng = np.random.default_rng(seed)
    say("persons")
    counts = rng.geometric(0.1, int(n / 10 * 1.1) + 64).astype(np.int64)  # mean 10 events
    total = np.cumsum(counts)
    persons = int(np.searchsorted(total, n)) + 1
    counts = counts[:persons]
    counts[-1] = n - (int(total[persons - 2]) if persons > 1 else 0)
    counts = np.sort(counts)[::-1].copy()
    starts = np.zeros(persons, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    person_of_row = np.repeat(np.arange(persons, dtype=np.int32), counts)
    first_row = np.zeros(n, dtype=bool)
    first_row[starts] = True

    say("sessions and times")
    new_session = first_row | (rng.random(n) < 0.22)
    session_of_row = np.cumsum(new_session, dtype=np.int64) - 1
    sessions = int(session_of_row[-1]) + 1
    session_ids = 10**10 + rng.permutation(sessions).astype(np.int64)
    session_channel = rng.choice(len(CHANNELS), sessions, p=CHANNEL_WEIGHTS).astype(np.int8)
    del new_session
    gap = np.floor(rng.exponential(45.0, n)).astype(np.int64)  # seconds inside a session
    gap[rng.random(n) < 0.05] = 0  # bursts: several events in the same second
    between = np.flatnonzero(np.diff(session_of_row, prepend=-1) == 1)
    gap[between] = np.floor(rng.exponential(1.5 * DAY, between.size)).astype(np.int64)
    gap[starts] = 0
    del between
    offset = np.cumsum(gap)
    del gap
    offset -= np.repeat(offset[starts], counts)
    ends = np.append(starts[1:], n) - 1
    span = offset[ends]  # a person's first to last event; squeeze the long ones into 25 days
    squeeze = np.minimum(1.0, 25 * DAY / np.maximum(span, 1))
    offset = np.floor(offset * np.repeat(squeeze, counts)).astype(np.int64)
    span = offset[ends]
    person_start = START_EPOCH + (rng.random(persons) * (30 * DAY - span)).astype(np.int64)
    del ends, span, squeeze
    ts = person_start[person_of_row] + offset
    del offset, person_start, first_row

    say("funnel walks")
    codes = _funnel_events(rng, counts, starts, n)
    person_ids = _distinct_ids(rng, persons)

    say("sorting by time")
    order = np.argsort(ts, kind="stable")

    names = pa.array(EVENT_NAMES, pa.string())
    channels = pa.array(CHANNELS, pa.string())
    schema = pa.schema(
        [
            ("person_id", pa.int64()),
            ("event", pa.string()),
            ("timestamp", pa.timestamp("us")),
            ("session_id", pa.int64()),
            ("channel", pa.string()),
            ("price", pa.float64()),
        ]
    )
    tmp = path.with_suffix(".parquet.tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for lo in range(0, n, ROW_GROUP):
            say(f"writing rows {lo:,}..{min(n, lo + ROW_GROUP):,}")
            idx = order[lo : lo + ROW_GROUP]
            sess = session_of_row[idx]
            price = np.round(rng.lognormal(3.2, 0.9, idx.size), 2)
            chunk = pa.table(
                [
                    pa.array(person_ids[person_of_row[idx]]),
                    names.take(pa.array(codes[idx])),
                    pa.array(ts[idx] * 1_000_000, pa.timestamp("us")),
                    pa.array(session_ids[sess]),
                    channels.take(pa.array(session_channel[sess])),
                    pa.array(price),
                ],
                schema=schema,
            )
            writer.write_table(chunk, row_group_size=ROW_GROUP)
    tmp.replace(path)


def ensure_events(n: int, seed: int, console: Console) -> tuple[Path, str]:
    """The cached log for (n, seed), generated if missing; and a line saying what it cost."""
    path = events_path(n, seed)
    if path.exists():
        return path, f"{path.name}: cached ({path.stat().st_size / 2**20:,.0f} MB)"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with console.status(f"generating {short_count(n)} events") as status:
        generate_events(n, seed, path, status)
    took = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    return path, (
        f"{path.name}: generated in {took:.1f} s, harness peak RSS {peak:,.0f} MB, "
        f"{path.stat().st_size / 2**20:,.0f} MB on disk"
    )


# ---------------------------------------------------------------------------------------------
# Funnels and the programs that compute them
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    key: str
    name: str
    steps: tuple[str, ...]
    window_seconds: int = WINDOW_7D
    where: tuple[tuple[str, str, str | float], ...] = ()  # (property, op, value); eq or gt


FUNNELS = {
    "5": Funnel("5", "bench-5", STEPS),
    "20": Funnel("20", "bench-20", STEPS * 4),
    "where": Funnel("where", "bench-5-where", STEPS, where=(("channel", "eq", "paid_search"),)),
}


def write_spec(funnel: Funnel) -> Path:
    """The funnelscope YAML spec for `funnel`, under bench/data/specs/."""
    lines = [f"name: {funnel.name}", "order: ordered", f"window: {funnel.window_seconds // DAY}d"]
    lines += ["steps:", *(f"  - event: {step}" for step in funnel.steps)]
    if funnel.where:
        lines.append("where:")
        lines += [f"  - {{property: {p}, op: {op}, value: {v}}}" for p, op, v in funnel.where]
    path = DATA_DIR / "specs" / f"{funnel.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def sql_filter(funnel: Funnel) -> str:
    """The funnel's `where` as a SQL condition (`TRUE` when there is none)."""
    ops = {"eq": "=", "gt": ">"}
    parts = [
        f"{prop} {ops[op]} " + (f"'{value}'" if isinstance(value, str) else repr(value))
        for prop, op, value in funnel.where
    ]
    return " AND ".join(parts)


def chdb_sql(path: Path, funnel: Funnel, mode: str = "") -> str:
    """Number of persons per max level, with ClickHouse's windowFunnel (seconds, inclusive)."""
    params = str(funnel.window_seconds) + (f", '{mode}'" if mode else "")
    conds = ", ".join(f"event = '{step}'" for step in funnel.steps)
    names = ", ".join(f"'{step}'" for step in dict.fromkeys(funnel.steps))
    also = f" AND {sql_filter(funnel)}" if funnel.where else ""
    return (
        "SELECT level, count() AS persons FROM ("
        f" SELECT person_id, windowFunnel({params})(toUnixTimestamp(timestamp), {conds}) AS level"
        f" FROM file('{path}', Parquet) WHERE event IN ({names}){also}"
        " GROUP BY person_id) GROUP BY level ORDER BY level"
        " SETTINGS schema_inference_make_columns_nullable = 0"
    )


CHDB_PROGRAM = """\
import json, sys
import chdb
steps = int(sys.argv[2])
levels = {}
for line in str(chdb.query(sys.argv[1], "CSV")).split():
    level, persons = line.split(",")
    levels[int(level)] = int(persons)
print(json.dumps([sum(p for lv, p in levels.items() if lv >= k) for k in range(1, steps + 1)]))
"""


def duckdb_sql(path: Path, funnel: Funnel) -> str:
    """Persons reaching each step with a chain of ASOF JOINs (one per step after the first).

    Stage k holds, for every attempt (step-1 event) that got that far, the person, the entry time
    and the time of step k; the next stage takes the earliest next-step event of the same person
    at or after it, kept only if it lies within entry + window (inclusive). When the funnel
    repeats an event name, an event may not fill two steps of one attempt: events are keyed by
    (second, file row) and a repeated step must come after the event that filled the earlier step
    of the same name (ties in time stay in order, whatever the row).
    """
    steps = funnel.steps
    repeated = len(set(steps)) < len(steps)
    names = ", ".join(f"'{s}'" for s in dict.fromkeys(steps))
    if repeated:
        scan = (
            'SELECT person_id, event, epoch("timestamp")::BIGINT AS ts, '
            f'epoch("timestamp")::BIGINT * {TIE_KEY} + file_row_number AS k '
            f"FROM read_parquet('{path}', file_row_number = true)"
        )
        window, scale = funnel.window_seconds, TIE_KEY
    else:
        scan = f'SELECT person_id, event, epoch_us("timestamp") AS ts, epoch_us("timestamp") AS k FROM read_parquet(\'{path}\')'  # noqa: E501
        window, scale = funnel.window_seconds * 1_000_000, 1
    last_use: dict[int, int] = {}  # step -> the earlier step with the same name, if any
    seen: dict[str, int] = {}
    for i, step in enumerate(steps):
        if step in seen:
            last_use[i] = seen[step]
        seen[step] = i
    needed = set(last_use.values())  # steps whose key a later step needs
    also = f" AND {sql_filter(funnel)}" if funnel.where else ""

    def carried(upto: int) -> list[str]:
        return [f"k{j}" for j in sorted(needed) if j < upto and any(i > upto for i in _users(j))]

    def _users(j: int) -> list[int]:
        return [i for i, src in last_use.items() if src == j]

    ctes = [
        f"ev AS MATERIALIZED ({scan} WHERE event IN ({names}){also})",
        "c0 AS MATERIALIZED (SELECT person_id, ts AS entry, ts AS t, k AS k0 "
        f"FROM ev WHERE event = '{steps[0]}')",
    ]
    for i in range(1, len(steps)):
        lb = f"t * {scale}" if scale != 1 else "t"
        if i in last_use:
            lb = f"greatest({lb}, k{last_use[i]} + 1)"
        keep = carried(i)
        keys = "".join(f"c.{key}, " for key in keep)
        mine = f", s.k AS k{i}" if i in needed else ""
        ctes.append(
            f"c{i} AS MATERIALIZED (SELECT c.person_id, c.entry, {keys}s.ts AS t{mine} "
            f"FROM (SELECT *, {lb} AS lb FROM c{i - 1}) c "
            f"ASOF JOIN (SELECT person_id, ts, k FROM ev WHERE event = '{steps[i]}') s "
            f"ON c.person_id = s.person_id AND s.k >= c.lb WHERE s.ts <= c.entry + {window})"
        )
    counts = ", ".join(f"(SELECT count(DISTINCT person_id) FROM c{i})" for i in range(len(steps)))
    return "WITH " + ",\n".join(ctes) + f"\nSELECT {counts}"


DUCKDB_PROGRAM = """\
import json, sys
import duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
print(json.dumps([int(x) for x in con.execute(sys.argv[1]).fetchone()]))
"""


FUNNELSCOPE = [str(BIN_DIR / "funnelscope")]  # --funnelscope replaces it


def funnelscope_cmd(spec: Path, engine: str, *, events: Path | None, db: Path | None) -> list[str]:
    cmd = [*FUNNELSCOPE, "funnel", str(spec)]
    if events is not None:
        cmd += ["--events", str(events)]
    if db is not None:
        cmd += ["--db", str(db)]
    return [*cmd, "--engine", engine, "--format", "json", "--no-progress"]


def funnelscope_counts(stdout: str) -> list[int]:
    return [int(step["count"]) for step in json.loads(stdout)["steps"]]


def json_counts(stdout: str) -> list[int]:
    return [int(x) for x in json.loads(stdout.strip().splitlines()[-1])]


# ---------------------------------------------------------------------------------------------
# Running whole processes
# ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One process run: wall seconds, peak RSS in bytes, stdout, or why it failed."""

    seconds: float
    rss: int
    stdout: str = ""
    error: str | None = None


def error_line(stderr: str, code: int) -> str:
    """The most telling line of a failed run's stderr (the `Error:` line of a usage error)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = next((line for line in lines if "Error" in line.split(" ", 1)[0]), None)
    if lines and lines[0].startswith("Traceback"):
        chosen = lines[-1]  # the exception
    text = chosen or (lines[0] if lines else f"exit code {code}")
    return text if len(text) <= 90 else text[:87] + "..."


LAUNCHER = """\
import json, os, signal, sys, time
report, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
started = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
signal.setitimer(signal.ITIMER_REAL, timeout)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
signal.setitimer(signal.ITIMER_REAL, 0)
with open(report, "w") as f:
    code = os.waitstatus_to_exitcode(status)
    json.dump({"seconds": seconds, "maxrss_kib": usage.ru_maxrss, "code": code}, f)
"""


def run_process(cmd: Sequence[str], timeout: float) -> Outcome:
    """Run `cmd` as a whole process: its wall time and peak RSS (ru_maxrss from wait4).

    Linux starts a new process's ru_maxrss at the RSS of the process that forked it, so the
    harness (which holds the generated data for a while) would put a floor of hundreds of MB
    under every figure. A minimal launcher (a bare Python, ~10 MB) therefore spawns, times and
    waits for the command, and writes what wait4 said to a file.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report, out, err = Path(tmp, "report.json"), Path(tmp, "out"), Path(tmp, "err")
        launcher = [sys.executable, "-c", LAUNCHER, str(report), str(timeout), *cmd]
        with out.open("wb") as stdout_file, err.open("wb") as stderr_file:
            subprocess.run(
                launcher, stdout=stdout_file, stderr=stderr_file, stdin=subprocess.DEVNULL
            )
        stdout = out.read_text(errors="replace")
        stderr = err.read_text(errors="replace")
        if not report.exists():
            return Outcome(0.0, 0, stdout, error_line(stderr, -1))
        measured = json.loads(report.read_text())
    outcome = Outcome(measured["seconds"], measured["maxrss_kib"] * 1024, stdout)
    code = measured["code"]
    if code != 0:
        timed_out = code == -9 and outcome.seconds >= timeout
        outcome.error = f"timeout after {timeout:.0f} s" if timed_out else error_line(stderr, code)
    return outcome


@dataclass
class Contender:
    """One row of the table: a command, how to read its counts, and what its runs gave."""

    name: str
    cmd: list[str]
    parse: Callable[[str], list[int]]
    runs: int
    outcomes: list[Outcome] = field(default_factory=list)
    counts: list[int] | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        ok = [o.seconds for o in self.outcomes if o.error is None]
        return statistics.median(ok) if ok and self.error is None else None

    @property
    def peak_mb(self) -> float | None:
        ok = [o.rss for o in self.outcomes if o.error is None]
        return max(ok) / 2**20 if ok and self.error is None else None


def run_contenders(
    contenders: list[Contender], label: str, console: Console, timeout: float
) -> None:
    """Interleave the contenders' runs (run 1 of each, then run 2...); a failure stops its runs."""
    for i in range(max((c.runs for c in contenders), default=0)):
        for c in contenders:
            if i >= c.runs or c.error is not None:
                continue
            with console.status(f"[bold]{label}[/]: {c.name}, run {i + 1}/{c.runs}"):
                outcome = run_process(c.cmd, timeout)
            c.outcomes.append(outcome)
            if outcome.error is not None:
                c.error = outcome.error
                console.print(f"  [red]{label}: {c.name} failed[/]: {outcome.error}")
                continue
            try:
                counts = c.parse(outcome.stdout)
            except (ValueError, KeyError, IndexError) as exc:
                c.error = f"unreadable output ({exc}): {outcome.stdout[:80]!r}"
                continue
            if c.counts is not None and counts != c.counts:
                c.error = f"counts changed between runs: {c.counts} then {counts}"
            c.counts = counts
            console.print(f"  {label}: {c.name} run {i + 1}: {outcome.seconds:.2f} s")


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


@dataclass
class StoreLoad:
    path: Path
    seconds: float | None
    rss_mb: float | None
    note: str
    error: str | None = None


def ensure_store(events: Path, n: int, seed: int, console: Console, timeout: float) -> StoreLoad:
    """Ingest `events` into a cached store (timed once, the figures kept next to it)."""
    store = DATA_DIR / f"store-{n}-seed{seed}.duckdb"
    sidecar = store.with_suffix(".load.json")
    if store.exists() and sidecar.exists():
        saved = json.loads(sidecar.read_text())
        return StoreLoad(
            store, saved["seconds"], saved["rss_mb"], "load cached from an earlier run"
        )
    tmp = store.with_name(store.name + ".tmp.duckdb")
    for leftover in (store, tmp, Path(f"{tmp}.wal"), Path(f"{store}.wal")):
        leftover.unlink(missing_ok=True)
    cmd = [*FUNNELSCOPE, "ingest", str(events), "--db", str(tmp), "--no-progress"]
    with console.status(f"[bold]funnelscope ingest[/] {events.name} into a store"):
        outcome = run_process(cmd, timeout)
    if outcome.error is not None:
        return StoreLoad(store, None, None, "", outcome.error)
    Path(f"{tmp}.wal").unlink(missing_ok=True)
    tmp.replace(store)
    rss_mb = outcome.rss / 2**20
    sidecar.write_text(json.dumps({"seconds": outcome.seconds, "rss_mb": rss_mb}))
    console.print(f"  store loaded in {outcome.seconds:.1f} s")
    return StoreLoad(store, outcome.seconds, rss_mb, "")


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


@dataclass
class Group:
    """The contenders of one funnel on one file, compared with each other."""

    funnel: Funnel
    size: int
    contenders: list[Contender]
    load: StoreLoad | None = None

    def find(self, prefix: str) -> Contender | None:
        return next((c for c in self.contenders if c.name.startswith(prefix)), None)

    def agreement(self) -> tuple[str, list[str]]:
        """`AGREE` / `DIFFER` / `n/a` and the lines that show the counts."""
        done = [c for c in self.contenders if c.counts is not None and c.error is None]
        if len(done) < 2:
            only = [f"{c.name}: {c.counts}" for c in done]
            return "n/a (fewer than 2 contenders finished)", only
        distinct = {tuple(c.counts or ()) for c in done}
        if len(distinct) == 1:
            names = ", ".join(c.name for c in done)
            return "AGREE", [f"counts {list(distinct.pop())} ({names})"]
        base = done[0].counts or []
        lines = [f"{done[0].name}: {base}"]
        for c in done[1:]:
            diff = [b - a for a, b in zip(base, c.counts or [], strict=False)]
            lines.append(f"{c.name}: {c.counts} (minus {done[0].name}: {diff})")
        return "DIFFER", lines


def table_rows(group: Group) -> list[list[str]]:
    """One row per contender: name, size, runs, median s, peak RSS MB, x chdb, note."""
    chdb = group.find("chdb")
    chdb_median = chdb.median if chdb else None
    size = short_count(group.size)
    rows = []
    load = group.load
    if load is not None:
        name = "funnelscope ingest -> store"
        if load.error or load.seconds is None or load.rss_mb is None:
            rows.append([name, size, "1", "", "", "", f"failed: {load.error}"])
        else:
            seconds, rss = f"{load.seconds:.2f}", f"{load.rss_mb:,.0f}"
            rows.append([name, size, "1", seconds, rss, "", load.note])
    for c in group.contenders:
        runs = str(len(c.outcomes))
        median, peak = c.median, c.peak_mb
        if c.error is not None or median is None or peak is None:
            rows.append([c.name, size, runs, "", "", "", f"failed: {c.error}"])
            continue
        ratio = f"{median / chdb_median:.2f}" if chdb_median else ""
        rows.append([c.name, size, runs, f"{median:.2f}", f"{peak:,.0f}", ratio, ""])
    return rows


HEADERS = ("contender", "events", "runs", "median s", "peak RSS MB", "x chdb", "note")


def print_group(group: Group, console: Console, markdown: bool) -> None:
    title = (
        f"Funnel {group.funnel.name} ({len(group.funnel.steps)} steps, "
        f"{group.funnel.window_seconds // DAY}d window"
        + (f", where {sql_filter(group.funnel)}" if group.funnel.where else "")
        + f") on {short_count(group.size)} events"
    )
    verdict, lines = group.agreement()
    rows = table_rows(group)
    if markdown:
        print(f"\n**{title}**\n")
        print("| " + " | ".join(HEADERS) + " |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print(f"\n{verdict}: " + "; ".join(lines))
        return
    table = Table(title=title)
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("contender", "note") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    style = {"AGREE": "green", "DIFFER": "bold red"}.get(verdict, "yellow")
    console.print(f"[{style}]{verdict}[/] {group.funnel.name} at {short_count(group.size)}")
    for line in lines:
        console.print(f"  {line}")


def targets(groups: list[Group], n: int, engine: str) -> list[str]:
    """The issue's targets, each PASS / FAIL / n/a with the figures behind it."""
    main = {g.funnel.key: g for g in groups if g.size == n}
    name = f"funnelscope ({engine})"

    def median(key: str, prefix: str) -> float | None:
        group = main.get(key)
        c = group.find(prefix) if group else None
        return c.median if c else None

    def verdict(ok: bool | None) -> str:
        return "n/a " if ok is None else ("PASS" if ok else "FAIL")

    out = []
    k5, c5, k20 = median("5", name), median("5", "chdb"), median("20", name)
    ok = None if k5 is None or c5 is None else k5 <= 0.5 * c5
    ratio = f"{k5 / c5:.2f}x" if k5 and c5 else "missing"
    out.append(f"{verdict(ok)} 5-step {name} <= 0.5x chdb: {ratio}")
    ok = None if k5 is None or k20 is None else k20 <= 1.5 * k5
    ratio = f"{k20 / k5:.2f}x" if k5 and k20 else "missing"
    out.append(f"{verdict(ok)} 20-step <= 1.5x 5-step ({name}): {ratio}")
    peaks = [c.peak_mb for g in main.values() for c in g.contenders if c.name == name and c.peak_mb]
    peak = max(peaks) if peaks else None
    if peak is None:
        out.append(f"n/a  {name} peak RSS <= 1.5 GB at 50M: missing")
    elif n >= 50_000_000:
        out.append(f"{verdict(peak <= 1536)} {name} peak RSS <= 1.5 GB at 50M: {peak:,.0f} MB")
    else:
        out.append(f"n/a  {name} peak RSS <= 1.5 GB at 50M: {peak:,.0f} MB at {short_count(n)}")
    for key, group in main.items():
        store = group.find("funnelscope store")
        parquet = group.find(name)
        if store is None:
            continue
        s, p = store.median, parquet.median if parquet else None
        ok = None if s is None or p is None else s <= p
        figures = f"{s:.2f} s vs {p:.2f} s" if s and p else "missing"
        out.append(f"{verdict(ok)} store funnel no slower than Parquet ({key}): {figures}")
    return out


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

ALL_CONTENDERS = ("kernel", "chdb", "duckdb", "reference", "store")


def build_group(
    funnel: Funnel,
    path: Path,
    size: int,
    args: argparse.Namespace,
    *,
    engine_runs: int,
    reference_runs: int,
    other_runs: int,
    store: StoreLoad | None = None,
) -> Group:
    """The contenders of `funnel` on the file `path` (0 runs leaves a contender out)."""
    which: set[str] = args.which
    spec = write_spec(funnel)
    contenders = []
    engines = []
    if "kernel" in which and engine_runs:
        engines.append((args.engine, engine_runs))
    if "reference" in which and reference_runs and args.engine != "reference":
        engines.append(("reference", reference_runs))
    for engine, runs in engines:
        cmd = funnelscope_cmd(spec, engine, events=path, db=None)
        contenders.append(Contender(f"funnelscope ({engine})", cmd, funnelscope_counts, runs))
    if "chdb" in which and other_runs:
        sql = chdb_sql(path, funnel, args.chdb_mode)
        label = "chdb windowFunnel" + (f" ({args.chdb_mode})" if args.chdb_mode else "")
        cmd = [sys.executable, "-c", CHDB_PROGRAM, sql, str(len(funnel.steps))]
        contenders.append(Contender(label, cmd, json_counts, other_runs))
    if "duckdb" in which and other_runs:
        cmd = [sys.executable, "-c", DUCKDB_PROGRAM, duckdb_sql(path, funnel)]
        contenders.append(Contender("DuckDB ASOF SQL", cmd, json_counts, other_runs))
    if store is not None and store.error is None and other_runs:
        cmd = funnelscope_cmd(spec, args.engine, events=None, db=store.path)
        name = f"funnelscope store ({args.engine})"
        contenders.append(Contender(name, cmd, funnelscope_counts, other_runs))
    return Group(funnel, size, contenders, store)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events",
        type=parse_count,
        default=10_000_000,
        help="events in the main log: 10M, 50M, 1000000 (default 10M)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (default 3)")
    parser.add_argument(
        "--engine", default="kernel", help="funnelscope engine of the main rows (default kernel)"
    )
    parser.add_argument(
        "--funnels", default="5,20,where", help="which funnels: any of 5,20,where (default all)"
    )
    parser.add_argument(
        "--contenders",
        default=",".join(ALL_CONTENDERS),
        help=f"any of {','.join(ALL_CONTENDERS)} (default all); 'kernel' means "
        "funnelscope with --engine, 'reference' the 1M-sample rows",
    )
    parser.add_argument(
        "--reference-events",
        type=parse_count,
        default=1_000_000,
        help="size of the sample the reference engine runs on (default 1M)",
    )
    parser.add_argument("--skip-store", action="store_true", help="no store rows")
    parser.add_argument(
        "--chdb-mode", default="", help="windowFunnel mode, e.g. strict_once or strict_increase"
    )
    parser.add_argument(
        "--funnelscope",
        default=FUNNELSCOPE[0],
        help="the funnelscope command (default .venv/bin/funnelscope; split like a shell does)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.funnels.split(",") if k.strip()]
    unknown = [k for k in keys if k not in FUNNELS]
    if unknown or not keys:
        parser.error(f"--funnels: unknown {unknown}; use any of {','.join(FUNNELS)}")
    args.funnel_keys = keys
    which = {k.strip() for k in args.contenders.split(",") if k.strip()}
    if which - set(ALL_CONTENDERS):
        parser.error(f"--contenders: unknown {sorted(which - set(ALL_CONTENDERS))}")
    if args.skip_store:
        which.discard("store")
    args.which = which
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    FUNNELSCOPE[:] = shlex.split(args.funnelscope)
    console = Console(width=max(120, Console().width), stderr=args.markdown)
    which: set[str] = args.which
    n, seed, runs = args.events, args.seed, args.runs
    path, note = ensure_events(n, seed, console)
    console.print(note)
    sample: Path | None = None
    sample_size = args.reference_events
    if "reference" in which and sample_size != n:
        sample, note = ensure_events(sample_size, seed, console)
        console.print(note)
    store = None
    if "store" in which:
        store = ensure_store(path, n, seed, console, args.timeout)
        if store.error:
            console.print(f"  [red]store load failed[/]: {store.error}")

    groups: list[Group] = []
    for key in args.funnel_keys:
        funnel = FUNNELS[key]
        # The main file; the reference joins it only when it is the sample size.
        group = build_group(
            funnel,
            path,
            n,
            args,
            engine_runs=runs,
            other_runs=runs,
            reference_runs=0 if sample else runs,
            store=store,
        )
        group.load = None if groups else store  # the load row once, under the first funnel
        run_contenders(group.contenders, f"{funnel.name} @ {short_count(n)}", console, args.timeout)
        groups.append(group)
        if sample is not None:
            # The reference's sample, with the others once each to check its counts.
            small = build_group(
                funnel, sample, sample_size, args, engine_runs=1, reference_runs=runs, other_runs=1
            )
            label = f"{funnel.name} @ {short_count(sample_size)}"
            run_contenders(small.contenders, label, console, args.timeout)
            groups.append(small)

    out = Console(width=max(120, Console().width))
    for group in groups:
        print_group(group, out, args.markdown)
    lines = targets(groups, n, args.engine)
    if args.markdown:
        print("\nTargets:\n")
        print("\n".join(f"- {line}" for line in lines))
    else:
        out.print("[bold]Targets[/]")
        for line in lines:
            out.print(f"  {line}")


if __name__ == "__main__":
    main()
