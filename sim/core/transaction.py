"""The trade transaction on the mapping: lock, journal, price, apply, log, commit; recovery.

Protocol for one trade of writer ``w`` for its account ``a`` on currency ``c``, all under
``c``'s lock:

1. if ``c.inflight`` names a writer (its process died mid-transaction), recover first;
2. read the pool and the account, price the order; a rejection writes nothing shared
   (only the account's own ``rejected`` counter, which no invariant sums);
3. write the pre-images into ``w``'s journal (pool, account, and ``w``'s running totals),
   then ``c.inflight = w``, then ``j_state = ACTIVE``, then make ``c.version`` odd
   (seqlock: a write is in progress);
4. apply the new pool, account and totals, and the ledger row in ``w``'s ring;
5. commit: ``log_count += 1``, ``j_state = IDLE`` (the commit point), ``c.inflight = -1``,
   ``c.version`` even again.

A process killed anywhere in there leaves either an active journal that ``inflight``
points at (roll back from the pre-images: nothing of it is visible) or a committed one
(nothing to undo). Recovery is idempotent, so a recoverer killed in turn is recovered by
the next. A writer's totals are written only by its own transactions (one at a time: a
writer is one process) or by the recovery of one, always under the currency's lock and
with its version odd, so a sample that copies currencies and writers under the seqlock
sees totals that agree with the pools. Ledger rows live in the writer's ring inside the
mapping until the owner (or, after its death, the coordinator) drains them to its ledger
file with ``pwrite`` at their absolute position, which makes draining idempotent too.
"""

from __future__ import annotations

import os
import time
from typing import Final

from sim.core import layout as L
from sim.core.book_layout import GTC
from sim.core.book_result import Result
from sim.core.book_txn import BookDesk
from sim.core.exchange import Exchange
from sim.core.ledger import drain_writer, open_ledger
from sim.core.pricing import buy_cost, sell_proceeds

__all__ = [
    "REJECT_REASONS",
    "Writer",
    "lock_and_recover",
    "recover_currency",
    "recover_writer",
]

REJ_POOL: Final = -1
REJ_FUNDS: Final = -2
REJ_HOLDINGS: Final = -3
REJ_TINY: Final = -4
REJECT_REASONS: Final = {
    REJ_POOL: "would empty the pool",
    REJ_FUNDS: "not enough cash",
    REJ_HOLDINGS: "not enough units held",
    REJ_TINY: "amount too small to pay anything",
}

_C = L.CURRENCY.word
_W = L.WRITER.word
_A = L.ACCOUNT.word
_R = L.ROW.word
_CASH_R, _UNITS_R, _SEQ, _VOL_U, _VOL_C = (_C("cash_reserve"), _C("unit_reserve"), _C("seq"),
                                         _C("volume_units"), _C("volume_cash"))
_VERSION, _INFLIGHT, _RATE = _C("version"), _C("inflight"), _C("last_rate")
_CASH, _HOLD, _TRADES, _REJECTED = _A("cash"), _A("holdings"), _A("trades"), _A("rejected")
_LOG_COUNT, _LOG_HEAD, _HEARTBEAT = _W("log_count"), _W("log_head"), _W("heartbeat_ns")
_ROLLBACKS = _W("rollbacks")
_T_TRADES, _T_CASH, _T_HOLD = _W("tot_trades"), _W("tot_cash"), _W("tot_holdings")
_J_STATE, _J_CUR, _J_ACC, _J_CASH, _J_HOLD, _J_TRADES, _J_LOG = (
    _W("j_state"), _W("j_currency"), _W("j_account"), _W("j_cash"), _W("j_holding"),
    _W("j_trades"), _W("j_log_count"))
_J_TTRADES, _J_TCASH, _J_THOLD = _W("j_tot_trades"), _W("j_tot_cash"), _W("j_tot_holding")
_J_PCASH, _J_PUNITS, _J_PSEQ, _J_VU, _J_VC, _J_RATE = (
    _W("j_pool_cash"), _W("j_pool_units"), _W("j_pool_seq"), _W("j_volume_units"),
    _W("j_volume_cash"), _W("j_last_rate"))
_ROW_WORDS: Final = L.ROW.size // 8
_R_T, _R_SEQ, _R_ACC, _R_CUR, _R_SIDE, _R_QTY, _R_CASH, _R_UNITS = (
    _R("t_ns"), _R("cur_seq"), _R("account"), _R("currency"), _R("side"), _R("qty"),
    _R("cash"), _R("unit_reserve"))
_R_KIND, _R_OID, _R_MAKER, _R_TICK = _R("kind"), _R("order_id"), _R("maker"), _R("tick")
_MONO: Final = time.CLOCK_MONOTONIC


def recover_currency(ex: Exchange, c: int) -> bool:
    """Undo what a dead writer left in flight on currency ``c``; caller holds its lock.

    Returns True when a transaction was rolled back.
    """
    q, d = ex.q, ex.d
    cb = ex.cur_base[c]
    w = q[cb + _INFLIGHT]
    rolled = ex.is_book(c) and ex.book(c).recover()
    if w != L.NO_WRITER:
        if not 0 <= w < ex.geo.n_writers:
            raise AssertionError(f"currency {c} inflight names writer {w}, out of range")
        wb = ex.wri_base[w]
        if q[wb + _J_STATE] == L.JOURNAL_ACTIVE and q[wb + _J_CUR] == c:
            a = q[wb + _J_ACC]
            if not 0 <= a < ex.geo.n_accounts:
                raise AssertionError(f"writer {w} journal names account {a}, out of range")
            ab = ex.abase(a)
            q[cb + _CASH_R] = q[wb + _J_PCASH]
            q[cb + _UNITS_R] = q[wb + _J_PUNITS]
            q[cb + _SEQ] = q[wb + _J_PSEQ]
            q[cb + _VOL_U] = q[wb + _J_VU]
            q[cb + _VOL_C] = q[wb + _J_VC]
            d[cb + _RATE] = d[wb + _J_RATE]
            q[ab + _CASH] = q[wb + _J_CASH]
            q[ab + _HOLD + c] = q[wb + _J_HOLD]
            q[ab + _TRADES] = q[wb + _J_TRADES]
            q[wb + _T_CASH] = q[wb + _J_TCASH]
            q[wb + _T_HOLD + c] = q[wb + _J_THOLD]
            q[wb + _T_TRADES] = q[wb + _J_TTRADES]
            q[wb + _LOG_COUNT] = q[wb + _J_LOG]
            q[wb + _J_STATE] = L.JOURNAL_IDLE
            rolled = True
        q[cb + _INFLIGHT] = L.NO_WRITER
    v = q[cb + _VERSION]
    if v & 1:
        q[cb + _VERSION] = v + 1
    return rolled


def lock_and_recover(ex: Exchange, c: int) -> bool:
    """Take currency ``c``'s lock and, if its holder died, recover what it covered.

    Returns True when something was rolled back; the caller releases the lock.
    """
    locks = ex.locks
    if not locks.acquire(c):
        return False
    rolled = False
    for r in locks.covered(c):
        rolled |= recover_currency(ex, r)
    return rolled


def _recover_books_of(ex: Exchange, w: int) -> bool:
    """Settle every book whose currency names writer ``w`` in flight (its process died
    inside an order there). Its pre-images hold the writer's own words (ledger count,
    totals, its account's cash): they must go back before the writer trades again, or a
    later rollback would undo what it did since."""
    q = ex.q
    rolled = False
    for c in ex.geo.books:
        if q[ex.cur_base[c] + _INFLIGHT] != w:
            continue
        rolled |= lock_and_recover(ex, c)
        try:
            if q[ex.cur_base[c] + _INFLIGHT] == w:
                rolled |= recover_currency(ex, c)
        finally:
            ex.locks.release(c)
    return rolled


def recover_writer(ex: Exchange, w: int) -> bool:
    """Settle writer ``w``'s journal after its process died; takes the currency's lock.

    A journal that is active while its currency does not name the writer in flight never
    started writing (the process died between the two stores): it is simply cleared.
    """
    q = ex.q
    wb = ex.wri_base[w]
    rolled = _recover_books_of(ex, w)
    if q[wb + _J_STATE] != L.JOURNAL_ACTIVE:
        return rolled
    c = q[wb + _J_CUR]
    if not 0 <= c < ex.geo.n_currencies:
        raise AssertionError(f"writer {w} journal names currency {c}, out of range")
    locks = ex.locks
    rolled |= lock_and_recover(ex, c)
    try:
        if q[ex.cur_base[c] + _INFLIGHT] == w:
            rolled |= recover_currency(ex, c)
        if q[wb + _J_STATE] == L.JOURNAL_ACTIVE:
            q[wb + _J_STATE] = L.JOURNAL_IDLE
        return rolled
    finally:
        locks.release(c)


class Writer:
    """One writer's trading handle in this process: the hot path of every trader.

    Opening it settles whatever an earlier process left in this writer's journal, so a
    restarted process resumes on a clean writer record.
    """

    def __init__(self, ex: Exchange, w: int, *, pause_in_txn: float = 0.0) -> None:
        self.ex = ex
        self.w = w
        self.q = ex.q
        self.d = ex.d
        self.wb = ex.wri_base[w]
        self.acc0 = ex.acc_base0
        self.acc_words = ex.acc_words
        self.ring = ex.ring_base[w]
        self.rows = ex.geo.ring_rows
        self.drain_at = max(1, self.rows // 2)
        self.locks = ex.locks
        self.recovers = self.locks.recovers
        self.fee = ex.fee_bps
        self.race_s = ex.header_int("race_window_ns") / 1e9
        self.start_ns = ex.header_int("start_ns")
        if self.recovers:
            self.q[self.wb + _ROLLBACKS] += recover_writer(ex, w)
        self._ledger_fd = open_ledger(ex, w)
        self.desk = BookDesk(ex, w)
        # Only a file with books has book rows in its rings; a pool-only file's rows keep
        # their zeroed book fields, which the ledger reads by each currency's market.
        self.book_rows = bool(ex.geo.book_mask)
        self._pause = 0.0
        self.pause_in_txn = pause_in_txn
        # Seconds to sleep inside the recovery of a dead writer's transaction, its lock
        # held (fault injection: kills land there).
        self.pause_in_recovery = 0.0
        # A match may log max_fills + 1 rows before the ring is drained again.
        if ex.geo.book_mask and self.rows - self.drain_at < ex.geo.book_shape[2] + 2:
            raise ValueError(f"ring_rows {self.rows} is too small for books of max_fills "
                             f"{ex.geo.book_shape[2]}: expected at least "
                             f"{2 * (ex.geo.book_shape[2] + 2)}")

    @property
    def pause_in_txn(self) -> float:
        """Seconds to sleep in the middle of the next transactions (fault injection)."""
        return self._pause

    @pause_in_txn.setter
    def pause_in_txn(self, s: float) -> None:
        self._pause = s
        self.desk.set_pause((lambda: time.sleep(s)) if s > 0 else None)

    # -- orders on a book ----------------------------------------------------------------

    def limit(self, a: int, c: int, side: int, tick: int, lots: int, tif: int = GTC) -> Result:
        """A limit order of account ``a`` on currency ``c``'s book (lots at ``tick``)."""
        self._book_lock(c)
        try:
            return self.desk.limit(a, c, side, tick, lots, tif)
        finally:
            self._book_unlock(c)

    def market(self, a: int, c: int, side: int, lots: int) -> Result:
        """A market order of account ``a`` on currency ``c``'s book."""
        self._book_lock(c)
        try:
            return self.desk.market(a, c, side, lots)
        finally:
            self._book_unlock(c)

    def cancel(self, a: int, c: int, oid: int) -> Result:
        """Cancel account ``a``'s live order ``oid`` on currency ``c``'s book."""
        self._book_lock(c)
        try:
            return self.desk.cancel(a, c, oid)
        finally:
            self._book_unlock(c)

    def _settle(self, c: int, died: bool) -> None:
        """Roll back what a dead process left on ``c`` (on every currency the lock covers
        when its holder died holding it); the caller holds ``c``'s lock."""
        if self.pause_in_recovery:
            time.sleep(self.pause_in_recovery)
        for r in self.locks.covered(c) if died else (c,):
            self.q[self.wb + _ROLLBACKS] += recover_currency(self.ex, r)

    def _book_lock(self, c: int) -> None:
        """Take ``c``'s lock, settle what a dead holder left, and name this writer in
        flight on ``c`` for the whole order (what fault counts and stall reports read)."""
        locks = self.locks
        died = locks.acquire(c)
        q = self.q
        cb = self.ex.cur_base[c]
        if self.recovers:
            try:
                if died or q[cb + _INFLIGHT] != L.NO_WRITER:
                    self._settle(c, died)
            except BaseException:
                locks.release(c)
                raise
        q[cb + _INFLIGHT] = self.w

    def _book_unlock(self, c: int) -> None:
        q = self.q
        q[self.ex.cur_base[c] + _INFLIGHT] = L.NO_WRITER
        self.locks.release(c)
        if q[self.wb + _LOG_COUNT] - q[self.wb + _LOG_HEAD] >= self.drain_at:
            drain_writer(self.ex, self.w, self._ledger_fd)

    def trade(self, a: int, c: int, side: int, qty: int) -> int:
        """Execute one order of account ``a``; the cash moved (> 0) or a negative reject
        code."""
        q = self.q
        cb = self.ex.cur_base[c]
        ab = self.acc0 + a * self.acc_words
        wb = self.wb
        locks = self.locks
        died = locks.acquire(c)
        try:
            if self.recovers and (died or q[cb + _INFLIGHT] != L.NO_WRITER):
                self._settle(c, died)
            rc = q[cb + _CASH_R]
            ru = q[cb + _UNITS_R]
            if self.race_s:
                time.sleep(self.race_s)
            cash = q[ab + _CASH]
            hold = q[ab + _HOLD + c]
            if side == L.SIDE_BUY:
                amount = buy_cost(rc, ru, qty, self.fee)
                if amount < 0:
                    q[ab + _REJECTED] += 1
                    return REJ_POOL
                if amount > cash:
                    q[ab + _REJECTED] += 1
                    return REJ_FUNDS
                new_rc, new_ru = rc + amount, ru - qty
                d_cash, d_hold = -amount, qty
            else:
                if qty > hold:
                    q[ab + _REJECTED] += 1
                    return REJ_HOLDINGS
                amount = sell_proceeds(rc, ru, qty, self.fee)
                if amount <= 0:
                    q[ab + _REJECTED] += 1
                    return REJ_TINY
                new_rc, new_ru = rc - amount, ru + qty
                d_cash, d_hold = amount, -qty
            d = self.d
            seq = q[cb + _SEQ]
            n = q[wb + _LOG_COUNT]
            trades = q[ab + _TRADES]
            vu, vc = q[cb + _VOL_U], q[cb + _VOL_C]
            t_cash, t_hold, t_trades = q[wb + _T_CASH], q[wb + _T_HOLD + c], q[wb + _T_TRADES]
            # Journal: pre-images first, then name the transaction, then mark it active.
            q[wb + _J_CUR] = c
            q[wb + _J_ACC] = a
            q[wb + _J_CASH] = cash
            q[wb + _J_HOLD] = hold
            q[wb + _J_TRADES] = trades
            q[wb + _J_LOG] = n
            q[wb + _J_TCASH] = t_cash
            q[wb + _J_THOLD] = t_hold
            q[wb + _J_TTRADES] = t_trades
            q[wb + _J_PCASH] = rc
            q[wb + _J_PUNITS] = ru
            q[wb + _J_PSEQ] = seq
            q[wb + _J_VU] = vu
            q[wb + _J_VC] = vc
            d[wb + _J_RATE] = d[cb + _RATE]
            q[cb + _INFLIGHT] = self.w
            q[wb + _J_STATE] = L.JOURNAL_ACTIVE
            q[cb + _VERSION] += 1
            q[cb + _CASH_R] = new_rc
            q[cb + _UNITS_R] = new_ru
            if self._pause:
                time.sleep(self._pause)
            q[cb + _SEQ] = seq + 1
            q[cb + _VOL_U] = vu + qty
            q[cb + _VOL_C] = vc + amount
            d[cb + _RATE] = new_rc / new_ru
            q[ab + _CASH] = cash + d_cash
            q[ab + _HOLD + c] = hold + d_hold
            q[ab + _TRADES] = trades + 1
            q[wb + _T_CASH] = t_cash + d_cash
            q[wb + _T_HOLD + c] = t_hold + d_hold
            q[wb + _T_TRADES] = t_trades + 1
            r = self.ring + (n % self.rows) * _ROW_WORDS
            q[r + _R_T] = time.clock_gettime_ns(_MONO) - self.start_ns
            q[r + _R_SEQ] = seq + 1
            q[r + _R_ACC] = a
            q[r + _R_CUR] = c
            q[r + _R_SIDE] = side
            q[r + _R_QTY] = qty
            q[r + _R_CASH] = amount
            q[r + _R_UNITS] = new_ru
            if self.book_rows:
                # A ring slot may hold an older book row: a pool trade names itself whole.
                q[r + _R_KIND] = L.ROW_TRADE
                q[r + _R_OID] = 0
                q[r + _R_MAKER] = -1
                q[r + _R_TICK] = -1
            q[wb + _LOG_COUNT] = n + 1
            q[wb + _J_STATE] = L.JOURNAL_IDLE
            q[cb + _INFLIGHT] = L.NO_WRITER
            q[cb + _VERSION] += 1
        finally:
            locks.release(c)
        if n + 1 - q[wb + _LOG_HEAD] >= self.drain_at:
            drain_writer(self.ex, self.w, self._ledger_fd)
        return amount

    def heartbeat(self) -> None:
        self.q[self.wb + _HEARTBEAT] = time.clock_gettime_ns(_MONO)

    def close(self) -> None:
        """Drain what is left in the ring and close the ledger file."""
        if self._ledger_fd >= 0:
            drain_writer(self.ex, self.w, self._ledger_fd)
            os.close(self._ledger_fd)
            self._ledger_fd = -1
