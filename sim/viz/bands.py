"""wealth.png for populations: each group's profit and loss across its agents over time.

A population of thousands of agents is not a bundle of lines: each audit of the run
(``samples.npz`` keys ``audit_t``, ``audit_bands``, ``groups``, ``bands``) records, for
every scenario group, percentiles of its agents' profit and loss (wealth at current rates
minus initial wealth at initial rates); this draws, per group, the median as a line and
the outer percentiles as a band.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.viz.style import colours, note, save

__all__ = ["has_bands", "plot_group_bands"]

# Below this many audits a band is a few dots: mark them.
_MARKER_BELOW: Final = 20


def has_bands(samples: Mapping[str, np.ndarray[Any, Any]]) -> bool:
    """Whether the samples carry per-group audit percentiles to draw."""
    bands = samples.get("audit_bands")
    return bands is not None and bands.ndim == 3 and bands.shape[1] > 0


def plot_group_bands(samples: Mapping[str, np.ndarray[Any, Any]], out: Path,
                     title: str) -> Path:
    """Median and outer percentiles of each group's agents' wealth at every audit."""
    t = np.asarray(samples["audit_t"], dtype=np.float64)
    bands = np.asarray(samples["audit_bands"], dtype=np.float64)
    groups = [str(g) for g in samples.get("groups", np.zeros(0, dtype=str))]
    pct = [int(p) for p in samples.get("bands", np.array([10, 50, 90]))]
    n_groups = bands.shape[1]
    groups += [f"group {g}" for g in range(len(groups), n_groups)]
    fig = Figure(figsize=(11, 6))
    ax = fig.subplots()
    ax.set_title(f"{title}\nprofit and loss per agent by group: median and "
                 f"{pct[0]}–{pct[-1]} % across each group's agents (at each audit)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("profit and loss per agent (home money)")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.grid(True, alpha=0.3)
    if len(t) == 0:
        note(ax, "no audits (run too short)")
        return save(fig, out)
    marker = "o" if len(t) < _MARKER_BELOW else None
    mid = len(pct) // 2
    handles: list[Any] = []
    labels: list[str] = []
    for g, colour in zip(range(n_groups), colours(n_groups, "Dark2"), strict=True):
        b = bands[:, g, :]
        if not np.isfinite(b).any():
            continue
        ax.fill_between(t, b[:, 0], b[:, -1], color=colour, alpha=0.18, lw=0)
        ax.plot(t, b[:, mid], color=colour, lw=2.2, marker=marker, ms=4)
        handles.append((Patch(color=colour, alpha=0.18), Line2D([], [], color=colour, lw=2.2)))
        labels.append(f"{groups[g]} (group {g})")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0, fontsize=8, frameon=False, title="group")
    return save(fig, out)
