"""Each writer's ledger: rows committed in its ring inside the mapping, drained to a file.

A writer's committed rows ``[log_head, log_count)`` sit in its ring; the owner (or, after
its death, whoever settles the file) copies them to ``ledger/writer-NNNN.bin`` beside the
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

__all__ = ["LEDGER_DIR", "drain_writer", "ledger_dir", "ledger_file", "load_ledger",
           "open_ledger", "pool_rows_by_market"]

LEDGER_DIR: Final = "ledger"


def ledger_dir(path: str) -> str:
    """Folder of the per-writer ledger files that belong to the exchange file ``path``."""
    return os.path.join(os.path.dirname(os.path.abspath(path)), LEDGER_DIR)


def ledger_file(path: str, w: int) -> str:
    """The ledger file of writer ``w`` of the exchange file ``path``."""
    return os.path.join(ledger_dir(path), f"writer-{w:04d}.bin")


def open_ledger(ex: Exchange, w: int) -> int:
    os.makedirs(ledger_dir(ex.path), exist_ok=True)
    return os.open(ledger_file(ex.path, w), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)


def drain_writer(ex: Exchange, w: int, fd: int | None = None) -> int:
    """Copy writer ``w``'s committed ring rows to its ledger file; returns rows written.

    Rows go to their absolute position (row k at byte k * ROW.size), so draining the same
    rows twice (a drainer killed before it moved ``log_head``) rewrites identical bytes.
    """
    q = ex.q
    head, count = q[ex.wword(w, "log_head")], q[ex.wword(w, "log_count")]
    if count <= head:
        return 0
    if count - head > ex.geo.ring_rows:
        raise AssertionError(f"writer {w}: {count - head} undrained rows exceed the ring")
    own = fd is None
    if fd is None:
        fd = open_ledger(ex, w)
    try:
        data = ex.ring_rows(w, head, count)
        os.pwrite(fd, data, head * L.ROW.size)
    finally:
        if own:
            os.close(fd)
    q[ex.wword(w, "log_head")] = count
    return count - head


def load_ledger(ex: Exchange, wri: np.ndarray[Any, Any]
                ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Every committed ledger row of every claimed writer, and the writer of each row:
    the drained rows from its ledger file, the rest (a process died before draining) from
    its ring in the mapping. Read straight into one array: a long run's ledger is
    hundreds of megabytes, never copied twice."""
    parts: list[tuple[int, str, int, int]] = []
    for w in (int(x) for x in np.flatnonzero(wri["status"] != L.SLOT_FREE)):
        n, head = int(wri["log_count"][w]), int(wri["log_head"][w])
        if n == 0:
            continue
        f = ledger_file(ex.path, w)
        have = os.path.getsize(f) // L.ROW.size if os.path.exists(f) else 0
        if have < head:
            raise BadInput(f"{f}: ledger holds {have} rows, writer says {head} were drained")
        parts.append((w, f, head, n))
    rows = np.empty(sum(n for *_, n in parts), dtype=L.ROW.dtype)
    owners = np.empty(len(rows), dtype=np.int64)
    at = 0
    for w, f, head, n in parts:
        if head:
            with open(f, "rb") as fh:
                got = fh.readinto(rows[at: at + head].view(np.uint8).data)
            if got != head * L.ROW.size:
                raise BadInput(f"{f}: ledger ended at byte {got}, writer says "
                               f"{head * L.ROW.size} were drained")
        if n > head:
            rows[at + head: at + n] = np.frombuffer(ex.ring_rows(w, head, n),
                                                    dtype=L.ROW.dtype)
        owners[at: at + n] = w
        at += n
    pool_rows_by_market(rows, ex.geo.book_mask)
    return rows, owners


def pool_rows_by_market(rows: np.ndarray[Any, Any], book_mask: int) -> None:
    """Give every row of a pool currency the book fields of a pool trade, in place.

    In a pool-only file the pool writers (Python and C) store only the fields a pool
    trade has, and ``kind``, ``order_id``, ``maker`` and ``tick`` stay as the ring was
    created (zero); with books they store them too, since a slot may hold an older book
    row, but a writer of an older build may not. Which currency is a pool is fixed when
    the file is created, so the market of the row's currency says what the row is.
    """
    if not len(rows):
        return
    if book_mask == 0:  # every row is a pool trade
        rows["kind"], rows["order_id"], rows["maker"], rows["tick"] = L.ROW_TRADE, 0, -1, -1
        return
    cur = rows["currency"].astype(np.int64)
    on_book = (book_mask >> np.clip(cur, 0, L.MAX_CURRENCIES - 1)) & 1
    pool = (on_book == 0) | (cur < 0) | (cur >= L.MAX_CURRENCIES)
    rows["kind"][pool] = L.ROW_TRADE
    rows["order_id"][pool] = 0
    rows["maker"][pool] = -1
    rows["tick"][pool] = -1
