"""Per-agent results: the agents table (one row per agent) and per-group summaries.

A population of 100,000 agents does not fit in a summary or a legend: each agent's
finals go to ``agents.parquet`` (id, group, strategy, process, initial and final wealth,
trades, rejected), and the summary and figures speak of groups: sums, and percentiles of
wealth across each group's agents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow.parquet as pq

from sim.arrow import strings
from sim.arrow import table as arrow_table
from sim.core import layout as L
from sim.core.valuation import rates, wealth

__all__ = ["AGENTS_FILE", "PERCENTILES", "agent_wealth", "group_stats", "write_agents"]

AGENTS_FILE: Final = "agents.parquet"
PERCENTILES: Final = (5, 25, 50, 75, 95)

Table = np.ndarray[Any, np.dtype[np.void]]


def agent_wealth(acc: Table, cur: Table, scale: int) -> tuple[np.ndarray[Any, Any],
                                                              np.ndarray[Any, Any]]:
    """Each account's initial wealth at the initial rates and its wealth now at the
    current rates, in home money (float, display only; NaN for a free account)."""
    return (wealth(acc, rates(cur, initial=True), scale, initial=True),
            wealth(acc, rates(cur), scale))


def write_agents(run: Path, acc: Table, cur: Table, scale: int, n_agents: int,
                 strategies: list[str]) -> Path:
    """agents.parquet: one row per agent of the scenario (accounts 0..n_agents-1)."""
    a = acc[:n_agents]
    initial, final = agent_wealth(a, cur, scale)
    groups = a["group"].astype(np.int64)
    table = arrow_table({
        "id": np.arange(n_agents, dtype=np.int64),
        "group": groups,
        "strategy": strings([strategies[g] if 0 <= g < len(strategies) else "" for g in
                             groups.tolist()]),
        "process": a["writer"].astype(np.int64),
        "initial_wealth": initial,
        "final_wealth": final,
        "trades": a["trades"].astype(np.int64),
        "rejected": a["rejected"].astype(np.int64),
    })
    out = run / AGENTS_FILE
    pq.write_table(table, out)
    return out


def group_stats(acc: Table, cur: Table, scale: int, n_agents: int,
                strategies: list[str]) -> list[dict[str, Any]]:
    """Per scenario group: agents, sums of wealth, trades and rejections, and the wealth
    percentiles across its agents (initial and final)."""
    a = acc[:n_agents]
    initial, final = agent_wealth(a, cur, scale)
    out = []
    for g, strategy in enumerate(strategies):
        m = (a["group"] == g) & (a["status"] != L.SLOT_FREE)
        if not m.any():
            continue
        out.append({
            "id": g, "strategy": strategy, "agents": int(m.sum()),
            "initial_wealth": float(initial[m].sum()), "final_wealth": float(final[m].sum()),
            "trades": int(a["trades"][m].sum()), "rejected": int(a["rejected"][m].sum()),
            "final_wealth_percentiles": {
                f"p{p}": round(float(v), 4)
                for p, v in zip(PERCENTILES, np.percentile(final[m], PERCENTILES),
                                strict=True)},
        })
    return out
