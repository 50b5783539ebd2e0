"""Book agents that trade on a signal: value (the fundamental) and momentum (the trend).

Both are :class:`~sim.market.book_agents_base.BookStrategy` subclasses with a pydantic
``Params`` model, registered in :mod:`sim.market.book_agents`. Their sizes are cut to
the budget before they send, as every book agent's are.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from sim.core.book_layout import BUY, NIL, SELL
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
    mid_price,
    positive,
    sell_lots,
)
from sim.market.strategies import StrategyParams

__all__ = ["BookMomentum", "BookMomentumParams", "Value", "ValueParams"]


class ValueParams(SizedParams):
    """Parameters of the value agent."""

    obs_noise: float = Field(default=0.01, ge=0, lt=1, allow_inf_nan=False,
                             description="standard deviation of one observation of the "
                                         "fundamental, as a fraction of it")
    obs_weight: float = Field(default=0.3, gt=0, le=1, allow_inf_nan=False,
                              description="weight of a new observation in the estimate "
                                          "(1: the latest observation alone)")
    aggression: float = Field(default=0.1, ge=0, le=1, allow_inf_nan=False,
                              description="probability an order is priced at the "
                                          "opposite touch, so it crosses")
    depth_spread: float = Field(default=2.0, ge=0, le=1000, allow_inf_nan=False,
                                description="a passive order sits U[0, depth_spread * "
                                            "spread) ticks back from the opposite touch")
    max_live: int = Field(default=1, ge=1, le=MAX_TRACKED,
                          description="resting orders per currency; at the bound it "
                                      "cancels its oldest instead of sending")


class Value(BookStrategy[ValueParams]):
    """ABIDES's value agent: trades toward its own noisy estimate of the fundamental.

    Each turn picks a currency uniformly among the books; with ``max_live`` orders
    resting there it withdraws the oldest (ABIDES's agent cancels its orders at each
    wake). Else it observes the fundamental with relative noise ``obs_noise`` and moves
    its private estimate ``e`` toward the observation by ``obs_weight``. With both sides
    quoted and ``e`` at or above the mid it buys, else it sells: at the opposite touch
    with probability ``aggression`` (crossing), else ``U[0, depth_spread * spread)``
    ticks back from it, as ABIDES prices; never beyond its estimate (a buy at most at
    ``e``'s tick, a sell at least there). With a side of the book empty it rests a limit
    at ``e``'s tick, buying if ``e`` is at or above the reference price. Sizes are cut to
    its budget.
    """

    name: ClassVar[str] = "value"

    def __init__(self, params: ValueParams, n_currencies: int) -> None:
        super().__init__(params, n_currencies)
        self.estimate: dict[int, float] = {}

    def decide(self, view: BookView, rng: np.random.Generator) -> Intent | None:
        books = self.books(view)
        if not books:
            return None
        p = self.params
        r = rng.random(4).tolist()
        z = float(rng.standard_normal())
        c = books[int(r[0] * len(books))]
        old = self.live.oldest(c)
        if old is not None and self.live.count(c) >= p.max_live:
            return Cancel(c, old.order_id)
        f = view.fundamental(c)
        if not positive(f):
            return None
        obs = f * (1.0 + p.obs_noise * z)
        est = self.estimate.get(c)
        est = obs if est is None else est + p.obs_weight * (obs - est)
        self.estimate[c] = est
        at = view.tick_of(c, est)
        b, a = view.best_bid(c), view.best_ask(c)
        if b != NIL and a != NIL:
            back = 0 if r[1] < p.aggression else int(r[2] * p.depth_spread * (a - b))
            if est >= 0.5 * (view.price(c, b) + view.price(c, a)):
                side, tick = BUY, min(a - back, at)
            else:
                side, tick = SELL, max(b + back, at)
        else:
            side = BUY if est >= mid_price(view, c) else SELL
            tick = at
        tick = min(max(tick, 0), view.ticks(c) - 1)
        lots = p.draw(r[3])
        lots = buy_lots(view, c, tick, lots) if side == BUY else sell_lots(view, c, lots)
        return Limit(c, side, tick, lots) if lots >= 1 else None


class BookMomentumParams(StrategyParams):
    """Parameters of the book momentum trader."""

    short: int = Field(default=5, ge=1, le=10_000,
                       description="own looks in the short moving average of the mid")
    long: int = Field(default=20, ge=2, le=10_000,
                      description="own looks in the long moving average of the mid")
    threshold: float = Field(default=0.0001, ge=0, lt=1, allow_inf_nan=False,
                             description="fraction by which the short average must exceed "
                                         "(fall below) the long one to buy (sell)")
    lots: int = Field(default=2, ge=1, le=1_000_000, description="lots per order")

    @model_validator(mode="after")
    def _ordered(self) -> BookMomentumParams:
        if self.short >= self.long:
            raise ValueError(f"short {self.short} must be below long {self.long}")
        return self


class BookMomentum(BookStrategy[BookMomentumParams]):
    """Trend follower: market orders in the direction of the short over the long average.

    Every turn it records the reference price (:func:`mid_price`: the mid, else the last
    fill) of every book currency. Once ``long`` looks are recorded it takes, for each,
    ``g = short average / long average - 1`` and acts on the largest ``|g|`` (ties: the
    lowest index): a market buy of ``lots`` if ``g > threshold``, a market sell if
    ``g < -threshold``, else it passes. A side with no opposite quotes, or that it cannot
    afford (a buy is cut to what its cash pays at the best ask, a sell to its units),
    gives way to the next strongest trend. No random draw.
    """

    name: ClassVar[str] = "momentum"

    def __init__(self, params: BookMomentumParams, n_currencies: int) -> None:
        super().__init__(params, n_currencies)
        self._hist: dict[int, deque[float]] = {}

    def decide(self, view: BookView, rng: np.random.Generator) -> Intent | None:
        p = self.params
        trends = []
        for c in self.books(view):
            h = self._hist.get(c)
            if h is None:
                h = self._hist[c] = deque(maxlen=p.long)
            h.append(mid_price(view, c))
            if len(h) == p.long:
                g = (sum(islice(h, p.long - p.short, None)) / p.short) / (sum(h) / p.long) - 1
                trends.append((-abs(g), c, g))
        for _, c, g in sorted(trends):
            if g > p.threshold:
                ask = view.best_ask(c)
                lots = buy_lots(view, c, ask, p.lots) if ask != NIL else 0
                side = BUY
            elif g < -p.threshold:
                lots = sell_lots(view, c, p.lots) if view.best_bid(c) != NIL else 0
                side = SELL
            else:
                return None
            if lots >= 1:
                return Market(c, side, lots)
        return None
