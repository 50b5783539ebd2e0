"""What a run costs around its trading: wall time of short runs, the longest trade gap.

Each run is the command line a user types (a fresh interpreter: imports included), timed
from the outside: a 0.5 s default run with its figures, and a 2 s run as ``sim compare``
starts it (``--no-figures``). The longest pause between consecutive trades comes from
each run's summary.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from .report import _target

__all__ = ["cost_targets", "run_costs"]

ROOT: Final = Path(__file__).resolve().parents[1]
MAX_SHORT_WALL_S: Final = 1.5
MAX_COMPARE_WALL_S: Final = 2.5
MAX_GAP_MS: Final = 10.0
RUN_TIMEOUT_S: Final = 120.0


def _timed_run(scratch: Path, duration: float, figures: bool) -> tuple[float, dict[str, Any]]:
    out = scratch / f"costs-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "sim", "run", str(ROOT / "scenarios" / "default.yaml"),
           "--duration", str(duration), "--out", str(out),
           *([] if figures else ["--no-figures"])]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, timeout=RUN_TIMEOUT_S, cwd=ROOT)
    wall = time.monotonic() - t0
    summary = next(out.glob("*/*/summary.json"))
    return wall, json.loads(summary.read_text())


def run_costs(scratch: str, repeats: int, say: Callable[[str], None]) -> dict[str, Any]:
    """``repeats`` of each run, interleaved; medians, every run's figures kept."""
    short: list[float] = []
    compare: list[float] = []
    gaps: list[float] = []
    finish: list[float] = []
    for r in range(repeats):
        wall, s = _timed_run(Path(scratch), 0.5, True)
        short.append(round(wall, 3))
        finish.append(s.get("finish_s") or 0.0)
        wall2, s2 = _timed_run(Path(scratch), 2.0, False)
        compare.append(round(wall2, 3))
        gaps += [s.get("longest_gap_ms") or 0.0, s2.get("longest_gap_ms") or 0.0]
        say(f"costs {r + 1}/{repeats}: 0.5 s run {wall:.2f} s wall (after trading "
            f"{finish[-1]:.2f} s), 2 s run {wall2:.2f} s wall; longest gaps "
            f"{gaps[-2]:g} / {gaps[-1]:g} ms")
    return {"short_wall_s": statistics.median(short), "short_runs": short,
            "short_finish_s": finish,
            "compare_wall_s": statistics.median(compare), "compare_runs": compare,
            "longest_gap_ms": max(gaps), "gaps_ms": gaps}


def cost_targets(costs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets on what a run costs around its trading."""
    if not costs:
        return []
    return [
        _target(f"0.5 s default run, wall (with figures) <= {MAX_SHORT_WALL_S:g} s",
                costs.get("short_wall_s"), MAX_SHORT_WALL_S, False),
        _target(f"2 s run as sim compare starts it, wall <= {MAX_COMPARE_WALL_S:g} s",
                costs.get("compare_wall_s"), MAX_COMPARE_WALL_S, False),
        _target(f"longest gap between consecutive trades <= {MAX_GAP_MS:g} ms",
                costs.get("longest_gap_ms"), MAX_GAP_MS, False),
    ]
