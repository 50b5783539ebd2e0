"""``python -m sim.compare.guard PID FOLDER -- CMD...``: run CMD; take it down with PID.

A Dask worker starts each run through this guard, in a session of its own. The worker
kills the session's process group when a run times out or is cancelled; but a worker
that is itself SIGKILLed (or loses its machine's OOM lottery) kills nothing, and its
runs would trade on as orphans. The guard notices that its parent is gone (it has been
re-parented), removes the run's node-local FOLDER and SIGKILLs its whole process group:
the run's coordinator, traders, monitor, and itself. The worker passes its own PID: a
worker killed between starting the guard and the guard's first look is caught too.

It imports nothing of ``sim`` beyond this module, so it starts in a few milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Final

__all__ = ["main"]

POLL_S: Final = 0.1


def _check_parent(parent: int, folder: str) -> None:
    """If ``parent`` is no longer this process's parent: remove the folder, kill the group."""
    if os.getppid() != parent:
        shutil.rmtree(folder, ignore_errors=True)
        os.killpg(os.getpgid(0), signal.SIGKILL)


def main(argv: Sequence[str]) -> int:
    if len(argv) < 4 or argv[2] != "--" or not argv[0].isdigit():
        print("usage: python -m sim.compare.guard PID FOLDER -- CMD [ARG...]",
              file=sys.stderr)
        return 2
    parent, folder, cmd = int(argv[0]), argv[1], list(argv[3:])
    _check_parent(parent, folder)
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = child.wait(POLL_S)
            return code if code >= 0 else 128 - code
        _check_parent(parent, folder)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
