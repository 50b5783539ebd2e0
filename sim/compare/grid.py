"""A sweep spec: a base scenario, a grid of dotted overrides, optional variants, repeats.

The grid's points are the product of its ``product`` axes with its ``zip`` axis (keys
zipped together, lists of one length). Values are lists or ranges: ``{from, to, step}``
(``to`` included when the steps land on it) or ``{from, to, num}`` (evenly spaced, both
ends included). Repeat ``r`` of every point and variant runs with the same seed
(:func:`sim.compare.spec.paired_seeds`, as in ``sim compare``), so points are compared
on paired draws.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import Field, ValidationError, field_validator, model_validator

from sim.compare.spec import (
    RESERVED,
    RunSetSpec,
    Variant,
    load_base,
    paired_seeds,
    read_spec_mapping,
    run_timeout,
    unique_variants,
)
from sim.config.loading import (
    Float,
    Int,
    Problem,
    StrictModel,
    fail,
    problems_error,
    show,
    validation_problems,
    with_overrides,
)
from sim.config.scenario import parse_scenario
from sim.errors import BadScenario

__all__ = [
    "MAX_RUNS",
    "TABLE_COLUMNS",
    "Grid",
    "Point",
    "Range",
    "SweepPlan",
    "SweepSpec",
    "load_sweep",
]

MAX_RUNS: Final = 100_000
# Columns of sweep.parquet besides the swept keys; a swept key may not take their names.
TABLE_COLUMNS: Final = ("point", "variant", "repeat", "seed", "strategy", "traders", "pnl",
                        "return", "max_drawdown", "trades", "rejected", "passed",
                        "exit_status", "run_dir", "error")
BASE_VARIANT: Final = "base"


class Range(StrictModel):
    """Values from ``from`` to ``to``: by ``step``, or ``num`` evenly spaced."""

    start: Float = Field(alias="from")
    stop: Float = Field(alias="to")
    step: Float | None = Field(default=None, description="distance between values")
    num: Int | None = Field(default=None, ge=1, le=MAX_RUNS, description="how many values")

    @model_validator(mode="after")
    def _one_way(self) -> Range:
        if (self.step is None) == (self.num is None):
            raise ValueError("expected exactly one of step or num")
        if self.step is not None and (self.step == 0 or (self.stop - self.start) / self.step < 0):
            raise ValueError(f"step {show(self.step)} never gets from {show(self.start)} to "
                             f"{show(self.stop)}")
        if self.step is not None and (self.stop - self.start) / self.step >= MAX_RUNS:
            raise ValueError(f"more than {MAX_RUNS:,} values")
        return self

    def values(self) -> list[float | int]:
        if self.num is not None:
            n = self.num
            xs = [self.start + (self.stop - self.start) * i / (n - 1) if n > 1 else self.start
                  for i in range(n)]
        else:
            assert self.step is not None
            n = math.floor((self.stop - self.start) / self.step + 1e-9) + 1
            xs = [self.start + self.step * i for i in range(n)]
        # Whole numbers stay ints: fee_bps or a count must not become 30.0.
        whole = all(float(v).is_integer() for v in (self.start, self.stop, self.step or 0))
        return [round(x) for x in xs] if whole and self.num is None else xs


Values = list[Any] | Range


class Grid(StrictModel):
    """The swept keys: a product of axes, and one axis of keys zipped together."""

    product: dict[str, Values] = Field(default_factory=dict,
                                       description="dotted.key: values; every combination")
    zip_: dict[str, Values] = Field(default_factory=dict, alias="zip",
                                    description="dotted.key: values of one length, "
                                                "taken together")

    @model_validator(mode="after")
    def _usable(self) -> Grid:
        problems: list[Problem] = []
        for part, axes in (("product", self.product), ("zip", self.zip_)):
            for key, vals in axes.items():
                if not key or any(not p for p in key.split(".")):
                    problems.append(((part, key), "expected a field name or dotted.path"))
                elif key in RESERVED:
                    problems.append(((part, key), "not allowed in a grid: the spec sets it"))
                elif key in TABLE_COLUMNS:
                    problems.append(((part, key), "not allowed in a grid: a column of "
                                                  "sweep.parquet has that name"))
                elif isinstance(vals, list) and not vals:
                    problems.append(((part, key), "expected at least one value"))
        both = set(self.product) & set(self.zip_)
        problems += [(("zip", k), "also in product") for k in sorted(both)]
        lengths = {k: len(_values(v)) for k, v in self.zip_.items()}
        if len(set(lengths.values())) > 1:
            problems.append((("zip",), "expected lists of one length (found "
                             + ", ".join(f"{k}: {n}" for k, n in lengths.items()) + ")"))
        fail(problems)
        return self

    def points(self) -> list[dict[str, Any]]:
        """Every point of the grid as key -> value, product axes first, in spec order."""
        axes: list[list[dict[str, Any]]] = [[{k: v} for v in _values(vals)]
                                            for k, vals in self.product.items()]
        if self.zip_:
            cols = {k: _values(v) for k, v in self.zip_.items()}
            n = len(next(iter(cols.values())))
            axes.append([{k: cols[k][i] for k in cols} for i in range(n)])
        return [{k: v for d in combo for k, v in d.items()}
                for combo in itertools.product(*axes)]

    @property
    def keys(self) -> list[str]:
        return [*self.product, *self.zip_]


def _values(v: Values) -> list[Any]:
    return v.values() if isinstance(v, Range) else list(v)


class SweepSpec(RunSetSpec):
    """A sweep: base scenario, fixed overrides, grid, optional variants, repeats, seed."""

    overrides: dict[str, Any] = Field(default_factory=dict, alias="set",
                                      description="dotted.key: value for every run")
    grid: Grid
    variants: list[Variant] = Field(default_factory=list)

    _unique = field_validator("variants")(unique_variants)

    @field_validator("overrides")
    @classmethod
    def _usable_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        fail([((k,), "not allowed here: the spec sets it") for k in v if k in RESERVED])
        return v


@dataclass(frozen=True)
class Point:
    """One point of the grid: its id (``p<i>``) and the swept values."""

    id: str
    params: dict[str, Any]


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: each (point, variant) scenario, the paired seeds, time limits."""

    spec: SweepSpec
    spec_path: Path
    base_path: Path
    points: list[Point]
    variants: list[str]
    scenarios: dict[tuple[str, str], dict[str, Any]]
    seeds: list[int]
    timeout_s: float

    @property
    def n_runs(self) -> int:
        return len(self.points) * len(self.variants) * len(self.seeds)


def load_sweep(spec_path: str | os.PathLike[str]) -> SweepPlan:
    """Read and validate a sweep spec and every run's scenario; one-line BadScenario."""
    src = os.fspath(spec_path)
    path = Path(src)
    data = read_spec_mapping(path, src, "name, base, repeats and grid")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as e:
        raise problems_error(src, SweepSpec, validation_problems(e, SweepSpec)) from None
    points = [Point(f"p{i}", p) for i, p in enumerate(spec.grid.points())]
    variants = spec.variants or [Variant(name=BASE_VARIANT)]
    n = len(points) * len(variants) * spec.repeats
    if n > MAX_RUNS:
        raise BadScenario(f"{src}: {n:,} runs ({len(points):,} points x {len(variants)} "
                          f"variants x {spec.repeats} repeats); at most {MAX_RUNS:,}")
    base_path, base = load_base(path, spec.base, src)
    scenarios: dict[tuple[str, str], dict[str, Any]] = {}
    for pt in points:
        for var in variants:
            where = (f"{src}: point {pt.id} ({_describe(pt.params)})"
                     + (f" variant '{var.name}'" if spec.variants else "")
                     + f" applied to {os.fspath(base_path)}")
            overrides: dict[str, Any] = {}
            if spec.duration_s is not None:
                overrides["duration_s"] = spec.duration_s
            overrides.update(spec.overrides)
            overrides.update(var.overrides)
            overrides.update(pt.params)
            overrides["name"] = var.name if spec.variants else spec.name
            merged = with_overrides(base, overrides, where)
            parse_scenario(merged, source=where)  # every run is checked before any starts
            scenarios[(pt.id, var.name)] = merged
    timeout = max(run_timeout(spec.timeout_s, s) for s in scenarios.values())
    return SweepPlan(spec, path, base_path, points, [v.name for v in variants], scenarios,
                     paired_seeds(spec.seed, spec.repeats), timeout)


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={show(v)}" for k, v in params.items()) or "no swept keys"
