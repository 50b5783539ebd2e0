"""Book agents: budgets, the market maker's skew and requotes, the value agent's side, and
populations: noise alone does not drift beyond chance (and a biased noise is caught by the
same test), an ABIDES-like mix keeps a two-sided book that trades, and the agents trade
on the books of an exchange file through its ``Writer`` and the trader's ``MappedView``.

Most tests run the real engine over a bytearray (``Rig``, re-created with a lot of
``LOT`` minor units, as the file's books have), read by :class:`EngineView`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest
from pydantic import ValidationError

from sim.core import layout as L
from sim.core.book import Book
from sim.core.book_layout import BUY, GTC, NIL, POST_ONLY, SELL, BookGeometry
from sim.core.book_result import OK, REJ_CANCEL, REJ_FUNDS, REJ_PRICE, REJ_QTY, Result
from sim.core.exchange import BookSpec, CurrencySpec, Exchange, Funding
from sim.core.transaction import Writer
from sim.errors import BadScenario
from sim.market.book_agents import (
    BOOK_BUILTINS,
    BookMomentum,
    BookMomentumParams,
    MarketMaker,
    MarketMakerParams,
    Noise,
    NoiseParams,
    Value,
    ValueParams,
    ZeroIntelligence,
    ZeroIntelligenceParams,
    book_strategy,
    make_book_strategy,
)
from sim.market.book_agents_base import (
    BookStrategy,
    Cancel,
    Intent,
    Limit,
    LiveOrder,
    LiveOrders,
    Market,
    mid_price,
    send,
)
from sim.market.trader import MappedView
from tests.book_file_check import check_file
from tests.unit.book_reference import Rig, clean

LOT: Final = 10_000  # minor units of the currency in a lot: one unit at scale 10,000
TICKS: Final = 4000
PRICE_BASE: Final = 8000  # cash minor units per lot at tick 0: a rate of 1.0 is tick 2000
START: Final = 2000
CAPACITY: Final = 8192
MAX_FILLS: Final = 64
RICH: Final = (10**12, 10**8)


class EngineView:
    """The BookView of one account (``bind``) on one book, currency 0."""

    def __init__(self, rig: Rig, fundamental: float = 1.0) -> None:
        self.rig = rig
        self.book: Book = rig.book
        self.account = 0
        self.fund = fundamental
        self.clock = 0.0

    def bind(self, account: int) -> None:
        self.account = account

    def best_bid(self, c: int) -> int:
        return self.book.best(BUY)

    def best_ask(self, c: int) -> int:
        return self.book.best(SELL)

    def last_tick(self, c: int) -> int:
        return self.book.counter("last_tick")

    def ticks(self, c: int) -> int:
        return self.book.ticks

    def price(self, c: int, tick: int) -> float:
        return self.book.price(tick) / LOT

    def lot_cash(self, c: int, tick: int) -> int:
        return self.book.price(tick)

    def tick_of(self, c: int, rate: float) -> int:
        t = round((rate * LOT - self.book.price_base) / self.book.price_step)
        return min(max(t, 0), self.book.ticks - 1)

    def fundamental(self, c: int) -> float:
        return self.fund

    def cash(self) -> int:
        return self.rig.accounts.balances(self.account)[0]

    def holding(self, c: int) -> int:
        return self.rig.accounts.balances(self.account)[1]

    def lot(self, c: int) -> int:
        return LOT

    def time(self) -> float:
        return self.clock


class EngineTrader:
    """Order entry in the exchange's signature (account, currency, ...) on one book."""

    def __init__(self, book: Book) -> None:
        self.book = book

    def limit(self, a: int, c: int, side: int, tick: int, lots: int, tif: int = GTC,
              /) -> Result:
        return self.book.limit(a, side, tick, lots, tif)

    def market(self, a: int, c: int, side: int, lots: int, /) -> Result:
        return self.book.market(a, side, lots)

    def cancel(self, a: int, c: int, order_id: int, /) -> Result:
        return self.book.cancel(a, order_id)


def market(balances: list[tuple[int, int]], fundamental: float = 1.0) -> tuple[Rig, EngineView,
                                                                               EngineTrader]:
    """A fresh book (a rate of 1.0 at its middle tick) and accounts (cash, lots)."""
    geo = BookGeometry(TICKS, CAPACITY, MAX_FILLS)
    rig = Rig(geo, [(c, lots * LOT) for c, lots in balances])
    rig.book = Book.create(rig.q, 0, geo, rig.accounts, price_base=PRICE_BASE, price_step=1,
                           lot=LOT)
    return rig, EngineView(rig, fundamental), EngineTrader(rig.book)


def balanced(lots: int) -> tuple[int, int]:
    """An endowment of ``lots`` lots and the cash they are worth at the starting rate."""
    return lots * PRICE_BASE + lots * START, lots


def within_budget(view: EngineView, intent: Intent) -> bool:
    """Whether ``intent`` asks for no more cash or units than the account has."""
    if isinstance(intent, Cancel):
        return True
    if intent.side == SELL:
        return intent.lots * LOT <= view.holding(0)
    tick = intent.tick if isinstance(intent, Limit) else view.best_ask(0)
    return tick != NIL and intent.lots * view.lot_cash(0, tick) <= view.cash()


@dataclass
class Outcome:
    rig: Rig
    view: EngineView
    agents: list[BookStrategy[Any]]
    sent: Counter[str] = field(default_factory=Counter)
    tight: Counter[str] = field(default_factory=Counter)
    two_sided: int = 0
    looked: int = 0


def simulate(agents: list[BookStrategy[Any]], balances: list[tuple[int, int]],
             decisions: int, seed: int, *, weights: list[float] | None = None,
             warmup: int = 0, fundamental: float = 1.0, tight: bool = False) -> Outcome:
    """Run ``decisions`` turns, each of an agent drawn with ``weights`` (uniform by default).

    Every intent is checked against the agent's budget before it is sent, and no order
    may be refused for funds, a tick off the ladder or a quantity below one lot. After
    ``warmup`` turns it counts the turns that found both sides of the book quoted. With
    ``tight``, it counts per kind the turns of an agent with less than 5 lots of cash or
    units: turns where its budget can bind.
    """
    rig, view, trader = market(balances, fundamental)
    out = Outcome(rig, view, agents)
    n = len(agents)
    w = None if weights is None else np.asarray(weights) / sum(weights)
    order = np.random.default_rng([seed, 1]).choice(n, size=decisions, p=w).tolist()
    rngs = [np.random.default_rng([seed, 2, a]) for a in range(n)]
    for step, a in enumerate(order):
        view.bind(a)
        view.clock = step * 1e-3
        ag = agents[a]
        if tight and (view.cash() < 5 * view.lot_cash(0, START) or view.holding(0) < 5 * LOT):
            out.tight[ag.name] += 1
        intent = ag.decide(view, rngs[a])
        if step >= warmup:
            out.looked += 1
            out.two_sided += view.best_bid(0) != NIL and view.best_ask(0) != NIL
        if intent is None:
            continue
        assert within_budget(view, intent), (ag.name, intent, view.cash(), view.holding(0))
        res = send(trader, a, intent)
        assert res.status not in (REJ_FUNDS, REJ_PRICE, REJ_QTY), (ag.name, intent, res)
        out.sent[ag.name] += 1
        ag.on_result(intent, res)
    return out


# -- decisions of one agent --------------------------------------------------------------


def test_every_agent_keeps_to_its_budget() -> None:
    """Poor agents of every kind among rich noise: each intent fits the account (checked
    in ``simulate``), the engine never refuses one for funds, and budgets did bind."""
    poor = [a for _ in range(3) for a in every_kind()]
    rich: list[BookStrategy[Any]] = [Noise(NoiseParams(max_offset=2), 1) for _ in range(10)]
    out = simulate(poor + rich, [balanced(6)] * len(poor) + [balanced(10_000)] * len(rich),
                   6000, seed=7, tight=True)
    clean(out.rig)
    for k in every_kind():
        assert out.sent[k.name] > 20, (k.name, out.sent)
        assert out.tight[k.name] > 0, (k.name, out.tight)


def every_kind() -> list[BookStrategy[Any]]:
    return [ZeroIntelligence(ZeroIntelligenceParams(), 1), Noise(NoiseParams(), 1),
            Value(ValueParams(aggression=0.5), 1),
            BookMomentum(BookMomentumParams(short=2, long=4, threshold=0.0), 1),
            MarketMaker(MarketMakerParams(), 1)]


@pytest.mark.parametrize("fundamental", [0.5, 0.79, 1.21, 3.0])
def test_a_fundamental_off_the_ladder_sends_nothing_off_it(fundamental: float) -> None:
    """The ladder spans rates 0.8 to 1.2; agents anchored outside it clamp or pass."""
    agents = [a for _ in range(4) for a in every_kind()]
    out = simulate(agents, [balanced(1000)] * len(agents), 2000, seed=3,
                   fundamental=fundamental)
    clean(out.rig)
    assert sum(out.sent.values()) > 200, out.sent


def test_the_market_maker_skews_against_its_inventory() -> None:
    rig, view, _ = market([RICH, RICH])
    rig.book.limit(1, BUY, 1900, 10)
    rig.book.limit(1, SELL, 2100, 10)
    mm = MarketMaker(MarketMakerParams(levels=2, spacing=3, half_spread=4, spread_alpha=0.0,
                                       skew=0.05), 1)
    view.bind(0)
    flat = mm.plan(view, 0)
    assert [(q.side, q.tick, q.tif) for q in flat] == [
        (BUY, 1996, POST_ONLY), (SELL, 2004, POST_ONLY),
        (BUY, 1993, POST_ONLY), (SELL, 2007, POST_ONLY)]
    c, u = rig.accounts.balances(0)[:2]
    rig.accounts.fund(0, c, u + 100 * LOT)  # long 100 lots: the centre moves 5 ticks down
    assert mm.inventory(view, 0) == 100
    assert [q.tick for q in mm.plan(view, 0)] == [q.tick - 5 for q in flat]
    rig.accounts.fund(0, c, u - 100 * LOT)  # short 100 lots: 5 ticks up
    assert [q.tick for q in mm.plan(view, 0)] == [q.tick + 5 for q in flat]


def test_the_market_maker_stops_adding_to_a_full_inventory() -> None:
    rig, view, _ = market([RICH, RICH])
    mm = MarketMaker(MarketMakerParams(max_inventory=50), 1)
    view.bind(0)
    mm.plan(view, 0)
    c, u = rig.accounts.balances(0)[:2]
    rig.accounts.fund(0, c, u + 50 * LOT)
    assert {q.side for q in mm.plan(view, 0)} == {SELL}
    rig.accounts.fund(0, c, u - 50 * LOT)
    assert {q.side for q in mm.plan(view, 0)} == {BUY}


def test_the_market_maker_cancels_its_old_quotes_then_requotes() -> None:
    rig, view, trader = market([RICH, RICH])
    rng = np.random.default_rng(0)
    mm = MarketMaker(MarketMakerParams(levels=3), 1)

    def turn() -> tuple[Intent, Result]:
        view.bind(0)
        intent = mm.decide(view, rng)
        assert intent is not None
        res = send(trader, 0, intent)
        mm.on_result(intent, res)
        return intent, res

    first = [turn() for _ in range(6)]
    assert all(isinstance(i, Limit) and r.status == OK and r.rested for i, r in first)
    ids = [r.order_id for _, r in first]
    assert sorted(o.order_id for o in mm.live.of(0)) == sorted(ids)
    # Another account takes the inner ask whole: the maker learns it only by a refused cancel.
    inner_ask = first[1]
    assert isinstance(inner_ask[0], Limit) and inner_ask[0].side == SELL
    assert trader.market(1, 0, BUY, inner_ask[1].rested).filled == inner_ask[1].rested
    cancels = [turn() for _ in range(6)]
    assert [i.order_id for i, _ in cancels if isinstance(i, Cancel)] == ids
    assert [r.status for _, r in cancels] == [OK, REJ_CANCEL, OK, OK, OK, OK]
    assert len(mm.live) == 0
    again = [turn() for _ in range(6)]
    assert all(isinstance(i, Limit) and r.status == OK for i, r in again)
    resting = {o.order_id for s in (BUY, SELL) for t, _, _ in rig.book.depth(s, 10)
               for o in rig.book.level(s, t) if o.account == 0}
    assert resting == {r.order_id for _, r in again} == {o.order_id for o in mm.live.of(0)}
    clean(rig)


@pytest.mark.parametrize(("fundamental", "side", "tick"), [(1.05, BUY, 2005),
                                                            (0.95, SELL, 1995)])
def test_the_value_agent_trades_toward_its_estimate(fundamental: float, side: int,
                                                     tick: int) -> None:
    rig, view, trader = market([RICH, RICH], fundamental)
    rig.book.limit(1, BUY, 1995, 10)
    rig.book.limit(1, SELL, 2005, 10)
    agent = Value(ValueParams(obs_noise=0.0, aggression=1.0), 1)
    view.bind(0)
    intent = agent.decide(view, np.random.default_rng(1))
    assert isinstance(intent, Limit) and (intent.side, intent.tick) == (side, tick)
    assert send(trader, 0, intent).filled == intent.lots
    passive = Value(ValueParams(obs_noise=0.0, aggression=0.0, depth_spread=1.0), 1)
    for seed in range(20):
        intent = passive.decide(view, np.random.default_rng(seed))
        assert isinstance(intent, Limit) and intent.side == side
        assert abs(intent.tick - tick) < 10


def test_the_value_agent_never_pays_beyond_its_estimate() -> None:
    rig, view, _ = market([RICH, RICH], 1.004)  # above the mid (1.00225), below the ask
    rig.book.limit(1, BUY, 1995, 10)
    rig.book.limit(1, SELL, 2050, 10)
    agent = Value(ValueParams(obs_noise=0.0, aggression=1.0), 1)
    view.bind(0)
    intent = agent.decide(view, np.random.default_rng(1))
    assert isinstance(intent, Limit) and (intent.side, intent.tick) == (BUY, 2040)


def test_momentum_follows_the_trend_of_the_mid() -> None:
    rig, view, _ = market([RICH, RICH])
    agent = BookMomentum(BookMomentumParams(short=3, long=8, threshold=0.0002, lots=2), 1)
    rng = np.random.default_rng(0)
    seen: list[Intent | None] = []
    for step in range(20):
        tick = START + (2 * step if step < 10 else 40 - 4 * step)
        for s in (BUY, SELL):
            for o in rig.book.level(s, rig.book.best(s)) if rig.book.best(s) != NIL else []:
                rig.book.cancel(1, o.order_id)
        rig.book.limit(1, BUY, tick - 1, 50)
        rig.book.limit(1, SELL, tick + 1, 50)
        view.bind(0)
        seen.append(agent.decide(view, rng))
    assert seen[:7] == [None] * 7
    assert seen[7:10] == [Market(0, BUY, 2)] * 3
    assert Market(0, SELL, 2) in seen[12:]


def test_zero_intelligence_bids_below_its_value_and_asks_above_its_cost() -> None:
    _, view, _ = market([RICH])
    view.bind(0)
    agent = ZeroIntelligence(ZeroIntelligenceParams(band=0.05, dispersion=0.0), 1)
    rng = np.random.default_rng(3)
    sides: Counter[int] = Counter()
    for _ in range(400):
        intent = agent.decide(view, rng)
        assert isinstance(intent, Limit)
        sides[intent.side] += 1
        assert (1500 <= intent.tick <= START) if intent.side == BUY else (
            START <= intent.tick <= 2500)
    assert 150 < sides[BUY] < 250


@pytest.mark.parametrize("ask", [2010, 2011])
def test_noise_buys_and_sells_are_mirror_images(ask: int) -> None:
    """The same draws give a buy and a sell of the same kind and size, equally far from
    the mid (a whole or a half tick)."""
    rig, view, _ = market([balanced(100), balanced(100), RICH])
    rig.book.limit(2, BUY, 1990, 10)
    rig.book.limit(2, SELL, ask, 10)
    buyer = Noise(NoiseParams(buy_prob=1.0), 1)
    seller = Noise(NoiseParams(buy_prob=0.0), 1)
    kinds: Counter[str] = Counter()
    for seed in range(200):
        view.bind(0)
        b = buyer.decide(view, np.random.default_rng(seed))
        view.bind(1)
        s = seller.decide(view, np.random.default_rng(seed))
        assert type(b) is type(s)
        kinds[type(b).__name__] += 1
        if isinstance(b, Limit | Market):
            assert isinstance(s, Limit | Market)
            assert (b.side, s.side, b.lots) == (BUY, SELL, s.lots)
        if isinstance(b, Limit):
            assert isinstance(s, Limit) and b.tick + s.tick == 1990 + ask
    assert kinds["Limit"] > 100 and kinds["Market"] > 20, kinds


def test_a_noise_trader_never_switches_side() -> None:
    """Buying only, it buys to the top of its band, then passes or cancels: never sells."""
    rig, view, trader = market([balanced(10), RICH])
    rig.book.limit(1, SELL, START, 10**6)
    agent = Noise(NoiseParams(buy_prob=1.0, cancel_prob=0.0), 1)
    rng = np.random.default_rng(5)
    view.bind(0)
    for _ in range(200):
        intent = agent.decide(view, rng)
        assert intent is None or isinstance(intent, Cancel) or intent.side == BUY
        if intent is not None:
            agent.on_result(intent, send(trader, 0, intent))
    assert agent.position[0] == 5  # the band: min(10 lots, half the cash buys 5)


def test_an_agent_tracks_a_bounded_list_of_its_orders_per_currency() -> None:
    live = LiveOrders(cap=4)
    for i in range(6):
        live.add(LiveOrder(i % 2, 100 + i, BUY, 10, 1))
    assert len(live) == 4 and live.get(100) is None and live.get(101) is None
    assert [o.order_id for o in live.of(0)] == [102, 104]
    assert live.oldest(1) == LiveOrder(1, 103, BUY, 10, 1) and live.count(1) == 2
    assert live.pop(103) is not None and live.pop(103) is None
    assert live.oldest(1) is not None and live.oldest(1).order_id == 105  # type: ignore[union-attr]
    assert live.pop(105) is not None and live.oldest(1) is None and live.count(1) == 0


def test_the_registry_names_every_agent() -> None:
    assert sorted(BOOK_BUILTINS) == ["market_maker", "momentum", "noise", "value", "zi"]
    assert book_strategy("zi") is ZeroIntelligence
    with pytest.raises(BadScenario, match="unknown book strategy 'fifo'; expected one of"):
        book_strategy("fifo")
    agent = make_book_strategy("noise", {"buy_prob": 0.25}, 2)
    assert isinstance(agent, Noise) and agent.params.buy_prob == 0.25
    with pytest.raises(ValidationError, match="min_lots 3 > max_lots 2"):
        make_book_strategy("zi", {"min_lots": 3, "max_lots": 2}, 1)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        make_book_strategy("value", {"noise": 0.1}, 1)


# -- populations -------------------------------------------------------------------------

NOISE_AGENTS: Final = 50
NOISE_DECISIONS: Final = 20_000
NOISE_RUNS: Final = 6
T_LIMIT: Final = 3.0


def resting_buys(book: Book) -> Counter[int]:
    """Lots of resting buys per account."""
    out: Counter[int] = Counter()
    for t, _, _ in book.depth(BUY, book.ticks):
        for o in book.level(BUY, t):
            out[o.account] += o.qty
    return out


def drift_t(buy_prob: float) -> tuple[float, list[float]]:
    """The t statistic of the final log-return of the mid over seeded noise-only runs.

    Each run also checks each agent's committed position, which it keeps from its own
    results alone, against the book: units gained plus lots of resting buys."""
    returns = []
    start = balanced(1000)
    for seed in range(NOISE_RUNS):
        agents = [Noise(NoiseParams(buy_prob=buy_prob), 1) for _ in range(NOISE_AGENTS)]
        out = simulate(list(agents), [start] * NOISE_AGENTS, NOISE_DECISIONS, seed)
        clean(out.rig)
        buys = resting_buys(out.rig.book)
        for a, ag in enumerate(agents):
            units = out.rig.accounts.balances(a)[1]
            assert ag.position[0] == (units - start[1] * LOT) // LOT + buys[a], a
        returns.append(math.log(mid_price(out.view, 0)))
    r = np.asarray(returns)
    return float(r.mean() / (r.std(ddof=1) / math.sqrt(len(r)))), returns


@pytest.mark.timeout(60)
def test_noise_alone_does_not_drift_and_a_biased_noise_does() -> None:
    t, returns = drift_t(0.5)
    assert abs(t) < T_LIMIT, (t, returns)
    assert np.std(returns) > 0.0005, returns  # the price did move: it is noise, not a stall
    t_biased, returns = drift_t(0.6)
    assert t_biased > T_LIMIT, (t_biased, returns)


@pytest.mark.timeout(60)
def test_an_abides_like_mix_keeps_a_two_sided_book_that_trades() -> None:
    agents: list[BookStrategy[Any]] = (
        [MarketMaker(MarketMakerParams(levels=3, lots=5), 1) for _ in range(2)]
        + [Value(ValueParams(), 1) for _ in range(10)]
        + [BookMomentum(BookMomentumParams(), 1) for _ in range(4)]
        + [Noise(NoiseParams(), 1) for _ in range(34)])
    balances = [balanced(100_000)] * 2 + [balanced(1000)] * 48
    weights = [10.0] * 2 + [1.0] * 48
    out = simulate(agents, balances, NOISE_DECISIONS, seed=11, weights=weights, warmup=500)
    clean(out.rig)
    book = out.rig.book
    assert out.two_sided / out.looked > 0.99, (out.two_sided, out.looked)
    assert book.counter("fills") > 2000, book.counter("fills")
    assert all(out.sent[k] > 100 for k in ("market_maker", "value", "momentum", "noise")), out.sent
    assert abs(math.log(mid_price(out.view, 0))) < 0.05


def test_the_agents_trade_on_the_books_of_an_exchange_file(tmp_path: Path) -> None:
    """Every kind on two books of a file beside a pool, through two writers and the trader's
    view: no order refused for funds, none on the pool, every exact invariant of the file
    (``check_file``), both sides quoted at the end."""
    book = BookSpec(PRICE_BASE, 1, LOT, 1.0)
    ex = Exchange.create(str(tmp_path / L.EXCHANGE_FILE),
                         [CurrencySpec("EUR", 0, 0, book),
                          CurrencySpec("USD", 10**6 * LOT, 10**6 * LOT),
                          CurrencySpec("GBP", 0, 0, book)],
                         n_writers=2, n_accounts=24, ring_rows=256, scale=LOT, fee_bps=0,
                         book_shape=(TICKS, 4096, MAX_FILLS))
    (tmp_path / "ledger").mkdir()
    agents: list[BookStrategy[Any]] = (
        [MarketMaker(MarketMakerParams(), 3) for _ in range(2)]
        + [Value(ValueParams(), 3) for _ in range(4)]
        + [BookMomentum(BookMomentumParams(), 3) for _ in range(2)]
        + [ZeroIntelligence(ZeroIntelligenceParams(), 3) for _ in range(2)]
        + [Noise(NoiseParams(), 3) for _ in range(14)])
    # Cash worth the units of both books at the starting rate of 1.0.
    lots = [100_000] * 2 + [500] * 22
    ex.fund_accounts([Funding(a % 2, n * 2 * 10_000, [n * LOT, 0, n * LOT])
                      for a, n in enumerate(lots)], {0: L.KIND_TRADER, 1: L.KIND_TRADER})
    writers = [Writer(ex, w) for w in range(2)]
    view = MappedView(ex)
    order = np.random.default_rng([3, 1]).choice(
        len(agents), size=4000, p=np.array([10.0] * 2 + [1.0] * 22) / 42).tolist()
    rngs = [np.random.default_rng([3, 2, a]) for a in range(len(agents))]
    try:
        assert [view.ticks(c) for c in range(3)] == [TICKS, 0, TICKS]
        assert (view.lot(2), view.lot_cash(2, START), view.price(2, START)) == (LOT, 10_000, 1.0)
        assert [view.tick_of(0, r) for r in (1.0, 1.00004, 1.00006, 2.0, 0.0)] == [
            START, START, START + 1, TICKS - 1, 0]
        for a in order:
            view.bind(a)
            intent = agents[a].decide(view, rngs[a])
            if intent is None:
                continue
            assert intent.currency in (0, 2)
            res = send(writers[a % 2], a, intent)
            assert res.status != REJ_FUNDS, (agents[a].name, intent)
            agents[a].on_result(intent, res)
        check_file(ex)
        for c in (0, 2):
            b = ex.book(c)
            assert b.counter("fills") > 100, b.counter("fills")
            assert b.best(BUY) != NIL and b.best(SELL) != NIL
            assert (view.best_bid(c), view.best_ask(c)) == (b.best(BUY), b.best(SELL))
        assert int(ex.currencies()["seq"][1]) == 0
    finally:
        for wr in writers:
            wr.close()
        ex.close()
