"""The client's progress display: plain lines off a terminal, a rich bar on one."""

from __future__ import annotations

import io

from sim.compare.progress import RunProgress, clock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_count_done_failed_running() -> None:
    out = io.StringIO()
    p = RunProgress("sweep", 3, out)
    p.set_running(2)
    p.finished("p0 r0", "passed", 1.25, ok=True)
    p.finished("p1 r0", "FAILED", 2.0, ok=False)
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("sweep: 1/3 runs  p0 r0 passed in 1.2 s  failed 0  running 2")
    assert "sweep: 2/3 runs  p1 r0 FAILED in 2.0 s  failed 1" in lines[1]
    assert "ETA 0:0" in lines[1]


def test_bar_on_a_terminal_shows_counts() -> None:
    out = Terminal()
    p = RunProgress("sweep", 4, out)
    p.set_running(2)
    p.finished("p0 r0", "passed", 1.0, ok=True)
    p.finished("p0 r1", "ERROR", 1.0, ok=False)
    p.close()
    text = out.getvalue()
    assert "2/4" in text and "failed 1" in text and "running 2" in text
    assert "sweep: " not in text  # no plain lines on a terminal


def test_clock() -> None:
    assert clock(0) == "0:00" and clock(61.4) == "1:01" and clock(3725) == "1:02:05"
