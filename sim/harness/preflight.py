"""What a run needs from the machine, checked before anything of the run is created.

A scenario can be valid and still not runnable here: a ``command:`` group names a program
that is not built yet, or not executable. Finding that after the run folder and the
exchange file exist would leave a half-made run behind, so every such check happens first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

from sim.config.scenario import Scenario
from sim.errors import BadInput, BadScenario

__all__ = ["check_results_root", "check_runnable"]

# The C trader shipped in examples/c is built by `make c`; name that step when it is missing.
C_TRADER_DIR: Final = "examples/c/"


def _program_problem(program: str) -> str | None:
    if os.sep not in program:
        return None if shutil.which(program) else f"{program!r} is not on PATH"
    p = Path(program)
    hint = " (build it first: make c)" if C_TRADER_DIR in p.as_posix() else ""
    if not p.exists():
        return f"{program!r} does not exist{hint}"
    if not p.is_file() or not os.access(p, os.X_OK):
        return f"{program!r} is not an executable file{hint}"
    return None


def check_runnable(scn: Scenario, source: str | None = None) -> None:
    """Raise :class:`BadScenario` naming the first group whose program cannot start."""
    where = f"{source}: " if source else ""
    for i, g in enumerate(scn.traders):
        if g.command is None:
            continue
        problem = _program_problem(g.command[0])
        if problem is not None:
            raise BadScenario(f"{where}traders[{i}].command: {problem}")


def check_results_root(root: Path) -> None:
    """Raise :class:`BadInput` unless run folders can be made under ``root``.

    The nearest existing folder on the way must be a writable folder: a file in the way
    or a read-only parent would otherwise fail half way, after the checks passed.
    """
    p = root
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise BadInput(f"--out {root}: {p} is not a folder (expected a folder for run "
                       "folders)")
    if not os.access(p, os.W_OK | os.X_OK):
        raise BadInput(f"--out {root}: cannot create folders in {p} (permission denied)")
