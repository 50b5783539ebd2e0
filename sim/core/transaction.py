"""The trade transaction on the mapping: lock, journal, price, apply, log, commit; recovery.

Protocol for one trade of slot ``s`` on currency ``c``, all under ``c``'s lock:

1. if ``c.inflight`` names a slot (its holder died mid-transaction), recover first;
2. read the pool and the account, price the order; a rejection writes nothing shared;
3. write the pre-images into ``s``'s journal, then ``c.inflight = s``, then
   ``j_state = ACTIVE``, then make ``c.version`` odd (seqlock: a write is in progress);
4. apply the new pool and account values and the ledger row in ``s``'s ring;
5. commit: ``log_count += 1``, ``j_state = IDLE`` (the commit point), ``c.inflight = -1``,
   ``c.version`` even again.

A process killed anywhere in there leaves either an active journal that ``inflight``
points at (roll back from the pre-images: nothing of it is visible) or a committed one
(nothing to undo). Recovery is idempotent, so a recoverer killed in turn is recovered by
the next. Ledger rows live in the slot's ring inside the mapping until the owner (or,
after its death, the coordinator) drains them to its ledger file with ``pwrite`` at
their absolute position, which makes draining idempotent too.
"""

from __future__ import annotations

import os
import time
from typing import Final

import numpy as np

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.ledger import drain_slot, open_ledger
from sim.core.pricing import buy_cost, sell_proceeds
from sim.errors import NoFreeSlot

__all__ = [
    "REJECT_REASONS",
    "Account",
    "claim_slot",
    "lock_and_recover",
    "recover_currency",
    "recover_slot",
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
_A = L.ACCOUNT.word
_CASH_R, _UNITS_R, _SEQ, _VOL_U, _VOL_C = (_C("cash_reserve"), _C("unit_reserve"), _C("seq"),
                                         _C("volume_units"), _C("volume_cash"))
_VERSION, _INFLIGHT, _RATE = _C("version"), _C("inflight"), _C("last_rate")
_CASH, _HOLD, _TRADES, _REJECTED = _A("cash"), _A("holdings"), _A("trades"), _A("rejected")
_LOG_COUNT, _LOG_HEAD, _HEARTBEAT = _A("log_count"), _A("log_head"), _A("heartbeat_ns")
_ROLLBACKS = _A("rollbacks")
_J_STATE, _J_CUR, _J_CASH, _J_HOLD, _J_TRADES, _J_LOG = (
    _A("j_state"), _A("j_currency"), _A("j_cash"), _A("j_holding"), _A("j_trades"),
    _A("j_log_count"))
_J_PCASH, _J_PUNITS, _J_PSEQ, _J_VU, _J_VC, _J_RATE = (
    _A("j_pool_cash"), _A("j_pool_units"), _A("j_pool_seq"), _A("j_volume_units"),
    _A("j_volume_cash"), _A("j_last_rate"))
_R = L.ROW.word
_ROW_T, _ROW_SEQ, _ROW_SLOT, _ROW_CUR = _R("t_ns"), _R("cur_seq"), _R("slot"), _R("currency")
_ROW_SIDE, _ROW_QTY, _ROW_CASH, _ROW_UNITS = (_R("side"), _R("qty"), _R("cash"),
                                              _R("unit_reserve"))
_ROW_WORDS: Final = L.ROW.size // 8
_MONO: Final = time.CLOCK_MONOTONIC


def recover_currency(ex: Exchange, c: int) -> bool:
    """Undo what a dead holder left in flight on currency ``c``; caller holds its lock.

    Returns True when a transaction was rolled back.
    """
    q, d = ex.q, ex.d
    cb = ex.cur_base[c]
    s = q[cb + _INFLIGHT]
    rolled = False
    if s != L.NO_SLOT:
        if not 0 <= s < ex.geo.n_slots:
            raise AssertionError(f"currency {c} inflight names slot {s}, out of range")
        ab = ex.acc_base[s]
        if q[ab + _J_STATE] == L.JOURNAL_ACTIVE and q[ab + _J_CUR] == c:
            q[cb + _CASH_R] = q[ab + _J_PCASH]
            q[cb + _UNITS_R] = q[ab + _J_PUNITS]
            q[cb + _SEQ] = q[ab + _J_PSEQ]
            q[cb + _VOL_U] = q[ab + _J_VU]
            q[cb + _VOL_C] = q[ab + _J_VC]
            d[cb + _RATE] = d[ab + _J_RATE]
            q[ab + _CASH] = q[ab + _J_CASH]
            q[ab + _HOLD + c] = q[ab + _J_HOLD]
            q[ab + _TRADES] = q[ab + _J_TRADES]
            q[ab + _LOG_COUNT] = q[ab + _J_LOG]
            q[ab + _J_STATE] = L.JOURNAL_IDLE
            rolled = True
        q[cb + _INFLIGHT] = L.NO_SLOT
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


def recover_slot(ex: Exchange, slot: int) -> bool:
    """Settle ``slot``'s journal after its process died; takes the currency's lock.

    A journal that is active while its currency does not name the slot in flight never
    started writing (the process died between the two stores): it is simply cleared.
    """
    q = ex.q
    ab = ex.acc_base[slot]
    if q[ab + _J_STATE] != L.JOURNAL_ACTIVE:
        return False
    c = q[ab + _J_CUR]
    locks = ex.locks
    rolled = lock_and_recover(ex, c)
    try:
        if q[ex.cur_base[c] + _INFLIGHT] == slot:
            rolled |= recover_currency(ex, c)
        if q[ab + _J_STATE] == L.JOURNAL_ACTIVE:
            q[ab + _J_STATE] = L.JOURNAL_IDLE
        return rolled
    finally:
        locks.release(c)


def claim_slot(ex: Exchange, kind: int, cash: int, holdings: list[int], *, pid: int = 0,
               slot: int | None = None) -> int:
    """Take a free account slot and fund it; a transaction across every currency.

    Funding changes the conserved totals, so it happens under every currency lock and
    moves currency 0's seqlock version: no snapshot sees half a claim. A lock inherited
    from a dead holder is settled first, as a trader would.
    """
    registry = ex.registry
    registry.acquire(0)
    try:
        acc = ex.accounts()
        free = [int(s) for s in np.flatnonzero(acc["status"] == L.SLOT_FREE)]
        del acc
        if slot is None:
            if not free:
                raise NoFreeSlot(f"{ex.path}: all {ex.geo.n_slots} account slots are taken")
            slot = free[0]
        elif slot not in free:
            raise NoFreeSlot(f"{ex.path}: slot {slot} is not free")
        locks = ex.locks
        if locks.acquire_all():
            for c in range(ex.geo.n_currencies):
                recover_currency(ex, c)
        v = ex.cword(0, "version")
        try:
            ex.q[v] += 1
            ex.fund(slot, kind, cash, holdings, pid)
            ex.q[v] += 1
        finally:
            locks.release_all()
    finally:
        registry.release(0)
    return slot


class Account:
    """One slot's trading handle in this process: the hot path of every trader."""

    def __init__(self, ex: Exchange, slot: int, *, pause_in_txn: float = 0.0) -> None:
        self.ex = ex
        self.slot = slot
        self.q = ex.q
        self.d = ex.d
        self.ab = ex.acc_base[slot]
        self.ring = ex.ring_base[slot]
        self.rows = ex.geo.ring_rows
        self.drain_at = max(1, self.rows // 2)
        self.locks = ex.locks
        self.recovers = self.locks.recovers
        self.fee = ex.fee_bps
        self.race_s = ex.header_int("race_window_ns") / 1e9
        self.pause_in_txn = pause_in_txn
        self.start_ns = ex.header_int("start_ns")
        self._ledger_fd = open_ledger(ex, slot)

    def trade(self, c: int, side: int, qty: int) -> int:
        """Execute one order; returns the cash moved (> 0) or a negative reject code."""
        q = self.q
        cb = self.ex.cur_base[c]
        ab = self.ab
        locks = self.locks
        died = locks.acquire(c)
        try:
            if self.recovers and (died or q[cb + _INFLIGHT] != L.NO_SLOT):
                for r in locks.covered(c) if died else (c,):
                    q[ab + _ROLLBACKS] += recover_currency(self.ex, r)
            rc = q[cb + _CASH_R]
            ru = q[cb + _UNITS_R]
            if self.race_s:
                time.sleep(self.race_s)
            cash = q[ab + _CASH]
            hold = q[ab + _HOLD + c]
            if side == L.SIDE_BUY:
                amount = buy_cost(rc, ru, qty, self.fee)
                if amount < 0:
                    return self._reject(REJ_POOL)
                if amount > cash:
                    return self._reject(REJ_FUNDS)
                new_rc, new_ru = rc + amount, ru - qty
                new_cash, new_hold = cash - amount, hold + qty
            else:
                if qty > hold:
                    return self._reject(REJ_HOLDINGS)
                amount = sell_proceeds(rc, ru, qty, self.fee)
                if amount <= 0:
                    return self._reject(REJ_TINY)
                new_rc, new_ru = rc - amount, ru + qty
                new_cash, new_hold = cash + amount, hold - qty
            d = self.d
            seq = q[cb + _SEQ]
            n = q[ab + _LOG_COUNT]
            trades = q[ab + _TRADES]
            vu, vc = q[cb + _VOL_U], q[cb + _VOL_C]
            # Journal: pre-images first, then name the transaction, then mark it active.
            q[ab + _J_CUR] = c
            q[ab + _J_CASH] = cash
            q[ab + _J_HOLD] = hold
            q[ab + _J_TRADES] = trades
            q[ab + _J_LOG] = n
            q[ab + _J_PCASH] = rc
            q[ab + _J_PUNITS] = ru
            q[ab + _J_PSEQ] = seq
            q[ab + _J_VU] = vu
            q[ab + _J_VC] = vc
            d[ab + _J_RATE] = d[cb + _RATE]
            q[cb + _INFLIGHT] = self.slot
            q[ab + _J_STATE] = L.JOURNAL_ACTIVE
            q[cb + _VERSION] += 1
            q[cb + _CASH_R] = new_rc
            q[cb + _UNITS_R] = new_ru
            if self.pause_in_txn:
                time.sleep(self.pause_in_txn)
            q[cb + _SEQ] = seq + 1
            q[cb + _VOL_U] = vu + qty
            q[cb + _VOL_C] = vc + amount
            d[cb + _RATE] = new_rc / new_ru
            q[ab + _CASH] = new_cash
            q[ab + _HOLD + c] = new_hold
            q[ab + _TRADES] = trades + 1
            r = self.ring + (n % self.rows) * _ROW_WORDS
            q[r + _ROW_T] = time.clock_gettime_ns(_MONO) - self.start_ns
            q[r + _ROW_SEQ] = seq + 1
            q[r + _ROW_SLOT] = self.slot
            q[r + _ROW_CUR] = c
            q[r + _ROW_SIDE] = side
            q[r + _ROW_QTY] = qty
            q[r + _ROW_CASH] = amount
            q[r + _ROW_UNITS] = new_ru
            q[ab + _LOG_COUNT] = n + 1
            q[ab + _J_STATE] = L.JOURNAL_IDLE
            q[cb + _INFLIGHT] = L.NO_SLOT
            q[cb + _VERSION] += 1
        finally:
            locks.release(c)
        if n + 1 - q[ab + _LOG_HEAD] >= self.drain_at:
            drain_slot(self.ex, self.slot, self._ledger_fd)
        return amount

    def _reject(self, code: int) -> int:
        self.q[self.ab + _REJECTED] += 1
        return code

    def heartbeat(self) -> None:
        self.q[self.ab + _HEARTBEAT] = time.clock_gettime_ns(_MONO)

    def close(self) -> None:
        """Drain what is left in the ring and close the ledger file."""
        if self._ledger_fd >= 0:
            drain_slot(self.ex, self.slot, self._ledger_fd)
            os.close(self._ledger_fd)
            self._ledger_fd = -1
