"""The book agents' view of the exchange file: the books' mirrors and one account's words.

:class:`MappedBookView` implements :class:`~sim.market.book_agents_base.BookView` for
every agent of one trader process, read without a lock as the pool strategies' view
reads: the best bid and ask from the currency record's mirror of its book (written
inside each book transaction while the currency's ``version`` is odd), the last fill's
tick from the book's header, prices from the book's ladder (fixed for the run). The
account side (cash, holdings, the fundamental, the clock) comes from the process's pool
view (``sim.market.trader.MappedView`` fits :class:`AccountView`), which ``bind``
points at the agent about to decide, so the two never disagree on the account.

``cash()`` is the account's own cash word: what the engine checks a buy against. A
maker's proceeds wait in its stake's due cash until its next order on that book sweeps
them in, so they are not counted before.
"""

from __future__ import annotations

import math
from typing import Protocol

from sim.core.book_layout import BOOK
from sim.core.exchange import Exchange

__all__ = ["AccountView", "MappedBookView"]


class AccountView(Protocol):
    """The account side of a view, bound to one account at a time."""

    def bind(self, account: int) -> None: ...

    def fundamental(self, c: int) -> float: ...

    def cash(self) -> int: ...

    def holding(self, c: int) -> int: ...

    def time(self) -> float: ...


class MappedBookView:
    """A :class:`~sim.market.book_agents_base.BookView` over the mapping of ``ex``.

    Currencies traded on a pool report ``ticks(c) == 0`` (agents leave them alone);
    their ladder methods are not to be called.
    """

    def __init__(self, ex: Exchange, accounts: AccountView) -> None:
        n = ex.geo.n_currencies
        self._q = ex.q
        self._acc = accounts
        self._bid = [ex.cword(c, "best_bid") for c in range(n)]
        self._ask = [ex.cword(c, "best_ask") for c in range(n)]
        books = {c: ex.book(c) for c in range(n) if ex.is_book(c)}
        self._ticks = [books[c].ticks if c in books else 0 for c in range(n)]
        self._last = [books[c].base + BOOK.word("last_tick") if c in books else -1
                      for c in range(n)]
        self._base = [books[c].price_base if c in books else 0 for c in range(n)]
        self._step = [books[c].price_step if c in books else 1 for c in range(n)]
        self._lot = [books[c].lot if c in books else 1 for c in range(n)]

    def bind(self, account: int) -> None:
        self._acc.bind(account)

    def best_bid(self, c: int) -> int:
        return int(self._q[self._bid[c]])

    def best_ask(self, c: int) -> int:
        return int(self._q[self._ask[c]])

    def last_tick(self, c: int) -> int:
        return int(self._q[self._last[c]])

    def ticks(self, c: int) -> int:
        return self._ticks[c]

    def price(self, c: int, tick: int) -> float:
        return (self._base[c] + tick * self._step[c]) / self._lot[c]

    def lot_cash(self, c: int, tick: int) -> int:
        return self._base[c] + tick * self._step[c]

    def tick_of(self, c: int, rate: float) -> int:
        if math.isnan(rate):  # no nearest tick: the ladder's middle
            return self._ticks[c] // 2
        x = (rate * self._lot[c] - self._base[c]) / self._step[c]
        top = self._ticks[c] - 1
        return 0 if x <= 0 else top if x >= top else round(x)

    def fundamental(self, c: int) -> float:
        return self._acc.fundamental(c)

    def cash(self) -> int:
        return self._acc.cash()

    def holding(self, c: int) -> int:
        return self._acc.holding(c)

    def lot(self, c: int) -> int:
        return self._lot[c]

    def time(self) -> float:
        return self._acc.time()
