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
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any, Final

from pams import Cancel, __version__
from pams.runners import SequentialRunner

WARMUP_STEPS: Final = 100
TRADING_STEPS: Final = 500


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
    args = ap.parse_args()
    runner = CountingRunner(
        settings=sample_config(args.agents, args.warmup_steps, args.trading_steps),
        prng=random.Random(args.seed))
    t0 = time.perf_counter()
    runner.main()
    wall = time.perf_counter() - t0
    executed = sum(sum(v for v in m.get_executed_volumes(range(m.get_time() + 1)) if v)
                   for m in runner.simulator.markets)
    print("# BENCH " + json.dumps({
        "pams_version": __version__, "agents": args.agents, "seed": args.seed,
        "steps": args.warmup_steps + args.trading_steps, "orders": runner.orders,
        "cancels": runner.cancels, "executed_volume": executed, "main_wall_s": wall,
        "execution_cpu_s": runner.run_cpu_s}),
        flush=True)


if __name__ == "__main__":
    main()
