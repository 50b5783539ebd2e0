"""Figure style shared by every figure: colours, notes on empty panels, saving, bands.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through pyplot: no
global figure registry, no GUI backend, nothing left open after a call.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["DPI", "colours", "note", "percentile_band", "save"]

DPI: Final = 110


def colours(n: int, qualitative: str = "tab10") -> list[Any]:
    """``n`` distinguishable colours: the qualitative map while it has enough, then tab20,
    then (past 20, where no qualitative map has enough hues) a sampled perceptual map."""
    if n <= colormaps[qualitative].N:
        cmap = colormaps[qualitative]
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = colormaps["tab20"]
        return [cmap(i) for i in range(n)]
    cmap = colormaps["turbo"]
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]


def note(ax: Axes, text: str) -> None:
    """A grey note in the middle of a panel that has nothing to draw, saying why."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            fontsize=10, color="0.35", wrap=True)


def percentile_band(m: np.ndarray[Any, Any], axis: int) -> tuple[np.ndarray[Any, Any], ...]:
    """10th, 50th and 90th percentiles of ``m`` along ``axis``, ignoring NaN."""
    with warnings.catch_warnings():
        # An all-NaN slice is a moment nothing was known (every member held a free slot).
        warnings.simplefilter("ignore", RuntimeWarning)
        q = np.nanpercentile(m, [10.0, 50.0, 90.0], axis=axis)
    return q[0], q[1], q[2]


def save(fig: Figure, out: Path) -> Path:
    """Write ``fig`` to ``out`` (folders made as needed) and free what it holds."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        with warnings.catch_warnings():
            # tight_layout only warns when it cannot shrink further; the figure is fine.
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
    # A laid-out figure already fits its canvas: a "tight" bounding box would draw it a
    # second time only to measure it (a third of the time of saving it).
    fig.savefig(out, dpi=DPI)
    fig.clear()
    return out
