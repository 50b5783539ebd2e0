"""The trader loops that schedule a process's agents: free-running and deterministic turns.

Free-running: agents with a rate (``fixed`` or ``poisson`` arrivals) wait in a heap of
next-arrival times; ``asap`` agents act in turn, a short burst of orders each, whenever
no timed agent is due (a burst keeps one agent's account and state in the cache). Every
order still goes through the process's one :class:`~sim.core.transaction.Writer`, one at
a time, under the same locks and journal.

Deterministic: one global turn order over all agents, a function of the scenario seed and
the turn number alone (a seeded permutation of the agents per round of turns, drawn a
block of rounds at a time), so it does not depend on how many processes host the agents.
The header's ``turns`` word counts turns taken; the process hosting the agent of turn
``k`` acts when ``turns == k`` and then stores ``k + 1``. A process whose next turns are
its own agents goes on without a handoff. The others spin on the word for a while when
every process can have a CPU, then sleep on it (a futex); a process that hands the turn
on wakes the sleepers. Where processes outnumber CPUs they sleep at once: a spinning
waiter would steal the time of the process it waits for.
"""

from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import numpy as np

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.futex import Futex
from sim.core.transaction import Writer
from sim.market.book_agents_base import BookStrategy, BookView, send
from sim.market.strategies import MarketView, Strategy

__all__ = ["TURN_BLOCK", "Agent", "block_rounds", "free_loop", "turn_loop", "turn_order"]

# Iterations between two checks that the parent is alive (and heartbeats).
_PARENT_CHECK: Final = 1024
# Longest sleep while waiting for the next timed agent: bounds how late a stop is seen.
_MAX_SLEEP_S: Final = 0.01
# Orders an asap agent sends in a row when its turn comes: with a thousand agents taking
# single turns, every order would touch cold memory (measured: 25 % slower than 2 agents).
ASAP_BURST: Final = 8
# Fewest turns whose order is drawn at once (one generator per block).
TURN_BLOCK: Final = 4096
# Checks of the turn word, a yield between two, before a waiter sleeps on it: a handoff
# between two running processes takes ~1 us; much longer, and the other is not running
# (measured on a loaded 2-vCPU machine: sleeping at once beat a 0.1 ms spin). Then the
# longest sleep before it looks at the run state again.
_SPIN_CHECKS: Final = 100
_SLEEP_S: Final = 0.01


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


class _View(MarketView, BookView, Protocol):
    @property
    def lots(self) -> list[int]:
        """Minor units per lot of each currency's book; 0 for a pool."""
        ...

    def bind(self, account: int) -> None: ...


@dataclass
class Agent:
    """One hosted agent: its account, strategy instance, generator and arrival law."""

    account: int
    strategy: Strategy[Any] | BookStrategy[Any]
    rng: np.random.Generator
    arrival: str = "asap"
    rate_hz: float | None = None
    # Seconds from the start of trading to its first arrival (timed agents), drawn when
    # the agent is made, before the run starts.
    first: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.timed:
            self.first = self.first_wait()

    @property
    def timed(self) -> bool:
        return self.arrival != "asap" and bool(self.rate_hz)

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


def block_rounds(n: int) -> int:
    """Rounds of turns per block: a block is at least ``TURN_BLOCK`` turns, so that
    drawing its order costs little per turn however few the agents."""
    return max(1, -(-TURN_BLOCK // n))


def turn_order(seed: int, block: int, n: int) -> list[int]:
    """The deterministic schedule's order of agents for one block of turns: every agent
    once per round, in a seeded permutation per round, ``block_rounds(n)`` rounds. A
    function of the seed, the block number and the number of agents only."""
    rounds = np.tile(np.arange(n, dtype=np.int64), (block_rounds(n), 1))
    out: list[int] = np.random.default_rng([seed, block]).permuted(rounds, axis=1).ravel(
        ).tolist()
    return out


def _act(w: Writer, view: _View, ag: Agent) -> None:
    view.bind(ag.account)
    st = ag.strategy
    if isinstance(st, BookStrategy):
        intent = st.decide(view, ag.rng)
        if intent is not None:
            st.on_result(intent, send(w, ag.account, intent))
        return
    order = st.decide(view, ag.rng)
    if order is not None:
        c = order[0]
        lot = view.lots[c]
        if lot:
            # A pool strategy on a book: its order becomes a market order of whole lots.
            if order[2] >= lot:
                w.market(ag.account, c, order[1], order[2] // lot)
        else:
            w.trade(ag.account, c, order[1], order[2])


def free_loop(ex: Exchange, w: Writer, spec: _Spec, view: _View, agents: list[Agent],
              parent: int) -> None:
    """Free-running: timed agents from the heap when due, asap agents in turn otherwise."""
    q = ex.q
    state = L.HEADER.word("run_state")
    running = L.RUN_RUNNING
    asap = [ag for ag in agents if not ag.timed]
    timed = [ag for ag in agents if ag.timed]
    now = time.monotonic
    t0 = now()
    heap: list[tuple[float, int]] = [(t0 + ag.first, i) for i, ag in enumerate(timed)]
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
                ag = asap[j // ASAP_BURST]
                j = j + 1 if j + 1 < n_asap * ASAP_BURST else 0
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
    """Deterministic schedule: act on the turns whose agent this process hosts.

    Runs of consecutive turns of this process's own agents go without a handoff: only
    the ``turns`` word is stored after each (it is what the others wait on).
    """
    q = ex.q
    state, turn_w, turns_w = (L.HEADER.word("run_state"), L.HEADER.word("turn"),
                              L.HEADER.word("turns"))
    n_agents = spec.n_agents
    mine: list[Agent | None] = [None] * n_agents
    for ag in agents:
        mine[ag.account] = ag
    limit = spec.max_orders if spec.max_orders is not None else 1 << 62
    spin = spec.spin
    running = L.RUN_RUNNING
    seed = spec.seed
    arrivals = ex.wword(spec.writer, "arrivals")
    futex = Futex(ex.base_address() + L.HEADER.offsets["turns"])
    perm: list[int] = []
    perm_block = -1
    size = n_agents * block_rounds(n_agents)
    acted = 0
    k = q[turns_w]
    try:
        while q[state] == running and k < limit:
            b, i = divmod(k, size)
            if b != perm_block:
                perm = turn_order(seed, b, n_agents)
                perm_block = b
            stop = min(size, i + limit - k)
            start = i
            while i < stop:
                own = mine[perm[i]]
                if own is None:
                    break
                _act(w, view, own)
                i += 1
                q[turns_w] = k + i - start
                if i % _PARENT_CHECK == 0 and q[state] != running:
                    break
            if i > start:
                acted += i - start
                k += i - start
                q[turn_w] = perm[i - 1]
                # The turn leaves this process (or the block ends): wake who sleeps on it.
                futex.wake()
                continue
            k = _wait_turn(q, turns_w, k, state, running, parent, spin, futex, w)
            if k < 0:
                return
    finally:
        q[arrivals] += acted
        futex.wake()


def _wait_turn(q: memoryview, turns_w: int, k: int, state: int, running: int, parent: int,
               spin: bool, futex: Futex, w: Writer) -> int:
    """Until the ``turns`` word moves past ``k``; returns its new value, or -1 when the
    run stops or the parent is gone meanwhile."""
    if spin or not futex.available:
        # Yielding between checks: free if this CPU has nothing else to run, and if it has
        # (the other process, on a loaded machine), that one runs at once.
        for _ in range(_SPIN_CHECKS):
            if q[turns_w] != k:
                return int(q[turns_w])
            os.sched_yield()
    while q[turns_w] == k:
        if q[state] != running or os.getppid() != parent:
            return -1
        w.heartbeat()
        if futex.available:
            futex.wait(k, _SLEEP_S)
        else:
            os.sched_yield()
    return int(q[turns_w])
