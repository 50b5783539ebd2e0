"""Pool rates and account wealth: one valuation for samples, summaries and the screen."""

from __future__ import annotations

import math

import numpy as np

from sim.core import layout as L
from sim.core.valuation import rates, wealth

__all__: list[str] = []


def _tables(n_cur: int = 2, n_slots: int = 3) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    cur = np.zeros(n_cur, dtype=L.CURRENCY.dtype)
    acc = np.zeros(n_slots, dtype=L.ACCOUNT.dtype)
    cur["cash_reserve"], cur["unit_reserve"] = [300, 100], [100, 200]
    cur["init_cash_reserve"], cur["init_unit_reserve"] = [200, 100], [100, 100]
    acc["status"] = [L.SLOT_ACTIVE, L.SLOT_FREE, L.SLOT_DEAD]
    acc["cash"], acc["init_cash"] = [1000, 7, 0], [500, 7, 10]
    acc["holdings"][0, :2], acc["init_holdings"][0, :2] = [10, 20], [10, 10]
    acc["holdings"][2, :2] = [4, 0]
    acc["holdings"][:, 5] = 999  # beyond the file's currencies: never valued
    return cur, acc


def test_rates_and_wealth_by_hand() -> None:
    cur, acc = _tables()
    rate, init = rates(cur), rates(cur, initial=True)
    assert rate.tolist() == [3.0, 0.5] and init.tolist() == [2.0, 1.0]
    now, start = wealth(acc, rate, 100), wealth(acc, init, 100, initial=True)
    # (1000 + 10 x 3 + 20 x 0.5) / 100; a free slot is NaN; a dead slot still counts.
    assert now[0] == 10.4 and math.isnan(now[1]) and now[2] == 0.12
    assert start[0] == (500 + 10 * 2 + 10 * 1) / 100 and start[2] == 0.1


def test_a_batch_values_each_snapshot_like_one() -> None:
    cur, acc = _tables()
    cur2, acc2 = cur.copy(), acc.copy()
    cur2["cash_reserve"][0] = 100
    acc2["cash"][0] = 0
    batch_cur, batch_acc = np.stack([cur, cur2]), np.stack([acc, acc2])
    rate = rates(batch_cur)
    got = wealth(batch_acc, rate, 100)
    for b, (c, a) in enumerate(((cur, acc), (cur2, acc2))):
        np.testing.assert_array_equal(got[b], wealth(a, rates(c), 100))


def test_an_emptied_pool_is_infinite_not_an_error() -> None:
    cur, _ = _tables()
    cur["unit_reserve"][1] = 0
    assert math.isinf(rates(cur)[1])
