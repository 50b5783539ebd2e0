"""One PAMS run, for ``bench.pams_side``: its FCN-agent sample, counted, in PAMS's own venv.

Run by the interpreter of ``bench/.venv-pams`` (``python -I bench/pams_run.py --agents N``),
never by the project's: it imports only PAMS and the standard library. The market and the
agents are those of PAMS's ``samples/CI2002/config.json`` (one market, FCN agents with
fundamental and noise weights, a 100-step session that only places orders, then 500
steps that also execute them), with ``numAgents`` set from the command line; the sessions
keep the sample's defaults (one normal agent's orders per step). PAMS's ``runner.main()``
prints its own ``# INITIALIZATION TIME`` and ``# EXECUTION TIME`` lines; this script then
prints one ``# BENCH {json}`` line: the orders and cancels the runner processed (every
``Order`` and ``Cancel`` handed to a market), the executed volume, the wall time of
``main()`` measured around it and the CPU time of the executed part.

With ``--mix N`` it times PAMS's order processing alone instead, on the flow that
``bench.book`` feeds our engine: N orders drawn in advance from the same seeded numpy
generator in the same way (60 % limit, a fifth through the spread, 30 % cancel of an order
that rested, live or filled since, 10 % market; 64 accounts), each handed to the runner's
``_process_order`` (the market's add or cancel, its matching pass, the agents' updates)
on a market whose tick ``t`` of ours is the price ``10000 + t``, as ours.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any, Final

import numpy as np
from pams import LIMIT_ORDER, MARKET_ORDER, Cancel, Order, __version__
from pams.runners import SequentialRunner

WARMUP_STEPS: Final = 100
TRADING_STEPS: Final = 500
# bench.book's flow: accounts, mid tick, price of tick 0 (one cash unit per tick).
MIX_ACCOUNTS: Final = 64
MIX_MID: Final = 5_000
MIX_PRICE_BASE: Final = 10_000


def sample_config(agents: int, warmup_steps: int, trading_steps: int) -> dict[str, Any]:
    """PAMS's CI2002 sample with ``agents`` FCN agents and the given session lengths."""
    return {
        "simulation": {
            "markets": ["Market"],
            "agents": ["FCNAgents"],
            "sessions": [
                {"sessionName": 0, "iterationSteps": warmup_steps,
                 "withOrderPlacement": True, "withOrderExecution": False,
                 "withPrint": True, "highFrequencySubmitRate": 1.0},
                {"sessionName": 1, "iterationSteps": trading_steps,
                 "withOrderPlacement": True, "withOrderExecution": True,
                 "withPrint": True},
            ],
        },
        "Market": {"class": "Market", "tickSize": 0.00001, "marketPrice": 300.0},
        "FCNAgents": {
            "class": "FCNAgent", "numAgents": agents, "markets": ["Market"],
            "assetVolume": 50, "cashAmount": 10000,
            "fundamentalWeight": {"expon": [1.0]}, "chartWeight": {"expon": [0.0]},
            "noiseWeight": {"expon": [1.0]}, "meanReversionTime": {"uniform": [50, 100]},
            "noiseScale": 0.001, "timeWindowSize": [100, 200], "orderMargin": [0.0, 0.1],
        },
    }


def mix_config() -> dict[str, Any]:
    """One market on ``bench.book``'s price ladder, and 64 agents that only take orders."""
    return {
        "simulation": {
            "markets": ["Market"], "agents": ["Accounts"],
            "sessions": [{"sessionName": 0, "iterationSteps": 1, "withOrderPlacement": True,
                          "withOrderExecution": True, "withPrint": False}],
        },
        "Market": {"class": "Market", "tickSize": 1.0,
                   "marketPrice": float(MIX_PRICE_BASE + MIX_MID)},
        "Accounts": {"class": "FCNAgent", "numAgents": MIX_ACCOUNTS, "markets": ["Market"],
                     "assetVolume": 10**9, "cashAmount": 10**12,
                     "fundamentalWeight": 1.0, "chartWeight": 0.0, "noiseWeight": 1.0,
                     "noiseScale": 0.001, "timeWindowSize": 100, "orderMargin": 0.0},
    }


def mix_orders(n: int, seed: int, agent_ids: list[int]
               ) -> list[tuple[int, bool, int, int, float]]:
    """``bench.book``'s draws, in its order: (kind, buy, agent, qty, price or pick)."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=n, p=[0.6, 0.3, 0.1]).tolist()
    rng.integers(0, 1, size=n)  # which book: one here; drawn to keep the stream the same
    side = rng.integers(0, 2, size=n).tolist()
    account = rng.integers(0, MIX_ACCOUNTS, size=n).tolist()
    offset = np.minimum(rng.geometric(0.08, size=n), 400).tolist()
    through = (rng.random(n) < 0.2).tolist()
    qty = rng.integers(1, 20, size=n).tolist()
    pick = rng.random(n).tolist()
    out = []
    for i in range(n):
        buy = side[i] == 0  # bench.book's BUY is 0
        off = -offset[i] if through[i] else offset[i]
        tick = MIX_MID - off if buy else MIX_MID + off
        value = float(MIX_PRICE_BASE + tick) if kind[i] == 0 else pick[i]
        out.append((kind[i], buy, agent_ids[account[i]], qty[i], value))
    return out


def run_mix(n: int, seed: int) -> dict[str, Any]:
    """PAMS's order processing alone on ``n`` orders of ``bench.book``'s flow."""
    runner = CountingRunner(settings=mix_config(), prng=random.Random(seed))
    runner._setup()
    sim = runner.simulator
    sim._update_times_on_markets(sim.markets)  # t: -1 -> 0, as the runner's _run does
    session = sim.sessions[0]
    market = sim.markets[0]
    market._is_running = True
    flow = mix_orders(n, seed, [a.agent_id for a in sim.agents])
    placed: list[Any] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for kind, buy, agent, qty, value in flow:
        if kind == 0:
            order = Order(agent_id=agent, market_id=market.market_id, is_buy=buy,
                          kind=LIMIT_ORDER, volume=qty, price=value)
            runner._process_order(session, order)
            if order.volume > 0:  # it rests (a fill lowers volume): ours keeps those alone
                placed.append(order)
        elif kind == 1:
            if not placed:
                continue
            j = int(value * len(placed))
            placed[j], placed[-1] = placed[-1], placed[j]
            runner._process_order(session, Cancel(order=placed.pop()))
        else:
            runner._process_order(session, Order(
                agent_id=agent, market_id=market.market_id, is_buy=buy,
                kind=MARKET_ORDER, volume=qty))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    resting = (len(market.buy_order_book.priority_queue)
               + len(market.sell_order_book.priority_queue))
    return {"mode": "mix", "agents": MIX_ACCOUNTS, "steps": 0, "orders": runner.orders,
            "cancels": runner.cancels, "executed_volume": market.get_executed_volume(),
            "resting": resting, "execution_s": wall, "execution_cpu_s": cpu,
            "main_wall_s": wall}


class CountingRunner(SequentialRunner):  # type: ignore[misc]  # PAMS ships no hints here
    """PAMS's sequential runner, counting what it hands to the markets."""

    orders = 0
    cancels = 0
    run_cpu_s = 0.0

    def _run(self) -> None:
        # CPU time of the part PAMS times as "EXECUTION TIME": steadier on a busy machine.
        c0 = time.process_time()
        super()._run()
        self.run_cpu_s = time.process_time() - c0

    def _process_order(self, session: Any, order: Any) -> None:
        if isinstance(order, Cancel):
            self.cancels += 1
        else:
            self.orders += 1
        super()._process_order(session, order)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup-steps", type=int, default=WARMUP_STEPS)
    ap.add_argument("--trading-steps", type=int, default=TRADING_STEPS)
    ap.add_argument("--mix", type=int, default=0, metavar="N",
                    help="time PAMS's order processing alone on N orders of bench.book's flow")
    args = ap.parse_args()
    if args.mix:
        print("# BENCH " + json.dumps(
            {"pams_version": __version__, "seed": args.seed} | run_mix(args.mix, args.seed)),
            flush=True)
        return
    runner = CountingRunner(
        settings=sample_config(args.agents, args.warmup_steps, args.trading_steps),
        prng=random.Random(args.seed))
    t0 = time.perf_counter()
    runner.main()
    wall = time.perf_counter() - t0
    executed = sum(sum(v for v in m.get_executed_volumes(range(m.get_time() + 1)) if v)
                   for m in runner.simulator.markets)
    print("# BENCH " + json.dumps({
        "pams_version": __version__, "mode": "sample", "agents": args.agents,
        "seed": args.seed,
        "steps": args.warmup_steps + args.trading_steps, "orders": runner.orders,
        "cancels": runner.cancels, "executed_volume": executed, "main_wall_s": wall,
        "execution_cpu_s": runner.run_cpu_s}),
        flush=True)


if __name__ == "__main__":
    main()
