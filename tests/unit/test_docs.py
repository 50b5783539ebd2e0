"""The README against the program: the trade columns, the commands, the run folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.harness.rundir import TRADE_DTYPE, write_trades_csv
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
    assert tuple(documented) == TRADE_DTYPE.names
    write_trades_csv(tmp_path, np.zeros(0, TRADE_DTYPE), ["EUR"])
    header = (tmp_path / "trades.csv").read_text().splitlines()[0].split(",")
    # The README says the CSV has every column but unit_reserve.
    assert header == [c for c in documented if c != "unit_reserve"]


def test_every_command_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    commands = set(re.findall(r"^    (\w+) ", capsys.readouterr().out, re.M))
    documented = {_names(r[0])[0].split()[1] for r in _table_after("## Commands")}
    assert documented == commands


def test_run_folder_files_are_documented() -> None:
    files = {n for r in _table_after("Each run writes a new folder") for n in _names(r[0])}
    for name in ("summary.json", "samples.npz", "trades.npy", "trades.csv", "exchange.dat",
                 "ledger/", "monitor/", "scenario.yaml", "resumed", "price.png",
                 "wealth.png", "market.png"):
        assert name in files


def test_the_layer_picture_names_every_sub_package() -> None:
    picture = README[README.index("## How it works"):README.index("Data flows one way")]
    packages = {p.parent.name for p in (ROOT / "sim").glob("*/__init__.py")}
    assert packages
    for name in packages:
        assert f"sim/{name}/" in picture, name
