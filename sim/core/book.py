"""The matching engine of one limit order book over int64 words: limit, market, cancel.

Price-time priority: an incoming order fills against the best opposite level first and,
within a level, against the oldest order first, always at the resting order's price.
Limit orders are good-till-cancel (the remainder rests), immediate-or-cancel (the
remainder is dropped) or post-only (rejected if it would cross). A market order sweeps
the opposite side; a market buy spends at most the cash its account has. A limit buy
needs cash for ``price * qty``, a sell the units it offers.

One order is one transaction (book_journal): the engine matches against an overlay of
pending writes, reading through it and storing nothing, so a rejection found late (the
pool is full when the remainder would rest) is dropped with the overlay; the overlay is
then journaled whole and applied. A fill count cap (``max_fills``) bounds the journal:
an order that would fill more makers is cut there and its remainder dropped (counted
in ``capped``). Rejections change nothing but their counter.

Cost per operation: resting O(1); cancel O(1) (the id holds the record index); a fill
O(1) per maker order; when a level empties, the next best level is found with a
two-level bitmap: O(1) words within 63 * 63 ticks, plus one summary word per further
3,969 ticks. The caller holds the book's lock and calls ``recover`` first after taking
it from a dead holder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np

from sim.core.book_accounts import Accounts
from sim.core.book_journal import Words, commit, rollback
from sim.core.book_ladder import clear_tick, next_best, set_tick
from sim.core.book_layout import (
    BOOK,
    BUY,
    GTC,
    IOC,
    JOURNAL,
    LEVEL,
    NIL,
    ORDER,
    ORDER_FREE,
    ORDER_LIVE,
    POST_ONLY,
    SELL,
    SIDE_FIELDS,
    BookGeometry,
    next_gen,
    order_id,
    split_id,
)
from sim.core.book_result import (
    REJ_CANCEL,
    REJ_CROSS,
    REJ_FULL,
    REJ_FUNDS,
    REJ_PRICE,
    REJ_QTY,
    Fill,
    RestingOrder,
    Result,
)
from sim.errors import BadExchangeFile, BadInput

__all__ = ["Book"]

_REJ_FIELD: Final = {REJ_QTY: "rej_qty", REJ_PRICE: "rej_price", REJ_FUNDS: "rej_funds",
                     REJ_CROSS: "rej_cross", REJ_FULL: "rej_full", REJ_CANCEL: "rej_cancel"}

_H = BOOK.word
_LQ, _LH, _LT, _LC = (LEVEL.word("bid_qty"), LEVEL.word("bid_head"), LEVEL.word("bid_tail"),
                      LEVEL.word("bid_count"))
_OS, _OG, _OSIDE, _OT, _OQ, _OA, _OP, _ON = (
    ORDER.word("state"), ORDER.word("gen"), ORDER.word("side"), ORDER.word("tick"),
    ORDER.word("qty"), ORDER.word("account"), ORDER.word("prev"), ORDER.word("next"))
_SIDES: Final = frozenset((BUY, SELL))
_TIFS: Final = frozenset((GTC, IOC, POST_ONLY))
_LW: Final = LEVEL.size // 8
_OW: Final = ORDER.size // 8


class Book:
    """One book's region at word ``base`` of ``q``; money moves through ``accounts``.

    ``q`` must yield Python ints (a ``memoryview.cast('q')``), as the bitmaps use
    ``int.bit_length``.
    """

    def __init__(self, q: Words, base: int, accounts: Accounts, *,
                 version: int | None = None) -> None:
        self.q = q
        self.base = base
        self.accounts = accounts
        try:
            self.geo = geo = BookGeometry(q[base + _H("ticks")], q[base + _H("capacity")],
                                          q[base + _H("max_fills")])
        except BadInput as e:
            raise BadExchangeFile(f"book at word {base}: {e}") from None
        if q[base + geo.journal + JOURNAL.word("entries")] != geo.journal_entries:
            raise BadExchangeFile(f"book at word {base}: journal capacity is not "
                                  f"{geo.journal_entries} entries")
        self.ticks = geo.ticks
        self.capacity = geo.capacity
        self.max_fills = geo.max_fills
        self.lot = q[base + _H("lot")]
        self.price_base = q[base + _H("price_base")]
        self.price_step = q[base + _H("price_step")]
        if self.price_base < 1 or self.price_step < 1 or self.lot < 1:
            raise BadExchangeFile(f"book at word {base}: lot, price_base and price_step must "
                                  f"be positive, found {self.lot}, {self.price_base} and "
                                  f"{self.price_step}")
        self._best = (base + _H("best_bid"), base + _H("best_ask"))
        self.best_words = self._best
        self.live_word = base + _H("live")
        self._free = base + _H("free_head")
        self._live = base + _H("live")
        # In the exchange file the currency's seqlock covers its book: ``version`` names it.
        self._version = base + _H("version") if version is None else version
        # Called with the result and the pending writes just before an order commits:
        # the caller adds what else the order moves (ledger, totals) to the same journal.
        self.extra: Callable[[Result, dict[int, int]], None] | None = None
        # Fault injection: called halfway through the stores of an order's commit.
        self.pause: Callable[[], None] | None = None
        self._leaf = (base + geo.bid_leaf, base + geo.ask_leaf)
        self._sum = (base + geo.bid_summary, base + geo.ask_summary)
        self._lv = base + geo.levels
        self._or = base + geo.orders
        self._rej = {code: base + _H(name) for code, name in _REJ_FIELD.items()}
        (self._orders, self._dropped, self._capped, self._fills, self._vol_qty, self._vol_cash,
         self._last, self._cancels) = (base + _H(name) for name in (
             "orders", "dropped", "capped", "fills", "volume_qty", "volume_cash", "last_tick",
             "cancels"))
        self._journal = geo.journal
        self._w: dict[int, int] = {}

    @classmethod
    def create(cls, q: Words, base: int, geo: BookGeometry, accounts: Accounts, *,
               price_base: int, price_step: int, lot: int = 1) -> Book:
        """Format an empty book over ``geo.size_words`` words at ``base`` and attach it."""
        if price_base < 1 or price_step < 1 or lot < 1:
            raise BadInput(f"book lot {lot}, price_base {price_base}, price_step {price_step}: "
                           "expected positive integers")
        a = np.frombuffer(q, dtype=np.int64)  # type: ignore[call-overload]
        region = a[base: base + geo.size_words]
        region[:] = 0
        lv = region[geo.levels: geo.orders].reshape(geo.ticks, _LW)
        for s in (BUY, SELL):
            lv[:, SIDE_FIELDS * s + _LH] = NIL
            lv[:, SIDE_FIELDS * s + _LT] = NIL
        orders = region[geo.orders: geo.orders + geo.capacity * _OW].reshape(geo.capacity, _OW)
        orders[:, _OT] = orders[:, _OA] = orders[:, _OP] = NIL
        orders[:, _ON] = np.arange(1, geo.capacity + 1)
        orders[-1, _ON] = NIL
        del a, region, lv, orders
        for name, v in (("ticks", geo.ticks), ("capacity", geo.capacity),
                        ("max_fills", geo.max_fills), ("lot", lot), ("price_base", price_base),
                        ("price_step", price_step), ("best_bid", NIL), ("best_ask", NIL),
                        ("free_head", 0), ("last_tick", NIL)):
            q[base + _H(name)] = v
        q[base + geo.journal + JOURNAL.word("entries")] = geo.journal_entries
        return cls(q, base, accounts)

    # -- reading through the overlay of the transaction being built ---------------------

    def _get(self, i: int) -> int:
        w = self._w
        return w[i] if i in w else self.q[i]

    def _add(self, i: int, delta: int) -> None:
        w = self._w
        w[i] = (w[i] if i in w else self.q[i]) + delta

    # -- orders --------------------------------------------------------------------------

    def price(self, tick: int) -> int:
        """Cash minor units per minor unit of quantity at ``tick``."""
        return self.price_base + tick * self.price_step

    def limit(self, account: int, side: int, tick: int, qty: int, tif: int = GTC) -> Result:
        """A limit order at ``tick``: GTC, IOC or POST_ONLY."""
        q = self.q
        if side not in _SIDES or tif not in _TIFS:
            raise BadInput(f"limit order: side {side}, tif {tif}; expected side 0 (buy) or "
                           "1 (sell), tif 0 (gtc), 1 (ioc) or 2 (post-only)")
        if qty <= 0:
            return self._reject(REJ_QTY)
        if not 0 <= tick < self.ticks:
            return self._reject(REJ_PRICE)
        price = self.price_base + tick * self.price_step
        words = self.accounts.words(account)
        if (q[words[0]] < price * qty) if side == BUY else (q[words[1]] < qty * self.lot):
            return self._reject(REJ_FUNDS)
        t = q[self._best[1 - side]]
        crosses = t != NIL and (t <= tick if side == BUY else t >= tick)
        if crosses and tif == POST_ONLY:
            return self._reject(REJ_CROSS)
        self._w = {}
        res = Result()
        rem = self._match(res, account, words, side, tick, qty, -1) if crosses else qty
        if rem:
            if tif == IOC or res.capped:
                res.dropped = rem
            else:
                if self._get(self._free) == NIL:
                    self._w = {}
                    return self._reject(REJ_FULL)
                res.order_id = self._rest(account, side, tick, rem)
                res.rested = rem
                if side == BUY:
                    self._add(words[0], -price * rem)
                    self._add(words[2], price * rem)
                else:
                    self._add(words[1], -rem * self.lot)
                    self._add(words[3], rem * self.lot)
        self._finish(res)
        return res

    def market(self, account: int, side: int, qty: int) -> Result:
        """A market order: fills what the opposite side (and, buying, the cash) allows."""
        q = self.q
        if side not in _SIDES:
            raise BadInput(f"market order: side {side}; expected 0 (buy) or 1 (sell)")
        if qty <= 0:
            return self._reject(REJ_QTY)
        words = self.accounts.words(account)
        if side == SELL and q[words[1]] < qty * self.lot:
            return self._reject(REJ_FUNDS)
        self._w = {}
        res = Result()
        budget = q[words[0]] if side == BUY else -1
        res.dropped = self._match(res, account, words, side, -1, qty, budget)
        self._finish(res)
        return res

    def cancel(self, account: int, oid: int) -> Result:
        """Cancel ``account``'s live order ``oid``; its reserve goes back to the account."""
        q = self.q
        gen, o = split_id(oid)
        if not 0 <= o < self.capacity:
            return self._reject(REJ_CANCEL)
        ob = self._or + o * _OW
        if q[ob + _OS] != ORDER_LIVE or q[ob + _OG] != gen or q[ob + _OA] != account:
            return self._reject(REJ_CANCEL)
        self._w = w = {}
        side, t, rem = q[ob + _OSIDE], q[ob + _OT], q[ob + _OQ]
        lb = self._lv + t * _LW + SIDE_FIELDS * side
        prev, nxt = q[ob + _OP], q[ob + _ON]
        w[lb + _LH if prev == NIL else self._or + prev * _OW + _ON] = nxt
        w[lb + _LT if nxt == NIL else self._or + nxt * _OW + _OP] = prev
        cnt = q[lb + _LC] - 1
        w[lb + _LC] = cnt
        w[lb + _LQ] = q[lb + _LQ] - rem
        self._release(o)
        if cnt == 0:
            clear_tick(q, w, self._leaf[side], self._sum[side], t)
            if q[self._best[side]] == t:
                w[self._best[side]] = self._next_best(side, t)
        cw, uw, rcw, ruw = self.accounts.words(account)
        if side == BUY:
            cash = (self.price_base + t * self.price_step) * rem
            self._add(rcw, -cash)
            self._add(cw, cash)
        else:
            self._add(ruw, -rem * self.lot)
            self._add(uw, rem * self.lot)
        w[self._cancels] = q[self._cancels] + 1
        res = Result(order_id=oid, cancelled=rem)
        self._finish(res)
        return res

    def recover(self) -> bool:
        """Roll back the transaction a dead holder left in flight; True if there was one."""
        return rollback(self.q, self.base, self._journal, self._version)

    # -- the transaction's parts ---------------------------------------------------------

    def _reject(self, code: int) -> Result:
        self.q[self._rej[code]] += 1
        return Result(status=code)

    def _finish(self, res: Result) -> None:
        # The counters are header words no earlier step of an order writes.
        q, w = self.q, self._w
        w[self._orders] = q[self._orders] + 1
        if res.dropped:
            w[self._dropped] = q[self._dropped] + res.dropped
        if res.capped:
            w[self._capped] = q[self._capped] + 1
        self._w = {}
        if self.extra is not None:
            self.extra(res, w)
        commit(q, self.base, self._journal, w, self._version, self.pause)

    def _match(self, res: Result, taker: int, words: tuple[int, int, int, int], side: int,
               limit: int, qty: int, budget: int) -> int:
        """Fill ``qty`` against the opposite side up to ``limit`` (-1: any price) and, when
        ``budget`` >= 0, within that much cash; returns the quantity left."""
        q, w = self.q, self._w
        opp = 1 - side
        so = SIDE_FIELDS * opp
        best_w = self._best[opp]
        pb, ps, lv0, or0, lot = self.price_base, self.price_step, self._lv, self._or, self.lot
        maker_words = self.accounts.words
        fills = res.fills
        t = q[best_w]
        rem, cost, last = qty, 0, NIL
        # Reads go through the overlay ``w`` wherever an earlier fill may have written.
        while rem and t != NIL:
            if limit >= 0 and (t > limit if side == BUY else t < limit):
                break
            price = pb + t * ps
            lb = lv0 + t * _LW + so
            i = lb + _LH
            o = w[i] if i in w else q[i]
            ob = or0 + o * _OW
            i = ob + _OQ
            mq = w[i] if i in w else q[i]
            f = rem if rem < mq else mq
            if budget >= 0:
                f = min(f, budget // price)
                if f == 0:
                    break
            if len(fills) == self.max_fills:
                res.capped = True
                break
            if budget >= 0:
                budget -= f * price
            maker = q[ob + _OA]
            mc, mu, mrc, mru = maker_words(maker)
            if opp == BUY:
                w[mrc] = (w[mrc] if mrc in w else q[mrc]) - price * f
                w[mu] = (w[mu] if mu in w else q[mu]) + f * lot
            else:
                w[mru] = (w[mru] if mru in w else q[mru]) - f * lot
                w[mc] = (w[mc] if mc in w else q[mc]) + price * f
            i = lb + _LQ
            w[i] = (w[i] if i in w else q[i]) - f
            fills.append(Fill(order_id(q[ob + _OG], o), maker, taker, t, price, f))
            cost += price * f
            rem -= f
            last = t
            if f < mq:
                w[ob + _OQ] = mq - f
                continue
            nxt = q[ob + _ON]
            w[lb + _LH] = nxt
            w[lb + _LT if nxt == NIL else or0 + nxt * _OW + _OP] = NIL
            i = lb + _LC
            cnt = (w[i] if i in w else q[i]) - 1
            w[i] = cnt
            self._release(o)
            if cnt == 0:
                clear_tick(q, w, self._leaf[opp], self._sum[opp], t)
                t = self._next_best(opp, t)
                w[best_w] = t
        if fills:
            filled = qty - rem
            w[self._fills] = q[self._fills] + len(fills)
            w[self._vol_qty] = q[self._vol_qty] + filled
            w[self._vol_cash] = q[self._vol_cash] + cost
            w[self._last] = last
            c, u = words[0], words[1]
            if side == BUY:
                w[c] = (w[c] if c in w else q[c]) - cost
                w[u] = (w[u] if u in w else q[u]) + filled * lot
            else:
                w[u] = (w[u] if u in w else q[u]) - filled * lot
                w[c] = (w[c] if c in w else q[c]) + cost
            res.filled = filled
            res.cash = cost
        return rem

    def _rest(self, account: int, side: int, tick: int, qty: int) -> int:
        """Append a new order at the tail of its level; returns its id."""
        q, w, or0, fr = self.q, self._w, self._or, self._free
        o = w[fr] if fr in w else q[fr]
        ob = or0 + o * _OW
        i = ob + _ON
        w[fr] = w[i] if i in w else q[i]
        i = ob + _OG
        gen = next_gen(w[i] if i in w else q[i])
        lb = self._lv + tick * _LW + SIDE_FIELDS * side
        # The order's own side of the ladder is untouched by its match: read it directly.
        tail, cnt = q[lb + _LT], q[lb + _LC]
        w[ob + _OS] = ORDER_LIVE
        w[ob + _OG] = gen
        w[ob + _OSIDE] = side
        w[ob + _OT] = tick
        w[ob + _OQ] = qty
        w[ob + _OA] = account
        w[ob + _OP] = tail
        w[ob + _ON] = NIL
        w[lb + _LH if tail == NIL else or0 + tail * _OW + _ON] = o
        w[lb + _LT] = o
        w[lb + _LC] = cnt + 1
        w[lb + _LQ] = q[lb + _LQ] + qty
        if cnt == 0:
            set_tick(q, w, self._leaf[side], self._sum[side], tick)
        bw = self._best[side]
        best = q[bw]
        if best == NIL or (tick > best if side == BUY else tick < best):
            w[bw] = tick
        lv = self._live
        w[lv] = (w[lv] if lv in w else q[lv]) + 1
        return order_id(gen, o)

    def _release(self, o: int) -> None:
        """Put record ``o`` back on the free list."""
        q, w, fr, lv = self.q, self._w, self._free, self._live
        ob = self._or + o * _OW
        w[ob + _OS] = ORDER_FREE
        w[ob + _OQ] = 0
        w[ob + _ON] = w[fr] if fr in w else q[fr]
        w[fr] = o
        w[lv] = (w[lv] if lv in w else q[lv]) - 1

    # -- the bitmaps, through the overlay ---------------------------------------------

    def _next_best(self, side: int, t: int) -> int:
        """The best tick of ``side`` at ``t`` or further from the spread (NIL if none)."""
        return next_best(self.q, self._w, self._leaf[side], self._sum[side],
                         self.geo.summary_words, side, t)

    # -- reading the book (under the lock, or on a copy) ---------------------------------

    def order(self, oid: int) -> RestingOrder | None:
        """The live order ``oid`` (None if it is not live)."""
        q = self.q
        gen, o = split_id(oid)
        if not 0 <= o < self.capacity:
            return None
        ob = self._or + o * _OW
        if q[ob + _OS] != ORDER_LIVE or q[ob + _OG] != gen:
            return None
        return RestingOrder(oid, q[ob + _OA], q[ob + _OSIDE], q[ob + _OT], q[ob + _OQ])

    def journal_state(self) -> int:
        """Pre-images of the transaction in flight (0: none)."""
        return self.q[self.base + self._journal + JOURNAL.word("state")]

    def best(self, side: int) -> int:
        """Best tick of ``side`` (NIL if that side is empty)."""
        return self.q[self._best[side]]

    def counter(self, name: str) -> int:
        """A header field by name (counters, best prices, geometry)."""
        return self.q[self.base + _H(name)]

    def level(self, side: int, tick: int) -> list[RestingOrder]:
        """The orders resting at ``tick`` on ``side``, oldest first."""
        q = self.q
        out = []
        o = q[self._lv + tick * _LW + SIDE_FIELDS * side + _LH]
        while o != NIL:
            ob = self._or + o * _OW
            out.append(RestingOrder(order_id(q[ob + _OG], o), q[ob + _OA], side, tick,
                                    q[ob + _OQ]))
            o = q[ob + _ON]
        return out

    def depth(self, side: int, n: int) -> list[tuple[int, int, int]]:
        """Up to ``n`` best levels of ``side`` as (tick, total qty, orders), best first."""
        q = self.q
        out: list[tuple[int, int, int]] = []
        t = q[self._best[side]]
        step = -1 if side == BUY else 1
        while t != NIL and len(out) < n:
            lb = self._lv + t * _LW + SIDE_FIELDS * side
            out.append((t, q[lb + _LQ], q[lb + _LC]))
            nt = t + step
            t = self._next_best(side, nt) if 0 <= nt < self.ticks else NIL
        return out
