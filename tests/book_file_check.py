"""Exact checks of an exchange file with books, computed from its tables alone.

Conservation of cash and of each currency's units counting pools, reserves and due cash
against the accounts' endowments; the currency records' mirrors against the sums over
the stakes and against the books; each writer's totals against its accounts; every
book's structure and every account's reserves.
"""

from __future__ import annotations

from sim.core.book_invariants import check_book, reserves_match
from sim.core.book_layout import BUY, SELL
from sim.core.exchange import Exchange
from sim.core.stakes import StakeAccounts

__all__ = ["check_file"]


def check_file(ex: Exchange) -> None:
    """Assert every exact invariant of ``ex`` (no process may be trading)."""
    cur, wri, acc = ex.copy_all()
    st = ex.stakes()
    live = acc["status"] == 1
    cash = int(acc["cash"].sum()) + int(cur["cash_reserve"].sum())
    want_cash = int(acc["init_cash"][live].sum()) + int(cur["init_cash_reserve"].sum())
    for c in ex.geo.books:
        assert int(cur["book_reserved_cash"][c]) == int(st["reserved_cash"][:, c].sum())
        assert int(cur["book_reserved_units"][c]) == int(st["reserved_units"][:, c].sum())
        assert int(cur["book_due_cash"][c]) == int(st["due_cash"][:, c].sum())
        cash += int(cur["book_reserved_cash"][c]) + int(cur["book_due_cash"][c])
        b = ex.book(c)
        assert int(cur["best_bid"][c]) == b.best(BUY)
        assert int(cur["best_ask"][c]) == b.best(SELL)
        assert int(cur["book_live"][c]) == b.counter("live")
        assert b.journal_state() == 0
        found = check_book(ex.q, b.base)
        assert found == {k: [] for k in found}, found
        assert reserves_match(ex.q, [b.base], StakeAccounts(ex.geo, c),
                              ex.geo.n_accounts) == []
    assert cash == want_cash, (cash, want_cash)
    for c in range(ex.geo.n_currencies):
        units = int(acc["holdings"][:, c].sum()) + int(cur["unit_reserve"][c])
        if c in ex.geo.books:
            units += int(cur["book_reserved_units"][c])
        want = int(acc["init_holdings"][live, c].sum()) + int(cur["init_unit_reserve"][c])
        assert units == want, (c, units, want)
    for w in range(ex.geo.n_writers):
        mine = acc["writer"] == w
        assert int(wri["tot_cash"][w]) == int(acc["cash"][mine].sum())
        assert (wri["tot_holdings"][w] == acc["holdings"][mine].sum(axis=0)).all()
