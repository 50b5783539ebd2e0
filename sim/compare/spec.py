"""A comparison spec: base scenario, variants (dotted overrides), paired repeats.

Repeat ``r`` of every variant runs with the same seed, derived from the spec's base seed,
so variants are compared on paired draws (same news path, same first trader's stream) and
differences between them are not just different luck.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from pydantic import Field, ValidationError, field_validator

from sim.config.loading import (
    NAME_PATTERN,
    Float,
    Int,
    Problem,
    StrictModel,
    fail,
    not_a_parent,
    parse_yaml,
    problems_error,
    read_text,
    unique_names,
    validation_problems,
    with_overrides,
)
from sim.config.scenario import parse_scenario
from sim.errors import BadScenario

__all__ = [
    "RESERVED",
    "CompareSpec",
    "Plan",
    "RunSetSpec",
    "Variant",
    "load_base",
    "load_spec",
    "paired_seeds",
    "read_spec_mapping",
    "run_timeout",
    "unique_variants",
]

# Overrides a variant may not set: the spec owns them (seed pairs the repeats, name places
# the run folders).
RESERVED: Final = ("seed", "name")


class Variant(StrictModel):
    """One variant: a name and the overrides applied to the base scenario."""

    name: str = Field(min_length=1, pattern=NAME_PATTERN,
                      description="variant name; its runs go to runs/r<k>/<name>/")
    overrides: dict[str, Any] = Field(
        default_factory=dict, alias="set",
        description="dotted.field: value overrides of the base scenario, e.g. "
                    "{traders: [...], sync: global, fee_bps: 10}")

    _not_a_parent = field_validator("name")(not_a_parent)

    @field_validator("overrides")
    @classmethod
    def _usable_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        problems: list[Problem] = []
        for key in v:
            if not key or any(not part for part in key.split(".")):
                problems.append(((key,), "expected a field name or dotted.path"))
            elif key in RESERVED:
                why = ("set per repeat from the spec's seed, the same in every variant"
                       if key == "seed" else "the variant's name is the scenario name")
                problems.append(((key,), f"not allowed in a variant: {why}"))
        fail(problems)
        return v


class RunSetSpec(StrictModel):
    """What comparisons and sweeps share: a base scenario, repeats and their seed."""

    name: str = Field(min_length=1, pattern=NAME_PATTERN,
                      description="results go to <out>/compare-<name>/ or sweep-<name>/")
    description: str = ""
    base: str = Field(min_length=1,
                      description="base scenario YAML, relative to this spec file")
    repeats: Int = Field(ge=1, le=10_000, description="runs per point and variant")
    seed: Int = Field(default=0, ge=0, le=2**63 - 1,
                      description="base seed; repeat r uses a seed derived from it")
    duration_s: Float | None = Field(default=None, gt=0,
                                     description="override of every run's duration_s")
    timeout_s: Float | None = Field(default=None, gt=0,
                                    description="seconds a run may take before it is "
                                                "killed (default 60 + 10 x duration_s)")

    _not_a_parent = field_validator("name")(not_a_parent)


def unique_variants(v: list[Variant]) -> list[Variant]:
    """Variant names become folder names: each must be used once."""
    unique_names([var.name for var in v], "variant", "variants")
    return v


class CompareSpec(RunSetSpec):
    """A comparison: base scenario, variants, repeats and the seed they derive from."""

    variants: list[Variant] = Field(min_length=1)

    _unique = field_validator("variants")(unique_variants)


@dataclass(frozen=True)
class Plan:
    """A validated spec with each variant's scenario data, ready to run."""

    spec: CompareSpec
    spec_path: Path
    base_path: Path
    scenarios: dict[str, dict[str, Any]]
    seeds: list[int]


def _spec_error(src: str, e: ValidationError) -> BadScenario:
    return problems_error(src, CompareSpec, validation_problems(e, CompareSpec))


def load_spec(spec_path: str | os.PathLike[str]) -> Plan:
    """Read and validate a spec and every variant's scenario; raises one-line BadScenario."""
    src = os.fspath(spec_path)
    path = Path(src)
    data = read_spec_mapping(path, src, "name, base, repeats and variants")
    if "traders" in data and not ("base" in data or "variants" in data):
        raise BadScenario(f"{src}: is a scenario (it has traders), not a compare spec; run "
                          f"it with: sim run {src}")
    try:
        spec = CompareSpec.model_validate(data)
    except ValidationError as e:
        raise _spec_error(src, e) from None
    base_path, base = load_base(path, spec.base, src)
    scenarios: dict[str, dict[str, Any]] = {}
    for i, var in enumerate(spec.variants):
        where = f"{src}: variants[{i}] '{var.name}' applied to {os.fspath(base_path)}"
        overrides: dict[str, Any] = {}
        if spec.duration_s is not None:
            overrides["duration_s"] = spec.duration_s
        overrides.update(var.overrides)
        overrides["name"] = var.name
        merged = with_overrides(base, overrides, where)
        parse_scenario(merged, source=where)  # every variant is checked before any run
        scenarios[var.name] = merged
    return Plan(spec, path, base_path, scenarios, paired_seeds(spec.seed, spec.repeats))


def read_spec_mapping(path: Path, src: str, expected: str) -> dict[str, Any]:
    """A spec file's top-level mapping; one-line BadScenario if it is not one."""
    data = parse_yaml(read_text(path, src), src)
    if data is None:
        raise BadScenario(f"{src}: is empty; expected a mapping with {expected}")
    if not isinstance(data, Mapping):
        raise BadScenario(f"{src}: top level must be a mapping of keys to values")
    return dict(data)


def load_base(spec_path: Path, base: str, src: str) -> tuple[Path, dict[str, Any]]:
    """The base scenario a spec names (relative to the spec file) and its raw data."""
    base_path = Path(base) if Path(base).is_absolute() else spec_path.parent / base
    base_src = os.fspath(base_path)
    data = parse_yaml(read_text(base_path, f"{src}: base {base_src}"), base_src)
    if not isinstance(data, dict):
        parse_scenario(data, source=f"{src}: base {base_src}")  # raises the right message
        raise BadScenario(f"{src}: base {base_src}: expected a scenario mapping")
    return base_path, data


def run_timeout(timeout_s: float | None, scenario: Mapping[str, Any]) -> float:
    """A run's time limit: the spec's, else generous for the scenario's duration."""
    if timeout_s is not None:
        return float(timeout_s)
    return 60.0 + 10.0 * float(scenario.get("duration_s", 3.0))


def paired_seeds(seed: int, repeats: int) -> list[int]:
    """Seed of each repeat: child r of the base seed's SeedSequence, as a 32-bit integer.

    Spawned children do not depend on how many are spawned, so adding repeats keeps the
    seeds (and so the runs) of the earlier ones.
    """
    children = np.random.SeedSequence(seed).spawn(repeats)
    return [int(c.generate_state(1, np.uint32)[0]) for c in children]
