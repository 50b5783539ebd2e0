"""``sim schema`` is a valid Draft 2020-12 schema that agrees with the loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sim.config.scenario import JSON_SCHEMA_DIALECT, scenario_schema
from sim.market.strategies import BUILTINS
from tests.integration.harness import ROOT

SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = scenario_schema()
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(v: jsonschema.Draft202012Validator, data: dict[str, Any]) -> list[str]:
    return [e.message for e in v.iter_errors(data)]


def test_only_json_schema_keywords_for_bounds_and_no_markup() -> None:
    text = json.dumps(scenario_schema())
    for word in ('"gt"', '"ge"', '"lt"', '"le"', "``", ":class:", ":func:"):
        assert word not in text


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_shipped_scenarios_are_valid(validator: jsonschema.Draft202012Validator,
                                     path: Path) -> None:
    assert _errors(validator, yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("field, value", [
    ("max_trades", 0),
    ("faults", {"kill_monitor_after_s": -1}),
    ("traders", [{"count": 1, "arrival": {"kind": "poisson", "rate_hz": 0}}]),
])
def test_optional_fields_keep_their_bounds(validator: jsonschema.Draft202012Validator,
                                           field: str, value: Any) -> None:
    data: dict[str, Any] = {"traders": [{"count": 1}], field: value}
    assert _errors(validator, data)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_params_are_described_per_strategy(validator: jsonschema.Draft202012Validator,
                                                   name: str) -> None:
    cls = BUILTINS[name]
    known = next(iter(cls.Params.model_fields))
    assert _errors(validator, {"traders": [{"count": 1, "strategy": name,
                                            "params": {known: 1}}]}) == []
    errors = _errors(validator, {"traders": [{"count": 1, "strategy": name,
                                              "params": {"no_such_param": 1}}]})
    assert any("no_such_param" in e for e in errors)


def test_absent_strategy_means_random(validator: jsonschema.Draft202012Validator) -> None:
    assert _errors(validator, {"traders": [{"count": 1, "params": {"min_qty": 2}}]}) == []
    assert _errors(validator, {"traders": [{"count": 1, "params": {"lookback": 2}}]})
    assert _errors(validator, {"traders": [{"count": 1, "params": {"min_qty": -1}}]})


def test_plugin_params_stay_open(validator: jsonschema.Draft202012Validator) -> None:
    group = {"count": 1, "strategy": "examples.plugin_strategy:MeanReverter",
             "params": {"anything": 1}}
    assert _errors(validator, {"traders": [group]}) == []
    assert _errors(validator, {"traders": [{"count": 1, "strategy": "not a name"}]})
