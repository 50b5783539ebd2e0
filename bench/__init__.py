"""Benchmark of the market harness: throughput per sync policy, baselines, monitor, memory.

``python -m bench`` (``make bench``) runs the matrix and writes ``bench/results/<timestamp>``
``.json``, ``.md`` and ``.png``; ``--quick`` is the short version, ``--long`` adds the 60 s
memory run.
"""

from __future__ import annotations
