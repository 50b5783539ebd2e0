"""Fault injection during a run: SIGKILLs at random instants, never waiting on a victim.

A victim (a trader process, or the monitor when the scenario aims some kills at it) is
stopped first so that what it was doing at the instant of the kill can be read: inside
a transaction (its journal active), or inside the recovery of another writer's
transaction (it holds the lock of a currency whose ``inflight`` names a dead writer).
Then it is killed and left to the supervisor, which reaps, settles and restarts it when
its sentinel fires: the next kill never waits for the last victim's reaping.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from typing import Final

from sim.core import layout as L
from sim.core.exchange import Exchange

__all__ = ["KillCounts", "in_book_commit", "in_recovery", "proc_state", "stop_and_kill"]

# A stopped victim shows state T within microseconds on an idle machine; a busy one may
# take a scheduling round.
_STOP_WAIT_S: Final = 0.05


@dataclass
class KillCounts:
    """Kills sent so far, by what the victim was doing."""

    kills: int = 0
    in_transaction: int = 0
    in_recovery: int = 0
    monitor: int = 0
    # Run clock (ns since the run's start, as the ledger's) of the first and last kill.
    first_ns: int = 0
    last_ns: int = 0


def proc_state(pid: int) -> str:
    """The process's state letter and name from ``/proc`` (``R running``, ``T stopped``,
    ...), or ``gone``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return "gone"
    # The name is in parentheses and may hold spaces: the state follows the last one.
    letter = text.rsplit(")", 1)[-1].split()[0]
    names = {"R": "running", "S": "sleeping", "D": "disk sleep", "T": "stopped",
             "t": "tracing stop", "Z": "zombie", "X": "dead", "I": "idle"}
    return f"{letter} {names.get(letter, 'unknown')}"


def in_recovery(ex: Exchange, pid: int, writer: int) -> bool:
    """Whether process ``pid`` (writer ``writer``) holds a currency's lock while that
    currency names another writer in flight: it is settling a dead writer's transaction.
    Only the robust mutexes say who holds them; other policies answer False."""
    holder = getattr(ex.locks, "holder", None)
    if holder is None:
        return False
    q = ex.q
    for c in range(ex.geo.n_currencies):
        w = q[ex.cword(c, "inflight")]
        if w not in (L.NO_WRITER, writer) and holder(c) == pid:
            return True
    return False


def in_book_commit(ex: Exchange, writer: int) -> bool:
    """Whether ``writer`` is in flight on a book whose journal is active: it was stopped
    between the first and the last store of an order."""
    q = ex.q
    for c in ex.geo.books:
        if q[ex.cword(c, "inflight")] == writer and ex.book(c).journal_state():
            return True
    return False


def _wait_stopped(pid: int) -> None:
    """Until ``pid`` shows as stopped (or gone, or a zombie), at most ``_STOP_WAIT_S``."""
    deadline = time.monotonic() + _STOP_WAIT_S
    while time.monotonic() < deadline:
        if proc_state(pid)[0] in "TtZXg":
            return
        time.sleep(0)


def stop_and_kill(ex: Exchange, pid: int, writer: int | None, counts: KillCounts) -> bool:
    """SIGSTOP ``pid``, read what it was doing, SIGKILL it and count it; ``writer`` is
    None for the monitor. False if it was already gone."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    # SIGSTOP is delivered asynchronously: read the victim's state only once it has
    # stopped, or a transaction it was finishing is counted as cut short.
    _wait_stopped(pid)
    if writer is None:
        counts.monitor += 1
    else:
        if ex.q[ex.wword(writer, "j_state")] == L.JOURNAL_ACTIVE or in_book_commit(ex, writer):
            counts.in_transaction += 1
        if in_recovery(ex, pid, writer):
            counts.in_recovery += 1
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    counts.kills += 1
    counts.last_ns = ex.now_ns()
    if counts.kills == 1:
        counts.first_ns = counts.last_ns
    return True
