"""Each writer's ledger: rows committed in its ring inside the mapping, drained to a file.

A slot's committed rows ``[log_head, log_count)`` sit in its ring; the owner (or, after its
death, whoever settles the file) copies them to ``ledger/slot-NNNN.bin`` beside the
exchange file. Row ``k`` goes to byte ``k * ROW.size``, so draining the same rows twice (a
drainer killed before it moved ``log_head``) rewrites identical bytes: idempotent.
"""

from __future__ import annotations

import os
from typing import Any, Final

import numpy as np

from sim.core import layout as L
from sim.core.exchange import Exchange
from sim.errors import BadInput

__all__ = ["LEDGER_DIR", "drain_slot", "ledger_dir", "ledger_file", "load_ledger",
           "open_ledger"]

LEDGER_DIR: Final = "ledger"


def ledger_dir(path: str) -> str:
    """Folder of the per-slot ledger files that belong to the exchange file ``path``."""
    return os.path.join(os.path.dirname(os.path.abspath(path)), LEDGER_DIR)


def ledger_file(path: str, slot: int) -> str:
    """The ledger file of ``slot`` of the exchange file ``path``."""
    return os.path.join(ledger_dir(path), f"slot-{slot:04d}.bin")


def open_ledger(ex: Exchange, slot: int) -> int:
    os.makedirs(ledger_dir(ex.path), exist_ok=True)
    return os.open(ledger_file(ex.path, slot), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)


def drain_slot(ex: Exchange, slot: int, fd: int | None = None) -> int:
    """Copy ``slot``'s committed ring rows to its ledger file; returns rows written.

    Rows go to their absolute position (row k at byte k * ROW.size), so draining the same
    rows twice (a drainer killed before it moved ``log_head``) rewrites identical bytes.
    """
    q = ex.q
    head, count = q[ex.aword(slot, "log_head")], q[ex.aword(slot, "log_count")]
    if count <= head:
        return 0
    if count - head > ex.geo.ring_rows:
        raise AssertionError(f"slot {slot}: {count - head} undrained rows exceed the ring")
    own = fd is None
    if fd is None:
        fd = open_ledger(ex, slot)
    try:
        data = ex.ring_rows(slot, head, count)
        os.pwrite(fd, data, head * L.ROW.size)
    finally:
        if own:
            os.close(fd)
    q[ex.aword(slot, "log_head")] = count
    return count - head


def load_ledger(ex: Exchange, acc: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Every committed ledger row of every claimed slot: the drained rows from its ledger
    file, the rest (a process died before draining) from its ring in the mapping."""
    parts = []
    for s in np.flatnonzero(acc["status"] != L.SLOT_FREE):
        n, head = int(acc["log_count"][s]), int(acc["log_head"][s])
        if n == 0:
            continue
        f = ledger_file(ex.path, int(s))
        rows = np.fromfile(f, dtype=L.ROW.dtype, count=head) if os.path.exists(f) else None
        have = 0 if rows is None else len(rows)
        if have < head:
            raise BadInput(f"{f}: ledger holds {have} rows, account says {head} were drained")
        if rows is not None and have:
            parts.append(rows[:head])
        if n > head:
            parts.append(np.frombuffer(ex.ring_rows(int(s), head, n), dtype=L.ROW.dtype))
    if not parts:
        return np.zeros(0, dtype=L.ROW.dtype)
    return np.concatenate(parts)
