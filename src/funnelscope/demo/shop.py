"""A synthetic online shop whose true funnel step rates are known exactly.

Every shopper arrives through one channel and opens a page (their first event). Then, step by step,
they go on through the e-commerce behaviour funnel (product clicked, added to cart, paid, order
completed) with a probability that depends only on their channel, or drop out for good. The whole
journey lies within 7 days of that first page. Around it there is noise: later sessions, each
starting with another ``page_opened``, and browsing events (scroll, search, ...) that are no funnel
step. A shopper who drops after step k never has any event of a later step, so a 7-day ordered
funnel over the data measures exactly the generator's rates, up to sampling error.

All randomness comes from one seeded numpy Generator and the work is vectorized: the same seed gives
the same table (and the same Parquet bytes); 50,000 shoppers take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from funnelscope.model.durations import US_PER_SECOND

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

FUNNEL_EVENTS: Final = (
    "page_opened",
    "product_clicked",
    "added_to_cart",
    "paid",
    "order_completed",
)
"""The e-commerce behaviour funnel, in order (the ``ecommerce-behaviour`` template)."""

NOISE_EVENTS: Final = (
    "scroll",
    "search",
    "view_category",
    "login",
    "view_faq",
    "newsletter_signup",
)
_NOISE_WEIGHTS: Final = (0.34, 0.22, 0.18, 0.12, 0.09, 0.05)
NOISE_PER_SESSION: Final = 2.5
"""Mean number of noise events per session (Poisson)."""

CHANNELS: Final = ("paid_search", "organic", "social", "email", "referral", "direct")
_CHANNEL_SHARES: Final = (0.25, 0.30, 0.15, 0.08, 0.07, 0.15)
CHANNEL_RATES: Final[dict[str, tuple[float, float, float, float]]] = {
    # page -> product, product -> cart, cart -> paid, paid -> order completed
    "paid_search": (0.50, 0.38, 0.62, 0.91),
    "organic": (0.42, 0.33, 0.60, 0.90),
    "social": (0.35, 0.25, 0.50, 0.86),
    "email": (0.60, 0.45, 0.70, 0.93),
    "referral": (0.52, 0.40, 0.66, 0.92),
    "direct": (0.48, 0.38, 0.62, 0.91),
}
"""The true probability of each step given the previous one, by the shopper's channel."""

COUNTRIES: Final = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "UA", "KR", "CN", "CA")
_COUNTRY_SHARES: Final = (0.30, 0.11, 0.10, 0.07, 0.05, 0.05, 0.04, 0.04, 0.04, 0.06, 0.08, 0.06)
DEVICES: Final = ("mobile", "desktop", "tablet")
_DEVICE_SHARES: Final = (0.58, 0.36, 0.06)
CATEGORIES: Final = ("fashion", "electronics", "home", "beauty", "sports", "books")
_CATEGORY_SHARES: Final = (0.26, 0.18, 0.20, 0.15, 0.12, 0.09)
_CATEGORY_MEDIAN_PRICE: Final = (45.0, 220.0, 70.0, 28.0, 60.0, 18.0)

# Share of first visits by hour of day (UTC): quiet nights, busy evenings.
_HOUR_WEIGHTS: Final = (
    1.0, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0,
    3.1, 3.0, 2.9, 2.9, 3.0, 3.2, 3.6, 4.0, 4.2, 3.8, 3.0, 1.8,
)  # fmt: skip

DAY: Final = 86_400
FUNNEL_WINDOW_SECONDS: Final = 7 * DAY
"""The demo funnel's window: every journey ends within this long after its first page."""
SESSION_GAP_SECONDS: Final = 30 * 60
"""A journey step more than this after the previous one starts a new session (with a page)."""
_JOURNEY_LIMIT: Final = FUNNEL_WINDOW_SECONDS - 3600  # keep an hour clear of the window's edge
_SESSION_LENGTH: Final = 25 * 60  # noise falls within this long after its session's first page
_RETURN_MEAN: Final = 4 * DAY  # mean delay of a later session after the first one


@dataclass(frozen=True)
class DemoShop:
    """The generated events and the generator's true step rates.

    ``true_rates[key]`` holds 4 probabilities: of going from step k to step k+1 of the
    e-commerce behaviour funnel (k = 1..4), among all shoppers (key ``"all"``) or those of one
    channel (key = channel name).
    """

    events: pa.Table
    true_rates: dict[str, tuple[float, ...]]
    persons: int
    seed: int

    def write_parquet(self, path: str | Path) -> Path:
        """Write the events to one Parquet file (parent folders are created); return its path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.events, target)
        return target


def _true_rates() -> dict[str, tuple[float, ...]]:
    """Per channel: the given rates; overall: the channel mix of those who reached each step."""
    shares = np.asarray(_CHANNEL_SHARES, dtype=np.float64)
    rates = np.asarray([CHANNEL_RATES[c] for c in CHANNELS], dtype=np.float64)
    # P(reach step k | channel) for k = 1..5; the overall rate k -> k+1 is a weighted mean.
    reach = np.cumprod(np.hstack([np.ones((len(CHANNELS), 1)), rates]), axis=1)
    weighted = shares @ reach
    overall = tuple(float(weighted[k + 1] / weighted[k]) for k in range(rates.shape[1]))
    result: dict[str, tuple[float, ...]] = {"all": overall}
    result.update({c: tuple(float(r) for r in CHANNEL_RATES[c]) for c in CHANNELS})
    return result


def _probabilities(weights: tuple[float, ...]) -> FloatArray:
    """Weights scaled to sum to 1."""
    p: FloatArray = np.asarray(weights, dtype=np.float64)
    normalized: FloatArray = p / p.sum()
    return normalized


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> FloatArray:
    """`n` log-normal draws with the given median."""
    values: FloatArray = rng.lognormal(np.log(median), sigma, n)
    return values


def _journey_gaps(rng: np.random.Generator, n: int) -> IntArray:
    """Whole seconds between consecutive funnel steps, (n, 4); each journey fits the window."""
    later = rng.random((n, 2))
    gaps = np.column_stack(
        [
            _lognormal(rng, 40, 1.0, n),  # page -> product: under a minute, typically
            np.where(  # product -> cart: minutes, or back some hours later
                later[:, 0] < 0.2, _lognormal(rng, 6 * 3600, 1.0, n), _lognormal(rng, 180, 1.2, n)
            ),
            np.where(  # cart -> paid: same session, or a day or so of thinking
                later[:, 1] < 0.3, _lognormal(rng, DAY, 0.9, n), _lognormal(rng, 240, 1.0, n)
            ),
            _lognormal(rng, 20 * 60, 1.5, n),  # paid -> order completed: confirmation, checks
        ]
    )
    total = gaps.sum(axis=1)
    too_long = total > _JOURNEY_LIMIT
    # Squeeze long journeys into 60-100% of the limit, keeping their shape.
    squeeze = rng.uniform(0.6, 1.0, n) * _JOURNEY_LIMIT / total
    gaps = np.where(too_long[:, None], gaps * squeeze[:, None], gaps)
    # Floors and the 1 s minimum add at most 4 s: still well inside the window.
    seconds: IntArray = np.maximum(np.floor(gaps), 1).astype(np.int64)
    return seconds


def _to_microseconds(start: datetime) -> int:
    """Microseconds since the Unix epoch; a naive `start` is taken as UTC."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def generate_shop(
    persons: int = 50_000,
    *,
    seed: int = 7,
    start: datetime = datetime(2026, 9, 1, tzinfo=UTC),
    weeks: int = 6,
) -> DemoShop:
    """Simulate `persons` shoppers whose first visit falls in `weeks` weeks from `start`.

    Every event lies within ``start .. start + weeks + 7 days``. Columns: event_id, person_id,
    event, timestamp (UTC, whole seconds), session_id, channel, country, device, product_category
    and price (the last two only on the funnel steps after the first).
    """
    if persons < 1:
        raise ValueError(f"persons must be at least 1, not {persons}")
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, not {weeks}")
    rng = np.random.default_rng(seed)
    n = persons
    person = np.arange(n, dtype=np.int64)
    horizon = (weeks * 7 + 7) * DAY  # seconds after start; nothing happens at or after it

    # Who the shoppers are.
    channel = rng.choice(len(CHANNELS), size=n, p=_probabilities(_CHANNEL_SHARES))
    country = rng.choice(len(COUNTRIES), size=n, p=_probabilities(_COUNTRY_SHARES))
    device = rng.choice(len(DEVICES), size=n, p=_probabilities(_DEVICE_SHARES))
    category = rng.choice(len(CATEGORIES), size=n, p=_probabilities(_CATEGORY_SHARES))
    medians = np.asarray(_CATEGORY_MEDIAN_PRICE)[category]
    price = np.round(np.floor(medians * rng.lognormal(0.0, 0.5, n)) + 0.99, 2)  # e.g. 44.99

    # How far each goes: step k+1 needs step k and a draw under the channel's rate.
    rates = np.asarray([CHANNEL_RATES[c] for c in CHANNELS], dtype=np.float64)[channel]
    passed = rng.random((n, 4)) < rates
    depth = np.cumprod(passed, axis=1).sum(axis=1)  # 0..4 steps after the first page

    # When: the first page, then the journey's steps.
    day = rng.integers(0, weeks * 7, n)
    hour = rng.choice(24, size=n, p=_probabilities(_HOUR_WEIGHTS))
    t0 = day * DAY + hour * 3600 + rng.integers(0, 3600, n)
    gaps = _journey_gaps(rng, n)
    step_time = t0[:, None] + np.cumsum(gaps, axis=1)
    done = np.arange(4)[None, :] < depth[:, None]
    step_person = np.broadcast_to(person[:, None], (n, 4))[done]
    step_code = np.broadcast_to(np.arange(1, 5)[None, :], (n, 4))[done]
    step_t = step_time[done]

    # A step long after the previous one is a new visit: a page opens a few seconds before it.
    comeback = done & (gaps > SESSION_GAP_SECONDS)
    landing_person = np.broadcast_to(person[:, None], (n, 4))[comeback]
    landing_t = step_time[comeback] - rng.integers(5, 90, int(comeback.sum()))

    # Later visits that lead nowhere in the funnel: each opens a page.
    extra = rng.geometric(0.4, n) - 1
    extra_person = np.repeat(person, extra)
    first = t0[extra_person] + 3600
    last = horizon - SESSION_GAP_SECONDS
    extra_t = first + rng.exponential(_RETURN_MEAN, len(extra_person)).astype(np.int64)
    late = extra_t > last
    extra_t[late] = rng.integers(first[late], last)

    # Every page opened starts a session; noise events fall inside sessions.
    anchor_person = np.concatenate([person, landing_person, extra_person])
    anchor_t = np.concatenate([t0, landing_t, extra_t])
    noise_count = rng.poisson(NOISE_PER_SESSION, len(anchor_person))
    noise_person = np.repeat(anchor_person, noise_count)
    noise_t = np.repeat(anchor_t, noise_count) + rng.integers(1, _SESSION_LENGTH, len(noise_person))
    noise_code = len(FUNNEL_EVENTS) + rng.choice(
        len(NOISE_EVENTS), size=len(noise_person), p=_probabilities(_NOISE_WEIGHTS)
    )

    ev_person = np.concatenate([anchor_person, step_person, noise_person])
    ev_t = np.concatenate([anchor_t, step_t, noise_t])
    ev_code = np.concatenate([np.zeros(len(anchor_person), np.int64), step_code, noise_code])

    # Sessions: an event belongs to the latest page its person opened at or before it.
    stride = np.int64(horizon + 1)
    anchor_key = anchor_person * stride + anchor_t
    anchor_order = np.argsort(anchor_key, kind="stable")
    anchor_key = anchor_key[anchor_order]
    first_anchor = np.searchsorted(anchor_key, person * stride, side="left")
    session_rank = np.arange(len(anchor_order)) - first_anchor[anchor_person[anchor_order]]
    ev_session = np.searchsorted(anchor_key, ev_person * stride + ev_t, side="right") - 1

    # The log is in time order; ties: person, then the page before other events.
    order = np.lexsort((ev_code, ev_person, ev_t))
    ev_person, ev_t, ev_code = ev_person[order], ev_t[order], ev_code[order]
    ev_session = ev_session[order]
    events = _to_table(
        id_prefix=f"demo-s{seed}-n{persons}-",  # another seed or size is other data: other ids
        start_us=_to_microseconds(start),
        person=ev_person,
        t=ev_t,
        code=ev_code,
        session=ev_session,
        session_person=anchor_person[anchor_order],
        session_rank=session_rank,
        channel=channel,
        country=country,
        device=device,
        category=category,
        price=price,
    )
    return DemoShop(events=events, true_rates=_true_rates(), persons=n, seed=seed)


def _to_table(
    *,
    id_prefix: str,
    start_us: int,
    person: IntArray,
    t: IntArray,
    code: IntArray,
    session: IntArray,
    session_person: IntArray,
    session_rank: IntArray,
    channel: IntArray,
    country: IntArray,
    device: IntArray,
    category: IntArray,
    price: FloatArray,
) -> pa.Table:
    """Turn the integer-coded events into the Arrow table (strings built once per value)."""
    n_persons = len(channel)
    person_ids = pa.array([f"u{i:06d}" for i in range(n_persons)], pa.string())
    session_ids = pa.array(
        [
            f"u{p:06d}-s{r:02d}"
            for p, r in zip(session_person.tolist(), session_rank.tolist(), strict=True)
        ],
        pa.string(),
    )
    names = pa.array(FUNNEL_EVENTS + NOISE_EVENTS, pa.string())
    has_product = (code >= 1) & (code < len(FUNNEL_EVENTS))
    person_idx = pa.array(person)
    return pa.table(
        {
            "event_id": pa.array([f"{id_prefix}{i:08d}" for i in range(len(code))], pa.string()),
            "person_id": person_ids.take(person_idx),
            "event": names.take(pa.array(code)),
            "timestamp": pa.array(start_us + t * US_PER_SECOND, pa.timestamp("us", tz="UTC")),
            "session_id": session_ids.take(pa.array(session)),
            "channel": pa.array(CHANNELS, pa.string()).take(pa.array(channel[person])),
            "country": pa.array(COUNTRIES, pa.string()).take(pa.array(country[person])),
            "device": pa.array(DEVICES, pa.string()).take(pa.array(device[person])),
            "product_category": pa.array(CATEGORIES, pa.string()).take(
                pa.array(category[person], mask=~has_product)
            ),
            "price": pa.array(price[person], pa.float64(), mask=~has_product),
        }
    )
