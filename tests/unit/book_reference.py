"""A reference limit order book on sorted Python lists, and rigs to run the engine on.

The reference keeps price levels in dicts of FIFO lists and finds the best level by
sorting: slow and obviously right. Its order ids are its own; the tests map them to the
engine's. It follows the engine's documented rules: check order (quantity, tick, funds,
post-only), fills at the maker's price, a market buy within its starting cash, the fill
cap, and a full pool rejecting the whole order when the remainder would rest.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from sim.core.book import Book
from sim.core.book_accounts import AccountArray
from sim.core.book_invariants import check_book, conservation, reserves_match
from sim.core.book_journal import Words
from sim.core.book_layout import BOOK, BUY, IOC, POST_ONLY, SELL, BookGeometry
from sim.core.book_result import (
    OK,
    REJ_CANCEL,
    REJ_CROSS,
    REJ_FULL,
    REJ_FUNDS,
    REJ_PRICE,
    REJ_QTY,
)

REJ_COUNTER = {REJ_QTY: "rej_qty", REJ_PRICE: "rej_price", REJ_FUNDS: "rej_funds",
               REJ_CROSS: "rej_cross", REJ_FULL: "rej_full", REJ_CANCEL: "rej_cancel"}
COUNTERS = ("orders", "fills", "volume_qty", "volume_cash", "cancels", "dropped", "capped",
            "live", *REJ_COUNTER.values())


@dataclass
class ROrder:
    rid: int
    account: int
    side: int
    tick: int
    qty: int


@dataclass
class ROutcome:
    status: int
    fills: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    rid: int | None = None
    rested: int = 0
    dropped: int = 0
    cancelled: int = 0
    capped: bool = False


@dataclass
class RState:
    levels: list[dict[int, list[ROrder]]]
    live: dict[int, ROrder]
    balances: list[list[int]]
    counters: dict[str, int]


class Reference:
    def __init__(self, geo: BookGeometry, price_base: int, price_step: int,
                 balances: list[tuple[int, int]]) -> None:
        self.geo = geo
        self.pb, self.ps = price_base, price_step
        self.s = RState([{}, {}], {}, [[c, u, 0, 0] for c, u in balances],
                        dict.fromkeys(COUNTERS, 0))
        self.next_rid = 1

    def price(self, t: int) -> int:
        return self.pb + t * self.ps

    def best(self, side: int) -> int | None:
        lv = self.s.levels[side]
        if not lv:
            return None
        return max(lv) if side == BUY else min(lv)

    def _reject(self, code: int) -> ROutcome:
        self.s.counters[REJ_COUNTER[code]] += 1
        return ROutcome(code)

    def limit(self, account: int, side: int, tick: int, qty: int, tif: int) -> ROutcome:
        bal = self.s.balances[account]
        if qty <= 0:
            return self._reject(REJ_QTY)
        if not 0 <= tick < self.geo.ticks:
            return self._reject(REJ_PRICE)
        if (bal[0] < self.price(tick) * qty) if side == BUY else (bal[1] < qty):
            return self._reject(REJ_FUNDS)
        opp = self.best(1 - side)
        crosses = opp is not None and (opp <= tick if side == BUY else opp >= tick)
        if crosses and tif == POST_ONLY:
            return self._reject(REJ_CROSS)
        saved = copy.deepcopy(self.s)
        out = ROutcome(OK)
        rem = self._match(out, account, side, tick, qty, None)
        if rem:
            if tif == IOC or out.capped:
                out.dropped = rem
            elif len(self.s.live) == self.geo.capacity:
                self.s = saved
                return self._reject(REJ_FULL)
            else:
                o = ROrder(self.next_rid, account, side, tick, rem)
                self.next_rid += 1
                self.s.levels[side].setdefault(tick, []).append(o)
                self.s.live[o.rid] = o
                out.rid, out.rested = o.rid, rem
                bal = self.s.balances[account]
                if side == BUY:
                    bal[0] -= self.price(tick) * rem
                    bal[2] += self.price(tick) * rem
                else:
                    bal[1] -= rem
                    bal[3] += rem
        self._finish(out)
        return out

    def market(self, account: int, side: int, qty: int) -> ROutcome:
        bal = self.s.balances[account]
        if qty <= 0:
            return self._reject(REJ_QTY)
        if side == SELL and bal[1] < qty:
            return self._reject(REJ_FUNDS)
        out = ROutcome(OK)
        out.dropped = self._match(out, account, side, None, qty,
                                  bal[0] if side == BUY else None)
        self._finish(out)
        return out

    def cancel(self, account: int, rid: int) -> ROutcome:
        o = self.s.live.get(rid)
        if o is None or o.account != account:
            return self._reject(REJ_CANCEL)
        lv = self.s.levels[o.side]
        lv[o.tick].remove(o)
        if not lv[o.tick]:
            del lv[o.tick]
        del self.s.live[rid]
        bal = self.s.balances[account]
        if o.side == BUY:
            bal[2] -= self.price(o.tick) * o.qty
            bal[0] += self.price(o.tick) * o.qty
        else:
            bal[3] -= o.qty
            bal[1] += o.qty
        self.s.counters["cancels"] += 1
        out = ROutcome(OK, cancelled=o.qty)
        self._finish(out)
        return out

    def _finish(self, out: ROutcome) -> None:
        c = self.s.counters
        c["orders"] += 1
        c["dropped"] += out.dropped
        c["capped"] += out.capped
        c["live"] = len(self.s.live)

    def _match(self, out: ROutcome, taker: int, side: int, limit: int | None, qty: int,
               budget: int | None) -> int:
        opp = 1 - side
        book = self.s.levels[opp]
        rem, cost = qty, 0
        while rem:
            t = self.best(opp)
            if t is None or (limit is not None and (t > limit if side == BUY else t < limit)):
                break
            price = self.price(t)
            m = book[t][0]
            f = min(rem, m.qty)
            if budget is not None:
                f = min(f, budget // price)
                if f == 0:
                    break
            if len(out.fills) == self.geo.max_fills:
                out.capped = True
                break
            if budget is not None:
                budget -= f * price
            mb = self.s.balances[m.account]
            if opp == BUY:
                mb[2] -= price * f
                mb[1] += f
            else:
                mb[3] -= f
                mb[0] += price * f
            out.fills.append((m.rid, m.account, taker, t, price, f))
            m.qty -= f
            if m.qty == 0:
                book[t].pop(0)
                del self.s.live[m.rid]
                if not book[t]:
                    del book[t]
            rem -= f
            cost += price * f
        if out.fills:
            tb = self.s.balances[taker]
            if side == BUY:
                tb[0] -= cost
                tb[1] += qty - rem
            else:
                tb[1] -= qty - rem
                tb[0] += cost
            c = self.s.counters
            c["fills"] += len(out.fills)
            c["volume_qty"] += qty - rem
            c["volume_cash"] += cost
        return rem


class Rig:
    """A book and its accounts in one bytearray, viewed as int64 words."""

    def __init__(self, geo: BookGeometry, balances: list[tuple[int, int]], *,
                 price_base: int = 100, price_step: int = 1) -> None:
        self.geo = geo
        self.n = len(balances)
        self.buf = bytearray((geo.size_words + AccountArray.size_words(self.n)) * 8)
        self.q = memoryview(self.buf).cast("q")
        self.accounts = AccountArray(self.q, geo.size_words, self.n)
        for a, (c, u) in enumerate(balances):
            self.accounts.fund(a, c, u)
        self.book = Book.create(self.q, 0, geo, self.accounts, price_base=price_base,
                                price_step=price_step)
        self.cash = sum(c for c, _ in balances)
        self.units = sum(u for _, u in balances)

    def scratch(self) -> tuple[int, int]:
        """Byte range of the journal's entries: scratch a rolled-back transaction leaves."""
        return self.geo.journal_first_entry * 8, self.geo.bid_leaf * 8

    def image(self) -> bytes:
        """Every byte but the journal's scratch entries and the seqlock (see image_of)."""
        return image_of(bytes(self.buf), self.geo)


def image_of(raw: bytes, geo: BookGeometry) -> bytes:
    """The bytes of a book at 0 in ``raw`` but its journal's scratch entries and its
    seqlock ``version``, which a rollback moves forward (never back) and which must be
    even whenever no order is being applied."""
    v = BOOK.word("version") * 8
    version = int.from_bytes(raw[v: v + 8], "little", signed=True)
    assert version % 2 == 0, f"seqlock version {version} is odd at rest"
    a, b = geo.journal_first_entry * 8, geo.bid_leaf * 8
    return raw[:v] + raw[v + 8: a] + raw[b:]


class Killed(Exception):
    """Stands for the process dying between two stores."""


class KillAfter:
    """Int64 words that die at store number ``k`` (0-based); counts stores otherwise."""

    def __init__(self, q: Words, k: int) -> None:
        self.q = q
        self.k = k
        self.stores = 0

    def __getitem__(self, i: int) -> int:
        return self.q[i]

    def __setitem__(self, i: int, v: int) -> None:
        if self.stores == self.k:
            raise Killed(f"killed before store {self.k}")
        self.stores += 1
        self.q[i] = v


def clean(r: Rig) -> None:
    """Every invariant of the rig's book and accounts holds."""
    found = check_book(r.q, 0)
    assert found == {k: [] for k in found}
    assert reserves_match(r.q, [0], r.accounts, r.n) == []
    assert conservation(r.q, r.accounts, r.n, r.cash, r.units) == []
