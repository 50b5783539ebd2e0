"""Sweeps on a real Dask cluster (scheduler and workers on 127.0.0.1), lost workers, Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from sim.compare.sweep import SweepOutcome, run_sweep
from tests.integration.dask_cluster import (
    LoopbackCluster,
    children_of,
    dask_cluster,
    processes_under,
    wait_until,
)
from tests.integration.harness import ROOT, scenario

SWEEP_S: Final = 150.0
GONE_S: Final = 10.0
BASE: Final = scenario(duration_s=0.3, monitor={"interval_ms": 20})


def write_sweep(tmp: Path, base: dict[str, Any] | None = None, **fields: Any) -> Path:
    (tmp / "base.yaml").write_text(yaml.safe_dump(base or BASE))
    spec: dict[str, Any] = {"name": "t", "base": "base.yaml", "repeats": 2, "seed": 5,
                            "grid": {"product": {"fee_bps": [0, 50],
                                                 "sync": ["per_currency", "global"]}}}
    spec.update(fields)
    p = tmp / "sweep.yaml"
    p.write_text(yaml.safe_dump(spec, sort_keys=False))
    return p


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    """One cluster for the tests that leave its workers alive (each start costs seconds)."""
    with dask_cluster(tmp_path_factory.mktemp("cluster")) as cl:
        yield cl


def sim_run_dirs(node: Path) -> list[Path]:
    return sorted(node.glob("sim-run-*"))


def processed(address: str) -> dict[str, int]:
    """How many times the scheduler handed each sweep task to a worker."""
    from distributed import Client

    def count(dask_scheduler: Any) -> dict[str, int]:
        n: dict[str, int] = {}
        for rec in dask_scheduler.transition_log:
            key, finish = str(rec[0]), rec[2]
            if key.startswith("sim-sweep-") and finish == "processing":
                n[key] = n.get(key, 0) + 1
        return n

    with Client(address, timeout=30) as c:
        result: dict[str, int] = c.run_on_scheduler(count)
        return result


def assert_every_run_once(o: SweepOutcome, points: int, repeats: int) -> None:
    runs = o.table[["point", "repeat"]].value_counts()
    assert len(runs) == points * repeats, runs
    assert (runs == 1).all(), runs  # one strategy group per run: one row each
    assert len(o.results) == points * repeats


@pytest.mark.timeout(240)
def test_sweep_on_a_cluster_has_every_point_and_repeat_once(tmp_path: Path,
                                                            shared: LoopbackCluster) -> None:
    cl = shared
    before = processed(cl.address)
    o = run_sweep(str(write_sweep(tmp_path)), tmp_path / "out", io.StringIO(),
                  scheduler=cl.address)
    assert_every_run_once(o, points=4, repeats=2)
    assert o.passed, [r.error for r in o.results]
    new = {k: n for k, n in processed(cl.address).items() if k not in before}
    assert len(new) == 8 and set(new.values()) == {1}, new
    assert sim_run_dirs(cl.node) == []
    t = o.table
    assert {"fee_bps", "sync", "variant", "seed", "pnl", "return", "trades"} <= set(t.columns)
    assert sorted(set(zip(t["fee_bps"], t["sync"], strict=True))) == [
        (0, "global"), (0, "per_currency"), (50, "global"), (50, "per_currency")]
    # Paired: repeat r has one seed at every point.
    assert t.groupby("repeat")["seed"].nunique().eq(1).all()
    assert t["seed"].nunique() == 2
    for r in o.results:
        assert r.run_dir is not None and (r.run_dir / "trades.parquet").stat().st_size > 0
        assert not (r.run_dir / "exchange.dat").exists()  # stays on the node
    assert (o.root / "sweep.parquet").is_file() and not (o.root / "INCOMPLETE").exists()


@pytest.mark.timeout(240)
def test_killed_worker_its_runs_are_redone_and_leave_no_process(tmp_path: Path) -> None:
    spec = write_sweep(tmp_path, grid={"product": {"fee_bps": [0, 50]}})
    with dask_cluster(tmp_path) as cl:
        done: list[SweepOutcome] = []
        failed: list[BaseException] = []

        def go() -> None:
            try:
                done.append(run_sweep(str(spec), tmp_path / "out", io.StringIO(),
                                      scheduler=cl.address))
            except BaseException as e:
                failed.append(e)

        th = threading.Thread(target=go)
        th.start()
        try:
            victim = cl.workers[0]
            # Kill it while a run of its own is going: a guard process is its child.
            wait_until(lambda: bool(children_of(victim.pid)), 60, "a run on worker 0")
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
        finally:
            th.join(SWEEP_S)
        assert not th.is_alive(), "the sweep did not finish after a worker was lost"
        assert not failed, failed
        o = done[0]
        assert_every_run_once(o, points=2, repeats=2)
        assert o.passed, [r.error for r in o.results]
        counts = processed(cl.address)
        assert len(counts) == 4 and max(counts.values()) == 2, counts
        # The lost worker's run (coordinator, traders, monitor, guard) is gone, folder too.
        wait_until(lambda: not processes_under(cl.node), GONE_S,
                   f"the orphans to go: {processes_under(cl.node)}")
        wait_until(lambda: not sim_run_dirs(cl.node), GONE_S, "the run folders to go")


@pytest.mark.timeout(240)
def test_failed_invariants_are_a_result_reported_once(tmp_path: Path,
                                                      shared: LoopbackCluster) -> None:
    race = yaml.safe_load((ROOT / "scenarios" / "race.yaml").read_text())
    race.update(expect_violations=False, duration_s=0.3)
    spec = write_sweep(tmp_path, base=race, repeats=1,
                       grid={"product": {"race_window_us": [50]}})
    before = processed(shared.address)
    o = run_sweep(str(spec), tmp_path / "out", io.StringIO(), scheduler=shared.address)
    new = [n for k, n in processed(shared.address).items() if k not in before]
    assert new == [1], "a failed run must not be retried"
    assert len(o.results) == 1
    r = o.results[0]
    assert r.summary is not None and r.exit_status == 1 and not r.passed
    assert r.summary.final_ok is False and not r.error
    assert o.table["passed"].tolist() == [False]


@pytest.mark.timeout(180)
def test_ctrl_c_cancels_the_sweep_and_leaves_no_process(tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.mkdir()
    spec = write_sweep(tmp_path, base=scenario(duration_s=30.0, monitor={"interval_ms": 50}))
    env = {**os.environ, "TMPDIR": str(node)}
    client = subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(spec), "--out",
                               str(tmp_path / "out"), "--jobs", "2"], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: len(sim_run_dirs(node)) == 2 and any(
            "-m sim run" in cmd for _, cmd in processes_under(node)), 90, "two runs going")
        client.send_signal(signal.SIGINT)
        out, _ = client.communicate(timeout=60)
        assert client.returncode == 130, out
        assert b"interrupted" in out
        assert processes_under(node) == [], "a run outlived the cancelled sweep"
        assert sim_run_dirs(node) == []
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
            client.wait(10)
        for pid, _ in processes_under(node):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(180)
def test_ctrl_c_cancels_the_runs_on_the_cluster_workers(tmp_path: Path,
                                                        shared: LoopbackCluster) -> None:
    spec = write_sweep(tmp_path, base=scenario(duration_s=30.0, monitor={"interval_ms": 50}))
    cl = shared
    client = subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(spec), "--out",
                               str(tmp_path / "out"), "--scheduler", cl.address],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: len(sim_run_dirs(cl.node)) == 2 and any(
            "-m sim run" in cmd for _, cmd in processes_under(cl.node)), 90,
            "a run going on each worker")
        client.send_signal(signal.SIGINT)
        out, _ = client.communicate(timeout=60)
        assert client.returncode == 130, out
        # The workers see their tasks cancelled and kill the runs' process groups.
        wait_until(lambda: not processes_under(cl.node), GONE_S,
                   f"the runs to go: {processes_under(cl.node)}")
        wait_until(lambda: not sim_run_dirs(cl.node), GONE_S, "the run folders to go")
        assert all(w.poll() is None for w in cl.workers), "a worker died"
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
            client.wait(10)
