"""Run folders: the scenario as run, and the merged ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.config.scenario import Scenario, load_scenario, parse_scenario
from sim.harness.rundir import scenario_text, strategy_labels

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
