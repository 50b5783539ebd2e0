"""The command line: each subcommand reaches its function, options are checked once, and
errors become one line on stderr with the error's exit status."""

from __future__ import annotations

import pytest

from sim.cli import main

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
