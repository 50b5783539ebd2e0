"""Named invariants: pure functions over a decoded snapshot of the exchange tables.

Each check returns a list of human-readable details, empty when the invariant holds.
Conservation is exact integer arithmetic: no tolerance anywhere. The monitor runs every
check on every sample (up to 1 kHz), so the sums a snapshot needs are computed once, in
numpy, and details are only formatted for an invariant that fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from . import layout as L

__all__ = ["NAMES", "Facts", "Previous", "check_all", "remember", "totals"]

_CUR_COUNTERS: Final = ("seq", "volume_units", "volume_cash")
_SLOT_COUNTERS: Final = ("trades", "rejected")
NAMES: Final = (
    "cash_conserved",
    "units_conserved",
    "non_negative",
    "k_non_decreasing",
    "counters_monotone",
    "trade_counts_agree",
)

Table = np.ndarray[Any, np.dtype[np.void]]
Ints = np.ndarray[Any, np.dtype[np.int64]]


@dataclass
class Previous:
    """What the monotonicity checks remember from the last consistent snapshot."""

    k: list[int]
    counters: list[list[int]]  # seq, volume_units, volume_cash: per currency
    slot_counters: list[Ints]  # trades, rejected: per slot; -1 where the slot was free


class Facts:
    """The sums and masks every invariant reads, computed once per snapshot."""

    def __init__(self, cur: Table, acc: Table) -> None:
        self.cur = cur
        self.acc = acc
        self.nc = nc = len(cur)
        self.claimed = acc["status"] != L.SLOT_FREE
        a = acc[self.claimed]
        self.a = a
        # Python ints: exact whatever the magnitudes.
        self.cash = int(a["cash"].sum()) + int(cur["cash_reserve"].sum())
        self.init_cash = int(a["init_cash"].sum()) + int(cur["init_cash_reserve"].sum())
        self.units = (a["holdings"][:, :nc].sum(axis=0) + cur["unit_reserve"]).tolist()
        self.init_units = (a["init_holdings"][:, :nc].sum(axis=0)
                           + cur["init_unit_reserve"]).tolist()
        self.k = [a_ * b_ for a_, b_ in zip(cur["cash_reserve"].tolist(),
                                            cur["unit_reserve"].tolist(), strict=True)]
        self.counters = [cur[n].tolist() for n in _CUR_COUNTERS]
        self.slot_counters = [np.where(self.claimed, acc[n], -1) for n in _SLOT_COUNTERS]

    def names(self) -> list[str]:
        return [L.decode_name(bytes(n)) for n in self.cur["name"]]


def totals(cur: Table, acc: Table) -> dict[str, Any]:
    """Current and initial totals of cash and of each currency's units."""
    f = Facts(cur, acc)
    return {"cash": f.cash, "init_cash": f.init_cash, "units": f.units,
            "init_units": f.init_units}


def cash_conserved(f: Facts) -> list[str]:
    if f.cash != f.init_cash:
        return [f"total cash {f.cash} != initial {f.init_cash} "
                f"(diff {f.cash - f.init_cash:+d})"]
    return []


def units_conserved(f: Facts) -> list[str]:
    if f.units == f.init_units:
        return []
    return [f"{name}: total units {now} != initial {init} (diff {now - init:+d})"
            for name, now, init in zip(f.names(), f.units, f.init_units, strict=True)
            if now != init]


def non_negative(f: Facts) -> list[str]:
    cur, acc, nc = f.cur, f.acc, f.nc
    bad_pool = (cur["cash_reserve"] <= 0) | (cur["unit_reserve"] <= 0)
    bad_cash = f.claimed & (acc["cash"] < 0)
    bad_hold = f.claimed[:, None] & (acc["holdings"][:, :nc] < 0)
    if not (bad_pool.any() or bad_cash.any() or bad_hold.any()):
        return []
    names = f.names()
    out = [f"{names[c]}: pool reserves must stay > 0 (cash {cur['cash_reserve'][c]}, "
           f"units {cur['unit_reserve'][c]})" for c in np.flatnonzero(bad_pool)]
    out += [f"slot {s}: cash {acc['cash'][s]} < 0" for s in np.flatnonzero(bad_cash)]
    out += [f"slot {s}: holding of {names[c]} is {acc['holdings'][s, c]} < 0"
            for s, c in zip(*np.nonzero(bad_hold), strict=True)]
    return out


def k_non_decreasing(f: Facts, prev: Previous | None) -> list[str]:
    cur = f.cur
    init = [a * b for a, b in zip(cur["init_cash_reserve"].tolist(),
                                  cur["init_unit_reserve"].tolist(), strict=True)]
    out = []
    for c in range(f.nc):
        if f.k[c] < init[c]:
            out.append(f"{f.names()[c]}: k {f.k[c]} < initial {init[c]}")
        elif prev is not None and f.k[c] < prev.k[c]:
            out.append(f"{f.names()[c]}: k decreased from {prev.k[c]} to {f.k[c]}")
    return out


def counters_monotone(f: Facts, prev: Previous | None) -> list[str]:
    if prev is None:
        return []
    out = []
    for i, name in enumerate(_CUR_COUNTERS):
        for c, (now, was) in enumerate(zip(f.counters[i], prev.counters[i], strict=True)):
            if now < was:
                out.append(f"{f.names()[c]}: {name} went back from {was} to {now}")
    for i, name in enumerate(_SLOT_COUNTERS):
        now_s, was_s = f.slot_counters[i], prev.slot_counters[i]
        back = now_s < was_s
        if back.any():
            out += [f"slot {s}: {name} went back from {was_s[s]} to {now_s[s]}"
                    for s in np.flatnonzero(back & f.claimed)]
    return out


def trade_counts_agree(f: Facts) -> list[str]:
    pools = int(f.cur["seq"].sum())
    accounts = int(f.a["trades"].sum())
    if pools != accounts:
        return [f"pools counted {pools} trades, accounts {accounts} "
                f"({accounts - pools:+d} lost updates)"]
    return []


def remember(cur: Table, acc: Table, facts: Facts | None = None) -> Previous:
    f = facts or Facts(cur, acc)
    return Previous(k=f.k, counters=f.counters, slot_counters=f.slot_counters)


def check_all(cur: Table, acc: Table, prev: Previous | None = None,
              facts: Facts | None = None) -> dict[str, list[str]]:
    """Every invariant on one snapshot: ``{name: [details of each violation]}``."""
    f = facts or Facts(cur, acc)
    return {
        "cash_conserved": cash_conserved(f),
        "units_conserved": units_conserved(f),
        "non_negative": non_negative(f),
        "k_non_decreasing": k_non_decreasing(f, prev),
        "counters_monotone": counters_monotone(f, prev),
        "trade_counts_agree": trade_counts_agree(f),
    }
