"""The command line: sim run, inspect, trade, check, compare, sweep, watch, plot, schema, header.

User errors (bad scenario, bad file, bad option) print one line and exit with status 2;
no traceback. A run whose final invariants fail exits 1 unless its scenario expects it.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from sim import __version__
from sim.errors import BadInput, SimError

if TYPE_CHECKING:
    from sim.harness.summary import RunSummary

__all__ = ["main", "positive_int"]

DESCRIPTION: Final = ("mmap market: trader processes on one memory-mapped exchange file, "
                      "and a monitor that checks money is never created or lost.")


def _cmd_run(args: argparse.Namespace) -> int:
    from sim.config.scenario import load_scenario
    from sim.harness.coordinator import run_scenario
    from sim.harness.preflight import check_runnable

    if args.resume:
        from sim.harness.coordinator import resume_run

        if args.scenario or args.seed is not None:
            raise BadInput("--resume RUN_DIR takes neither a scenario nor --seed")
        outcome = resume_run(Path(args.resume), sys.stdout, args.duration)
        return _report_run(outcome.summary, outcome.exit_status)
    if not args.scenario:
        raise BadInput("expected a scenario YAML file (or --resume RUN_DIR)")
    overrides: dict[str, Any] = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.duration is not None:
        overrides["duration_s"] = args.duration
    scn = load_scenario(args.scenario, overrides)
    check_runnable(scn, args.scenario)
    root = Path(args.out) if args.out else Path("results")
    outcome = run_scenario(scn, root, sys.stdout, figures=not args.no_figures, csv=args.csv,
                           run_dir=Path(args.run_dir) if args.run_dir else None)
    return _report_run(outcome.summary, outcome.exit_status)


def _report_run(summary: RunSummary, status: int) -> int:
    # Imported after the run: rich is not needed before the first trade.
    from sim.harness.report import print_run_summary

    print_run_summary(summary, sys.stdout)
    return status


def _cmd_inspect(args: argparse.Namespace) -> int:
    from sim.core.exchange import Exchange
    from sim.tools.inspect import print_exchange

    with Exchange.open(args.file, writable=False) as ex:
        print_exchange(ex, sys.stdout, all_slots=args.all)
    return 0


def _cmd_trade(args: argparse.Namespace) -> int:
    from sim.tools.trade import trade_session

    return trade_session(args.file, sys.stdin, sys.stdout, cash=args.cash,
                         holdings=args.holdings)


def _cmd_check(args: argparse.Namespace) -> int:
    from sim.tools.check import check_command

    return check_command(args.target, repair=args.repair, do_replay=args.replay, out=sys.stdout)


def _cmd_plot(args: argparse.Namespace) -> int:
    from sim.harness.finish import redraw_figures

    run = Path(args.run_dir)
    if not run.is_dir():
        raise BadInput(f"{run}: not a run folder")
    redraw_figures(run)
    for p in sorted(run.glob("*.png")):
        print(p)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from sim.config.scenario import scenario_schema

    json.dump(scenario_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from sim.compare.command import compare_command

    root = Path(args.out) if args.out else Path("results")
    return compare_command(args.spec, args.jobs, root, sys.stdout, scheduler=args.scheduler)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from sim.compare.sweep import sweep_command

    root = Path(args.out) if args.out else Path("results")
    return sweep_command(args.spec, root, sys.stdout, sys.stderr, scheduler=args.scheduler,
                         jobs=args.jobs)


def _cmd_watch(args: argparse.Namespace) -> int:
    from sim.tools.watch import watch_command

    return watch_command(args.file, sys.stdout, interval_s=args.interval, once=args.once,
                         max_seconds=args.seconds)


def _cmd_header(args: argparse.Namespace) -> int:
    from sim.codegen.cheader import render

    sys.stdout.write(render())
    return 0


def positive_int(text: str) -> int:
    """An option's value that counts something: a whole number >= 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1 (found {text})")
    return n


class _Parser(argparse.ArgumentParser):
    """Bad options are user errors too: one line and exit status 2, no usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sim", description=DESCRIPTION,
                epilog="'sim COMMAND --help' describes each command. Bad input prints one "
                       "line and exits 2; a run whose invariants fail exits 1.")
    p.add_argument("--version", action="version", version=f"sim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=_Parser)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str
            ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        return sp

    r = add("run", _cmd_run, "run a scenario YAML and write a results folder")
    r.add_argument("scenario", nargs="?", help="scenario YAML file")
    r.add_argument("--resume", metavar="RUN_DIR",
                   help="continue trading on the file of a run whose coordinator died")
    r.add_argument("--out", help="results root instead of ./results")
    r.add_argument("--run-dir", metavar="DIR",
                   help="write the run folder at DIR (must not exist) instead of under --out")
    r.add_argument("--seed", type=int, help="override the scenario's seed")
    r.add_argument("--duration", type=float, help="override the scenario's duration_s")
    r.add_argument("--no-figures", action="store_true",
                   help="skip the PNGs (sim plot draws them later)")
    r.add_argument("--csv", action="store_true",
                   help="also write trades.csv, for tools that cannot read Parquet")

    i = add("inspect", _cmd_inspect, "print header, currencies and accounts of an exchange file")
    i.add_argument("file")
    i.add_argument("--all", action="store_true", help="list free slots too")

    t = add("trade", _cmd_trade, "trade interactively as a new account: buy EUR 10 on a pool; "
            "limit buy EUR 10 @ 1.0950, market sell EUR 5, cancel ID on a book")
    t.add_argument("file")
    t.add_argument("--cash", type=float, default=1000.0, help="starting cash (default 1000)")
    t.add_argument("--holdings", type=float, default=0.0,
                   help="starting units of every currency (default 0)")

    c = add("check", _cmd_check, "judge an exchange file or a run folder's invariants")
    c.add_argument("target", help="exchange file or run folder")
    c.add_argument("--repair", action="store_true",
                   help="roll back unfinished transactions and drain ledger rings")
    c.add_argument("--replay", action="store_true",
                   help="replay the run's trade log and compare with the final file")

    cm = add("compare", _cmd_compare, "run a comparison spec: variants x paired repeats")
    cm.add_argument("spec", help="comparison spec YAML")
    sw = add("sweep", _cmd_sweep, "run a sweep spec: a grid of overrides x paired repeats")
    sw.add_argument("spec", help="sweep spec YAML")
    for sp in (cm, sw):
        sp.add_argument("--scheduler", metavar="ADDR",
                        help="Dask scheduler to send the runs to (tcp://HOST:PORT); "
                             "default: Dask's configured one, else a local cluster")
        sp.add_argument("--jobs", type=positive_int,
                        help="runs at once on the local cluster (default: one per CPU)")
        sp.add_argument("--out", help="results root instead of ./results")

    w = add("watch", _cmd_watch, "live terminal view of an exchange file (read-only)")
    w.add_argument("file")
    w.add_argument("--interval", type=float, default=0.25, help="seconds between frames")
    w.add_argument("--once", action="store_true", help="print one frame and exit")
    w.add_argument("--seconds", type=float, help="stop after this many seconds")

    pl = add("plot", _cmd_plot, "draw a run folder's figures again")
    pl.add_argument("run_dir")

    add("schema", _cmd_schema, "print the scenario JSON Schema")
    add("header", _cmd_header, "print the C header generated from the file layout")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except SimError as e:
        print(f"sim {args.command}: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print(f"sim {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def entry() -> NoReturn:
    """The ``sim`` command: :func:`main`, then a fast exit.

    Tearing the interpreter down (every module of numpy, pydantic and pyarrow, object by
    object) takes a quarter of a second after a run has written and closed all its files.
    The exit handlers run and the standard streams are flushed as usual; only that
    teardown is skipped, and only when no other thread is left that a normal exit would
    wait for.
    """
    status = main()
    if threading.active_count() > 1:
        raise SystemExit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            status = status or 1
    os._exit(status)
