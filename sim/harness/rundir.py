"""Run folders: their names, the marker of an unfinished run, the scenario as run.

A run folder is ``<root>/<scenario>/<run-id>/``, created with an exclusive ``mkdir`` so
no run ever overwrites another. While a run is going it holds an ``INCOMPLETE`` marker;
a run that died keeps it, and ``sim check`` / ``sim plot`` still work on what it left.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Final

import yaml

from sim.config.scenario import Scenario, TraderGroup
from sim.errors import BadInput

__all__ = [
    "INCOMPLETE",
    "ORDERS",
    "SAMPLES",
    "SCENARIO_FILE",
    "TRADES",
    "claim_run_dir",
    "group_label",
    "group_labels",
    "make_run_dir",
    "mark_complete",
    "scenario_text",
    "strategy_labels",
    "write_json",
]

INCOMPLETE: Final = "INCOMPLETE"
SCENARIO_FILE: Final = "scenario.yaml"
TRADES: Final = "trades.parquet"
ORDERS: Final = "orders.parquet"
SAMPLES: Final = "samples.parquet"


def make_run_dir(root: Path, scenario: str, seed: int) -> Path:
    """A new, empty run folder; never an existing one."""
    base = root / scenario
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        run = base / (f"{stamp}-s{seed}" + (f"-{i}" if i else ""))
        try:
            run.mkdir()
        except FileExistsError:
            continue
        (run / INCOMPLETE).write_text("this run has not finished\n")
        return run
    raise BadInput(f"{base}: cannot find a free run folder name")


def scenario_text(scn: Scenario) -> str:
    """The validated scenario as YAML, fields in model order: what a run folder keeps.

    It is the scenario as run (overrides applied, defaults filled in), so loading it back
    gives an equal :class:`Scenario`: ``sim run --resume`` continues with the same seed and
    settings, and ``scenario_sha256`` hashes what ran.
    """
    return yaml.safe_dump(scn.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def group_label(g: TraderGroup) -> str:
    """What a group's agents are: its strategy's name, or ``command:<program>`` for an
    external program (the label summaries, samples and ``sim watch`` show)."""
    return f"command:{os.path.basename(g.command[0])}" if g.command else g.strategy


def group_labels(scn: Scenario) -> list[str]:
    """Each scenario group's label, in group order."""
    return [group_label(g) for g in scn.traders]


def strategy_labels(scn: Scenario) -> dict[int, str]:
    """Account (agent) -> its group's label."""
    return dict(enumerate(group_label(g) for g in scn.trader_plan()))


def claim_run_dir(run: Path) -> Path:
    """``run`` as a run folder: created, or an existing empty one; never one with files."""
    run.parent.mkdir(parents=True, exist_ok=True)
    try:
        run.mkdir()
    except FileExistsError:
        if not run.is_dir() or any(run.iterdir()):
            raise BadInput(f"{run}: already exists and is not an empty folder; a run "
                           "folder is never reused") from None
    (run / INCOMPLETE).write_text("this run has not finished\n")
    return run


def mark_complete(run: Path) -> None:
    (run / INCOMPLETE).unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


