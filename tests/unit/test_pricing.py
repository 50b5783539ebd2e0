"""Pricing exactness: integer results, rounding in the pool's favour, k never decreases."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.pricing import buy_cost, sell_proceeds


def test_uniswap_reference_values() -> None:
    # amount out for 1000 in against reserves 1_000_000 / 1_000_000 at 0.3% fee.
    assert sell_proceeds(1_000_000, 1_000_000, 1000, 30) == 996
    assert buy_cost(1_000_000, 1_000_000, 996, 30) == 1000
    assert buy_cost(1_000_000, 1_000_000, 0, 30) == -1
    assert buy_cost(100, 10, 10, 30) == -1  # would empty the pool


def test_rounding_favours_the_pool_even_without_fee() -> None:
    assert sell_proceeds(10, 3, 1, 0) == 2  # 2.5 rounded down
    assert buy_cost(10, 3, 1, 0) == 6  # 5 exactly, still +1


reserves = st.integers(min_value=1, max_value=10**15)


@settings(max_examples=300, deadline=None)
@given(cash=reserves, units=reserves, fee=st.integers(0, 9999),
       trades=st.lists(st.tuples(st.booleans(), st.integers(1, 10**14)), max_size=40))
def test_any_sequence_conserves_money_and_never_decreases_k(
        cash: int, units: int, fee: int, trades: list[tuple[bool, int]]) -> None:
    trader_cash, trader_units = 10**16, 10**16
    total_cash, total_units = cash + trader_cash, units + trader_units
    for buy, qty in trades:
        k = cash * units
        if buy:
            cost = buy_cost(cash, units, qty, fee)
            if cost < 0 or cost > trader_cash:
                continue
            cash, units = cash + cost, units - qty
            trader_cash, trader_units = trader_cash - cost, trader_units + qty
        else:
            if qty > trader_units:
                continue
            got = sell_proceeds(cash, units, qty, fee)
            if got <= 0:
                continue
            cash, units = cash - got, units + qty
            trader_cash, trader_units = trader_cash + got, trader_units - qty
        assert cash > 0 and units > 0
        assert cash * units >= k
        assert cash + trader_cash == total_cash
        assert units + trader_units == total_units
