"""What the pools and accounts are worth: pool rates and each account's wealth, in floats.

For display and results only (samples, summaries, the watch screen); no invariant reads
these. Works on one snapshot (``cur`` of C currencies, ``acc`` of S slots) or a batch of
them (B x C, B x S) alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core import layout as L

__all__ = ["pool_rates", "wealth"]

Table = np.ndarray[Any, np.dtype[np.void]]
Floats = np.ndarray[Any, np.dtype[np.float64]]


def pool_rates(cur: Table, *, initial: bool = False) -> Floats:
    """Home money per unit of each currency: the pool's cash over its units, now or at
    creation (``initial``). An emptied pool (never, unless the file is damaged) is inf."""
    cash, units = (("init_cash_reserve", "init_unit_reserve") if initial
                   else ("cash_reserve", "unit_reserve"))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: Floats = cur[cash].astype(np.float64) / cur[units].astype(np.float64)
    return out


def wealth(acc: Table, rate: Floats, scale: int, *, initial: bool = False) -> Floats:
    """Each slot's cash plus holdings valued at ``rate``, in units of home money (NaN for a
    free slot); with ``initial``, its endowment when it was claimed."""
    cash, held = ("init_cash", "init_holdings") if initial else ("cash", "holdings")
    nc = rate.shape[-1]
    out: Floats = (acc[cash].astype(np.float64)
                   + np.einsum("...sc,...c->...s", acc[held][..., :nc].astype(np.float64),
                               rate)) / scale
    out[acc["status"] == L.SLOT_FREE] = np.nan
    return out
