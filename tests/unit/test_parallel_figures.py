"""Work in forked processes (figures, tables): every job runs, every failure is reported."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from sim.viz.parallel import ChildError, FigureError, Forked, Painter, draw_all

pytestmark = pytest.mark.timeout(30)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_draw_all_runs_every_job_in_two_processes(tmp_path: Path) -> None:
    jobs = [lambda i=i: _write(tmp_path / f"{i}.txt", str(os.getpid())) for i in range(5)]
    draw_all(jobs, workers=2)
    pids = {(tmp_path / f"{i}.txt").read_text() for i in range(5)}
    assert len(pids) == 2 and str(os.getpid()) in pids


def test_draw_all_reports_a_failing_job(tmp_path: Path) -> None:
    def bad() -> Path:
        raise ValueError("no data for wealth.png")

    with pytest.raises(FigureError, match=r"ValueError: no data for wealth\.png"):
        draw_all([lambda: _write(tmp_path / "a", "x"), bad], workers=2)


def _prepare_marks(folder: Path) -> Any:
    def prepare() -> None:
        _write(folder / "prepared", str(os.getpid()))
    return prepare


def test_the_painter_prepares_at_once_and_draws_what_it_is_sent(tmp_path: Path) -> None:
    def draw(data: dict[str, Any]) -> None:
        _write(tmp_path / data["name"], f"{data['rows']} {os.getpid()}")

    painter = Painter(_prepare_marks(tmp_path), draw)
    try:
        painter.draw({"name": "price.txt", "rows": 41})
    finally:
        painter.close()
    rows, pid = (tmp_path / "price.txt").read_text().split()
    assert rows == "41"
    # Prepared and drawn by the same child, not by this process.
    assert (tmp_path / "prepared").read_text() == pid != str(os.getpid())


def test_the_painter_reports_a_failed_drawing(tmp_path: Path) -> None:
    def draw(data: Any) -> None:
        raise RuntimeError(f"cannot draw {data}")

    painter = Painter(_prepare_marks(tmp_path), draw)
    with pytest.raises(FigureError, match="RuntimeError: cannot draw 7"):
        painter.draw(7)
    painter.close()


def test_the_painter_reports_a_drawing_process_that_died(tmp_path: Path) -> None:
    def draw(data: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    painter = Painter(_prepare_marks(tmp_path), draw)
    with pytest.raises(FigureError, match="died \\(signal 9\\)"):
        painter.draw(None)


def test_closing_a_waiting_painter_stops_its_child(tmp_path: Path) -> None:
    painter = Painter(_prepare_marks(tmp_path), lambda data: None)
    pid = painter._pid
    assert pid > 0
    painter.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_forked_work_runs_in_a_child_that_shares_the_parents_data(tmp_path: Path) -> None:
    data = list(range(1000))  # read by the child as it was at the fork, nothing sent
    job = Forked(lambda: _write(tmp_path / "sum", f"{sum(data)} {os.getpid()}"), "sum")
    job.wait()
    job.wait()  # once done, waiting again is nothing
    total, pid = (tmp_path / "sum").read_text().split()
    assert total == "499500" and pid != str(os.getpid())


def test_forked_work_that_fails_raises_its_message(tmp_path: Path) -> None:
    def fail() -> None:
        raise OSError(28, "No space left on device")

    job = Forked(fail, "table writing")
    with pytest.raises(ChildError, match=r"OSError: \[Errno 28\] No space left"):
        job.wait()
    dies = Forked(lambda: os.kill(os.getpid(), signal.SIGKILL), "table writing")
    with pytest.raises(ChildError, match=r"the table writing process died \(signal 9\)"):
        dies.wait()


def test_closing_forked_work_stops_it(tmp_path: Path) -> None:
    job = Forked(lambda: time.sleep(60), "sleep")
    started = time.monotonic()
    job.close()
    job.close()
    assert time.monotonic() - started < 5
