"""Invariants of the limit order books in an exchange file: pure functions over copies.

Two kinds, as for the pools:

- *Sample* checks read only the currency records, where every book transaction mirrors
  its book (best ticks and prices, resting orders, the exact totals its stakes hold):
  ``book_crossed`` (the best bid is below the best ask whenever both exist) and
  ``book_mirror`` (each price is its tick's, no total is negative, orders rest only with
  a best price and reserves only with orders of their side, a pool mirrors nothing).
  They need each book's ladder, fixed at creation: :class:`Ladders`.
- *Audit* checks read a consistent :class:`BookCopy` of one book (its currency record, its
  region and every account's stake on it, copied under the currency's seqlock or lock):
  ``book_structure`` (``check_book``: level totals are the sums of their live orders, live
  plus free records are the capacity, bitmaps and best ticks agree with the levels),
  ``book_reserves`` (each account's reserves are what its live orders promise, no stake
  is negative: ``reserves_match`` vectorised over the accounts) and
  ``book_mirror_exact`` (the currency record equals the book's header and the sums of
  the stakes, exactly, in Python integers).

A copy taken under the seqlock alone may show the book's journal header mid-commit (it
is written just outside the odd ``version``), so the journal check runs only on a copy
taken under the lock, and at quiescence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from sim.core import layout as L
from sim.core.book_invariants import check_book
from sim.core.book_layout import BOOK, BUY, NIL, ORDER, ORDER_LIVE, BookGeometry

__all__ = ["BOOK_AUDIT_NAMES", "BookCopy", "Ladders", "audit_book", "book_crossed",
           "book_mirror", "crossed_books", "wrong_mirrors"]

BOOK_AUDIT_NAMES: Final = ("book_structure", "book_reserves", "book_mirror_exact")
# Accounts named one by one in a violation's details; the rest are counted.
MAX_DETAILS: Final = 8
MIRROR_TOTALS: Final = ("book_live", "book_reserved_cash", "book_reserved_units",
                        "book_due_cash")
# A stake's words as BookCopy.stakes holds them, in the STAKE record's order.
STAKE_FIELDS: Final = tuple(f.name for f in L.STAKE.fields)

Table = np.ndarray[Any, np.dtype[np.void]]
Ints = np.ndarray[Any, np.dtype[np.int64]]
Mask = np.ndarray[Any, np.dtype[np.bool_]]
_OW: Final = ORDER.size // 8
_STAKE_WORDS: Final = L.STAKE.size // 8
_OS, _OSIDE, _OT, _OQ, _OA = (ORDER.word(f) for f in ("state", "side", "tick", "qty",
                                                      "account"))


@dataclass(frozen=True)
class Ladders:
    """What the sample checks need of each currency's book, fixed when the file is made:
    whether it is one (``book``), its ``price_base``, ``price_step`` and ``lot`` (zeros
    for a pool), and the ticks every book has."""

    book: Mask
    price_base: Ints
    price_step: Ints
    lot: Ints
    ticks: int

    @classmethod
    def of(cls, q: Any, geo: L.Geometry) -> Ladders | None:
        """Read from the book headers of a file of geometry ``geo`` whose int64 words are
        ``q``; None for a file without books."""
        if not geo.book_mask:
            return None
        n = geo.n_currencies
        book = np.zeros(n, dtype=bool)
        pb, ps, lot = (np.zeros(n, dtype=np.int64) for _ in range(3))
        for c in geo.books:
            base = geo.book_at(c) // 8
            book[c] = True
            pb[c], ps[c], lot[c] = (int(q[base + BOOK.word(f)]) for f in (
                "price_base", "price_step", "lot"))
        return cls(book, pb, ps, lot, geo.book_shape[0])

    def prices(self, tick: Ints) -> Ints:
        """Cash minor units per lot at each currency's ``tick`` (0 where it is NIL)."""
        out: Ints = np.where(tick == NIL, 0, self.price_base + tick * self.price_step)
        return out


# ---------------------------------------------------------------- samples
def crossed_books(cur: Table) -> Mask:
    """Where both sides of a book are quoted and the best bid is not below the best ask
    (one snapshot of C currencies or a batch of B x C)."""
    bid, ask = cur["best_bid"], cur["best_ask"]
    out: Mask = (bid != NIL) & (ask != NIL) & (bid >= ask)
    return out


def wrong_mirrors(cur: Table, lad: Ladders) -> Mask:
    """Where a currency record's mirror of its book cannot be right (one snapshot or a
    batch): a best tick off the ladder, a price that is not its tick's, a negative total,
    orders resting without a best price or the reverse, a reserve with no order of its
    side resting, the wrong market, or anything of a book on a pool."""
    bid, ask = cur["best_bid"], cur["best_ask"]
    book = lad.book
    bad: Mask = cur["market"] != np.where(book, L.MARKET_BOOK, L.MARKET_POOL)
    bad |= (bid < NIL) | (bid >= lad.ticks) | (ask < NIL) | (ask >= lad.ticks)
    bad |= (cur["bid_price"] != lad.prices(bid)) | (cur["ask_price"] != lad.prices(ask))
    for name in MIRROR_TOTALS:
        bad |= cur[name] < 0
    quoted = (bid != NIL) | (ask != NIL)
    bad |= (cur["book_live"] > 0) != quoted
    bad |= (bid == NIL) & (cur["book_reserved_cash"] != 0)
    bad |= (ask == NIL) & (cur["book_reserved_units"] != 0)
    on_pool = quoted | (cur["book_due_cash"] != 0)
    out: Mask = bad | (~book & on_pool)
    return out


def book_crossed(cur: Table, names: list[str]) -> list[str]:
    """``book_crossed`` on one snapshot's currency records."""
    crossed = crossed_books(cur)
    return [f"{names[c]}: best bid tick {cur['best_bid'][c]} >= best ask tick "
            f"{cur['best_ask'][c]}" for c in np.flatnonzero(crossed).tolist()]


def book_mirror(cur: Table, lad: Ladders, names: list[str]) -> list[str]:
    """``book_mirror`` on one snapshot's currency records."""
    out = []
    for c in np.flatnonzero(wrong_mirrors(cur, lad)).tolist():
        fields = ", ".join(f"{n} {cur[n][c]}" for n in (
            "market", "best_bid", "best_ask", "bid_price", "ask_price", *MIRROR_TOTALS))
        want = (f"a book, prices {lad.prices(cur['best_bid'][c])} and "
                f"{lad.prices(cur['best_ask'][c])} at those ticks, ticks below {lad.ticks}"
                if lad.book[c] else "a pool, mirroring no book")
        out.append(f"{names[c]}: mirror {fields}; expected {want}, no negative total, "
                   "orders resting only with a best price, reserves only with their side")
    return out


# ---------------------------------------------------------------- audits
class BookCopy:
    """Buffers for a consistent copy of what one book's audit reads: the currency record
    (``cur_raw``), the book's region (``words``, word 0 is the book's first) and each
    account's stake on it (``stakes``: accounts x ``STAKE_FIELDS``). The ``*_q`` views
    are what a copy writes through (int64 words, as the mapping's)."""

    def __init__(self, n_accounts: int, book_words: int) -> None:
        self.cur_raw = np.zeros(L.CURRENCY.size, dtype=np.uint8)
        self.words: Ints = np.zeros(book_words, dtype=np.int64)
        self.stakes: Ints = np.zeros((n_accounts, len(STAKE_FIELDS)), dtype=np.int64)
        self.cur_b = self.cur_raw.data
        self.words_q = self.words.data.cast("B").cast("q")
        self.stakes_q = self.stakes.data.cast("B").cast("q")

    def take(self, q: memoryview, b: memoryview, geo: L.Geometry, c: int) -> None:
        """Copy currency ``c``'s part of the file whose int64 words are ``q`` and bytes
        ``b`` (plain copies: making them consistent is the caller's business)."""
        at = geo.currency_at(c)
        self.cur_b[:] = b[at: at + L.CURRENCY.size]
        base = geo.book_at(c) // 8
        self.words_q[:] = q[base: base + geo.book_words]
        first = geo.stake_at(0, c) // 8
        stride = geo.n_currencies * _STAKE_WORDS
        end = first + geo.n_accounts * stride
        n = len(STAKE_FIELDS)
        for k in range(n):
            self.stakes_q[k::n] = q[first + k: end: stride]

    def currency(self) -> np.void:
        rec: np.void = self.cur_raw.view(L.CURRENCY.dtype)[0]
        return rec


def audit_book(copy: BookCopy, name: str, *, journal: bool = True) -> dict[str, list[str]]:
    """Every audit check of one book (currency ``name``) on a consistent copy:
    ``{check: [details]}`` over :data:`BOOK_AUDIT_NAMES`. ``journal``: also require the
    book's journal to be idle (a copy under the lock, or at quiescence)."""
    found = check_book(copy.words, 0)
    if not journal:
        del found["journal_idle"]
    return {
        "book_structure": [f"{name}: {check}: {d}" for check, details in found.items()
                           for d in details],
        "book_reserves": _reserves(copy, name),
        "book_mirror_exact": _mirror_exact(copy, name),
    }


def _header(a: Ints, field: str) -> int:
    return int(a[BOOK.word(field)])


def _reserves(copy: BookCopy, name: str) -> list[str]:
    a, st = copy.words, copy.stakes
    n = len(st)
    geo = BookGeometry(_header(a, "ticks"), _header(a, "capacity"), _header(a, "max_fills"))
    pb, ps, lot = (_header(a, f) for f in ("price_base", "price_step", "lot"))
    orders = a[geo.orders: geo.orders + geo.capacity * _OW].reshape(geo.capacity, _OW)
    live = orders[orders[:, _OS] == ORDER_LIVE]
    side, tick, qty, acct = (live[:, i] for i in (_OSIDE, _OT, _OQ, _OA))
    out = []
    stray = (acct < 0) | (acct >= n)
    if stray.any():
        out.append(f"{name}: {int(stray.sum())} live orders name no account, e.g. "
                   f"{int(acct[stray][0])} (accounts 0..{n - 1})")
        side, tick, qty, acct = side[~stray], tick[~stray], qty[~stray], acct[~stray]
    promised = np.zeros((n, 2), dtype=np.int64)
    buy = side == BUY
    np.add.at(promised[:, 0], acct[buy], (pb + tick[buy] * ps) * qty[buy])
    np.add.at(promised[:, 1], acct[~buy], qty[~buy] * lot)
    rc, ru = STAKE_FIELDS.index("reserved_cash"), STAKE_FIELDS.index("reserved_units")
    wrong = np.flatnonzero((st[:, rc] != promised[:, 0]) | (st[:, ru] != promised[:, 1]))
    out += [f"{name}: account {i} reserves cash {st[i, rc]}, units {st[i, ru]}; its orders "
            f"promise {promised[i, 0]}, {promised[i, 1]}"
            for i in wrong[:MAX_DETAILS].tolist()]
    negative = np.flatnonzero((st < 0).any(axis=1))
    out += [f"{name}: account {i} has a negative stake: "
            + ", ".join(f"{f} {st[i, k]}" for k, f in enumerate(STAKE_FIELDS))
            for i in negative[:MAX_DETAILS].tolist()]
    more = max(0, len(wrong) - MAX_DETAILS) + max(0, len(negative) - MAX_DETAILS)
    if more:
        out.append(f"{name}: and {more} more accounts")
    return out


def _mirror_exact(copy: BookCopy, name: str) -> list[str]:
    a, cur = copy.words, copy.currency()
    pb, ps, lot = (_header(a, f) for f in ("price_base", "price_step", "lot"))
    bid, ask = _header(a, "best_bid"), _header(a, "best_ask")
    # Python ints: the sums are exact whatever the magnitudes.
    stake = {f: sum(copy.stakes[:, k].tolist()) for k, f in enumerate(STAKE_FIELDS)}
    truth = {
        "market": L.MARKET_BOOK,
        "best_bid": bid,
        "best_ask": ask,
        "bid_price": 0 if bid == NIL else pb + bid * ps,
        "ask_price": 0 if ask == NIL else pb + ask * ps,
        "book_live": _header(a, "live"),
        "book_reserved_cash": stake["reserved_cash"],
        "book_reserved_units": stake["reserved_units"],
        "book_due_cash": stake["due_cash"],
        "volume_units": _header(a, "volume_qty") * lot,
        "volume_cash": _header(a, "volume_cash"),
    }
    return [f"{name}: currency record {field} {int(cur[field])}, the book and its stakes "
            f"say {want}" for field, want in truth.items() if int(cur[field]) != want]
