"""The undo journal of a book's transaction: every pre-image before the first store.

Protocol for one order, under the book's lock, with the whole write set already computed
(the engine matches against an overlay of pending writes and stores nothing while it
does):

1. write every (word, pre-image) pair into the journal entries;
2. ``state = n`` (the number of pairs): from this store on, a crash is rolled back;
3. make the seqlock ``version`` odd, store every new value;
4. ``state = 0``: the commit point;
5. ``version`` even again.

``rollback`` makes ``version`` odd, restores the n pre-images, clears ``state`` and moves
``version`` on to the next even value: a seqlock never returns to a value a reader saw
with other words (a committed order is never undone, and a torn one is undone under an
odd version). A crash before step 2 left nothing but journal scratch; a crash after it
and before step 4 leaves pre-images that cover every word the transaction may have
stored, so the words are as before the order, whatever was stored; a crash between
steps 4 and 5 leaves only an odd ``version``, which ``rollback`` makes even. Rollback
only writes pre-images and moves the version forward, so a rollback killed in turn is
simply run again by the next holder. The journal header reads 0 before and after a
transaction whether it committed or was rolled back; only the entry words are scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from sim.core.book_layout import JOURNAL, JOURNAL_ENTRY

__all__ = ["JournalFull", "Words", "commit", "rollback"]

_STATE: Final = JOURNAL.word("state")
_ENTRIES: Final = JOURNAL.word("entries")
_FIRST: Final = JOURNAL.size // 8
_W: Final = JOURNAL_ENTRY.word("word")
_OLD: Final = JOURNAL_ENTRY.word("old")
_STRIDE: Final = len(JOURNAL_ENTRY.fields)


class Words(Protocol):
    """Indexable int64 words: a ``memoryview.cast('q')``, a numpy int64 array, or a wrapper."""

    def __getitem__(self, i: int, /) -> int: ...

    def __setitem__(self, i: int, v: int, /) -> None: ...


class JournalFull(AssertionError):
    """A transaction wrote more words than the journal bound: a bug in the bound, not input."""


def commit(q: Words, base: int, journal: int, writes: dict[int, int], version: int,
           pause: Callable[[], None] | None = None) -> None:
    """Apply ``writes`` (absolute word -> new value) as one transaction of the book at
    ``base`` whose journal header is at ``base + journal``; ``version`` is the absolute
    index of the seqlock word, moved by 2 (odd while the stores run). ``pause``, for fault
    injection, is called halfway through the stores: a kill there leaves a torn order."""
    jb = base + journal
    v = q[version]
    writes.pop(version, None)
    n = len(writes)
    if n > q[jb + _ENTRIES]:
        raise JournalFull(f"transaction writes {n} words; the journal holds {q[jb + _ENTRIES]}")
    e = jb + _FIRST
    w_at, old_at, stride = _W, _OLD, _STRIDE
    for i in writes:
        q[e + w_at] = i - base
        q[e + old_at] = q[i]
        e += stride
    q[jb + _STATE] = n
    q[version] = v + 1
    if pause is None:
        for i, x in writes.items():
            q[i] = x
    else:
        half = n // 2
        for k, (i, x) in enumerate(writes.items()):
            if k == half:
                pause()
            q[i] = x
    q[jb + _STATE] = 0
    q[version] = v + 2


def rollback(q: Words, base: int, journal: int, version: int) -> bool:
    """Undo the transaction in flight in the journal at ``base + journal``, if any, and
    leave the seqlock ``version`` (absolute index) even and past every value it had.

    Returns True when one was rolled back. The caller holds the book's lock.
    """
    jb = base + journal
    n = q[jb + _STATE]
    v = q[version]
    if n == 0:
        # Committed, killed before its last store: nothing to undo, only the seqlock.
        if v & 1:
            q[version] = v + 1
        return False
    if not 0 < n <= q[jb + _ENTRIES]:
        raise AssertionError(f"journal state {n} is out of range 0..{q[jb + _ENTRIES]}")
    # Odd while the pre-images go back, then forward: a reader that copied the torn
    # words under some even value never sees that value again.
    odd = v | 1
    q[version] = odd
    e = jb + _FIRST + (n - 1) * _STRIDE
    for _ in range(n):
        i = base + q[e + _W]
        if i != version:
            q[i] = q[e + _OLD]
        e -= _STRIDE
    q[jb + _STATE] = 0
    q[version] = odd + 1
    return True
