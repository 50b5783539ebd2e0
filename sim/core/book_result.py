"""What one order did: the fills and quantities it reports, and its rejection codes.

The transaction layer applies nothing from here (the engine moved the money already, in
the same transaction); it logs it: a fill names the maker's order and account, the taker's
account, the price and the quantity, which is what a replay of the book needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "OK",
    "REJECT_REASONS",
    "REJ_CANCEL",
    "REJ_CROSS",
    "REJ_FULL",
    "REJ_FUNDS",
    "REJ_PRICE",
    "REJ_QTY",
    "Fill",
    "RestingOrder",
    "Result",
]

OK: Final = 0
REJ_QTY: Final = -1
REJ_PRICE: Final = -2
REJ_FUNDS: Final = -3
REJ_CROSS: Final = -4
REJ_FULL: Final = -5
REJ_CANCEL: Final = -6
REJECT_REASONS: Final = {
    REJ_QTY: "quantity not positive",
    REJ_PRICE: "tick off the ladder",
    REJ_FUNDS: "cash or units not available",
    REJ_CROSS: "post-only order would cross",
    REJ_FULL: "order book full",
    REJ_CANCEL: "no such live order of this account",
}


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill: the maker's order and account, the taker's account, price and quantity."""

    maker_id: int
    maker_account: int
    taker_account: int
    tick: int
    price: int
    qty: int


@dataclass(slots=True)
class Result:
    """What one order did. ``status`` is OK or a negative REJ_* code (nothing changed).

    ``cash`` is what the taker paid (buy) or received (sell) for ``filled``; ``rested``
    is the quantity now resting under ``order_id`` (its reserve taken); ``dropped`` the
    quantity neither filled nor rested; ``cancelled`` what a cancel released.
    """

    status: int = OK
    order_id: int = 0
    filled: int = 0
    cash: int = 0
    rested: int = 0
    dropped: int = 0
    cancelled: int = 0
    capped: bool = False
    fills: list[Fill] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """A live order as the book holds it."""

    order_id: int
    account: int
    side: int
    tick: int
    qty: int
