"""Run folders: the scenario as run, and the merged ledger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.config.scenario import Scenario, load_scenario, parse_scenario
from sim.core import layout as L
from sim.harness.rundir import TRADE_DTYPE, merge_ledger, scenario_text, strategy_labels

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
        {"count": 2, "command": ["prog", "{exchange}", "{slot}"]}]}, "<t>", "t")
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
        rows[i] = (t, seq, slot, c, i % 2, 10 * seq + c, 100 * seq + c, 1000 + seq)
    return rows


# Two slots' ledgers as load_ledger returns them: slot by slot, each in its own order.
# Currency 1's first two trades share a clock reading; its sequence breaks the tie.
ROWS = [(50, 0, 2, 0), (10, 0, 1, 0), (30, 1, 2, 0),
        (30, 1, 1, 1), (70, 1, 3, 1), (60, 0, 3, 1)]
# The expected order, by (t_ns, cur_seq): indexes into ROWS.
ORDER = [1, 3, 2, 0, 5, 4]


def test_merge_ledger_orders_by_time_then_currency_sequence_and_numbers_globally() -> None:
    rows = _rows(ROWS)
    merged = merge_ledger(rows)
    assert merged.dtype == TRADE_DTYPE
    assert merged["seq"].tolist() == [1, 2, 3, 4, 5, 6]
    assert merged["t"].tolist() == [rows["t_ns"][i] / 1e9 for i in ORDER]
    for f in ("slot", "currency", "side", "qty", "cash", "cur_seq", "unit_reserve"):
        assert merged[f].tolist() == [int(rows[f][i]) for i in ORDER], f
    for c in (0, 1):
        # Each currency's own sequence stays 1, 2, 3 in the merged order.
        assert merged["cur_seq"][merged["currency"] == c].tolist() == [1, 2, 3]


def test_merge_ledger_in_place_writes_the_same_table_to_a_npy_file(tmp_path: Path) -> None:
    rows = _rows(ROWS)
    f = tmp_path / "trades.npy"
    merged = merge_ledger(rows, f)
    assert isinstance(merged, np.memmap)
    merged.flush()
    del merged
    on_disk = np.load(f)
    assert on_disk.dtype == TRADE_DTYPE
    np.testing.assert_array_equal(on_disk, merge_ledger(rows))


def test_merge_ledger_of_nothing_is_an_empty_table(tmp_path: Path) -> None:
    empty = np.zeros(0, dtype=L.ROW.dtype)
    assert len(merge_ledger(empty)) == 0
    merge_ledger(empty, tmp_path / "t.npy")
    assert len(np.load(tmp_path / "t.npy")) == 0
