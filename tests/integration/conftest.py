"""Fixtures of the integration tests: the C trader built once, processes reaped."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.c_book_files import build_trader


@pytest.fixture(scope="session")
def c_trader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C trader, built by examples/c/Makefile into a private folder."""
    return build_trader(tmp_path_factory.mktemp("cbuild"))


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; killed and reaped if the test fails before reaping them."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=30)
