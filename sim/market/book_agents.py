"""The book strategy registry, and the liquidity agents: zero-intelligence and noise.

Every book agent is a :class:`~sim.market.book_agents_base.BookStrategy` with a pydantic
``Params`` model: zero-intelligence (``zi``) and noise (``noise``) here, value
(``value``) and momentum (``momentum``) in :mod:`sim.market.book_agents_signal`, the
market maker (``market_maker``) in :mod:`sim.market.book_agents_mm`. A scenario names
them by ``strategy:``; :func:`book_strategy` maps a name to its class and
:func:`make_book_strategy` validates the parameters and builds one.

Every agent checks its budget before it sends: a buy never asks for more cash than the
view's available cash pays at its limit (a market buy at the best ask), a sell never for
more units than it holds, so the engine never refuses an agent's order for funds.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import numpy as np
from pydantic import Field

from sim.core.book_layout import BUY, NIL, SELL
from sim.core.book_result import OK, Result
from sim.errors import BadScenario
from sim.market.book_agents_base import (
    MAX_TRACKED,
    BookStrategy,
    BookView,
    Cancel,
    Intent,
    Limit,
    Market,
    SizedParams,
    buy_lots,
    mid2,
    positive,
    sell_lots,
    sign,
)
from sim.market.book_agents_mm import MarketMaker, MarketMakerParams
from sim.market.book_agents_signal import BookMomentum, BookMomentumParams, Value, ValueParams

__all__ = [
    "BOOK_BUILTINS",
    "BookMomentum",
    "BookMomentumParams",
    "MarketMaker",
    "MarketMakerParams",
    "Noise",
    "NoiseParams",
    "Value",
    "ValueParams",
    "ZeroIntelligence",
    "ZeroIntelligenceParams",
    "book_strategy",
    "make_book_strategy",
]


class ZeroIntelligenceParams(SizedParams):
    """Parameters of the zero-intelligence constrained trader."""

    band: float = Field(default=0.05, gt=0, lt=1, allow_inf_nan=False,
                        description="limits lie within fundamental * (1 +- band)")
    dispersion: float = Field(default=0.02, ge=0, lt=1, allow_inf_nan=False,
                              description="an order's value (buy) or cost (sell) is "
                                          "fundamental * (1 + U(-dispersion, dispersion))")
    max_live: int = Field(default=4, ge=1, le=MAX_TRACKED,
                          description="resting orders per currency; at the bound it "
                                      "cancels its oldest instead of sending")


class ZeroIntelligence(BookStrategy[ZeroIntelligenceParams]):
    """Gode and Sunder's zero-intelligence constrained (ZI-C) trader on a book.

    Each order: a currency uniformly among the books, a side with probability 1/2, a
    private value (a buy) or cost (a sell) drawn around the fundamental ``f``, and a
    good-till-cancel limit uniform between the value and ``f * (1 - band)`` for a buy
    (so it never bids above its value) or between the cost and ``f * (1 + band)`` for a
    sell (never asks below its cost), rounded onto the ladder on the safe side. Budget
    constraint: the size is cut to what its cash pays or its units cover, and it passes
    when that is nothing. With ``max_live`` orders resting in a currency it cancels the
    oldest instead.
    """

    name: ClassVar[str] = "zi"

    def decide(self, view: BookView, rng: np.random.Generator) -> Intent | None:
        books = self.books(view)
        if not books:
            return None
        p = self.params
        r = rng.random(5).tolist()
        c = books[int(r[0] * len(books))]
        old = self.live.oldest(c)
        if old is not None and self.live.count(c) >= p.max_live:
            return Cancel(c, old.order_id)
        f = view.fundamental(c)
        if not positive(f):
            return None
        private = f * (1.0 + p.dispersion * (2.0 * r[1] - 1.0))
        lots = p.draw(r[3])
        if r[2] < 0.5:
            lo = f * (1.0 - p.band)
            if private <= lo:
                return None
            tick = view.tick_of(c, lo + r[4] * (private - lo))
            if view.price(c, tick) > private:
                tick -= 1
            if tick < 0:
                return None
            lots = buy_lots(view, c, tick, lots)
            side = BUY
        else:
            hi = f * (1.0 + p.band)
            if private >= hi:
                return None
            tick = view.tick_of(c, private + r[4] * (hi - private))
            if view.price(c, tick) < private:
                tick += 1
            if tick >= view.ticks(c):
                return None
            lots = sell_lots(view, c, lots)
            side = SELL
        return Limit(c, side, tick, lots) if lots >= 1 else None


class NoiseParams(SizedParams):
    """Parameters of the noise trader."""

    buy_prob: float = Field(default=0.5, ge=0, le=1, allow_inf_nan=False,
                            description="probability an order buys; 0.5 is unbiased noise")
    market_prob: float = Field(default=0.25, ge=0, le=1, allow_inf_nan=False,
                               description="probability an order is a market order")
    cancel_prob: float = Field(default=0.25, ge=0, le=1, allow_inf_nan=False,
                               description="probability a turn cancels its oldest order "
                                           "in the currency drawn, when it has one")
    max_offset: int = Field(default=8, ge=0, le=100_000,
                            description="ticks: a limit sits U{0..max_offset} ticks from "
                                        "the mid on its own side")
    max_live: int = Field(default=8, ge=1, le=MAX_TRACKED,
                          description="resting orders per currency; at the bound it "
                                      "cancels its oldest instead of sending")


class Noise(BookStrategy[NoiseParams]):
    """Noise on a book: a coin-flip side, a random size, a market order or a limit near
    the mid, and cancels of its old orders; unbiased by construction.

    Each turn draws, always the same six numbers: a currency uniformly among the books;
    with probability ``cancel_prob`` (or when ``max_live`` orders rest there) it cancels
    its oldest order in that currency; else a side, buy with probability ``buy_prob``;
    a size uniform in [``min_lots``, ``max_lots``]; with probability ``market_prob`` a
    market order, else a limit ``U{0..max_offset}`` ticks below the mid (a buy, floor of
    a half-tick mid) or above it (a sell, ceiling). Buys and sells are mirror images:
    same probability, same sizes, same offsets from the same reference (:func:`mid2`).

    Why the side is never switched and how refusals stay symmetric: an agent that flips
    to a buy when it cannot sell (or whose unfundable sells are refused while its buys
    pass) accumulates units: its holding is a walk reflected at zero, and the whole
    population buys more than it sells; on the pool that moved every price up by 5-14 %
    in 4 s (issue 12). So the side is drawn first and, when that side is not allowed,
    the agent passes. What is allowed must then be mirror symmetric too: the agent counts
    its committed position ``d`` in lots (its buys filled or resting minus its sells
    filled or resting, from its own results) and trades only while ``|d| <= D``, with
    ``D = min(h0, cash0 / (2 * n_books * lot_cash0))`` fixed at its first turn (``h0``
    the lots of the currency it holds, ``cash0`` its cash, ``lot_cash0`` a lot's cash at
    the mid then). The band is symmetric, so the law of ``d`` is symmetric about zero and
    the expected net flow is zero however long the run. ``D`` is at most the units it
    holds and at most what half its share of the cash buys, so inside the band every sell
    is covered and every buy is funded unless the price doubles; the remaining refusals
    (an empty opposite side for a market order, an order it cannot fund) are passes, never
    a switch of side. Endow noise agents with cash worth their units at the starting
    price: then both bounds of ``D`` agree and no part of the endowment is idle.
    """

    name: ClassVar[str] = "noise"

    def __init__(self, params: NoiseParams, n_currencies: int) -> None:
        super().__init__(params, n_currencies)
        # Per currency: the band half-width D and the committed position d, in lots.
        self._band: dict[int, int] = {}
        self.position: dict[int, int] = {}

    def _init_bands(self, view: BookView, books: list[int]) -> None:
        cash = view.cash()
        for c in books:
            ref = min(max(mid2(view, c) // 2, 0), view.ticks(c) - 1)
            self._band[c] = min(view.holding(c) // view.lot(c),
                                cash // (2 * len(books) * view.lot_cash(c, ref)))
            self.position[c] = 0

    def decide(self, view: BookView, rng: np.random.Generator) -> Intent | None:
        books = self.books(view)
        if not books:
            return None
        p = self.params
        r = rng.random(6).tolist()
        c = books[int(r[0] * len(books))]
        old = self.live.oldest(c)
        if old is not None and (r[1] < p.cancel_prob or self.live.count(c) >= p.max_live):
            return Cancel(c, old.order_id)
        side = BUY if r[2] < p.buy_prob else SELL
        lots = p.draw(r[3])
        if not self._band:
            self._init_bands(view, books)
        if abs(self.position[c] + sign(side) * lots) > self._band[c]:
            return None
        if r[4] < p.market_prob:
            tick = view.best_ask(c) if side == BUY else view.best_bid(c)
            if tick == NIL:
                return None
            intent: Intent = Market(c, side, lots)
        else:
            off = int(r[5] * (p.max_offset + 1))
            m2 = mid2(view, c)
            tick = m2 // 2 - off if side == BUY else m2 - m2 // 2 + off
            tick = min(max(tick, 0), view.ticks(c) - 1)
            intent = Limit(c, side, tick, lots)
        have = buy_lots(view, c, tick, lots) if side == BUY else sell_lots(view, c, lots)
        return intent if have == lots else None

    def on_result(self, intent: Intent, result: Result) -> None:
        if result.status == OK:
            if isinstance(intent, Cancel):
                o = self.live.get(intent.order_id)
                if o is not None:
                    self.position[o.currency] -= sign(o.side) * result.cancelled
            else:
                self.position[intent.currency] += sign(intent.side) * (result.filled
                                                                       + result.rested)
        super().on_result(intent, result)


BOOK_BUILTINS: Final[dict[str, type[BookStrategy[Any]]]] = {
    cls.name: cls for cls in (ZeroIntelligence, Noise, Value, BookMomentum, MarketMaker)
}


def book_strategy(name: str) -> type[BookStrategy[Any]]:
    """The book strategy class a scenario names by ``strategy:``."""
    cls = BOOK_BUILTINS.get(name)
    if cls is None:
        raise BadScenario(f"unknown book strategy '{name}'; expected one of "
                          f"{', '.join(sorted(BOOK_BUILTINS))}")
    return cls


def make_book_strategy(name: str, params: dict[str, Any],
                       n_currencies: int) -> BookStrategy[Any]:
    """Resolve, validate ``params`` (pydantic ValidationError propagates) and construct."""
    cls = book_strategy(name)
    return cls(cls.Params.model_validate(params), n_currencies)
