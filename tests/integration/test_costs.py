"""What a run costs around its trading: nothing heavy is imported before the first trade."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from bench.population import _run as run_population_point
from bench.population import population_scenario
from tests.integration.harness import ROOT, write_scenario

# Imported only by the end of a run (figures, tables): never by the process that forks
# the traders and the monitor.
LATE: Final = ("matplotlib", "pyarrow", "pandas")

_PROBE: Final = """
import json, sys
from pathlib import Path
from sim.cli import _cmd_run
import sim.harness.coordinator as co

seen = []
start = co.Run.start
def probe(self, ex):
    seen.append(sorted(m for m in sys.modules if m.split(".")[0] in {late}))
    return start(self, ex)
co.Run.start = probe

class Args:
    resume = None
    scenario = sys.argv[1]
    seed = None
    duration = 0.3
    out = sys.argv[2]
    no_figures = True
    csv = False
    run_dir = None

status = _cmd_run(Args())
print(json.dumps({{"status": status, "at_fork": seen}}))
"""


@pytest.mark.timeout(60)
def test_traders_and_monitor_are_forked_before_plots_and_tables_are_imported(
        tmp_path: Path) -> None:
    scn = write_scenario(tmp_path)
    code = _PROBE.format(late=set(LATE))
    p = subprocess.run([sys.executable, "-c", code, str(scn), str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=50, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["status"] == 0
    assert got["at_fork"] == [[]]


@pytest.mark.timeout(60)
def test_the_population_bench_reads_what_a_run_writes(tmp_path: Path) -> None:
    """The bench runs ``sim run`` and reads its folder: the file names must agree."""
    rec = run_population_point(population_scenario(10, 0.3), str(tmp_path))
    assert rec["final_ok"] is True
    assert rec["agents"] == 10
    assert rec["first_trade_s"] is not None and 0 < rec["first_trade_s"] < 30
