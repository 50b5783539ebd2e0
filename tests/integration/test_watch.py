"""``sim watch``: a read-only live view of a running exchange file, and of a finished one."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.errors import BadInput
from sim.tools.watch import sparkline, watch_command
from tests.integration.harness import (
    ROOT,
    reap,
    run,
    running_exchange,
    start_sim,
    wait_for,
    write_scenario,
)

__all__: list[str] = []


def _watch(path: Path, out: Path) -> subprocess.Popen[str]:
    # Output to a file, not a pipe: the test reads it while the watcher runs, and a full
    # pipe would block the watcher.
    with open(out, "w") as f:
        return subprocess.Popen([sys.executable, "-m", "sim", "watch", str(path)],
                                stdout=f, stderr=subprocess.PIPE, text=True, cwd=ROOT)


@pytest.mark.timeout(50)
def test_watch_follows_a_live_run_and_leaves_cleanly(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, name="w", duration_s=3.0, monitor={"interval_ms": 20})
    sim_run = start_sim("run", str(scenario), "--out", str(tmp_path / "results"))
    procs = [sim_run]
    try:
        exchange = running_exchange(tmp_path / "results")
        interrupted_out, follower_out = tmp_path / "watch-int.txt", tmp_path / "watch-end.txt"
        interrupted = _watch(exchange, interrupted_out)
        follower = _watch(exchange, follower_out)
        procs += [interrupted, follower]
        def first_frame() -> bool:
            if interrupted.poll() is not None:
                raise AssertionError(f"watch exited early ({interrupted.returncode}): "
                                     f"{interrupted.communicate()[1]}")
            return "invariants:" in interrupted_out.read_text()

        # Ctrl-C only once a frame is out: before that the interpreter is still importing.
        wait_for(first_frame, "a first frame")
        time.sleep(1.0)
        interrupted.send_signal(signal.SIGINT)
        _, err = interrupted.communicate(timeout=20)
        assert interrupted.returncode == 0, err
        assert err == ""
        text = interrupted_out.read_text()
        assert "EUR" in text and "USD" in text and "rate" in text
        assert "invariants: ok" in text
        assert "VIOLATED" not in text
        assert text.count("sim watch  ") >= 2, "expected several refreshes"

        _, err = follower.communicate(timeout=30)
        assert follower.returncode == 0, err
        text = follower_out.read_text()
        assert text.rstrip().endswith("run ended")
        assert "run clean shutdown" in text and "run running" in text
        assert sim_run.wait(30) == 0
    finally:
        for p in procs:
            reap(p)


@pytest.mark.timeout(40)
def test_watch_once_on_a_finished_run(tmp_path: Path) -> None:
    outcome = run(tmp_path, duration_s=0.5, traders=[{"count": 2, "strategy": "random"},
                                                     {"count": 1, "strategy": "momentum"}])
    path = str(outcome.run_dir / "exchange.dat")
    before = Path(path).read_bytes()
    out = io.StringIO()
    assert watch_command(path, out, once=True) == 0
    text = out.getvalue()
    assert text.startswith(f"sim watch  {path}\n")
    assert "run clean shutdown" in text and "snapshot consistent" in text
    assert "EUR" in text and "USD" in text
    assert f"trades {outcome.summary.trades:,}" in text
    # Slots are labelled with the strategies of the run's scenario.yaml.
    assert "momentum" in text and "random" in text
    assert text.rstrip().endswith("invariants: ok")
    assert "run ended" not in text and text.count("sim watch  ") == 1
    assert "\x1b[" not in text, "no terminal control codes when out is not a terminal"

    # Without once, a finished run is shown once and announced as ended.
    out = io.StringIO()
    assert watch_command(path, out, interval_s=0.05) == 0
    assert out.getvalue().rstrip().endswith("run ended")
    assert Path(path).read_bytes() == before, "watching must not write to the file"


def test_watch_refuses_what_is_not_an_exchange_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"not an exchange file" * 100)
    with pytest.raises(BadInput) as info:
        watch_command(str(junk), io.StringIO(), once=True)
    assert str(info.value).startswith(f"{junk}: ") and "\n" not in str(info.value)
    with pytest.raises(BadInput, match="--interval"):
        watch_command(str(junk), io.StringIO(), interval_s=0.0)


def test_sparkline() -> None:
    assert sparkline([1.0, 2.0, 3.0]) == "▁▅█"
    assert sparkline([2.0, 2.0]) == "▄▄"
    assert sparkline([]) == ""
