"""mmap market: many trader processes, one memory-mapped exchange file, a monitor."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
