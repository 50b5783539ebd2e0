"""Shared fixtures: small exchange files in tmp_path, hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from sim.core import layout as L
from sim.core.exchange import CurrencySpec, Exchange, Funding

settings.register_profile("default", deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

CURRENCIES = [CurrencySpec("EUR", 110_000_00, 100_000_00), CurrencySpec("USD", 100_000_00,
                                                                        100_000_00)]


def make_exchange(path: Path, sync: str = "per_currency", n_funded: int = 2,
                  n_slots: int = 4, currencies: list[CurrencySpec] | None = None,
                  ring_rows: int = 64, n_accounts: int | None = None) -> Exchange:
    """A new file with ``n_slots`` writers and (by default) as many accounts; accounts
    0..n_funded-1 funded, account i hosted by writer i."""
    cur = currencies or CURRENCIES
    ex = Exchange.create(str(path), cur, n_writers=n_slots,
                         n_accounts=n_slots if n_accounts is None else n_accounts,
                         ring_rows=ring_rows, sync=sync, lock_timeout_ms=5000)
    ex.fund_accounts([Funding(i, 10_000_00, [100_00] * len(cur)) for i in range(n_funded)],
                     dict.fromkeys(range(n_funded), L.KIND_TRADER))
    return ex


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    ex = make_exchange(tmp_path / "exchange.dat")
    yield ex
    ex.close()
