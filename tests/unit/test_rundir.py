"""Run folders: the scenario as run, and the trade table in global order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config.scenario import Scenario, load_scenario, parse_scenario
from sim.core import layout as L
from sim.harness.rundir import TRADES, scenario_text, strategy_labels
from sim.harness.tables import TRADE_SCHEMA, ledger_order, write_trades

__all__: list[str] = []

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_text_loads_back_to_an_equal_scenario(path: Path, tmp_path: Path) -> None:
    scn = load_scenario(path, {"seed": 99, "duration_s": 0.3})
    text = scenario_text(scn)
    f = tmp_path / "scenario.yaml"
    f.write_text(text)
    again = load_scenario(f)
    assert again == scn
    assert (again.seed, again.duration_s) == (99, 0.3)
    # Readable: the model's own field order, not sorted keys.
    assert list(yaml.safe_load(text)) == list(Scenario.model_fields)


def test_scenario_text_keeps_plugin_params_and_commands() -> None:
    scn = parse_scenario({"traders": [
        {"count": 1, "strategy": "momentum", "params": {"lookback": 7}},
        {"count": 2, "command": ["prog", "{exchange}", "{account}"]}]}, "<t>", "t")
    again = parse_scenario(yaml.safe_load(scenario_text(scn)), "<t>", "t")
    assert again == scn
    assert again.traders[0].params == {"lookback": 7}


def test_strategy_labels_name_the_strategy_or_the_program_by_slot() -> None:
    scn = parse_scenario({"traders": [
        {"count": 2, "strategy": "momentum"},
        {"count": 1, "command": ["examples/c/build/trader", "{exchange}"]},
        {"count": 1}]}, "<t>", "t")
    assert strategy_labels(scn) == {0: "momentum", 1: "momentum", 2: "command:trader",
                                    3: "random"}


def _rows(spec: list[tuple[int, int, int, int]]) -> np.ndarray:  # type: ignore[type-arg]
    """Ledger rows from (t_ns, currency, cur_seq, slot); qty and cash follow from them."""
    rows = np.zeros(len(spec), dtype=L.ROW.dtype)
    for i, (t, c, seq, slot) in enumerate(spec):
        rows[i] = (t, seq, slot, c, i % 2, 10 * seq + c, 100 * seq + c, 1000 + seq,
                   L.ROW_TRADE, 0, -1, -1)
    return rows


# Two slots' ledgers as load_ledger returns them: slot by slot, each in its own order.
# Currency 1's first two trades share a clock reading; its sequence breaks the tie.
ROWS = [(50, 0, 2, 0), (10, 0, 1, 0), (30, 1, 2, 0),
        (30, 1, 1, 1), (70, 1, 3, 1), (60, 0, 3, 1)]
# The expected order, by (t_ns, cur_seq): indexes into ROWS.
ORDER = [1, 3, 2, 0, 5, 4]


def test_trades_table_orders_by_time_then_currency_sequence_and_numbers_globally(
        tmp_path: Path) -> None:
    rows = _rows(ROWS)
    assert write_trades(tmp_path, rows, ["EUR", "USD"]) == 6
    t = pd.read_parquet(tmp_path / TRADES)
    assert t["seq"].tolist() == [1, 2, 3, 4, 5, 6]
    assert t["t_ns"].tolist() == [int(rows["t_ns"][i]) for i in ORDER]
    assert t["trader"].tolist() == [int(rows["account"][i]) for i in ORDER]
    assert t["currency"].astype(str).tolist() == [["EUR", "USD"][rows["currency"][i]]
                                                  for i in ORDER]
    assert t["side"].astype(str).tolist() == [["buy", "sell"][rows["side"][i]] for i in ORDER]
    for f in ("qty", "cash", "cur_seq", "unit_reserve"):
        assert t[f].tolist() == [int(rows[f][i]) for i in ORDER], f
    for c in ("EUR", "USD"):
        # Each currency's own sequence stays 1, 2, 3 in the merged order.
        assert t["cur_seq"][t["currency"] == c].tolist() == [1, 2, 3]


def test_trades_table_of_nothing_is_empty_with_its_columns(tmp_path: Path) -> None:
    assert write_trades(tmp_path, np.zeros(0, dtype=L.ROW.dtype), ["EUR"]) == 0
    t = pd.read_parquet(tmp_path / TRADES)
    assert len(t) == 0 and list(t.columns) == TRADE_SCHEMA.names


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 40), st.integers(0, 5)),
                max_size=60))
@settings(max_examples=150, deadline=None)
def test_ledger_order_is_by_time_then_sequence_and_otherwise_stable(
        rows: list[tuple[int, int, int]]) -> None:
    """The merge of per-writer runs orders exactly as sorting by both keys would, ties
    in time (few, in real ledgers; many here) included."""
    # Per writer, in time order, as the writers' ledgers arrive.
    by_writer = sorted(rows, key=lambda r: (r[0], r[1]))
    a = np.zeros(len(by_writer), dtype=L.ROW.dtype)
    a["t_ns"] = [r[1] for r in by_writer]
    a["cur_seq"] = [r[2] for r in by_writer]
    assert ledger_order(a).tolist() == np.lexsort((a["cur_seq"], a["t_ns"])).tolist()
