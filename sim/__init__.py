"""mmap market: many trader processes, one memory-mapped exchange file, a monitor.

``sim.run``, ``sim.sweep`` (from :mod:`sim.api`) and ``sim.results`` are imported on
first use: every trader process imports this package and must not pay for pandas or Dask.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["__version__", "results", "run", "sweep"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # importlib, not an import statement: the layers below import ``sim`` for its
    # version, and must not be seen to depend on the API above them.
    if name in ("run", "sweep"):
        return getattr(importlib.import_module("sim.api"), name)
    if name == "results":
        return importlib.import_module("sim.results")
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
