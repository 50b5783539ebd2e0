"""A small exchange file with two books beside a pool, traded by real orders, for the
tests of the books' checks, depth and monitor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np

from sim.core import layout as L
from sim.core.book_layout import GTC, IOC, POST_ONLY, SELL
from sim.core.exchange import BookSpec, CurrencySpec, Exchange, Funding
from sim.core.transaction import Writer

SCALE: Final = 10_000
SHAPE: Final = (200, 256, 16)
N_ACC: Final = 9
N_WRITERS: Final = 3
CASH: Final = 5_000 * SCALE
UNITS: Final = 2_000 * SCALE
EUR: Final = 0
USD: Final = 1  # the pool
GBP: Final = 2


def book_exchange(path: Path, sync: str = "per_currency") -> Exchange:
    """EUR (lot 1 unit, ticks of 0.0001) and GBP (lot 0.1 unit, ticks of 0.0002) on
    books, USD on a pool; accounts 0..8 hosted by writers a % 3."""
    specs = [CurrencySpec("EUR", 0, 0, BookSpec(10_000, 1, SCALE, 1.01)),
             CurrencySpec("USD", 100_000 * SCALE, 100_000 * SCALE),
             CurrencySpec("GBP", 0, 0, BookSpec(12_600, 2, SCALE // 10, 1.27))]
    ex = Exchange.create(str(path), specs, n_writers=N_WRITERS, n_accounts=N_ACC + 1,
                         ring_rows=256, scale=SCALE, fee_bps=0, book_shape=SHAPE, sync=sync,
                         lock_timeout_ms=5000)
    ex.fund_accounts([Funding(a % 3, CASH, [UNITS] * 3) for a in range(N_ACC)],
                     dict.fromkeys(range(N_WRITERS), L.KIND_TRADER))
    (path.parent / "ledger").mkdir(exist_ok=True)
    return ex


def trade_randomly(writers: Sequence[Writer] | Mapping[int, Writer], n: int, seed: int = 7,
                   accounts: Sequence[int] = range(N_ACC)) -> None:
    """``n`` random orders (limits of every kind around tick 100, market orders, cancels
    and pool trades) by ``accounts``, each through its writer ``writers[a % 3]``: books
    with both sides resting and makers owed cash."""
    rng = np.random.default_rng(seed)
    live: dict[int, list[tuple[int, int]]] = {a: [] for a in accounts}
    for _ in range(n):
        a = int(rng.choice(accounts))
        wr = writers[a % 3]
        c = int(rng.choice([EUR, GBP]))
        side = int(rng.integers(2))
        r = rng.random()
        if r < 0.05:
            wr.trade(a, USD, side, int(rng.integers(1, 20)) * SCALE)
        elif r < 0.25 and live[a]:
            c, oid = live[a].pop(int(rng.integers(len(live[a]))))
            wr.cancel(a, c, oid)
        elif r < 0.35:
            wr.market(a, c, side, int(rng.integers(1, 30)))
        else:
            tick = int(rng.normal(100, 8)) + (3 if side == SELL else -3)
            tif = int(rng.choice([GTC, GTC, GTC, IOC, POST_ONLY]))
            res = wr.limit(a, c, side, tick, int(rng.integers(1, 40)), tif)
            if res.rested:
                live[a].append((c, res.order_id))
