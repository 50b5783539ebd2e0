"""Named invariants of a limit order book: pure functions over its words and accounts.

Each check reads the raw words through the layout (never the engine's own code, so an
engine bug cannot hide itself) and returns human-readable details, empty when the
invariant holds. Run them on a consistent snapshot (under the book's lock, or a copy
taken with an even, unchanged ``version``): a torn read is only a suspect. Sums of money are
exact Python integers. Cost: numpy passes over the ladder and the pool, plus a walk of
every non-empty level and of the free list; O(accounts) for the money checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from sim.core.book_accounts import Accounts
from sim.core.book_layout import (
    BITS,
    BOOK,
    BUY,
    JOURNAL,
    LEVEL,
    NIL,
    ORDER,
    ORDER_FREE,
    ORDER_LIVE,
    SELL,
    SIDE_FIELDS,
    BookGeometry,
)

__all__ = ["BOOK_CHECKS", "check_book", "conservation", "reserves_match"]

BOOK_CHECKS: Final = ("journal_idle", "not_crossed", "levels_consistent", "pool_complete",
                      "bitmaps_and_best")
_SIDES: Final = ("bid", "ask")
_LEVEL_WORDS: Final = LEVEL.size // 8
_ORDER_WORDS: Final = ORDER.size // 8
_SHIFTS: Final = np.arange(BITS, dtype=np.int64)

Ints = np.ndarray[Any, np.dtype[np.int64]]
# A book's words: the live buffer (a memoryview cast to int64) or a numpy copy of it.
WordArray = memoryview | Ints
_LQ, _LH, _LT, _LC = (LEVEL.word("bid_qty"), LEVEL.word("bid_head"), LEVEL.word("bid_tail"),
                      LEVEL.word("bid_count"))
_OS, _OSIDE, _OT, _OQ, _OA, _OP, _ON = (
    ORDER.word("state"), ORDER.word("side"), ORDER.word("tick"), ORDER.word("qty"),
    ORDER.word("account"), ORDER.word("prev"), ORDER.word("next"))


def _geometry(a: Ints, base: int) -> BookGeometry:
    h = BOOK.word
    return BookGeometry(int(a[base + h("ticks")]), int(a[base + h("capacity")]),
                        int(a[base + h("max_fills")]))


def _levels(a: Ints, base: int, geo: BookGeometry, out: list[str]) -> int:
    """Walk every level that is not plainly empty; returns the orders found."""
    lv = a[base + geo.levels: base + geo.orders].reshape(geo.ticks, _LEVEL_WORDS)
    found = 0
    for s in (BUY, SELL):
        c = SIDE_FIELDS * s
        busy = ((lv[:, c + _LC] != 0) | (lv[:, c + _LQ] != 0) | (lv[:, c + _LH] != NIL)
                | (lv[:, c + _LT] != NIL))
        for t in np.flatnonzero(busy).tolist():
            head, tail, count, total = (int(x) for x in lv[t, [c + _LH, c + _LT, c + _LC,
                                                                c + _LQ]])
            found += _walk(a, base, geo, s, t, head, tail, count, total, out)
    return found


def _walk(a: Ints, base: int, geo: BookGeometry, s: int, t: int, head: int, tail: int,
          count: int, total: int, out: list[str]) -> int:
    """Check one level's FIFO; returns its length."""
    name = f"{_SIDES[s]} level {t}"
    prev, o, n, qty = NIL, head, 0, 0
    while o != NIL and n <= geo.capacity:
        if not 0 <= o < geo.capacity:
            out.append(f"{name}: link to record {o}, off the pool")
            break
        ob = base + geo.order_at(o)
        state, side, tick, oq, back, nxt = (
            int(x) for x in a[ob: ob + _ORDER_WORDS][[_OS, _OSIDE, _OT, _OQ, _OP, _ON]])
        if state != ORDER_LIVE or side != s or tick != t:
            out.append(f"{name}: record {o} is not a live {_SIDES[s]} at tick {t}")
        if back != prev:
            out.append(f"{name}: record {o} links back to {back}, not {prev}")
        if oq <= 0:
            out.append(f"{name}: record {o} rests {oq}")
        qty += oq
        prev, o, n = o, nxt, n + 1
    if n > geo.capacity:
        out.append(f"{name}: the FIFO does not end (a cycle)")
    if tail != prev:
        out.append(f"{name}: tail {tail}, the FIFO ends at {prev}")
    if count != n:
        out.append(f"{name}: count {count}, {n} orders linked")
    if total != qty:
        out.append(f"{name}: total {total}, its orders sum to {qty}")
    return n


def _orders(a: Ints, base: int, geo: BookGeometry) -> Ints:
    return a[base + geo.orders: base + geo.orders + geo.capacity * _ORDER_WORDS].reshape(
        geo.capacity, _ORDER_WORDS)


def _pool(a: Ints, base: int, geo: BookGeometry, linked: int, out: list[str]) -> None:
    h = BOOK.word
    orders = _orders(a, base, geo)
    live = int(np.count_nonzero(orders[:, _OS] == ORDER_LIVE))
    free, o = 0, int(a[base + h("free_head")])
    while o != NIL and free <= geo.capacity:
        if not 0 <= o < geo.capacity:
            out.append(f"free list links to record {o}, off the pool")
            break
        if orders[o, _OS] != ORDER_FREE:
            out.append(f"free list holds record {o}, which is not free")
        free, o = free + 1, int(orders[o, _ON])
    if free > geo.capacity:
        out.append("the free list does not end (a cycle)")
    if live + free != geo.capacity:
        out.append(f"{live} live + {free} free records != capacity {geo.capacity}")
    count = int(a[base + h("live")])
    if count != live or linked != live:
        out.append(f"live count {count}, {live} live records, {linked} linked")


def _bits(present: np.ndarray[Any, np.dtype[np.bool_]], words: int) -> Ints:
    """The bitmap words of a boolean array: bit i % 63 of word i // 63."""
    padded = np.zeros(words * BITS, dtype=np.int64)
    padded[:present.size] = present
    out: Ints = (padded.reshape(words, BITS) << _SHIFTS).sum(axis=1)
    return out


def _bitmaps(a: Ints, base: int, geo: BookGeometry, out: list[str]) -> None:
    h = BOOK.word
    lv = a[base + geo.levels: base + geo.orders].reshape(geo.ticks, _LEVEL_WORDS)
    leaf = (geo.bid_leaf, geo.ask_leaf)
    summ = (geo.bid_summary, geo.ask_summary)
    for s in (BUY, SELL):
        present = lv[:, SIDE_FIELDS * s + _LC] > 0
        got = a[base + leaf[s]: base + leaf[s] + geo.leaf_words]
        for li in np.flatnonzero(got != _bits(present, geo.leaf_words)).tolist():
            out.append(f"{_SIDES[s]} bitmap word {li} is {int(got[li]):#x}, the levels "
                       "disagree")
        got_sum = a[base + summ[s]: base + summ[s] + geo.summary_words]
        for si in np.flatnonzero(got_sum != _bits(got != 0, geo.summary_words)).tolist():
            out.append(f"{_SIDES[s]} summary word {si} is {int(got_sum[si]):#x}, the leaves "
                       "disagree")
        ticks = np.flatnonzero(present)
        truth = NIL if ticks.size == 0 else int(ticks[-1] if s == BUY else ticks[0])
        best = int(a[base + h(f"best_{_SIDES[s]}")])
        if best != truth:
            out.append(f"best_{_SIDES[s]} is {best}, the levels say {truth}")


def check_book(q: WordArray, base: int) -> dict[str, list[str]]:
    """Every structural invariant of the book at ``base``: name -> details (empty: holds)."""
    h = BOOK.word
    a = np.asarray(q, dtype=np.int64)
    geo = _geometry(a, base)
    res: dict[str, list[str]] = {name: [] for name in BOOK_CHECKS}
    state = int(a[base + geo.journal + JOURNAL.word("state")])
    if state:
        res["journal_idle"].append(f"journal holds a transaction of {state} words in flight")
    bid, ask = int(a[base + h("best_bid")]), int(a[base + h("best_ask")])
    if bid != NIL and ask != NIL and bid >= ask:
        res["not_crossed"].append(f"best bid {bid} >= best ask {ask}")
    linked = _levels(a, base, geo, res["levels_consistent"])
    _pool(a, base, geo, linked, res["pool_complete"])
    _bitmaps(a, base, geo, res["bitmaps_and_best"])
    return res


def reserves_match(q: WordArray, bases: Sequence[int], accounts: Accounts,
                   n_accounts: int) -> list[str]:
    """Each account's reserves equal what its live orders promise, over all ``bases``
    (books sharing these accounts); no balance is negative."""
    h = BOOK.word
    a = np.asarray(q, dtype=np.int64)
    cash = [0] * n_accounts
    units = [0] * n_accounts
    for base in bases:
        geo = _geometry(a, base)
        pb, ps = int(a[base + h("price_base")]), int(a[base + h("price_step")])
        lot = int(a[base + h("lot")])
        orders = _orders(a, base, geo)
        for o in np.flatnonzero(orders[:, _OS] == ORDER_LIVE).tolist():
            side, tick, qty, acc = (int(x) for x in orders[o, [_OSIDE, _OT, _OQ, _OA]])
            if not 0 <= acc < n_accounts:
                return [f"live record {o} of the book at word {base} names account {acc}"]
            if side == BUY:
                cash[acc] += (pb + tick * ps) * qty
            else:
                units[acc] += qty * lot
    out = []
    for acc in range(n_accounts):
        c, u, rc, ru = (int(a[w]) for w in accounts.words(acc))
        if rc != cash[acc] or ru != units[acc]:
            out.append(f"account {acc} reserves cash {rc}, units {ru}; its orders promise "
                       f"{cash[acc]}, {units[acc]}")
        if min(c, u, rc, ru) < 0:
            out.append(f"account {acc} has a negative balance: {c}, {u}, {rc}, {ru}")
    return out


def conservation(q: WordArray, accounts: Accounts, n_accounts: int, cash: int,
                 units: int) -> list[str]:
    """Cash + reserved cash and units + reserved units over all accounts equal the given
    totals, exactly."""
    a = np.asarray(q, dtype=np.int64)
    total_cash = total_units = 0
    for acc in range(n_accounts):
        c, u, rc, ru = (int(a[w]) for w in accounts.words(acc))
        total_cash += c + rc
        total_units += u + ru
    out = []
    if total_cash != cash:
        out.append(f"cash with reserves {total_cash} != {cash} (diff {total_cash - cash})")
    if total_units != units:
        out.append(f"units with reserves {total_units} != {units} (diff {total_units - units})")
    return out
