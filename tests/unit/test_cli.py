"""The command line as a newcomer meets it: help text, one-line errors, no debris."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.cli import main
from tests.integration.harness import ROOT, scenario


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Paths in these commands are written as a user in a fresh clone would type them.
    monkeypatch.chdir(ROOT)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = int(e.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def test_help_has_no_docstring_markup(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(["--help"], capsys)
    assert rc == 0
    assert "``" not in out and ":func:" not in out
    for command in ("run", "inspect", "trade", "check", "compare", "watch", "plot", "schema"):
        assert f"    {command} " in out


@pytest.mark.parametrize("argv, expected", [
    (["run", "scenarios/default.yaml", "--duration", "abc"],
     "sim run: argument --duration: invalid float value: 'abc'"),
    (["compare", "spec.yaml", "--jobs", "x"], "sim compare: argument --jobs"),
    (["no-such-command"], "sim: argument COMMAND: invalid choice"),
    ([], "sim: the following arguments are required: COMMAND"),
    (["inspect"], "sim inspect: the following arguments are required: file"),
])
def test_a_bad_option_is_one_line_and_exit_2(argv: list[str], expected: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(argv, capsys)
    assert rc == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(expected), err
    assert "--help" in err


def test_run_on_a_compare_spec_says_to_use_compare(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["run", "scenarios/compare/strategies.yaml", "--out", str(tmp_path)],
                      capsys)
    assert rc == 2
    assert "is a compare spec" in err
    assert "sim compare scenarios/compare/strategies.yaml" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("program, expected", [
    ("examples/c/build/no-such-trader", "does not exist (build it first: make c)"),
    ("./README.md", "is not an executable file"),
    ("no-such-program-on-path-xyz", "is not on PATH"),
])
def test_a_command_that_cannot_start_leaves_nothing(tmp_path: Path, program: str,
                                                    expected: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(scenario(traders=[
        {"count": 1, "strategy": "random"},
        {"count": 1, "command": [program, "{exchange}"]}])))
    out = tmp_path / "results"
    rc, _, err = _run(["run", str(spec), "--out", str(out)], capsys)
    assert rc == 2
    assert err.count("\n") == 1
    assert f"{spec}: traders[1].command: {program!r} {expected}" in err
    assert not out.exists()


def test_compare_on_a_scenario_says_to_use_run(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["compare", "scenarios/default.yaml", "--out", str(tmp_path)], capsys)
    assert rc == 2
    assert err == ("sim compare: scenarios/default.yaml: is a scenario (it has traders), not "
                   "a compare spec; run it with: sim run scenarios/default.yaml\n")
    assert list(tmp_path.iterdir()) == []
