"""The byte-layout tables of docs/FORMAT.md, rendered from :mod:`sim.layout`."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from sim.core import book_layout as B
from sim.core import layout as L

__all__ = ["BEGIN", "END", "render", "update"]

BEGIN: Final = "<!-- BEGIN GENERATED LAYOUT (sim/codegen/formatdoc.py) -->"
END: Final = "<!-- END GENERATED LAYOUT -->"
_TYPES: Final = {"i8": "int64", "f8": "float64", "name": "char[8]", "lock": "mutex (64 B)"}


def _record(rec: L.Record) -> str:
    # Journal entries are packed pairs of words, not padded records.
    size = (f"{B.JOURNAL_ENTRY.word('old') * 8 + 8} bytes, packed"
            if rec is B.JOURNAL_ENTRY else f"{rec.size} bytes")
    lines = [f"### {rec.name} ({size})", "",
             "| offset | field | type | meaning |", "| ---: | --- | --- | --- |"]
    for f in rec.fields:
        typ = _TYPES[f.kind] + (f"[{f.count}]" if f.count > 1 else "")
        lines.append(f"| {rec.offsets[f.name]} | `{f.name}` | {typ} | {f.doc} |")
    return "\n".join(lines)


def render() -> str:
    """The generated part of FORMAT.md, markers included."""
    enums = [
        f"- magic: `{L.MAGIC!r}`, version: {L.VERSION}, at most {L.MAX_CURRENCIES} currencies",
        "- run_state: " + ", ".join(f"{k} {v}" for k, v in L.RUN_STATES.items()),
        "- writer and account status: " + ", ".join(f"{k} {v}"
                                                    for k, v in L.SLOT_STATES.items()),
        "- writer kind: " + ", ".join(f"{k} {v}" for k, v in L.KINDS.items()),
        "- sync: " + ", ".join(f"{v} {k}" for k, v in L.SYNC_CODES.items()),
        f"- journal: {L.JOURNAL_IDLE} idle, {L.JOURNAL_ACTIVE} active; side: {L.SIDE_BUY} buy, "
        f"{L.SIDE_SELL} sell; no writer: {L.NO_WRITER}; no group: {L.NO_GROUP}",
        "- currency market: " + ", ".join(f"{k} {v}" for k, v in L.MARKETS.items()),
        "- ledger row kind: " + ", ".join(f"{k} {v}" for k, v in L.ROW_KINDS.items()),
        f"- book: side {B.BUY} buy, {B.SELL} sell; time in force {B.GTC} good-till-cancel, "
        f"{B.IOC} immediate-or-cancel, {B.POST_ONLY} post-only; order state "
        f"{B.ORDER_FREE} free, {B.ORDER_LIVE} live; none: {B.NIL}",
    ]
    parts = [BEGIN, "", *enums, ""]
    for rec in (L.HEADER, L.CURRENCY, L.WRITER, L.ACCOUNT, L.STAKE, L.ROW, B.BOOK, B.JOURNAL,
                B.JOURNAL_ENTRY, B.LEVEL, B.ORDER):
        parts += [_record(rec), ""]
    parts.append(END)
    return "\n".join(parts)


def update(path: Path) -> bool:
    """Rewrite the generated block of ``path``; True when it changed."""
    text = path.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + render() + text[end:]
    if new != text:
        path.write_text(new)
        return True
    return False
