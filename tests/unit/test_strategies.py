"""Unit tests of the strategies on a fake market view: no exchange file, no processes."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from sim.core.layout import SIDE_BUY, SIDE_SELL
from sim.errors import BadScenario
from sim.market.strategies import (
    BUILTINS,
    RANDOM_BLOCK,
    Fundamentalist,
    FundamentalistParams,
    Momentum,
    MomentumParams,
    Order,
    RandomParams,
    RandomTrader,
    Strategy,
    StrategyParams,
    make_strategy,
    resolve,
)

__all__: list[str] = []

SCALE = 100


class FakeView:
    """A settable MarketView; quantities in minor units like the real one."""

    def __init__(self, rates: list[float], fundamentals: list[float] | None = None,
                 holdings: list[int] | None = None, cash: int = 10_000 * SCALE) -> None:
        self.n_currencies = len(rates)
        self.names = tuple(f"C{i}" for i in range(len(rates)))
        self.scale = SCALE
        self.rates = list(rates)
        self.fundamentals = list(fundamentals) if fundamentals is not None else list(rates)
        self.holdings = list(holdings) if holdings is not None else [0] * len(rates)
        self.own_cash = cash
        self.t = 0.0

    def rate(self, c: int) -> float:
        return self.rates[c]

    def fundamental(self, c: int) -> float:
        return self.fundamentals[c]

    def cash(self) -> int:
        return self.own_cash

    def holding(self, c: int) -> int:
        return self.holdings[c]

    def time(self) -> float:
        return self.t


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def feed(strategy: Strategy, view: FakeView, prices: list[list[float]]) -> list[Order | None]:
    """One decide() per row of prices (one price per currency)."""
    g = rng()
    out = []
    for row in prices:
        view.rates = list(row)
        out.append(strategy.decide(view, g))
    return out


def test_builtins_and_order_shape() -> None:
    assert set(BUILTINS) == {"random", "momentum", "fundamentalist"}
    for name, cls in BUILTINS.items():
        assert cls.name == name
        assert resolve(name) is cls
    o = Order(1, SIDE_SELL, 5)
    assert (o.currency, o.side, o.qty) == (1, SIDE_SELL, 5)
    assert tuple(o) == (1, SIDE_SELL, 5)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_params_are_frozen_and_forbid_extra(name: str) -> None:
    cls = resolve(name)
    p = cls.Params()
    field = next(iter(cls.Params.model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(p, field, getattr(p, field))
    with pytest.raises(ValidationError, match="extra"):
        cls.Params.model_validate({"no_such_param": 1})


def test_constructor_checks_arguments() -> None:
    with pytest.raises(TypeError):
        Momentum(RandomTrader.Params(), 1, SCALE)
    with pytest.raises(BadScenario, match="currency"):
        make_strategy("random", {}, 0, SCALE)
    with pytest.raises(BadScenario, match="scale"):
        make_strategy("random", {}, 1, 0)


# random


def random_orders(n: int, seed: int = 7, n_cur: int = 4, **params: float) -> list[Order]:
    s = make_strategy("random", dict(params), n_cur, SCALE)
    # Holdings far inside the band and never updated: every order is drawn at the
    # endowment, where the strategy buys with probability buy_prob.
    view = FakeView([1.0] * n_cur, holdings=[10_000 * SCALE] * n_cur)
    g = rng(seed)
    out = []
    for _ in range(n):
        o = s.decide(view, g)
        assert o is not None
        out.append(o)
    return out


def test_random_respects_bounds_and_types() -> None:
    orders = random_orders(3 * RANDOM_BLOCK + 17, min_qty=2.0, max_qty=3.5)
    assert all(type(x) is int for o in orders for x in o)
    assert {o.currency for o in orders} == {0, 1, 2, 3}
    assert {o.side for o in orders} == {SIDE_BUY, SIDE_SELL}
    qty = [o.qty for o in orders]
    assert min(qty) >= 200 and max(qty) <= 350
    assert min(qty) < 210 and max(qty) > 340  # spans the range, not a constant


def test_random_buy_prob_and_currency_are_statistically_right() -> None:
    n = 40_000
    orders = random_orders(n, seed=123, buy_prob=0.3)
    buys = sum(o.side == SIDE_BUY for o in orders)
    sd = math.sqrt(n * 0.3 * 0.7)
    assert abs(buys - 0.3 * n) < 5 * sd
    counts = Counter(o.currency for o in orders)
    sd_c = math.sqrt(n * 0.25 * 0.75)
    assert all(abs(counts[c] - n / 4) < 5 * sd_c for c in range(4))
    mean_qty = sum(o.qty for o in orders) / n / SCALE
    assert abs(mean_qty - 5.5) < 0.1  # uniform on [1, 10]


@pytest.mark.parametrize(("prob", "side"), [(0.0, SIDE_SELL), (1.0, SIDE_BUY)])
def test_random_buy_prob_extremes(prob: float, side: int) -> None:
    assert {o.side for o in random_orders(2000, buy_prob=prob)} == {side}


def test_random_is_reproducible_from_the_seed() -> None:
    a = random_orders(RANDOM_BLOCK + 10, seed=5)
    assert a == random_orders(RANDOM_BLOCK + 10, seed=5)
    assert a != random_orders(RANDOM_BLOCK + 10, seed=6)


def test_random_qty_is_at_least_one_minor_unit_and_exact_when_fixed() -> None:
    assert {o.qty for o in random_orders(500, min_qty=0.001, max_qty=0.001)} == {1}
    assert {o.qty for o in random_orders(500, min_qty=3.0, max_qty=3.0)} == {300}


@pytest.mark.parametrize(("holdings", "cash"), [(0, 10_000 * SCALE), (100 * SCALE, 0)])
def test_random_passes_with_nothing_to_trade(holdings: int, cash: int) -> None:
    s = make_strategy("random", {}, 1, SCALE)
    view = FakeView([1.0], holdings=[holdings], cash=cash)
    assert all(s.decide(view, rng()) is None for _ in range(100))


def trade(view: FakeView, o: Order, rate: float) -> None:
    """Fill an order on the fake view at a fixed rate, as an exchange would."""
    sign = 1 if o.side == SIDE_BUY else -1
    view.holdings[o.currency] += sign * o.qty
    view.own_cash -= sign * round(o.qty * rate)


def test_random_stays_in_its_band_and_never_sends_an_order_it_cannot_fund() -> None:
    # Endowment 30 units, cash for 2 * 4 * 20 units at rate 1.25: band 20 units.
    view = FakeView([1.25] * 4, holdings=[30 * SCALE] * 4, cash=200 * SCALE)
    s = make_strategy("random", {"min_qty": 1, "max_qty": 10}, 4, SCALE)
    g = rng(3)
    seen = set()
    for _ in range(20_000):
        o = s.decide(view, g)
        assert o is not None and o.qty >= 1
        if o.side == SIDE_SELL:
            assert o.qty <= view.holdings[o.currency]
        else:
            assert round(o.qty * 1.25) <= view.own_cash
        trade(view, o, 1.25)
        assert 10 * SCALE <= view.holdings[o.currency] <= 50 * SCALE
        seen.add(view.holdings[o.currency])
    assert min(seen) == 10 * SCALE and max(seen) == 50 * SCALE  # reaches both edges


def test_random_net_flow_is_zero_in_expectation() -> None:
    # 400 agents, 300 orders each, filled at once; a coin flip with sells refused when
    # not held would have them buy about 2 units each on net here (the old behaviour).
    n_agents, n_orders = 400, 300
    net = []
    for a in range(n_agents):
        view = FakeView([1.0], holdings=[10 * SCALE], cash=10_000 * SCALE)
        s = make_strategy("random", {}, 1, SCALE)
        g = rng(a)
        for _ in range(n_orders):
            o = s.decide(view, g)
            assert o is not None
            trade(view, o, 1.0)
        net.append(view.holdings[0] - 10 * SCALE)
    x = np.array(net, dtype=np.float64)
    se = x.std(ddof=1) / math.sqrt(n_agents)
    assert abs(x.mean()) < 4.5 * se  # |z| > 4.5: probability 7e-6 under no bias
    assert x.std() > 2 * SCALE  # the holdings did move


@pytest.mark.parametrize("params", [
    {"min_qty": 5.0, "max_qty": 1.0},
    {"min_qty": 0.0},
    {"max_qty": -1.0},
    {"buy_prob": 1.5},
    {"buy_prob": -0.1},
    {"max_qty": float("inf")},
])
def test_random_rejects_bad_params(params: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        make_strategy("random", params, 2, SCALE)


# momentum


def ramp(start: float, step: float, n: int) -> list[list[float]]:
    return [[start + step * i] for i in range(n)]


def test_momentum_buys_on_rising_prices_after_lookback() -> None:
    s = make_strategy("momentum", {"lookback": 3, "threshold": 0.001, "qty": 2.0}, 1, SCALE)
    out = feed(s, FakeView([1.0]), ramp(1.0, 0.01, 6))
    assert out[:3] == [None, None, None]  # needs lookback + 1 observations
    assert out[3:] == [Order(0, SIDE_BUY, 200)] * 3


def test_momentum_sells_on_falling_prices_only_when_it_holds_enough() -> None:
    params = {"lookback": 2, "qty": 2.0}
    s = make_strategy("momentum", params, 1, SCALE)
    assert feed(s, FakeView([1.0], holdings=[200]), ramp(1.0, -0.01, 4))[2:] == \
        [Order(0, SIDE_SELL, 200)] * 2
    s = make_strategy("momentum", params, 1, SCALE)
    assert feed(s, FakeView([1.0], holdings=[199]), ramp(1.0, -0.01, 4)) == [None] * 4


def test_momentum_passes_on_flat_or_small_moves() -> None:
    s = make_strategy("momentum", {"lookback": 2, "threshold": 0.05}, 1, SCALE)
    view = FakeView([1.0], holdings=[10_000])
    assert feed(s, view, [[1.0]] * 5) == [None] * 5
    assert feed(s, view, ramp(1.0, 0.01, 5)) == [None] * 5  # 2 % < 5 %


def test_momentum_return_spans_exactly_lookback_steps() -> None:
    s = make_strategy("momentum", {"lookback": 2, "threshold": 0.0}, 1, SCALE)
    # The jump counts while it is within the last two steps, then leaves the ring.
    out = feed(s, FakeView([1.0]), [[1.0], [1.0], [2.0], [2.0], [2.0]])
    assert out == [None, None, Order(0, SIDE_BUY, 500), Order(0, SIDE_BUY, 500), None]


def test_momentum_picks_the_largest_absolute_return() -> None:
    s = make_strategy("momentum", {"lookback": 1, "threshold": 0.0, "qty": 1.0}, 3, SCALE)
    view = FakeView([1.0, 1.0, 1.0], holdings=[1000] * 3)
    out = feed(s, view, [[1.0, 1.0, 1.0], [1.01, 0.95, 1.02]])
    assert out[-1] == Order(1, SIDE_SELL, 100)


def test_momentum_skips_undefined_prices() -> None:
    s = make_strategy("momentum", {"lookback": 1, "threshold": 0.0}, 2, SCALE)
    out = feed(s, FakeView([1.0, 1.0]), [[math.nan, 1.0], [5.0, 1.1]])
    assert out[-1] == Order(1, SIDE_BUY, 500)
    s = make_strategy("momentum", {"lookback": 1}, 1, SCALE)
    assert feed(s, FakeView([0.0]), [[0.0], [1.0], [math.nan]]) == [None] * 3


def test_momentum_history_is_bounded() -> None:
    s = make_strategy("momentum", {"lookback": 4}, 2, SCALE)
    assert isinstance(s, Momentum)
    feed(s, FakeView([1.0, 1.0]), [[1.0, 1.0]] * 50)
    assert all(len(h) == 5 for h in s._hist)


@pytest.mark.parametrize("params", [{"lookback": 0}, {"threshold": -0.1}, {"qty": 0}])
def test_momentum_rejects_bad_params(params: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        make_strategy("momentum", params, 1, SCALE)


# fundamentalist


def fund_decide(rates: list[float], funds: list[float], holdings: list[int] | None = None,
                /, **params: float) -> Order | None:
    s = make_strategy("fundamentalist", dict(params), len(rates), SCALE)
    return s.decide(FakeView(rates, funds, holdings), rng())


def test_fundamentalist_buys_under_value_sells_over_passes_in_band() -> None:
    p = {"threshold": 0.01, "qty": 1.0, "cap": 4.0}
    assert fund_decide([0.98], [1.0], **p) == Order(0, SIDE_BUY, 200)
    assert fund_decide([1.02], [1.0], [10_000], **p) == Order(0, SIDE_SELL, 200)
    assert fund_decide([1.005], [1.0], [10_000], **p) is None
    assert fund_decide([0.995], [1.0], [10_000], **p) is None
    assert fund_decide([1.0], [1.0], [10_000], **p) is None


def test_fundamentalist_qty_is_proportional_to_gap_and_capped() -> None:
    p = {"threshold": 0.01, "qty": 1.0, "cap": 4.0}
    assert fund_decide([0.97], [1.0], **p) == Order(0, SIDE_BUY, 300)
    assert fund_decide([0.5], [1.0], **p) == Order(0, SIDE_BUY, 400)
    assert fund_decide([0.5], [1.0], threshold=0.0, qty=1.0, cap=2.5) == \
        Order(0, SIDE_BUY, 250)


def test_fundamentalist_sells_at_most_its_holding() -> None:
    p = {"threshold": 0.01, "qty": 1.0}
    assert fund_decide([1.5], [1.0], [150], **p) == Order(0, SIDE_SELL, 150)
    assert fund_decide([1.5], [1.0], [0], **p) is None


def test_fundamentalist_picks_the_largest_mispricing_and_skips_undefined() -> None:
    p = {"threshold": 0.01, "qty": 1.0}
    assert fund_decide([0.97, 1.10, 1.0], [1.0, 1.0, 1.0], [1000] * 3, **p) == \
        Order(1, SIDE_SELL, 400)
    assert fund_decide([math.nan, 0.97], [1.0, 1.0], **p) == Order(1, SIDE_BUY, 300)
    assert fund_decide([0.5, 0.97], [0.0, 1.0], **p) == Order(1, SIDE_BUY, 300)
    assert fund_decide([0.5], [math.nan], **p) is None


@pytest.mark.parametrize("params", [{"threshold": -0.01}, {"qty": 0}, {"cap": 0.5}])
def test_fundamentalist_rejects_bad_params(params: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        make_strategy("fundamentalist", params, 1, SCALE)


# resolve


def test_resolve_unknown_name() -> None:
    with pytest.raises(BadScenario,
                       match=r"unknown strategy 'x'; expected one of fundamentalist, "
                             r"momentum, random or module:Class"):
        resolve("x")
    for bad in (":Cls", "mod:", ""):
        with pytest.raises(BadScenario, match="unknown strategy"):
            resolve(bad)


def test_resolve_import_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BadScenario, match=r"strategy 'no_such_mod_xyz:C': cannot import "
                                          r"module 'no_such_mod_xyz' \(ModuleNotFoundError"):
        resolve("no_such_mod_xyz:C")
    (tmp_path / "broken_plugin_xyz.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BadScenario, match=r"cannot import module 'broken_plugin_xyz' "
                                          r"\(RuntimeError: boom\)"):
        resolve("broken_plugin_xyz:C")
    with pytest.raises(BadScenario, match=r"strategy 'sim.market.strategies:Nope': module "
                                          r"'sim.market.strategies' has no class 'Nope'"):
        resolve("sim.market.strategies:Nope")
    for name in ("sim.errors:BadScenario", "sim.market.strategies:RANDOM_BLOCK",
                 "sim.market.strategies:Strategy"):
        with pytest.raises(BadScenario, match="is not a Strategy subclass"):
            resolve(name)


def test_resolve_accepts_a_builtin_by_path() -> None:
    assert resolve("sim.market.strategies:Momentum") is Momentum
    assert resolve("sim.market.strategies:Fundamentalist") is Fundamentalist


# plug-in


def test_plugin_resolves_and_decides() -> None:
    name = "examples.plugin_strategy:MeanReverter"
    cls = resolve(name)
    assert issubclass(cls, Strategy) and cls.__name__ == "MeanReverter"
    with pytest.raises(ValidationError):
        make_strategy(name, {"bnad": 0.1}, 1, SCALE)
    s = make_strategy(name, {"alpha": 0.5, "band": 0.05, "qty": 2.0}, 1, SCALE)
    view = FakeView([1.0], holdings=[1000])
    # First call seeds the average; then a dip buys, a spike sells, a quiet price passes.
    assert feed(s, view, [[1.0], [0.9], [1.2], [1.05]]) == \
        [None, Order(0, SIDE_BUY, 200), Order(0, SIDE_SELL, 200), None]



def test_params_model_comes_from_the_type_argument() -> None:
    from examples.plugin_strategy import MeanReverter, MeanReverterParams

    assert RandomTrader.Params is RandomParams
    assert Momentum.Params is MomentumParams
    assert Fundamentalist.Params is FundamentalistParams
    assert MeanReverter.Params is MeanReverterParams
    assert Strategy.Params is StrategyParams
    s = make_strategy("momentum", {"lookback": 3}, 1, SCALE)
    assert isinstance(s.params, MomentumParams) and s.params.lookback == 3


def test_a_subclass_of_a_typed_strategy_keeps_its_model() -> None:
    class Quieter(Momentum):
        name = "quieter"

    assert Quieter.Params is MomentumParams
    assert Quieter(MomentumParams(lookback=2), 1, SCALE).params.lookback == 2
    with pytest.raises(TypeError, match="Quieter needs MomentumParams, got RandomParams"):
        Quieter(RandomParams(), 1, SCALE)  # type: ignore[arg-type]


def test_random_vol_gain_scales_sizes_with_recent_volatility() -> None:
    params = {"min_qty": 5, "max_qty": 5, "vol_gain": 2.0, "vol_cap": 3.0}
    on = make_strategy("random", params, 1, SCALE)
    off = make_strategy("random", {"min_qty": 5, "max_qty": 5}, 1, SCALE)
    view = FakeView([1.0], holdings=[10_000 * SCALE])
    g = rng(1)
    calm = np.exp(np.cumsum(rng(2).normal(0, 1e-4, 3000)))
    sizes = []
    for r in calm:  # long calm: recent and long-run variance agree on average
        view.rates = [float(r)]
        o = on.decide(view, g)
        assert o is not None
        sizes.append(o.qty)
    assert 400 < np.mean(sizes[-1000:]) < 700
    for i in range(40):  # a burst of big moves: sizes hit the cap, unless off
        view.rates = [float(calm[-1]) * (1.02 if i % 2 else 0.98)]
        o, o_off = on.decide(view, g), off.decide(view, g)
    assert o is not None and o.qty == 1500
    assert o_off is not None and o_off.qty == 500


def test_random_with_vol_gain_has_zero_net_flow_on_a_moving_price() -> None:
    n_agents, n_orders = 300, 300
    path = np.exp(np.cumsum(rng(9).standard_t(3, n_orders) * 1e-3))  # fat-tailed moves
    net = []
    for a in range(n_agents):
        view = FakeView([1.0], holdings=[10 * SCALE], cash=10_000 * SCALE)
        s = make_strategy("random", {"vol_gain": 1.0}, 1, SCALE)
        g = rng(a)
        for r in path:
            view.rates = [float(r)]
            o = s.decide(view, g)
            assert o is not None
            trade(view, o, 1.0)
        net.append(view.holdings[0] - 10 * SCALE)
    x = np.array(net, dtype=np.float64)
    assert abs(x.mean()) < 4.5 * x.std(ddof=1) / math.sqrt(n_agents)
