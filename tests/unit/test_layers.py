"""The layer contracts of pyproject.toml hold, and they do catch an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
LINT_IMPORTS: Final = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml")],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "sim", tree / "sim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.mark.timeout(180)
def test_the_layers_are_kept_and_an_upward_import_breaks_them(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    kept = _lint(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout
    # The core reaching up into the harness is exactly what the contracts forbid.
    with open(tree / "sim" / "core" / "pricing.py", "a") as f:
        f.write("\nfrom sim.harness import report as _upward  # noqa: E402,F401\n")
    broken = _lint(tree)
    assert broken.returncode != 0
    assert "sim.core is not allowed to import sim.harness" in broken.stdout, broken.stdout
