"""Processes killed in the middle of orders on limit order books: nothing is lost.

Market makers, value and noise agents trade on two books; one order in five pauses
halfway through its stores (a multi-fill match is a few dozen stores), and trader
processes are SIGKILLed every 40 ms and restarted. Every kill inside an order is rolled
back by the next holder of the book's lock; at the end every exact invariant of the file
holds (conservation with reserves and due cash, the books' structure, each account's
reserves, the currency records' mirrors, the writers' totals), no order is in flight,
the monitor saw no violation, and replaying the ledger rebuilds every book exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.core.exchange import Exchange
from sim.tools.check import replay
from tests.book_file_check import check_file
from tests.integration.harness import run

BOOK_TRADERS = [
    {"count": 2, "strategy": "market_maker", "cash": 100000, "holdings": 50000,
     "arrival": {"kind": "poisson", "rate_hz": 400}},
    {"count": 8, "strategy": "value", "cash": 20000, "holdings": 10000,
     "arrival": {"kind": "poisson", "rate_hz": 100}},
    {"count": 30, "strategy": "noise", "cash": 10000, "holdings": 5000},
]


@pytest.mark.timeout(120)
def test_kills_in_the_middle_of_book_orders_lose_nothing(tmp_path: Path) -> None:
    out = run(tmp_path, duration_s=2.5, processes=2, market="book", scale=10000,
              fee_bps=0, traders=BOOK_TRADERS,
              currencies=[{"name": "EUR", "rate": 1.1}, {"name": "GBP", "rate": 1.27}],
              faults={"kill_traders": 40, "after_s": 0.2, "every_s": 0.05, "restart": True,
                      "pause_in_txn_us": 1000, "pause_prob": 0.2})
    s = out.summary
    f = s.faults
    assert f.kills >= 30 and f.restarts >= 25, f
    assert f.kills_in_transaction >= 3, f
    assert f.rolled_back >= f.kills_in_transaction, f
    assert s.final_ok and s.live_violations == 0, (s.final_violations, s.monitor)
    assert out.exit_status == 0
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        check_file(ex)
        assert replay(ex) == []
        fills = sum(ex.book(c).counter("fills") for c in ex.geo.books)
        assert fills > 100
