"""The command line: each subcommand reaches its function, options are checked once, and
errors become one line on stderr with the error's exit status."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

import sim.codegen.cheader
import sim.tools.inspect
from sim import __version__
from sim.cli import _parser, main
from sim.errors import BadInput, LockTimeout, SimError
from tests.conftest import make_exchange

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
                            f"(found {value})\n")


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
    assert capsys.readouterr() == ("", message + "\n")
