"""Customer lifetime value (analyses/clv.py, analyses/clv_models.py, `funnelscope clv`).

The RFM summary and the discounting are checked exactly on hand-made orders; the fitted models
(pymc-marketing, the `clv` extra that `make test` installs) on a simulated BG/NBD + Gamma-Gamma
population with known parameters, and on a calibration/holdout split of it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from funnelscope.analyses import clv_models
from funnelscope.analyses.clv import (
    MIN_REPEAT_CUSTOMERS,
    RfmSummary,
    calibration_holdout,
    day_number,
    discounted_value,
    read_order_days,
    require_enough,
    rfm_summary,
)
from funnelscope.analyses.clv_models import fit_models, predict
from funnelscope.cli.main import main
from funnelscope.errors import FunnelscopeError
from funnelscope.store.sources import TableSource

from journeys import journeys, to_us

DAY_US = 86_400_000_000
BASE = "2023-01-01"
BASE_DAY = day_number(__import__("datetime").date.fromisoformat(BASE))

# The simulated population: BG/NBD (purchase rate ~ Gamma(r, alpha) per day, dropout after each
# repeat purchase ~ Beta(a, b)) and Gamma-Gamma (order value ~ Gamma(p, nu), nu ~ Gamma(q, v)).
# A rate of 0.01 a day keeps two purchases on one day (merged into one purchase day by the
# summary) rare, so the day summary does not bias the fit noticeably.
TRUE = {"r": 0.9, "alpha": 90.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "v": 15.0}
CUSTOMERS = 10_000
LAST_DAY = 729  # customers arrive on days 0-364; the orders are observed to day 729


def simulate_orders(n: int, seed: int, last_day: int = LAST_DAY) -> pa.Table:
    """Orders (event 'purchase', property 'amount') of `n` customers drawn from TRUE."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    dropout = rng.beta(TRUE["a"], TRUE["b"], n)
    nu = rng.gamma(TRUE["q"], 1 / TRUE["v"], n)
    arrival = rng.uniform(0, 365, n)
    persons: list[str] = []
    times: list[float] = []
    amounts: list[float] = []
    for i in range(n):
        t = arrival[i]
        while True:
            persons.append(f"c{i:05d}")
            times.append(t)
            amounts.append(float(rng.gamma(TRUE["p"], 1 / nu[i])))
            if len(persons) > 1 and persons[-2] == persons[-1] and rng.random() < dropout[i]:
                break  # dropout may follow a repeat purchase, never the first
            t += rng.exponential(1 / rate[i])
            if t >= last_day + 1:
                break
    ts = to_us(f"{BASE} 00:00") + (np.asarray(times) * DAY_US).astype(np.int64)
    return pa.table(
        {
            "person_id": persons,
            "event_id": [f"o{k}" for k in range(len(persons))],
            "event": ["purchase"] * len(persons),
            "ts": pa.array(ts, type=pa.int64()),
            "amount": amounts,
        }
    )


def hand_made() -> pa.Table:
    return journeys(
        {
            "alice": [
                ("purchase", "2024-01-01 10:00", {"amount": 10.0}),
                ("purchase", "2024-01-01 18:00", {"amount": 5.0}),  # same day: one purchase
                ("purchase", "2024-01-05 09:00", {"amount": 20.0}),
                ("view", "2024-01-08 09:00", {"amount": 99.0}),  # not an order
                ("purchase", "2024-01-11 23:59", {"amount": 30.0}),
                ("view", "2024-01-20 09:00"),  # after the last order: not the end day
            ],
            "bob": [("purchase", "2024-01-03 12:00", {"amount": 40.0})],
            "carol": [
                ("purchase", "2024-01-02 00:00", {"amount": 12.0}),
                ("purchase", "2024-01-09 08:00", {"amount": None}),  # value unknown
                ("purchase", "2024-01-10 08:00", {"amount": -5.0}),  # a refund: no spend
                ("purchase", "2024-01-15 08:00", {"amount": 8.0}),
            ],
            "dave": [("purchase", "2024-01-13 08:00", {"amount": 7.0})],
        }
    )


def by_person(source: TableSource, summary: RfmSummary) -> dict[str, dict[str, Any]]:
    ids = source.person_ids(summary.persons)
    return {
        ids[i]: {
            "first": int(summary.first_day[i]),
            "frequency": int(summary.frequency[i]),
            "recency": float(summary.recency[i]),
            "T": float(summary.T[i]),
            "monetary": float(summary.monetary_value[i]),
            "spend_count": int(summary.spend_count[i]),
        }
        for i in range(summary.customers)
    }


def day(text: str) -> int:
    return to_us(f"{text} 00:00") // DAY_US


def test_rfm_summary_is_exact_on_a_hand_made_order_log() -> None:
    with TableSource(hand_made()) as source:
        orders = read_order_days(source, "purchase", "amount")
        summary = rfm_summary(orders)
        assert summary.end_day == day("2024-01-15")  # the last order's day, not the last event
        assert by_person(source, summary) == {
            "alice": {"first": day("2024-01-01"), "frequency": 2, "recency": 10.0, "T": 14.0,
                      "monetary": 25.0, "spend_count": 2},
            "bob": {"first": day("2024-01-03"), "frequency": 0, "recency": 0.0, "T": 12.0,
                    "monetary": 0.0, "spend_count": 0},
            "carol": {"first": day("2024-01-02"), "frequency": 3, "recency": 13.0, "T": 13.0,
                      "monetary": 8.0, "spend_count": 1},
            "dave": {"first": day("2024-01-13"), "frequency": 0, "recency": 0.0, "T": 2.0,
                     "monetary": 0.0, "spend_count": 0},
        }  # fmt: skip
        assert (summary.customers, summary.repeat_customers, summary.spend_customers) == (4, 2, 2)
        # an earlier end day leaves the later orders out
        early = by_person(source, rfm_summary(orders, day("2024-01-04")))
        assert early == {
            "alice": {"first": day("2024-01-01"), "frequency": 0, "recency": 0.0, "T": 3.0,
                      "monetary": 0.0, "spend_count": 0},
            "bob": {"first": day("2024-01-03"), "frequency": 0, "recency": 0.0, "T": 1.0,
                    "monetary": 0.0, "spend_count": 0},
            "carol": {"first": day("2024-01-02"), "frequency": 0, "recency": 0.0, "T": 2.0,
                      "monetary": 0.0, "spend_count": 0},
        }  # fmt: skip


def test_calibration_holdout_split_is_exact() -> None:
    with TableSource(hand_made()) as source:
        orders = read_order_days(source, "purchase", "amount")
        split = calibration_holdout(orders, day("2024-01-15"), 5)
        cal = split.calibration
        assert cal.end_day == day("2024-01-10")
        assert by_person(source, cal) == {
            "alice": {"first": day("2024-01-01"), "frequency": 1, "recency": 4.0, "T": 9.0,
                      "monetary": 20.0, "spend_count": 1},
            "bob": {"first": day("2024-01-03"), "frequency": 0, "recency": 0.0, "T": 7.0,
                    "monetary": 0.0, "spend_count": 0},
            "carol": {"first": day("2024-01-02"), "frequency": 2, "recency": 8.0, "T": 8.0,
                      "monetary": 0.0, "spend_count": 0},
        }  # fmt: skip
        # dave's first order is in the holdout: not a calibration customer
        ids = source.person_ids(cal.persons)
        assert dict(zip(ids, split.holdout_purchases.tolist(), strict=True)) == {
            "alice": 1,
            "bob": 0,
            "carol": 1,
        }


def test_discounting_sums_each_30_day_period_discounted_at_its_end() -> None:
    summary = rfm_summary(read_order_days(TableSource(hand_made()), "purchase", "amount"))
    n = summary.customers
    one_a_month = lambda t: np.full(n, t / 30.0)  # noqa: E731
    value = discounted_value(summary, one_a_month, np.full(n, 10.0), 90.0, 0.1)
    assert value == pytest.approx(np.full(n, 10 / 1.1 + 10 / 1.1**2 + 10 / 1.1**3))
    partial = discounted_value(summary, one_a_month, np.full(n, 10.0), 45.0, 0.1)
    assert partial == pytest.approx(np.full(n, 10 / 1.1 + 5 / 1.1**1.5))
    undiscounted = discounted_value(summary, one_a_month, np.full(n, 10.0), 365.0, 0.0)
    assert undiscounted == pytest.approx(np.full(n, 10 * 365 / 30))


def test_too_few_repeat_customers_is_refused_with_the_counts() -> None:
    summary = rfm_summary(read_order_days(TableSource(hand_made()), "purchase", "amount"))
    with pytest.raises(FunnelscopeError, match=r"too few repeat customers.*2 of 4 customers"):
        require_enough(summary)
    require_enough(summary, minimum=2)  # enough when the bar is 2
    assert MIN_REPEAT_CUSTOMERS == 20
    orders = read_order_days(TableSource(hand_made()), "purchase", "amount")
    before_any = rfm_summary(orders, day("2023-12-31"))
    with pytest.raises(FunnelscopeError, match=r"no orders on or before 2023-12-31.*later --end"):
        require_enough(before_any)


def test_a_missing_value_property_and_a_missing_library_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(FunnelscopeError, match="no property 'revenue'"):
        read_order_days(TableSource(hand_made()), "purchase", "revenue")

    def absent(name: str) -> Any:
        raise ModuleNotFoundError(name=name)

    monkeypatch.setattr(clv_models.importlib, "import_module", absent)
    summary = rfm_summary(read_order_days(TableSource(hand_made()), "purchase", "amount"))
    with pytest.raises(FunnelscopeError, match=r"pip install 'funnelscope\[clv\]'"):
        fit_models(summary)


@pytest.fixture(scope="module")
def population() -> Any:
    source = TableSource(simulate_orders(CUSTOMERS, seed=2024))
    orders = read_order_days(source, "purchase", "amount")
    yield orders
    source.close()


def test_fit_recovers_the_parameters_of_a_simulated_population(population: Any) -> None:
    """Tolerances: 20 populations of 10,000 customers with these parameters (seeds 0-19, fitted
    by maximum likelihood) gave relative standard deviations of 1.5-7% per parameter (b the
    widest) and relative biases up to 5.6% (v; from merging same-day orders); 25% is bias plus
    3 sd for every parameter. The means the models are used for are tighter: mean purchase rate
    r/alpha (bias -2.2%, sd 1.3%: 7%), mean dropout a/(a+b) (sd 2.2%: 8%), mean order value
    p*v/(q-1) (sd 0.6%: 4%)."""
    summary = rfm_summary(population, BASE_DAY + LAST_DAY)
    assert summary.customers == CUSTOMERS
    fitted = fit_models(summary).parameters
    got = {name: getattr(fitted, name) for name in TRUE}
    for name, true in TRUE.items():
        assert got[name] == pytest.approx(true, rel=0.25), (name, got)
    t = TRUE
    assert fitted.r / fitted.alpha == pytest.approx(t["r"] / t["alpha"], rel=0.07)
    assert fitted.a / (fitted.a + fitted.b) == pytest.approx(t["a"] / (t["a"] + t["b"]), rel=0.08)
    assert fitted.mean_order_value == pytest.approx(t["p"] * t["v"] / (t["q"] - 1), rel=0.04)


def test_holdout_purchases_agree_with_the_calibration_fit(population: Any) -> None:
    """Fit on days 0-549, predict days 550-729 (180 days). Tolerance: the total within 8% (its
    sampling error and the fit's error together are a few percent at 10,000 customers); each
    calibration-frequency group of at least 300 customers within 20% of its actual mean."""
    split = calibration_holdout(population, BASE_DAY + LAST_DAY, 180)
    calibration = split.calibration
    require_enough(calibration)
    predicted = predict(fit_models(calibration), calibration, 180.0).expected_purchases
    actual = split.holdout_purchases
    assert actual.sum() > 3000  # a holdout with enough purchases to judge
    assert predicted.sum() == pytest.approx(actual.sum(), rel=0.08)
    for x in range(7):
        members = calibration.frequency == x
        if members.sum() >= 300:
            assert predicted[members].mean() == pytest.approx(actual[members].mean(), rel=0.2), x


def write_csv(table: pa.Table, path: Path) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["user", "action", "ts", "amount"])
        for person, event, ts, amount in zip(
            table.column("person_id").to_pylist(),
            table.column("event").to_pylist(),
            table.column("ts").to_pylist(),
            table.column("amount").to_pylist(),
            strict=True,
        ):
            stamp = np.datetime64(ts, "us").astype(str) + "Z"
            out.writerow([person, event, stamp, f"{amount:.2f}"])


def test_clv_command_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_csv(simulate_orders(600, seed=7), tmp_path / "orders.csv")
    mapping = ["--person-col", "user", "--event-col", "action", "--time-col", "ts"]
    assert main(["ingest", "orders.csv", *mapping, "--no-progress"]) == 0
    capsys.readouterr()
    args = ["clv", "--order", "purchase", "--value", "amount", "--horizon", "90d"]
    code = main([*args, "--discount", "0", "--top", "5", "--holdout", "60d", "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    with TableSource(simulate_orders(600, seed=7)) as source:
        summary = rfm_summary(read_order_days(source, "purchase", "amount"))
    assert data["customers"] == summary.customers == 600
    assert data["repeat_customers"] == summary.repeat_customers
    assert data["end"] == str(np.datetime64(int(summary.end_day), "D"))
    assert data["horizon_days"] == 90.0 and data["discount_per_30_days"] == 0.0
    listed = data["customers_listed"]
    assert len(listed) == 5
    assert [c["clv"] for c in listed] == sorted((c["clv"] for c in listed), reverse=True)
    for c in listed:  # without discount: value = expected purchases x expected order value
        assert c["clv"] == pytest.approx(c["expected_purchases"] * c["expected_order_value"])
        assert 0 <= c["probability_alive"] <= 1
    assert set(data["parameters"]["bgnbd"]) == {"r", "alpha", "a", "b"}
    holdout = data["holdout"]
    assert holdout["holdout_days"] == 60 and holdout["customers"] <= 600
    assert sum(g["customers"] for g in holdout["groups"]) == holdout["customers"]
    assert main([*args, "--top", "3", "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["person_id"] for r in rows] == [c["person_id"] for c in listed[:3]]


def test_clv_command_refuses_too_few_repeat_customers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_csv(hand_made().filter(pc.equal(hand_made()["event"], "purchase")).set_column(
        4, "amount", pa.array([10.0, 5.0, 20.0, 30.0, 40.0, 12.0, 0.0, -5.0, 8.0, 7.0])
    ), tmp_path / "orders.csv")  # fmt: skip
    mapping = ["--person-col", "user", "--event-col", "action", "--time-col", "ts"]
    assert main(["ingest", "orders.csv", *mapping, "--no-progress"]) == 0
    capsys.readouterr()
    code = main(["clv", "--order", "purchase", "--value", "amount"])
    err = capsys.readouterr().err
    assert code == 1
    assert "too few repeat customers" in err and "2 of 4 customers" in err
