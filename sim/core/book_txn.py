"""Orders on a currency's limit order book in the exchange file, as one transaction each.

The engine (sim/core/book.py) matches an order against an overlay of pending writes and
commits it through the book's undo journal. Before the commit, :meth:`BookDesk._extra`
adds to the same overlay everything else the order moves, so the whole order is one
journaled transaction under the currency's lock:

- the taker's due cash on this book swept into its cash (the only way a maker's
  proceeds reach the account's own cash word, which only its owner writes);
- the writers' running totals: the taker's writer's cash, holdings and trades, and, for
  each maker that bought, its writer's holdings of the currency (written under this
  currency's lock only, so no other lock ever guards them);
- the currency record's mirror of the book (best bid and ask, resting orders, the exact
  totals of reserved cash, reserved units and due cash over all accounts, the sequence,
  volumes and last rate), so a monitor sample of currencies and writers is consistent;
- the ledger count: the rows (fills, then the remainder placed, or the cancel) are
  written into the writer's ring first, past its committed count, where they are scratch
  until the commit makes them part of the ledger.

The currency's ``version`` is the book's seqlock. A holder killed anywhere leaves the
book's journal active; the next holder of the lock (or the coordinator) rolls it back
(``recover_currency``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from sim.core import layout as L
from sim.core.book import Book
from sim.core.book_layout import BUY, GTC, NIL, SELL
from sim.core.book_result import REJ_CANCEL, Result
from sim.core.exchange import Exchange
from sim.core.stakes import StakeAccounts

__all__ = ["BookDesk", "rate_bits"]

_C = L.CURRENCY.word
_W = L.WRITER.word
_A = L.ACCOUNT.word
_R = L.ROW.word
_ROW_WORDS: Final = L.ROW.size // 8
(_BID, _ASK, _BIDP, _ASKP, _LIVE, _RCASH, _RUNITS, _DUE, _SEQ, _VOL_U, _VOL_C, _RATE,
 _VERSION) = (_C(f) for f in (
    "best_bid", "best_ask", "bid_price", "ask_price", "book_live", "book_reserved_cash",
    "book_reserved_units", "book_due_cash", "seq", "volume_units", "volume_cash",
    "last_rate", "version"))
_CASH, _HOLD, _TRADES, _REJECTED, _OWNER = (_A("cash"), _A("holdings"), _A("trades"),
                                           _A("rejected"), _A("writer"))
_LOG_COUNT, _T_CASH, _T_HOLD, _T_TRADES = (_W("log_count"), _W("tot_cash"),
                                           _W("tot_holdings"), _W("tot_trades"))
_RT, _RSEQ, _RACC, _RCUR, _RSIDE, _RQTY, _RCASHF, _RUNIT, _RKIND, _ROID, _RMAKER, _RTICK = (
    _R(f) for f in ("t_ns", "cur_seq", "account", "currency", "side", "qty", "cash",
                    "unit_reserve", "kind", "order_id", "maker", "tick"))
_MONO: Final = time.CLOCK_MONOTONIC
# One word seen as float64 and as int64: an overlay stores words, the rate is a float.
_WORD: Final = bytearray(8)
_AS_F: Final = memoryview(_WORD).cast("d")
_AS_Q: Final = memoryview(_WORD).cast("q")


def rate_bits(x: float) -> int:
    """The int64 word holding float64 ``x``."""
    _AS_F[0] = x
    return _AS_Q[0]


class BookDesk:
    """One writer's orders on the books of an exchange file (a part of ``Writer``)."""

    def __init__(self, ex: Exchange, w: int) -> None:
        self.ex = ex
        self.q = ex.q
        self.w = w
        self.wb = ex.wri_base[w]
        self.ring = ex.ring_base[w]
        self.rows = ex.geo.ring_rows
        self.start_ns = ex.header_int("start_ns")
        self.books: dict[int, Book] = {}
        self.stakes: dict[int, StakeAccounts] = {}
        # Fault injection: called halfway through an order's stores (see Writer).
        self.pause: Callable[[], None] | None = None
        # The order being built: its account, currency, side, and the tick it may rest at
        # (a limit's) or leave (a cancelled order's).
        self._a = -1
        self._c = -1
        self._side = BUY
        self._tick = NIL

    def book(self, c: int) -> Book:
        b = self.books.get(c)
        if b is None:
            st = self.stakes[c] = StakeAccounts(self.ex.geo, c)
            b = Book(self.q, self.ex.book(c).base, st, version=self.ex.cur_base[c] + _VERSION)
            b.extra = self._extra
            b.pause = self.pause
            self.books[c] = b
        return b

    def set_pause(self, pause: Callable[[], None] | None) -> None:
        """Fault injection: ``pause`` runs halfway through each order's stores."""
        self.pause = pause
        for b in self.books.values():
            b.pause = pause

    def _begin(self, a: int, c: int, side: int, tick: int) -> Book:
        b = self.books.get(c) or self.book(c)
        self.stakes[c].taker = a
        self._a, self._c, self._side, self._tick = a, c, side, tick
        return b

    def _rejected(self, a: int, res: Result) -> Result:
        # A cancel of an order that has filled meanwhile is the book's count, not a
        # rejection of the account's order flow.
        if res.status < 0 and res.status != REJ_CANCEL:
            self.q[self.ex.acc_base0 + a * self.ex.acc_words + _REJECTED] += 1
        return res

    # The caller holds ``c``'s lock and has recovered its book.
    def limit(self, a: int, c: int, side: int, tick: int, lots: int, tif: int = GTC) -> Result:
        return self._rejected(a, self._begin(a, c, side, tick).limit(a, side, tick, lots, tif))

    def market(self, a: int, c: int, side: int, lots: int) -> Result:
        return self._rejected(a, self._begin(a, c, side, NIL).market(a, side, lots))

    def cancel(self, a: int, c: int, oid: int) -> Result:
        o = self.book(c).order(oid)
        side, tick = (BUY, NIL) if o is None else (o.side, o.tick)
        return self._rejected(a, self._begin(a, c, side, tick).cancel(a, oid))

    # -- what the order adds to its transaction -----------------------------------------

    def _extra(self, res: Result, w: dict[int, int]) -> None:
        q, ex, b = self.q, self.ex, self.books[self._c]
        a, c, side = self._a, self._c, self._side
        lot, pb, ps = b.lot, b.price_base, b.price_step
        ab = ex.acc_base0 + a * ex.acc_words
        cb = ex.cur_base[c]
        wb = self.wb
        d_rcash = d_runits = d_due = 0
        # The taker's due cash joins its cash.
        due_w = self.stakes[c].due(a)
        due = w[due_w] if due_w in w else q[due_w]
        cash_w = ab + _CASH
        if due:
            w[due_w] = 0
            w[cash_w] = (w[cash_w] if cash_w in w else q[cash_w]) + due
            d_due -= due
        n = q[wb + _LOG_COUNT]
        seq = q[cb + _SEQ]
        t = time.clock_gettime_ns(_MONO) - self.start_ns
        rows: list[tuple[int, int, int, int, int, int, int, int]] = []
        wtot = ex.wri_base
        acc0, aw = ex.acc_base0, ex.acc_words
        for f in res.fills:
            m = f.maker_account
            units = f.qty * lot
            cash = f.price * f.qty
            if side == SELL:  # the maker bought: reserve spent, units received
                d_rcash -= cash
                if m != a:
                    i = wtot[q[acc0 + m * aw + _OWNER]] + _T_HOLD + c
                    w[i] = (w[i] if i in w else q[i]) + units
            else:  # the maker sold: units reserve spent, cash due
                d_runits -= units
                if m != a:
                    d_due += cash
            rows.append((L.ROW_FILL, side, units, cash, f.maker_id, m, f.tick, a))
        if res.rested:
            price = pb + self._tick * ps
            if side == BUY:
                d_rcash += price * res.rested
            else:
                d_runits += res.rested * lot
            rows.append((L.ROW_PLACED, side, res.rested * lot, price * res.rested,
                         res.order_id, -1, self._tick, a))
        if res.cancelled:
            price = pb + self._tick * ps
            if side == BUY:
                d_rcash -= price * res.cancelled
            else:
                d_runits -= res.cancelled * lot
            rows.append((L.ROW_CANCELLED, side, res.cancelled * lot,
                         price * res.cancelled if side == BUY else 0, res.order_id, -1,
                         self._tick, a))
        # The taker's writer's totals follow its account's cash and holdings.
        hold_w = ab + _HOLD + c
        d_cash = (w[cash_w] - q[cash_w]) if cash_w in w else 0
        d_hold = (w[hold_w] - q[hold_w]) if hold_w in w else 0
        if d_cash:
            w[wb + _T_CASH] = q[wb + _T_CASH] + d_cash
        if d_hold:
            i = wb + _T_HOLD + c
            w[i] = (w[i] if i in w else q[i]) + d_hold
        if res.fills:
            w[ab + _TRADES] = q[ab + _TRADES] + 1
            w[wb + _T_TRADES] = q[wb + _T_TRADES] + 1
            last = res.fills[-1]
            w[cb + _RATE] = rate_bits(last.price / lot)
            w[cb + _VOL_U] = q[cb + _VOL_U] + res.filled * lot
            w[cb + _VOL_C] = q[cb + _VOL_C] + res.cash
        # The currency's mirror of the book.
        i = b.best_words[BUY]
        bid = w[i] if i in w else q[i]
        i = b.best_words[SELL]
        ask = w[i] if i in w else q[i]
        # Only what changed: every word written is journaled.
        if bid != q[cb + _BID]:
            w[cb + _BID] = bid
            w[cb + _BIDP] = 0 if bid == NIL else pb + bid * ps
        if ask != q[cb + _ASK]:
            w[cb + _ASK] = ask
            w[cb + _ASKP] = 0 if ask == NIL else pb + ask * ps
        lv = b.live_word
        if lv in w:
            w[cb + _LIVE] = w[lv]
        if d_rcash:
            w[cb + _RCASH] = q[cb + _RCASH] + d_rcash
        if d_runits:
            w[cb + _RUNITS] = q[cb + _RUNITS] + d_runits
        if d_due:
            w[cb + _DUE] = q[cb + _DUE] + d_due
        # The ledger rows, scratch past the committed count until the commit.
        ring, nrows = self.ring, self.rows
        for k, (kind, sd, qty, cash, oid, maker, tick, acct) in enumerate(rows):
            r = ring + ((n + k) % nrows) * _ROW_WORDS
            q[r + _RT] = t
            q[r + _RSEQ] = seq + k + 1
            q[r + _RACC] = acct
            q[r + _RCUR] = c
            q[r + _RSIDE] = sd
            q[r + _RQTY] = qty
            q[r + _RCASHF] = cash
            q[r + _RUNIT] = 0
            q[r + _RKIND] = kind
            q[r + _ROID] = oid
            q[r + _RMAKER] = maker
            q[r + _RTICK] = tick
        if rows:
            w[cb + _SEQ] = seq + len(rows)
            w[wb + _LOG_COUNT] = n + len(rows)

