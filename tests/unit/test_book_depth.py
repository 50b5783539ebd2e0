"""The books' top levels read from the words: the right levels, and only untorn reads.

Against the engine's own ``Book.depth`` and a scan of every level record, on a file
traded by real orders; under a writer that trades in another process meanwhile, every
read the seqlock lets through is a possible book (sides ordered, not crossed, no empty
level), and most reads get through.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Final

import numpy as np
import pytest

from sim.core import layout as L
from sim.core.book_depth import Depth, Level, consistent_depth, depth
from sim.core.book_layout import BUY, LEVEL, SELL, SIDE_FIELDS, BookGeometry
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from tests.unit.book_market import EUR, GBP, N_WRITERS, SHAPE, book_exchange, trade_randomly

GEO: Final = BookGeometry(*SHAPE)
TRADE_S: Final = 1.0
_DEADLINE_S: Final = 30


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


def possible(d: Depth) -> bool:
    bids, asks = [x.tick for x in d.bids], [x.tick for x in d.asks]
    return (bids == sorted(bids, reverse=True) and asks == sorted(asks)
            and len(set(bids)) == len(bids) and len(set(asks)) == len(asks)
            and (not bids or not asks or bids[0] < asks[0])
            and all(x.lots > 0 and x.orders > 0 for x in d.bids + d.asks))


@pytest.mark.timeout(60)
def test_reads_under_a_trading_process_are_never_torn(tmp_path: Path) -> None:
    path = tmp_path / L.EXCHANGE_FILE
    ex = book_exchange(path)
    writers = [Writer(ex, w) for w in range(N_WRITERS)]
    trade_randomly(writers, 200, seed=5)
    for wr in writers:
        wr.close()
    pid = os.fork()
    if pid == 0:  # the trader: random orders on both books until told to stop
        try:
            child = Exchange.open(str(path))
            mine = [Writer(child, w) for w in range(N_WRITERS)]
            end = time.monotonic() + TRADE_S
            seed = 11
            while time.monotonic() < end:
                trade_randomly(mine, 100, seed=seed)
                seed += 1
        finally:
            os._exit(0)
    reads = skipped = 0
    base = ex.geo.book_at(EUR) // 8
    vw = ex.cword(EUR, "version")
    start = ex.q[vw]
    try:
        deadline = time.monotonic() + _DEADLINE_S
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            assert time.monotonic() < deadline, "the trading process did not finish"
            d = consistent_depth(ex.q, base, vw)
            if d is None:
                skipped += 1
                continue
            reads += 1
            assert possible(d), d
        pid = 0
        transactions = (ex.q[vw] - start) // 2
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        ex.close()
    # The book changed under the reads thousands of times, and most reads got through.
    assert transactions > 1000 and reads > 100 and reads > skipped, (
        transactions, reads, skipped)
