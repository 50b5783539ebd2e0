"""What the tools read of a book: prices and lots as text and back, an account's live
orders, the top levels, and reads that never settle."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.core import layout as L
from sim.core.book_layout import BUY, GTC, IOC, NIL, SELL
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from sim.errors import BadInput
from sim.tools.bookview import (
    MAX_DIGITS,
    AccountOrder,
    Ladder,
    account_orders,
    ladder,
    read_depth,
    spread_text,
)
from tests.unit.book_files import FUNDED, book_exchange


def test_prices_and_lots_round_trip_exactly() -> None:
    lad = Ladder("EUR", 10_000, 10_000, 10_000, 1, 200)
    assert lad.digits == 4
    assert [lad.tick_of(lad.price_text(t)) for t in range(200)] == list(range(200))
    assert lad.tick_of("1.01") == lad.tick_of("1.0100") == 100
    assert lad.lots_of("7") == 7
    tenth = Ladder("GBP", 10_000, 1_000, 1_070, 2, 200)
    assert (tenth.digits, tenth.price_text(100), tenth.units_text(3)) == (3, "1.270", "0.3000")
    assert tenth.lots_of("0.3") == 3
    # A lot of 3 minor units: prices are not finite decimals, shown rounded.
    odd = Ladder("JPY", 100, 3, 10, 1, 50)
    assert odd.digits == MAX_DIGITS and odd.price_text(0) == "3.33333333"
    with pytest.raises(BadInput, match=r"not a whole number of lots \(1 lot = 0.03 JPY\): "
                                       r"nearest 0.03 or 0.06"):
        odd.lots_of("0.04")
    assert odd.tick_of("4") == 2  # 12 minor units per lot


def test_spread_text() -> None:
    lad = Ladder("EUR", 10_000, 10_000, 10_000, 1, 200)
    assert spread_text(lad, 98, 101) == "spread 3 ticks (0.0003, 3.0 bps of the mid 1.00995)"
    assert spread_text(lad, 100, 101) == "spread 1 tick (0.0001, 1.0 bps of the mid 1.01005)"
    assert spread_text(lad, NIL, 101) == "spread: no bids"
    assert spread_text(lad, 98, NIL) == "spread: no asks"
    assert spread_text(lad, NIL, NIL) == "spread: the book is empty"


def test_account_orders_are_what_the_levels_hold(tmp_path: Path) -> None:
    ex = book_exchange(tmp_path)
    writers = [Writer(ex, 0), Writer(ex, 1)]
    rng = np.random.default_rng(3)
    try:
        for _ in range(400):
            a = int(rng.integers(FUNDED))
            c = int(rng.choice([0, 2]))
            side = int(rng.integers(2))
            mine = [o for o in account_orders(ex, a) if o.currency == c]
            if mine and rng.random() < 0.3:
                o = mine[int(rng.integers(len(mine)))]
                assert writers[a % 2].cancel(a, c, o.order_id).cancelled == o.qty
                continue
            # Most rest apart; some cross and leave partly filled makers.
            away = int(rng.integers(0, 15)) - (6 if rng.random() < 0.15 else 0)
            tick = 100 + away if side == SELL else 99 - away
            writers[a % 2].limit(a, c, side, tick, int(rng.integers(1, 9)),
                                 int(rng.choice([GTC, GTC, IOC])))
        with Exchange.open(ex.path, writable=False) as ro:
            walked: dict[int, list[AccountOrder]] = {a: [] for a in range(FUNDED)}
            for c in (0, 2):
                b = ro.book(c)
                for side in (BUY, SELL):
                    for t in range(b.ticks):
                        for o in b.level(side, t):
                            walked[o.account].append(
                                AccountOrder(c, o.order_id, side, o.tick, o.qty))
            seen = 0
            for a in range(FUNDED):
                got = account_orders(ro, a)
                assert sorted(got, key=lambda o: (o.currency, o.order_id)) == sorted(
                    walked[a], key=lambda o: (o.currency, o.order_id))
                # Per currency: buys best (highest) first, then sells best (lowest) first.
                for c in (0, 2):
                    ticks = [(o.side, o.tick) for o in got if o.currency == c]
                    assert ticks == sorted(ticks, key=lambda x: (x[0], -x[1] if x[0] == BUY
                                                                 else x[1]))
                seen += len(got)
            assert seen > 20
            assert account_orders(ro, FUNDED) == []
            d = read_depth(ro, 0, 3)
            assert d.settled and len(d.bids) == len(d.asks) == 3
            assert d.best() == (ro.book(0).best(BUY), ro.book(0).best(SELL))
            assert [(x.tick, x.qty, x.orders) for x in d.bids] == ro.book(0).depth(BUY, 3)
    finally:
        for w in writers:
            w.close()
        ex.close()


def test_a_read_that_never_settles_says_so(tmp_path: Path) -> None:
    ex = book_exchange(tmp_path)
    try:
        w = Writer(ex, 0)
        assert w.limit(0, 0, BUY, 90, 3).rested == 3
        w.close()
        # A writer stopped inside its transaction keeps the version odd.
        ex.q[ex.cword(0, "version")] += 1
        d = read_depth(ex, 0, tries=3)
        assert not d.settled and [(x.tick, x.qty) for x in d.bids] == [(90, 3)]
        assert account_orders(ex, 0, tries=3)[0].qty == 3
        assert ladder(ex, 0).name == "EUR"
        with pytest.raises(BadInput, match="USD trades on a pool, not a book"):
            ladder(ex, 1)
    finally:
        ex.close()
    assert L.EXCHANGE_FILE in str(ex.path)


@given(st.decimals(min_value=Decimal("0.5"), max_value=Decimal("1.6"), places=6),
       st.sampled_from([(10_000, 10_000, 1), (1_000, 1_070, 2), (3, 10, 1)]))
def test_a_typed_price_is_on_the_ladder_or_names_its_neighbours(
        price: Decimal, shape: tuple[int, int, int]) -> None:
    lot, base, step = shape
    lad = Ladder("EUR", 10_000, lot, base, step, 200)
    try:
        t = lad.tick_of(str(price))
    except BadInput as e:
        msg = str(e)
        exact = (price * lot - base) / step
        if exact < 0:
            assert msg.endswith(f"nearest {lad.price_text(0)}")
        elif exact > 199:
            assert msg.endswith(f"nearest {lad.price_text(199)}")
        else:
            lo = int(exact)
            assert exact != lo
            assert msg.endswith(f"nearest {lad.price_text(lo)} or {lad.price_text(lo + 1)}")
        return
    assert 0 <= t < 200 and lad.price(t) == price * lot
