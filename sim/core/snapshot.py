"""Consistent snapshots of the mapped tables, for readers that must not see a torn state.

A snapshot is first tried optimistically (seqlock): read every currency's ``version``,
copy the tables, read the versions again; if all were even and none moved, no
transaction wrote during the copy, because every write to a pool, an account or a
writer's totals happens while its currency's version is odd. A sample copies currencies
and writers (small: it usually fits between two trades); an audit (``full``) copies the
accounts too. When that fails it tries every lock without waiting
and copies under them (recovering anything a dead holder left); only after
``SNAPSHOT_ROUNDS`` rounds of both does it wait for the locks, so it is never starved.
Under ``sync: none`` there is nothing to make a copy consistent: the copy is marked torn.
"""

from __future__ import annotations

from typing import Final

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.transaction import recover_currency

__all__ = ["SNAPSHOT_ROUNDS", "snapshot_into"]

# Under full load a copy rarely fits between two trades, so each round also tries every
# lock without waiting: held for one copy (a few microseconds), they cost the traders a
# short spin, never a sleep. Only after this many rounds does the monitor wait for them.
SNAPSHOT_ROUNDS: Final = 16
_VERSION: Final = L.CURRENCY.word("version")
_INFLIGHT: Final = L.CURRENCY.word("inflight")


def snapshot_into(ex: Exchange, dst: memoryview, rounds: int = SNAPSHOT_ROUNDS,
                  full: bool = False) -> tuple[bool, bool, int]:
    """Copy the tables into ``dst`` (``ex.tables_size(full)`` bytes): (consistent, taken
    under the locks, rolled back).

    Consistent unless the policy is ``none``. Each round tries an optimistic copy, then
    every lock without waiting (giving back what it got if one is taken); after
    ``rounds`` rounds it waits for every lock in turn.
    """
    q = ex.q
    vw = [b + _VERSION for b in ex.cur_base]
    if ex.sync == "none":
        ex.copy_tables_into(dst, full)
        return False, False, 0
    locks = ex.locks
    ids = locks.lock_ids()
    rolled = 0
    for _ in range(rounds):
        before = [q[w] for w in vw]
        if not any(v & 1 for v in before):
            ex.copy_tables_into(dst, full)
            if all(q[w] == v for w, v in zip(vw, before, strict=True)):
                return True, False, rolled
        got: list[int] = []
        try:
            for i in ids:
                died = locks.try_acquire(i)
                if died is None:
                    break
                got.append(i)
                if died:  # held now: settle what its dead holder left, as a trader would
                    rolled += sum(recover_currency(ex, c) for c in locks.covered(i))
            else:
                rolled += _recover_leftovers(ex, vw)
                ex.copy_tables_into(dst, full)
                return True, True, rolled
        finally:
            for i in reversed(got):
                locks.release(i)
    return _locked_copy(ex, dst, vw, rolled, full)


def _recover_leftovers(ex: Exchange, vw: list[int]) -> int:
    """Under every lock: recover any currency a dead holder left mid-transaction (for
    OFD the kernel does not say who died)."""
    q = ex.q
    rolled = 0
    for c in range(ex.geo.n_currencies):
        if q[ex.cur_base[c] + _INFLIGHT] != L.NO_WRITER or q[vw[c]] & 1:
            rolled += recover_currency(ex, c)
    return rolled


def _locked_copy(ex: Exchange, dst: memoryview, vw: list[int],
                 rolled: int, full: bool) -> tuple[bool, bool, int]:
    locks = ex.locks
    locks.acquire_all()
    try:
        rolled += _recover_leftovers(ex, vw)
        ex.copy_tables_into(dst, full)
    finally:
        locks.release_all()
    return True, True, rolled
