"""A synthetic search-marketing report set with three planted problems whose true effect is known.

The advertiser sells and installs doors and windows. Over 12 fixed weeks (Monday 2026-08-31 to
Sunday 2026-11-22) ten search campaigns show ads on their keywords; people click, arrive on the
site, make an inquiry (chat, phone or form), a sales rep takes it and some inquiries become orders:

    impressions -> clicks -> visits -> inquiries -> orders

Four exports describe this, each from its own system and at its own grain: the ads keyword report
(day x keyword x device), web analytics sessions (day x campaign x device), the inquiry log and the
order system (one row each). Every rate is a fixed, known probability (a keyword's CTR, a
campaign's arrival and inquiry rate, a rep's order rate, mild device effects) times a mean-1
day-to-day wobble; counts are binomial draws on top. Three problems are planted on that healthy
ground, and nothing else is:

- ``landing_page``: Spring-Brand's landing page breaks on 2026-10-26; its arrival rate falls
  from 0.80 to 0.45.
- ``broad_keyword``: the broad keyword "door" (Doors-Generic) buys ~8,000 impressions a day at a
  0.6% CTR, where its campaign's keywords get ~5.9%.
- ``weak_rep``: the rep Sam turns 12% of the inquiries into orders; the others 29-32%.

Each one's cost in orders over the last 28 days is computed from the generating probabilities and
expected volumes (see `PlantedLeak.expected_lost_orders`). All randomness comes from one seeded
numpy Generator and the work is vectorised: the same seed gives the same files, byte for byte.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

START: Final = date(2026, 8, 31)
"""The first day of the reports (a Monday)."""
DAYS: Final = 84
END: Final = START + timedelta(days=DAYS - 1)
"""The last day of the reports (Sunday 2026-11-22); nothing is dated after it."""
BREAK_DAY: Final = 56
"""Day index of 2026-10-26, the Monday of week 9: Spring-Brand's landing page breaks."""
RECENT_DAYS: Final = 28
"""The planted leaks' cost is counted over the last this many days (2026-10-26 .. 2026-11-22)."""


class Campaign(NamedTuple):
    name: str
    arrival: float  # P(visit | click)
    inquiry: float  # P(inquiry | visit)
    revenue_median: float  # median order value


class Keyword(NamedTuple):
    campaign: str
    ad_group: str
    text: str
    match: str
    impressions: float  # mean impressions per day (all devices, weekday pattern averaged out)
    ctr: float  # P(click | impression), as generated (planted value for "door")
    cpc: float  # typical cost per click


CAMPAIGNS: Final = (
    Campaign("Spring-Brand", 0.80, 0.066, 1300.0),
    Campaign("Doors-Generic", 0.78, 0.055, 1400.0),
    Campaign("Doors-Premium", 0.80, 0.060, 2100.0),
    Campaign("Windows-Generic", 0.77, 0.056, 1100.0),
    Campaign("Windows-Premium", 0.79, 0.058, 1900.0),
    Campaign("Installation-Local", 0.82, 0.064, 1000.0),
    Campaign("Garage-Doors", 0.78, 0.054, 1500.0),
    Campaign("Repairs", 0.76, 0.066, 450.0),
    Campaign("Competitors", 0.74, 0.042, 1300.0),
    Campaign("Autumn-Sale", 0.80, 0.060, 1150.0),
)
"""The campaigns' healthy arrival and inquiry rates and their median order value."""

BROKEN_LANDING_CAMPAIGN: Final = "Spring-Brand"
BROKEN_ARRIVAL: Final = 0.45
BROAD_KEYWORD: Final = "door"
BROAD_KEYWORD_NORMAL_CTR: Final = 0.059
"""What "door" would get if it matched like its campaign's other keywords (they get 5.7-6.1%)."""

_KEYWORD_TABLE: Final[dict[str, tuple[tuple[str, str, str, float, float, float], ...]]] = {
    "Spring-Brand": (
        ("Brand - core", "brightframe", "exact", 1400, 0.100, 0.55),
        ("Brand - core", "brightframe windows and doors", "phrase", 650, 0.097, 0.60),
        ("Brand - services", "brightframe installation", "phrase", 550, 0.095, 0.65),
        ("Brand - services", "brightframe reviews", "phrase", 450, 0.094, 0.50),
        ("Brand - services", "brightframe showroom", "exact", 350, 0.099, 0.55),
    ),
    "Doors-Generic": (
        ("Front doors", "front doors", "phrase", 1650, 0.058, 1.60),
        ("Front doors", "buy front door", "phrase", 800, 0.061, 1.75),
        ("Front doors", "composite front doors", "phrase", 700, 0.060, 1.70),
        ("Doors - broad", "door", "broad", 8000, 0.006, 1.10),
        ("Doors - broad", "new entry door", "broad", 900, 0.057, 1.45),
    ),
    "Doors-Premium": (
        ("Premium entrance", "luxury front doors", "phrase", 600, 0.068, 2.30),
        ("Premium entrance", "oak front doors", "phrase", 500, 0.067, 2.10),
        ("Security doors", "security front doors", "phrase", 700, 0.066, 2.25),
        ("Security doors", "steel entry doors", "broad", 450, 0.065, 2.00),
    ),
    "Windows-Generic": (
        ("Replacement windows", "replacement windows", "phrase", 1950, 0.052, 1.50),
        ("Replacement windows", "new windows cost", "phrase", 1000, 0.053, 1.40),
        ("Replacement windows", "window replacement quote", "broad", 700, 0.052, 1.55),
        ("Double glazing", "double glazing", "phrase", 1500, 0.051, 1.45),
        ("Double glazing", "double glazed windows", "phrase", 900, 0.052, 1.50),
    ),
    "Windows-Premium": (
        ("Triple glazing", "triple glazing windows", "phrase", 700, 0.068, 2.20),
        ("Triple glazing", "energy efficient windows", "broad", 750, 0.066, 1.95),
        ("Wood windows", "timber windows", "phrase", 500, 0.069, 2.15),
        ("Wood windows", "aluminium clad windows", "exact", 300, 0.070, 2.40),
    ),
    "Installation-Local": (
        ("Window fitters", "window fitters near me", "phrase", 1050, 0.075, 1.90),
        ("Window fitters", "window installation", "phrase", 800, 0.073, 1.85),
        ("Door fitters", "door fitting service", "phrase", 600, 0.074, 1.80),
        ("Door fitters", "door installers near me", "exact", 500, 0.077, 2.00),
    ),
    "Garage-Doors": (
        ("Garage doors", "garage doors", "phrase", 1100, 0.049, 1.40),
        ("Garage doors", "sectional garage door", "phrase", 450, 0.051, 1.50),
        ("Electric garage doors", "electric garage doors", "phrase", 700, 0.050, 1.55),
        ("Electric garage doors", "roller garage door", "broad", 500, 0.048, 1.35),
    ),
    "Repairs": (
        ("Window repairs", "window repair", "phrase", 900, 0.045, 1.30),
        ("Window repairs", "misted double glazing repair", "phrase", 450, 0.046, 1.20),
        ("Door repairs", "door lock repair", "phrase", 500, 0.044, 1.35),
        ("Door repairs", "upvc door repair", "exact", 400, 0.046, 1.25),
    ),
    "Competitors": (
        ("Competitor brands", "clearview windows", "exact", 700, 0.034, 2.60),
        ("Competitor brands", "stonegate doors", "exact", 500, 0.033, 2.70),
        ("Comparisons", "best window companies", "phrase", 600, 0.035, 2.50),
        ("Comparisons", "door company reviews", "phrase", 400, 0.034, 2.40),
    ),
    "Autumn-Sale": (
        ("Window offers", "window sale", "phrase", 800, 0.065, 1.70),
        ("Window offers", "cheap windows offer", "broad", 600, 0.063, 1.60),
        ("Door offers", "front door sale", "phrase", 500, 0.066, 1.75),
        ("Door offers", "door deals", "broad", 400, 0.064, 1.65),
    ),
}
"""By campaign: ad group, keyword, match type, mean daily impressions, true CTR, CPC."""

KEYWORDS: Final = tuple(
    Keyword(campaign, *row) for campaign, rows in _KEYWORD_TABLE.items() for row in rows
)
"""Every keyword of the account (unique), with its mean daily impressions, true CTR and CPC."""

DEVICES: Final = ("mobile", "desktop", "tablet")
DEVICE_SHARES: Final = (0.58, 0.36, 0.06)
"""Every keyword's impressions split across devices in these shares."""
# Mild device effects on CTR, arrival and inquiry rate, before scaling to a mean of 1 over the
# device mix (so a campaign's or keyword's overall rate is the listed one).
_DEVICE_CTR: Final = (0.99, 1.02, 0.98)
_DEVICE_ARRIVAL: Final = (0.98, 1.03, 1.00)
_DEVICE_INQUIRY: Final = (0.97, 1.04, 0.98)

REPS: Final = ("Anna", "Ben", "Chloe", "Dmitri", "Sam")
REP_ORDER_RATES: Final = (0.31, 0.29, 0.32, 0.30, 0.12)
"""P(order | inquiry) by the rep the inquiry is assigned to (uniformly at random); Sam: planted."""
WEAK_REP: Final = "Sam"
WEAK_REP_NORMAL_RATE: Final = 0.30
"""Sam's order rate if Sam sold like the others (their mean)."""

ORDER_LAG_PROBABILITIES: Final = (0.75, 0.0625, 0.0625, 0.0625, 0.0625)
"""P(an order is dated k days after its inquiry), k = 0..4. Orders that would be dated after `END`
have not happened yet and are left out; the lag is short (0.625 days on average), so the last
week's order rate is only ~9% short, the last 28 days' ~2%."""

CHANNELS: Final = ("chat", "phone", "form")
_CHANNEL_SHARES_BY_DEVICE: Final = ((0.35, 0.40, 0.25), (0.35, 0.20, 0.45), (0.35, 0.25, 0.40))

# Mon..Sun volume: weekends are quieter. Scaled to a mean of 1.
_WEEKDAY_VOLUME: Final = (1.06, 1.09, 1.07, 1.04, 0.97, 0.86, 0.81)
# Inquiries by hour of day: office hours, and an evening bump (forms and chat).
_INQUIRY_HOUR_WEIGHTS: Final = (
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.6, 3.4, 3.6, 3.5,
    3.0, 3.2, 3.4, 3.3, 3.0, 2.6, 2.0, 1.9, 2.0, 1.6, 1.0, 0.5,
)  # fmt: skip

RATE_WOBBLE: Final = 0.05
"""Log-scale sd of the day-to-day wobble on every rate (mean 1)."""
_VOLUME_WOBBLE: Final = 0.10
_COST_WOBBLE: Final = 0.12
_REVENUE_SIGMA: Final = 0.45

ADS_HEADER: Final = (
    "Day", "Campaign", "Ad group", "Keyword", "Match type", "Device", "Impressions", "Clicks",
    "Cost",
)  # fmt: skip
ANALYTICS_HEADER: Final = ("Date", "Session campaign", "Device category", "Sessions")
INQUIRIES_HEADER: Final = (
    "Inquiry ID",
    "Received at",
    "Campaign",
    "Device",
    "Channel",
    "Assigned rep",
)
ORDERS_HEADER: Final = ("Order ID", "Order date", "Campaign", "Rep", "Revenue")
FILE_NAMES: Final = ("ads.csv", "analytics.csv", "inquiries.csv", "orders.csv")


@dataclass(frozen=True)
class PlantedLeak:
    """One planted problem: a rate from `from_stage` to `layer` that is broken in `segment`."""

    name: str
    layer: str
    from_stage: str
    segment: dict[str, str]
    true_rate: float
    normal_rate: float
    start: date
    expected_lost_orders: float
    """Expected orders dated in the last 28 days that the problem costs, the other two planted
    problems staying in place: from the generating probabilities and mean volumes (no sampling)."""
    description: str


@dataclass(frozen=True)
class SearchReports:
    """The four exports as Arrow tables (exactly the columns written) and the planted problems."""

    ads: pa.Table
    analytics: pa.Table
    inquiries: pa.Table
    orders: pa.Table
    planted: tuple[PlantedLeak, ...]
    start: date
    end: date

    def write(self, directory: Path) -> list[Path]:
        """Write ads.csv, analytics.csv, inquiries.csv and orders.csv (UTF-8) into `directory`
        (created if needed); return their paths in that order."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = [directory / name for name in FILE_NAMES]
        _write_ads(paths[0], self.ads, self.start, self.end)
        _write_plain(paths[1], self.analytics, ANALYTICS_HEADER)
        _write_plain(paths[2], self.inquiries, INQUIRIES_HEADER)
        revenue = self.orders.column("Revenue").to_numpy()
        orders = self.orders.set_column(
            4, "Revenue", pa.array([f"{v:.2f}" for v in revenue.tolist()], pa.string())
        )
        _write_plain(paths[3], orders, ORDERS_HEADER)
        return paths


def _strings(column: pa.ChunkedArray) -> list[str]:
    """A column as text: ISO dates, ``YYYY-MM-DD HH:MM:SS`` times, plain integers."""
    text: list[str] = pc.cast(column, pa.string()).to_pylist()
    return text


_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def _long_date(day: date) -> str:
    """``31 August 2026``, whatever the locale."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _money(cents: int) -> str:
    """``1,204.50`` from 120450."""
    return f"{cents // 100:,}.{cents % 100:02d}"


def _write_ads(path: Path, ads: pa.Table, start: date, end: date) -> None:
    cents = np.rint(ads.column("Cost").to_numpy() * 100).astype(np.int64)
    columns = [_strings(ads.column(name)) for name in ADS_HEADER[:-1]]
    costs = [_money(c) for c in cents.tolist()]
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        handle.write("Keyword report\n")
        handle.write(f"{_long_date(start)} - {_long_date(end)}\n")
        out.writerow(ADS_HEADER)
        out.writerows(zip(*columns, costs, strict=True))
        total_impressions = int(pc.sum(ads.column("Impressions")).as_py() or 0)
        total_clicks = int(pc.sum(ads.column("Clicks")).as_py() or 0)
        handle.write(
            f'Total,,,,,,{total_impressions},{total_clicks},"{_money(int(cents.sum()))}"\n'
        )


def _write_plain(path: Path, table: pa.Table, header: tuple[str, ...]) -> None:
    columns = [_strings(table.column(i)) for i in range(table.num_columns)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(header)
        out.writerows(zip(*columns, strict=True))


def _weights(values: tuple[float, ...]) -> FloatArray:
    w: FloatArray = np.asarray(values, dtype=np.float64)
    scaled: FloatArray = w / w.sum()
    return scaled


def _mean_one(effects: tuple[float, ...], weights: FloatArray) -> FloatArray:
    """`effects` scaled so their `weights`-weighted mean is 1."""
    e = np.asarray(effects, dtype=np.float64)
    scaled: FloatArray = e / float(e @ weights)
    return scaled


def _wobble(rng: np.random.Generator, sigma: float, shape: tuple[int, ...]) -> FloatArray:
    """Mean-1 log-normal multipliers."""
    values: FloatArray = rng.lognormal(-sigma * sigma / 2, sigma, shape)
    return values


class _Model:
    """The generating probabilities and expected volumes, as arrays (d: day, k: keyword,
    c: campaign, v: device)."""

    def __init__(self) -> None:
        self.campaign_names = [c.name for c in CAMPAIGNS]
        self.kw_campaign = np.asarray(
            [self.campaign_names.index(k.campaign) for k in KEYWORDS], dtype=np.int64
        )
        self.one_hot = np.eye(len(CAMPAIGNS))[self.kw_campaign]  # (k, c)
        self.shares = _weights(DEVICE_SHARES)
        self.device_ctr = _mean_one(_DEVICE_CTR, self.shares)
        click_mix = self.shares * self.device_ctr
        self.device_arrival = _mean_one(_DEVICE_ARRIVAL, click_mix / click_mix.sum())
        visit_mix = click_mix * self.device_arrival
        self.device_inquiry = _mean_one(_DEVICE_INQUIRY, visit_mix / visit_mix.sum())
        weekday = np.asarray(_WEEKDAY_VOLUME) / np.mean(_WEEKDAY_VOLUME)
        self.day_volume: FloatArray = weekday[np.arange(DAYS) % 7]
        self.kw_impressions = np.asarray([k.impressions for k in KEYWORDS])
        self.kw_cpc = np.asarray([k.cpc for k in KEYWORDS])
        self.door = [k.text for k in KEYWORDS].index(BROAD_KEYWORD)
        self.spring = self.campaign_names.index(BROKEN_LANDING_CAMPAIGN)
        self.sam = REPS.index(WEAK_REP)
        self.inquiry = np.asarray([c.inquiry for c in CAMPAIGNS])
        self.revenue_median = np.asarray([c.revenue_median for c in CAMPAIGNS])
        # Share of an inquiry day's orders dated in the last RECENT_DAYS days (lags past END
        # never happen within the data).
        lag = np.asarray(ORDER_LAG_PROBABILITIES)
        order_day = np.arange(DAYS)[:, None] + np.arange(len(lag))[None, :]
        recent = (order_day >= DAYS - RECENT_DAYS) & (order_day < DAYS)
        self.recent_order_share: FloatArray = (recent * lag).sum(axis=1)

    def ctr(self, door_ctr: float) -> FloatArray:
        rates = np.asarray([k.ctr for k in KEYWORDS])
        rates[self.door] = door_ctr
        return rates

    def arrival(self, broken: float) -> FloatArray:
        """(d, c): P(visit | click) by day and campaign."""
        rates = np.tile(np.asarray([c.arrival for c in CAMPAIGNS]), (DAYS, 1))
        rates[BREAK_DAY:, self.spring] = broken
        return rates

    def order_rates(self, sam: float) -> FloatArray:
        rates = np.asarray(REP_ORDER_RATES)
        rates[self.sam] = sam
        return rates

    def expected_recent_orders(self, door_ctr: float, broken: float, sam: float) -> float:
        """Expected orders dated in the last RECENT_DAYS days, from mean volumes and rates."""
        impressions = self.day_volume[:, None] * self.kw_impressions[None, :]  # (d, k)
        clicks = (impressions * self.ctr(door_ctr)) @ self.one_hot  # (d, c); device mix mean 1
        inquiries = (clicks * self.arrival(broken) * self.inquiry).sum(axis=1)  # (d,)
        orders = inquiries * float(np.mean(self.order_rates(sam)))
        return float(orders @ self.recent_order_share)


def _planted(model: _Model) -> tuple[PlantedLeak, ...]:
    door_ctr = KEYWORDS[model.door].ctr
    sam_rate = REP_ORDER_RATES[model.sam]
    actual = model.expected_recent_orders(door_ctr, BROKEN_ARRIVAL, sam_rate)
    spring_arrival = CAMPAIGNS[model.spring].arrival
    leaks = [
        PlantedLeak(
            name="landing_page",
            layer="visits",
            from_stage="clicks",
            segment={"campaign": BROKEN_LANDING_CAMPAIGN},
            true_rate=BROKEN_ARRIVAL,
            normal_rate=spring_arrival,
            start=START + timedelta(days=BREAK_DAY),
            expected_lost_orders=model.expected_recent_orders(door_ctr, spring_arrival, sam_rate)
            - actual,
            description=(
                f"Since {_long_date(START + timedelta(days=BREAK_DAY))} only "
                f"{BROKEN_ARRIVAL:.0%} of the clicks on {BROKEN_LANDING_CAMPAIGN} ads reach the "
                f"site (was {spring_arrival:.0%}): its landing page is broken."
            ),
        ),
        PlantedLeak(
            name="broad_keyword",
            layer="clicks",
            from_stage="impressions",
            segment={"keyword": BROAD_KEYWORD},
            true_rate=door_ctr,
            normal_rate=BROAD_KEYWORD_NORMAL_CTR,
            start=START,
            expected_lost_orders=model.expected_recent_orders(
                BROAD_KEYWORD_NORMAL_CTR, BROKEN_ARRIVAL, sam_rate
            )
            - actual,
            description=(
                f'The broad-match keyword "{BROAD_KEYWORD}" in Doors-Generic buys many '
                f"impressions but only {door_ctr:.1%} of them click "
                f"(its campaign's other keywords: about {BROAD_KEYWORD_NORMAL_CTR:.1%})."
            ),
        ),
        PlantedLeak(
            name="weak_rep",
            layer="orders",
            from_stage="inquiries",
            segment={"rep": WEAK_REP},
            true_rate=sam_rate,
            normal_rate=WEAK_REP_NORMAL_RATE,
            start=START,
            expected_lost_orders=model.expected_recent_orders(
                door_ctr, BROKEN_ARRIVAL, WEAK_REP_NORMAL_RATE
            )
            - actual,
            description=(
                f"Sales rep {WEAK_REP} turns {sam_rate:.0%} of the inquiries assigned to them "
                f"into orders, the other reps about {WEAK_REP_NORMAL_RATE:.0%}."
            ),
        ),
    ]
    return tuple(sorted(leaks, key=lambda leak: -leak.expected_lost_orders))


def _dates(day: IntArray) -> pa.Array:
    epoch_day = (START - date(1970, 1, 1)).days
    return pa.array((day + epoch_day).astype(np.int32), pa.date32())


def _labels(names: tuple[str, ...] | list[str], codes: IntArray) -> pa.Array:
    return pa.array(names, pa.string()).take(pa.array(codes))


def generate_search_reports(seed: int = 7) -> SearchReports:
    """Simulate the 12 weeks of search marketing for `seed`: the four exports and the planted
    problems (sorted by the orders they cost over the last 28 days, largest first)."""
    rng = np.random.default_rng(seed)
    model = _Model()
    n_k, n_c, n_v, n_r = len(KEYWORDS), len(CAMPAIGNS), len(DEVICES), len(REPS)

    # Ads: impressions and clicks by day x keyword x device.
    volume = model.day_volume[:, None] * model.kw_impressions[None, :]
    volume = volume * _wobble(rng, _VOLUME_WOBBLE, (DAYS, n_k))
    impressions = rng.poisson(volume[:, :, None] * model.shares[None, None, :])
    ctr = model.ctr(KEYWORDS[model.door].ctr)[None, :] * _wobble(rng, RATE_WOBBLE, (DAYS, n_k))
    ctr_dkv = np.clip(ctr[:, :, None] * model.device_ctr[None, None, :], 0.0, 1.0)
    clicks = rng.binomial(impressions, ctr_dkv)
    cpc = model.kw_cpc[None, :, None] * _wobble(rng, _COST_WOBBLE, clicks.shape)
    cost_cents = np.rint(clicks * cpc * 100).astype(np.int64)

    # Analytics: visits from each campaign's clicks, by day x campaign x device.
    campaign_clicks = np.einsum("dkv,kc->dcv", clicks, model.one_hot).astype(np.int64)
    arrival = model.arrival(BROKEN_ARRIVAL) * _wobble(rng, RATE_WOBBLE, (DAYS, n_c))
    arrival_dcv = np.clip(arrival[:, :, None] * model.device_arrival[None, None, :], 0.0, 1.0)
    visits = rng.binomial(campaign_clicks, arrival_dcv)

    # Inquiries: a count per day x campaign x device, then one row each.
    inquiry = model.inquiry[None, :] * _wobble(rng, RATE_WOBBLE, (DAYS, n_c))
    inquiry_dcv = np.clip(inquiry[:, :, None] * model.device_inquiry[None, None, :], 0.0, 1.0)
    cell_inquiries = rng.binomial(visits, inquiry_dcv)
    cell = np.repeat(np.arange(cell_inquiries.size), cell_inquiries.ravel())
    q_day, q_campaign, q_device = np.unravel_index(cell, cell_inquiries.shape)
    n_q = len(cell)
    q_rep = rng.integers(0, n_r, n_q)
    channel_cum = np.cumsum(np.asarray(_CHANNEL_SHARES_BY_DEVICE), axis=1)[q_device]
    q_channel = (rng.random(n_q)[:, None] > channel_cum[:, :-1]).sum(axis=1)
    hour = rng.choice(24, size=n_q, p=_weights(_INQUIRY_HOUR_WEIGHTS))
    q_second = hour * 3600 + rng.integers(0, 3600, n_q)
    by_time = np.lexsort((q_second, q_day))
    q_day, q_campaign, q_device = q_day[by_time], q_campaign[by_time], q_device[by_time]
    q_rep, q_channel, q_second = q_rep[by_time], q_channel[by_time], q_second[by_time]

    # Orders: some inquiries convert, by their rep; dated 0-4 days later, if not after END.
    order_rate = model.order_rates(REP_ORDER_RATES[model.sam])[None, :]
    order_rate = np.clip(order_rate * _wobble(rng, RATE_WOBBLE, (DAYS, n_r)), 0.0, 1.0)
    converts = rng.random(n_q) < order_rate[q_day, q_rep]
    lag = rng.choice(len(ORDER_LAG_PROBABILITIES), size=n_q, p=_weights(ORDER_LAG_PROBABILITIES))
    o_day_all = q_day + lag
    made = converts & (o_day_all < DAYS)
    source = np.flatnonzero(made)
    source = source[np.argsort(o_day_all[source], kind="stable")]  # by date, then inquiry
    o_day, o_campaign, o_rep = o_day_all[source], q_campaign[source], q_rep[source]
    revenue_draw = rng.lognormal(0.0, _REVENUE_SIGMA, n_q)[source]
    revenue = np.round(model.revenue_median[o_campaign] * revenue_draw, 2)

    campaign_names = model.campaign_names
    d, k, v = (a.ravel() for a in np.indices((DAYS, n_k, n_v)))
    ads = pa.table(
        {
            "Day": _dates(d),
            "Campaign": _labels(campaign_names, model.kw_campaign[k]),
            "Ad group": _labels(tuple(kw.ad_group for kw in KEYWORDS), k),
            "Keyword": _labels(tuple(kw.text for kw in KEYWORDS), k),
            "Match type": _labels(tuple(kw.match for kw in KEYWORDS), k),
            "Device": _labels(DEVICES, v),
            "Impressions": pa.array(impressions.ravel().astype(np.int64)),
            "Clicks": pa.array(clicks.ravel().astype(np.int64)),
            "Cost": pa.array(cost_cents.ravel() / 100.0, pa.float64()),
        }
    )
    d, c, v = (a.ravel() for a in np.indices((DAYS, n_c, n_v)))
    analytics = pa.table(
        {
            "Date": _dates(d),
            "Session campaign": _labels([name.lower() for name in campaign_names], c),
            "Device category": _labels(DEVICES, v),
            "Sessions": pa.array(visits.ravel().astype(np.int64)),
        }
    )
    epoch_second = (START - date(1970, 1, 1)).days * 86_400
    inquiries = pa.table(
        {
            "Inquiry ID": pa.array([f"INQ-{i:06d}" for i in range(1, n_q + 1)], pa.string()),
            "Received at": pa.array(
                epoch_second + q_day.astype(np.int64) * 86_400 + q_second, pa.timestamp("s")
            ),
            "Campaign": _labels(campaign_names, q_campaign),
            "Device": _labels(DEVICES, q_device),
            "Channel": _labels(CHANNELS, q_channel),
            "Assigned rep": _labels(REPS, q_rep),
        }
    )
    orders = pa.table(
        {
            "Order ID": pa.array([f"ORD-{i:06d}" for i in range(1, len(source) + 1)], pa.string()),
            "Order date": _dates(o_day),
            "Campaign": _labels(campaign_names, o_campaign),
            "Rep": _labels(REPS, o_rep),
            "Revenue": pa.array(revenue, pa.float64()),
        }
    )
    return SearchReports(
        ads=ads,
        analytics=analytics,
        inquiries=inquiries,
        orders=orders,
        planted=_planted(model),
        start=START,
        end=END,
    )
