"""One trader process: attach as a writer, host its agents, trade, stop on the header's flag.

Each trader opens the exchange file by path after fork (its own descriptor: an OFD lock
through an inherited descriptor would be shared with the parent) and trades as the
writer the coordinator gave it, for the agents (accounts) the coordinator funded for it.
Each agent has its own strategy instance and its own generator, spawned from the
scenario seed by the agent's id, so its draws do not depend on how many processes share
the population. The process stops when the header's run state leaves ``running``, when
its parent disappears, or on SIGTERM; Ctrl-C is the coordinator's business.
"""

from __future__ import annotations

import gc
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from sim.core import layout as L
from sim.core.book_layout import BOOK
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from sim.market.registry import make_any, resolve_any
from sim.market.schedule import Agent, free_loop, turn_loop

__all__ = ["AgentSpec", "GroupSpec", "MappedView", "TraderSpec", "agent_seed", "trader_main"]

_C = L.CURRENCY.word
_B = BOOK.word
_A_CASH: Final = L.ACCOUNT.word("cash")
_A_HOLD: Final = L.ACCOUNT.word("holdings")
_STARTUP_POLL_S: Final = 0.0005


@dataclass(frozen=True)
class GroupSpec:
    """What the agents of one scenario group share."""

    strategy: str
    params: dict[str, Any]
    arrival: str = "asap"
    rate_hz: float | None = None


@dataclass(frozen=True)
class AgentSpec:
    """One hosted agent: its account (also its id) and its group."""

    account: int
    group: int


@dataclass(frozen=True)
class TraderSpec:
    """Everything a trader process needs, picklable and small."""

    path: str
    writer: int
    agents: tuple[AgentSpec, ...]
    groups: tuple[GroupSpec, ...]
    seed: int
    generation: tuple[int, ...] = ()
    pause_in_txn_s: float = 0.0
    pause_prob: float = 0.0
    pause_in_recovery_s: float = 0.0
    max_orders: int | None = None
    deterministic: bool = False
    n_processes: int = 1
    n_agents: int = 0
    spin: bool = True
    market: str = "pool"
    extra: dict[str, Any] = field(default_factory=dict)


def agent_seed(seed: int, agent: int, generation: tuple[int, ...] = ()) -> np.random.SeedSequence:
    """Agent ``agent``'s seed: from the scenario seed by the agent's id alone, so its draws
    do not depend on the number of processes; ``generation`` marks a restart or a resumed
    run, which draw fresh streams."""
    return np.random.SeedSequence([seed, *generation], spawn_key=(agent,))


class MappedView:
    """The read-only market a strategy sees, read straight from the mapping (unlocked).

    One view serves every agent of a process: ``bind`` points it at the account of the
    agent about to decide.
    """

    def __init__(self, ex: Exchange, account: int = 0) -> None:
        self._q = ex.q
        self._d = ex.d
        self._ex = ex
        self.n_currencies = ex.geo.n_currencies
        self.names = tuple(ex.names())
        self.scale = ex.scale
        self._cash_w = [b + _C("cash_reserve") for b in ex.cur_base]
        self._units_w = [b + _C("unit_reserve") for b in ex.cur_base]
        self._fund_w = [b + _C("fundamental") for b in ex.cur_base]
        self._start = ex.header_int("start_ns")
        self._acc0 = ex.acc_base0
        self._acc_words = ex.acc_words
        self._acc_cash = 0
        self._acc_hold = 0
        self._rate_w = [b + _C("last_rate") for b in ex.cur_base]
        self._bid_w = [b + _C("best_bid") for b in ex.cur_base]
        self._ask_w = [b + _C("best_ask") for b in ex.cur_base]
        # Per currency: ladder ticks (0 for a pool), price_base, price_step, lot and the
        # word of the last fill's tick; a book's shape never changes during a run.
        self._ticks = [0] * self.n_currencies
        self._pb = [0] * self.n_currencies
        self._ps = [1] * self.n_currencies
        self.lots = [0] * self.n_currencies
        self._last_w = [0] * self.n_currencies
        for c in ex.geo.books:
            b = ex.book(c)
            self._ticks[c], self._pb[c], self._ps[c], self.lots[c] = (
                b.ticks, b.price_base, b.price_step, b.lot)
            self._last_w[c] = b.base + _B("last_tick")
        self.bind(account)

    def bind(self, account: int) -> None:
        ab = self._acc0 + account * self._acc_words
        self._acc_cash = ab + _A_CASH
        self._acc_hold = ab + _A_HOLD

    def rate(self, c: int) -> float:
        """A pool's price, or a book's last fill."""
        if self._ticks[c]:
            return float(self._d[self._rate_w[c]])
        units = self._q[self._units_w[c]]
        return self._q[self._cash_w[c]] / units if units else float("nan")

    # -- the book view (sim.market.book_agents_base.BookView) ---------------------------
    def best_bid(self, c: int) -> int:
        return int(self._q[self._bid_w[c]])

    def best_ask(self, c: int) -> int:
        return int(self._q[self._ask_w[c]])

    def last_tick(self, c: int) -> int:
        return int(self._q[self._last_w[c]]) if self._ticks[c] else -1

    def ticks(self, c: int) -> int:
        return self._ticks[c]

    def lot(self, c: int) -> int:
        return self.lots[c]

    def lot_cash(self, c: int, tick: int) -> int:
        return self._pb[c] + tick * self._ps[c]

    def price(self, c: int, tick: int) -> float:
        return (self._pb[c] + tick * self._ps[c]) / self.lots[c]

    def tick_of(self, c: int, rate: float) -> int:
        t = round((rate * self.lots[c] - self._pb[c]) / self._ps[c])
        return min(max(t, 0), self._ticks[c] - 1)

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


def make_agents(ex: Exchange, spec: TraderSpec) -> list[Agent]:
    """This process's agents, each with its own strategy instance and generator."""
    nc, scale = ex.geo.n_currencies, ex.scale
    # Parameters are validated once per group; each agent gets its own instance.
    kinds = [(resolve_any(g.strategy, spec.market), g) for g in spec.groups]
    params = [cls.Params.model_validate(g.params) for cls, g in kinds]
    out = []
    for a in spec.agents:
        cls, g = kinds[a.group]
        rng = np.random.default_rng(agent_seed(spec.seed, a.account, spec.generation))
        out.append(Agent(a.account, make_any(cls, params[a.group], nc, scale), rng,
                         g.arrival, g.rate_hz))
    return out


def trader_main(spec: TraderSpec) -> None:
    """Process entry point of one trader process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    ex = Exchange.open(spec.path)
    parent = ex.coordinator_pid()
    try:
        q = ex.q
        q[ex.wword(spec.writer, "pid")] = os.getpid()
        agents = make_agents(ex, spec)
        # Thousands of agents are hundreds of thousands of long-lived objects: out of the
        # collector's sight, a full collection no longer walks them all mid-run.
        gc.freeze()
        # The coordinator starts the run once every trader process is ready.
        q[ex.wword(spec.writer, "ready_ns")] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        # Start together, and only then read start_ns: the coordinator sets it at go.
        while q[L.HEADER.word("run_state")] == L.RUN_INIT:
            if os.getppid() != parent:
                return
            time.sleep(_STARTUP_POLL_S)
        w = Writer(ex, spec.writer)
        w.pause_in_recovery = spec.pause_in_recovery_s
        try:
            view = MappedView(ex)
            if spec.deterministic:
                turn_loop(ex, w, spec, view, agents, parent)
            else:
                free_loop(ex, w, spec, view, agents, parent)
        except _Stop:
            pass
        finally:
            w.close()
            q[ex.wword(spec.writer, "status")] = L.SLOT_DONE
    finally:
        ex.close()
