"""A whole run: create the file, start monitor and traders, watch, stop, settle, report.

Traders are ``multiprocess`` processes started with the ``fork`` context and supervised
through their sentinels (never a pool or a queue: a SIGKILLed worker would hang those).
External programs (``command`` groups, e.g. the C trader) are supervised as
subprocesses. Stopping is a store of ``stopping`` into the header's run state; every
join is bounded, a trader that does not stop is killed and its journal settled.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import multiprocess
import multiprocess.connection
import numpy as np

from sim.config.scenario import Scenario
from sim.core import layout as L
from sim.core.exchange import BookSpec, CurrencySpec, Exchange, Funding, pid_alive
from sim.core.ledger import drain_writer
from sim.core.quiescence import settle
from sim.core.transaction import recover_writer
from sim.errors import BadInput, BadScenario, SimError
from sim.harness.faults import KillCounts, in_recovery, stop_and_kill
from sim.harness.monitor import MONITOR_DIR
from sim.harness.preflight import check_results_root, check_runnable
from sim.harness.processes import TraderProcess, assign_writers, monitor_entry, trader_entry
from sim.harness.rundir import (
    INCOMPLETE,
    SCENARIO_FILE,
    claim_run_dir,
    group_label,
    make_run_dir,
    mark_complete,
    scenario_text,
)
from sim.harness.summary import (
    Death,
    PeakRss,
    RunSummary,
)
from sim.market.trader import AgentSpec, GroupSpec, TraderSpec

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["RunOutcome", "resume_run", "run_scenario"]

JOIN_TIMEOUT_S: Final = 5.0
READY_TIMEOUT_S: Final = 120.0
READY_POLL_S: Final = 0.001
TICK_S: Final = 0.05
# How long after a kill inside a transaction the trader that settles it is looked for
# (beyond the scenario's pause in recovery), and how often.
SETTLER_WAIT_S: Final = 0.002
SETTLER_POLL_S: Final = 0.0001


@dataclass
class RunOutcome:
    run_dir: Path
    summary: RunSummary
    exit_status: int


class _Interrupted:
    def __init__(self) -> None:
        self.flag = False

    def __call__(self, signum: int, frame: object) -> None:
        self.flag = True


def _currency_specs(scn: Scenario) -> list[CurrencySpec]:
    books = scn.book_currencies
    return [CurrencySpec(c.name, 0, 0, BookSpec(scn.book_price_base(i), scn.price_step,
                                                scn.lot_minor, c.rate))
            if i in books else
            CurrencySpec(c.name, scn.minor(c.rate * c.reserve), scn.minor(c.reserve))
            for i, c in enumerate(scn.currencies)]


class Run:
    """The state of one run while it goes; ``run_scenario`` drives it."""

    def __init__(self, scn: Scenario, run_dir: Path, out: IO[str] | None,
                 resumed: int = 0, hosts: list[int] | None = None) -> None:
        self.scn = scn
        self.out = out
        self.run_dir = run_dir
        self.resumed = resumed
        self.path = str(self.run_dir / L.EXCHANGE_FILE)
        self.ctx = multiprocess.get_context("fork")
        self.plan = scn.trader_plan()
        self.group_index = [i for i, g in enumerate(scn.traders) for _ in range(g.count)]
        self.csv = False
        # A resumed run draws fresh streams: replaying the first segment's orders on
        # moved prices would mean nothing. A resumed file keeps its agents' writers.
        self.generation: tuple[int, ...] = (4, resumed) if resumed else ()
        self.hosts = hosts if hosts is not None else assign_writers(scn)
        self.groups = tuple(GroupSpec(g.strategy, dict(g.params), g.arrival.kind,
                                      g.arrival.rate_hz) for g in scn.traders)
        self.traders: list[TraderProcess] = self._processes()
        self.monitor: Any = None
        self.monitor_exit = ""
        self.rss = PeakRss(coordinator=None, monitor=None, traders={})
        self.seq_at_start = 0
        self.arrivals_at_start = 0
        self.killed = KillCounts()
        self.restarts = 0
        self.monitor_generation = 0
        self.monitor_deaths: list[str] = []
        self.interrupted = _Interrupted()
        self.progress = bool(out is not None and out.isatty())
        # The progress bar and its task, once shown.
        self._progress: tuple[Progress, TaskID] | None = None
        self.faults = scn.faults
        self.fault_rng = np.random.default_rng([scn.seed, 3])
        self.news_rng = np.random.default_rng([scn.seed, 2])

    def _processes(self) -> list[TraderProcess]:
        by_writer: dict[int, list[int]] = {}
        for a, w in enumerate(self.hosts):
            by_writer.setdefault(w, []).append(a)
        out = []
        for w in sorted(by_writer):
            accounts = by_writer[w]
            g0 = self.plan[accounts[0]]
            names = sorted({group_label(self.plan[a]) for a in accounts})
            label = names[0] if len(names) == 1 else "+".join(names)
            agents = tuple(AgentSpec(a, self.group_index[a]) for a in accounts)
            out.append(TraderProcess(w, label, agents,
                                     g0 if g0.command is not None else None))
        return out

    @property
    def n_writers(self) -> int:
        return max(self.hosts) + 1 if self.hosts else 0

    # ------------------------------------------------------------------ setup
    def create(self) -> Exchange:
        scn = self.scn
        ex = Exchange.create(
            self.path, _currency_specs(scn), n_writers=self.n_writers + scn.spare_slots,
            n_accounts=len(self.plan) + scn.spare_slots, ring_rows=scn.ring_rows,
            scale=scn.scale, fee_bps=scn.fee_bps, sync=scn.sync,
            schedule=L.SCHEDULE_DETERMINISTIC if scn.schedule == "deterministic"
            else L.SCHEDULE_FREE,
            race_window_ns=int(scn.race_window_us * 1000),
            lock_timeout_ms=max(1, int(scn.lock_timeout_s * 1000)),
            book_shape=(scn.book.ticks, scn.book.capacity, scn.book.max_fills))
        n_cur = len(scn.currencies)
        ex.fund_accounts(
            [Funding(w, scn.minor(g.cash), [scn.minor(g.holdings)] * n_cur, gi)
             for w, g, gi in zip(self.hosts, self.plan, self.group_index, strict=True)],
            {t.writer: L.KIND_C if t.command is not None else L.KIND_TRADER
             for t in self.traders})
        ex.set_header_int("coordinator_pid", os.getpid())
        return ex

    def _spec(self, t: TraderProcess) -> TraderSpec:
        scn = self.scn
        det = scn.schedule == "deterministic"
        gen = self.generation + ((1, t.generation) if t.generation else ())
        n_proc = sum(1 for x in self.traders if x.command is None)
        return TraderSpec(
            path=self.path, writer=t.writer, agents=t.agents, groups=self.groups,
            seed=scn.seed, generation=gen,
            pause_in_txn_s=scn.faults.pause_in_txn_us / 1e6, pause_prob=scn.faults.pause_prob,
            pause_in_recovery_s=scn.faults.pause_in_recovery_us / 1e6,
            max_orders=scn.max_trades if det else None, deterministic=det,
            n_processes=n_proc, n_agents=len(self.plan),
            # Spin on the turn word only when every process (and the monitor's short
            # bursts aside) can have a CPU: a spinner on a shared CPU steals the time of
            # the very process it waits for.
            spin=n_proc <= len(os.sched_getaffinity(0)), market=scn.market)

    def _start_trader(self, t: TraderProcess) -> None:
        if t.command is not None:
            seed = np.random.SeedSequence([self.scn.seed, 6, *self.generation,
                                           t.writer, t.generation])
            t.popen = self._start_command(t, int(seed.generate_state(1)[0]))
        else:
            t.proc = self.ctx.Process(target=trader_entry, args=(self._spec(t),),
                                      name=f"trader-{t.writer}", daemon=False)
            t.proc.start()
        t.started = time.monotonic()

    def _start_command(self, t: TraderProcess, seed: int) -> subprocess.Popen[bytes]:
        g = t.command
        assert g is not None
        account = t.agents[0].account
        args = [a.format(exchange=self.path, writer=t.writer, account=account, seed=seed)
                for a in g.command or ()]
        log = open(self.run_dir / f"external-{t.writer:04d}.log", "wb")  # noqa: SIM115
        try:
            return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        except OSError as e:
            raise BadScenario(f"traders[{self.group_index[account]}].command: cannot run "
                              f"{args[0]!r}: {e.strerror}") from None
        finally:
            log.close()

    def _start_monitor(self) -> None:
        scn = self.scn
        self.monitor = self.ctx.Process(
            target=monitor_entry,
            args=(self.path, str(self.run_dir / MONITOR_DIR), scn.monitor.interval_ms / 1e3,
                  scn.monitor.audit_ms / 1e3, len(scn.traders), self.monitor_generation,
                  scn.monitor.depth_ms / 1e3,
                  None if scn.monitor.alternate_ms is None else scn.monitor.alternate_ms / 1e3),
            name="monitor")
        self.monitor.start()

    def start(self, ex: Exchange) -> None:
        scn = self.scn
        if scn.monitor.enabled:
            self._start_monitor()
        for t in self.traders:
            ex.q[ex.wword(t.writer, "ready_ns")] = 0
            self._start_trader(t)
        self._wait_ready(ex)
        start_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        if scn.schedule == "deterministic":
            ex.set_header_int("turns", 0)
            ex.set_header_int("turn", L.NO_SLOT)
        self.seq_at_start = sum(ex.book(c).counter("fills") if ex.is_book(c)
                                else ex.q[ex.cword(c, "seq")]
                                for c in range(ex.geo.n_currencies))
        self.arrivals_at_start = sum(ex.q[ex.wword(t.writer, "arrivals")] for t in self.traders)
        if not self.resumed:
            # A resumed run keeps the clock of the first: ledger times stay ordered.
            ex.set_header_int("start_ns", start_ns)
        ex.set_header_int("run_state", L.RUN_RUNNING)

    def _wait_ready(self, ex: Exchange) -> None:
        """Until every trader process has set up its agents (thousands take a while), so
        that the run's clock starts when they can trade; bounded, and a process that
        died meanwhile is the supervisor's business."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        for t in self.traders:
            if t.command is not None:
                continue
            w = ex.wword(t.writer, "ready_ns")
            while ex.q[w] == 0 and t.alive() and not self.interrupted.flag:
                if time.monotonic() > deadline:
                    raise SimError(f"trader process of writer {t.writer} not ready after "
                                   f"{READY_TIMEOUT_S:g} s")
                time.sleep(READY_POLL_S)

    # ------------------------------------------------------------------ supervision
    def supervise(self, ex: Exchange) -> str:
        """Watch the run until it should stop; returns why it stopped."""
        scn = self.scn
        start = time.monotonic()
        next_kill = start + self.faults.after_s
        next_news = start
        news_every = scn.fundamental.interval_ms / 1e3
        seq_words = [ex.cword(c, "seq") for c in range(ex.geo.n_currencies)]
        last_show = 0.0
        while True:
            now = time.monotonic()
            elapsed = now - start
            trades = sum(ex.q[w] for w in seq_words)
            ex.set_header_int("heartbeat_ns", time.clock_gettime_ns(time.CLOCK_MONOTONIC))
            if self.progress and now - last_show >= 0.2:
                self._show(elapsed, trades)
                last_show = now
            if self.interrupted.flag:
                return "interrupted"
            if scn.schedule == "deterministic":
                if scn.max_trades is not None and ex.header_int("turns") >= scn.max_trades:
                    return "trade budget"
            elif scn.max_trades is not None and trades >= scn.max_trades:
                return "trade budget"
            # A kill that is due happens even on a tick that comes late, past the end.
            if self.faults.kill_traders > self.killed.kills and now >= next_kill:
                self._kill_one(ex)
                # From when it was due: a late tick does not slow the storm down.
                next_kill = max(next_kill + self.faults.every_s, now)
            if elapsed >= scn.duration_s:
                return "duration"
            if (scn.faults.kill_monitor_after_s is not None and self.monitor is not None
                    and self.monitor_generation == 0 and self.monitor.is_alive()
                    and elapsed >= scn.faults.kill_monitor_after_s):
                os.kill(self.monitor.pid, signal.SIGKILL)
            if scn.fundamental.sigma > 0 and now >= next_news:
                self._publish_news(ex)
                next_news = now + news_every
            self._reap_dead(ex)
            self._watch_monitor(ex)
            # Ended for good (done, or dead and not restarted): one killed since the
            # reaping above is restarted on the next tick.
            if all(t.exit for t in self.traders):
                return "all traders ended"
            sentinels = [t.proc.sentinel for t in self.traders if t.proc is not None
                         and t.alive()]
            if self.monitor is not None and self.monitor.is_alive():
                sentinels.append(self.monitor.sentinel)
            # Woken at the end, not up to a tick past it.
            wait = min(TICK_S, max(0.0, start + scn.duration_s - time.monotonic()))
            if self.faults.kill_traders > self.killed.kills:
                wait = min(wait, max(0.0, next_kill - time.monotonic()))
            multiprocess.connection.wait(sentinels, timeout=wait)

    def _show(self, elapsed: float, trades: int) -> None:
        assert self.out is not None
        if self._progress is None:
            # Imported here: only a terminal shows progress, and rich costs 30 ms.
            from rich.progress import BarColumn, Progress, TextColumn

            from sim.viz.terminal import console

            bar = Progress(
                TextColumn("  "), BarColumn(bar_width=24),
                TextColumn("{task.completed:6.1f}/{task.total:g} s"),
                TextColumn("trades {task.fields[trades]:>12,}"),
                TextColumn("{task.fields[rate]:>12,.0f} trades/s"),
                console=console(self.out), transient=False, auto_refresh=False)
            self._progress = bar, bar.add_task("run", total=self.scn.duration_s, trades=0,
                                               rate=0.0)
            bar.start()
        bar, task = self._progress
        rate = trades / elapsed if elapsed > 0 else 0.0
        bar.update(task, completed=min(elapsed, self.scn.duration_s), trades=trades,
                   rate=rate, refresh=True)

    def end_show(self) -> None:
        if self._progress is not None:
            self._progress[0].stop()
            self._progress = None

    def _publish_news(self, ex: Exchange) -> None:
        sigma = self.scn.fundamental.sigma
        for c in range(ex.geo.n_currencies):
            w = ex.cword(c, "fundamental")
            ex.d[w] = ex.d[w] * math.exp(sigma * float(self.news_rng.standard_normal()))

    def _kill_one(self, ex: Exchange) -> None:
        """One kill, not waited for: the sentinel tells the supervisor when it is dead."""
        mon = self.monitor
        if (self.faults.monitor_share > 0 and mon is not None and mon.is_alive()
                and self.fault_rng.random() < self.faults.monitor_share):
            stop_and_kill(ex, int(mon.pid), None, self.killed)
            return
        alive = [t for t in self.traders if not t.doomed and t.alive()]
        if not alive:
            return
        victim = alive[int(self.fault_rng.integers(len(alive)))]
        in_txn = self.killed.in_transaction
        victim.doomed = stop_and_kill(ex, victim.pid(), victim.writer, self.killed)
        pause = self.scn.faults.pause_in_recovery_us / 1e6
        if (pause > 0 and self.killed.in_transaction > in_txn
                and self.killed.kills < self.faults.kill_traders):
            self._kill_settler(ex, time.monotonic() + pause + SETTLER_WAIT_S)

    def _kill_settler(self, ex: Exchange, deadline: float) -> None:
        """Kill the trader that settles the transaction just cut short, while it does.

        The next trader to take the dead one's lock rolls its transaction back at once,
        within microseconds (a scenario's ``pause_in_recovery_us`` stretches it), long
        before the next kill is due: only a kill that follows this one catches it."""
        while time.monotonic() < deadline:
            for t in self.traders:
                if not t.doomed and t.alive() and in_recovery(ex, t.pid(), t.writer):
                    t.doomed = stop_and_kill(ex, t.pid(), t.writer, self.killed)
                    return
            time.sleep(SETTLER_POLL_S)

    def _watch_monitor(self, ex: Exchange) -> None:
        """A monitor that died while the run goes on is restarted (with ``restart``): it
        streams its counts, so the checks of every generation are counted."""
        mon = self.monitor
        if mon is None or mon.is_alive() or mon.exitcode == 0:
            return
        if not self.faults.restart or ex.header_int("run_state") != L.RUN_RUNNING:
            return
        code = mon.exitcode
        self.monitor_deaths.append(f"signal {-code}" if code is not None and code < 0
                                   else f"exit status {code}")
        self.monitor_generation += 1
        self._start_monitor()

    def _reap_dead(self, ex: Exchange) -> None:
        for t in self.traders:
            if t.alive() or t.exit:
                continue
            code = t.exitcode()
            if code == 0:
                t.exit = "done"
                continue
            restart = self.faults.restart and ex.header_int("run_state") == L.RUN_RUNNING
            self._bury(ex, t, code, restarted=restart)
            if restart:
                self.restarts += 1
                t.exit = ""
                t.doomed = False
                ex.q[ex.wword(t.writer, "status")] = L.SLOT_ACTIVE
                t.proc = t.popen = None
                t.generation += 1
                self._start_trader(t)

    def _bury(self, ex: Exchange, t: TraderProcess, code: int | None, *,
              restarted: bool = False) -> None:
        """A trader died: settle its journal and ring so the others never wait on it."""
        ex.q[ex.wword(t.writer, "status")] = L.SLOT_DEAD
        rolled = recover_writer(ex, t.writer)
        drain_writer(ex, t.writer)
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        # ``restarted`` is in the file only for a process that was restarted.
        t.deaths.append(Death(writer=t.writer, how=how, rolled_back=rolled,
                              t=round(time.monotonic() - t.started, 3),
                              **({"restarted": True} if restarted else {})))
        t.exit = how

    # ------------------------------------------------------------------ stop
    def peak_rss(self) -> PeakRss:
        """Peak resident set (VmHWM, kB) of every live process of the run, read now."""
        return PeakRss(
            coordinator=_vm_hwm(os.getpid()),
            monitor=_vm_hwm(self.monitor.pid) if self.monitor is not None else None,
            traders={t.writer: _vm_hwm(t.pid()) for t in self.traders if t.alive()})

    def stop(self, ex: Exchange) -> float:
        """Tell every process to stop, reap them (killing what does not stop); returns
        when they were told (trading went on until then)."""
        self.rss = self.peak_rss()
        ex.set_header_int("run_state", L.RUN_STOPPING)
        told = time.monotonic()
        deadline = told + JOIN_TIMEOUT_S
        for t in self.traders:
            t.reap(max(0.0, deadline - time.monotonic()))
        for t in self.traders:
            if t.alive():
                t.kill()
                t.reap(JOIN_TIMEOUT_S)
                self._bury(ex, t, t.exitcode())
                t.exit = "did not stop; killed"
            elif not t.exit:
                code = t.exitcode()
                if code == 0:
                    t.exit = "done"
                else:
                    self._bury(ex, t, code)
        if self.monitor is not None:
            self.monitor.join(JOIN_TIMEOUT_S)
            if self.monitor.is_alive():
                self.monitor.kill()
                self.monitor.join(JOIN_TIMEOUT_S)
                self.monitor_exit = "did not stop; killed"
            elif self.monitor.exitcode != 0:
                code = self.monitor.exitcode
                self.monitor_exit = (f"died (signal {-code})" if code < 0
                                     else f"failed (exit status {code})")
            else:
                self.monitor_exit = "done"
            if self.monitor_deaths:
                self.monitor_exit += (f"; restarted {len(self.monitor_deaths)} times "
                                      f"(after {_tally(self.monitor_deaths)})")
        return told


def run_scenario(scn: Scenario, root: Path, out: IO[str] | None = sys.stdout, *,
                 figures: bool = True, csv: bool = False,
                 run_dir: Path | None = None) -> RunOutcome:
    """Run one scenario end to end and write its results folder.

    The folder's ``scenario.yaml`` is ``scn`` itself, as validated (overrides included).
    ``figures=False`` skips the PNGs (``sim plot`` draws them later), for callers that
    run many short scenarios and read only the numbers; ``csv`` adds trades.csv beside
    trades.parquet; ``run_dir`` (new, or an empty folder) replaces ``root/<name>/<run-id>``.
    """
    check_runnable(scn)
    if run_dir is None:
        check_results_root(root)
    run_dir = make_run_dir(root, scn.name, scn.seed) if run_dir is None \
        else claim_run_dir(run_dir)
    (run_dir / SCENARIO_FILE).write_text(scenario_text(scn))
    run = Run(scn, run_dir, out)
    run.csv = csv
    return _drive(run, run.create(), figures)


def resume_run(run_dir: Path, out: IO[str] | None = sys.stdout,
               duration_s: float | None = None) -> RunOutcome:
    """Continue trading on the exchange file of a run whose coordinator died.

    Everything the dead left is settled first (journals rolled back, rings drained), the
    locks are re-initialised (no process may still be attached: that is checked), and
    the same agents trade again on the same accounts, hosted by the same writers (as the
    file records them), for the scenario's duration or ``duration_s``.
    """
    from sim.config.scenario import load_scenario

    if not (run_dir / INCOMPLETE).exists():
        raise BadInput(f"{run_dir}: not an unfinished run folder (no {INCOMPLETE} marker); "
                       f"a finished run is not resumed: start a new one with sim run "
                       f"{run_dir / SCENARIO_FILE}")
    overrides = {"duration_s": duration_s} if duration_s is not None else None
    scn = load_scenario(run_dir / SCENARIO_FILE, overrides)
    check_runnable(scn)
    ex = Exchange.open(str(run_dir / L.EXCHANGE_FILE))
    try:
        h = ex.header()
        pids = [int(h["coordinator_pid"])] + [int(p) for p in ex.writers()["pid"]]
        live = [p for p in pids if p > 0 and p != os.getpid() and pid_alive(p)]
        if live:
            raise BadInput(f"{run_dir}: process {live[0]} is still attached to its "
                           "exchange file; stop it first")
        ex.reinit_locks()
        settle(ex)
        resumed = int((run_dir / "resumed").read_text()) + 1 if (
            run_dir / "resumed").exists() else 1
        (run_dir / "resumed").write_text(f"{resumed}\n")
        n_agents = scn.n_traders
        hosts = [int(w) for w in ex.accounts()["writer"][:n_agents]]
        if n_agents > ex.geo.n_accounts or min(hosts, default=0) < 0:
            raise BadInput(f"{run_dir}: the exchange file does not hold the scenario's "
                           f"{n_agents} funded agents")
        run = Run(scn, run_dir, out, resumed, hosts)
        for t in run.traders:
            ex.q[ex.wword(t.writer, "status")] = L.SLOT_ACTIVE
        ex.set_header_int("run_state", L.RUN_INIT)
        ex.set_header_int("coordinator_pid", os.getpid())
    except BaseException:
        ex.close()
        raise
    return _drive(run, ex, True)


def _drive(run: Run, ex: Exchange, figures: bool) -> RunOutcome:
    old_int = signal.signal(signal.SIGINT, run.interrupted)
    t0 = time.monotonic()
    reason = "error"
    try:
        run.start(ex)
        t0 = time.monotonic()
        reason = run.supervise(ex)
    finally:
        duration = run.stop(ex) - t0
        signal.signal(signal.SIGINT, old_int)
        run.end_show()
    settled = settle(ex)
    # Imported only now: the end of a run needs pyarrow, and none of it may delay the
    # first trade (nor sit in the forked processes' memory).
    from sim.harness.finish import finish_run

    summary = finish_run(run, ex, reason, duration, settled, figures)
    ex.set_header_int("run_state", L.RUN_CLEAN)
    ex.set_header_int("global_seq", summary.trades)
    ex.close()
    mark_complete(run.run_dir)
    status = 0 if summary.passed else 1
    return RunOutcome(run.run_dir, summary, status)


def _tally(items: list[str]) -> str:
    counts: dict[str, int] = {}
    for x in items:
        counts[x] = counts.get(x, 0) + 1
    return ", ".join(f"{n} x {x}" for x, n in counts.items())


def _vm_hwm(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
