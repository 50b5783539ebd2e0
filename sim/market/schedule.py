"""The trader loops that schedule a process's agents: free-running and deterministic turns.

Free-running: agents with a rate (``fixed`` or ``poisson`` arrivals) wait in a heap of
next-arrival times; ``asap`` agents act in turn whenever no timed agent is due. Every
order still goes through the process's one :class:`~sim.core.transaction.Writer`, one at
a time, under the same locks and journal.

Deterministic: one global turn order over all agents, a function of the scenario seed and
the turn number alone (a seeded permutation per round of turns), so it does not depend on
how many processes host the agents. The header's ``turns`` word counts turns taken; the
process hosting the agent of turn ``k`` acts when ``turns == k`` and then stores
``k + 1``. A process whose next turns are its own agents goes on without a handoff; the
others spin on the word (or yield the CPU when processes outnumber CPUs, where a spinning
waiter would steal the time of the process it waits for).
"""

from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.transaction import Writer
from sim.market.strategies import MarketView, Strategy

__all__ = ["Agent", "free_loop", "turn_loop", "turn_order"]

# Iterations between two checks that the parent is alive (and heartbeats).
_PARENT_CHECK: Final = 1024
# Longest sleep while waiting for the next timed agent: bounds how late a stop is seen.
_MAX_SLEEP_S: Final = 0.01


class _Spec(Protocol):
    @property
    def writer(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def pause_in_txn_s(self) -> float: ...
    @property
    def pause_prob(self) -> float: ...
    @property
    def max_orders(self) -> int | None: ...
    @property
    def n_agents(self) -> int: ...
    @property
    def spin(self) -> bool: ...


class _View(MarketView, Protocol):
    def bind(self, account: int) -> None: ...


@dataclass
class Agent:
    """One hosted agent: its account, strategy instance, generator and arrival law."""

    account: int
    strategy: Strategy
    rng: np.random.Generator
    arrival: str = "asap"
    rate_hz: float | None = None
    orders: int = field(default=0)

    def wait(self) -> float:
        """Seconds to its next arrival, drawn from its own generator."""
        assert self.rate_hz
        mean = 1.0 / self.rate_hz
        if self.arrival == "fixed":
            return mean
        return float(self.rng.exponential(mean))

    def first_wait(self) -> float:
        """Seconds to its first arrival: a random phase for fixed arrivals, so a crowd of
        agents at one rate does not fire in bursts."""
        assert self.rate_hz
        if self.arrival == "fixed":
            return float(self.rng.uniform(0.0, 1.0 / self.rate_hz))
        return self.wait()


def turn_order(seed: int, round_no: int, n: int) -> list[int]:
    """The deterministic schedule's order of agents for one round of ``n`` turns."""
    return [int(x) for x in np.random.default_rng([seed, round_no]).permutation(n)]


def _act(w: Writer, view: _View, ag: Agent) -> None:
    view.bind(ag.account)
    order = ag.strategy.decide(view, ag.rng)
    ag.orders += 1
    if order is not None:
        w.trade(ag.account, order[0], order[1], order[2])


def free_loop(ex: Exchange, w: Writer, spec: _Spec, view: _View, agents: list[Agent],
              parent: int) -> None:
    """Free-running: timed agents from the heap when due, asap agents in turn otherwise."""
    q = ex.q
    state = L.HEADER.word("run_state")
    running = L.RUN_RUNNING
    asap = [ag for ag in agents if ag.arrival == "asap" or not ag.rate_hz]
    timed = [ag for ag in agents if not (ag.arrival == "asap" or not ag.rate_hz)]
    now = time.monotonic
    t0 = now()
    heap: list[tuple[float, int]] = [(t0 + ag.first_wait(), i) for i, ag in enumerate(timed)]
    heapq.heapify(heap)
    faults = spec.pause_prob > 0 and spec.pause_in_txn_s > 0
    frng = np.random.default_rng([spec.seed, 5, spec.writer])
    limit = spec.max_orders
    n_asap = len(asap)
    arrivals = ex.wword(spec.writer, "arrivals")
    j = n = flushed = 0
    try:
        while q[state] == running:
            if heap and heap[0][0] <= now():
                t, i = heap[0]
                ag = timed[i]
                heapq.heapreplace(heap, (t + ag.wait(), i))
            elif n_asap:
                ag = asap[j]
                j = j + 1 if j + 1 < n_asap else 0
            elif heap:
                wait = heap[0][0] - now()
                if wait > 0:
                    time.sleep(min(wait, _MAX_SLEEP_S))
                continue
            else:
                return
            if faults:
                w.pause_in_txn = spec.pause_in_txn_s if frng.random() < spec.pause_prob else 0.0
            _act(w, view, ag)
            n += 1
            if n % _PARENT_CHECK == 0:
                q[arrivals] += n - flushed
                flushed = n
                w.heartbeat()
                if os.getppid() != parent:
                    return
            if limit is not None and n >= limit:
                return
    finally:
        q[arrivals] += n - flushed


def turn_loop(ex: Exchange, w: Writer, spec: _Spec, view: _View, agents: list[Agent],
              parent: int) -> None:
    """Deterministic schedule: act on the turns whose agent this process hosts."""
    q = ex.q
    state, turn_w, turns_w = (L.HEADER.word("run_state"), L.HEADER.word("turn"),
                              L.HEADER.word("turns"))
    n_agents = spec.n_agents
    mine: list[Agent | None] = [None] * n_agents
    for ag in agents:
        mine[ag.account] = ag
    limit = spec.max_orders
    spin = spec.spin
    running = L.RUN_RUNNING
    seed = spec.seed
    perm: list[int] = []
    perm_round = -1
    arrivals = ex.wword(spec.writer, "arrivals")
    k = q[turns_w]
    while q[state] == running:
        if limit is not None and k >= limit:
            return
        r, i = divmod(k, n_agents)
        if r != perm_round:
            perm = turn_order(seed, r, n_agents)
            perm_round = r
        x = perm[i]
        own = mine[x]
        if own is not None:
            q[turn_w] = x
            _act(w, view, own)
            q[arrivals] += 1
            k += 1
            q[turns_w] = k
            continue
        spins = 0
        while q[turns_w] == k:
            spins += 1
            if spins % _PARENT_CHECK == 0:
                if q[state] != running or os.getppid() != parent:
                    return
                w.heartbeat()
            if not spin:
                os.sched_yield()
        k = q[turns_w]
