"""The replay of the books: every book and every stake rebuilt from the ledger, compared.

``sim check --replay`` walks the whole ledger in time order, which keeps each currency's
``cur_seq`` order; the rows of a book currency come here (:meth:`BookReplay.row`):

- ``placed``: a new order at the tail of its level (first in, first out, in the order of
  the ``cur_seq`` that placed it); a buy moves ``price * lots`` from the owner's cash to
  its reserved cash, a sell moves ``qty`` from its holdings to its reserved units. It must
  not cross the book.
- ``fill``: the maker's order (``order_id``) loses ``qty``; it must be the oldest order of
  the best level on its side, at the fill's tick, and ``cash`` must be the price of that
  tick times the lots. The taker pays or is paid with its cash and holdings, the maker
  with its reserve; a maker that sold is paid into its stake's due cash (into its cash
  when it is the taker itself: a self-trade).
- ``cancelled``: the order leaves the book and its reserve goes back.

Due cash. An account's due cash on a book joins its cash at each of its orders there.
An order that wrote a row swept visibly (the account is the row's ``account``); but an
order that neither filled nor rested (an immediate-or-cancel that crossed nothing, a
market order that found nothing) writes no row and still swept. So the replay keeps, per
account and book, the credits since its last visible sweep: the file's due cash must be
one of their suffix sums (0 if a silent order swept them all, their total if none did),
and cash is compared exactly as the replayed cash plus what those silent sweeps moved.
Affordability is checked against cash plus every unswept credit: an upper bound of what
the account held, never a false alarm.

At the end :meth:`BookReplay.compare` holds the rebuilt books against the file: every
live order (id, account, quantity) in first-in-first-out order at every level of both
sides, level totals and counts, best bid and ask, the book's counters, the currency's
mirror of its book, and every stake.
"""

from __future__ import annotations

import heapq
from typing import Any, Final

import numpy as np

from sim.core import layout as L
from sim.core.book_layout import (
    BOOK,
    BUY,
    LEVEL,
    NIL,
    ORDER,
    ORDER_LIVE,
    SELL,
    SIDE_FIELDS,
    BookGeometry,
    order_id,
    split_id,
)
from sim.core.exchange import Exchange

__all__ = ["BookReplay"]

_SIDE_NAMES: Final = ("bid", "ask")
_LQ, _LH, _LC = LEVEL.word("bid_qty"), LEVEL.word("bid_head"), LEVEL.word("bid_count")
_LW: Final = LEVEL.size // 8
_OW: Final = ORDER.size // 8
_OS, _OG, _OSIDE, _OT, _OQ, _OA, _ON = (ORDER.word(f) for f in (
    "state", "gen", "side", "tick", "qty", "account", "next"))
_MAX_SHOWN: Final = 10


class _Book:
    """One book as the ledger builds it."""

    def __init__(self, c: int, name: str, lot: int, price_base: int, price_step: int,
                 ticks: int, capacity: int) -> None:
        self.c, self.name, self.lot = c, name, lot
        self.price_base, self.price_step = price_base, price_step
        self.ticks, self.capacity = ticks, capacity
        # id -> [account, side, tick, lots]
        self.orders: dict[int, list[int]] = {}
        # Per side: tick -> the ids resting there, oldest first (a dict keeps insertion
        # order and removes in O(1)).
        self.levels: tuple[dict[int, dict[int, None]], dict[int, dict[int, None]]] = ({}, {})
        # Per side a heap of ticks whose level was created (bids negated); an entry whose
        # level has emptied since is dropped when it comes to the top.
        self.heaps: tuple[list[int], list[int]] = ([], [])
        self.fills = self.vol_lots = self.vol_cash = self.cancels = 0
        self.last_tick = NIL
        self.last_price = 0
        self.seen_orders = 0
        # The order whose rows are being read: (account, t_ns, side, tick of its last fill).
        self.open: tuple[int, int, int, int] | None = None

    def price(self, tick: int) -> int:
        return self.price_base + tick * self.price_step

    def best(self, side: int) -> int:
        h, lv = self.heaps[side], self.levels[side]
        while h:
            t = -h[0] if side == BUY else h[0]
            if t in lv:
                return t
            heapq.heappop(h)
        return NIL

    def add(self, oid: int, account: int, side: int, tick: int, lots: int) -> None:
        self.orders[oid] = [account, side, tick, lots]
        lv = self.levels[side]
        level = lv.get(tick)
        if level is None:
            level = lv[tick] = {}
            heapq.heappush(self.heaps[side], -tick if side == BUY else tick)
        level[oid] = None

    def remove(self, oid: int) -> None:
        _, side, tick, _ = self.orders.pop(oid)
        lv = self.levels[side]
        level = lv[tick]
        del level[oid]
        if not level:
            del lv[tick]


class BookReplay:
    """Every book of ``ex`` and every account's stakes, rebuilt row by row.

    ``cash`` (per account) and ``hold`` (account x currency) are the replay's account
    arrays, shared with the pool replay and changed in place; ``claimed`` says which
    accounts exist.
    """

    def __init__(self, ex: Exchange, cash: np.ndarray[Any, Any], hold: np.ndarray[Any, Any],
                 claimed: list[bool]) -> None:
        names = ex.names()
        self.books: dict[int, _Book] = {}
        for c in ex.geo.books:
            b = ex.book(c)
            self.books[c] = _Book(c, names[c], b.lot, b.price_base, b.price_step, b.ticks,
                                  b.capacity)
        self.cash = cash
        self.hold = hold
        self.claimed = claimed
        self.rcash: dict[tuple[int, int], int] = {}
        self.runits: dict[tuple[int, int], int] = {}
        # (account, book) -> credits of due cash since the account's last visible sweep
        self.credits: dict[tuple[int, int], list[int]] = {}
        # account -> the sum of those credits over its books
        self.unswept: dict[int, int] = {}

    def headroom(self, a: int) -> int:
        """The most cash account ``a`` can have had: its replayed cash and every credit of
        due cash no row shows swept."""
        return int(self.cash[a]) + self.unswept.get(a, 0)

    def _sweep(self, a: int, c: int) -> None:
        got = self.credits.pop((a, c), None)
        if got:
            s = sum(got)
            self.cash[a] += s
            self.unswept[a] -= s

    def row(self, kind: int, c: int, a: int, side: int, qty: int, cash: int, oid: int,
            maker: int, tick: int, t_ns: int) -> tuple[bool, list[str]]:
        """Apply one row of book currency ``c``; returns whether it began an order that
        traded (the taker's ``trades`` count) and what is wrong with it."""
        b = self.books[c]
        out: list[str] = []
        if side not in (BUY, SELL):
            return False, [f"side {side}, expected 0 (buy) or 1 (sell)"]
        if not 0 <= tick < b.ticks:
            out.append(f"tick {tick} off the ladder 0..{b.ticks - 1}")
        if qty <= 0 or qty % b.lot:
            out.append(f"qty {qty} is not a positive number of lots of {b.lot}")
        lots = qty // b.lot
        self._sweep(a, c)
        if kind == L.ROW_FILL:
            new = self._fill(b, out, a, side, qty, lots, cash, oid, maker, tick, t_ns)
        elif kind == L.ROW_PLACED:
            self._placed(b, out, a, side, qty, lots, cash, oid, tick, t_ns)
            new = False
        elif kind == L.ROW_CANCELLED:
            self._cancelled(b, out, a, side, qty, lots, cash, oid, tick)
            new = False
        else:
            out.append(f"kind {kind} on a book currency, expected "
                       f"{L.ROW_FILL}..{L.ROW_CANCELLED}")
            new = False
        if self.hold[a, c] < 0:
            out.append(f"holding of currency {c} goes negative ({self.hold[a, c]})")
        if self.headroom(a) < 0:
            out.append(f"cash goes negative ({self.headroom(a)} with every due credit)")
        return new, out

    def _fill(self, b: _Book, out: list[str], a: int, side: int, qty: int, lots: int,
              cash: int, oid: int, maker: int, tick: int, t_ns: int) -> bool:
        c = b.c
        o = b.orders.get(oid)
        if o is None:
            out.append(f"fill of order {oid}, which is not live in the replayed book")
        else:
            acct, oside, otick, left = o
            if acct != maker:
                out.append(f"fill names maker {maker}, order {oid} is account {acct}'s")
            if oside != 1 - side:
                out.append(f"taker side {side} fills order {oid} of the same side")
            if otick != tick:
                out.append(f"fill at tick {tick}, order {oid} rests at tick {otick}")
            if lots > left:
                out.append(f"fill of {lots} lots, order {oid} has {left} left")
            level = b.levels[oside].get(otick)
            if level and next(iter(level)) != oid:
                out.append(f"fill of order {oid} before the older order "
                           f"{next(iter(level))} at tick {otick} (first in, first out)")
            best = b.best(oside)
            if best != otick:
                out.append(f"fill at tick {otick} while the best {_SIDE_NAMES[oside]} is "
                           f"tick {best} (best price first)")
            if lots >= left:
                b.remove(oid)
            else:
                o[3] = left - lots
        if cash != b.price(tick) * lots:
            out.append(f"logged cash {cash}, price {b.price(tick)} x {lots} lots gives "
                       f"{b.price(tick) * lots}")
        # The order this row belongs to: a new one unless the same taker's order goes on.
        prev = b.open
        new = prev is None or prev[:2] != (a, t_ns)
        if not new and prev is not None:
            if prev[2] != side:
                out.append("one order's rows on both sides")
            # Best price first: within one order the fills only get worse for the taker.
            if (tick < prev[3]) if side == BUY else (tick > prev[3]):
                out.append(f"fill at tick {tick} after a fill at tick {prev[3]} of the same "
                           "order (best price first)")
        b.open = (a, t_ns, side, tick)
        if new:
            b.seen_orders += 1
        b.fills += 1
        b.vol_lots += lots
        b.vol_cash += cash
        b.last_tick = tick
        b.last_price = b.price(tick)
        if not (0 <= maker < len(self.claimed) and self.claimed[maker]):
            out.append(f"maker {maker} is not a claimed account")
            maker = -1
        if side == BUY:
            self.cash[a] -= cash
            self.hold[a, c] += qty
            if maker >= 0:
                self.runits[maker, c] = self.runits.get((maker, c), 0) - qty
                if maker == a:
                    self.cash[a] += cash
                else:
                    self.credits.setdefault((maker, c), []).append(cash)
                    self.unswept[maker] = self.unswept.get(maker, 0) + cash
        else:
            self.hold[a, c] -= qty
            self.cash[a] += cash
            if maker >= 0:
                self.rcash[maker, c] = self.rcash.get((maker, c), 0) - cash
                self.hold[maker, c] += qty
        return new

    def _placed(self, b: _Book, out: list[str], a: int, side: int, qty: int, lots: int,
                cash: int, oid: int, tick: int, t_ns: int) -> None:
        c = b.c
        prev = b.open
        b.open = None
        if prev is not None and prev[:2] == (a, t_ns):
            # The remainder of an order that filled first: its limit bounds those fills.
            if prev[2] != side:
                out.append("one order's rows on both sides")
            elif (prev[3] > tick) if side == BUY else (prev[3] < tick):
                out.append(f"placed at tick {tick} after filling at tick {prev[3]}, beyond "
                           "its limit")
        else:
            b.seen_orders += 1
        if cash != b.price(tick) * lots:
            out.append(f"logged cash {cash}, price {b.price(tick)} x {lots} lots gives "
                       f"{b.price(tick) * lots}")
        opp = b.best(1 - side)
        if opp != NIL and (opp <= tick if side == BUY else opp >= tick):
            out.append(f"placed at tick {tick} crosses the best {_SIDE_NAMES[1 - side]} at "
                       f"tick {opp}")
        if oid in b.orders:
            out.append(f"order {oid} placed while already live")
        elif not 0 <= split_id(oid)[1] < b.capacity:
            out.append(f"order id {oid} names record {split_id(oid)[1]}, beyond the "
                       f"capacity {b.capacity}")
        else:
            b.add(oid, a, side, tick, lots)
        if side == BUY:
            self.cash[a] -= cash
            self.rcash[a, c] = self.rcash.get((a, c), 0) + cash
        else:
            self.hold[a, c] -= qty
            self.runits[a, c] = self.runits.get((a, c), 0) + qty

    def _cancelled(self, b: _Book, out: list[str], a: int, side: int, qty: int, lots: int,
                   cash: int, oid: int, tick: int) -> None:
        c = b.c
        b.open = None
        b.seen_orders += 1
        b.cancels += 1
        o = b.orders.get(oid)
        if o is None:
            out.append(f"cancel of order {oid}, which is not live in the replayed book")
        else:
            acct, oside, otick, left = o
            if (acct, oside, otick, left) != (a, side, tick, lots):
                out.append(f"cancel of order {oid} as account {a} side {side} tick {tick} "
                           f"{lots} lots; the replayed order is account {acct} side {oside} "
                           f"tick {otick} {left} lots")
            b.remove(oid)
        want = b.price(tick) * lots if side == BUY else 0
        if cash != want:
            out.append(f"logged cash {cash}, a cancel of {lots} lots releases {want}")
        if side == BUY:
            self.rcash[a, c] = self.rcash.get((a, c), 0) - cash
            self.cash[a] += cash
        else:
            self.runits[a, c] = self.runits.get((a, c), 0) - qty
            self.hold[a, c] += qty

    # -- the end: the rebuilt books against the file ------------------------------------

    def silent_sweeps(self, stakes: np.ndarray[Any, Any]) -> tuple[dict[int, int], list[str]]:
        """What orders that wrote no row swept into each account's cash (account ->
        cash), from the file's due cash; and every due cash no such sweep explains."""
        moved: dict[int, int] = {}
        out: list[str] = []
        keys = set(self.credits)
        for c in self.books:
            keys |= {(a, c) for a in np.flatnonzero(stakes["due_cash"][:, c] != 0).tolist()}
        for a, c in sorted(keys):
            file_due = int(stakes["due_cash"][a, c])
            got = self.credits.get((a, c), [])
            where = f"account {a} stake {self.books[c].name} due_cash: file {file_due}"
            if not (a < len(self.claimed) and self.claimed[a]):
                out.append(f"{where}, the account is not claimed")
                continue
            sums, suffix = {0}, 0
            for x in reversed(got):
                suffix += x
                sums.add(suffix)
            if file_due not in sums and not got:
                out.append(f"{where}, replay 0 (no fill of its resting sells since its last "
                           "order there)")
            elif file_due not in sums:
                out.append(f"{where}, replay {sum(got)} from {len(got)} fills of its "
                           "resting sells since its last order there (or, had an order that "
                           "wrote no row swept them, what the fills after it paid)")
            if file_due not in sums:
                continue
            moved[a] = moved.get(a, 0) + sum(got) - file_due
        return moved, out[:_MAX_SHOWN]

    def compare(self, ex: Exchange, cur: np.ndarray[Any, Any],
                stakes: np.ndarray[Any, Any]) -> list[str]:
        """Every mismatch between the rebuilt books and stakes and the file's."""
        out: list[str] = []
        everything = np.asarray(ex.q)
        for c, b in self.books.items():
            fb = ex.book(c)
            geo = BookGeometry(fb.ticks, fb.capacity, fb.max_fills)
            region = everything[fb.base: fb.base + geo.size_words].copy()
            out += self._compare_book(b, region, geo, cur[c], stakes[:, c])
        return out

    def _compare_book(self, b: _Book, region: np.ndarray[Any, Any], geo: BookGeometry,
                      cur: np.void, stakes: np.ndarray[Any, Any]) -> list[str]:
        out: list[str] = []
        name = f"currency {b.name} book"

        def same(what: str, file_v: object, mine: object) -> None:
            if file_v != mine:
                out.append(f"{name} {what}: file {file_v}, replay {mine}")

        h = {f.name: int(region[BOOK.word(f.name)]) for f in BOOK.fields}
        bid, ask = b.best(BUY), b.best(SELL)
        same("best_bid", h["best_bid"], bid)
        same("best_ask", h["best_ask"], ask)
        same("live orders", h["live"], len(b.orders))
        for field, mine in (("fills", b.fills), ("volume_qty", b.vol_lots),
                            ("volume_cash", b.vol_cash), ("cancels", b.cancels),
                            ("last_tick", b.last_tick)):
            same(field, h[field], mine)
        if h["orders"] < b.seen_orders:
            out.append(f"{name} orders: file {h['orders']}, the ledger shows at least "
                       f"{b.seen_orders}")
        # The currency record's mirror of the book.
        for field, mine in (("best_bid", bid), ("best_ask", ask),
                            ("bid_price", 0 if bid == NIL else b.price(bid)),
                            ("ask_price", 0 if ask == NIL else b.price(ask)),
                            ("book_live", len(b.orders)),
                            ("book_reserved_cash", sum(v for (_, c), v in self.rcash.items()
                                                       if c == b.c)),
                            ("book_reserved_units", sum(v for (_, c), v in self.runits.items()
                                                        if c == b.c))):
            same(f"mirror {field}", int(cur[field]), mine)
        # Each stake's due cash is held against the ledger in silent_sweeps.
        dues = int(stakes["due_cash"].sum())
        if int(cur["book_due_cash"]) != dues:
            out.append(f"{name} mirror book_due_cash: file {int(cur['book_due_cash'])}, its "
                       f"stakes' due_cash sum to {dues}")
        if b.fills:
            same("mirror last_rate", float(cur["last_rate"]), b.last_price / b.lot)
        levels = region[geo.levels: geo.orders].reshape(geo.ticks, _LW)
        orders = region[geo.orders: geo.orders + geo.capacity * _OW].reshape(geo.capacity, _OW)
        same("live order records", int((orders[:, _OS] == ORDER_LIVE).sum()), len(b.orders))
        out += _compare_levels(b, levels, orders, geo.capacity, name)
        # The stakes: reserves exactly (due cash: silent_sweeps).
        for field, replayed in (("reserved_cash", self.rcash), ("reserved_units", self.runits)):
            col = stakes[field]
            accounts = set(np.flatnonzero(col != 0).tolist())
            accounts |= {a for (a, c), v in replayed.items() if c == b.c and v}
            bad = [(a, int(col[a]), replayed.get((a, b.c), 0)) for a in sorted(accounts)
                   if int(col[a]) != replayed.get((a, b.c), 0)]
            out += [f"account {a} stake {b.name} {field}: file {f}, replay {r}"
                    for a, f, r in bad[:_MAX_SHOWN]]
        return out


def _compare_levels(b: _Book, levels: np.ndarray[Any, Any], orders: np.ndarray[Any, Any],
                    capacity: int, name: str) -> list[str]:
    """Every level of both sides of the file's book against the rebuilt one: total,
    count, and the orders oldest first."""
    out: list[str] = []
    for side in (BUY, SELL):
        sf = SIDE_FIELDS * side
        ticks = set(np.flatnonzero(levels[:, sf + _LC] != 0).tolist())
        ticks |= set(np.flatnonzero(levels[:, sf + _LQ] != 0).tolist())
        ticks |= set(b.levels[side])
        for t in sorted(ticks):
            if len(out) >= 2 * _MAX_SHOWN:
                return out
            mine = [(oid, b.orders[oid][0], b.orders[oid][3])
                    for oid in b.levels[side].get(t, ())]
            where = f"{name} {_SIDE_NAMES[side]} tick {t}"
            lv = levels[t]
            total = sum(x[2] for x in mine)
            if int(lv[sf + _LQ]) != total:
                out.append(f"{where} total: file {int(lv[sf + _LQ])} lots, replay {total}")
            if int(lv[sf + _LC]) != len(mine):
                out.append(f"{where} count: file {int(lv[sf + _LC])}, replay {len(mine)}")
            got, bad = _walk(orders, int(lv[sf + _LH]), side, t, capacity)
            if bad:
                out.append(f"{where}: {bad}")
            elif got != mine:
                k = next((i for i, (x, y) in enumerate(zip(got, mine, strict=False))
                          if x != y), min(len(got), len(mine)))
                out.append(f"{where} order {k + 1} of the level: file {_shown(got, k)}, "
                           f"replay {_shown(mine, k)}")
    return out


def _shown(level: list[tuple[int, int, int]], k: int) -> str:
    if k >= len(level):
        return "none"
    oid, account, lots = level[k]
    return f"order {oid} account {account} {lots} lots"


def _walk(orders: np.ndarray[Any, Any], head: int, side: int, tick: int,
          capacity: int) -> tuple[list[tuple[int, int, int]], str]:
    """The live orders of one level of the file, oldest first, as (id, account, lots);
    or what is wrong with its links (never more than ``capacity`` steps)."""
    got: list[tuple[int, int, int]] = []
    o = head
    while o != NIL:
        if not 0 <= o < capacity or len(got) >= capacity:
            return got, f"link to order record {o} leaves the pool or loops"
        r = orders[o]
        if int(r[_OS]) != ORDER_LIVE or int(r[_OSIDE]) != side or int(r[_OT]) != tick:
            return got, (f"order record {o} on this level is state {int(r[_OS])} side "
                         f"{int(r[_OSIDE])} tick {int(r[_OT])}")
        got.append((order_id(int(r[_OG]), o), int(r[_OA]), int(r[_OQ])))
        o = int(r[_ON])
    return got, ""
