"""Late joiners: claim a free writer record and fund a free account, atomically.

A coordinator funds its agents' accounts before any process attaches. A process that
joins a running file (``sim trade``, a C trader without ``--writer``) claims a free
writer and a free account under the registry mutex; funding changes the conserved totals,
so it also happens under every currency lock and moves currency 0's seqlock version: no
snapshot sees half a claim. A lock inherited from a dead holder is settled first, as a
trader would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core import layout as L
from sim.core.exchange import Exchange, Funding
from sim.core.transaction import recover_currency
from sim.errors import NoFreeSlot

__all__ = ["join"]


def _first_free(status: np.ndarray[Any, np.dtype[np.int64]]) -> int | None:
    free = np.flatnonzero(status == L.SLOT_FREE)
    return int(free[0]) if len(free) else None


def join(ex: Exchange, kind: int, cash: int, holdings: list[int], *, pid: int = 0,
         writer: int | None = None) -> tuple[int, int]:
    """Claim a writer (``writer`` if given, else the first free one) and a free account
    funded with ``cash`` and ``holdings``; returns (writer, account)."""
    registry = ex.registry
    registry.acquire(0)
    try:
        wri = ex.writers()
        if writer is None:
            w = _first_free(wri["status"])
            if w is None:
                raise NoFreeSlot(f"{ex.path}: all {ex.geo.n_writers} writer records are taken")
        elif not 0 <= writer < ex.geo.n_writers or wri["status"][writer] != L.SLOT_FREE:
            raise NoFreeSlot(f"{ex.path}: writer {writer} is not free")
        else:
            w = writer
        del wri
        a = _first_free(ex.accounts()["status"])
        if a is None:
            raise NoFreeSlot(f"{ex.path}: all {ex.geo.n_accounts} accounts are taken")
        locks = ex.locks
        if locks.acquire_all():
            for c in range(ex.geo.n_currencies):
                recover_currency(ex, c)
        v = ex.cword(0, "version")
        try:
            ex.q[v] += 1
            ex.activate_writer(w, kind, pid)
            ex.fund(a, Funding(w, cash, holdings))
            ex.q[v] += 1
        finally:
            locks.release_all()
    finally:
        registry.release(0)
    return w, a
