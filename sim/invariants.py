"""Named invariants: pure functions over a decoded snapshot of the exchange tables.

Each check returns a list of human-readable details, empty when the invariant holds.
Conservation is exact integer arithmetic: no tolerance anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from . import layout as L

__all__ = ["NAMES", "Previous", "check_all", "totals"]

NAMES: Final = (
    "cash_conserved",
    "units_conserved",
    "non_negative",
    "k_non_decreasing",
    "counters_monotone",
    "trade_counts_agree",
)

Table = np.ndarray[Any, np.dtype[np.void]]


@dataclass
class Previous:
    """What the monotonicity checks remember from the last consistent snapshot."""

    k: list[int] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    volume_units: list[int] = field(default_factory=list)
    volume_cash: list[int] = field(default_factory=list)
    trades: dict[int, int] = field(default_factory=dict)
    rejected: dict[int, int] = field(default_factory=dict)


def _claimed(acc: Table) -> Table:
    return acc[acc["status"] != L.SLOT_FREE]


def totals(cur: Table, acc: Table) -> dict[str, Any]:
    """Current and initial totals of cash and of each currency's units."""
    a = _claimed(acc)
    nc = len(cur)
    return {
        "cash": int(a["cash"].sum()) + int(cur["cash_reserve"].sum()),
        "init_cash": int(a["init_cash"].sum()) + int(cur["init_cash_reserve"].sum()),
        "units": [int(a["holdings"][:, c].sum()) + int(cur["unit_reserve"][c])
                  for c in range(nc)],
        "init_units": [int(a["init_holdings"][:, c].sum()) + int(cur["init_unit_reserve"][c])
                       for c in range(nc)],
    }


def _names(cur: Table) -> list[str]:
    return [L.decode_name(bytes(n)) for n in cur["name"]]


def cash_conserved(cur: Table, acc: Table) -> list[str]:
    t = totals(cur, acc)
    if t["cash"] != t["init_cash"]:
        return [f"total cash {t['cash']} != initial {t['init_cash']} "
                f"(diff {t['cash'] - t['init_cash']:+d})"]
    return []


def units_conserved(cur: Table, acc: Table) -> list[str]:
    t = totals(cur, acc)
    out = []
    for name, now, init in zip(_names(cur), t["units"], t["init_units"], strict=True):
        if now != init:
            out.append(f"{name}: total units {now} != initial {init} (diff {now - init:+d})")
    return out


def non_negative(cur: Table, acc: Table) -> list[str]:
    out = []
    nc = len(cur)
    for name, cr, ur in zip(_names(cur), cur["cash_reserve"], cur["unit_reserve"], strict=True):
        if cr <= 0 or ur <= 0:
            out.append(f"{name}: pool reserves must stay > 0 (cash {cr}, units {ur})")
    slots = np.flatnonzero(acc["status"] != L.SLOT_FREE)
    for s in slots:
        if acc["cash"][s] < 0:
            out.append(f"slot {s}: cash {acc['cash'][s]} < 0")
        neg = np.flatnonzero(acc["holdings"][s, :nc] < 0)
        for c in neg:
            out.append(f"slot {s}: holding of currency {c} is {acc['holdings'][s, c]} < 0")
    return out


def _k(cur: Table) -> list[int]:
    return [int(a) * int(b) for a, b in zip(cur["cash_reserve"], cur["unit_reserve"], strict=True)]


def k_non_decreasing(cur: Table, acc: Table, prev: Previous | None) -> list[str]:
    out = []
    k = _k(cur)
    init = [int(a) * int(b) for a, b in zip(cur["init_cash_reserve"], cur["init_unit_reserve"],
                                            strict=True)]
    for c, name in enumerate(_names(cur)):
        if k[c] < init[c]:
            out.append(f"{name}: k {k[c]} < initial {init[c]}")
        elif prev is not None and prev.k and k[c] < prev.k[c]:
            out.append(f"{name}: k decreased from {prev.k[c]} to {k[c]}")
    return out


def counters_monotone(cur: Table, acc: Table, prev: Previous | None) -> list[str]:
    if prev is None or not prev.seq:
        return []
    out = []
    for c, name in enumerate(_names(cur)):
        for fld, before in (("seq", prev.seq), ("volume_units", prev.volume_units),
                            ("volume_cash", prev.volume_cash)):
            now = int(cur[fld][c])
            if now < before[c]:
                out.append(f"{name}: {fld} went back from {before[c]} to {now}")
    for s in np.flatnonzero(acc["status"] != L.SLOT_FREE):
        for fld, before_map in (("trades", prev.trades), ("rejected", prev.rejected)):
            before = before_map.get(int(s))
            now = int(acc[fld][s])
            if before is not None and now < before:
                out.append(f"slot {s}: {fld} went back from {before} to {now}")
    return out


def trade_counts_agree(cur: Table, acc: Table) -> list[str]:
    pools = int(cur["seq"].sum())
    accounts = int(_claimed(acc)["trades"].sum())
    if pools != accounts:
        return [f"pools counted {pools} trades, accounts {accounts} "
                f"({accounts - pools:+d} lost updates)"]
    return []


def remember(cur: Table, acc: Table) -> Previous:
    slots = [int(s) for s in np.flatnonzero(acc["status"] != L.SLOT_FREE)]
    return Previous(
        k=_k(cur),
        seq=[int(x) for x in cur["seq"]],
        volume_units=[int(x) for x in cur["volume_units"]],
        volume_cash=[int(x) for x in cur["volume_cash"]],
        trades={s: int(acc["trades"][s]) for s in slots},
        rejected={s: int(acc["rejected"][s]) for s in slots},
    )


def check_all(cur: Table, acc: Table, prev: Previous | None = None) -> dict[str, list[str]]:
    """Every invariant on one snapshot: ``{name: [details of each violation]}``."""
    return {
        "cash_conserved": cash_conserved(cur, acc),
        "units_conserved": units_conserved(cur, acc),
        "non_negative": non_negative(cur, acc),
        "k_non_decreasing": k_non_decreasing(cur, acc, prev),
        "counters_monotone": counters_monotone(cur, acc, prev),
        "trade_counts_agree": trade_counts_agree(cur, acc),
    }
