"""Terminal output through rich: a console for any stream and tables with one look.

On a terminal the console colours verdicts and sizes itself to the window; on a pipe or a
file it writes plain text (no escape codes) at the tables' natural width, so output that
scripts and tests read stays one table row per line, never wrapped at 80 columns.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from typing import IO, Final, cast

from rich import box
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Table

__all__ = ["INDENT", "console", "indented", "is_tty", "plain_lines", "table"]

INDENT: Final = 2
# Wide enough that no table of ours is wrapped when the width is not a terminal's.
PLAIN_WIDTH: Final = 400
_TRAILING: Final = re.compile(r" +\n")
# A text column narrows no further than this (or its header) in a narrow terminal.
TEXT_MIN: Final = 8


def is_tty(out: IO[str]) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


class _NoTrailingSpaces(io.TextIOBase):
    """Passes text on without the spaces rich pads table rows with (noise in a pipe)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, s: str) -> int:
        self.out.write(_TRAILING.sub("\n", s))
        return len(s)

    def flush(self) -> None:
        self.out.flush()


def console(out: IO[str]) -> Console:
    """A console writing to ``out``: styled on a terminal, plain text anywhere else."""
    if is_tty(out):
        return Console(file=out, highlight=False, markup=False, emoji=False, soft_wrap=True)
    return Console(file=cast(IO[str], _NoTrailingSpaces(out)), width=PLAIN_WIDTH,
                   color_system=None, force_terminal=False, highlight=False, markup=False,
                   emoji=False, soft_wrap=True)


def table(header: Sequence[str], rows: Iterable[Sequence[str]],
          right: Iterable[int] = ()) -> Table:
    """Columns under a ruled header; the columns in ``right`` are right-aligned."""
    right = set(right)
    body = [list(r) for r in rows]
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for i, name in enumerate(header):
        # A number cut to "67,…" says nothing: in a narrow terminal the text columns give
        # way first, and what still does not fit is cropped at the edge, never elided.
        widest = max((len(r[i]) for r in body), default=0) if i in right else 0
        t.add_column(name, justify="right" if i in right else "left", no_wrap=True,
                     min_width=max(widest, min(len(name), TEXT_MIN)))
    for r in body:
        t.add_row(*r)
    return t


def indented(r: RenderableType) -> Padding:
    return Padding(r, (0, 0, 0, INDENT), expand=False)


def plain_lines(r: RenderableType) -> list[str]:
    """``r`` rendered as plain text lines, without trailing spaces."""
    buf = io.StringIO()
    console(buf).print(r)
    return buf.getvalue().splitlines()
