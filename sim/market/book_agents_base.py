"""What a book agent sees and sends: the view, the order intents, the strategy base class.

A book strategy is pure, as a pool strategy is (:mod:`sim.market.strategies`): it sees
the market only through a :class:`BookView`, draws randomness only from the generator
handed to :meth:`BookStrategy.decide`, does no I/O and takes no lock. Each call returns
at most one intent (:class:`Limit`, :class:`Market` or :class:`Cancel`); the trader loop
sends it (:func:`send`) and hands the engine's :class:`~sim.core.book_result.Result`
back through :meth:`BookStrategy.on_result`.

Units: quantities are whole lots; a price is a tick of the currency's ladder;
``view.lot_cash(c, t)`` is the exact cash (minor units) of one lot at tick ``t`` and
``view.lot(c)`` the minor units of the currency in one lot, so every budget check is
integer arithmetic and an agent never sends an order the engine refuses for funds.

Own orders: an agent learns that its resting order was filled only from other agents'
orders, which it never sees. So :class:`LiveOrders` records an id when a result says
the order rested and forgets it when a cancel of it succeeds or is refused with
``REJ_CANCEL`` (it was filled, or cancelled already): an agent that cancels what it
tracks keeps its list exact without ever reading the book's orders.
"""

from __future__ import annotations

import math
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
from pydantic import Field, model_validator

from sim.core.book_layout import BUY, GTC, NIL
from sim.core.book_result import OK, REJ_CANCEL, Result
from sim.errors import BadScenario
from sim.market.strategies import StrategyParams

__all__ = [
    "MAX_TRACKED",
    "BookStrategy",
    "BookTrader",
    "BookView",
    "Cancel",
    "Intent",
    "Limit",
    "LiveOrder",
    "LiveOrders",
    "Market",
    "SizedParams",
    "buy_lots",
    "mid2",
    "mid_price",
    "positive",
    "sell_lots",
    "send",
    "sign",
]

# Most live orders one agent tracks. Agents cancel before they reach their own (smaller)
# limit; past this bound the oldest id is forgotten, so memory stays bounded even for a
# strategy that never cancels.
MAX_TRACKED: Final = 64


class BookView(Protocol):
    """What a book agent may read, all of it cheap; the trader implements it per account.

    Ticks are indexes into a currency's price ladder, ``-1`` for none. A currency traded
    on a pool reports ``ticks(c) == 0``.
    """

    def best_bid(self, c: int) -> int:
        """Best bid tick of ``c`` (-1: no bids)."""
        ...

    def best_ask(self, c: int) -> int:
        """Best ask tick of ``c`` (-1: no asks)."""
        ...

    def last_tick(self, c: int) -> int:
        """Tick of the last fill in ``c`` (-1: none yet)."""
        ...

    def ticks(self, c: int) -> int:
        """Ticks on the ladder of ``c``'s book; 0 when ``c`` trades on a pool."""
        ...

    def price(self, c: int, tick: int) -> float:
        """Cash per unit at ``tick`` (display and comparisons; never for budgets)."""
        ...

    def lot_cash(self, c: int, tick: int) -> int:
        """Cash, in minor units, of one lot of ``c`` at ``tick``: exact."""
        ...

    def tick_of(self, c: int, rate: float) -> int:
        """The tick nearest to ``rate`` (cash per unit), clamped to the ladder."""
        ...

    def fundamental(self, c: int) -> float:
        """Fundamental value of ``c``, cash per unit, published by the coordinator."""
        ...

    def cash(self) -> int:
        """Own available cash, minor units (reserves of resting buys excluded)."""
        ...

    def holding(self, c: int) -> int:
        """Own available units of ``c``, minor units (reserves of resting sells excluded)."""
        ...

    def lot(self, c: int) -> int:
        """Minor units of ``c`` per lot."""
        ...

    def time(self) -> float:
        """Seconds since the run started."""
        ...


class Limit(NamedTuple):
    """A limit order: ``lots`` at ``tick``, good-till-cancel, IOC or post-only."""

    currency: int
    side: int
    tick: int
    lots: int
    tif: int = GTC


class Market(NamedTuple):
    """A market order: up to ``lots`` against the opposite side."""

    currency: int
    side: int
    lots: int


class Cancel(NamedTuple):
    """Cancel of one's own resting order ``order_id``."""

    currency: int
    order_id: int


Intent = Limit | Market | Cancel


class BookTrader(Protocol):
    """The order entry :func:`send` uses (the transaction layer's ``Writer``)."""

    def limit(self, a: int, c: int, side: int, tick: int, lots: int, tif: int = GTC,
              /) -> Result: ...

    def market(self, a: int, c: int, side: int, lots: int, /) -> Result: ...

    def cancel(self, a: int, c: int, order_id: int, /) -> Result: ...


def send(trader: BookTrader, account: int, intent: Intent) -> Result:
    """Send ``intent`` for ``account`` and return the engine's result."""
    if type(intent) is Limit:
        return trader.limit(account, intent.currency, intent.side, intent.tick, intent.lots,
                            intent.tif)
    if type(intent) is Market:
        return trader.market(account, intent.currency, intent.side, intent.lots)
    if type(intent) is Cancel:
        return trader.cancel(account, intent.currency, intent.order_id)
    raise TypeError(f"not a book order intent: {intent!r}")


class LiveOrder(NamedTuple):
    """One of the agent's own orders as it rested."""

    currency: int
    order_id: int
    side: int
    tick: int
    lots: int


class LiveOrders:
    """An agent's resting orders, oldest first, at most ``cap`` of them (see the module).

    Also kept per currency (dicts keep insertion order), so what an agent asks at each
    turn (how many rest in ``c``, the oldest there) costs O(1).
    """

    def __init__(self, cap: int = MAX_TRACKED) -> None:
        self.cap = cap
        self._by_id: dict[int, LiveOrder] = {}
        self._by_cur: dict[int, dict[int, LiveOrder]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, order: LiveOrder) -> None:
        self._by_id[order.order_id] = order
        self._by_cur.setdefault(order.currency, {})[order.order_id] = order
        if len(self._by_id) > self.cap:
            self.pop(next(iter(self._by_id)))

    def pop(self, order_id: int) -> LiveOrder | None:
        """Forget ``order_id``; returns what was tracked (None if nothing)."""
        o = self._by_id.pop(order_id, None)
        if o is not None:
            del self._by_cur[o.currency][order_id]
        return o

    def get(self, order_id: int) -> LiveOrder | None:
        return self._by_id.get(order_id)

    def of(self, c: int) -> list[LiveOrder]:
        """The live orders in currency ``c``, oldest first."""
        return list(self._by_cur.get(c, {}).values())

    def oldest(self, c: int) -> LiveOrder | None:
        d = self._by_cur.get(c)
        return next(iter(d.values())) if d else None

    def count(self, c: int) -> int:
        d = self._by_cur.get(c)
        return len(d) if d else 0


class SizedParams(StrategyParams):
    """Order sizes drawn uniformly in whole lots."""

    min_lots: int = Field(default=1, ge=1, le=1_000_000, description="lots")
    max_lots: int = Field(default=5, ge=1, le=1_000_000, description="lots")

    @model_validator(mode="after")
    def _ordered(self) -> SizedParams:
        if self.min_lots > self.max_lots:
            raise ValueError(f"min_lots {self.min_lots} > max_lots {self.max_lots}")
        return self

    def draw(self, u: float) -> int:
        """The size for a uniform draw ``u`` in [0, 1)."""
        return self.min_lots + int(u * (self.max_lots - self.min_lots + 1))


def positive(x: float) -> bool:
    """Whether ``x`` is a positive finite number (a usable price)."""
    return x > 0 and math.isfinite(x)


P = TypeVar("P", bound=StrategyParams)


class BookStrategy(Generic[P]):
    """Base of every book strategy, typed by its parameter model ``P``.

    As with :class:`~sim.market.strategies.Strategy`, ``class Mine(BookStrategy[MineParams])``
    carries ``Mine.Params`` for the scenario loader and receives the validated instance
    as ``self.params``. The base tracks the agent's own resting orders in ``self.live``
    (:meth:`on_result`); a subclass that extends :meth:`on_result` calls it.
    """

    name: ClassVar[str] = "book-strategy"
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            if get_origin(base) is BookStrategy and args and isinstance(args[0], type):
                cls.Params = args[0]

    def __init__(self, params: P, n_currencies: int) -> None:
        if not isinstance(params, type(self).Params):
            raise TypeError(f"{type(self).__name__} needs {type(self).Params.__name__}, "
                            f"got {type(params).__name__}")
        if n_currencies < 1:
            raise BadScenario(f"book strategy {self.name!r}: needs at least one currency")
        self.params: P = params
        self.n_currencies = n_currencies
        self.live = LiveOrders()
        self._books: list[int] | None = None

    def books(self, view: BookView) -> list[int]:
        """The currencies traded on a book (ladders never change during a run)."""
        if self._books is None:
            self._books = [c for c in range(self.n_currencies) if view.ticks(c) > 0]
        return self._books

    def decide(self, view: BookView, rng: np.random.Generator) -> Intent | None:
        """The next intent, or None to pass this turn."""
        raise NotImplementedError

    def on_result(self, intent: Intent, result: Result) -> None:
        """Learn what ``intent`` did: record a resting order, forget a cancelled one."""
        if type(intent) is Cancel:
            if result.status in (OK, REJ_CANCEL):
                self.live.pop(intent.order_id)
        elif type(intent) is Limit and result.status == OK and result.rested:
            self.live.add(LiveOrder(intent.currency, result.order_id, intent.side,
                                    intent.tick, result.rested))


def mid2(view: BookView, c: int) -> int:
    """Twice the reference tick of ``c``: bid + ask when both sides rest; else twice the
    last fill's tick; else twice the one best there is; else twice the fundamental's tick
    (the ladder's middle while no positive finite fundamental is published).

    Doubled so a half-tick mid stays an exact integer. Bids and asks play mirror roles,
    so a strategy that prices a buy ``d`` below it and a sell ``d`` above it is symmetric.
    """
    b, a = view.best_bid(c), view.best_ask(c)
    if b != NIL and a != NIL:
        return b + a
    t = view.last_tick(c)
    if t != NIL:
        return 2 * t
    if b != NIL or a != NIL:
        return 2 * max(a, b)
    f = view.fundamental(c)
    return 2 * (view.tick_of(c, f) if positive(f) else view.ticks(c) // 2)


def mid_price(view: BookView, c: int) -> float:
    """The reference price of ``c`` (cash per unit): :func:`mid2` as a price."""
    m2 = mid2(view, c)
    return 0.5 * (view.price(c, m2 // 2) + view.price(c, m2 - m2 // 2))


def buy_lots(view: BookView, c: int, tick: int, lots: int) -> int:
    """``lots`` cut to what the available cash pays at ``tick``."""
    return min(lots, view.cash() // view.lot_cash(c, tick))


def sell_lots(view: BookView, c: int, lots: int) -> int:
    """``lots`` cut to the available units."""
    return min(lots, view.holding(c) // view.lot(c))


def sign(side: int) -> int:
    """+1 for a buy, -1 for a sell."""
    return 1 if side == BUY else -1
