"""Constant-product pricing in exact integers, rounding always in the pool's favour.

A pool holds ``cash`` (home money) and ``units`` (one currency), both int64 minor units.
With a fee of ``fee_bps`` basis points kept by the pool, Uniswap v2's arithmetic becomes:

* sell ``q`` units:  cash out = floor(g*q*cash / (10000*units + g*q)),  g = 10000 - fee_bps
* buy ``q`` units:   cash in  = floor(10000*cash*q / (g*(units - q))) + 1

so ``cash * units`` never decreases and no money is created or destroyed. Python ints
are unbounded, so the products cannot overflow.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BPS", "buy_cost", "rate", "sell_proceeds"]

BPS: Final = 10_000


def buy_cost(cash: int, units: int, qty: int, fee_bps: int) -> int:
    """Cash the pool takes to hand out ``qty`` units; -1 if that would empty the pool."""
    if qty <= 0 or qty >= units:
        return -1
    return BPS * cash * qty // ((BPS - fee_bps) * (units - qty)) + 1


def sell_proceeds(cash: int, units: int, qty: int, fee_bps: int) -> int:
    """Cash the pool pays for ``qty`` units (0 means the amount is too small to pay)."""
    if qty <= 0:
        return 0
    g = BPS - fee_bps
    return g * qty * cash // (BPS * units + g * qty)


def rate(cash: int, units: int) -> float:
    """Marginal price of one unit in home money (display only)."""
    return cash / units if units else float("nan")
