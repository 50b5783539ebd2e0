"""Plain-text tables for terminal reports: aligned columns under a ruled header."""

from __future__ import annotations

from typing import IO

__all__ = ["write_table"]


def write_table(rows: list[list[str]], out: IO[str], right: set[int] | None = None) -> None:
    right = right or set()
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, r in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.write("  " + "  ".join(cells).rstrip() + "\n")
        if n == 0:
            out.write("  " + "  ".join("-" * w for w in widths) + "\n")
