"""Report and diagnose at scale: funnelscope's report-funnel path vs DuckDB SQL by hand.

Not a test. Run:  .venv/bin/python bench/diagnose_bench.py --rows 1M

What it measures: a seeded search-marketing report set like `funnelscope demo`'s, scaled up, is
generated once into bench/data/reports-<rows>/: an ads keyword report of about `--rows` rows
(84 days x campaigns x ad groups x keywords x 3 devices; columns Day, Campaign, Ad group, Keyword,
Match type, Device, Impressions, Clicks, Cost), web analytics sessions by day x campaign x device
(campaign names in lower case, as utm_campaign often is), an inquiry log and an order list (one
row each, tens of thousands). Two problems are planted: the broad keyword "door" buys a large
share of the impressions at a 0.6% CTR (the other keywords get about 5%), and the Spring-Brand
campaign's arrival rate falls from 0.80 to 0.45 for the last 4 weeks (a broken landing page).

Every contender runs as a whole process (`--runs` times; median wall time, peak RSS from GNU time):

- funnelscope report, totals:      `funnelscope report FILES --format json`
- funnelscope report by campaign:  `funnelscope report FILES --by campaign --format json`
- funnelscope diagnose:            `funnelscope diagnose FILES --format json`
- DuckDB SQL by campaign: read_csv of the four files, each summed by lower(trim(campaign)),
  full outer joins, the four stage rates: what an analyst writes by hand. No diagnosis.

Checks (PASS/FAIL lines): the diagnosis's two largest leaks are the planted ones, and the report
by campaign and the DuckDB SQL give the same counts per campaign. rows/s counts the rows of all
four files. `--profile` runs `funnelscope diagnose` once under cProfile and prints where its time
goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import pstats
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from funnel_bench import parse_count, short_count  # bench/ is the script's directory
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
BIN_DIR = Path(sys.executable).parent

START = date(2026, 8, 31)  # a Monday, as in the demo: 12 weeks to Sunday 2026-11-22
DAYS = 84
BREAK_DAY = 56  # the Monday of week 9: Spring-Brand's landing page breaks
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_SHARES = (0.58, 0.36, 0.06)
KEYWORDS_PER_GROUP = 10
PLANTED_KEYWORD = "door"
PLANTED_KEYWORD_CTR = 0.006
PLANTED_KEYWORD_SHARE = 0.03  # of all impressions
PLANTED_CAMPAIGN = "Spring-Brand"
BROKEN_ARRIVAL = 0.45
REPS = ("Anna", "Ben", "Chloe", "Dmitri", "Eva", "Femi", "Grace", "Hugo")
CHANNELS = ("chat", "phone", "form")
THEMES = (
    "Doors", "Windows", "Garage-Doors", "Installation", "Repairs", "Conservatories", "Shutters",
    "Skylights", "Patio-Doors", "Glazing", "Locks", "Blinds",
)  # fmt: skip
PRODUCTS = (
    "front door", "back door", "patio door", "garage door", "sash window", "casement window",
    "bay window", "skylight", "conservatory", "double glazing", "triple glazing", "door lock",
    "window frame", "french door", "bifold door", "roof window",
)  # fmt: skip
MODIFIERS = (
    "buy", "cheap", "best", "new", "replacement", "install", "fitted", "local", "quote",
    "price", "composite", "upvc", "oak", "aluminium", "secure", "energy efficient", "custom",
    "made to measure",
)  # fmt: skip
FILES = ("ads.csv", "analytics.csv", "inquiries.csv", "orders.csv")


# ---------------------------------------------------------------------------------------------
# The report set
# ---------------------------------------------------------------------------------------------


def rows_count(text: str) -> int:
    """`1M`, `100k` or a plain integer, at least 1,000 rows."""
    value = parse_count(text)
    if value < 1000:
        raise argparse.ArgumentTypeError("must be at least 1000")
    return value


def shape(rows: int) -> tuple[int, int]:
    """Campaigns and ad groups per campaign (10 keywords each) for about `rows` ads rows."""
    keywords = max(20, round(rows / (DAYS * len(DEVICES))))
    campaigns = max(2, round(math.sqrt(keywords / KEYWORDS_PER_GROUP)))
    groups = max(1, round(keywords / KEYWORDS_PER_GROUP / campaigns))
    return campaigns, groups


def _dates(day: np.ndarray) -> pa.Array:
    epoch_day = (START - date(1970, 1, 1)).days
    return pa.array((day + epoch_day).astype(np.int32), pa.date32())


def _take(names: list[str] | tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(list(names), pa.string()).take(pa.array(codes))


def _wobble(rng: np.random.Generator, sigma: float, size: tuple[int, ...]) -> np.ndarray:
    return rng.lognormal(-sigma * sigma / 2, sigma, size)


def generate(rows: int, seed: int, directory: Path) -> dict[str, Any]:
    """Write the four CSV files into `directory`; return what was planted and the row counts."""
    rng = np.random.default_rng(seed)
    n_c, n_g = shape(rows)
    n_k = n_c * n_g * KEYWORDS_PER_GROUP
    n_v = len(DEVICES)
    campaigns = [PLANTED_CAMPAIGN] + [
        f"{THEMES[i % len(THEMES)]}-{['Generic', 'Premium', 'Local', 'Sale'][i // len(THEMES) % 4]}"
        + (f"-{i // (4 * len(THEMES)) + 1}" if i >= 4 * len(THEMES) else "")
        for i in range(n_c - 1)
    ]
    kw_campaign = np.repeat(np.arange(n_c), n_g * KEYWORDS_PER_GROUP)
    kw_group = np.repeat(np.arange(n_c * n_g), KEYWORDS_PER_GROUP)
    group_names = [
        f"{PRODUCTS[(c * 7 + g) % len(PRODUCTS)].title()} - {g + 1}"
        for c in range(n_c)
        for g in range(n_g)
    ]
    keyword_names = [
        f"{MODIFIERS[i % len(MODIFIERS)]} {PRODUCTS[(i // len(MODIFIERS)) % len(PRODUCTS)]}"
        + (
            f" {i // (len(MODIFIERS) * len(PRODUCTS))}"
            if i >= len(MODIFIERS) * len(PRODUCTS)
            else ""
        )
        for i in range(n_k)
    ]
    door = n_g * KEYWORDS_PER_GROUP  # the first keyword of the second campaign
    keyword_names[door] = PLANTED_KEYWORD
    match_types = rng.choice(np.array(["exact", "phrase", "broad"]), n_k, p=(0.3, 0.5, 0.2))
    match_types[door] = "broad"

    # Rates: mild, realistic spread between keywords; campaigns and reps nearly alike.
    ctr = 0.05 * _wobble(rng, 0.15, (n_k,))
    ctr[door] = PLANTED_KEYWORD_CTR
    arrival = rng.uniform(0.77, 0.81, n_c)
    arrival[0] = 0.80
    inquiry = rng.uniform(0.058, 0.062, n_c)
    order_rate = rng.uniform(0.28, 0.30, len(REPS))
    cpc = rng.uniform(0.8, 2.6, n_k)

    # Volume: a long tail of keywords, sized so the inquiry log has ~60k rows at 1M ads rows
    # (sqrt scaling: bigger accounts add more, smaller keywords).
    inquiries_target = 60_000 * math.sqrt(rows / 1_000_000)
    weight = rng.lognormal(0.0, 1.2, n_k)
    weight[door] = 0.0
    weight *= (1 - PLANTED_KEYWORD_SHARE) / weight.sum()
    weight[door] = PLANTED_KEYWORD_SHARE
    funnel_yield = float(weight @ ctr) * 0.79 * 0.06
    daily = inquiries_target / funnel_yield / DAYS
    weekday = np.array([1.06, 1.09, 1.07, 1.04, 0.97, 0.86, 0.81])[np.arange(DAYS) % 7]
    mean = daily * weekday[:, None] * weight[None, :] * _wobble(rng, 0.1, (DAYS, n_k))
    impressions = rng.poisson(mean[:, :, None] * np.array(DEVICE_SHARES)[None, None, :])
    day_ctr = np.clip(ctr[None, :] * _wobble(rng, 0.05, (DAYS, n_k)), 0, 1)
    clicks = rng.binomial(impressions, day_ctr[:, :, None])
    cost_cents = np.rint(clicks * cpc[None, :, None] * _wobble(rng, 0.12, clicks.shape) * 100)

    campaign_clicks = np.zeros((DAYS, n_c, n_v), dtype=np.int64)
    np.add.at(campaign_clicks, (slice(None), kw_campaign), clicks)
    day_arrival = np.tile(arrival, (DAYS, 1))
    day_arrival[BREAK_DAY:, 0] = BROKEN_ARRIVAL
    day_arrival = np.clip(day_arrival * _wobble(rng, 0.05, (DAYS, n_c)), 0, 1)
    visits = rng.binomial(campaign_clicks, day_arrival[:, :, None])
    day_inquiry = np.clip(inquiry[None, :] * _wobble(rng, 0.05, (DAYS, n_c)), 0, 1)
    cell_inquiries = rng.binomial(visits, day_inquiry[:, :, None])

    cell = np.repeat(np.arange(cell_inquiries.size), cell_inquiries.ravel())
    q_day, q_campaign, q_device = np.unravel_index(cell, cell_inquiries.shape)
    n_q = cell.size
    q_second = rng.integers(7 * 3600, 22 * 3600, n_q)
    by_time = np.lexsort((q_second, q_day))
    q_day, q_campaign, q_device, q_second = (
        a[by_time] for a in (q_day, q_campaign, q_device, q_second)
    )
    q_rep = rng.integers(0, len(REPS), n_q)
    converts = rng.random(n_q) < order_rate[q_rep]
    lag = rng.choice(5, n_q, p=(0.75, 0.0625, 0.0625, 0.0625, 0.0625))
    made = np.flatnonzero(converts & (q_day + lag < DAYS))
    made = made[np.argsort((q_day + lag)[made], kind="stable")]
    revenue = np.round(1300.0 * rng.lognormal(0.0, 0.45, made.size), 2)

    directory.mkdir(parents=True, exist_ok=True)
    d, k, v = (a.ravel() for a in np.indices((DAYS, n_k, n_v)))
    ads = pa.table(
        {
            "Day": _dates(d),
            "Campaign": _take(campaigns, kw_campaign[k]),
            "Ad group": _take(group_names, kw_group[k]),
            "Keyword": _take(keyword_names, k),
            "Match type": pa.array(match_types[k]),
            "Device": _take(DEVICES, v),
            "Impressions": pa.array(impressions.ravel().astype(np.int64)),
            "Clicks": pa.array(clicks.ravel().astype(np.int64)),
            "Cost": pa.array(cost_cents.ravel() / 100.0),
        }
    )
    d, c, v = (a.ravel() for a in np.indices((DAYS, n_c, n_v)))
    analytics = pa.table(
        {
            "Date": _dates(d),
            "Session campaign": _take([name.lower() for name in campaigns], c),
            "Device category": _take(DEVICES, v),
            "Sessions": pa.array(visits.ravel().astype(np.int64)),
        }
    )
    epoch_second = (START - date(1970, 1, 1)).days * 86_400
    inquiries = pa.table(
        {
            "Inquiry ID": pa.array([f"INQ-{i:07d}" for i in range(1, n_q + 1)]),
            "Received at": pa.array(epoch_second + q_day * 86_400 + q_second, pa.timestamp("s")),
            "Campaign": _take(campaigns, q_campaign),
            "Device": _take(DEVICES, q_device),
            "Channel": _take(CHANNELS, rng.integers(0, len(CHANNELS), n_q)),
            "Assigned rep": _take(REPS, q_rep),
        }
    )
    orders = pa.table(
        {
            "Order ID": pa.array([f"ORD-{i:07d}" for i in range(1, made.size + 1)]),
            "Order date": _dates((q_day + lag)[made]),
            "Campaign": _take(campaigns, q_campaign[made]),
            "Rep": _take(REPS, q_rep[made]),
            "Revenue": pa.array(revenue),
        }
    )
    tables = (ads, analytics, inquiries, orders)
    for name, table in zip(FILES, tables, strict=True):
        pacsv.write_csv(table, directory / name, pacsv.WriteOptions(quoting_style="none"))
    return {
        "rows": {name: table.num_rows for name, table in zip(FILES, tables, strict=True)},
        "campaigns": n_c,
        "ad_groups": n_c * n_g,
        "keywords": n_k,
        "planted": [
            {"layer": "clicks", "segment": {"keyword": PLANTED_KEYWORD}},
            {"layer": "visits", "segment": {"campaign": PLANTED_CAMPAIGN}},
        ],
    }


def report_set(rows: int, seed: int, console: Console) -> tuple[Path, dict[str, Any]]:
    """The cached report set for `rows` (generated if missing); its manifest is written last."""
    directory = DATA_DIR / f"reports-{rows}" if seed == 7 else DATA_DIR / f"reports-{rows}-s{seed}"
    manifest = directory / "manifest.json"
    if not manifest.exists():
        with console.status(f"generating the {short_count(rows)}-row report set"):
            started = time.perf_counter()
            info = generate(rows, seed, directory)
            info["generated_seconds"] = round(time.perf_counter() - started, 2)
        manifest.write_text(json.dumps(info, indent=2) + "\n")
        console.print(f"generated {directory} in {info['generated_seconds']} s")
    return directory, json.loads(manifest.read_text())


# ---------------------------------------------------------------------------------------------
# Contenders
# ---------------------------------------------------------------------------------------------

DUCKDB_SQL = """
WITH ads AS (
    SELECT lower(trim("Campaign")) AS k, sum("Impressions") AS impressions,
           sum("Clicks") AS clicks, sum("Cost") AS cost
    FROM read_csv('{ads}') GROUP BY 1),
analytics AS (
    SELECT lower(trim("Session campaign")) AS k, sum("Sessions") AS visits
    FROM read_csv('{analytics}') GROUP BY 1),
inquiries AS (
    SELECT lower(trim("Campaign")) AS k, count(*) AS inquiries
    FROM read_csv('{inquiries}') GROUP BY 1),
orders AS (
    SELECT lower(trim("Campaign")) AS k, count(*) AS orders, sum("Revenue") AS revenue
    FROM read_csv('{orders}') GROUP BY 1)
SELECT k AS campaign, impressions, clicks, visits, inquiries, orders, cost, revenue,
       clicks / impressions AS ctr, visits / clicks AS arrival_rate,
       inquiries / visits AS inquiry_rate, orders / inquiries AS order_rate
FROM ads FULL JOIN analytics USING (k) FULL JOIN inquiries USING (k) FULL JOIN orders USING (k)
ORDER BY k
"""

DUCKDB_SCRIPT = """\
import json, sys, duckdb
cur = duckdb.connect().execute(sys.argv[1])
names = [d[0] for d in cur.description]
print(json.dumps([dict(zip(names, row)) for row in cur.fetchall()], default=float))
"""


def contenders(files: list[str]) -> dict[str, list[str]]:
    exe = str(BIN_DIR / "funnelscope")
    paths = dict(zip(("ads", "analytics", "inquiries", "orders"), files, strict=True))
    return {
        "totals": [exe, "report", *files, "--format", "json"],
        "by-campaign": [exe, "report", *files, "--by", "campaign", "--format", "json"],
        "diagnose": [exe, "diagnose", *files, "--format", "json"],
        "duckdb": [sys.executable, "-c", DUCKDB_SCRIPT, DUCKDB_SQL.format(**paths)],
    }


LABELS = {
    "totals": "funnelscope report (totals)",
    "by-campaign": "funnelscope report --by campaign",
    "diagnose": "funnelscope diagnose",
    "duckdb": "DuckDB SQL by campaign (no diagnosis)",
}


def run(command: list[str], timeout: float) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and stdout of one whole process (GNU time reads the RSS, so the
    harness's own memory does not count)."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        sys.exit(f"{' '.join(command[:3])} ... took longer than --timeout {timeout:g} s")
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return took, int(done.stderr.strip().splitlines()[-1]) / 1024, done.stdout


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def check_diagnosis(output: str, planted: list[dict[str, Any]]) -> tuple[bool, str]:
    leaks = json.loads(output)["leaks"]

    def key(layer: object, segment: object) -> tuple[str, tuple[tuple[str, str], ...]]:
        assert isinstance(segment, dict)
        return str(layer), tuple(sorted((k, str(v).casefold()) for k, v in segment.items()))

    top = [key(leak["layer"], leak["segment"]) for leak in leaks[: len(planted)]]
    want = {key(p["layer"], p["segment"]) for p in planted}
    shown = "; ".join(
        f"{leak['layer']} {leak['segment']} lost {leak['lost_final']:,.0f}"
        for leak in leaks[: len(planted) + 1]
    )
    return set(top) == want, f"{len(leaks)} leaks, top: {shown}"


def check_counts(ours: str, theirs: str) -> tuple[bool, str]:
    stages = ("impressions", "clicks", "visits", "inquiries", "orders")
    mine = {
        str(row["group"]["campaign"]).strip().casefold(): tuple(
            round(float(row["counts"][s])) for s in stages
        )
        for row in json.loads(ours)["rows"]
    }
    sql = {
        str(row["campaign"]): tuple(round(float(row[s] or 0)) for s in stages)
        for row in json.loads(theirs)
    }
    differ = sorted(k for k in mine.keys() | sql.keys() if mine.get(k) != sql.get(k))
    if differ:
        k = differ[0]
        return False, f"{len(differ)} campaigns differ, e.g. {k}: {mine.get(k)} vs {sql.get(k)}"
    totals = [sum(c[i] for c in mine.values()) for i in range(len(stages))]
    return True, f"{len(mine)} campaigns, totals " + ", ".join(
        f"{s} {t:,}" for s, t in zip(stages, totals, strict=True)
    )


def profile_diagnose(files: list[str], console: Console, top: int) -> None:
    """`funnelscope diagnose` in this process under cProfile: the functions with most own time."""
    from click.testing import CliRunner

    from funnelscope.cli.main import cli

    profiler = cProfile.Profile()
    profiler.enable()
    result = CliRunner().invoke(cli, ["diagnose", *files, "--format", "json"])
    profiler.disable()
    if result.exit_code != 0:
        console.print(f"diagnose failed under the profiler: {result.output[-2000:]}")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    console.print(out.getvalue(), markup=False, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=rows_count, default=rows_count("1M"), help="ads rows")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--contenders",
        default="totals,by-campaign,diagnose,duckdb",
        help="comma-separated: " + ",".join(LABELS),
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per process")
    parser.add_argument("--profile", action="store_true", help="also cProfile one diagnose")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = parser.parse_args()
    console = Console()
    directory, info = report_set(args.rows, args.seed, console)
    files = [str(directory / name) for name in FILES]
    counts: dict[str, int] = info["rows"]
    total_rows = sum(counts.values())
    console.print(
        f"{directory}: "
        + ", ".join(f"{name} {n:,} rows" for name, n in counts.items())
        + f" ({info['campaigns']} campaigns, {info['ad_groups']} ad groups, "
        f"{info['keywords']:,} keywords)"
    )
    commands = contenders(files)
    chosen = [name.strip() for name in args.contenders.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in commands]
    if unknown:
        parser.error(f"unknown contender {unknown[0]!r}; choose from {', '.join(commands)}")
    results: dict[str, tuple[float, float, str]] = {}
    for name in chosen:
        runs = []
        for i in range(args.runs):
            with console.status(f"{LABELS[name]}: run {i + 1} of {args.runs}"):
                runs.append(run(commands[name], args.timeout))
        results[name] = (
            statistics.median(r[0] for r in runs),
            max(r[1] for r in runs),
            runs[-1][2],
        )
        console.print(f"{LABELS[name]}: " + ", ".join(f"{r[0]:.2f} s" for r in runs))

    title = (
        f"{short_count(args.rows)} ads rows ({total_rows:,} rows in 4 files), median of {args.runs}"
    )
    table = Table(title=title)
    for column in ("contender", "time (s)", "peak RSS (MB)", "rows/s"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    lines = ["| contender | time (s) | peak RSS (MB) | rows/s |", "|---|---:|---:|---:|"]
    for name, (seconds, rss, _) in results.items():
        cells = (LABELS[name], f"{seconds:.2f}", f"{rss:,.0f}", f"{total_rows / seconds:,.0f}")
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    if args.markdown:
        console.print("\n".join(lines), markup=False, highlight=False)

    passed = True
    if "diagnose" in results:
        ok, detail = check_diagnosis(results["diagnose"][2], info["planted"])
        passed &= ok
        console.print(
            f"diagnose finds the two planted leaks first: {'PASS' if ok else 'FAIL'} ({detail})"
        )
    if "by-campaign" in results and "duckdb" in results:
        ok, detail = check_counts(results["by-campaign"][2], results["duckdb"][2])
        passed &= ok
        console.print(
            f"report --by campaign and DuckDB SQL agree per campaign: {'PASS' if ok else 'FAIL'} "
            f"({detail})"
        )
    chosen_flag = "" if chosen == list(LABELS) else f" --contenders {','.join(chosen)}"
    console.print(
        "reproduce: .venv/bin/python bench/diagnose_bench.py "
        f"--rows {short_count(args.rows)} --runs {args.runs}{chosen_flag}",
        highlight=False,
        soft_wrap=True,
    )
    if args.profile:
        profile_diagnose(files, console, 25)
    if not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
