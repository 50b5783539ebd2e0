"""A book side's two-level bitmap over the price ladder: mark, clear, find the next best.

Leaf word ``t // 63`` holds bit ``t % 63`` while tick ``t`` has orders on that side;
summary word ``i // 63`` holds bit ``i % 63`` while leaf word ``i`` is not zero. Finding
the best tick at or beyond ``t`` (downwards for bids, upwards for asks) reads the leaf
word of ``t``, then the summary word, then further summary words (one per 3,969 ticks)
until one is not zero, and one leaf word: O(1) within 3,969 ticks. Every function reads
through the transaction's overlay ``w`` of pending writes and writes only into it.
"""

from __future__ import annotations

from sim.core.book_journal import Words
from sim.core.book_layout import BITS, BUY, NIL

__all__ = ["Overlay", "clear_tick", "next_best", "set_tick"]

Overlay = dict[int, int]


def set_tick(q: Words, w: Overlay, leaf: int, summary: int, t: int) -> None:
    """Mark tick ``t`` in the bitmap whose words start at ``leaf`` and ``summary``."""
    li = t // BITS
    lw = leaf + li
    old = w[lw] if lw in w else q[lw]
    w[lw] = old | 1 << (t - li * BITS)
    if old == 0:
        si = li // BITS
        sw = summary + si
        w[sw] = (w[sw] if sw in w else q[sw]) | 1 << (li - si * BITS)


def clear_tick(q: Words, w: Overlay, leaf: int, summary: int, t: int) -> None:
    """Clear tick ``t``; its summary bit too when its leaf word becomes zero."""
    li = t // BITS
    lw = leaf + li
    new = (w[lw] if lw in w else q[lw]) & ~(1 << (t - li * BITS))
    w[lw] = new
    if new == 0:
        si = li // BITS
        sw = summary + si
        w[sw] = (w[sw] if sw in w else q[sw]) & ~(1 << (li - si * BITS))


def next_best(q: Words, w: Overlay, leaf: int, summary: int, summary_words: int, side: int,
              t: int) -> int:
    """The best marked tick at ``t`` or further from the spread: the highest <= ``t`` for
    bids, the lowest >= ``t`` for asks; NIL if there is none."""

    li, b = divmod(t, BITS)
    si, sb = divmod(li, BITS)
    i = leaf + li
    x = w[i] if i in w else q[i]
    i = summary + si
    y = w[i] if i in w else q[i]
    if side == BUY:
        x &= (2 << b) - 1
        if x:
            return li * BITS + x.bit_length() - 1
        y &= (1 << sb) - 1
        while not y:
            si -= 1
            if si < 0:
                return NIL
            i = summary + si
            y = w[i] if i in w else q[i]
        li = si * BITS + y.bit_length() - 1
        i = leaf + li
        return li * BITS + (w[i] if i in w else q[i]).bit_length() - 1
    x = x >> b << b
    if x:
        return li * BITS + (x & -x).bit_length() - 1
    y = y >> (sb + 1) << (sb + 1)
    while not y:
        si += 1
        if si >= summary_words:
            return NIL
        i = summary + si
        y = w[i] if i in w else q[i]
    li = si * BITS + (y & -y).bit_length() - 1
    i = leaf + li
    x = w[i] if i in w else q[i]
    return li * BITS + (x & -x).bit_length() - 1
