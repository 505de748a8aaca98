"""A synthetic CRM with planted truths: one rep weak at one stage, a stage where deals rot, a
source that loses many deals for one reason. Written as funnelscope's generic CRM CSV files
(deals, stage history, activities) and a settings file with cadences, rotting limits and targets.

The generator walks every deal through the stages with known odds and durations; what it
planted comes back as :class:`PlantedTruth` so the demo (and the tests) can check that the
pipeline analyses find it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

AS_OF = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the demo's "today": fixed, so runs agree
START = datetime(2026, 1, 5, tzinfo=UTC)
STAGES = ("capture", "proposal", "opportunity", "qualification", "closing")
ADVANCE = (0.72, 0.62, 0.66, 0.62, 0.68)  # odds of moving on from each stage (last: to won)
MEAN_DAYS = (3.0, 9.0, 7.0, 6.0, 5.0)  # mean days in each stage before the next move
TEAMS = {"ana": "north", "bob": "north", "carol": "north", "dan": "south", "eve": "south",
         "finn": "south"}  # fmt: skip
SOURCES = ("ads", "seo", "referral", "events", "paid_social")
SOURCE_WEIGHTS = (0.3, 0.25, 0.15, 0.1, 0.2)
REASONS = ("price", "timing", "competitor", "no response", "budget")
REASON_WEIGHTS = (0.3, 0.25, 0.2, 0.15, 0.1)
INDUSTRIES = ("retail", "software", "health", "finance", "logistics")

WEAK_REP, WEAK_STAGE, WEAK_ADVANCE = "carol", "qualification", 0.22
ROT_STAGE, ROT_EXTRA_DAYS, ROT_ACTIVITY_GAP = "proposal", 21.0, 30.0
LEAKY_SOURCE, LEAKY_REASON, LEAKY_SHARE, LEAKY_EXTRA_LOSS = "paid_social", "budget", 0.85, 0.18

SETTINGS = """\
# The demo CRM's pipeline settings (docs/pipeline.md)
currency: EUR
rates: {USD: 0.92}
pipelines:
  sales:
    stages: [capture, proposal, opportunity, qualification, closing]
    won: [won]
    lost: [lost]
cadences:
  hot: {days: [0, 1, 3, 7], when: {source: [referral, events]}}
  slow: {every: 7, until: 90}
default_cadence: slow
rotting: {default: 14, capture: 3, closing: 7}
targets:
  - {period: 2026-12, owner: ana, revenue: 40000, deals: 4}
  - {period: 2026-12, owner: bob, revenue: 40000, deals: 4}
  - {period: 2026-12, owner: carol, revenue: 40000, deals: 4}
  - {period: 2026-12, owner: dan, revenue: 40000, deals: 4}
  - {period: 2026-12, owner: eve, revenue: 40000, deals: 4}
  - {period: 2026-12, owner: finn, revenue: 40000, deals: 4}
  - {period: 2026-Q4, team: north, revenue: 300000}
  - {period: 2026-Q4, team: south, revenue: 300000}
"""


@dataclass(frozen=True)
class PlantedTruth:
    kind: str  # weak rep, rotting stage, leaky source
    where: str  # "owner carol at qualification", "stage proposal", "source paid_social: budget"
    detail: str


@dataclass(frozen=True)
class CrmDemoFiles:
    deals: Path
    history: Path
    activities: Path
    settings: Path
    planted: tuple[PlantedTruth, ...]
    as_of: datetime


PLANTED = (
    PlantedTruth(
        "weak rep", f"owner {WEAK_REP} at {WEAK_STAGE}",
        f"moves {WEAK_ADVANCE:.0%} of deals on from {WEAK_STAGE}, others "
        f"{ADVANCE[STAGES.index(WEAK_STAGE)]:.0%}",
    ),
    PlantedTruth(
        "rotting stage", f"stage {ROT_STAGE}",
        f"deals wait {ROT_EXTRA_DAYS:.0f} more days there and get a touch about every "
        f"{ROT_ACTIVITY_GAP:.0f} days (elsewhere every 3)",
    ),
    PlantedTruth(
        "leaky source", f"source {LEAKY_SOURCE}: {LEAKY_REASON}",
        f"loses {LEAKY_EXTRA_LOSS:.0%} more deals at each stage, {LEAKY_SHARE:.0%} of its "
        f"losses for '{LEAKY_REASON}' (others {REASON_WEIGHTS[REASONS.index(LEAKY_REASON)]:.0%})",
    ),
)  # fmt: skip


def write_crm_demo(directory: Path, seed: int = 7, deals: int = 1600) -> CrmDemoFiles:
    """Write deals.csv, stage_history.csv, activities.csv and pipeline.yaml into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    deal_rows: list[list[object]] = []
    history_rows: list[list[object]] = []
    activity_rows: list[list[object]] = []
    span = (AS_OF - START).total_seconds()
    reps = list(TEAMS)
    for number in range(1, deals + 1):
        deal_id = f"D{number:05d}"
        created = START + timedelta(seconds=float(rng.random()) * span * 0.97)
        owner = reps[int(rng.integers(len(reps)))]
        source = str(rng.choice(SOURCES, p=SOURCE_WEIGHTS))
        industry = str(rng.choice(INDUSTRIES))
        currency = "USD" if rng.random() < 0.1 else "EUR"
        amount = round(float(rng.lognormal(8.7, 0.6)), -1)
        if source == "referral":
            amount = round(amount * 1.2, -1)
        stage_at = created
        history_rows.append([deal_id, "", STAGES[0], _iso(created), owner])
        status, stage, closed, reason = "open", STAGES[0], None, ""
        position = 0
        regressed = False
        while True:
            mean = MEAN_DAYS[position] + (ROT_EXTRA_DAYS if STAGES[position] == ROT_STAGE else 0)
            stay = float(rng.exponential(mean)) + 0.1
            leave = stage_at + timedelta(days=stay)
            _activities(rng, activity_rows, deal_id, owner, STAGES[position], stage_at,
                        min(leave, AS_OF))  # fmt: skip
            if leave > AS_OF:
                break  # still in this stage today
            odds = ADVANCE[position]
            if owner == WEAK_REP and STAGES[position] == WEAK_STAGE:
                odds = WEAK_ADVANCE
            if source == LEAKY_SOURCE:
                odds -= LEAKY_EXTRA_LOSS
            if source == "referral":
                odds = min(0.95, odds + 0.12)
            if STAGES[position] == "qualification" and not regressed and rng.random() < 0.04:
                regressed = True  # back to opportunity once: a regression, counted
                history_rows.append([deal_id, STAGES[position], "opportunity", _iso(leave), owner])
                position, stage, stage_at = STAGES.index("opportunity"), "opportunity", leave
                continue
            if rng.random() < odds:
                if position == len(STAGES) - 1:
                    history_rows.append([deal_id, STAGES[position], "won", _iso(leave), owner])
                    status, stage, closed = "won", "won", leave
                    break
                step = 2 if STAGES[position] == "proposal" and rng.random() < 0.06 else 1
                nxt = STAGES[position + step]  # a few skip opportunity: counted as skips
                history_rows.append([deal_id, STAGES[position], nxt, _iso(leave), owner])
                position, stage, stage_at = position + step, nxt, leave
                continue
            reason = (
                LEAKY_REASON
                if source == LEAKY_SOURCE and rng.random() < LEAKY_SHARE
                else str(rng.choice(REASONS, p=REASON_WEIGHTS))
            )
            history_rows.append([deal_id, STAGES[position], "lost", _iso(leave), owner])
            status, stage, closed = "lost", "lost", leave
            break
        expected = created + timedelta(days=float(rng.integers(30, 120)))
        deal_rows.append([
            deal_id, f"{industry.title()} deal {number}", "sales", stage, f"{amount:.2f}",
            currency, owner, TEAMS[owner], source, _iso(created), expected.date().isoformat(),
            status, _iso(closed) if closed else "", reason, industry,
            str(int(rng.choice([10, 50, 200, 1000]))),
        ])  # fmt: skip
    paths = (directory / "deals.csv", directory / "stage_history.csv",
             directory / "activities.csv")  # fmt: skip
    _write(paths[0], ["deal_id", "name", "pipeline", "stage", "amount", "currency", "owner",
                      "team", "source", "created_at", "expected_close", "status", "closed_at",
                      "lost_reason", "industry", "employees"], deal_rows)  # fmt: skip
    _write(paths[1], ["deal_id", "from_stage", "to_stage", "changed_at", "changed_by"],
           history_rows)  # fmt: skip
    _write(paths[2], ["deal_id", "kind", "due_at", "done_at", "owner"], activity_rows)
    settings = directory / "pipeline.yaml"
    settings.write_text(SETTINGS)
    return CrmDemoFiles(*paths, settings, PLANTED, AS_OF)


def _activities(
    rng: np.random.Generator,
    rows: list[list[object]],
    deal_id: str,
    owner: str,
    stage: str,
    start: datetime,
    end: datetime,
) -> None:
    """Touches done during a stay (a call or an email every few days; rarely in the rotting
    stage); an open deal also gets its next touch planned."""
    gap = ROT_ACTIVITY_GAP if stage == ROT_STAGE else 3.0
    at = start + timedelta(days=float(rng.exponential(gap / 2)))
    while at < end:
        kind = "call" if rng.random() < 0.6 else "email"
        rows.append([deal_id, kind, _iso(at), _iso(at), owner])
        at += timedelta(days=float(rng.exponential(gap)) + 0.5)
    if end == AS_OF and rng.random() < 0.5:
        rows.append([deal_id, "call", _iso(at), "", owner])


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
