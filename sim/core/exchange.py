"""Create, validate, map and close exchange files; typed views and funding.

A file is validated from its header bytes (read with ``pread``, not through a mapping)
before anything is mapped: a mapping larger than its file kills the reader with SIGBUS
instead of raising. Files are created with ``O_EXCL | O_NOFOLLOW`` and allocated with
``posix_fallocate``, so a full disk is an ``OSError`` at creation, not a SIGBUS later.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import stat
import time
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from sim.core import layout as L
from sim.core.book import Book
from sim.core.book_layout import BookGeometry
from sim.core.gathered import SampleRow, SampleWords
from sim.core.locking import Locks, RobustMutexes, init_mutex, make_locks
from sim.core.stakes import StakeAccounts
from sim.errors import BadExchangeFile, BadInput

__all__ = ["MAX_ACCOUNTS", "MAX_WRITERS", "BookSpec", "CurrencySpec", "Exchange", "Funding",
           "pid_alive"]

MAX_WRITERS: Final = 4096
# An audit sums accounts exactly in float64 halves of 32 bits: at most 2**21 of them.
MAX_ACCOUNTS: Final = 1 << 21
MAX_RING_ROWS: Final = 1 << 20
DEFAULT_LOCK_TIMEOUT_MS: Final = 10_000


@dataclass(frozen=True)
class BookSpec:
    """A currency's limit order book: its price ladder and lot, in minor units."""

    price_base: int
    price_step: int
    lot: int
    rate: float


@dataclass(frozen=True)
class CurrencySpec:
    """A currency: a pool with these reserves, or, with ``book``, a limit order book."""

    name: str
    cash_reserve: int
    unit_reserve: int
    book: BookSpec | None = None


@dataclass(frozen=True)
class Funding:
    """One account's endowment and the writer that hosts it."""

    writer: int
    cash: int
    holdings: list[int]
    group: int = L.NO_GROUP


def pid_alive(pid: int) -> bool:
    """Whether a live process has this pid (a zombie, dead but not reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _open_fd(path: str, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BadExchangeFile(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadExchangeFile(f"{path}: is a directory, expected an exchange file") from None
    except PermissionError:
        raise BadExchangeFile(f"{path}: permission denied") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise BadExchangeFile(f"{path}: is a symbolic link (refused)") from None
        raise BadExchangeFile(f"{path}: cannot open: {e.strerror}") from None


def validate_header(path: str, raw: bytes, size: int) -> L.Geometry:
    """Check header bytes against the layout and the real file size; return the geometry."""
    if len(raw) < L.HEADER.size:
        raise BadExchangeFile(f"{path}: too short: {size} bytes, a header needs "
                              f"{L.HEADER.size}")
    h = np.frombuffer(raw, dtype=L.HEADER.dtype, count=1)[0]

    def bad(field: str, expected: str, found: object) -> BadExchangeFile:
        return BadExchangeFile(f"{path}: header field {field} at offset "
                               f"{L.HEADER.offsets[field]}: expected {expected}, found {found}")

    if bytes(h["magic"]).ljust(8, b"\x00") != L.MAGIC:
        raise bad("magic", repr(L.MAGIC), repr(bytes(h["magic"])))
    if int(h["version"]) != L.VERSION:
        raise bad("version", str(L.VERSION), int(h["version"]))
    if int(h["header_size"]) != L.HEADER.size:
        raise bad("header_size", str(L.HEADER.size), int(h["header_size"]))
    nc, nw, na, rows = (int(h["n_currencies"]), int(h["n_writers"]), int(h["n_accounts"]),
                        int(h["ring_rows"]))
    if not 1 <= nc <= L.MAX_CURRENCIES:
        raise bad("n_currencies", f"1..{L.MAX_CURRENCIES}", nc)
    if not 1 <= nw <= MAX_WRITERS:
        raise bad("n_writers", f"1..{MAX_WRITERS}", nw)
    if not 1 <= na <= MAX_ACCOUNTS:
        raise bad("n_accounts", f"1..{MAX_ACCOUNTS}", na)
    if not 1 <= rows <= MAX_RING_ROWS:
        raise bad("ring_rows", f"1..{MAX_RING_ROWS}", rows)
    mask = int(h["book_mask"])
    if not 0 <= mask < 1 << nc:
        raise bad("book_mask", f"0..{(1 << nc) - 1}", mask)
    shape = (int(h["book_ticks"]), int(h["book_capacity"]), int(h["book_max_fills"]))
    words = 0
    if mask:
        try:
            words = BookGeometry(*shape).size_words
        except BadInput as e:
            raise bad("book_ticks", "a valid book shape", str(e)) from None
    geo = L.Geometry(nc, nw, na, rows, mask, words, shape if mask else (0, 0, 0))
    for field, want in geo.header_values().items():
        if int(h[field]) != want:
            raise bad(field, str(want), int(h[field]))
    if size != geo.file_size:
        raise BadExchangeFile(f"{path}: size is {size} bytes, header field file_size at "
                              f"offset {L.HEADER.offsets['file_size']} says {geo.file_size}")
    if int(h["sync"]) not in L.SYNC_NAMES:
        raise bad("sync", f"one of {sorted(L.SYNC_NAMES)}", int(h["sync"]))
    if not 1 <= int(h["scale"]) <= 10**9:
        raise bad("scale", "1..1e9", int(h["scale"]))
    if not 0 <= int(h["fee_bps"]) < 10_000:
        raise bad("fee_bps", "0..9999", int(h["fee_bps"]))
    if not 1 <= int(h["lock_timeout_ms"]) <= 3_600_000:
        raise bad("lock_timeout_ms", "1..3600000", int(h["lock_timeout_ms"]))
    return geo


class Exchange:
    """One process's mapping of an exchange file.

    ``q`` and ``d`` are int64 and float64 word views over the whole mapping; the
    ``*_word`` helpers turn (record, field) into indexes into them.
    """

    _fd = -1
    _mm: mmap.mmap | None = None
    _anchor: ctypes.c_char | None = None
    _locks: Locks | None = None
    _registry: RobustMutexes | None = None
    _sample_words: SampleWords | None = None
    words: np.ndarray[Any, np.dtype[np.int64]]

    def __init__(self, path: str, fd: int, geo: L.Geometry, writable: bool) -> None:
        self.path = path
        self.geo = geo
        self.writable = writable
        self._fd = fd
        try:
            self._mm = mmap.mmap(fd, geo.file_size,
                                 access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
        except OSError as e:
            os.close(fd)
            self._fd = -1
            raise BadExchangeFile(f"{path}: cannot map: {e.strerror}") from None
        mv = memoryview(self._mm)
        self.q = mv.cast("q")
        self.d = mv.cast("d")
        mv.release()
        self.b = memoryview(self._mm)
        # numpy's own int64 view, made once, for sample gathers: taking from the
        # memoryview ``q`` would export and parse the mapping's buffer on every call.
        self.words = np.frombuffer(self._mm, dtype=np.int64)
        self.cur_base = [geo.currency_at(c) // 8 for c in range(geo.n_currencies)]
        self.wri_base = [geo.writer_at(w) // 8 for w in range(geo.n_writers)]
        self.ring_base = [geo.ring_at(w) // 8 for w in range(geo.n_writers)]
        # Accounts may number millions: their word index is computed, not tabled.
        self.acc_base0 = geo.account_offset // 8
        self.acc_words = L.ACCOUNT.size // 8
        self._books: dict[int, Book] = {}

    # ------------------------------------------------------------------ open/create
    @classmethod
    def open(cls, path: str, *, writable: bool = True) -> Exchange:
        """Validate ``path`` and map it; raises :class:`BadExchangeFile` on any defect."""
        fd = _open_fd(path, os.O_RDWR if writable else os.O_RDONLY)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise BadExchangeFile(f"{path}: is a directory, expected an exchange file")
            if not stat.S_ISREG(st.st_mode):
                raise BadExchangeFile(f"{path}: not a regular file")
            raw = os.pread(fd, L.HEADER.size, 0)
            geo = validate_header(path, raw, st.st_size)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, geo, writable)

    @classmethod
    def create(cls, path: str, currencies: list[CurrencySpec], *, n_writers: int,
               n_accounts: int, ring_rows: int = 1024, scale: int = 100, fee_bps: int = 30,
               sync: str = "per_currency", schedule: int = L.SCHEDULE_FREE,
               race_window_ns: int = 0,
               lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
               book_shape: tuple[int, int, int] = (4000, 65536, 64)) -> Exchange:
        """Create a new file (never replacing one) and initialise every table and lock.

        ``book_shape`` (ticks, order records, max fills per order) is the shape of every
        book of the currencies whose spec has one."""
        mask = sum(1 << c for c, spec in enumerate(currencies) if spec.book is not None)
        words = BookGeometry(*book_shape).size_words if mask else 0
        geo = L.Geometry(len(currencies), n_writers, n_accounts, ring_rows, mask, words,
                         book_shape if mask else (0, 0, 0))
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            os.posix_fallocate(fd, 0, geo.file_size)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        try:
            ex = cls(path, fd, geo, True)  # owns fd from here on, closes it if it fails
        except BaseException:
            os.unlink(path)
            raise
        try:
            ex._initialise(currencies, scale, fee_bps, sync, schedule, race_window_ns,
                           lock_timeout_ms)
        except BaseException:
            ex.close()
            os.unlink(path)
            raise
        return ex

    def _initialise(self, currencies: list[CurrencySpec], scale: int, fee_bps: int,
                    sync: str, schedule: int, race_window_ns: int,
                    lock_timeout_ms: int) -> None:
        assert self._mm is not None
        h = np.frombuffer(self._mm, dtype=L.HEADER.dtype, count=1)
        for field, value in self.geo.header_values().items():
            h[field] = value
        h["version"] = L.VERSION
        h["scale"] = scale
        h["fee_bps"] = fee_bps
        h["sync"] = L.SYNC_CODES[sync]
        h["schedule"] = schedule
        h["run_state"] = L.RUN_INIT
        h["created_unix_ns"] = time.time_ns()
        h["start_ns"] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        h["turn"] = L.NO_SLOT
        h["race_window_ns"] = race_window_ns
        h["lock_timeout_ms"] = lock_timeout_ms
        cur = np.frombuffer(self._mm, dtype=L.CURRENCY.dtype, count=self.geo.n_currencies,
                            offset=self.geo.currency_offset)
        for i, spec in enumerate(currencies):
            cur[i]["name"] = L.encode_name(spec.name)
            cur[i]["cash_reserve"] = cur[i]["init_cash_reserve"] = spec.cash_reserve
            cur[i]["unit_reserve"] = cur[i]["init_unit_reserve"] = spec.unit_reserve
            cur[i]["inflight"] = L.NO_SLOT
            cur[i]["best_bid"] = cur[i]["best_ask"] = L.NO_SLOT
            if spec.book is None:
                rate = spec.cash_reserve / spec.unit_reserve
                cur[i]["last_rate"] = cur[i]["fundamental"] = cur[i]["init_rate"] = rate
                continue
            cur[i]["market"] = L.MARKET_BOOK
            cur[i]["book_at"] = self.geo.book_at(i)
            cur[i]["last_rate"] = cur[i]["fundamental"] = cur[i]["init_rate"] = spec.book.rate
        wri = self.writers(live=True)
        wri["j_account"] = L.NO_SLOT
        acc = self.accounts(live=True)
        acc["writer"] = L.NO_WRITER
        acc["group"] = L.NO_GROUP
        del h, cur, wri, acc
        for i, spec in enumerate(currencies):
            if spec.book is not None:
                Book.create(self.q, self.geo.book_at(i) // 8, BookGeometry(*self.geo.book_shape),
                            StakeAccounts(self.geo, i), price_base=spec.book.price_base,
                            price_step=spec.book.price_step, lot=spec.book.lot)
        self.reinit_locks()
        # Magic last: a file whose creation was interrupted never validates.
        self._mm[0:8] = L.MAGIC

    def reinit_locks(self) -> None:
        """Re-initialise every mutex; only for an owner that knows no one else is attached."""
        base = self.base_address()
        for offset in L.lock_offsets(self.geo).all():
            init_mutex(base + offset)

    # ------------------------------------------------------------------ addressing
    def base_address(self) -> int:
        if self._anchor is None:
            assert self._mm is not None
            if not self.writable:
                raise BadExchangeFile(f"{self.path}: locks need a writable mapping")
            self._anchor = ctypes.c_char.from_buffer(self._mm)
        return ctypes.addressof(self._anchor)

    def hword(self, field: str) -> int:
        return L.HEADER.word(field)

    def header_int(self, field: str) -> int:
        return int(self.q[L.HEADER.word(field)])

    def coordinator_pid(self) -> int:
        """The pid of the coordinator that started this process's run.

        Read from the header, not from getppid(): a child that starts after its
        coordinator died would be re-parented already and never see the change. A file
        with no coordinator recorded (0) falls back to the parent.
        """
        return self.header_int("coordinator_pid") or os.getppid()

    def set_header_int(self, field: str, value: int) -> None:
        self.q[L.HEADER.word(field)] = value

    def cword(self, c: int, field: str) -> int:
        return self.cur_base[c] + L.CURRENCY.word(field)

    def wword(self, w: int, field: str) -> int:
        return self.wri_base[w] + L.WRITER.word(field)

    def abase(self, a: int) -> int:
        """Word index of account ``a``'s record."""
        return self.acc_base0 + a * self.acc_words

    def aword(self, a: int, field: str) -> int:
        return self.acc_base0 + a * self.acc_words + L.ACCOUNT.word(field)

    @property
    def sync(self) -> str:
        return L.SYNC_NAMES[self.header_int("sync")]

    @property
    def scale(self) -> int:
        return self.header_int("scale")

    @property
    def fee_bps(self) -> int:
        return self.header_int("fee_bps")

    def now_ns(self) -> int:
        """Run time in ns: CLOCK_MONOTONIC relative to the header's start_ns."""
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC) - self.header_int("start_ns")

    def names(self) -> list[str]:
        return [L.decode_name(bytes(r["name"])) for r in self.currencies()]

    # ------------------------------------------------------------------ locks
    @property
    def locks(self) -> Locks:
        """This process's lock set for the file's policy (created on first use)."""
        if self._locks is None:
            self._locks = make_locks(self.sync, self.path, self.base_address(), self.geo,
                                     self.header_int("lock_timeout_ms") / 1000)
        return self._locks

    @property
    def registry(self) -> RobustMutexes:
        if self._registry is None:
            self._registry = RobustMutexes(
                "registry", [self.base_address() + L.lock_offsets(self.geo).registry], 1,
                self.header_int("lock_timeout_ms") / 1000)
        return self._registry

    # ------------------------------------------------------------------ views
    def header(self) -> np.void:
        """A decoded copy of the header."""
        assert self._mm is not None
        h: np.void = np.frombuffer(self._mm[: L.HEADER.size], dtype=L.HEADER.dtype, count=1)[0]
        return h

    def currencies(self) -> np.ndarray[Any, np.dtype[np.void]]:
        assert self._mm is not None
        a = self.geo.currency_offset
        raw = self._mm[a: a + self.geo.n_currencies * L.CURRENCY.size]
        return np.frombuffer(raw, dtype=L.CURRENCY.dtype)

    def writers(self, live: bool = False) -> np.ndarray[Any, np.dtype[np.void]]:
        """The writer table: a copy, or with ``live`` a view of the mapping (delete it
        before ``close``)."""
        return self._table(L.WRITER, self.geo.n_writers, self.geo.writer_offset, live)

    def accounts(self, live: bool = False) -> np.ndarray[Any, np.dtype[np.void]]:
        """The account table: a copy, or with ``live`` a view of the mapping."""
        return self._table(L.ACCOUNT, self.geo.n_accounts, self.geo.account_offset, live)

    def _table(self, rec: L.Record, n: int, offset: int,
               live: bool) -> np.ndarray[Any, np.dtype[np.void]]:
        assert self._mm is not None
        if live:
            return np.frombuffer(self._mm, dtype=rec.dtype, count=n, offset=offset)
        return np.frombuffer(self._mm[offset: offset + n * rec.size], dtype=rec.dtype)

    def copy_tables(self) -> tuple[np.ndarray[Any, np.dtype[np.void]],
                                   np.ndarray[Any, np.dtype[np.void]]]:
        """One byte copy of the currency and writer tables, decoded (a sample's material)."""
        assert self._mm is not None
        return self.decode_tables(self._mm[self.geo.currency_offset: self.geo.account_offset])

    def copy_all(self) -> tuple[np.ndarray[Any, np.dtype[np.void]],
                                np.ndarray[Any, np.dtype[np.void]],
                                np.ndarray[Any, np.dtype[np.void]]]:
        """One byte copy of currencies, writers and accounts, decoded (an audit's)."""
        assert self._mm is not None
        return self.decode_all(self._mm[self.geo.currency_offset: self.geo.ring_offset])

    def tables_size(self, full: bool = False) -> int:
        """Bytes from the first currency record to the end of the writer table (or, with
        ``full``, of the account table)."""
        end = self.geo.ring_offset if full else self.geo.account_offset
        return end - self.geo.currency_offset

    def copy_tables_into(self, dst: memoryview, full: bool = False) -> None:
        """One byte copy of the tables into ``dst`` (``tables_size(full)`` bytes, no
        intermediate object): what the monitor batches."""
        end = self.geo.ring_offset if full else self.geo.account_offset
        dst[:] = self.b[self.geo.currency_offset: end]

    @property
    def sample_words(self) -> SampleWords:
        """Which words a monitor sample gathers from this file (computed once)."""
        if self._sample_words is None:
            self._sample_words = SampleWords(self.geo)
        return self._sample_words

    def sample_row(self) -> SampleRow:
        """A row to gather a sample of this file into (``SampleRow.gather(ex.words)``)."""
        return self.sample_words.row(unguarded=self.sync == "none")

    def sample_batch(self, rows: int) -> tuple[np.ndarray[Any, np.dtype[np.int64]],
                                              list[SampleRow]]:
        """A block of ``rows`` sample rows of this file, and each row to gather into."""
        return self.sample_words.batch(rows, unguarded=self.sync == "none")

    def decode_tables(self, raw: Any) -> tuple[np.ndarray[Any, np.dtype[np.void]],
                                             np.ndarray[Any, np.dtype[np.void]]]:
        """Views of the currency and writer tables in a buffer ``copy_tables_into`` filled."""
        a, b = self.geo.currency_offset, self.geo.writer_offset
        cur = np.frombuffer(raw, dtype=L.CURRENCY.dtype, count=self.geo.n_currencies)
        wri = np.frombuffer(raw, dtype=L.WRITER.dtype, count=self.geo.n_writers, offset=b - a)
        return cur, wri

    def decode_all(self, raw: Any) -> tuple[np.ndarray[Any, np.dtype[np.void]],
                                          np.ndarray[Any, np.dtype[np.void]],
                                          np.ndarray[Any, np.dtype[np.void]]]:
        """Views of all three tables in a buffer ``copy_tables_into(full=True)`` filled."""
        cur, wri = self.decode_tables(raw)
        off = self.geo.account_offset - self.geo.currency_offset
        acc = np.frombuffer(raw, dtype=L.ACCOUNT.dtype, count=self.geo.n_accounts, offset=off)
        return cur, wri, acc

    def ring_rows(self, w: int, start: int, stop: int) -> bytes:
        """Committed ledger rows ``start..stop`` of writer ``w`` still held in its ring."""
        assert self._mm is not None
        rows, size = self.geo.ring_rows, L.ROW.size
        base = self.geo.ring_at(w)
        out = bytearray()
        k = start
        while k < stop:
            i = k % rows
            n = min(stop - k, rows - i)
            out += self._mm[base + i * size: base + (i + n) * size]
            k += n
        return bytes(out)

    # ------------------------------------------------------------------ books
    def is_book(self, c: int) -> bool:
        """Whether currency ``c`` trades on a limit order book."""
        return bool(self.geo.book_mask >> c & 1)

    def book(self, c: int) -> Book:
        """Currency ``c``'s book, attached once per process (its header validated)."""
        b = self._books.get(c)
        if b is None:
            if not self.is_book(c):
                raise BadInput(f"currency {self.names()[c]} trades on a pool, not a book")
            # The currency's seqlock covers its book.
            b = self._books[c] = Book(self.q, self.geo.book_at(c) // 8,
                                      StakeAccounts(self.geo, c),
                                      version=self.cur_base[c] + L.CURRENCY.word("version"))
        return b

    def stakes(self, live: bool = False) -> np.ndarray[Any, np.dtype[np.void]]:
        """The stake table as (accounts, currencies) records: a copy, or a view."""
        n = self.geo.n_accounts * self.geo.n_currencies if self.geo.book_mask else 0
        t = self._table(L.STAKE, n, self.geo.stake_offset, live)
        return t.reshape(-1, self.geo.n_currencies) if n else t.reshape(0, self.geo.n_currencies)

    # ------------------------------------------------------------------ funding
    def activate_writer(self, w: int, kind: int, pid: int) -> None:
        """Mark writer ``w`` active for a process of ``kind``; its totals stay."""
        q = self.q
        q[self.wword(w, "kind")] = kind
        q[self.wword(w, "pid")] = pid
        q[self.wword(w, "status")] = L.SLOT_ACTIVE

    def fund(self, a: int, f: Funding) -> None:
        """Fund account ``a`` and add it to its writer's totals; the caller makes that
        atomic (every currency lock, or no process attached yet)."""
        q = self.q
        ab = self.abase(a)
        for field in ("trades", "rejected"):
            q[ab + L.ACCOUNT.word(field)] = 0
        q[ab + L.ACCOUNT.word("writer")] = f.writer
        q[ab + L.ACCOUNT.word("group")] = f.group
        q[ab + L.ACCOUNT.word("cash")] = q[ab + L.ACCOUNT.word("init_cash")] = f.cash
        h0, i0 = ab + L.ACCOUNT.word("holdings"), ab + L.ACCOUNT.word("init_holdings")
        wb = self.wri_base[f.writer]
        t0, ti0 = wb + L.WRITER.word("tot_holdings"), wb + L.WRITER.word("init_tot_holdings")
        for c in range(L.MAX_CURRENCIES):
            v = f.holdings[c] if c < len(f.holdings) else 0
            q[h0 + c] = q[i0 + c] = v
            q[t0 + c] += v
            q[ti0 + c] += v
        q[wb + L.WRITER.word("tot_cash")] += f.cash
        q[wb + L.WRITER.word("init_tot_cash")] += f.cash
        q[wb + L.WRITER.word("n_accounts")] += 1
        q[ab + L.ACCOUNT.word("status")] = L.SLOT_ACTIVE

    def fund_accounts(self, funding: list[Funding], kinds: dict[int, int]) -> None:
        """Fund accounts 0..n-1 of a new file, and activate the writers in ``kinds``
        (writer -> kind), before any process attaches (no locking; vectorised)."""
        n = len(funding)
        acc = self.accounts(live=True)[:n]
        writer = np.array([f.writer for f in funding], dtype=np.int64)
        acc["writer"] = writer
        acc["group"] = [f.group for f in funding]
        acc["cash"] = acc["init_cash"] = [f.cash for f in funding]
        hold = np.zeros((n, L.MAX_CURRENCIES), dtype=np.int64)
        for i, f in enumerate(funding):
            hold[i, : len(f.holdings)] = f.holdings
        acc["holdings"] = acc["init_holdings"] = hold
        acc["trades"] = acc["rejected"] = 0
        acc["status"] = L.SLOT_ACTIVE
        wri = self.writers(live=True)
        for w, kind in kinds.items():
            mine = writer == w
            wri["kind"][w] = kind
            wri["status"][w] = L.SLOT_ACTIVE
            wri["n_accounts"][w] += int(mine.sum())
            cash = int(acc["cash"][mine].sum())
            wri["tot_cash"][w] += cash
            wri["init_tot_cash"][w] += cash
            units = hold[mine].sum(axis=0)
            wri["tot_holdings"][w] += units
            wri["init_tot_holdings"][w] += units
        del acc, wri

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Unmap and close this process's view; the file and other mappings stay."""
        if self._locks is not None:
            self._locks.close()
            self._locks = None
        if self._registry is not None:
            self._registry.close()
            self._registry = None
        if self._mm is not None:
            del self.words  # numpy's view of the mapping, before it is closed
            self.q.release()
            self.d.release()
            self.b.release()
            self._anchor = None
            self._mm.close()
            self._mm = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

