"""Second orders of the demo shop's customers, with a known repurchase rate.

A customer who completed an order comes back for a second one with probability
:data:`REPEAT_SHARE`, after an exponential delay with mean :data:`REPEAT_MEAN_DAYS`: a short
visit through the same funnel steps. A second order that would fall after the shop's data ends
has not happened yet and is left out, so the share of customers with a second order within N
days, among those observed for N days, is ``REPEAT_SHARE * (1 - exp(-N / REPEAT_MEAN_DAYS))``.

The orders are a table of their own, drawn from their own random stream, so the shop's events
(and every figure measured on them) are the same with or without them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from funnelscope.demo.shop import DAY, FUNNEL_EVENTS, DemoShop
from funnelscope.model.durations import US_PER_SECOND

REPEAT_SHARE: Final = 0.35
REPEAT_MEAN_DAYS: Final = 10.0
_STEP_OFFSETS: Final = (0, 60, 180, 300, 320)  # seconds after the visit's page: the five steps


def true_repeat_share(within_days: float) -> float:
    """The generator's share of customers with a second order within ``within_days`` days."""
    return REPEAT_SHARE * (1.0 - math.exp(-within_days / REPEAT_MEAN_DAYS))


@dataclass(frozen=True)
class RepeatOrders:
    events: pa.Table
    customers: int  # customers of the shop (a completed order)
    repeaters: int  # of them, with a second order inside the data

    def write_parquet(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.events, target)
        return target


def generate_repeat_orders(shop: DemoShop) -> RepeatOrders:
    """Second-order visits of ``shop``'s customers (same columns as the shop's events)."""
    events = shop.events
    rng = np.random.default_rng([shop.seed, 2])  # a stream of its own: the shop is unchanged
    orders = events.filter(pc.equal(events["event"], FUNNEL_EVENTS[-1]))
    first = orders.group_by("person_id").aggregate([("timestamp", "min")])
    first = first.sort_by("person_id")
    firsts = orders.join(first, keys=["person_id"]).filter(
        pc.equal(pc.field("timestamp"), pc.field("timestamp_min"))
    )
    firsts = firsts.sort_by("person_id")
    n = firsts.num_rows
    end_us = int(pc.max(events["timestamp"]).cast(pa.int64()).as_py())
    first_us = firsts["timestamp"].cast(pa.int64()).to_numpy()
    comes_back = rng.random(n) < REPEAT_SHARE
    delay = rng.exponential(REPEAT_MEAN_DAYS * DAY, n).astype(np.int64) * US_PER_SECOND
    visit = first_us + delay
    last_step = visit + _STEP_OFFSETS[-1] * US_PER_SECOND
    keep = comes_back & (last_step <= end_us)
    chosen = np.flatnonzero(keep)
    rows = np.repeat(chosen, len(FUNNEL_EVENTS))
    step = np.tile(np.arange(len(FUNNEL_EVENTS)), len(chosen))
    times = visit[rows] + np.asarray(_STEP_OFFSETS, np.int64)[step] * US_PER_SECOND
    template = firsts.take(pa.array(rows))
    ids = [f"demo-s{shop.seed}-n{shop.persons}-r{i:08d}" for i in range(len(rows))]
    person_ids = template["person_id"].to_pylist()
    has_product = step >= 1
    table = pa.table(
        {
            "event_id": pa.array(ids, pa.string()),
            "person_id": template["person_id"],
            "event": pa.array(FUNNEL_EVENTS, pa.string()).take(pa.array(step)),
            "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
            "session_id": pa.array([f"{p}-r1" for p in person_ids], pa.string()),
            "channel": template["channel"],
            "country": template["country"],
            "device": template["device"],
            "product_category": pa.array(
                template["product_category"].to_pylist(), pa.string(), mask=~has_product
            ),
            "price": pa.array(template["price"].to_pylist(), pa.float64(), mask=~has_product),
        }
    )
    return RepeatOrders(table.sort_by("timestamp"), n, len(chosen))
