"""Unit tests of scenario loading: defaults, one-line error messages, schema, helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from sim.config.scenario import (
    Arrival,
    Scenario,
    TraderGroup,
    load_scenario,
    parse_scenario,
    scenario_schema,
    strategy_params,
)
from sim.errors import BadScenario
from sim.market import registry

REPO = Path(__file__).resolve().parents[2]
MINIMAL = "traders:\n  - count: 2\n"


def write(tmp_path: Path, text: str, name: str = "scn.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str, **kw: Any) -> Scenario:
    return load_scenario(write(tmp_path, text), **kw)


def error_of(data: Any) -> str:
    with pytest.raises(BadScenario) as info:
        parse_scenario(data, source="s.yaml")
    return str(info.value)


class StubParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    qty: float = Field(1.0, gt=0)
    side: str = "buy"


class StubStrategy:
    Params = StubParams


@pytest.fixture
def stub_strategies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in registry with one strategy 'stub', whatever sim/market/strategies.py holds."""

    def resolve_any(name: str, market: str = "pool") -> type[StubStrategy]:
        if name != "stub":
            raise BadScenario(f"unknown strategy '{name}'; expected one of stub or "
                              "module:Class")
        return StubStrategy

    monkeypatch.setattr(registry, "resolve_any", resolve_any)


# --- defaults and helpers ------------------------------------------------------------


def test_minimal_file_gets_every_default(tmp_path: Path) -> None:
    scn = load_text(tmp_path, MINIMAL)
    assert scn.name == "scn"
    assert (scn.seed, scn.duration_s, scn.max_trades) == (0, 3.0, None)
    assert (scn.sync, scn.schedule, scn.scale, scn.fee_bps) == ("per_currency", "free", 100, 30)
    assert [(c.name, c.rate, c.reserve) for c in scn.currencies] == [
        ("EUR", 1.10, 100_000.0), ("USD", 1.00, 100_000.0), ("GBP", 1.27, 100_000.0),
        ("CHF", 1.13, 100_000.0)]
    assert (scn.spare_slots, scn.ring_rows, scn.lock_timeout_s) == (4, 1024, 10.0)
    assert scn.race_window_us == 0.0 and scn.expect_violations is False
    assert scn.monitor.enabled and scn.monitor.interval_ms == 10.0
    assert scn.faults.kill_traders == 0 and scn.faults.kill_monitor_after_s is None
    assert scn.fundamental.sigma == 0.0 and scn.fundamental.interval_ms == 100.0
    g = scn.traders[0]
    assert (g.count, g.strategy, g.params, g.command) == (2, "random", {}, None)
    assert (g.cash, g.holdings, g.arrival) == (10_000.0, 100.0, Arrival())


def test_shipped_scenarios_load() -> None:
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        scn = load_scenario(path)
        assert scn.name == path.stem
        assert all(strategy_params(scn, g) is not None for g in scn.traders if not g.command)


def test_name_given_is_kept_and_stem_is_sanitized(tmp_path: Path) -> None:
    assert load_text(tmp_path, "name: run-1.a\n" + MINIMAL).name == "run-1.a"
    assert load_scenario(write(tmp_path, MINIMAL, "my scenario.yaml")).name == "my_scenario"
    assert parse_scenario({"traders": [{"count": 1}]}).name == "scenario"


def test_models_are_frozen_and_strict_about_keys() -> None:
    scn = parse_scenario({"traders": [{"count": 1}]})
    with pytest.raises(ValueError, match="frozen"):
        scn.seed = 3
    assert Scenario.model_config.get("extra") == "forbid"


def test_trader_plan_repeats_groups_in_slot_order() -> None:
    scn = parse_scenario({"traders": [{"count": 2, "cash": 1}, {"count": 1, "cash": 2},
                                      {"count": 3, "cash": 3}]})
    assert scn.n_traders == 6
    assert [g.cash for g in scn.trader_plan()] == [1, 1, 2, 3, 3, 3]
    assert scn.trader_plan()[0] is scn.traders[0]


def test_minor_rounds_to_minor_units() -> None:
    scn = parse_scenario({"scale": 1000, "traders": [{"count": 1}]})
    assert scn.minor(1.25) == 1250
    assert scn.minor(0.0004) == 0 and scn.minor(0.0006) == 1
    assert scn.minor(0) == 0
    assert isinstance(scn.minor(1.0), int)
    assert parse_scenario({"traders": [{"count": 1}]}).minor(12.34) == 1234


def test_overrides_apply_on_top_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1\nduration_s: 9\n" + MINIMAL)
    scn = load_scenario(path, {"seed": 5, "faults.restart": True, "monitor.enabled": False})
    assert (scn.seed, scn.duration_s) == (5, 9.0)
    assert scn.faults.restart is True and scn.monitor.enabled is False
    assert load_scenario(path).seed == 1


def test_overrides_are_validated_too(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    with pytest.raises(BadScenario, match=r"duration_s: must be > 0 \(found -1\)"):
        load_scenario(path, {"duration_s": -1})
    with pytest.raises(BadScenario, match=r"override seed\.x: seed is not a mapping"):
        load_scenario(path, {"seed": 1, "seed.x": 2})


def test_arrival_kinds() -> None:
    groups = [{"count": 1, "arrival": {"kind": "fixed", "rate_hz": 50}},
              {"count": 1, "arrival": {"kind": "poisson", "rate_hz": 0.5}}]
    scn = parse_scenario({"traders": groups})
    assert [g.arrival.kind for g in scn.traders] == ["fixed", "poisson"]
    assert error_of({"traders": [{"count": 1, "arrival": {"kind": "fixed"}}]}) == (
        "s.yaml: traders[0].arrival.rate_hz: required for kind 'fixed'")
    assert "traders[0].arrival.rate_hz: not used with kind 'asap'" in error_of(
        {"traders": [{"count": 1, "arrival": {"rate_hz": 10}}]})
    assert "traders[0].arrival.rate_hz: must be > 0 (found 0)" in error_of(
        {"traders": [{"count": 1, "arrival": {"kind": "poisson", "rate_hz": 0}}]})


# --- file-level errors ---------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadScenario, match=r"nope\.yaml: no such file$"):
        load_scenario(tmp_path / "nope.yaml")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(BadScenario, match="is a directory"):
        load_scenario(tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, MINIMAL)

    def denied(self: Path, *args: Any, **kwargs: Any) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    # chmod 0 alone proves nothing when the tests run as root.
    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(BadScenario, match=r"scn\.yaml: cannot read: permission denied"):
        load_scenario(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"traders: \xff\xfe\n")
    with pytest.raises(BadScenario, match="not UTF-8"):
        load_scenario(path)


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1\ntraders: [\n  - count: 1\n")
    with pytest.raises(BadScenario, match=r"scn\.yaml: not valid YAML at line \d+, column \d+"):
        load_scenario(path)


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BadScenario, match="line 3, column 1: duplicate key 'seed'"):
        load_text(tmp_path, "seed: 1\ntraders: []\nseed: 2\n")


def test_python_tags_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadScenario, match="not valid YAML"):
        load_text(tmp_path, "seed: !!python/object/apply:os.getpid []\n" + MINIMAL)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    with pytest.raises(BadScenario, match=r"scn\.yaml: is empty"):
        load_text(tmp_path, text)


@pytest.mark.parametrize(("text", "found"), [("- 1\n- 2\n", "a list of 2"),
                                             ("just words\n", "'just words'"),
                                             ("42\n", "42")])
def test_top_level_not_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    with pytest.raises(BadScenario, match=rf"top level must be a mapping .*\(found {found}\)"):
        load_text(tmp_path, text)


# --- field errors --------------------------------------------------------------------


def test_traders_required() -> None:
    assert error_of({"seed": 1}) == "s.yaml: traders: required"
    assert error_of({"traders": []}) == "s.yaml: traders: must have at least 1 item (found 0)"


def test_unknown_keys_at_every_level() -> None:
    msg = error_of({"duraton_s": 1, "traders": [{"count": 1, "cahs": 5}],
                    "faults": {"kill": 1}})
    assert "duraton_s: unknown key (did you mean 'duration_s'?)" in msg
    assert "traders[0].cahs: unknown key (did you mean 'cash'?)" in msg
    assert "faults.kill: unknown key" in msg


@pytest.mark.parametrize(("data", "expected"), [
    ({"seed": "abc"}, "seed: expected a whole number (found 'abc')"),
    ({"seed": 1.5}, "seed: expected a whole number (found 1.5)"),
    ({"seed": True}, "seed: expected a whole number (found true)"),
    ({"seed": -1}, "seed: must be >= 0 (found -1)"),
    ({"duration_s": "abc"}, "duration_s: expected a number (found 'abc')"),
    ({"duration_s": 0}, "duration_s: must be > 0 (found 0)"),
    ({"duration_s": float("nan")}, "duration_s: must be a finite number (found nan)"),
    ({"race_window_us": float("inf")}, "race_window_us: must be a finite number (found inf)"),
    ({"sync": "fast"},
     "sync: expected one of 'none', 'global', 'per_currency', 'ofd' (found 'fast')"),
    ({"schedule": 1}, "schedule: expected one of 'free', 'deterministic' (found 1)"),
    ({"scale": 0}, "scale: must be >= 1 (found 0)"),
    ({"scale": 10**7}, "scale: must be <= 1000000 (found 10000000)"),
    ({"fee_bps": 10_000}, "fee_bps: must be <= 9999 (found 10000)"),
    ({"ring_rows": 8}, "ring_rows: must be >= 16 (found 8)"),
    ({"lock_timeout_s": 4000}, "lock_timeout_s: must be <= 3600 (found 4000)"),
    ({"max_trades": 0}, "max_trades: must be > 0 (found 0)"),
    ({"spare_slots": -1}, "spare_slots: must be >= 0 (found -1)"),
    ({"name": "a/b"}, "name: expected letters, digits, '_', '.' or '-' (found 'a/b')"),
    ({"name": ".."}, "name: must not be '..'"),
    ({"monitor": {"enabled": "maybe"}}, "monitor.enabled: expected true or false"),
    ({"monitor": {"interval_ms": 0}}, "monitor.interval_ms: must be > 0 (found 0)"),
    ({"monitor": 5}, "monitor: expected a mapping (found 5)"),
    ({"faults": {"pause_prob": 1.5}}, "faults.pause_prob: must be <= 1 (found 1.5)"),
    ({"faults": {"every_s": 0}}, "faults.every_s: must be > 0 (found 0)"),
    ({"faults": {"kill_monitor_after_s": -1}}, "faults.kill_monitor_after_s: must be >= 0"),
    ({"fundamental": {"sigma": -0.1}}, "fundamental.sigma: must be >= 0 (found -0.1)"),
    ({"currencies": []}, "currencies: must have at least 1 item (found 0)"),
    ({"currencies": "EUR"}, "currencies: expected a list (found 'EUR')"),
    ({"currencies": [{"name": "eur", "rate": 1, "reserve": 1}]},
     "currencies[0].name: expected an uppercase letter"),
    ({"currencies": [{"name": "ABCDEFGH", "rate": 1, "reserve": 1}]},
     "currencies[0].name: expected an uppercase letter"),
    ({"currencies": [{"name": "EUR", "rate": 0, "reserve": 1}]},
     "currencies[0].rate: must be > 0 (found 0)"),
    ({"currencies": [{"name": "EUR", "rate": 1, "market": "dex"}]},
     "currencies[0].market: expected one of 'pool', 'book'"),
    ({"market": "book", "scale": 100, "book": {"tick": 0.0001}},
     "book.tick: 0.0001 cash per unit is 0.01 minor units per lot at scale 100"),
    ({"market": "book", "book": {"lot": 0.001}}, "book.lot: 0.001 units is 0.1 minor units"),
    ({"market": "book", "scale": 10000, "book": {"ticks": 40000}},
     "currencies[0].rate: 1.1 with 40000 ticks of 0.0001 puts tick 0 at -0.9"),
    ({"market": "book", "scale": 10000, "ring_rows": 64, "book": {"max_fills": 64}},
     "ring_rows: 64 rows cannot hold one order's 64 fills between drains; expected at least 132"),
])
def test_field_errors(data: dict[str, Any], expected: str) -> None:
    msg = error_of({"traders": [{"count": 1}], **data})
    assert msg.startswith("s.yaml: ")
    assert expected in msg


@pytest.mark.parametrize(("group", "expected"), [
    ({"count": 0}, "traders[0].count: must be > 0 (found 0)"),
    ({"count": -1}, "traders[0].count: must be > 0 (found -1)"),
    ({}, "traders[0].count: required"),
    ({"count": 1, "cash": -5}, "traders[0].cash: must be >= 0 (found -5)"),
    ({"count": 1, "holdings": "lots"}, "traders[0].holdings: expected a number (found 'lots')"),
    ({"count": 1, "params": [1]}, "traders[0].params: expected a mapping (found a list of 1)"),
    ({"count": 1, "command": []}, "traders[0].command: must have at least 1 item (found 0)"),
    ({"count": 1, "command": "prog"}, "traders[0].command: expected a list (found 'prog')"),
    ({"count": 1, "command": ["prog", 3]}, "traders[0].command[1]: expected a string (found 3)"),
    ({"count": 1, "command": [" "]}, "traders[0].command[0]: the program must not be empty"),
    ({"count": 1, "command": ["t", "{exchnge}"]},
     "traders[0].command[1]: unknown placeholder {exchnge} in '{exchnge}'"),
    ({"count": 1, "command": ["t"], "params": {"a": 1}},
     "traders[0].params: must be empty when command is given"),
])
def test_trader_group_errors(group: dict[str, Any], expected: str) -> None:
    assert expected in error_of({"traders": [group]})


def test_command_group_with_placeholders_is_accepted() -> None:
    cmd = ["./trader", "--file={exchange}", "{writer}", "{account}", "{seed}", "{{literal}}"]
    scn = parse_scenario({"traders": [{"count": 2, "command": cmd, "strategy": "ignored"}]})
    assert scn.traders[0].command == cmd
    assert strategy_params(scn, scn.traders[0]) is None


def test_processes_default_to_the_cpus_and_never_exceed_the_agents() -> None:
    import os

    cpus = len(os.sched_getaffinity(0))
    assert parse_scenario({"traders": [{"count": 1000}]}).n_processes == min(cpus, 1000)
    assert parse_scenario({"traders": [{"count": 3}], "processes": 8}).n_processes == 3
    scn = parse_scenario({"processes": 2, "traders": [{"count": 10},
                                                      {"count": 2, "command": ["t"]}]})
    assert (scn.n_processes, scn.n_commands, scn.n_traders) == (2, 2, 12)
    assert "processes: must be > 0" in error_of({"processes": 0, "traders": [{"count": 1}]})


def test_cross_field_checks() -> None:
    dup = [{"name": "EUR", "rate": 1, "reserve": 1}, {"name": "EUR", "rate": 2, "reserve": 1}]
    assert "currencies[1].name: duplicate currency 'EUR' (also currencies[0])" in error_of(
        {"currencies": dup, "traders": [{"count": 1}]})
    assert ("traders: 2097149 agents + spare_slots 4 need 2097153 accounts; at most 2097152"
            in error_of({"traders": [{"count": 2097149}]}))
    assert "processes: 4101 writers (processes, command instances and spares); at most 4096" \
        in error_of({"processes": 4097, "traders": [{"count": 5000}]})
    assert "traders[1].command: not allowed with schedule 'deterministic'" in error_of(
        {"schedule": "deterministic", "traders": [{"count": 1}, {"count": 1, "command": ["t"]}]})
    assert "currencies[0].rate: pool cash" in error_of(
        {"currencies": [{"name": "EUR", "rate": 1e9, "reserve": 1e9}], "traders": [{"count": 1}]})
    assert "currencies[0].reserve: pool units" in error_of(
        {"currencies": [{"name": "EUR", "rate": 1e-9, "reserve": 1e14}],
         "traders": [{"count": 1}]})
    assert "traders: total trader cash" in error_of({"traders": [{"count": 10, "cash": 1e13}]})
    assert "traders: total trader holdings" in error_of(
        {"traders": [{"count": 10, "holdings": 1e13}]})
    assert "currencies[0].reserve: pool units rounds to 0 minor units" in error_of(
        {"currencies": [{"name": "EUR", "rate": 1, "reserve": 0.001}], "traders": [{"count": 1}]})


def test_many_errors_reported_at_once_in_one_line(tmp_path: Path) -> None:
    text = ("sync: fast\nseed: x\nbogus: 1\n"
            "traders:\n  - count: 1\n  - count: -1\n  - count: 1\n    strategy: nope\n")
    with pytest.raises(BadScenario) as info:
        load_text(tmp_path, text)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{tmp_path / 'scn.yaml'}: ")
    parts = msg.split(": ", 1)[1].split("; ")
    paths = [p.split(":")[0] for p in parts if p.startswith(("seed", "sync", "traders", "bog"))]
    assert paths == ["seed", "sync", "traders[1].count", "traders[2].strategy", "bogus"]
    assert "traders[2].strategy: unknown strategy 'nope'" in msg


def test_problems_follow_field_order() -> None:
    assert error_of({"traders": [{"count": 1}, {"count": -1}], "sync": "fast"}) == (
        "s.yaml: sync: expected one of 'none', 'global', 'per_currency', 'ofd' (found 'fast'); "
        "traders[1].count: must be > 0 (found -1)")


# --- strategy parameters -------------------------------------------------------------


def test_unknown_strategy_with_real_registry() -> None:
    msg = error_of({"traders": [{"count": 1, "strategy": "nope"}]})
    assert msg.startswith("s.yaml: traders[0].strategy: unknown strategy 'nope'; expected ")
    assert "module:Class" in msg


def test_params_checked_by_real_registry() -> None:
    msg = error_of({"traders": [{"count": 1, "strategy": "random",
                                 "params": {"no_such_param": 1}}]})
    assert "traders[0].params.no_such_param: unknown key" in msg


@pytest.mark.usefixtures("stub_strategies")
def test_params_errors_from_every_group_are_collected() -> None:
    groups = [{"count": 1, "strategy": "stub", "params": {"qty": -1}},
              {"count": 1, "strategy": "stub", "params": {"qty": 2, "color": "red"}},
              {"count": 1, "strategy": "other"},
              {"count": 0, "strategy": "stub", "params": {"qty": "x"}}]
    msg = error_of({"traders": groups})
    assert msg == (
        "s.yaml: traders[0].params.qty: must be > 0 (found -1); "
        "traders[1].params.color: unknown key; "
        "traders[2].strategy: unknown strategy 'other'; expected one of stub or module:Class; "
        "traders[3].count: must be > 0 (found 0); "
        "traders[3].params.qty: expected a number (found 'x')")


@pytest.mark.usefixtures("stub_strategies")
def test_strategy_params_returns_validated_model() -> None:
    scn = parse_scenario({"traders": [{"count": 1, "strategy": "stub", "params": {"qty": 3}},
                                      {"count": 1, "command": ["t"]}]})
    params = strategy_params(scn, scn.traders[0])
    assert isinstance(params, StubParams) and params.qty == 3.0
    assert strategy_params(scn, scn.traders[1]) is None


@pytest.mark.usefixtures("stub_strategies")
def test_strategy_params_of_a_hand_built_group_reports_paths() -> None:
    group = TraderGroup(count=1, strategy="stub", params={"qty": 0})
    scn = Scenario(traders=[group])
    with pytest.raises(BadScenario, match=r"traders\[0\]\.params\.qty: must be > 0"):
        strategy_params(scn, group)


# --- schema and robustness ------------------------------------------------------------


def test_schema_is_json_and_describes_the_file() -> None:
    schema = json.loads(json.dumps(scenario_schema()))
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"]
    assert "traders" in schema["properties"] and schema["required"] == ["traders"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(Scenario.model_fields)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats()
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
KEYS = st.sampled_from([*Scenario.model_fields, "count", "rate", "command", "params"])


@settings(max_examples=150)
@given(top=st.dictionaries(KEYS, JSONISH, max_size=4),
       group=st.dictionaries(st.sampled_from([*TraderGroup.model_fields, "x"]), JSONISH,
                             max_size=4))
def test_any_input_either_loads_or_fails_in_one_line(top: dict[str, Any],
                                                     group: dict[str, Any]) -> None:
    data = {"traders": [{"count": 1, **group}], **top}
    try:
        parse_scenario(data, source="f.yaml")
    except BadScenario as e:
        assert "\n" not in str(e) and str(e).startswith("f.yaml: ")


def test_yaml_round_trip_of_a_full_scenario(tmp_path: Path) -> None:
    scn = parse_scenario({"seed": 9, "max_trades": 100, "sync": "ofd", "traders": [
        {"count": 2, "arrival": {"kind": "poisson", "rate_hz": 100}}]})
    text = yaml.safe_dump(scn.model_dump())
    assert load_text(tmp_path, text) == scn
