"""The state of a file nobody trades on: settle what the dead left, then judge it.

``settle`` finishes every journal a dead process left and drains every ring; it is
idempotent, so it is safe after a clean stop, after a crash, and when a settler is itself
killed. ``final_check`` is the verdict at quiescence: every invariant on an untorn copy,
plus no transaction in flight and (given the ledger's row count) a complete ledger; in a
file with books, every book's checks too (sim/core/book_checks.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core import invariants as inv
from sim.core import layout as L
from sim.core.book_checks import BOOK_AUDIT_NAMES, BookCopy, Ladders, audit_book
from sim.core.exchange import Exchange
from sim.core.ledger import drain_writer
from sim.core.transaction import lock_and_recover, recover_currency, recover_writer

__all__ = ["audit_books", "final_check", "settle"]


def settle(ex: Exchange) -> dict[str, int]:
    """At quiescence: finish every journal a dead process left and drain every ring."""
    rolled = drained = 0
    wri = ex.writers()
    for w in np.flatnonzero(wri["status"] != L.SLOT_FREE):
        rolled += recover_writer(ex, int(w))
    for c in range(ex.geo.n_currencies):
        if ex.q[ex.cword(c, "inflight")] != L.NO_WRITER or ex.q[ex.cword(c, "version")] & 1:
            rolled += lock_and_recover(ex, c)
            try:
                rolled += recover_currency(ex, c)
            finally:
                ex.locks.release(c)
    for w in np.flatnonzero(wri["status"] != L.SLOT_FREE):
        drained += drain_writer(ex, int(w))
    return {"rolled_back": rolled, "drained_rows": drained}


def final_check(ex: Exchange, ledger_rows: int | None = None) -> dict[str, Any]:
    """The verdict at quiescence: every invariant and every audit check on one copy of
    all tables, plus journals and ledger completeness."""
    cur, wri, acc = ex.copy_all()
    ladders = Ladders.of(ex.q, ex.geo)
    found = inv.check_all(cur, wri, None, scale=ex.scale, ladders=ladders)
    found.update(inv.audit(cur, wri, acc))
    if ladders is not None:
        found.update(audit_books(ex))
    claimed = wri["status"] != L.SLOT_FREE
    open_journals = [int(w) for w in np.flatnonzero(claimed & (wri["j_state"] != 0))]
    inflight = [int(c) for c in np.flatnonzero(cur["inflight"] != L.NO_WRITER)]
    found["no_transaction_in_flight"] = (
        [f"writer {w}: journal still active" for w in open_journals]
        + [f"currency {c}: names writer {cur['inflight'][c]} in flight" for c in inflight])
    if ledger_rows is not None:
        committed = int(wri["log_count"][claimed].sum())
        found["ledger_complete"] = ([] if committed == ledger_rows else
                                    [f"ledger has {ledger_rows} rows, writers committed "
                                     f"{committed}"])
    return {"ok": not any(found.values()), "violations": {k: v for k, v in found.items() if v}}


def audit_books(ex: Exchange) -> dict[str, list[str]]:
    """Every book's audit checks, each book copied as it is (nobody trades on the file):
    ``{check: [details]}`` over :data:`BOOK_AUDIT_NAMES`."""
    found: dict[str, list[str]] = {n: [] for n in BOOK_AUDIT_NAMES}
    names = ex.names()
    dst = BookCopy(ex.geo.n_accounts, ex.geo.book_words)
    for c in ex.geo.books:
        dst.take(ex.q, ex.b, ex.geo, c)
        for name, details in audit_book(dst, names[c]).items():
            found[name] += details
    return found
