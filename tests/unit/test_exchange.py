"""Opening validates everything before mapping; bad files raise the project's error."""

from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core import exchange as exchange_module
from sim.core import layout as L
from sim.core.claims import join
from sim.core.exchange import Exchange
from sim.errors import BadExchangeFile, NoFreeSlot
from tests.conftest import make_exchange


def test_create_then_reopen_round_trips(tmp_path: Path) -> None:
    p = tmp_path / "x.dat"
    make_exchange(p).close()
    with Exchange.open(str(p), writable=False) as ex:
        assert ex.names() == ["EUR", "USD"]
        assert ex.sync == "per_currency"
        cur = ex.currencies()
        assert int(cur["cash_reserve"][0]) == 110_000_00
        assert int(ex.accounts()["cash"][1]) == 10_000_00
        assert int(ex.accounts()["status"][2]) == L.SLOT_FREE


def test_create_never_replaces_a_file(tmp_path: Path) -> None:
    p = tmp_path / "x.dat"
    p.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        make_exchange(p)
    assert p.read_bytes() == b"precious"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b[:100], "too short"),
    (lambda b: b"XXXXXXXX" + b[8:], "header field magic at offset 0"),
    (lambda b: b[:8] + (99).to_bytes(8, "little") + b[16:], "header field version"),
    (lambda b: b[:-4096], "size is"),
    (lambda b: b + b"\0" * 4096, "size is"),
])
def test_bad_files_are_refused_with_one_clear_line(tmp_path: Path, mutate, message) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "x.dat"
    make_exchange(p).close()
    data = mutate(p.read_bytes())
    p.write_bytes(data)
    with pytest.raises(BadExchangeFile, match=message) as e:
        Exchange.open(str(p))
    assert "\n" not in str(e.value)
    assert p.read_bytes() == data


def test_symlink_directory_missing_and_unreadable_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.dat"
    make_exchange(p).close()
    link = tmp_path / "link.dat"
    link.symlink_to(p)
    with pytest.raises(BadExchangeFile, match="symbolic link"):
        Exchange.open(str(link))
    with pytest.raises(BadExchangeFile, match="directory"):
        Exchange.open(str(tmp_path))
    with pytest.raises(BadExchangeFile, match="no such file"):
        Exchange.open(str(tmp_path / "nope.dat"))
    if os.geteuid() != 0:
        p.chmod(0)
        with pytest.raises(BadExchangeFile, match="permission denied"):
            Exchange.open(str(p))


def test_join_funds_a_free_writer_and_account_until_none_is_left(tmp_path: Path) -> None:
    with make_exchange(tmp_path / "x.dat", n_funded=2, n_slots=3) as ex:
        w, a = join(ex, L.KIND_INTERACTIVE, 500, [1, 2], pid=os.getpid())
        assert (w, a) == (2, 2)
        acc = ex.accounts()
        assert int(acc["cash"][2]) == 500 and int(acc["init_cash"][2]) == 500
        assert list(acc["holdings"][2][:2]) == [1, 2]
        assert int(acc["writer"][2]) == 2
        wri = ex.writers()
        assert int(wri["tot_cash"][2]) == int(wri["init_tot_cash"][2]) == 500
        assert list(wri["tot_holdings"][2][:2]) == [1, 2]
        assert int(wri["n_accounts"][2]) == 1 and int(wri["kind"][2]) == L.KIND_INTERACTIVE
        assert int(ex.q[ex.cword(0, "version")]) % 2 == 0
        with pytest.raises(NoFreeSlot, match="all 3 writer records"):
            join(ex, L.KIND_INTERACTIVE, 1, [0, 0])


def test_a_file_holds_a_hundred_thousand_accounts_on_two_writers(tmp_path: Path) -> None:
    from sim.core.exchange import CurrencySpec, Funding

    n = 100_000
    specs = [CurrencySpec("EUR", 110_000_00, 100_000_00)]
    with Exchange.create(str(tmp_path / "pop.dat"), specs, n_writers=2,
                         n_accounts=n) as ex:
        ex.fund_accounts([Funding(i % 2, 1_00, [2], group=0) for i in range(n)],
                         {0: L.KIND_TRADER, 1: L.KIND_TRADER})
        wri = ex.writers()
        assert wri["n_accounts"].tolist() == [n // 2, n // 2]
        assert wri["tot_cash"].tolist() == [n // 2 * 1_00] * 2
        # Each account is a few hundred bytes; no ledger ring per agent.
        assert L.ACCOUNT.size <= 512
        assert ex.geo.file_size < n * L.ACCOUNT.size + 2 * 1024 * L.ROW.size + (1 << 20)
    with Exchange.open(str(tmp_path / "pop.dat"), writable=False) as ex:
        assert ex.geo.n_accounts == n


_valid: dict[str, bytes] = {}


def _valid_bytes(tmp: Path) -> bytes:
    if "b" not in _valid:
        p = tmp / "valid.dat"
        make_exchange(p, ring_rows=16).close()
        _valid["b"] = p.read_bytes()
        p.unlink()
    return _valid["b"]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutated_headers_are_accepted_only_when_valid(tmp_path_factory, data) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("fuzz")
    good = _valid_bytes(tmp)
    kind = data.draw(st.sampled_from(["bytes", "truncate", "extend", "word"]))
    b = bytearray(good)
    if kind == "bytes":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, L.HEADER.size - 1))
            b[i] = data.draw(st.integers(0, 255))
    elif kind == "truncate":
        b = b[: data.draw(st.integers(0, len(b) - 1))]
    elif kind == "extend":
        b += bytes(data.draw(st.integers(1, 9000)))
    else:
        w = data.draw(st.integers(0, L.HEADER.size // 8 - 1))
        b[w * 8: w * 8 + 8] = data.draw(st.integers(-(2**63), 2**63 - 1)).to_bytes(
            8, "little", signed=True)
    p = tmp / "m.dat"
    p.write_bytes(bytes(b))
    try:
        ex = Exchange.open(str(p))
    except BadExchangeFile as e:
        assert "\n" not in str(e)
    else:
        # Accepted: the geometry fields must be intact and the tables fully readable.
        with ex:
            assert ex.geo.file_size == len(b)
            ex.copy_tables()
    assert p.read_bytes() == bytes(b)


def test_a_sample_copies_the_same_bytes_whatever_the_number_of_accounts(tmp_path: Path) -> None:
    from sim.core.exchange import CurrencySpec

    specs = [CurrencySpec("EUR", 110_000_00, 100_000_00)]
    sizes = []
    for n in (10, 100_000):
        with Exchange.create(str(tmp_path / f"x{n}.dat"), specs, n_writers=4,
                             n_accounts=n) as ex:
            sizes.append((ex.tables_size(), ex.tables_size(full=True)))
    assert sizes[0][0] == sizes[1][0] == L.CURRENCY.size + 4 * L.WRITER.size
    assert sizes[1][1] - sizes[0][1] == (100_000 - 10) * L.ACCOUNT.size


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_failed_mapping_raises_the_real_error_and_leaves_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The descriptor was closed twice (in __init__ and again in create): the second close
    # raised EBADF, which hid the mapping's own error and skipped removing the file.
    def no_memory(*args: object, **kwargs: object) -> mmap.mmap:
        raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))

    p = tmp_path / "x.dat"
    before = _open_fds()
    monkeypatch.setattr(exchange_module.mmap, "mmap", no_memory)
    with pytest.raises(BadExchangeFile, match=f"cannot map: {os.strerror(errno.ENOMEM)}"):
        make_exchange(p)
    monkeypatch.undo()
    assert not p.exists(), "a half-created file was left behind"
    assert _open_fds() == before, "a descriptor was leaked"
    make_exchange(p).close()  # the path is free again
