"""C traders inside a coordinated run, beside Python traders, on the same mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim.core.exchange import Exchange
from sim.tools.check import replay
from tests.integration.harness import C_TRADER, run

pytestmark = pytest.mark.skipif(not C_TRADER.exists(), reason="C trader not built (make c)")


def c_group(count: int, *extra: str) -> dict[str, object]:
    return {"count": count, "cash": 10000, "holdings": 100,
            "command": [str(C_TRADER), "{exchange}", "--writer", "{writer}", "--account",
                        "{account}", "--random", "1000000000", "--seed", "{seed}", *extra]}


@pytest.mark.timeout(90)
def test_three_python_and_two_c_traders_conserve_and_log_every_trade(tmp_path: Path) -> None:
    out = run(tmp_path, duration_s=1.5, traders=[{"count": 3}, c_group(2)])
    s = out.summary
    assert out.exit_status == 0, s.final_violations
    assert s.final_ok and s.live_violations == 0
    assert [(t.strategy, t.agents) for t in s.traders] == [("random", 3), ("command:trader", 2)]
    procs = s.processes
    assert [p.strategy for p in procs][-2:] == ["command:trader"] * 2
    assert all(p.trades > 0 and p.exit == "done" for p in procs)
    trades = pd.read_parquet(out.run_dir / "trades.parquet")
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        acc = ex.accounts()
    for a in range(5):
        assert (trades["trader"] == a).sum() == int(acc["trades"][a]) > 0
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        assert replay(ex) == []


@pytest.mark.timeout(90)
def test_c_trader_killed_mid_trade_is_recovered_like_a_python_one(tmp_path: Path) -> None:
    # Only C traders, each pausing inside every transaction: every kill lands mid-trade.
    out = run(tmp_path, duration_s=2.0, traders=[c_group(2, "--pause-in-txn-us", "1000")],
              faults={"kill_traders": 8, "after_s": 0.2, "every_s": 0.15, "restart": True})
    s = out.summary
    f = s.faults
    assert f.kills == 8 and f.kills_in_transaction >= 2, f
    assert f.rolled_back >= f.kills_in_transaction, f
    assert s.final_ok and out.exit_status == 0, s.final_violations
    with Exchange.open(str(out.run_dir / "exchange.dat"), writable=False) as ex:
        assert replay(ex) == []
