"""``python -m sim.compare.guard FOLDER -- CMD...``: run CMD, and take it down with the worker.

A Dask worker starts each run through this guard, in a session of its own. The worker
kills the session's process group when a run times out or is cancelled; but a worker
that is itself SIGKILLed (or loses its machine's OOM lottery) kills nothing, and its
runs would trade on as orphans. The guard notices that its parent is gone (it has been
re-parented), removes the run's node-local FOLDER and SIGKILLs its whole process group:
the run's coordinator, traders, monitor, and itself.

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


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m sim.compare.guard FOLDER -- CMD [ARG...]", file=sys.stderr)
        return 2
    folder, cmd = argv[0], list(argv[2:])
    parent = os.getppid()
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = child.wait(POLL_S)
            return code if code >= 0 else 128 - code
        if os.getppid() != parent:
            shutil.rmtree(folder, ignore_errors=True)
            os.killpg(os.getpgid(0), signal.SIGKILL)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
