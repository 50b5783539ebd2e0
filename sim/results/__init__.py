"""Results as pandas DataFrames: ``load(path)`` reads a run folder or a sweep/compare folder.

A run folder gives a :class:`RunData` (``summary``, ``trades``, ``samples``, ``traders``: one
row per agent, ``groups``: one row per scenario group);
a sweep folder its ``sweep.parquet`` and a comparison folder its ``compare.csv``, as one
DataFrame. A ``sweep-<name>`` or ``compare-<name>`` folder that holds one finished sweep
is read as that sweep.
"""

from __future__ import annotations

from sim.results.load import RunData, load, load_run, load_table

__all__ = ["RunData", "load", "load_run", "load_table"]
