"""Consistent snapshots of the mapped tables, for readers that must not see a torn state.

A snapshot is first tried optimistically (seqlock): read every currency's ``version``,
copy, read the versions again; if all were even and none moved, no transaction wrote
during the copy, because every write to a pool, an account or a writer's totals happens
while its currency's version is odd. A monitor sample is a gather of the few words its
checks read (:mod:`sim.core.gathered`: one ``numpy.take`` with the versions at both
ends), so its window is well under a microsecond; an audit (``full``) copies the tables,
accounts included, and ``sim watch`` the currencies and writers.

A try that fails most often met a writer preempted inside its transaction by this very
reader's wake-up (two CPUs, more processes): no spinning helps it, only giving it the CPU
back. So a round retries a gather back to back a few times (a writer running on another
CPU is done within microseconds), then sleeps for a moment; only after
``LOCK_AFTER`` rounds does it also try every lock without waiting (held for one gather,
they cost the traders a short spin), and only after ``SNAPSHOT_ROUNDS`` rounds does it
wait for them, so it is never starved.
Under ``sync: none`` there is nothing to make a copy consistent: the copy is marked torn.
A reader with a read-only mapping (``sim watch``) cannot lock: it gets the seqlock rounds
alone, from the same function.

A book is audited one at a time (:func:`book_snapshot`): its currency record, its region
and every account's stake on it are written only under that currency's lock with its
``version`` odd, so the same seqlock proves a copy of them consistent; failing that, the
copy is made under that one lock, never under all of them.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Final, NamedTuple

from sim.core import layout as L
from sim.core.book_checks import BookCopy
from sim.core.exchange import Exchange
from sim.core.gathered import SampleRow
from sim.core.transaction import recover_currency

__all__ = ["BOOK_ROUNDS", "LOCK_AFTER", "OPTIMISTIC", "SETTLED", "SNAPSHOT_ROUNDS", "TRYLOCK",
           "WAITED", "Copy", "book_snapshot", "snapshot_into"]

SNAPSHOT_ROUNDS: Final = 16
# Gathers per round, back to back: enough for a writer on another CPU to commit.
SPINS: Final = 4
# Rounds of optimistic tries alone before every lock is also tried (without waiting).
LOCK_AFTER: Final = 4
# The pause between rounds: a sleep, not ``sched_yield``. A yield does not hand the CPU
# to a preempted holder (under EEVDF the reader's short-slice deadline stays the
# earliest), so yielding rounds fail together. Measured at 1 kHz over 2 s runs, with
# every lock tried from the first round: with yields 78 of 1,375 samples ended up
# waiting for every lock, with sleeps 2 of 1,572.
PAUSE_S: Final = 0.00002
# A reader that cannot lock retries back to back this many times, then sleeps between
# tries: a writer preempted inside its transaction keeps a version odd for a whole time
# slice, and spinning cannot help it where sleeping gives it the CPU back.
TIGHT_TRIES: Final = 20
RETRY_SLEEP_S: Final = 0.0002
# How a copy was made (``Copy.mode``): by the seqlock alone, under every lock taken
# without waiting, or under every lock waited for.
OPTIMISTIC: Final = 0
TRYLOCK: Final = 1
WAITED: Final = 2
# A book's copy is megabytes: a trade or two lands during most, so after this many tries
# it is made under the currency's lock (once per audit, a millisecond or so).
BOOK_ROUNDS: Final = 3
_VERSION: Final = L.CURRENCY.word("version")
_INFLIGHT: Final = L.CURRENCY.word("inflight")


class Copy(NamedTuple):
    """How a copy was made: whether it is consistent, whether it took every lock, how
    many dead holders' transactions it rolled back, how many rounds it took, and how
    (``OPTIMISTIC``, ``TRYLOCK`` or ``WAITED``)."""

    consistent: bool
    locked: bool
    rolled_back: int
    tries: int
    mode: int = OPTIMISTIC


# The copy of a first gather that settled (the common case: one object, never rebuilt).
SETTLED: Final = Copy(True, False, 0, 1, OPTIMISTIC)


def snapshot_into(ex: Exchange, dst: memoryview | SampleRow, rounds: int = SNAPSHOT_ROUNDS, *,
                  locking: bool = True, full: bool = False) -> Copy:
    """Copy into ``dst``: a ``SampleRow`` of ``ex`` (``ex.sample_row()``) takes a
    sample's gathered words; a byte buffer of ``ex.tables_size(full)`` bytes takes the
    currency and writer tables, and with ``full`` the accounts too.

    Each round tries optimistic (seqlock) copies (a gather ``SPINS`` times back to
    back), then from round ``LOCK_AFTER`` on (and in the last round) every lock without
    waiting (giving back what it got if one is taken), then pauses; after ``rounds``
    rounds it waits for every lock in turn, so the copy is consistent unless the policy
    is ``none`` (then it is copied once and marked torn).

    Without ``locking`` (a read-only mapping cannot take a process-shared lock) the rounds
    are seqlock tries alone, paced by ``TIGHT_TRIES``; if none settles, the last copy is
    returned marked inconsistent. The seqlock is then all the caller has, under any
    policy: under ``none`` it proves nothing, and the caller must say so.
    """
    if isinstance(dst, SampleRow):
        # The common case first, at the least cost (a monitor runs this 1,000 times a
        # second, each time with cold caches): one gather that settles.
        if dst.gather(ex.words) and not (locking and dst.unguarded):
            return SETTLED
        tries = SPINS
    else:
        tries = 1
    if locking and ex.locks.name == "none":
        _copy(ex, dst, full)
        return Copy(False, False, 0, 1)
    vw = [b + _VERSION for b in ex.cur_base]
    rolled = 0
    for k in range(1, rounds + 1):
        for _ in range(tries):
            if _optimistic(ex, dst, full, vw):
                return Copy(True, False, rolled, k, OPTIMISTIC)
        if not locking:
            if k >= TIGHT_TRIES:
                time.sleep(RETRY_SLEEP_S)
            continue
        if k >= LOCK_AFTER or k == rounds:
            took, r = _try_every_lock(ex, dst, full, vw)
            rolled += r
            if took:
                return Copy(True, True, rolled, k, TRYLOCK)
        if k < rounds:
            # Most likely a holder this wake-up preempted: give it the CPU to finish,
            # rather than end up waiting for every lock while it is descheduled.
            time.sleep(PAUSE_S)
    if not locking:
        _copy(ex, dst, full)
        return Copy(False, False, 0, rounds)
    return Copy(True, True, _locked_copy(ex, dst, vw, rolled, full), rounds + 1, WAITED)


def _copy(ex: Exchange, dst: memoryview | SampleRow, full: bool) -> None:
    if isinstance(dst, SampleRow):
        dst.gather(ex.words)
    else:
        ex.copy_tables_into(dst, full)


def _optimistic(ex: Exchange, dst: memoryview | SampleRow, full: bool, vw: list[int]) -> bool:
    """One seqlock try: whether ``dst`` now holds a state no transaction was writing."""
    if isinstance(dst, SampleRow):
        return dst.gather(ex.words)  # the versions are in the row, before and after the words
    q = ex.q
    before = [q[w] for w in vw]
    if any(v & 1 for v in before):
        return False
    ex.copy_tables_into(dst, full)
    return all(q[w] == v for w, v in zip(vw, before, strict=True))


def _try_every_lock(ex: Exchange, dst: memoryview | SampleRow, full: bool,
                    vw: list[int]) -> tuple[bool, int]:
    """Every lock without waiting: if all were free, copy under them. Returns whether it
    copied and how many dead holders' transactions it rolled back."""
    locks = ex.locks
    got: list[int] = []
    rolled = 0
    # A garbage collection while every lock is held would stall every trader for its
    # whole length: none runs until they are given back.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for i in locks.lock_ids():
            died = locks.try_acquire(i)
            if died is None:
                return False, rolled
            got.append(i)
            if died:  # held now: settle what its dead holder left, as a trader would
                rolled += sum(recover_currency(ex, c) for c in locks.covered(i))
        rolled += _recover_leftovers(ex, vw)
        _copy(ex, dst, full)
        return True, rolled
    finally:
        for i in reversed(got):
            locks.release(i)
        if collecting:
            gc.enable()


def _recover_leftovers(ex: Exchange, vw: list[int]) -> int:
    """Under every lock: recover any currency a dead holder left mid-transaction (for
    OFD the kernel does not say who died)."""
    q = ex.q
    rolled = 0
    for c in range(ex.geo.n_currencies):
        if q[ex.cur_base[c] + _INFLIGHT] != L.NO_WRITER or q[vw[c]] & 1:
            rolled += recover_currency(ex, c)
    return rolled


def _locked_copy(ex: Exchange, dst: memoryview | SampleRow, vw: list[int], rolled: int,
                 full: bool) -> int:
    locks = ex.locks
    collecting = gc.isenabled()
    gc.disable()
    try:
        locks.acquire_all()
        try:
            rolled += _recover_leftovers(ex, vw)
            _copy(ex, dst, full)
        finally:
            locks.release_all()
    finally:
        if collecting:
            gc.enable()
    return rolled


def book_snapshot(ex: Exchange, c: int, dst: BookCopy, rounds: int = BOOK_ROUNDS, *,
                  locking: bool = True) -> Copy:
    """Copy currency ``c``'s record, book region and stakes into ``dst``, consistently:
    up to ``rounds`` seqlock tries, then under ``c``'s lock (recovering what a dead
    holder left). Without ``locking``, or under the ``none`` policy, a copy no try
    settled is returned marked inconsistent. Raises ``LockTimeout`` as a lock wait does.
    """
    q = ex.q
    vw = ex.cur_base[c] + _VERSION
    unlocked = not locking or ex.sync == "none"
    for k in range(1, rounds + 1):
        v = q[vw]
        if not v & 1:
            dst.take(ex.q, ex.b, ex.geo, c)
            if q[vw] == v:
                return Copy(True, False, 0, k, OPTIMISTIC)
        os.sched_yield()
    if unlocked:
        return Copy(False, False, 0, rounds)
    locks = ex.locks
    collecting = gc.isenabled()
    gc.disable()
    try:
        died = locks.acquire(c)
        try:
            rolled = 0
            for r in locks.covered(c) if died else (c,):
                if died or _left_over(ex, r):
                    rolled += recover_currency(ex, r)
            dst.take(ex.q, ex.b, ex.geo, c)
        finally:
            locks.release(c)
    finally:
        if collecting:
            gc.enable()
    return Copy(True, True, rolled, rounds + 1, WAITED)


def _left_over(ex: Exchange, c: int) -> bool:
    """Whether currency ``c`` shows a transaction a dead holder left (its lock held)."""
    q = ex.q
    cb = ex.cur_base[c]
    return bool(q[cb + _INFLIGHT] != L.NO_WRITER or q[cb + _VERSION] & 1
                or (ex.is_book(c) and ex.book(c).journal_state()))
