"""What currencies and accounts are worth: rates and each account's wealth, in floats.

For display and results only (samples, summaries, the watch screen); no invariant reads
these. Works on one snapshot (``cur`` of C currencies, ``acc`` of S accounts or writers)
or a batch of them (B x C, B x S) alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core import layout as L

__all__ = ["owned", "rates", "wealth", "writer_wealth"]

Table = np.ndarray[Any, np.dtype[np.void]]
Floats = np.ndarray[Any, np.dtype[np.float64]]


def rates(cur: Table, *, initial: bool = False) -> Floats:
    """Home money per unit of each currency, now or at creation (``initial``): a pool's
    cash over its units, a book's last fill (its rate at creation before the first). An
    emptied pool (never, unless the file is damaged) is inf."""
    cash, units = (("init_cash_reserve", "init_unit_reserve") if initial
                   else ("cash_reserve", "unit_reserve"))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: Floats = cur[cash].astype(np.float64) / cur[units].astype(np.float64)
    book = cur["market"] == L.MARKET_BOOK
    if book.any():
        out = np.where(book, cur["init_rate" if initial else "last_rate"], out)
    return out


def owned(acc: Table, stakes: Table) -> Table:
    """A copy of the account table with what each account owns on the books folded in:
    its due and reserved cash into ``cash``, its reserved units into ``holdings`` (``stakes``
    is the A x C stake table, empty without books)."""
    out = acc.copy()
    if stakes.size:
        n = min(len(acc), len(stakes))
        nc = stakes.shape[1]
        out["cash"][:n] += (stakes["due_cash"][:n] + stakes["reserved_cash"][:n]).sum(axis=1)
        out["holdings"][:n, :nc] += stakes["reserved_units"][:n]
    return out


def wealth(acc: Table, rate: Floats, scale: int, *, initial: bool = False) -> Floats:
    """Each account's cash plus holdings valued at ``rate``, in units of home money (NaN
    for a free account); with ``initial``, its endowment when it was funded."""
    cash, held = ("init_cash", "init_holdings") if initial else ("cash", "holdings")
    return _worth(acc, cash, held, rate, scale)


def writer_wealth(wri: Table, rate: Floats, scale: int, *, initial: bool = False) -> Floats:
    """What each writer's accounts hold together (its running totals) valued at ``rate``
    (NaN for a free writer); with ``initial``, their endowments."""
    cash, held = (("init_tot_cash", "init_tot_holdings") if initial
                  else ("tot_cash", "tot_holdings"))
    return _worth(wri, cash, held, rate, scale)


def _worth(table: Table, cash: str, held: str, rate: Floats, scale: int) -> Floats:
    nc = rate.shape[-1]
    out: Floats = (table[cash].astype(np.float64)
                   + np.einsum("...sc,...c->...s", table[held][..., :nc].astype(np.float64),
                               rate)) / scale
    out[table["status"] == L.SLOT_FREE] = np.nan
    return out
