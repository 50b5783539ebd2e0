"""The top levels of a limit order book, read from its words: for the monitor, `sim
trade`'s book and `sim watch`; and the best quotes its currency record mirrors.

:func:`depth` walks each side from its best tick through the book's bitmaps (the next
level's bit in the same 63-tick leaf word, else book_ladder's search) and reads each
level's total and order count: it only reads, and needs no lock. On a live book
:func:`consistent_depth` makes it a seqlock read: the currency's ``version`` even before
and unchanged after, else a few more tries, then nothing (the caller skips that sample
rather than wait for a writer). Ten levels a side take 30-45 us here (2 shared vCPUs).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Final, NamedTuple

import numpy as np

from sim.core.book_journal import Words
from sim.core.book_ladder import next_best
from sim.core.book_layout import BITS, BOOK, BUY, LEVEL, NIL, SELL, SIDE_FIELDS, BookGeometry

__all__ = ["DEPTH_LEVELS", "DEPTH_TRIES", "Depth", "Level", "consistent_depth", "depth",
           "quote_rates"]

# Levels per side the monitor records; tries of a seqlock read before it gives up.
DEPTH_LEVELS: Final = 10
DEPTH_TRIES: Final = 5
_LW: Final = LEVEL.size // 8
_LQ, _LC = LEVEL.word("bid_qty"), LEVEL.word("bid_count")
(_TICKS, _CAPACITY, _MAX_FILLS, _PRICE_BASE, _PRICE_STEP, _LOT, _BEST_BID, _BEST_ASK) = (
    BOOK.word(f) for f in ("ticks", "capacity", "max_fills", "price_base", "price_step",
                           "lot", "best_bid", "best_ask"))
# A read goes through no transaction's pending writes.
_NO_WRITES: Final[dict[int, int]] = {}


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


@functools.lru_cache(maxsize=8)
def _shape(ticks: int, capacity: int, max_fills: int) -> tuple[int, ...]:
    """Where the levels and the bitmaps of a book of this shape sit (words from its
    start), and its summary words: computed once per shape, not per read."""
    g = BookGeometry(ticks, capacity, max_fills)
    return (g.levels, g.bid_leaf, g.bid_summary, g.ask_leaf, g.ask_summary,
            g.summary_words)


def depth(q: Words, base: int, n: int = DEPTH_LEVELS) -> Depth:
    """Up to ``n`` best levels of each side of the book whose region starts at word
    ``base`` of ``q`` (int64 words yielding Python ints, such as ``Exchange.q``).

    Read without a lock, a level may be torn: only :func:`consistent_depth` says it is
    not. A tick off the ladder (a torn or damaged word) ends that side's walk.
    """
    ticks = q[base + _TICKS]
    levels, bid_leaf, bid_sum, ask_leaf, ask_sum, summary_words = _shape(
        ticks, q[base + _CAPACITY], q[base + _MAX_FILLS])
    pb, ps = q[base + _PRICE_BASE], q[base + _PRICE_STEP]
    sides: list[list[Level]] = []
    for side, best, leaf, summary in ((BUY, _BEST_BID, bid_leaf, bid_sum),
                                      (SELL, _BEST_ASK, ask_leaf, ask_sum)):
        out: list[Level] = []
        lv = base + levels + SIDE_FIELDS * side
        t = q[base + best]
        leaf += base
        while 0 <= t < ticks and len(out) < n:  # NIL (-1): that side is empty
            lb = lv + t * _LW
            out.append(Level(t, pb + t * ps, q[lb + _LQ], q[lb + _LC]))
            # The next level is most often in the same leaf word: its bits, beyond t.
            li, b = divmod(t, BITS)
            x = q[leaf + li]
            if side == BUY:
                x &= (1 << b) - 1
                if x:
                    t = li * BITS + x.bit_length() - 1
                    continue
                t = li * BITS - 1
            else:
                x >>= b + 1
                if x:
                    t += (x & -x).bit_length()
                    continue
                t = li * BITS + BITS
            if 0 <= t < ticks:
                t = next_best(q, _NO_WRITES, leaf, base + summary, summary_words, side, t)
        sides.append(out)
    return Depth(sides[0], sides[1], q[base + _LOT])


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
