"""Which words of the exchange file an order on a book moves: accounts and their stakes.

A book moves money through ``Accounts.words(account)`` (sim/core/book_accounts.py): the
words of an account's available cash, available units, reserved cash and reserved units.
In the file every word an order on currency ``c``'s book writes must be guarded by
``c``'s lock, yet a maker is paid by another process's order while its own process may be
trading another currency under another lock. So:

- units are the account's ``holdings[c]``: only ever written under ``c``'s lock;
- reserves are the account's STAKE record for ``c``, written only under ``c``'s lock;
- the cash of the order's **taker** is its account ``cash``: the taker is the process's
  own account, and an account's cash is written only by its owner (one process, one
  transaction at a time); a **maker** is paid into its stake's ``due_cash`` instead, which
  its owner sweeps into ``cash`` at its next order on that book.

``StakeAccounts.taker`` names the account whose order is being matched; the trading
code sets it before each order.
"""

from __future__ import annotations

from typing import Final

from sim.core import layout as L

__all__ = ["StakeAccounts"]

_CASH: Final = L.ACCOUNT.word("cash")
_HOLD: Final = L.ACCOUNT.word("holdings")
_DUE: Final = L.STAKE.word("due_cash")
_RCASH: Final = L.STAKE.word("reserved_cash")
_RUNITS: Final = L.STAKE.word("reserved_units")
_STAKE_WORDS: Final = L.STAKE.size // 8


class StakeAccounts:
    """The account words of one currency's book in a file of geometry ``geo``."""

    def __init__(self, geo: L.Geometry, c: int) -> None:
        if not geo.book_mask >> c & 1:
            raise ValueError(f"currency {c} does not trade on a book")
        self.c = c
        self.n = geo.n_accounts
        self.acc0 = geo.account_offset // 8
        self.acc_words = L.ACCOUNT.size // 8
        self.stake0 = geo.stake_at(0, c) // 8
        self.stake_stride = geo.n_currencies * _STAKE_WORDS
        self.taker = -1

    def account_base(self, a: int) -> int:
        return self.acc0 + a * self.acc_words

    def stake_base(self, a: int) -> int:
        return self.stake0 + a * self.stake_stride

    def words(self, account: int, /) -> tuple[int, int, int, int]:
        if not 0 <= account < self.n:
            raise IndexError(f"account {account} is not in 0..{self.n - 1}")
        ab = self.acc0 + account * self.acc_words
        sb = self.stake0 + account * self.stake_stride
        cash = ab + _CASH if account == self.taker else sb + _DUE
        return cash, ab + _HOLD + self.c, sb + _RCASH, sb + _RUNITS

    def due(self, account: int) -> int:
        """Word of ``account``'s due cash on this book."""
        return self.stake0 + account * self.stake_stride + _DUE
