"""The state of a file nobody trades on: settle what the dead left, then judge it.

``settle`` finishes every journal a dead process left and drains every ring; it is
idempotent, so it is safe after a clean stop, after a crash, and when a settler is itself
killed. ``final_check`` is the verdict at quiescence: every invariant on an untorn copy,
plus no transaction in flight and (given the ledger's row count) a complete ledger.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.core.ledger import drain_slot
from sim.core.transaction import lock_and_recover, recover_currency, recover_slot

__all__ = ["final_check", "settle"]


def settle(ex: Exchange) -> dict[str, int]:
    """At quiescence: finish every journal a dead process left and drain every ring."""
    rolled = drained = 0
    acc = ex.accounts()
    for s in np.flatnonzero(acc["status"] != L.SLOT_FREE):
        rolled += recover_slot(ex, int(s))
    for c in range(ex.geo.n_currencies):
        if ex.q[ex.cword(c, "inflight")] != L.NO_SLOT or ex.q[ex.cword(c, "version")] & 1:
            rolled += lock_and_recover(ex, c)
            try:
                rolled += recover_currency(ex, c)
            finally:
                ex.locks.release(c)
    for s in np.flatnonzero(acc["status"] != L.SLOT_FREE):
        drained += drain_slot(ex, int(s))
    return {"rolled_back": rolled, "drained_rows": drained}


def final_check(ex: Exchange, ledger_rows: int | None = None) -> dict[str, Any]:
    """The verdict at quiescence: every invariant, plus journals and ledger completeness."""
    cur, acc = ex.copy_tables()
    found = inv.check_all(cur, acc, None, scale=ex.scale)
    claimed = acc["status"] != L.SLOT_FREE
    open_journals = [int(s) for s in np.flatnonzero(claimed & (acc["j_state"] != 0))]
    inflight = [int(c) for c in np.flatnonzero(cur["inflight"] != L.NO_SLOT)]
    found["no_transaction_in_flight"] = (
        [f"slot {s}: journal still active" for s in open_journals]
        + [f"currency {c}: names slot {cur['inflight'][c]} in flight" for c in inflight])
    if ledger_rows is not None:
        committed = int(acc["log_count"][claimed].sum())
        found["ledger_complete"] = ([] if committed == ledger_rows else
                                    [f"ledger has {ledger_rows} rows, accounts committed "
                                     f"{committed}"])
    return {"ok": not any(found.values()), "violations": {k: v for k, v in found.items() if v}}
