"""Example user plug-in strategy: a mean reverter on its own moving average of prices.

Any importable ``Strategy`` subclass can trade in a scenario; name it as
``package.module:ClassName``. With the repository root on ``sys.path`` (running ``sim``
from the checkout does this), a scenario uses this one as::

    traders:
      - count: 2
        strategy: examples.plugin_strategy:MeanReverter
        cash: 10000
        holdings: 100
        params: {alpha: 0.05, band: 0.002, qty: 2}

``params`` is validated against ``MeanReverterParams`` (the type argument of
``Strategy[...]``, which the class also carries as ``MeanReverter.Params``) when the
scenario is loaded, so a typo such as ``bnad`` is reported before any process starts.

The rules a plug-in must keep: be pure (no I/O, locks or sleeping; the trader loop owns
arrival timing), observe the market only through the ``MarketView`` it is given, and draw
every random number from the ``rng`` argument so that runs replay from their seed.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from sim.core.layout import SIDE_BUY, SIDE_SELL
from sim.market.strategies import MarketView, Order, Strategy, StrategyParams

__all__ = ["MeanReverter", "MeanReverterParams"]


class MeanReverterParams(StrategyParams):
    """Parameters of :class:`MeanReverter`; the base keeps extra="forbid" and frozen."""

    alpha: float = Field(default=0.05, gt=0, le=1, description="EMA weight of the newest rate")
    band: float = Field(default=0.002, ge=0, allow_inf_nan=False,
                        description="half-width (fraction) of the no-trade band")
    qty: float = Field(default=2.0, gt=0, allow_inf_nan=False, description="units per order")


class MeanReverter(Strategy[MeanReverterParams]):
    """Bets that each price returns to its exponential moving average.

    It keeps a per-currency EMA of the rates it has seen (weight ``alpha`` on the newest)
    and each call looks at one currency picked uniformly with ``rng``, comparing its rate
    with the average of earlier rates: it buys ``qty`` units when the rate is below
    ``ema * (1 - band)``, sells them when above ``ema * (1 + band)`` and it holds enough,
    else passes. The first call only seeds the averages.
    """

    name: ClassVar[str] = "mean_reverter"

    def __init__(self, params: MeanReverterParams, n_currencies: int, scale: int) -> None:
        super().__init__(params, n_currencies, scale)
        p = params  # typed by the class's parameter model: no isinstance needed
        self._alpha = p.alpha
        self._band = p.band
        self._qty = max(1, round(p.qty * scale))
        # NaN marks "no observation yet": the first finite rate seeds the average.
        self._ema = [float("nan")] * n_currencies

    def decide(self, view: MarketView, rng: np.random.Generator) -> Order | None:
        ema = self._ema
        a = self._alpha
        rates = [view.rate(k) for k in range(self.n_currencies)]
        c = int(rng.integers(self.n_currencies))
        # Compare with the average of earlier rates: folding the current one in first
        # would shrink every deviation by (1 - alpha) and silence alpha = 1 entirely.
        rate, mean = rates[c], ema[c]
        for k, r in enumerate(rates):
            if r != r:  # an emptied pool has no price; keep the old average
                continue
            ema[k] = r if ema[k] != ema[k] else ema[k] + a * (r - ema[k])
        if not (mean > 0 and rate > 0):
            return None
        if rate < mean * (1.0 - self._band):
            return Order(c, SIDE_BUY, self._qty)
        if rate > mean * (1.0 + self._band) and view.holding(c) >= self._qty:
            return Order(c, SIDE_SELL, self._qty)
        return None
