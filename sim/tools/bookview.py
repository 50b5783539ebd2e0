"""What the tools show of a currency's limit order book: prices as text, levels, orders.

Shared by ``sim trade``, ``sim inspect`` and ``sim watch``. Prices are read and written
the way people quote them, in cash per unit (``1.0950``); the book stores them in ticks
(``price(t) = price_base + t * price_step`` cash minor units per lot, ``lot`` minor units
of the currency per lot), so a price typed in must sit exactly on the ladder and a
quantity must be a whole number of lots, or the error names the nearest valid ones.

Reads take no lock (``sim watch`` and ``sim inspect`` map the file read-only): each is a
seqlock read of the currency's ``version``, which every order on its book holds odd
while it writes, retried until it settles or ``TRIES`` run out, when it is returned
marked unsettled (a display may show it, saying so).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any, Final

import numpy as np
from rich.console import RenderableType
from rich.text import Text

from sim.core import layout as L
from sim.core.book_layout import BUY, NIL, ORDER, ORDER_LIVE, SELL, BookGeometry, order_id
from sim.core.exchange import Exchange
from sim.core.snapshot import RETRY_SLEEP_S, TIGHT_TRIES
from sim.errors import BadInput
from sim.viz.terminal import indented, table

__all__ = [
    "BOOK_HEADER",
    "BOOK_RIGHT",
    "DEPTH_HEADER",
    "DEPTH_RIGHT",
    "LEVELS_SHOWN",
    "MAX_DIGITS",
    "TRIES",
    "AccountOrder",
    "Depth",
    "Ladder",
    "Level",
    "account_orders",
    "book_rows",
    "books_view",
    "depth_rows",
    "ladder",
    "money",
    "parse_amount",
    "read_depth",
    "spread_text",
]

# Levels of each side ``book CODE`` and the screens show unless asked for more.
LEVELS_SHOWN: Final = 5
# A ladder whose prices are not finite decimals (a lot of 3 minor units) is shown rounded.
MAX_DIGITS: Final = 8
# Seqlock tries: back to back at first, then paced as the monitor's are, so a writer
# preempted inside its transaction can finish (sim.core.snapshot): about 40 ms in all.
TRIES: Final = 200
_VERSION: Final = L.CURRENCY.word("version")

Ints = np.ndarray[Any, np.dtype[np.int64]]
Records = np.ndarray[Any, np.dtype[np.void]]


@dataclass(frozen=True)
class Ladder:
    """One book's prices and lot, to turn ticks and lots into text and back."""

    name: str
    scale: int
    lot: int
    price_base: int
    price_step: int
    ticks: int

    @cached_property
    def digits(self) -> int:
        """Decimals that show every price on the ladder exactly (at most MAX_DIGITS)."""
        for d in range(MAX_DIGITS + 1):
            if (self.price_base * 10**d) % self.lot == 0 and (
                    self.price_step * 10**d) % self.lot == 0:
                return d
        return MAX_DIGITS

    def price(self, tick: int) -> int:
        """Cash minor units per lot at ``tick``."""
        return self.price_base + tick * self.price_step

    def rate(self, tick: int) -> float:
        """Cash per unit at ``tick`` (display only)."""
        return self.price(tick) / self.lot

    def price_text(self, tick: int) -> str:
        return self._text(Decimal(self.price(tick)))

    def _text(self, price: Decimal) -> str:
        return f"{price / self.lot:.{self.digits}f}"

    def units_text(self, lots: int) -> str:
        """``lots`` as units of the currency, as money is printed."""
        return money(lots * self.lot, self.scale)

    def tick_of(self, text: str) -> int:
        """The tick of a price written as cash per unit; exactly on the ladder or an error
        naming the nearest prices that are."""
        try:
            r = Decimal(text)
        except InvalidOperation:
            raise BadInput(f"price {text!r} is not a number") from None
        if not r.is_finite() or r <= 0:
            raise BadInput(f"price {text!r} must be a positive number")
        t = (r * self.lot - self.price_base) / self.price_step
        lo, hi = self.price_text(0), self.price_text(self.ticks - 1)
        span = f"{lo} to {hi} in steps of {self._text(Decimal(self.price_step))}"
        if t < 0:
            raise BadInput(f"price {text} is below {self.name}'s ladder ({span}): nearest {lo}")
        if t > self.ticks - 1:
            raise BadInput(f"price {text} is above {self.name}'s ladder ({span}): nearest {hi}")
        if t != t.to_integral_value():
            below = int(t)  # t > 0 here, so int() rounds down
            raise BadInput(f"price {text} is not on {self.name}'s ladder ({span}): nearest "
                           f"{self.price_text(below)} or {self.price_text(below + 1)}")
        return int(t)

    def lots_of(self, text: str) -> int:
        """Whole lots in a quantity written as units of the currency, or an error naming
        the nearest quantities that are whole lots."""
        minor = parse_amount(text, self.scale)
        lots, extra = divmod(minor, self.lot)
        if extra:
            lower = f"{self.units_text(lots)} or " if lots else ""
            raise BadInput(f"quantity {text} {self.name} is not a whole number of lots (1 lot "
                           f"= {self.units_text(1)} {self.name}): nearest {lower}"
                           f"{self.units_text(lots + 1)}")
        return lots


def parse_amount(text: str, scale: int) -> int:
    """Units as written (``10``, ``2.5``) to minor units; exact or an error."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise BadInput(f"amount {text!r} is not a number") from None
    if not d.is_finite() or d <= 0:
        raise BadInput(f"amount {text!r} must be a positive number")
    minor = d * scale
    if minor != minor.to_integral_value():
        raise BadInput(f"amount {text!r} is finer than 1/{scale} of a unit")
    return int(minor)


def money(minor: int, scale: int) -> str:
    """Minor units as major units with the decimals of ``scale`` and thousands commas."""
    digits = len(str(scale)) - 1
    return f"{minor / scale:,.{digits}f}"


def ladder(ex: Exchange, c: int) -> Ladder:
    """Currency ``c``'s ladder (BadInput if ``c`` trades on a pool)."""
    b = ex.book(c)
    return Ladder(ex.names()[c], ex.scale, b.lot, b.price_base, b.price_step, b.ticks)


@dataclass(frozen=True)
class Level:
    """One price level of one side: its tick, resting lots and number of orders."""

    tick: int
    qty: int
    orders: int


@dataclass(frozen=True)
class Depth:
    """The best levels of both sides (best first), as one seqlock read found them."""

    bids: list[Level]
    asks: list[Level]
    settled: bool

    def best(self) -> tuple[int, int]:
        """Best bid and best ask ticks (NIL for an empty side)."""
        return (self.bids[0].tick if self.bids else NIL,
                self.asks[0].tick if self.asks else NIL)


def _settled_read(ex: Exchange, c: int, read: Any, tries: int) -> tuple[Any, bool]:
    """``read()`` between two equal even versions of currency ``c`` (or the last try)."""
    q, vw = ex.q, ex.cur_base[c] + _VERSION
    got = None
    for k in range(max(1, tries)):
        if k >= TIGHT_TRIES:
            time.sleep(RETRY_SLEEP_S)
        v = q[vw]
        if v & 1:
            continue
        got = read()
        if q[vw] == v:
            return got, True
    return (read() if got is None else got), False


def read_depth(ex: Exchange, c: int, n: int = LEVELS_SHOWN, tries: int = TRIES) -> Depth:
    """The ``n`` best levels of each side of currency ``c``'s book."""
    b = ex.book(c)

    def read() -> tuple[list[Level], list[Level]]:
        return ([Level(*x) for x in b.depth(BUY, n)], [Level(*x) for x in b.depth(SELL, n)])

    (bids, asks), settled = _settled_read(ex, c, read, tries)
    return Depth(bids, asks, settled)


@dataclass(frozen=True)
class AccountOrder:
    """A live order of one account: where it rests and how much is left (lots)."""

    currency: int
    order_id: int
    side: int
    tick: int
    qty: int


def account_orders(ex: Exchange, a: int, tries: int = TRIES) -> list[AccountOrder]:
    """Account ``a``'s live orders on every book, by currency, side, price (best first)
    and id; one vectorised pass over each book's order records."""
    geo = ex.geo
    if not geo.book_mask:
        return []
    bg = BookGeometry(*geo.book_shape)
    out: list[AccountOrder] = []
    for c in geo.books:
        start = geo.book_at(c) + bg.orders * 8
        end = start + bg.capacity * ORDER.size

        def read(start: int = start, end: int = end) -> tuple[Ints, Records]:
            # A copy, not a view: a view would pin the mapping open.
            rec = np.frombuffer(bytes(ex.b[start:end]), dtype=ORDER.dtype)
            idx = np.flatnonzero((rec["state"] == ORDER_LIVE) & (rec["account"] == a))
            return idx, rec[idx]

        (idx, mine), _ = _settled_read(ex, c, read, tries)
        rows = [AccountOrder(c, order_id(int(r["gen"]), int(i)), int(r["side"]),
                             int(r["tick"]), int(r["qty"]))
                for i, r in zip(idx.tolist(), mine, strict=True)]
        rows.sort(key=lambda o: (o.side, -o.tick if o.side == BUY else o.tick, o.order_id))
        out += rows
    return out


def depth_rows(lad: Ladder, depth: Depth) -> list[list[str]]:
    """Both sides side by side, best level first: orders, qty (units) and price of the
    bids, then price, qty and orders of the asks; a side with fewer levels is blank."""
    rows = []
    for k in range(max(len(depth.bids), len(depth.asks))):
        row = ["", "", ""]
        if k < len(depth.bids):
            b = depth.bids[k]
            row = [f"{b.orders:,}", lad.units_text(b.qty), lad.price_text(b.tick)]
        if k < len(depth.asks):
            s = depth.asks[k]
            row += [lad.price_text(s.tick), lad.units_text(s.qty), f"{s.orders:,}"]
        else:
            row += ["", "", ""]
        rows.append(row)
    return rows


DEPTH_HEADER: Final = ["orders", "qty", "bid", "ask", "qty", "orders"]
DEPTH_RIGHT: Final = frozenset(range(6))


def spread_text(lad: Ladder, bid: int, ask: int) -> str:
    """The spread between best ticks ``bid`` and ``ask`` (NIL: that side is empty): in
    ticks, in cash per unit and in basis points of the mid."""
    if bid == NIL and ask == NIL:
        return "spread: the book is empty"
    if bid == NIL or ask == NIL:
        return f"spread: no {'bids' if bid == NIL else 'asks'}"
    ticks = ask - bid
    mid = (lad.price(bid) + lad.price(ask)) / 2
    bps = (lad.price(ask) - lad.price(bid)) / mid * 1e4
    step = lad.price_step * ticks
    return (f"spread {ticks:,} tick{'s' if ticks != 1 else ''} "
            f"({step / lad.lot:.{lad.digits}f}, {bps:,.1f} bps of the mid "
            f"{mid / lad.lot:.{lad.digits + 1}f})")


BOOK_HEADER: Final = ["book", "lot", "tick", "best bid", "best ask", "spread", "orders",
                      "reserved cash", "reserved units", "due cash"]
BOOK_RIGHT: Final = frozenset(range(1, len(BOOK_HEADER)))


def book_rows(ladders: dict[int, Ladder], cur: Records) -> list[list[str]]:
    """One row per book, from the currency records' mirror of it (one copy ``cur`` of the
    table, so a row agrees with itself): lot and tick as units and cash per unit, best
    prices, the spread in ticks, resting orders, the exact totals of what those orders
    hold over all accounts, and the cash makers were paid and have not yet swept."""
    rows = []
    for c, lad in ladders.items():
        r = cur[c]
        bid, ask = int(r["best_bid"]), int(r["best_ask"])
        rows.append([lad.name, lad.units_text(1),
                     f"{lad.price_step / lad.lot:.{lad.digits}f}",
                     "-" if bid == NIL else lad.price_text(bid),
                     "-" if ask == NIL else lad.price_text(ask),
                     "-" if NIL in (bid, ask) else f"{ask - bid:,}",
                     f"{int(r['book_live']):,}",
                     money(int(r["book_reserved_cash"]), lad.scale),
                     money(int(r["book_reserved_units"]), lad.scale),
                     money(int(r["book_due_cash"]), lad.scale)])
    return rows


def books_view(ladders: dict[int, Ladder], cur: Records,
               depths: dict[int, Depth]) -> list[RenderableType]:
    """The table of the books (``book_rows``), then each book's top levels and spread,
    marked when their read never settled."""
    parts: list[RenderableType] = [
        indented(table(BOOK_HEADER, book_rows(ladders, cur), right=BOOK_RIGHT)), Text("")]
    for c, lad in ladders.items():
        d = depths[c]
        torn = "" if d.settled else " (read while orders kept arriving: levels may disagree)"
        if not d.bids and not d.asks:
            parts += [Text(f"{lad.name}: no resting orders{torn}"), Text("")]
            continue
        n = max(len(d.bids), len(d.asks))
        parts += [Text(f"{lad.name} top {n} level{'s' if n > 1 else ''}, "
                       f"{spread_text(lad, *d.best())}{torn}"),
                  indented(table(DEPTH_HEADER, depth_rows(lad, d), right=DEPTH_RIGHT)),
                  Text("")]
    return parts
