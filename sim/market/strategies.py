"""Trading strategies: pure functions of a read-only market view and a seeded generator.

A strategy sees the market only through a :class:`MarketView` (prices, fundamentals, its
own account) and draws randomness only from the ``numpy.random.Generator`` handed to
:meth:`Strategy.decide`, so a run is reproducible from its seed. Strategies do no I/O,
take no locks, never touch the mapped bytes and never sleep: arrival timing belongs to
the trader loop, and the exchange decides whether an order is accepted.

Built-ins are looked up by name (:data:`BUILTINS`); anything else is a user plug-in named
``package.module:ClassName`` and imported on demand (see ``examples/plugin_strategy.py``).
"""

from __future__ import annotations

import importlib
import math
from collections import deque
from typing import (
    Any,
    ClassVar,
    Final,
    Generic,
    NamedTuple,
    Protocol,
    TypeVar,
    get_args,
    get_origin,
)

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.core import layout as L
from sim.errors import BadScenario

__all__ = [
    "BUILTINS",
    "Fundamentalist",
    "FundamentalistParams",
    "MarketView",
    "Momentum",
    "MomentumParams",
    "Order",
    "RandomParams",
    "RandomTrader",
    "Strategy",
    "StrategyParams",
    "make_strategy",
    "resolve",
]

# Numbers drawn per refill of the random trader's buffer: large enough that the numpy
# call overhead (~15 µs a refill) is small per order, small enough that the buffers of
# hundreds of agents in one process stay in cache: with 4096, 1,000 asap agents on two
# processes ran at 0.7x the throughput of 2 agents; with 256 at 0.95x, and 2 agents no
# slower.
RANDOM_BLOCK: Final = 256
# The first refill's size; each refill quadruples it up to RANDOM_BLOCK. A process hosting
# thousands of agents that each send a few orders would otherwise draw (and hold) 4096
# orders per agent before its first trade.
RANDOM_FIRST_BLOCK: Final = 16
_new_tuple: Final = tuple.__new__


class Order(NamedTuple):
    """One order for the exchange; ``qty`` is in minor units of the currency."""

    currency: int
    side: int
    qty: int


class MarketView(Protocol):
    """What a strategy may observe; the trader process implements it over the mapping."""

    n_currencies: int
    names: tuple[str, ...]
    scale: int

    def rate(self, c: int) -> float:
        """Current pool price of currency ``c``: home money per unit (NaN if undefined)."""
        ...

    def fundamental(self, c: int) -> float:
        """Fundamental value of currency ``c`` published in the mapped header (news)."""
        ...

    def cash(self) -> int:
        """Own cash, minor units."""
        ...

    def holding(self, c: int) -> int:
        """Own units of currency ``c``, minor units."""
        ...

    def time(self) -> float:
        """Seconds since the run started."""
        ...


def _minor(units: float, scale: int) -> int:
    """Units to minor units, never below one minor unit (a zero order is meaningless)."""
    return max(1, round(units * scale))


class StrategyParams(BaseModel):
    """Base of every strategy's parameter model: unknown keys refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=StrategyParams)


class Strategy(Generic[P]):
    """Base of every strategy, built-in or plug-in, typed by its parameter model ``P``.

    A subclass names its model as the type argument, ``class Mine(Strategy[MineParams])``
    with ``MineParams`` deriving from :class:`StrategyParams`; the class then carries it
    as ``Mine.Params`` (the scenario loader validates ``params`` with it) and receives an
    instance of it, already validated, as ``self.params``: no ``isinstance`` needed.
    """

    name: ClassVar[str] = "strategy"
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    # True when decide() never passes: then orders sent per second can be held against
    # the arrival rate a scenario asks for (a strategy that passes sends fewer by design).
    always_orders: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            if get_origin(base) is Strategy and args and isinstance(args[0], type):
                cls.Params = args[0]

    def __init__(self, params: P, n_currencies: int, scale: int) -> None:
        # Kept at run time for callers without a type checker (plug-ins, notebooks).
        if not isinstance(params, type(self).Params):
            raise TypeError(f"{type(self).__name__} needs {type(self).Params.__name__}, "
                            f"got {type(params).__name__}")
        if n_currencies < 1:
            raise BadScenario(f"strategy {self.name!r}: needs at least one currency")
        if scale < 1:
            raise BadScenario(f"strategy {self.name!r}: scale must be >= 1, got {scale}")
        self.params: P = params
        self.n_currencies = n_currencies
        self.scale = scale

    def decide(self, view: MarketView, rng: np.random.Generator) -> Order | None:
        """The next order, or None to pass this turn."""
        raise NotImplementedError


class RandomParams(StrategyParams):
    """Parameters of the random strategy."""

    min_qty: float = Field(default=1.0, gt=0, allow_inf_nan=False, description="units")
    max_qty: float = Field(default=10.0, gt=0, allow_inf_nan=False, description="units")
    buy_prob: float = Field(default=0.5, ge=0, le=1,
                            description="probability an order buys while the agent holds "
                                        "its endowment; 0.5 is unbiased noise")
    vol_gain: float = Field(default=0.0, ge=0, le=4, allow_inf_nan=False,
                            description="sizes scale as (recent/long-run variance of the "
                                        "currency's returns) ** (vol_gain / 2); 0: off")
    vol_fast: float = Field(default=0.05, gt=0, le=1, allow_inf_nan=False,
                            description="weight of a new look in the recent variance")
    vol_slow: float = Field(default=0.002, gt=0, le=1, allow_inf_nan=False,
                            description="weight of a new look in the long-run variance")
    vol_cap: float = Field(default=4.0, ge=1, allow_inf_nan=False,
                           description="size multiplier bounds: [1 / vol_cap, vol_cap]")

    @model_validator(mode="after")
    def _ordered(self) -> RandomParams:
        if self.min_qty > self.max_qty:
            raise ValueError(f"min_qty {self.min_qty} > max_qty {self.max_qty}")
        return self


class RandomTrader(Strategy[RandomParams]):
    """Noise: random buys and sells whose net order flow is zero in expectation.

    Why not simply "buy or sell, each with probability 1/2": with only noise on a
    constant-product pool, the pool's units are the initial units minus the agents'
    net purchases, so the price ``k / units**2`` drifts exactly as far as the agents
    accumulate units. A trader that sends sells it cannot cover has them rejected while
    its buys go through: its holding is a random walk reflected at zero, whose mean grows
    like the square root of its orders. Measured on the default scenario without fees
    (4 s, 541k trades, 2,146 rejections): the agents bought 1.6k-2.5k units more than they
    sold per currency and every price rose 4-6 %; in a one-process model of that run all
    2,410 rejections were sells.

    So each agent keeps its holding of every currency inside a band around its
    endowment ``h0`` (the holding seen at its first decision), of half-width
    ``D = min(h0, cash0 / (2 * rate0 * n_currencies))`` (cash0, rate0 also as first
    seen, so buys stay fundable even if the price doubles). With ``d`` the holding minus
    ``h0`` and ``x = d / D``:

    * side: buy with probability ``buy_prob * (1 - x**3)`` when ``x >= 0`` and
      ``buy_prob + (1 - buy_prob) * (-x)**3`` when ``x < 0``, so ``buy_prob`` at the
      endowment and certainly a sell (a buy) at the band's top (bottom); the cube keeps
      the pull weak in the middle of the band, so the flow stays close to a coin flip;
    * size: uniform in [``min_qty``, ``max_qty``] units (rounded, at least one minor
      unit), cut so the holding stays in the band: a buy to ``D - d``, a sell to ``D + d``
      (never more than it holds, since ``D <= h0``).

    Every order is then fundable, and with ``buy_prob = 0.5`` the rule is mirror
    symmetric in ``d``: the law of ``d`` stays symmetric about zero at every step, so
    each agent's expected net purchase, hence the expected drift of the pool's units, is
    exactly zero, whatever the sizes and however long the run. (Equal units on both
    sides is also equal cash value at the current price; the remaining asymmetry of a
    pool, ``log price = log k - 2 log units``, is of order ``var(units) / units**2``:
    1e-7 here.) A currency whose band is empty (no holding or no cash) is not traded;
    an agent with none at all passes.

    With ``vol_gain > 0`` the noise also reacts to volatility, as traders do: at each
    look at currency ``c`` it updates a recent and a long-run average of the squared log
    return of ``c`` between its own looks (exponential, weights ``vol_fast`` and
    ``vol_slow``) and multiplies the drawn size by ``(recent / long-run) **
    (vol_gain / 2)``, bounded to [1 / ``vol_cap``, ``vol_cap``], before the band cuts it.
    Big moves make all such agents trade bigger on both sides, which makes more big
    moves: volatility clusters and decays slowly, while the side is still a coin flip, so
    returns gain no linear autocorrelation. Sizes depend on the market, not on the side,
    so the argument above holds given the price path (exactly for an agent too small to
    move it; ``tests/unit/test_strategies.py`` checks the flow on a moving price).

    This is on the benchmark's hot path, where one numpy scalar draw costs more than the
    rest of a decision, so currency, coin and size are drawn in blocks (growing fourfold
    from :data:`RANDOM_FIRST_BLOCK` to :data:`RANDOM_BLOCK`) from the generator passed
    to the call that finds the buffer empty, and handed out one by one. The sequence is
    still fully determined by the generator's state and the agent's holdings.
    """

    name: ClassVar[str] = "random"
    always_orders: ClassVar[bool] = True

    def __init__(self, params: RandomParams, n_currencies: int, scale: int) -> None:
        super().__init__(params, n_currencies, scale)
        p = params
        self._lo = p.min_qty * scale
        self._hi = p.max_qty * scale
        self._buy_prob = p.buy_prob
        # Stored reversed so list.pop() (O(1) from the end) yields the drawn order.
        self._buf: list[tuple[int, int, int, float, int]] = []
        self._block = RANDOM_FIRST_BLOCK
        # Set at the first decision: (currency, endowment h0, band half-width D) of the
        # currencies it trades.
        self._bands: list[tuple[int, int, int]] | None = None
        self._vol = p.vol_gain > 0
        # Per currency: last rate seen, recent and long-run mean squared log return.
        self._last = [math.nan] * n_currencies
        self._var_fast = [0.0] * n_currencies
        self._var_slow = [0.0] * n_currencies

    def _init_bands(self, view: MarketView) -> list[tuple[int, int, int]]:
        n = self.n_currencies
        cash = view.cash()
        bands = []
        for c in range(n):
            h0 = view.holding(c)
            rate = view.rate(c)
            d = h0
            if rate > 0 and math.isfinite(rate):
                d = min(h0, int(cash / (2.0 * rate * n)))
            if d >= 1:
                bands.append((c, h0, d))
        return bands

    def _refill(self, rng: np.random.Generator, bands: list[tuple[int, int, int]]) -> None:
        n = self._block
        self._block = min(4 * n, RANDOM_BLOCK)
        idx = rng.integers(0, len(bands), size=n)
        coin = rng.random(n)
        qty = np.maximum(np.rint(rng.uniform(self._lo, self._hi, n)), 1).astype(np.int64)
        # Each entry carries its currency's band, so decide() does no lookup of its own.
        band = np.array(bands, dtype=np.int64)[idx]
        buf = list(zip(band[:, 0].tolist(), band[:, 1].tolist(), band[:, 2].tolist(),
                       coin.tolist(), qty.tolist(), strict=True))
        buf.reverse()
        self._buf = buf

    def decide(self, view: MarketView, rng: np.random.Generator) -> Order | None:
        buf = self._buf
        if not buf:
            bands = self._bands
            if bands is None:
                bands = self._bands = self._init_bands(view)
            if not bands:
                return None
            self._refill(rng, bands)
            buf = self._buf
        c, h0, band, coin, qty = buf.pop()
        if self._vol:
            qty = self._vol_scaled(view, c, qty)
        d = view.holding(c) - h0
        x = d / band
        bp = self._buy_prob
        if x >= 0.0:
            p_buy = bp * (1.0 - x * x * x) if x < 1.0 else 0.0
        else:
            p_buy = bp - (1.0 - bp) * x * x * x if x > -1.0 else 1.0
        # tuple.__new__ builds the Order in C; Order(...) runs Python code per order.
        if coin < p_buy:
            cap = band - d
            return _new_tuple(Order, (c, L.SIDE_BUY, qty if qty < cap else cap))
        cap = band + d
        return _new_tuple(Order, (c, L.SIDE_SELL, qty if qty < cap else cap))


    def _vol_scaled(self, view: MarketView, c: int, qty: int) -> int:
        """``qty`` scaled by the currency's recent over long-run variance (see above)."""
        p = self.params
        rate = view.rate(c)
        last = self._last[c]
        if rate > 0 and math.isfinite(rate):
            self._last[c] = rate
            if last > 0:
                x = math.log(rate / last) ** 2
                self._var_fast[c] += p.vol_fast * (x - self._var_fast[c])
                self._var_slow[c] += p.vol_slow * (x - self._var_slow[c])
        slow = self._var_slow[c]
        if slow <= 0.0:
            return qty
        m = float((self._var_fast[c] / slow) ** (0.5 * p.vol_gain))
        m = min(p.vol_cap, max(1.0 / p.vol_cap, m))
        return max(1, round(qty * m))


class MomentumParams(StrategyParams):
    """Parameters of the momentum strategy."""

    lookback: int = Field(default=20, ge=1,
                          description="steps (own observations) the return spans")
    threshold: float = Field(default=0.001, ge=0, allow_inf_nan=False,
                             description="return (fraction) that triggers a trade")
    qty: float = Field(default=5.0, gt=0, allow_inf_nan=False, description="units per order")


class Momentum(Strategy[MomentumParams]):
    """Trend follower on its own observed prices.

    Every call records ``view.rate(c)`` of every currency in a ring of ``lookback + 1``
    observations. Once the ring is full it takes the return over the last ``lookback``
    steps (newest / oldest - 1) and acts on the currency with the largest absolute
    return (ties: lowest index), so it follows the strongest trend and needs no random
    draw: buy ``qty`` units if that return exceeds ``threshold``, sell them if it is below
    ``-threshold``, else pass. It sells only what it holds (else it moves on to the next
    strongest trend); buys are sent unchecked and the exchange rejects those it cannot
    fund. Currencies whose oldest or newest observed rate is not a positive finite number
    are skipped.
    """

    name: ClassVar[str] = "momentum"

    def __init__(self, params: MomentumParams, n_currencies: int, scale: int) -> None:
        super().__init__(params, n_currencies, scale)
        p = params
        self._lookback = p.lookback
        self._threshold = p.threshold
        self._qty = _minor(p.qty, scale)
        self._hist: list[deque[float]] = [deque(maxlen=p.lookback + 1)
                                          for _ in range(n_currencies)]

    def decide(self, view: MarketView, rng: np.random.Generator) -> Order | None:
        hist = self._hist
        for c, h in enumerate(hist):
            h.append(view.rate(c))
        if len(hist[0]) <= self._lookback:
            return None
        trends = []
        for c, h in enumerate(hist):
            first, last = h[0], h[-1]
            if first > 0 and math.isfinite(first) and math.isfinite(last):
                trends.append((-abs(last / first - 1.0), c, last / first - 1.0))
        # Strongest trend first; one it cannot act on (a sell of what it does not hold)
        # gives way to the next, so selling out of one currency never freezes it.
        for _, c, ret in sorted(trends):
            if ret > self._threshold:
                return Order(c, L.SIDE_BUY, self._qty)
            if ret < -self._threshold:
                if view.holding(c) >= self._qty:
                    return Order(c, L.SIDE_SELL, self._qty)
                continue
            return None
        return None


class FundamentalistParams(StrategyParams):
    """Parameters of the fundamentalist strategy."""

    threshold: float = Field(default=0.01, ge=0, allow_inf_nan=False,
                             description="half-width (fraction) of the no-trade band")
    qty: float = Field(default=5.0, gt=0, allow_inf_nan=False,
                       description="base units per order")
    cap: float = Field(default=4.0, ge=1, allow_inf_nan=False,
                       description="largest multiple of qty in one order")


class Fundamentalist(Strategy[FundamentalistParams]):
    """Trades each price toward the fundamental value published in the header.

    It acts on the currency with the largest relative mispricing
    ``gap = rate / fundamental - 1`` (ties: lowest index): buy if
    ``rate < fundamental * (1 - threshold)``, sell if ``rate > fundamental * (1 + threshold)``,
    else pass. The order is ``qty * min(cap, |gap| / threshold)`` units (``qty * cap``
    when ``threshold`` is 0), so it leans harder on bigger mispricings but never beyond
    ``cap`` times its base size. A sell is cut to what it holds (when it holds nothing it
    moves on to the next largest mispricing); buys are sent unchecked. Currencies whose
    rate or fundamental is not a positive finite number are skipped.
    """

    name: ClassVar[str] = "fundamentalist"

    def __init__(self, params: FundamentalistParams, n_currencies: int, scale: int) -> None:
        super().__init__(params, n_currencies, scale)
        p = params
        self._threshold = p.threshold
        self._qty = p.qty
        self._cap = p.cap

    def decide(self, view: MarketView, rng: np.random.Generator) -> Order | None:
        gaps = []
        for c in range(self.n_currencies):
            fund = view.fundamental(c)
            rate = view.rate(c)
            if fund > 0 and rate > 0 and math.isfinite(fund) and math.isfinite(rate):
                gaps.append((-abs(rate / fund - 1.0), c, rate, fund))
        thr = self._threshold
        # Largest mispricing first; a sell of what it does not hold gives way to the next.
        for neg_gap, c, rate, fund in sorted(gaps):
            if rate < fund * (1.0 - thr):
                side = L.SIDE_BUY
            elif rate > fund * (1.0 + thr):
                side = L.SIDE_SELL
            else:
                return None
            mult = self._cap if thr == 0 else min(self._cap, -neg_gap / thr)
            qty = _minor(self._qty * mult, self.scale)
            if side == L.SIDE_SELL:
                qty = min(qty, view.holding(c))
                if qty < 1:
                    continue
            return Order(c, side, qty)
        return None


BUILTINS: Final[dict[str, type[Strategy[Any]]]] = {
    cls.name: cls for cls in (Fundamentalist, Momentum, RandomTrader)
}


def resolve(name: str) -> type[Strategy[Any]]:
    """The strategy class for a built-in name or a ``package.module:ClassName`` plug-in."""
    cls = BUILTINS.get(name)
    if cls is not None:
        return cls
    mod_name, sep, cls_name = name.partition(":")
    if not (sep and mod_name.strip() and cls_name.strip()):
        raise BadScenario(f"unknown strategy '{name}'; expected one of "
                          f"{', '.join(sorted(BUILTINS))} or module:Class")
    try:
        module = importlib.import_module(mod_name)
    except Exception as e:  # a plug-in may fail in any way while importing
        raise BadScenario(f"strategy '{name}': cannot import module '{mod_name}' "
                          f"({type(e).__name__}: {e})") from e
    obj = getattr(module, cls_name, None)
    if obj is None:
        raise BadScenario(f"strategy '{name}': module '{mod_name}' has no class '{cls_name}'")
    if not (isinstance(obj, type) and issubclass(obj, Strategy)) or obj is Strategy:
        raise BadScenario(f"strategy '{name}': '{cls_name}' is not a Strategy subclass")
    return obj


def make_strategy(name: str, params: dict[str, Any], n_currencies: int,
                  scale: int) -> Strategy[Any]:
    """Resolve, validate ``params`` (pydantic ValidationError propagates) and construct."""
    cls = resolve(name)
    return cls(cls.Params.model_validate(params), n_currencies, scale)
