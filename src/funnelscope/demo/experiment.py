"""A synthetic A/B/C funnel experiment whose true step rates, and lift, are known exactly.

Every person is put at random into one of three variants and sees it once (an
``experiment_started`` event with a ``variant`` property). After that they view a product and go
on through the checkout funnel (added to cart, checkout started, order completed), step by step,
with a probability that depends only on their variant, or drop out for good. The whole journey
lies within 7 days of the exposure. Variant ``B`` lifts the cart -> checkout rate by 8% (relative);
``C`` is the same as the control (an A/A check).

About a tenth of the persons also viewed a product (and some added it to their cart) a day or so
before their exposure: an experiment counts from exposure on, so these events must not count.
Browsing noise (``search``, ``scroll``) falls around the journeys.

All randomness comes from one seeded numpy Generator and the work is vectorized: the same seed
gives the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from funnelscope.model.durations import US_PER_SECOND

IntArray = npt.NDArray[np.int64]

EXPOSURE_EVENT: Final = "experiment_started"
VARIANT_PROPERTY: Final = "variant"
FUNNEL_EVENTS: Final = ("product_viewed", "added_to_cart", "checkout_started", "order_completed")
"""The experiment's funnel, in order."""
NOISE_EVENTS: Final = ("search", "scroll")
VARIANTS: Final = ("control", "B", "C")
CONTROL_RATES: Final = (0.55, 0.40, 0.60)
"""True rates view -> cart, cart -> checkout, checkout -> order of the control."""
LIFT: Final = 1.08
"""Variant B's relative lift of the cart -> checkout rate (reaching step 3)."""
TRUE_RATES: Final[dict[str, tuple[float, float, float]]] = {
    "control": CONTROL_RATES,
    "B": (CONTROL_RATES[0], CONTROL_RATES[1] * LIFT, CONTROL_RATES[2]),
    "C": CONTROL_RATES,
}
PRE_EXPOSURE_SHARE: Final = 0.10
"""Share of persons with funnel events before their exposure."""
DEVICES: Final = ("mobile", "desktop", "tablet")
_DEVICE_SHARES: Final = (0.58, 0.36, 0.06)
NOISE_PER_PERSON: Final = 2.0
"""Mean number of noise events per person (Poisson)."""

DAY: Final = 86_400
EXPOSURE_DAYS: Final = 28
"""Exposures fall in 2026-09-01 .. 2026-09-28 (UTC)."""
START: Final = datetime(2026, 9, 1, tzinfo=UTC)
_MAX_GAP: Final = DAY  # 4 gaps of at most a day each: journeys end within 4 days of exposure

SPEC_NAME: Final = "checkout-redesign"
EVENTS_FILE: Final = "experiment_events.parquet"
SPEC_FILE: Final = "experiment.yaml"


@dataclass(frozen=True)
class DemoExperiment:
    """The generated events and the generator's true step rates per variant.

    ``true_rates[variant]`` holds 3 probabilities: of going from funnel step k to step k+1
    (k = 1..3) among those of that variant who reached step k. Every exposed person reaches step 1.
    ``lift_step`` is the 1-based step whose rate from the previous step differs between the
    control and variant B.
    """

    events: pa.Table
    true_rates: dict[str, tuple[float, float, float]]
    lift_step: int = 3

    def spec_yaml(self) -> str:
        """The experiment spec (YAML) that measures this demo."""
        steps = "\n".join(f"    - {name}" for name in FUNNEL_EVENTS)
        return (
            f"name: {SPEC_NAME}\n"
            "funnel:\n"
            "  steps:\n"
            f"{steps}\n"
            "  window: 7d\n"
            "exposure:\n"
            f"  event: {EXPOSURE_EVENT}\n"
            f"  variant_property: {VARIANT_PROPERTY}\n"
            f"control: {VARIANTS[0]}\n"
        )

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        """Write the events (Parquet) and the spec (YAML) into `directory`; return both paths."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        events_path = folder / EVENTS_FILE
        spec_path = folder / SPEC_FILE
        pq.write_table(self.events, events_path)
        spec_path.write_text(self.spec_yaml(), encoding="utf-8")
        return events_path, spec_path


def _gaps(rng: np.random.Generator, shape: tuple[int, int]) -> IntArray:
    """Whole seconds between consecutive events: minutes to hours, 1 s to a day."""
    raw = rng.lognormal(np.log(15 * 60), 1.6, shape)
    seconds: IntArray = np.clip(np.floor(raw), 1, _MAX_GAP).astype(np.int64)
    return seconds


def generate_experiment(persons: int = 30_000, seed: int = 7) -> DemoExperiment:
    """Simulate `persons` persons split at random into the variants control, B and C.

    Columns: event_id, person_id, event, timestamp (UTC, whole seconds), variant (only on the
    exposure event) and device.
    """
    if persons < 1:
        raise ValueError(f"persons must be at least 1, not {persons}")
    rng = np.random.default_rng(seed)
    n = persons
    person = np.arange(n, dtype=np.int64)
    variant = rng.integers(0, len(VARIANTS), n)
    shares = np.asarray(_DEVICE_SHARES, dtype=np.float64)
    device = rng.choice(len(DEVICES), size=n, p=shares / shares.sum())

    # Exposure, then the funnel: step 1 for all, step k+1 needs step k and a draw under the rate.
    t0 = rng.integers(0, EXPOSURE_DAYS * DAY, n)
    rates = np.asarray([TRUE_RATES[v] for v in VARIANTS], dtype=np.float64)[variant]
    passed = np.column_stack([np.ones(n, dtype=bool), rng.random((n, 3)) < rates])
    done = np.cumprod(passed, axis=1).astype(bool)
    step_time = t0[:, None] + np.cumsum(_gaps(rng, (n, 4)), axis=1)
    step_person = np.broadcast_to(person[:, None], (n, 4))[done]
    step_code = np.broadcast_to(np.arange(1, 5)[None, :], (n, 4))[done]
    step_t = step_time[done]

    # Some viewed a product (half of them also carted it) a day or so before their exposure.
    pre = np.flatnonzero(rng.random(n) < PRE_EXPOSURE_SHARE)
    pre_view = t0[pre] - np.clip(rng.lognormal(np.log(DAY), 0.3, len(pre)), 2 * 3600, 3 * DAY)
    pre_view = pre_view.astype(np.int64)
    carted = rng.random(len(pre)) < 0.5
    pre_cart = pre_view[carted] + rng.integers(60, 1800, int(carted.sum()))
    pre_person = np.concatenate([person[pre], person[pre][carted]])
    pre_t = np.concatenate([pre_view, pre_cart])
    pre_code = np.concatenate([np.full(len(pre), 1), np.full(int(carted.sum()), 2)])

    # Noise from two days before the exposure to a week after it.
    noise_count = rng.poisson(NOISE_PER_PERSON, n)
    noise_person = np.repeat(person, noise_count)
    noise_t = t0[noise_person] + rng.integers(-2 * DAY, 7 * DAY, len(noise_person))
    noise_code = 5 + rng.integers(0, len(NOISE_EVENTS), len(noise_person))

    ev_person = np.concatenate([person, step_person, pre_person, noise_person])
    ev_t = np.concatenate([t0, step_t, pre_t, noise_t])
    ev_code = np.concatenate([np.zeros(n, np.int64), step_code, pre_code, noise_code])
    order = np.lexsort((ev_code, ev_person, ev_t))  # time order; ties: person, exposure first
    ev_person, ev_t, ev_code = ev_person[order], ev_t[order], ev_code[order]

    start_us = int(START.timestamp()) * US_PER_SECOND
    prefix = f"demo-x{seed}-n{persons}-"
    names = pa.array((EXPOSURE_EVENT, *FUNNEL_EVENTS, *NOISE_EVENTS), pa.string())
    person_ids = pa.array([f"x{i:06d}" for i in range(n)], pa.string())
    events = pa.table(
        {
            "event_id": pa.array([f"{prefix}{i:08d}" for i in range(len(ev_code))], pa.string()),
            "person_id": person_ids.take(pa.array(ev_person)),
            "event": names.take(pa.array(ev_code)),
            "timestamp": pa.array(start_us + ev_t * US_PER_SECOND, pa.timestamp("us", tz="UTC")),
            "variant": pa.array(VARIANTS, pa.string()).take(
                pa.array(variant[ev_person], mask=ev_code != 0)
            ),
            "device": pa.array(DEVICES, pa.string()).take(pa.array(device[ev_person])),
        }
    )
    return DemoExperiment(events=events, true_rates=dict(TRUE_RATES))
