"""The top levels of a limit order book, read from its words: for the monitor, `sim
trade`'s book and `sim watch`; and the best quotes its currency record mirrors.

:func:`depth` walks each side from its best tick through the book's bitmaps (O(1) words
per level within 3,969 ticks, see book_ladder) and reads each level's total and order
count: it only reads, and needs no lock. On a live book :func:`consistent_depth` makes
it a seqlock read: the currency's ``version`` even before and unchanged after, else a few
more tries, then nothing (the caller skips that sample rather than wait for a writer).
"""

from __future__ import annotations

import os
from typing import Any, Final, NamedTuple

import numpy as np

from sim.core.book_journal import Words
from sim.core.book_ladder import next_best
from sim.core.book_layout import BOOK, BUY, LEVEL, NIL, SELL, SIDE_FIELDS, BookGeometry

__all__ = ["DEPTH_LEVELS", "DEPTH_TRIES", "Depth", "Level", "consistent_depth", "depth",
           "quote_rates"]

# Levels per side the monitor records; tries of a seqlock read before it gives up.
DEPTH_LEVELS: Final = 10
DEPTH_TRIES: Final = 5
_H = BOOK.word
_LW: Final = LEVEL.size // 8
_LQ, _LC = LEVEL.word("bid_qty"), LEVEL.word("bid_count")


class Level(NamedTuple):
    """One price level of one side: its tick, its price (cash minor units per lot), the
    lots resting there and how many orders hold them."""

    tick: int
    price: int
    lots: int
    orders: int


class Depth(NamedTuple):
    """The best levels of both sides, best first, and the book's lot (minor units of the
    currency per lot): a level's rate is ``price / lot``, its units ``lots * lot``."""

    bids: list[Level]
    asks: list[Level]
    lot: int


def depth(q: Words, base: int, n: int = DEPTH_LEVELS) -> Depth:
    """Up to ``n`` best levels of each side of the book whose region starts at word
    ``base`` of ``q`` (int64 words yielding Python ints, such as ``Exchange.q``).

    Read without a lock, a level may be torn: only :func:`consistent_depth` says it is
    not. A tick off the ladder (a torn or damaged word) ends that side's walk.
    """
    geo = BookGeometry(q[base + _H("ticks")], q[base + _H("capacity")],
                       q[base + _H("max_fills")])
    pb, ps = q[base + _H("price_base")], q[base + _H("price_step")]
    sides: list[list[Level]] = []
    for side, best, leaf, summary in ((BUY, "best_bid", geo.bid_leaf, geo.bid_summary),
                                      (SELL, "best_ask", geo.ask_leaf, geo.ask_summary)):
        out: list[Level] = []
        step = -1 if side == BUY else 1
        t = q[base + _H(best)]
        while 0 <= t < geo.ticks and len(out) < n:  # NIL (-1): that side is empty
            lb = base + geo.level_at(t) + SIDE_FIELDS * side
            out.append(Level(t, pb + t * ps, q[lb + _LQ], q[lb + _LC]))
            t += step
            if 0 <= t < geo.ticks:
                t = next_best(q, {}, base + leaf, base + summary, geo.summary_words, side, t)
        sides.append(out)
    return Depth(sides[0], sides[1], q[base + _H("lot")])


def consistent_depth(q: Words, base: int, version: int, n: int = DEPTH_LEVELS,
                     tries: int = DEPTH_TRIES) -> Depth | None:
    """:func:`depth` checked by the seqlock at word ``version`` (the currency's: every
    book transaction keeps it odd while it writes): None if no try of ``tries`` saw it
    even and unchanged."""
    for _ in range(tries):
        v = q[version]
        if not v & 1:
            d = depth(q, base, n)
            if q[version] == v:
                return d
        # The writer may be this CPU's other process, preempted mid-order: let it finish.
        os.sched_yield()
    return None



Floats = np.ndarray[Any, np.dtype[np.float64]]


def quote_rates(cur: np.ndarray[Any, np.dtype[np.void]], book: np.ndarray[Any, Any],
                lot: np.ndarray[Any, Any]) -> tuple[Floats, Floats]:
    """Best bid and best ask rates (cash per unit) from currency records (C, or a batch
    B x C) whose mirrors quote them: NaN for a pool (``book`` False) or an empty side.
    ``lot`` is each book's lot in minor units (ignored for a pool)."""
    per_lot = np.where(book, lot, 1).astype(np.float64)
    out = []
    for tick, price in (("best_bid", "bid_price"), ("best_ask", "ask_price")):
        rates: Floats = np.where(book & (cur[tick] != NIL), cur[price] / per_lot, np.nan)
        out.append(rates)
    return out[0], out[1]
