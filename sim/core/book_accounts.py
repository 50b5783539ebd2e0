"""The account side of a book: which words of an account an order moves, and an array of them.

The engine moves money only through ``Accounts.words``: the absolute indexes, in the same
int64 buffer as the book, of an account's available cash, available units, reserved cash
and reserved units for that book. A resting buy moves ``price * qty`` from cash to
reserved cash, a resting sell ``qty`` from units to reserved units; a fill pays the maker
out of its reserve and the taker out of its available balance; a cancel releases the
reserve. So cash + reserved cash and units + reserved units, summed over accounts, never
change, and each account's reserves equal what its resting orders promise.

Each word the engine writes must be guarded by the book's lock: a maker is paid by
another process's order, so words shared with another book (one cash word for every
currency, say) need a per-book share or the account's own lock.

``AccountArray`` lays out ``BOOK_ACCOUNT`` records in the buffer, for the tests and the
benchmark.
"""

from __future__ import annotations

from typing import Final, Protocol

from sim.core.book_journal import Words
from sim.core.book_layout import BOOK_ACCOUNT

__all__ = ["AccountArray", "Accounts", "Balances"]

_CASH: Final = BOOK_ACCOUNT.word("cash")
_UNITS: Final = BOOK_ACCOUNT.word("units")
_RCASH: Final = BOOK_ACCOUNT.word("reserved_cash")
_RUNITS: Final = BOOK_ACCOUNT.word("reserved_units")
_STRIDE: Final = BOOK_ACCOUNT.size // 8

Balances = tuple[int, int, int, int]


class Accounts(Protocol):
    """Where an account's (cash, units, reserved cash, reserved units) words are."""

    def words(self, account: int, /) -> tuple[int, int, int, int]: ...


class AccountArray:
    """``n`` BOOK_ACCOUNT records from word ``base`` of an int64 buffer."""

    def __init__(self, q: Words, base: int, n: int) -> None:
        self.q = q
        self.base = base
        self.n = n

    @staticmethod
    def size_words(n: int) -> int:
        return n * _STRIDE

    def words(self, account: int, /) -> tuple[int, int, int, int]:
        if not 0 <= account < self.n:
            raise IndexError(f"account {account} is not in 0..{self.n - 1}")
        b = self.base + account * _STRIDE
        return b + _CASH, b + _UNITS, b + _RCASH, b + _RUNITS

    def fund(self, account: int, cash: int, units: int) -> None:
        """Set an account's available balances (setup only: not a transaction)."""
        c, u, _, _ = self.words(account)
        self.q[c] = cash
        self.q[u] = units

    def balances(self, account: int) -> Balances:
        """(cash, units, reserved cash, reserved units) of one account."""
        c, u, rc, ru = self.words(account)
        q = self.q
        return q[c], q[u], q[rc], q[ru]

    def totals(self) -> tuple[int, int]:
        """Exact totals over every account: (cash + reserved cash, units + reserved units)."""
        cash = units = 0
        for a in range(self.n):
            c, u, rc, ru = self.balances(a)
            cash += int(c) + int(rc)
            units += int(u) + int(ru)
        return cash, units
