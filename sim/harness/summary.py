"""The typed run summary: what ``summary.json`` holds, written and read through one model.

The coordinator builds a :class:`RunSummary` at the end of a run and writes it with
:func:`write_summary`; everything that reads a run's results (the terminal report, the
comparison runner and analysis, the benchmarks) gets one back from :func:`load_summary`.
Field names and nesting are the file's keys, which other tools read: they do not change.

Some keys appear only in some runs (a disabled monitor reports ``enabled`` alone; a death
says ``restarted`` only when the trader was restarted; ``plot_error`` only when a figure
failed). Those fields default to None and the file holds only the fields that were set
(``exclude_unset``), so a summary read back and written again is the same file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from sim.errors import BadInput
from sim.harness.rundir import write_json
from sim.viz.book_stats import (
    best_quotes,
    depth_summary,
    mid_returns,
    return_facts,
    spread_summary,
    trade_returns,
    volume_summary,
)
from sim.viz.returns import market_stats

if TYPE_CHECKING:
    # Types only: the tables' module imports pyarrow (see sim.harness.finish).
    from sim.viz.book_data import BookTables

__all__ = [
    "SUMMARY_FILE",
    "BookStats",
    "CurrencyResult",
    "Death",
    "DepthStats",
    "FaultCounts",
    "InvariantCount",
    "MarketStats",
    "MonitorStats",
    "PeakRss",
    "ProcessResult",
    "ReturnStats",
    "RunSummary",
    "SpreadStats",
    "TradeReturnStats",
    "TraderResult",
    "Versions",
    "VolumeStats",
    "book_stats",
    "load_summary",
    "market_summary",
    "write_summary",
]

SUMMARY_FILE: Final = "summary.json"


class _Record(BaseModel):
    # Frozen: a summary is a record of what happened. Unknown keys are refused, so a
    # reader and the writer cannot drift apart without a test noticing.
    model_config = ConfigDict(frozen=True, extra="forbid")

    def as_json(self) -> dict[str, Any]:
        """The JSON-ready mapping, holding exactly the fields that were set."""
        return self.model_dump(mode="json", exclude_unset=True)


class InvariantCount(_Record):
    """How often an invariant was checked and how many of those checks failed; the
    monitor also says at what rate (samples check pools and running totals, audits every
    account)."""

    checks: int
    violations: int
    rate_hz: float | None = None


class Versions(_Record):
    python: str
    numpy: str
    sim: str


class MonitorStats(_Record):
    """The monitor's own account (``monitor/monitor.json``) plus how its process ended.

    Disabled: ``enabled`` only. A monitor that died before writing its account: the
    sample counts the coordinator could reconstruct, empty ``invariants``.
    """

    samples: int | None = None
    samples_asked: int | None = None
    sample_ratio: float | None = None
    interval_s: float | None = None
    slice_ns: int | None = None
    cpu_s: float | None = None
    cpu_share: float | None = None
    torn: int | None = None
    locked_snapshots: int | None = None
    # How each snapshot was made: optimistic (no lock), every lock tried without waiting,
    # every lock waited for.
    optimistic_snapshots: int | None = None
    trylock_snapshots: int | None = None
    waited_snapshots: int | None = None
    rolled_back: int | None = None
    recorded_violations: int | None = None
    audits: int | None = None
    audit_cpu_s: float | None = None
    invariants: dict[str, InvariantCount] | None = None
    # Locks the monitor found held too long (monitor/stalls.jsonl says which and who),
    # and how many monitor processes ran (the first and each restart).
    lock_stalls: int | None = None
    generations: int | None = None
    enabled: bool | None = None
    exit: str | None = None


class PeakRss(_Record):
    """Peak resident set (VmHWM, kB) of each process still alive at the stop."""

    coordinator: int | None
    monitor: int | None
    traders: dict[int, int | None]


class FaultCounts(_Record):
    kills: int
    kills_in_transaction: int
    # Kills of a trader settling a dead writer's transaction, and of the monitor.
    kills_in_recovery: int | None = None
    monitor_kills: int | None = None
    # When the first and the last kill happened (s since the run's start).
    first_kill_s: float | None = None
    last_kill_s: float | None = None
    restarts: int
    rolled_back: int


class CurrencyResult(_Record):
    name: str
    initial_rate: float
    final_rate: float
    trades: int


class ReturnStats(_Record):
    """Stylized facts of log returns between the monitor's samples; None: too few."""

    n: int
    excess_kurtosis: float | None
    acf1_returns: float | None
    acf1_abs_returns: float | None


class SpreadStats(_Record):
    """A book's quoted spread over the monitor's samples that had both sides: median,
    mean and 90th percentile in ticks and in basis points of the mid (None: no such
    sample)."""

    samples: int
    both_sides: int
    median_ticks: float | None
    mean_ticks: float | None
    p90_ticks: float | None
    median_bps: float | None
    mean_bps: float | None
    p90_bps: float | None


class DepthStats(_Record):
    """Median units resting at the best level and within the best ``levels`` levels of
    each side, over the depth snapshots (an empty side counts as zero; None: none)."""

    snapshots: int
    levels: int
    bid_best: float | None
    bid_within: float | None
    ask_best: float | None
    ask_within: float | None


class VolumeStats(_Record):
    """A book's fills, the units and cash they moved (minor units, exact), and the orders
    placed (rested) and cancelled (None: the run has no orders table)."""

    fills: int
    units: int
    cash: int
    placed: int | None
    cancelled: int | None


class TradeReturnStats(_Record):
    """Stylized facts of trade-time log returns (between successive fills): excess
    kurtosis, ACF of returns and of absolute returns at lags 1..10 (None: too few), and
    the 95 % band of an uncorrelated series, 1.96/sqrt(n)."""

    n: int
    excess_kurtosis: float | None
    acf: list[float | None]
    acf_abs: list[float | None]
    band: float | None


class BookStats(_Record):
    """One limit order book: its tick (cash per unit; None: unknown), spread, depth,
    volume and trade-time returns."""

    tick: float | None
    spread: SpreadStats
    depth: DepthStats
    volume: VolumeStats
    returns: TradeReturnStats
    # The same facts of the mid's log returns between the monitor's samples where both
    # quotes exist: free of the bid-ask bounce that fill-to-fill returns carry.
    mid_returns: TradeReturnStats | None = None


class MarketStats(_Record):
    """What the run's prices did: stylized facts of the sampled returns, and drift.

    ``pooled`` standardizes each currency's returns before pooling them (see
    :func:`sim.viz.returns.market_stats`). ``log_return_mean`` is the mean over currencies
    of log(final rate / initial rate) and ``log_return_t`` that mean over its standard
    error: with unbiased noise alone and independent pools, Student's t with
    ``currencies - 1`` degrees of freedom (None below two currencies or at no spread).
    """

    sample_interval_ms: float | None
    pooled: ReturnStats
    per_currency: list[ReturnStats]
    log_return_mean: float | None
    log_return_t: float | None
    # Per book currency, by name; absent from pool runs and older summaries.
    books: dict[str, BookStats] | None = None


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _returns(d: dict[str, Any]) -> ReturnStats:
    return ReturnStats(n=int(d["n"]), excess_kurtosis=_num(d["excess_kurtosis"]),
                       acf1_returns=_num(d["acf1_returns"]),
                       acf1_abs_returns=_num(d["acf1_abs_returns"]))


def book_stats(samples: Mapping[str, np.ndarray[Any, Any]], tables: BookTables,
               books: Sequence[str], ticks: Mapping[str, float]) -> dict[str, BookStats]:
    """The statistics of each book currency (by name) from the samples' ``bid`` and
    ``ask`` (absent: no spread) and the run's book tables; ``ticks`` is each book's price
    step in cash per unit."""
    def model(cls: type[_Record], x: Any) -> Any:
        return cls.model_validate(dataclasses.asdict(x))

    out: dict[str, BookStats] = {}
    nothing = np.zeros(0)
    for name in books:
        bid, ask = best_quotes(samples, name) or (nothing, nothing)
        fills = tables.fills.get(name)
        orders = None if tables.orders is None else tables.orders.get(name)
        out[name] = BookStats(
            tick=ticks.get(name),
            spread=model(SpreadStats, spread_summary(bid, ask, ticks.get(name))),
            depth=model(DepthStats, depth_summary(tables.depth.get(name))),
            volume=model(VolumeStats, volume_summary(fills, orders, tables.orders is not None)),
            returns=model(TradeReturnStats, return_facts(trade_returns(fills))),
            mid_returns=model(TradeReturnStats, return_facts(mid_returns(bid, ask))))
    return out


def market_summary(t: np.ndarray[Any, Any], rate: np.ndarray[Any, Any],
                   initial: list[float], final: list[float],
                   books: dict[str, BookStats] | None = None) -> MarketStats:
    """The market statistics of a run from its samples (times ``t`` in seconds, rates
    S x C), each currency's initial and final rate, and its books' statistics."""
    st = market_stats(rate)
    dt = np.diff(np.asarray(t, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log(np.asarray(final, dtype=np.float64) / np.asarray(initial, dtype=np.float64))
    lr = lr[np.isfinite(lr)]
    mean = t_stat = None
    if len(lr):
        mean = float(lr.mean())
    if len(lr) >= 2 and float(lr.std(ddof=1)) > 0:
        t_stat = float(lr.mean() / (lr.std(ddof=1) / math.sqrt(len(lr))))
    return MarketStats(
        sample_interval_ms=round(float(np.median(dt)) * 1e3, 3) if len(dt) else None,
        pooled=_returns(st["pooled"]),
        per_currency=[_returns(c) for c in st["per_currency"]],
        log_return_mean=mean, log_return_t=t_stat,
        **({"books": books} if books else {}))


class Death(_Record):
    """One death of a trader process (its writer): how, and whether its transaction was
    undone."""

    writer: int
    how: str
    rolled_back: bool
    t: float
    restarted: bool | None = None


class TraderResult(_Record):
    """One scenario group of agents, summed (``agents.parquet`` has one row per agent),
    with percentiles of its agents' final wealth."""

    id: int
    strategy: str
    agents: int
    initial_wealth: float
    final_wealth: float
    trades: int
    rejected: int
    final_wealth_percentiles: dict[str, float]
    # The arrival rate the scenario asked of each agent of the group (None: as fast as
    # it can).
    asked_hz: float | None = None


class ProcessResult(_Record):
    """One trader process: its writer, how many agents it hosted, how it ended."""

    writer: int
    strategy: str
    agents: int
    trades: int
    rollbacks: int
    exit: str
    deaths: list[Death]


class RunSummary(_Record):
    """Everything ``summary.json`` says about one run."""

    scenario: str
    seed: int
    run_dir: str
    versions: Versions
    scenario_sha256: str
    sync: str
    schedule: str
    resumed: int
    n_traders: int
    n_processes: int
    joined_slots: list[int]
    duration_s: float
    stopped_by: str
    trades: int
    # Trades of this session alone: differs from trades (the whole run's) once resumed.
    session_trades: int | None = None
    # Book orders placed and cancelled (ledger rows beside the trades), on books only.
    order_events: int | None = None
    rejected: int
    trades_per_s: float
    # The widest pause between consecutive trades (ms) and when it began (s).
    longest_gap_ms: float | None = None
    longest_gap_at_s: float | None = None
    # Wall time of the work after trading: ledger, tables, summary, and figures.
    finish_s: float | None = None
    arrivals_per_s: float
    arrivals_asked_per_s: float
    scale: int
    invariants: dict[str, InvariantCount]
    live_violations: int
    final_ok: bool
    final_violations: dict[str, list[str]]
    expect_violations: bool
    passed: bool
    monitor: MonitorStats
    peak_rss_kb: PeakRss
    faults: FaultCounts
    currencies: list[CurrencyResult]
    traders: list[TraderResult]
    processes: list[ProcessResult]
    agents_table: str
    # Absent from summaries written before the market statistics existed.
    market: MarketStats | None = None
    plot_error: str | None = None


def write_summary(path: Path, summary: RunSummary) -> None:
    """Write ``summary`` to ``path`` atomically (a reader never sees half a file)."""
    write_json(path, summary.as_json())


def load_summary(path: Path) -> RunSummary:
    """Read a run's ``summary.json``; a missing or foreign file is one clear line."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file (expected a run summary)") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot read: {e.strerror}") from None
    try:
        return RunSummary.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise BadInput(f"{path}: not a run summary: {where}: {first['msg']} "
                       f"({e.error_count()} problem(s))") from None
