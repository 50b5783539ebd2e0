"""The README against the program: the trade columns, the commands, the run folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim.cli import main
from sim.core import layout as L
from sim.harness.monitor import MONITOR_DIR
from sim.harness.rundir import ORDERS, SAMPLES, SCENARIO_FILE, TRADES
from sim.harness.summary import SUMMARY_FILE
from sim.harness.tables import ORDER_SCHEMA, TRADE_SCHEMA, write_trades
from tests.integration.harness import ROOT

README = (ROOT / "README.md").read_text()


def _table_after(marker: str) -> list[list[str]]:
    """The rows (cells stripped) of the first markdown table after ``marker``."""
    rest = README[README.index(marker):]
    rows = []
    for line in rest.splitlines()[1:]:
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            rows.append([c.strip() for c in cells])
        elif rows:
            break
    return rows[2:]  # past the header and its rule


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_trade_columns_are_the_ones_written(tmp_path: Path) -> None:
    documented = [_names(r[0])[0] for r in _table_after("The trade table's columns")]
    assert tuple(documented) == tuple(TRADE_SCHEMA.names)
    # What the writer really puts in the files, Parquet and CSV alike.
    write_trades(tmp_path, np.zeros(0, L.ROW.dtype), ["EUR"], csv=True)
    assert pq.read_schema(tmp_path / "trades.parquet").names == documented
    header = (tmp_path / "trades.csv").read_text().splitlines()[0].split(",")
    assert header == documented


def test_order_columns_are_the_ones_written(tmp_path: Path) -> None:
    documented = [_names(r[0])[0] for r in _table_after("The order table's columns")]
    assert tuple(documented) == tuple(ORDER_SCHEMA.names)
    write_trades(tmp_path, np.zeros(0, L.ROW.dtype), ["EUR"], csv=True, books=True)
    assert pq.read_schema(tmp_path / ORDERS).names == documented
    header = (tmp_path / "orders.csv").read_text().splitlines()[0].split(",")
    assert header == documented


def test_every_command_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    commands = set(re.findall(r"^    (\w+) ", capsys.readouterr().out, re.M))
    documented = {_names(r[0])[0].split()[1] for r in _table_after("## Commands")}
    assert documented == commands


def test_run_folder_files_are_documented() -> None:
    files = {n for r in _table_after("Each run writes a new folder") for n in _names(r[0])}
    # The names the program writes, from where it spells them.
    for name in (SUMMARY_FILE, SAMPLES, TRADES, ORDERS, L.EXCHANGE_FILE, f"{MONITOR_DIR}/",
                 SCENARIO_FILE, "ledger/", "resumed", "price.png", "wealth.png",
                 "market.png"):
        assert name in files, name


def test_the_layer_picture_names_every_sub_package() -> None:
    picture = README[README.index("## How it works"):README.index("Data flows one way")]
    packages = {p.parent.name for p in (ROOT / "sim").glob("*/__init__.py")}
    assert packages
    for name in packages:
        assert f"sim/{name}/" in picture, name
