"""A real process SIGKILLed in the middle of a multi-fill match on a shared mapping.

The child opens the book file by path and maps it, then sweeps five levels with a market
order through words that pause (and tell the parent) before store k. The parent kills
it there with SIGKILL, sees the half-applied order in its own mapping, rolls it back
and finds every byte as before (the journal's scratch entries aside); then it runs the
same order to the end itself and gets the bytes the uninterrupted order gives.
"""

from __future__ import annotations

import mmap
import os
import select
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import multiprocess
import pytest

from sim.core.book import Book
from sim.core.book_accounts import AccountArray
from sim.core.book_journal import Words
from sim.core.book_layout import BUY, JOURNAL, SELL, BookGeometry
from sim.core.book_result import Result
from tests.unit.book_reference import KillAfter, Rig, clean, image_of

_DEADLINE: Final = 10.0
_PAUSE: Final = 60.0
GEO: Final = BookGeometry(ticks=40, capacity=40, max_fills=12)
N_ACCOUNTS: Final = 4
SIZE: Final = (GEO.size_words + AccountArray.size_words(N_ACCOUNTS)) * 8


def sweep(book: Book) -> Result:
    return book.market(3, BUY, 25)


class PauseBefore:
    """Words that, before store ``k``, tell the parent and sleep until killed."""

    def __init__(self, q: Words, k: int, wfd: int) -> None:
        self.q, self.k, self.wfd, self.stores = q, k, wfd, 0

    def __getitem__(self, i: int) -> int:
        return self.q[i]

    def __setitem__(self, i: int, v: int) -> None:
        if self.stores == self.k:
            os.write(self.wfd, b"p")
            time.sleep(_PAUSE)
        self.stores += 1
        self.q[i] = v


def _child(path: str, k: int, wfd: int) -> None:
    fd = os.open(path, os.O_RDWR)
    mm = mmap.mmap(fd, SIZE)
    q = memoryview(mm).cast("q")
    sweep(Book(PauseBefore(q, k, wfd), 0, AccountArray(q, GEO.size_words, N_ACCOUNTS)))
    os.write(wfd, b"d")


class Mapped(Rig):
    """The test rig's book and accounts, in a file mapped MAP_SHARED."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.posix_fallocate(self.fd, 0, SIZE)
        self.mm = mmap.mmap(self.fd, SIZE)
        self.geo = GEO
        self.n = N_ACCOUNTS
        self.buf = self.mm  # type: ignore[assignment]
        self.q = memoryview(self.mm).cast("q")
        self.accounts = AccountArray(self.q, GEO.size_words, N_ACCOUNTS)
        for a in range(N_ACCOUNTS):
            self.accounts.fund(a, 10**8, 10**5)
        self.book = Book.create(self.q, 0, GEO, self.accounts, price_base=100, price_step=1)
        self.cash, self.units = N_ACCOUNTS * 10**8, N_ACCOUNTS * 10**5
        for i in range(5):
            for a in range(3):
                self.book.limit(a, SELL, 20 + i, 1 + a + i)
                self.book.limit(a, BUY, 14 - i, 1 + a + i)

    def close(self) -> None:
        self.q.release()
        self.mm.close()
        os.close(self.fd)


@pytest.fixture
def mapped(tmp_path: Path) -> Iterator[Mapped]:
    m = Mapped(tmp_path / "book.dat")
    yield m
    m.close()


def _dry_run(m: Mapped) -> tuple[int, bytes]:
    """Stores of the sweep and the image after it, on a private copy of the words."""
    copy = bytearray(m.mm[:])
    q = memoryview(copy).cast("q")
    words = KillAfter(q, -1)
    sweep(Book(words, 0, AccountArray(q, GEO.size_words, N_ACCOUNTS)))
    after = image_of(bytes(copy), GEO)
    q.release()
    return words.stores, after


def _kill_child_before_store(m: Mapped, k: int) -> None:
    rfd, wfd = os.pipe()
    p = multiprocess.get_context("fork").Process(target=_child, args=(str(m.path), k, wfd))
    try:
        p.start()
        os.close(wfd)
        wfd = -1
        ready, _, _ = select.select([rfd], [], [], _DEADLINE)
        assert ready, f"the child did not reach store {k} within {_DEADLINE} s"
        assert os.read(rfd, 1) == b"p", "the child finished instead of pausing"
        os.kill(p.pid, signal.SIGKILL)
        p.join(_DEADLINE)
        assert p.exitcode == -signal.SIGKILL, f"child exit code {p.exitcode}"
    finally:
        if wfd >= 0:
            os.close(wfd)
        os.close(rfd)
        if p.is_alive():
            p.kill()
            p.join(_DEADLINE)
        p.close()


@pytest.mark.timeout(60)
def test_a_child_killed_mid_match_is_rolled_back_by_the_parent(mapped: Mapped) -> None:
    m = mapped
    stores, after = _dry_run(m)
    n = (stores - 4) // 3  # 2n journal stores, state, version, n values, state, version
    assert stores == 3 * n + 4 and n > 40
    journal_state = GEO.journal + JOURNAL.word("state")
    before, saved = m.image(), bytes(m.mm[:])
    points = {"mid journal": n, "journal live": 2 * n + 1, "mid apply": 2 * n + 2 + n // 2,
              "all applied, not committed": 3 * n + 2}
    for name, k in points.items():
        m.mm[:] = saved
        _kill_child_before_store(m, k)
        live = k > 2 * n
        assert (m.q[journal_state] == n) if live else (m.q[journal_state] == 0), name
        if k > 2 * n + 1:
            assert bytes(m.mm[:]) != saved, f"{name}: the child's stores are not visible"
        assert Book(m.q, 0, m.accounts).recover() == live, name
        assert m.image() == before, f"{name}: not rolled back to the same bytes"
        clean(m)
    sweep(Book(m.q, 0, m.accounts))
    assert m.image() == after
    clean(m)
