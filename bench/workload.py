"""The benchmark's trade workload: one market definition shared by the harness and baselines.

Both sides trade the same pools (same rates, reserves, scale and fee), from the same
endowments, with the same orders as the harness's ``random`` strategy at its default
parameters: currency uniform, buy or sell with probability 1/2, quantity uniform in
[1, 10] units rounded to minor units. Amounts are priced with the harness's own integer
constant-product functions, so only the way state is shared differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import numpy as np

from sim.core.pricing import buy_cost, sell_proceeds

__all__ = [
    "CASH",
    "CURRENCIES",
    "FEE_BPS",
    "HOLDINGS",
    "RESERVE",
    "SCALE",
    "SIDE_BUY",
    "SIDE_SELL",
    "apply_order",
    "initial_account",
    "initial_pools",
    "orders",
    "scenario_data",
]

# The scenario defaults' currencies and rates, in the order a scenario lists them.
CURRENCIES: Final = (("EUR", 1.10), ("USD", 1.00), ("GBP", 1.27), ("CHF", 1.13))
# Deep pools and rich traders keep rejections rare, so trades/s counts real transactions.
RESERVE: Final = 1e6
CASH: Final = 1e6
HOLDINGS: Final = 1e4
SCALE: Final = 100
FEE_BPS: Final = 30
MIN_QTY: Final = 1.0
MAX_QTY: Final = 10.0
SIDE_BUY: Final = 0
SIDE_SELL: Final = 1
_BLOCK: Final = 4096


def scenario_data(sync: str, n: int, currencies: int, duration_s: float, seed: int = 0,
                  monitor_interval_ms: float | None = None) -> dict[str, Any]:
    """A scenario mapping for ``parse_scenario``; the monitor keeps its default unless given."""
    data: dict[str, Any] = {
        "name": f"bench-{sync}-n{n}-c{currencies}",
        "seed": seed,
        "duration_s": duration_s,
        "sync": sync,
        # N processes of one trader each: the matrix measures contention between processes.
        "processes": n,
        "scale": SCALE,
        "fee_bps": FEE_BPS,
        "currencies": [{"name": name, "rate": rate, "reserve": RESERVE}
                       for name, rate in CURRENCIES[:currencies]],
        "traders": [{"count": n, "strategy": "random", "cash": CASH, "holdings": HOLDINGS}],
    }
    if monitor_interval_ms is not None:
        data["monitor"] = {"interval_ms": monitor_interval_ms}
    return data


def initial_pools(currencies: int) -> list[tuple[int, int]]:
    """(cash, units) of each pool at the start, in minor units, as the harness computes them."""
    return [(round(rate * RESERVE * SCALE), round(RESERVE * SCALE))
            for _, rate in CURRENCIES[:currencies]]


def initial_account(currencies: int) -> tuple[int, list[int]]:
    """(cash, holdings per currency) of every trader at the start, in minor units."""
    return round(CASH * SCALE), [round(HOLDINGS * SCALE)] * currencies


def orders(rng: np.random.Generator, currencies: int) -> Iterator[tuple[int, int, int]]:
    """Endless (currency, side, qty) orders, drawn a block at a time like the harness does."""
    lo, hi = MIN_QTY * SCALE, MAX_QTY * SCALE
    while True:
        cur = rng.integers(0, currencies, size=_BLOCK)
        side = np.where(rng.random(_BLOCK) < 0.5, SIDE_BUY, SIDE_SELL)
        qty = np.maximum(np.rint(rng.uniform(lo, hi, _BLOCK)), 1).astype(np.int64)
        yield from zip(cur.tolist(), side.tolist(), qty.tolist(), strict=True)


def apply_order(pool_cash: int, pool_units: int, cash: int, hold: int, side: int,
                qty: int) -> tuple[int, int, int, int] | None:
    """New (pool cash, pool units, account cash, holding), or None when rejected.

    The same acceptance rules as the harness's trade: a buy that would empty the pool or
    that the account cannot pay, a sell of more than is held or too small to pay anything.
    """
    if side == SIDE_BUY:
        amount = buy_cost(pool_cash, pool_units, qty, FEE_BPS)
        if amount < 0 or amount > cash:
            return None
        return pool_cash + amount, pool_units - qty, cash - amount, hold + qty
    if qty > hold:
        return None
    amount = sell_proceeds(pool_cash, pool_units, qty, FEE_BPS)
    if amount <= 0:
        return None
    return pool_cash - amount, pool_units + qty, cash + amount, hold - qty
