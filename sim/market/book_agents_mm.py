"""The adaptive market maker for the book: layered post-only quotes, skewed by inventory.

As ABIDES's adaptive market maker and PAMS's market maker do, it quotes both sides
around the mid, wider when the market's spread is wide, and leans against its
inventory. One intent per turn, so a quoting cycle on one currency spans turns: first
a cancel of each order it still tracks there (oldest first; a refused cancel means the
order was filled), then its new quotes, planned all at once on the book as it is once
its own old quotes are gone, inner levels first, bid and ask alternating. Then the next
cycle, on the next book currency (round robin).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from sim.core.book_layout import BUY, NIL, POST_ONLY, SELL
from sim.market.book_agents_base import (
    MAX_TRACKED,
    BookStrategy,
    BookView,
    Cancel,
    Intent,
    Limit,
    mid2,
)
from sim.market.strategies import StrategyParams

__all__ = ["MarketMaker", "MarketMakerParams"]


class MarketMakerParams(StrategyParams):
    """Parameters of the market maker."""

    levels: int = Field(default=3, ge=1, le=MAX_TRACKED // 2,
                        description="quotes per side")
    spacing: int = Field(default=1, ge=1, le=100_000,
                         description="ticks between two quotes of one side")
    half_spread: int = Field(default=1, ge=1, le=100_000,
                             description="fewest ticks from the centre to an inner quote")
    max_half_spread: int = Field(default=50, ge=1, le=100_000,
                                 description="most ticks from the centre to an inner quote")
    spread_alpha: float = Field(default=0.1, ge=0, le=1, allow_inf_nan=False,
                                description="weight of the spread seen at a cycle in its "
                                            "moving average; 0: always half_spread")
    lots: int = Field(default=5, ge=1, le=1_000_000, description="lots per quote")
    skew: float = Field(default=0.05, ge=0, le=1000, allow_inf_nan=False,
                        description="ticks the centre moves against each lot of inventory")
    max_inventory: int = Field(default=200, ge=1, le=10**12,
                               description="lots: at or beyond it, no quotes on the side "
                                           "that would add to it")

    @model_validator(mode="after")
    def _ordered(self) -> MarketMakerParams:
        if self.half_spread > self.max_half_spread:
            raise ValueError(f"half_spread {self.half_spread} > max_half_spread "
                             f"{self.max_half_spread}")
        return self


class MarketMaker(BookStrategy[MarketMakerParams]):
    """Quotes ``levels`` post-only orders a side around the mid, skewed by inventory.

    Planning a cycle on currency ``c`` (see the module for the cycle):

    * inventory ``i``: lots held beyond those held at its first plan on ``c`` (all its
      own orders there are gone by now, so the holding is all of it);
    * half-spread ``h``: half the moving average (weight ``spread_alpha``) of the
      spreads it saw at its plans, in whole ticks, within [``half_spread``,
      ``max_half_spread``] (rounded down so its own quotes alone do not widen it);
    * centre ``m - skew * i`` with ``m`` the mid (:func:`mid2`): long, it quotes lower
      (sells sooner, buys later); short, higher;
    * bids at ``floor(centre - h) - k * spacing`` and asks at ``ceil(centre + h) +
      k * spacing`` for ``k < levels``, kept off the opposite best so none crosses
      when planned (post-only refuses the one the book moved into), ``lots`` each, cut to
      the cash and units left after the quotes before it; no bids while ``i >=
      max_inventory``, no asks while ``i <= -max_inventory``.
    """

    name: ClassVar[str] = "market_maker"

    def __init__(self, params: MarketMakerParams, n_currencies: int) -> None:
        super().__init__(params, n_currencies)
        self._c = 0
        self._next = 0
        self._cancels: list[int] = []
        self._due = False
        self._quotes: list[Limit] = []
        self._h0: dict[int, int] = {}
        self._spread: dict[int, float] = {}

    def decide(self, view: BookView, rng: np.random.Generator) -> Intent | None:
        if not (self._cancels or self._due or self._quotes):
            books = self.books(view)
            if not books:
                return None
            self._c = c = books[self._next % len(books)]
            self._next += 1
            self._due = True
            self._cancels = [o.order_id for o in reversed(self.live.of(c))]
        if self._cancels:
            return Cancel(self._c, self._cancels.pop())
        if self._due:
            self._due = False
            self._quotes = self.plan(view, self._c)
            self._quotes.reverse()
        return self._quotes.pop() if self._quotes else None

    def inventory(self, view: BookView, c: int) -> float:
        """Lots of ``c`` held beyond those at its first plan (0 before it)."""
        hold = view.holding(c)
        return (hold - self._h0.get(c, hold)) / view.lot(c)

    def plan(self, view: BookView, c: int) -> list[Limit]:
        """The quotes of a cycle on ``c``, in sending order (see the class)."""
        p = self.params
        lot = view.lot(c)
        hold = view.holding(c)
        self._h0.setdefault(c, hold)
        inv = self.inventory(view, c)
        b, a = view.best_bid(c), view.best_ask(c)
        avg = self._spread.get(c, 2.0 * p.half_spread)
        if b != NIL and a != NIL:
            avg += p.spread_alpha * ((a - b) - avg)
            self._spread[c] = avg
        h = min(max(int(avg / 2), p.half_spread), p.max_half_spread)
        centre = mid2(view, c) / 2 - p.skew * inv
        top = view.ticks(c) - 1
        cash, units = view.cash(), hold // lot
        quotes: list[Limit] = []
        for k in range(p.levels):
            if inv < p.max_inventory:
                t = math.floor(centre - h) - k * p.spacing
                if a != NIL:
                    t = min(t, a - 1)
                if 0 <= t <= top:
                    n = min(p.lots, cash // view.lot_cash(c, t))
                    if n:
                        quotes.append(Limit(c, BUY, t, n, POST_ONLY))
                        cash -= n * view.lot_cash(c, t)
            if inv > -p.max_inventory:
                t = math.ceil(centre + h) + k * p.spacing
                if b != NIL:
                    t = max(t, b + 1)
                if 0 <= t <= top:
                    n = min(p.lots, units)
                    if n:
                        quotes.append(Limit(c, SELL, t, n, POST_ONLY))
                        units -= n
        return quotes
