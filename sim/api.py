"""The Python API for notebooks and scripts: ``sim.run`` and ``sim.sweep``.

``run`` makes one run in a fresh ``python -m sim run`` (a run forks traders and installs
signal handlers, which is no business of a notebook kernel) and returns its tables;
``sweep`` runs a sweep spec on Dask, as ``sim sweep`` does, and returns its table.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pandas as pd
import yaml

from sim.compare.spec import run_timeout
from sim.compare.sweep import run_sweep
from sim.config.loading import one_line, parse_yaml, read_text, with_overrides
from sim.config.scenario import parse_scenario
from sim.errors import BadInput, BadScenario, SimError
from sim.harness.rundir import INCOMPLETE, make_run_dir
from sim.results import RunData

__all__ = ["run", "sweep"]

KILL_WAIT_S: Final = 10.0


def _scenario_data(scenario: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(scenario, Mapping):
        return dict(scenario)
    src = os.fspath(scenario)
    data = parse_yaml(read_text(Path(src), src), src)
    if not isinstance(data, dict):
        parse_scenario(data, source=src)  # raises the right message
        raise BadScenario(f"{src}: expected a scenario mapping")
    return data


def run(scenario: str | os.PathLike[str] | Mapping[str, Any], *,
        out: str | os.PathLike[str] = "results", figures: bool = False,
        timeout_s: float | None = None, overrides: Mapping[str, Any] | None = None,
        **kw: Any) -> RunData:
    """Run a scenario (a YAML path or a mapping) and return its results.

    Overrides are dotted keys in ``overrides`` or keyword arguments with ``__`` for the
    dot: ``sim.run("scenarios/default.yaml", duration_s=0.5, monitor__interval_ms=20)``.
    A run whose invariants fail is returned (``result.passed`` is False); a bad scenario
    raises :class:`~sim.errors.BadScenario` before anything runs.
    """
    data = _scenario_data(scenario)
    changes = {**(overrides or {}), **{k.replace("__", "."): v for k, v in kw.items()}}
    where = f"sim.run({scenario if not isinstance(scenario, Mapping) else 'mapping'})"
    merged = with_overrides(data, changes, where)
    scn = parse_scenario(merged, source=where)
    text = yaml.safe_dump(merged, sort_keys=False)
    run_dir = make_run_dir(Path(out), scn.name, scn.seed)
    (run_dir / INCOMPLETE).unlink()  # an empty folder, claimed again by the run itself
    limit = run_timeout(timeout_s, merged)
    with tempfile.TemporaryDirectory(prefix="sim-api-") as tmp:
        f = Path(tmp) / "scenario.yaml"
        f.write_text(text)
        cmd = [sys.executable, "-m", "sim", "run", str(f), "--run-dir", str(run_dir),
               *([] if figures else ["--no-figures"])]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            raise SimError(f"{where}: run did not finish in {limit:g} s; killed "
                           f"(its folder: {run_dir})") from None
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(KILL_WAIT_S)
    last = next((ln for ln in reversed(err.decode(errors="replace").splitlines())
                 if ln.strip()), "")
    if proc.returncode == 2:
        raise BadInput(one_line(last) or f"{where}: refused (exit status 2)")
    if proc.returncode not in (0, 1):
        raise SimError(one_line(f"{where}: exit status {proc.returncode}: {last}"))
    return RunData(run_dir)


def sweep(spec: str | os.PathLike[str] | Mapping[str, Any], scheduler: str | None = None,
          *, out: str | os.PathLike[str] = "results", jobs: int | None = None
          ) -> pd.DataFrame:
    """Run a sweep spec (a YAML path, or a mapping whose ``base`` is relative to the
    current folder) on Dask and return its table (``sweep.parquet``)."""
    if not isinstance(spec, Mapping):
        return run_sweep(os.fspath(spec), Path(out), sys.stderr, scheduler=scheduler,
                         jobs=jobs).table
    data = dict(spec)
    if isinstance(data.get("base"), str):
        data["base"] = os.path.abspath(data["base"])
    with tempfile.TemporaryDirectory(prefix="sim-api-") as tmp:
        f = Path(tmp) / "sweep.yaml"
        f.write_text(yaml.safe_dump(data, sort_keys=False))
        return run_sweep(str(f), Path(out), sys.stderr, scheduler=scheduler,
                         jobs=jobs).table
