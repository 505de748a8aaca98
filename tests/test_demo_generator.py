"""The synthetic shop: deterministic, well-formed, and its funnel measures the true rates.

Everything here is computed straight from the generated Arrow table with numpy, not through any
funnel engine, so these tests check the generator on its own.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from funnelscope.demo.shop import CHANNEL_RATES, CHANNELS, DemoShop, generate_shop

STEPS = ["page_opened", "product_clicked", "added_to_cart", "paid", "order_completed"]
START = datetime(2026, 9, 1, tzinfo=UTC)
WEEK_US = 7 * 86_400 * 1_000_000
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("person_id", pa.string()),
        ("event", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("session_id", pa.string()),
        ("channel", pa.string()),
        ("country", pa.string()),
        ("device", pa.string()),
        ("product_category", pa.string()),
        ("price", pa.float64()),
    ]
)


@pytest.fixture(scope="module")
def shop() -> DemoShop:
    return generate_shop(20_000, seed=3)


class Columns:
    """The table as numpy arrays, persons coded 0..n-1, events sorted by person then time."""

    def __init__(self, table: pa.Table) -> None:
        person_ids = np.asarray(table.column("person_id").to_numpy(zero_copy_only=False))
        self.person_names, person = np.unique(person_ids, return_inverse=True)
        ts = table.column("timestamp").cast(pa.int64()).to_numpy()
        order = np.lexsort((np.arange(len(ts)), ts, person))
        self.person = person[order]
        self.ts = ts[order]
        self.event = np.asarray(table.column("event").to_numpy(zero_copy_only=False))[order]
        self.session = np.asarray(table.column("session_id").to_numpy(zero_copy_only=False))[order]
        self.channel = np.asarray(table.column("channel").to_numpy(zero_copy_only=False))[order]
        self.n = len(self.person_names)

    def step_times(self, step: str) -> npt.NDArray[np.int64]:
        """Per person: the time of their `step` event (first one), or -1 if none."""
        out = np.full(self.n, -1, dtype=np.int64)
        mask = self.event == step
        persons, first = np.unique(self.person[mask], return_index=True)
        out[persons] = self.ts[mask][first]
        return out

    def step_counts(self, step: str) -> npt.NDArray[np.int64]:
        return np.bincount(self.person[self.event == step], minlength=self.n).astype(np.int64)


@pytest.fixture(scope="module")
def cols(shop: DemoShop) -> Columns:
    return Columns(shop.events)


def test_same_seed_same_table_and_bytes(tmp_path: Path) -> None:
    first = generate_shop(2_000, seed=5)
    second = generate_shop(2_000, seed=5)
    assert first.events.equals(second.events)
    assert first.true_rates == second.true_rates
    a = first.write_parquet(tmp_path / "a" / "shop.parquet")
    b = second.write_parquet(tmp_path / "b.parquet")
    assert a.read_bytes() == b.read_bytes()
    assert pq.read_table(a).equals(first.events)


def test_different_seed_different_table() -> None:
    first = generate_shop(2_000, seed=5)
    other = generate_shop(2_000, seed=6)
    assert not first.events.equals(other.events)
    assert first.true_rates == other.true_rates  # the truth is the same, the sample is not


def test_schema_ids_and_time_range(shop: DemoShop) -> None:
    table = shop.events
    assert table.schema == SCHEMA
    ids = table.column("event_id").to_pylist()
    assert ids[:2] == ["demo-s3-n20000-00000000", "demo-s3-n20000-00000001"]
    assert generate_shop(20, seed=4).events.column("event_id")[0].as_py() == "demo-s4-n20-00000000"
    assert len(set(ids)) == len(ids)
    for name in ("event_id", "person_id", "event", "timestamp", "session_id", "channel"):
        assert table.column(name).null_count == 0, name
    ts = table.column("timestamp").cast(pa.int64()).to_numpy()
    start_us = int(START.timestamp()) * 1_000_000
    assert ts.min() >= start_us and ts.max() < start_us + 7 * WEEK_US  # 6 weeks + 7 days
    assert np.all(np.diff(ts) >= 0)  # the log is in time order
    assert np.all(ts % 1_000_000 == 0)  # whole seconds
    assert set(table.column("channel").to_pylist()) == set(CHANNELS)


def test_row_count_plausible_for_50k_persons() -> None:
    big = generate_shop(50_000)
    assert 400_000 <= big.events.num_rows <= 600_000
    assert len(set(big.events.column("person_id").to_pylist())) == 50_000


def test_properties_only_on_product_steps(shop: DemoShop) -> None:
    events = np.asarray(shop.events.column("event").to_numpy(zero_copy_only=False))
    product = np.isin(events, STEPS[1:])
    category = shop.events.column("product_category").is_valid().to_numpy(zero_copy_only=False)
    price = shop.events.column("price").is_valid().to_numpy(zero_copy_only=False)
    assert np.array_equal(category, product) and np.array_equal(price, product)
    prices = shop.events.column("price").drop_null().to_numpy()
    assert prices.min() > 0


def test_every_first_event_is_a_page_and_sessions_start_with_one(cols: Columns) -> None:
    first_row = np.r_[True, cols.person[1:] != cols.person[:-1]]
    assert first_row.sum() == cols.n
    assert np.all(cols.event[first_row] == "page_opened")
    # Each person's first event is strictly their earliest.
    second = np.flatnonzero(first_row) + 1
    second = second[second < len(cols.ts)]
    same = cols.person[second] == cols.person[second - 1]
    assert np.all(cols.ts[second][same] > cols.ts[second - 1][same])
    # Every session starts with a page; a session belongs to one person; channel is per person.
    new_session = np.r_[True, cols.session[1:] != cols.session[:-1]]
    assert np.all(cols.event[new_session] == "page_opened")
    assert len(np.unique(cols.session)) == new_session.sum()
    assert np.all(cols.channel[~first_row] == cols.channel[np.flatnonzero(~first_row) - 1])


def test_journeys_are_complete_in_order_and_within_7_days(cols: Columns) -> None:
    previous = cols.step_times("page_opened")
    assert np.all(previous >= 0)
    entry = previous
    for step in STEPS[1:]:
        assert cols.step_counts(step).max() <= 1, step  # a step happens at most once
        times = cols.step_times(step)
        reached = times >= 0
        assert np.all(previous[reached] >= 0), step  # never without the earlier step
        assert np.all(times[reached] > previous[reached]), step  # and strictly after it
        assert np.all(times[reached] - entry[reached] <= WEEK_US), step
        previous = times


def test_true_rates_shape_and_values(shop: DemoShop) -> None:
    assert set(shop.true_rates) == {"all", *CHANNELS}
    for key, rates in shop.true_rates.items():
        assert len(rates) == 4 and all(0 < r < 1 for r in rates), key
    for channel in CHANNELS:
        assert shop.true_rates[channel] == CHANNEL_RATES[channel]
    for k in range(4):
        per_channel = [shop.true_rates[c][k] for c in CHANNELS]
        assert min(per_channel) < shop.true_rates["all"][k] < max(per_channel)
    assert shop.true_rates["all"][0] == pytest.approx(0.4599)


def within(measured: float, true: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(measured - true) <= sigmas * math.sqrt(true * (1 - true) / n)


@pytest.mark.parametrize("key", ["all", "paid_search", "organic", "email"])
def test_empirical_step_rates_match_the_truth(shop: DemoShop, cols: Columns, key: str) -> None:
    person_channel = np.empty(cols.n, dtype=object)
    person_channel[cols.person] = cols.channel
    persons = np.ones(cols.n, dtype=bool) if key == "all" else person_channel == key
    reached = [(cols.step_times(step) >= 0) & persons for step in STEPS]
    assert reached[0].sum() == persons.sum()
    for k, true in enumerate(shop.true_rates[key]):
        n = int(reached[k].sum())
        measured = reached[k + 1].sum() / n
        assert within(measured, true, n), (key, k, measured, true, n)


def test_other_start_and_weeks() -> None:
    start = datetime(2025, 1, 1, 12, 30, tzinfo=UTC)
    small = generate_shop(500, seed=1, start=start, weeks=2)
    ts = small.events.column("timestamp").to_pylist()
    assert min(ts) >= start and max(ts) < start + timedelta(weeks=3)
    with pytest.raises(ValueError):
        generate_shop(0)


def test_repeat_orders_have_the_generators_repurchase_share() -> None:
    """Second orders measured by `retention repurchase` (on the shop's own customers) are within
    3 standard errors of the generator's share, for both windows; the shop is unchanged."""
    import math

    import pyarrow as pa

    from funnelscope.analyses.retention.repurchase import RepurchaseSpec, repurchase
    from funnelscope.demo.repeat_orders import generate_repeat_orders, true_repeat_share
    from funnelscope.demo.shop import generate_shop
    from funnelscope.store.sources import TableSource

    shop = generate_shop(20_000, seed=11)
    repeats = generate_repeat_orders(shop)
    assert generate_shop(20_000, seed=11).events.equals(shop.events)
    assert repeats.events.schema == shop.events.schema
    orders = pa.concat_tables([shop.events, repeats.events])
    scan = pa.table(
        {
            "person_id": orders["person_id"],
            "event_id": orders["event_id"],
            "event": orders["event"],
            "ts": orders["timestamp"].cast(pa.int64()),
        }
    )
    with TableSource(scan) as source:
        measured = repurchase(source, RepurchaseSpec(("order_completed",), within_days=(7, 14)))
    for window, days in zip(measured.total.within, (7, 14), strict=True):
        truth = true_repeat_share(days)
        assert window.eligible > 500
        error = math.sqrt(truth * (1 - truth) / window.eligible)
        assert abs(window.repurchased / window.eligible - truth) < 3 * error, (days, window)
