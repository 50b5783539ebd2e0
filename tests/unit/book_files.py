"""Small exchange files with limit order books, for the tools' tests.

EUR is a book of 200 ticks from 1.0000 to 1.0199 cash per unit (a lot is one unit), USD a
pool, GBP a book whose lot is a tenth of a unit and whose tick is 0.002 (1.070 to 1.468).
Accounts 0..3 are funded (writers 0 and 1 host them); the rest are free for ``sim
trade`` to join.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from sim.core import layout as L
from sim.core.exchange import BookSpec, CurrencySpec, Exchange, Funding

__all__ = ["CASH", "FUNDED", "SCALE", "UNITS", "book_exchange"]

SCALE: Final = 10_000
CASH: Final = 5_000 * SCALE
UNITS: Final = 2_000 * SCALE
FUNDED: Final = 4
POOL: Final = 100_000 * SCALE


def book_exchange(tmp_path: Path, n_writers: int = 4, n_accounts: int = 6) -> Exchange:
    specs = [CurrencySpec("EUR", 0, 0, BookSpec(10_000, 1, SCALE, 1.01)),
             CurrencySpec("USD", POOL, POOL),
             CurrencySpec("GBP", 0, 0, BookSpec(1_070, 2, SCALE // 10, 1.27))]
    ex = Exchange.create(str(tmp_path / L.EXCHANGE_FILE), specs, n_writers=n_writers,
                         n_accounts=n_accounts, ring_rows=256, scale=SCALE, fee_bps=0,
                         book_shape=(200, 256, 16), lock_timeout_ms=5000)
    ex.fund_accounts([Funding(a % 2, CASH, [UNITS] * 3) for a in range(FUNDED)],
                     {0: L.KIND_TRADER, 1: L.KIND_TRADER})
    (tmp_path / "ledger").mkdir()
    return ex

