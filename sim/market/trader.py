"""One trader process: attach, observe, decide, trade, log, stop on the header's flag.

Each trader opens the exchange file by path after fork (its own descriptor: an OFD lock
through an inherited descriptor would be shared with the parent) and trades on the slot
the coordinator funded for it. It stops when the header's run state leaves ``running``,
when its parent disappears, or on SIGTERM; Ctrl-C is the coordinator's business.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.transaction import Account
from sim.market.strategies import make_strategy

__all__ = ["MappedView", "TraderSpec", "trader_main"]

_PARENT_CHECK: Final = 1024
_C = L.CURRENCY.word
_A = L.ACCOUNT.word


@dataclass(frozen=True)
class TraderSpec:
    """Everything a trader process needs, picklable and small."""

    path: str
    slot: int
    strategy: str
    params: dict[str, Any]
    seed: np.random.SeedSequence
    arrival: str = "asap"
    rate_hz: float | None = None
    pause_in_txn_s: float = 0.0
    pause_prob: float = 0.0
    max_orders: int | None = None
    turn_seed: int | None = None
    n_turn_slots: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class MappedView:
    """The read-only market a strategy sees, read straight from the mapping (unlocked)."""

    def __init__(self, ex: Exchange, slot: int) -> None:
        self._q = ex.q
        self._d = ex.d
        self.n_currencies = ex.geo.n_currencies
        self.names = tuple(ex.names())
        self.scale = ex.scale
        self._cash_w = [b + _C("cash_reserve") for b in ex.cur_base]
        self._units_w = [b + _C("unit_reserve") for b in ex.cur_base]
        self._fund_w = [b + _C("fundamental") for b in ex.cur_base]
        ab = ex.acc_base[slot]
        self._acc_cash = ab + _A("cash")
        self._acc_hold = ab + _A("holdings")
        self._start = ex.header_int("start_ns")

    def rate(self, c: int) -> float:
        units = self._q[self._units_w[c]]
        return self._q[self._cash_w[c]] / units if units else float("nan")

    def fundamental(self, c: int) -> float:
        return float(self._d[self._fund_w[c]])

    def cash(self) -> int:
        return int(self._q[self._acc_cash])

    def holding(self, c: int) -> int:
        return int(self._q[self._acc_hold + c])

    def time(self) -> float:
        return (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - self._start) / 1e9


class _Stop(Exception):
    pass


def _on_term(signum: int, frame: object) -> None:
    raise _Stop


def turn_order(seed: int, round_no: int, n: int) -> list[int]:
    """The deterministic schedule's order of slots for one round of turns."""
    return [int(x) for x in np.random.default_rng([seed, round_no]).permutation(n)]


def trader_main(spec: TraderSpec) -> None:
    """Process entry point of one trader."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    ex = Exchange.open(spec.path)
    parent = ex.coordinator_pid()
    try:
        q = ex.q
        ab = ex.acc_base[spec.slot]
        q[ab + _A("pid")] = os.getpid()
        # Start together, and only then read start_ns: the coordinator sets it at go.
        while q[L.HEADER.word("run_state")] == L.RUN_INIT:
            if os.getppid() != parent:
                return
            time.sleep(0.0005)
        acc = Account(ex, spec.slot)
        try:
            _trade_loop(ex, acc, spec, parent)
        except _Stop:
            pass
        finally:
            acc.close()
            q[ab + _A("status")] = L.SLOT_DONE
    finally:
        ex.close()


def _trade_loop(ex: Exchange, acc: Account, spec: TraderSpec, parent: int) -> None:
    q = ex.q
    state = L.HEADER.word("run_state")
    view = MappedView(ex, spec.slot)
    strategy = make_strategy(spec.strategy, spec.params, ex.geo.n_currencies, ex.scale)
    rng = np.random.default_rng(spec.seed)
    decide = strategy.decide
    trade = acc.trade
    wait = _arrival(spec, rng)
    faults = spec.pause_prob > 0 and spec.pause_in_txn_s > 0
    if spec.turn_seed is not None:
        _turn_loop(ex, acc, spec, view, strategy, rng, parent)
        return
    n = 0
    running = L.RUN_RUNNING
    while q[state] == running:
        order = decide(view, rng)
        if order is not None:
            if faults:
                acc.pause_in_txn = spec.pause_in_txn_s if rng.random() < spec.pause_prob else 0.0
            trade(order[0], order[1], order[2])
        n += 1
        if n % _PARENT_CHECK == 0:
            acc.heartbeat()
            if os.getppid() != parent:
                return
        if spec.max_orders is not None and n >= spec.max_orders:
            return
        if wait is not None:
            time.sleep(wait())


def _turn_loop(ex: Exchange, acc: Account, spec: TraderSpec, view: MappedView,
               strategy: Any, rng: np.random.Generator, parent: int) -> None:
    """Deterministic schedule: act only while the header's turn token names this slot."""
    q = ex.q
    state, turn_w, turns_w = (L.HEADER.word("run_state"), L.HEADER.word("turn"),
                              L.HEADER.word("turns"))
    assert spec.turn_seed is not None
    n_slots = spec.n_turn_slots
    limit = spec.max_orders
    spins = 0
    while q[state] == L.RUN_RUNNING:
        if q[turn_w] != spec.slot:
            os.sched_yield()
            spins += 1
            if spins % _PARENT_CHECK == 0 and os.getppid() != parent:
                return
            continue
        k = q[turns_w]
        if limit is not None and k >= limit:
            return
        order = strategy.decide(view, rng)
        if order is not None:
            acc.trade(order[0], order[1], order[2])
        k += 1
        nxt = turn_order(spec.turn_seed, k // n_slots, n_slots)[k % n_slots]
        q[turns_w] = k
        q[turn_w] = nxt if limit is None or k < limit else L.NO_SLOT


def _arrival(spec: TraderSpec, rng: np.random.Generator) -> Any:
    if spec.arrival == "asap" or not spec.rate_hz:
        return None
    mean = 1.0 / spec.rate_hz
    if spec.arrival == "fixed":
        return lambda: mean
    return lambda: float(rng.exponential(mean))
