"""The command line: each subcommand reaches its function, options are checked once, and
errors become one line on stderr with the error's exit status."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml

import sim.codegen.cheader
import sim.tools.inspect
from sim import __version__
from sim.cli import _parser, main
from sim.errors import BadInput, LockTimeout, SimError
from tests.conftest import make_exchange
from tests.integration.harness import ROOT, scenario

__all__: list[str] = []


@pytest.mark.parametrize("value", ["0", "-3", "two", "1.5"])
def test_jobs_below_one_is_refused_by_the_parser_in_one_line(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["compare", "no-such-spec.yaml", "--jobs", value])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"sim compare: argument --jobs: expected a whole number >= 1 "
                            f"(found {value}) (see 'sim compare --help')\n")


@pytest.fixture
def exchange_file(tmp_path: Path) -> str:
    p = tmp_path / "exchange.dat"
    make_exchange(p).close()
    return str(p)


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_every_subcommand_reaches_its_own_function(
        exchange_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Each command's output (or its own one-line refusal) shows which function ran.
    seen: set[str] = set()

    def expect(argv: list[str], rc: int, out_has: str = "", err_is: str = "") -> None:
        got_rc, out, err = _main(argv, capsys)
        assert got_rc == rc, (argv, out, err)
        assert out_has in out, (argv, out)
        if err_is:
            assert err == err_is + "\n", (argv, err)
        seen.add(argv[0])

    expect(["header"], 0, "#define MMX_GLOBAL_LOCK_OFFSET")
    expect(["schema"], 0, '"$schema"')
    expect(["inspect", exchange_file], 0, "EUR")
    expect(["check", exchange_file], 0, "no_transaction_in_flight")
    expect(["watch", "--once", exchange_file], 0, f"sim watch  {exchange_file}")
    monkeypatch.setattr(sys, "stdin", io.StringIO("balance\nquit\n"))
    expect(["trade", exchange_file, "--cash", "12"], 0, "cash 12.00")
    missing = tmp_path / "missing"
    expect(["plot", str(missing)], 2, err_is=f"sim plot: {missing}: not a run folder")
    expect(["run", str(missing)], 2, err_is=f"sim run: {missing}: no such file")
    expect(["run"], 2, err_is="sim run: expected a scenario YAML file (or --resume RUN_DIR)")
    expect(["compare", str(missing)], 2)
    expect(["sweep", str(missing)], 2)
    assert set(_parser()._subparsers._group_actions[0].choices) == seen  # type: ignore[union-attr]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"sim {__version__}\n"


@pytest.mark.parametrize(("error", "status"), [
    (BadInput("x.dat: header field magic at offset 0: expected ..."), 2),
    (LockTimeout("ofd lock for currency 1: still held after 1 s"), 3),
])
def test_a_sim_error_is_one_line_on_stderr_with_its_exit_status(
        error: SimError, status: int, exchange_file: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(sim.tools.inspect, "print_exchange", fail)
    rc, out, err = _main(["inspect", exchange_file], capsys)
    assert (rc, out, err) == (status, "", f"sim inspect: {error}\n")


def test_an_interrupt_is_one_line_and_status_130(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted() -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.codegen.cheader, "render", interrupted)
    assert _main(["header"], capsys) == (130, "", "sim header: interrupted\n")


@pytest.mark.parametrize(("argv", "message"), [
    ([], "sim: the following arguments are required: COMMAND"),
    (["run", "s.yaml", "--duration", "abc"],
     "sim run: argument --duration: invalid float value: 'abc'"),
    (["inspect"], "sim inspect: the following arguments are required: file"),
])
def test_a_bad_option_is_one_line_and_status_2(argv: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    # One line, and where to look next.
    assert capsys.readouterr() == ("", f"{message} (see '{message.split(':')[0]} --help')\n")


# ---------------------------------------------------------------------- the first hour


@pytest.fixture
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


@pytest.mark.usefixtures("_at_root")
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
@pytest.mark.usefixtures("_at_root")
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


@pytest.mark.usefixtures("_at_root")
def test_compare_on_a_scenario_says_to_use_run(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["compare", "scenarios/default.yaml", "--out", str(tmp_path)], capsys)
    assert rc == 2
    assert err == ("sim compare: scenarios/default.yaml: is a scenario (it has traders), not "
                   "a compare spec; run it with: sim run scenarios/default.yaml\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("_at_root")
def test_an_out_that_is_a_file_is_one_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, _, err = _run(["run", "scenarios/default.yaml", "--out", str(blocker / "sub")], capsys)
    assert rc == 2
    assert err == (f"sim run: --out {blocker / 'sub'}: {blocker} is not a folder (expected a "
                   "folder for run folders)\n")
    assert blocker.read_text() == "x"
