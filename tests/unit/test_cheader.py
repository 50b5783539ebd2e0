"""Tests of sim.codegen.cheader: the generated C header agrees with the layout when compiled."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sim.codegen.cheader import STRUCT_NAMES, book_constants, render
from sim.core import book_layout as B
from sim.core import book_result as BR
from sim.core import layout as L
from sim.core.exchange import MAX_ACCOUNTS, MAX_RING_ROWS, MAX_WRITERS

__all__: list[str] = []

ROOT = Path(__file__).resolve().parents[2]
GCC = shutil.which("gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc is not installed")
RECORDS = (L.HEADER, L.CURRENCY, L.WRITER, L.ACCOUNT, L.ROW, L.STAKE, B.BOOK, B.JOURNAL,
           B.JOURNAL_ENTRY, B.LEVEL, B.ORDER)
# (currencies, writers, accounts, ring rows, book mask, book words)
GEOMETRIES = [(1, 1, 1, 1, 0, 0), (3, 4, 10, 1024, 0b101, 7_777), (16, 4096, 100_000, 7, 0, 0),
              (5, 17, 3, 33, 0b11111, 64), (2, 9, 1 << 21, 1 << 20, 0b10, 123_456),
              (16, 3, 5, 64, 0x8001, 1_000)]
# (ticks, capacity, max fills) of books
BOOK_SHAPES = [(1, 1, 1), (63, 64, 2), (64, 1000, 64), (4000, 65536, 64), (3970, 7, 9),
               (B.MAX_TICKS, 100_000, 200)]
# (generation, record index) of order ids
ORDER_IDS = [(0, 0), (1, 0), (1, 7), (12_345, 65_535), ((1 << 31) - 2, (1 << 31) - 1),
             ((1 << 31) - 1, 3)]
# Journal entries are packed 16-byte pairs; every other record is its layout size.
PACKED_SIZE = {B.JOURNAL_ENTRY.name: 16}
NAME_TABLES = (("run_state", L.RUN_STATES), ("slot_state", L.SLOT_STATES), ("kind", L.KINDS),
               ("sync", L.SYNC_NAMES), ("market", L.MARKETS), ("row_kind", L.ROW_KINDS),
               ("book_reject", BR.REJECT_REASONS))
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def _constants() -> dict[str, int]:
    out = {
        "MMX_VERSION": L.VERSION,
        "MMX_MAX_CURRENCIES": L.MAX_CURRENCIES,
        "MMX_NAME_LEN": L.NAME_LEN,
        "MMX_LOCK_SIZE": L.LOCK_SIZE,
        "MMX_ALIGN": L.ALIGN,
        "MMX_PAGE": L.PAGE,
        "MMX_MAX_WRITERS": MAX_WRITERS,
        "MMX_MAX_ACCOUNTS": MAX_ACCOUNTS,
        "MMX_MAX_RING_ROWS": MAX_RING_ROWS,
        "MMX_NO_SLOT": L.NO_SLOT,
        "MMX_NO_WRITER": L.NO_WRITER,
        "MMX_NO_GROUP": L.NO_GROUP,
        "MMX_GLOBAL_LOCK_OFFSET": L.HEADER.offsets["global_lock"],
        "MMX_REGISTRY_LOCK_OFFSET": L.HEADER.offsets["registry_lock"],
    }
    for prefix in ("RUN_", "SLOT_", "KIND_", "JOURNAL_", "SIDE_", "SCHEDULE_", "MARKET_",
                   "ROW_"):
        for name, value in vars(L).items():
            if name.startswith(prefix) and isinstance(value, int):
                out[f"MMX_{name}"] = value
    for name, code in L.SYNC_CODES.items():
        out[f"MMX_SYNC_{name.upper()}"] = code
    for rec in RECORDS:
        out[f"MMX_{rec.name.upper()}_SIZE"] = PACKED_SIZE.get(rec.name, rec.size)
    out.update({f"MMX_BOOK_{k}": v for k, v in book_constants()})
    return out


def test_book_constants_are_the_layouts() -> None:
    got = dict(book_constants())
    assert got["NIL"] == B.NIL and got["BUY"] == B.BUY == L.SIDE_BUY
    assert got["SELL"] == B.SELL == L.SIDE_SELL
    assert (got["GTC"], got["IOC"], got["POST_ONLY"]) == (B.GTC, B.IOC, B.POST_ONLY)
    assert (got["ORDER_FREE"], got["ORDER_LIVE"], got["BITS"]) == (0, 1, 63)
    assert got["JOURNAL_ENTRY_WORDS"] == B.BookGeometry(1, 1, 1).entry_words == 2
    assert got["INDEX_BITS"] == 32 and got["GEN_LIMIT"] == 1 << 31
    assert B.next_gen(got["GEN_LIMIT"] - 1) == 1 and B.next_gen(got["GEN_LIMIT"] - 2) > 1
    assert {got[k] for k in dir(BR) if k.startswith("REJ_")} == set(BR.REJECT_REASONS)


def _probe_source() -> str:
    """A C program printing every size, offset, constant and geometry value it sees."""
    lines = ['#include <stdio.h>', '#include <string.h>', '#include "mmx.h"',
             "int main(void)", "{"]
    for rec in RECORDS:
        t = f"struct {STRUCT_NAMES[rec.name]}"
        lines.append(f'    printf("size {rec.name} %zu\\n", sizeof({t}));')
        for f in rec.fields:
            lines.append(f'    printf("field {rec.name}.{f.name} %zu %zu\\n", '
                         f"offsetof({t}, {f.name}), sizeof((({t} *)0)->{f.name}));")
    for name in _constants():
        lines.append(f'    printf("const {name} %lld\\n", (long long)({name}));')
    lines.append('    printf("magic %zu %d\\n", sizeof(MMX_MAGIC), '
                 'memcmp(MMX_MAGIC, "MMEXCHG", 8));')
    for nc, nw, na, rows, mask, words in GEOMETRIES:
        lines.append(
            f'    printf("geo {nc} {nw} {na} {rows} %lld %lld %lld %lld %lld %lld %lld\\n", '
            f"(long long)mmx_currency_offset(), (long long)mmx_writer_offset({nc}), "
            f"(long long)mmx_account_offset({nc}, {nw}), "
            f"(long long)mmx_ring_offset({nc}, {nw}, {na}), "
            f"(long long)mmx_stake_offset({nc}, {nw}, {na}, {rows}), "
            f"(long long)mmx_book_offset({nc}, {nw}, {na}, {rows}, {mask}), "
            f"(long long)mmx_file_size({nc}, {nw}, {na}, {rows}, {mask}, {words}));")
        for c in range(nc):
            lines.append(f'    printf("book {nc} {mask} {c} %lld %lld\\n", '
                         f"(long long)mmx_book_at({nc}, {nw}, {na}, {rows}, {mask}, {words}, "
                         f"{c}), (long long)mmx_stake_at({nc}, {nw}, {na}, {rows}, {na - 1}, "
                         f"{c}));")
        for c in range(nc):
            lines.append(f'    printf("lock {nc} {c} %lld %lld\\n", '
                         f"(long long)mmx_currency_lock_offset({c}), "
                         f"(long long)mmx_currency_at({c}));")
        lines.append(f'    printf("at {nc} {nw} {na} {rows} %lld %lld %lld\\n", '
                     f"(long long)mmx_writer_at({nc}, {nw - 1}), "
                     f"(long long)mmx_account_at({nc}, {nw}, {na - 1}), "
                     f"(long long)mmx_ring_at({nc}, {nw}, {na}, {rows}, {nw - 1}));")
    for ticks, cap, fills in BOOK_SHAPES:
        lines.append(f"    {{ struct mmx_book_geometry g = mmx_book_geometry({ticks}, {cap}, "
                     f"{fills});")
        lines.append(f'      printf("shape {ticks} {cap} {fills}' + " %lld" * len(_BOOK_FIELDS)
                     + '\\n", ' + ", ".join(f"(long long)g.{f}" for f in _BOOK_FIELDS)
                     + "); }")
    for gen, index in ORDER_IDS:
        lines.append(f'    printf("id {gen} {index} %lld %lld %lld %lld\\n", '
                     f"(long long)mmx_order_id({gen}, {index}), "
                     f"(long long)mmx_order_gen(mmx_order_id({gen}, {index})), "
                     f"(long long)mmx_order_index(mmx_order_id({gen}, {index})), "
                     f"(long long)mmx_next_gen({gen}));")
    for what, table in NAME_TABLES:
        for code in table:
            lines.append(f'    printf("name {what} {code} %s\\n", mmx_{what}_name({code}));')
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n"


_BOOK_FIELDS = ("leaf_words", "summary_words", "journal_entries", "journal",
                "journal_first_entry", "bid_leaf", "ask_leaf", "bid_summary", "ask_summary",
                "levels", "orders", "size_words")


def _size(rec: L.Record, name: str) -> int:
    fields = rec.dtype.fields
    assert fields is not None
    return int(fields[name][0].itemsize)


def _expected() -> list[str]:
    out = []
    for rec in RECORDS:
        out.append(f"size {rec.name} {PACKED_SIZE.get(rec.name, rec.size)}")
        for f in rec.fields:
            size = _size(rec, f.name)
            out.append(f"field {rec.name}.{f.name} {rec.offsets[f.name]} {size}")
    out += [f"const {name} {value}" for name, value in _constants().items()]
    out.append(f"magic {len(L.MAGIC)} 0")
    for nc, nw, na, rows, mask, words in GEOMETRIES:
        geo = L.Geometry(nc, nw, na, rows, mask, words)
        out.append(f"geo {nc} {nw} {na} {rows} {geo.currency_offset} {geo.writer_offset} "
                   f"{geo.account_offset} {geo.ring_offset} {geo.stake_offset} "
                   f"{geo.book_offset} {geo.file_size}")
        out += [f"book {nc} {mask} {c} {geo.book_at(c)} {geo.stake_at(na - 1, c)}"
                for c in range(nc)]
        locks = L.lock_offsets(geo)
        out += [f"lock {nc} {c} {locks.currencies[c]} {geo.currency_at(c)}"
                for c in range(nc)]
        out.append(f"at {nc} {nw} {na} {rows} {geo.writer_at(nw - 1)} "
                   f"{geo.account_at(na - 1)} {geo.ring_at(nw - 1)}")
    for ticks, cap, fills in BOOK_SHAPES:
        bg = B.BookGeometry(ticks, cap, fills)
        out.append(f"shape {ticks} {cap} {fills} "
                   + " ".join(str(getattr(bg, f)) for f in _BOOK_FIELDS))
    for gen, index in ORDER_IDS:
        oid = B.order_id(gen, index)
        out.append(f"id {gen} {index} {oid} {' '.join(map(str, B.split_id(oid)))} "
                   f"{B.next_gen(gen)}")
    for what, table in NAME_TABLES:
        out += [f"name {what} {code} {text}" for code, text in table.items()]
    return out


def _compile(tmp_path: Path, header: str, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "mmx.h").write_text(header)
    (tmp_path / "probe.c").write_text(source)
    assert GCC is not None
    return subprocess.run([GCC, *CFLAGS, "-I", str(tmp_path), "-o", str(tmp_path / "probe"),
                           str(tmp_path / "probe.c")],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.timeout(60)
def test_render_is_stable_narrow_and_documented() -> None:
    text = render()
    assert text == render()
    assert text.endswith("#endif /* MMX_H */\n")
    assert "#ifndef MMX_H\n#define MMX_H\n" in text
    assert "#include <stdint.h>" in text and "#include <pthread.h>" in text
    assert '#define MMX_MAGIC "MMEXCHG"\n' in text
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "struct Currency {" in text
    for rec in RECORDS:
        for f in rec.fields:
            assert f.doc.split()[0] in text, f"{rec.name}.{f.name}: doc missing"
    assert "_Alignas(MMX_ALIGN) unsigned char lock[MMX_LOCK_SIZE];" in text
    assert "int64_t holdings[16];" in text
    assert "double last_rate;" in text
    assert "char name[MMX_NAME_LEN];" in text


@needs_gcc
@pytest.mark.timeout(60)
def test_compiled_layout_matches_python(tmp_path: Path) -> None:
    built = _compile(tmp_path, render(), _probe_source())
    assert built.returncode == 0, built.stderr
    assert built.stderr == ""
    run = subprocess.run([str(tmp_path / "probe")], capture_output=True, text=True,
                         timeout=30, check=True)
    assert run.stdout.splitlines() == _expected()


@needs_gcc
@pytest.mark.timeout(60)
def test_static_asserts_catch_a_drifted_offset(tmp_path: Path) -> None:
    good = "MMX_CHECK_FIELD(struct mmx_row, cash, 48, 8);"
    text = render()
    assert good in text
    built = _compile(tmp_path, text.replace(good, good.replace("48", "56")),
                     '#include "mmx.h"\nint main(void) { return 0; }\n')
    assert built.returncode != 0
    assert "mmx_row" in built.stderr and "offset differs from layout" in built.stderr


@needs_gcc
@pytest.mark.timeout(60)
def test_make_builds_the_trader_without_warnings(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    build = tmp_path / "build"
    env = dict(os.environ, CC=GCC or "gcc")
    out = subprocess.run(["make", "-C", str(ROOT / "examples" / "c"), f"BUILD={build}"],
                         capture_output=True, text=True, timeout=120, check=False, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "warning" not in (out.stdout + out.stderr).lower()
    assert (build / "mmx.h").read_text() == render()
    assert os.access(build / "trader", os.X_OK)
    usage = subprocess.run([str(build / "trader"), "--help"], capture_output=True, text=True,
                           timeout=30, check=False)
    assert usage.returncode == 2 and "usage: trader FILE" in usage.stderr
