"""Named invariants: pure functions over a decoded snapshot of the exchange tables.

Each check returns a list of human-readable details, empty when the invariant holds.
Conservation is exact integer arithmetic: no tolerance anywhere. A *sample* is the
currency and writer tables: pools plus each writer's running totals over its accounts,
O(currencies + writers) whatever the population, so the monitor checks every sample (up
to 1 kHz). An *audit* adds the account table and proves that each writer's totals are
the sums of its accounts and that no account is negative (:func:`audit`); it runs at a
lower rate and at the end. The sums a snapshot needs are computed once, in numpy, and
details are only formatted for an invariant that fails.

In a file where some currency trades on a limit order book, conservation also counts what
each book's mirror in its currency record holds (cash reserved by resting buys and due to
makers, units reserved by resting sells), trade counts compare the currencies' ledger
sequences with the writers' committed rows, and two more checks read the mirrors:
``book_crossed`` and ``book_mirror`` (sim/core/book_checks.py). They need each book's
ladder (``Ladders``); a pool-only file is checked exactly as before, at the same cost.

``screen`` does the same checks for a whole batch of snapshots at once, vectorised: it
marks every snapshot that might violate something, never missing one (sums are exact in
two 32-bit halves; a k compared in floating point that is not clearly larger is marked),
and only the marked snapshots go through ``check_all`` one by one for their details.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import numpy as np

from sim.core import layout as L
from sim.core.book_checks import (
    Ladders,
    book_crossed,
    book_mirror,
    crossed_books,
    wrong_mirrors,
)

__all__ = ["AUDIT_NAMES", "BOOK_NAMES", "NAMES", "Facts", "Previous", "audit", "check_all",
           "exact_total", "exact_totals", "remember", "screen", "totals"]

_CUR_COUNTERS: Final = ("seq", "volume_units", "volume_cash")
_SLOT_COUNTERS: Final = ("tot_trades",)
AUDIT_NAMES: Final = ("totals_match_accounts", "accounts_non_negative")
NAMES: Final = (
    "cash_conserved",
    "units_conserved",
    "non_negative",
    "k_non_decreasing",
    "counters_monotone",
    "trade_counts_agree",
)
# Sample checks of a file with books, after NAMES.
BOOK_NAMES: Final = ("book_crossed", "book_mirror")

Table = np.ndarray[Any, np.dtype[np.void]]
Ints = np.ndarray[Any, np.dtype[np.int64]]


_LOW: Final = 0xFFFFFFFF
# A float product of two int64 values is within 2**-52 of the exact one; a k this much
# above the other is larger for certain, anything closer is checked exactly.
_K_MARGIN: Final = 1e-12


def _exact_sum(x: Ints, axis: int) -> tuple[Ints, Ints]:
    """Exact sums of int64 values along ``axis`` as (high, low), sum = high * 2**32 + low
    with 0 <= low < 2**32: no overflow for fewer than 2**31 terms of any int64 values."""
    lo = (x & _LOW).sum(axis=axis)
    hi = (x >> 32).sum(axis=axis) + (lo >> 32)
    return hi, lo & _LOW


def exact_total(x: Ints) -> int:
    """The exact sum of a 1-d int64 array, as a Python int."""
    hi, lo = _exact_sum(x, 0)
    return int(hi) * 2**32 + int(lo)


def exact_totals(x: Ints) -> list[int]:
    """Exact column sums of a 2-d int64 array, as Python ints."""
    hi, lo = _exact_sum(x, 0)
    return [h * 2**32 + low for h, low in zip(hi.tolist(), lo.tolist(), strict=True)]


@dataclass
class Previous:
    """What the monotonicity checks remember from the last consistent snapshot."""

    k: list[int]
    counters: list[list[int]]  # seq, volume_units, volume_cash: per currency
    slot_counters: list[Ints]  # tot_trades: per writer; -1 where the writer was free


class Facts:
    """The sums and masks every invariant reads, computed once per snapshot."""

    def __init__(self, cur: Table, acc: Table, scale: int = 1,
                 ladders: Ladders | None = None) -> None:
        # ``acc`` is the writer table: each writer's running totals stand for its accounts.
        self.cur = cur
        self.acc = acc
        self.scale = scale
        self.ladders = ladders
        self.nc = nc = len(cur)
        self.claimed = acc["status"] != L.SLOT_FREE
        a = acc[self.claimed]
        self.a = a
        # Python ints from exact sums: right whatever the magnitudes.
        self.cash = exact_total(a["tot_cash"]) + exact_total(cur["cash_reserve"])
        self.init_cash = (exact_total(a["init_tot_cash"])
                          + exact_total(cur["init_cash_reserve"]))
        held = [a["tot_holdings"][:, :nc], cur["unit_reserve"][None]]
        if ladders is not None:
            # What the books hold for their accounts: created empty, so nothing initially.
            self.cash += (exact_total(cur["book_reserved_cash"])
                          + exact_total(cur["book_due_cash"]))
            held.append(cur["book_reserved_units"][None])
        self.units = exact_totals(np.concatenate(held))
        self.init_units = exact_totals(np.concatenate([a["init_tot_holdings"][:, :nc],
                                                  cur["init_unit_reserve"][None]]))
        self.k = [a_ * b_ for a_, b_ in zip(cur["cash_reserve"].tolist(),
                                            cur["unit_reserve"].tolist(), strict=True)]
        self.counters = [cur[n].tolist() for n in _CUR_COUNTERS]
        self.slot_counters = [np.where(self.claimed, acc[n], -1) for n in _SLOT_COUNTERS]

    def names(self) -> list[str]:
        return [L.decode_name(bytes(n)) for n in self.cur["name"]]

    def major(self, minor: int, signed: bool = False) -> str:
        """Minor units as major units, exactly (messages speak as every report does)."""
        v = Decimal(int(minor)) / Decimal(self.scale)
        digits = len(str(self.scale)) - 1
        if self.scale == 10**digits:  # 100 -> always two decimals, as money is printed
            v = v.quantize(Decimal(1).scaleb(-digits))
        return f"{v:+,f}" if signed else f"{v:,f}"


def totals(cur: Table, acc: Table, ladders: Ladders | None = None) -> dict[str, Any]:
    """Current and initial totals of cash and of each currency's units."""
    f = Facts(cur, acc, ladders=ladders)
    return {"cash": f.cash, "init_cash": f.init_cash, "units": f.units,
            "init_units": f.init_units}


def cash_conserved(f: Facts) -> list[str]:
    if f.cash != f.init_cash:
        return [f"total cash {f.major(f.cash)} != initial {f.major(f.init_cash)} "
                f"(diff {f.major(f.cash - f.init_cash, signed=True)})"]
    return []


def units_conserved(f: Facts) -> list[str]:
    if f.units == f.init_units:
        return []
    return [f"{name}: total units {f.major(now)} != initial {f.major(init)} "
            f"(diff {f.major(now - init, signed=True)})"
            for name, now, init in zip(f.names(), f.units, f.init_units, strict=True)
            if now != init]


def non_negative(f: Facts) -> list[str]:
    cur, acc, nc = f.cur, f.acc, f.nc
    bad_pool = (cur["cash_reserve"] <= 0) | (cur["unit_reserve"] <= 0)
    if f.ladders is not None:  # a book's currency record has no pool
        bad_pool &= ~f.ladders.book
    bad_cash = f.claimed & (acc["tot_cash"] < 0)
    bad_hold = f.claimed[:, None] & (acc["tot_holdings"][:, :nc] < 0)
    if not (bad_pool.any() or bad_cash.any() or bad_hold.any()):
        return []
    names = f.names()
    out = [f"{names[c]}: pool reserves must stay > 0 (cash {f.major(cur['cash_reserve'][c])}, "
           f"units {f.major(cur['unit_reserve'][c])})" for c in np.flatnonzero(bad_pool)]
    out += [f"writer {s}: total cash {f.major(acc['tot_cash'][s])} < 0"
            for s in np.flatnonzero(bad_cash)]
    out += [f"writer {s}: total holding of {names[c]} is {f.major(acc['tot_holdings'][s, c])} < 0"
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
            out += [f"writer {s}: {name} went back from {was_s[s]} to {now_s[s]}"
                    for s in np.flatnonzero(back & f.claimed)]
    return out


def trade_counts_agree(f: Facts) -> list[str]:
    if f.ladders is not None:
        # One order on a book logs several rows (fills, then placed) and counts one
        # trade: the currencies' sequences count rows, as the writers' ledgers do.
        rows = exact_total(f.cur["seq"])
        logged = exact_total(f.a["log_count"])
        if rows != logged:
            return [f"currencies counted {rows} ledger rows, writers committed {logged} "
                    f"({logged - rows:+d} lost updates)"]
        return []
    pools = exact_total(f.cur["seq"])
    accounts = exact_total(f.a["tot_trades"])
    if pools != accounts:
        return [f"pools counted {pools} trades, writers {accounts} "
                f"({accounts - pools:+d} lost updates)"]
    return []


def remember(cur: Table, acc: Table, facts: Facts | None = None) -> Previous:
    f = facts or Facts(cur, acc)
    return Previous(k=f.k, counters=f.counters, slot_counters=f.slot_counters)


def check_all(cur: Table, acc: Table, prev: Previous | None = None,
              facts: Facts | None = None, scale: int = 1,
              ladders: Ladders | None = None) -> dict[str, list[str]]:
    """Every invariant on one snapshot: ``{name: [details of each violation]}``; with
    ``ladders`` (a file with books, where they are required) the :data:`BOOK_NAMES` too.

    Amounts in the details are in major units (``scale`` minor units each).
    """
    f = facts or Facts(cur, acc, scale, ladders)
    if f.ladders is None and (cur["market"] != L.MARKET_POOL).any():
        raise ValueError("a snapshot of a file with books is checked with their Ladders")
    found = {
        "cash_conserved": cash_conserved(f),
        "units_conserved": units_conserved(f),
        "non_negative": non_negative(f),
        "k_non_decreasing": k_non_decreasing(f, prev),
        "counters_monotone": counters_monotone(f, prev),
        "trade_counts_agree": trade_counts_agree(f),
    }
    if f.ladders is not None:
        found["book_crossed"] = book_crossed(cur, f.names())
        found["book_mirror"] = book_mirror(cur, f.ladders, f.names())
    return found


# ---------------------------------------------------------------- batches
def _differ(a: tuple[Ints, Ints], b: tuple[Ints, Ints]) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = (a[0] != b[0]) | (a[1] != b[1])
    return out


def _k_not_above(cr: Ints, ur: Ints, pcr: Ints, pur: Ints) -> np.ndarray[Any, Any]:
    """Where k = cr * ur is not certainly >= the earlier pcr * pur (equal pairs are)."""
    k = cr.astype(np.float64) * ur.astype(np.float64)
    pk = pcr.astype(np.float64) * pur.astype(np.float64)
    same = (cr == pcr) & (ur == pur)
    out: np.ndarray[Any, Any] = ~(same | (k > pk * (1.0 + _K_MARGIN)))
    return out


def screen(cur: Table, acc: Table, consistent: np.ndarray[Any, Any],
           prev: tuple[Table, Table] | None,
           ladders: Ladders | None = None) -> np.ndarray[Any, Any]:
    """Which of B snapshots (``cur`` B x currencies, ``acc`` B x writers, oldest first) need
    ``check_all``: every one that violates an invariant is marked, and every torn one.

    ``prev`` is the last consistent snapshot before the batch (its tables), if any; each
    consistent snapshot is compared with the consistent one before it, as the monitor's
    sequence of ``check_all`` calls does. ``ladders``: as for ``check_all``.
    """
    nc = cur.shape[1]
    consistent = np.asarray(consistent, dtype=bool)
    claimed = acc["status"] != L.SLOT_FREE
    suspect = ~consistent
    # cash: accounts plus pools (and what books hold), now and initially
    cash_parts = [np.where(claimed, acc["tot_cash"], 0), cur["cash_reserve"]]
    if ladders is not None:
        cash_parts += [cur["book_reserved_cash"], cur["book_due_cash"]]
    init_cash = np.concatenate([np.where(claimed, acc["init_tot_cash"], 0),
                                cur["init_cash_reserve"]], axis=1)
    suspect |= _differ(_exact_sum(np.concatenate(cash_parts, axis=1), 1),
                       _exact_sum(init_cash, 1))
    # units of each currency
    held = claimed[:, :, None]
    unit_parts = [np.where(held, acc["tot_holdings"][:, :, :nc], 0),
                  cur["unit_reserve"][:, None, :]]
    if ladders is not None:
        unit_parts.append(cur["book_reserved_units"][:, None, :])
    init_units = np.concatenate([np.where(held, acc["init_tot_holdings"][:, :, :nc], 0),
                                 cur["init_unit_reserve"][:, None, :]], axis=1)
    suspect |= _differ(_exact_sum(np.concatenate(unit_parts, axis=1), 1),
                       _exact_sum(init_units, 1)).any(axis=1)
    # nothing negative
    bad_pool = (cur["cash_reserve"] <= 0) | (cur["unit_reserve"] <= 0)
    if ladders is not None:
        bad_pool &= ~ladders.book
    suspect |= bad_pool.any(axis=1)
    suspect |= (claimed & (acc["tot_cash"] < 0)).any(axis=1)
    suspect |= (held & (acc["tot_holdings"][:, :, :nc] < 0)).any(axis=(1, 2))
    # trade counts: pools against writers (ledger rows, with books)
    counted = "tot_trades" if ladders is None else "log_count"
    suspect |= _differ(_exact_sum(cur["seq"], 1),
                       _exact_sum(np.where(claimed, acc[counted], 0), 1))
    if ladders is not None:
        suspect |= (crossed_books(cur) | wrong_mirrors(cur, ladders)).any(axis=1)
    suspect |= _k_not_above(cur["cash_reserve"], cur["unit_reserve"],
                            cur["init_cash_reserve"], cur["init_unit_reserve"]).any(axis=1)
    # k and counters: each consistent snapshot against the consistent one before it
    idx = np.flatnonzero(consistent)
    now = idx if prev is not None else idx[1:]
    if len(now) == 0:
        return suspect

    def before(x: np.ndarray[Any, Any], first: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        earlier = x[idx[:-1]]
        return earlier if prev is None else np.concatenate([first[None], earlier])

    pc: Table = prev[0] if prev is not None else cur[0]
    pa: Table = prev[1] if prev is not None else acc[0]
    cr, ur = cur["cash_reserve"], cur["unit_reserve"]
    back = _k_not_above(cr[now], ur[now], before(cr, pc["cash_reserve"]),
                        before(ur, pc["unit_reserve"])).any(axis=1)
    for name in _CUR_COUNTERS:
        back |= (cur[name][now] < before(cur[name], pc[name])).any(axis=1)
    was_claimed = before(claimed, pa["status"] != L.SLOT_FREE)
    for name in _SLOT_COUNTERS:
        was = np.where(was_claimed, before(acc[name], pa[name]), -1)
        back |= (claimed[now] & (acc[name][now] < was)).any(axis=1)
    suspect[now] |= back
    return suspect


# ---------------------------------------------------------------- audits
def _per_writer(n_writers: int, owner: Ints, x: Ints) -> list[int]:
    """Exact sums of the int64 column ``x`` grouped by ``owner`` (0..n_writers; the last
    bucket collects what belongs to no writer), as Python ints. ``bincount`` adds in
    float64, exact below 2**53: each value is split into 32-bit halves, and at most 2**21
    of them (``MAX_ACCOUNTS``) add up below 2**53."""
    lo = np.bincount(owner, weights=(x & _LOW).astype(np.float64), minlength=n_writers + 1)
    hi = np.bincount(owner, weights=(x >> 32).astype(np.float64), minlength=n_writers + 1)
    return [int(h) * 2**32 + int(v) for h, v in zip(hi[:n_writers].tolist(),
                                                    lo[:n_writers].tolist(), strict=True)]


def _columns(acc: Table, nc: int) -> tuple[Ints, dict[str, int]]:
    """The account fields an audit reads, gathered in one pass over the records into a
    contiguous (accounts x fields) array: reading 8-byte fields one at a time out of
    records of a few hundred bytes would sweep the whole table once per field."""
    names = ["status", "writer", "cash", "init_cash", "trades"]
    cols = [L.ACCOUNT.word(n) for n in names]
    for field in ("holdings", "init_holdings"):
        base = L.ACCOUNT.word(field)
        names += [f"{field}[{c}]" for c in range(nc)]
        cols += [base + c for c in range(nc)]
    words = np.ascontiguousarray(acc).view(np.int64).reshape(len(acc), -1)
    return words[:, cols], {n: i for i, n in enumerate(names)}


def audit(cur: Table, wri: Table, acc: Table) -> dict[str, list[str]]:
    """The account-level checks of one consistent snapshot of all three tables: each
    writer's running totals equal the sums over its accounts, and no account is
    negative. ``{name: [details]}`` over :data:`AUDIT_NAMES`."""
    nc = len(cur)
    nw = len(wri)
    m, col = _columns(acc, nc)
    claimed = m[:, col["status"]] != L.SLOT_FREE
    writer = m[:, col["writer"]]
    out: dict[str, list[str]] = {n: [] for n in AUDIT_NAMES}
    bad_owner = claimed & ((writer < 0) | (writer >= nw))
    if bad_owner.any():
        out["totals_match_accounts"] += [
            f"account {i}: writer {int(writer[i])} out of range"
            for i in np.flatnonzero(bad_owner)[:8].tolist()]
    owner = np.where(claimed & ~bad_owner, writer, nw)
    names = [L.decode_name(bytes(n)) for n in cur["name"]]
    live = (wri["status"] != L.SLOT_FREE).tolist()
    scalars = (("tot_cash", "cash"), ("init_tot_cash", "init_cash"), ("tot_trades", "trades"))
    vectors = (("tot_holdings", "holdings"), ("init_tot_holdings", "init_holdings"))
    checks: list[tuple[str, str, int | None]] = [(t, f, None) for t, f in scalars]
    checks += [(t, f, c) for t, f in vectors for c in range(nc)]
    for tot, field, c in checks:
        key = field if c is None else f"{field}[{c}]"
        sums = _per_writer(nw, owner, m[:, col[key]])
        have = (wri[tot] if c is None else wri[tot][:, c]).tolist()
        for w in range(nw):
            if live[w] and sums[w] != have[w]:
                what = tot if c is None else f"{tot} of {names[c]}"
                out["totals_match_accounts"].append(
                    f"writer {w}: {what} {have[w]} != sum of its accounts' {field} {sums[w]}")
    bad_cash = claimed & (m[:, col["cash"]] < 0)
    out["accounts_non_negative"] += [f"account {a}: cash {int(m[a, col['cash']])} < 0"
                                     for a in np.flatnonzero(bad_cash)[:8].tolist()]
    hold = m[:, [col[f"holdings[{c}]"] for c in range(nc)]]
    bad_hold = claimed[:, None] & (hold < 0)
    out["accounts_non_negative"] += [
        f"account {int(a)}: holding of {names[c]} is {int(hold[a, c])} < 0"
        for a, c in list(zip(*np.nonzero(bad_hold), strict=True))[:8]]
    return out
