"""The books' top levels read from the words: against the engine's own ``Book.depth``
and a scan of every level record, on a file traded by real orders; a seqlock read of a
book being written gives nothing. (Reads beside a trading process:
tests/integration/test_book_monitor_live.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np

from sim.core import layout as L
from sim.core.book_depth import Depth, Level, consistent_depth, depth
from sim.core.book_layout import BUY, LEVEL, SELL, SIDE_FIELDS, BookGeometry
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from tests.unit.book_market import EUR, GBP, N_WRITERS, SHAPE, book_exchange, trade_randomly

GEO: Final = BookGeometry(*SHAPE)


def scanned(ex: Exchange, c: int, side: int, n: int) -> list[Level]:
    """The best ``n`` levels of a side from every level record, the slow way."""
    base = ex.geo.book_at(c) // 8
    b = ex.book(c)
    lv = np.array(ex.q[base + GEO.levels: base + GEO.orders]).reshape(GEO.ticks, -1)
    f = SIDE_FIELDS * side
    ticks = np.flatnonzero(lv[:, f + LEVEL.word("bid_count")] > 0)
    ticks = ticks[::-1] if side == BUY else ticks
    return [Level(int(t), b.price(int(t)), int(lv[t, f + LEVEL.word("bid_qty")]),
                  int(lv[t, f + LEVEL.word("bid_count")])) for t in ticks[:n]]


def test_depth_reads_the_best_levels_of_each_side(tmp_path: Path) -> None:
    ex = book_exchange(tmp_path / L.EXCHANGE_FILE)
    writers = [Writer(ex, w) for w in range(N_WRITERS)]
    try:
        trade_randomly(writers, 500, seed=3)
        for c in (EUR, GBP):
            base = ex.geo.book_at(c) // 8
            b = ex.book(c)
            for n in (1, 3, 10, 50):
                d = depth(ex.q, base, n)
                assert d.lot == b.lot
                for side, got in ((BUY, d.bids), (SELL, d.asks)):
                    assert got == scanned(ex, c, side, n)
                    assert [(x.tick, x.lots, x.orders) for x in got] == b.depth(side, n)
            full = depth(ex.q, base, 50)
            assert len(full.bids) > 3 and len(full.asks) > 3  # n cut them short above
            vw = ex.cword(c, "version")
            assert consistent_depth(ex.q, base, vw) == depth(ex.q, base)
            ex.q[vw] += 1  # a transaction writing: no read settles
            assert consistent_depth(ex.q, base, vw, tries=3) is None
            ex.q[vw] -= 1
        empty = book_exchange(tmp_path / "empty.dat")
        assert depth(empty.q, empty.geo.book_at(GBP) // 8) == Depth([], [], 1000)
        empty.close()
    finally:
        for wr in writers:
            wr.close()
        ex.close()
