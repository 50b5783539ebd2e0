"""Scenario files: YAML loaded and validated into frozen, typed pydantic models.

A scenario says which market to build (currencies, scale, fee, sync policy), who trades
on it (groups of traders, each a strategy or an external command) and for how long, plus
fault injection and exogenous news. Every problem found is reported at once, in one line
of the form ``file: path.to[0].field: what was expected (found X); ...``, as
:class:`~sim.errors.BadScenario`.

Trader groups' ``params`` are validated by the chosen strategy's own ``Params`` model. That
happens in :func:`parse_scenario`, outside the pydantic models, so that one pass collects
the errors of every group together with the structural ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.config.loading import (
    CURRENCY_PATTERN,
    NAME_PATTERN,
    Float,
    Int,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Problem,
    StrictModel,
    fail,
    not_a_parent,
    one_line,
    parse_yaml,
    path_text,
    problems_error,
    read_text,
    show,
    unique_names,
    validation_problems,
    with_overrides,
)
from sim.core import layout as L
from sim.core.book_layout import MAX_CAPACITY, MAX_TICKS
from sim.core.exchange import MAX_ACCOUNTS, MAX_WRITERS
from sim.errors import BadScenario

__all__ = [
    "Arrival",
    "Currency",
    "Faults",
    "Fundamental",
    "MonitorConfig",
    "Scenario",
    "TraderGroup",
    "load_scenario",
    "parse_scenario",
    "scenario_schema",
    "strategy_params",
]

# Money is int64 minor units; staying below 2**53 keeps each amount exact as a float64 too
# and leaves ample headroom for sums over every pool and account.
MONEY_LIMIT: Final = 2**53
PLACEHOLDERS: Final = ("exchange", "writer", "account", "seed")
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
# What resolve() accepts as a plug-in strategy name, for the schema only.
PLUGIN_PATTERN: Final = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"



class Arrival(StrictModel):
    """When a trader sends orders, independently of what its strategy decides."""

    kind: Literal["asap", "fixed", "poisson"] = Field(
        default="asap",
        description="asap: back to back; fixed: every 1/rate_hz s; poisson: exponential "
                    "waits of mean 1/rate_hz s")
    rate_hz: PositiveFloat | None = Field(
        default=None,
        description="orders per second; required for fixed and poisson, not allowed for asap")

    @model_validator(mode="after")
    def _rate_matches_kind(self) -> Arrival:
        if self.kind == "asap" and self.rate_hz is not None:
            fail([(("rate_hz",), "not used with kind 'asap'; remove it or choose kind "
                                  "'fixed' or 'poisson'")])
        if self.kind != "asap" and self.rate_hz is None:
            fail([(("rate_hz",), f"required for kind '{self.kind}'")])
        return self


class TraderGroup(StrictModel):
    """A count of agents that share a strategy (or an external command) and an endowment.

    Agents of a strategy are hosted by the scenario's trader processes; each instance of
    a command is a process of its own, with one account."""

    count: Int = Field(gt=0, description="number of agents in this group")
    strategy: str = Field(
        default="random",
        description="built-in strategy name or module:Class; ignored when command is given")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="strategy parameters, checked by the strategy's own Params model")
    command: list[str] | None = Field(
        default=None, min_length=1,
        description="an external trader program and its arguments instead of a Python "
                    "strategy; {exchange}, {writer}, {account} and {seed} are substituted")
    cash: Float = Field(default=10_000.0, ge=0, description="home money units per agent")
    holdings: Float = Field(default=100.0, ge=0,
                            description="units of every currency per agent")
    arrival: Arrival = Arrival()

    @model_validator(mode="after")
    def _command_is_usable(self) -> TraderGroup:
        if self.command is None:
            return self
        problems: list[Problem] = []
        if self.params:
            problems.append((("params",), "must be empty when command is given (found "
                                          f"{show(self.params)})"))
        if not self.command[0].strip():
            problems.append((("command", 0), "the program must not be empty"))
        for i, arg in enumerate(self.command):
            # The coordinator calls str.format on every argument; catch bad braces now.
            try:
                arg.format(**dict.fromkeys(PLACEHOLDERS, ""))
            except (KeyError, IndexError, ValueError, AttributeError) as e:
                what = (f"unknown placeholder {{{e.args[0]}}}" if isinstance(e, KeyError)
                        else f"bad braces ({e})")
                problems.append((("command", i),
                                 f"{what} in {show(arg)}; expected {{exchange}}, {{writer}}, "
                                 "{account} or {seed}, and {{ }} for a literal brace"))
        fail(problems)
        return self


class Currency(StrictModel):
    """One traded currency and its market (a pool, or a limit order book) at the start."""

    name: str = Field(pattern=CURRENCY_PATTERN, description="code such as EUR")
    rate: Float = Field(gt=0, description="home money per unit at the start")
    reserve: Float = Field(default=100_000.0, gt=0,
                           description="units of this currency in its pool at the start; "
                                       "the pool's cash side is rate*reserve (pools only)")
    market: Literal["pool", "book"] | None = Field(
        default=None, description="this currency's market; default: the scenario's market")


class BookConfig(StrictModel):
    """The shape of every limit order book: its ladder, order records and lot."""

    ticks: Int = Field(default=4000, ge=3, le=MAX_TICKS,
                       description="price levels; the currency's rate sits at ticks // 2")
    tick: PositiveFloat = Field(default=0.0001, description="price step, cash per unit")
    lot: PositiveFloat = Field(default=1.0, description="units per lot: the order quantum")
    capacity: Int = Field(default=65_536, ge=1, le=MAX_CAPACITY - 1,
                          description="order records per book: resting orders at most")
    max_fills: Int = Field(default=64, ge=1, le=4096,
                           description="makers one order may fill; the rest is dropped")


class MonitorConfig(StrictModel):
    """The invariant monitor process."""

    enabled: bool = True
    interval_ms: PositiveFloat = Field(default=10.0, description="time between two samples "
                                                                 "(pools and writer totals)")
    audit_ms: PositiveFloat = Field(default=500.0,
                                    description="time between two audits of every account")
    depth_ms: PositiveFloat = Field(default=100.0,
                                    description="time between two reads of each book's top "
                                                "levels (depth.parquet; books only)")
    alternate_ms: PositiveFloat | None = Field(
        default=None,
        description="measure what the monitor costs: it samples (and audits) only in every "
                    "other window of this length from the run's start, and is idle in the "
                    "rest, which trade as if there were no monitor")


class Faults(StrictModel):
    """Fault injection: SIGKILLed traders, pauses inside the critical section."""

    kill_traders: Int = Field(default=0, ge=0, description="SIGKILLs sent to random traders")
    after_s: Float = Field(default=0.5, ge=0, description="time of the first kill")
    every_s: Float = Field(default=0.5, gt=0, description="time between kills")
    restart: bool = Field(default=False,
                          description="restart a killed trader on its own account")
    pause_in_txn_us: Float = Field(
        default=0.0, ge=0,
        description="pause inside the critical section, so kills land mid-transaction")
    pause_prob: Float = Field(default=0.0, ge=0, le=1,
                              description="probability a trade takes that pause")
    pause_in_recovery_us: Float = Field(
        default=0.0, ge=0,
        description="pause of a trader that rolls back a dead writer's transaction, "
                    "inside that recovery; a kill inside a transaction is then followed "
                    "by a kill of the trader that settles it, while it does")
    kill_monitor_after_s: NonNegativeFloat | None = Field(
        default=None, description="SIGKILL the monitor at this time")
    monitor_share: Float = Field(
        default=0.0, ge=0, le=1,
        description="share of the kills aimed at the monitor (restarted like a trader)")


class Fundamental(StrictModel):
    """Exogenous news: a log-normal random walk of each currency's fundamental value."""

    sigma: Float = Field(default=0.0, ge=0,
                         description="per-step volatility; 0 disables news")
    interval_ms: Float = Field(default=100.0, gt=0, description="time between two steps")


def _default_currencies() -> list[Currency]:
    return [Currency(name=n, rate=r, reserve=100_000.0)
            for n, r in (("EUR", 1.10), ("USD", 1.00), ("GBP", 1.27), ("CHF", 1.13))]


class Scenario(StrictModel):
    """A whole run: market, traders, duration, synchronization and faults."""

    name: str = Field(default="", pattern=NAME_PATTERN,
                      description="results folder name; defaults to the file's stem")
    description: str = ""
    seed: Int = Field(default=0, ge=0, le=2**63 - 1,
                      description="seed of every random choice of the run")
    duration_s: Float = Field(default=3.0, gt=0, description="wall-clock length of the run")
    max_trades: PositiveInt | None = Field(
        default=None, description="stop once this many trades were accepted in total")
    sync: Literal["none", "global", "per_currency", "ofd"] = Field(
        default="per_currency", description="how trades are serialized")
    schedule: Literal["free", "deterministic"] = Field(
        default="free", description="deterministic: traders take turns in a seeded order")
    scale: Int = Field(default=100, ge=1, le=1_000_000, description="minor units per unit")
    fee_bps: Int = Field(default=30, ge=0, le=9999, description="pool fee in basis points")
    market: Literal["pool", "book"] = Field(
        default="pool", description="every currency's market unless it names its own: "
                                    "a constant-product pool or a limit order book")
    book: BookConfig = BookConfig()
    currencies: list[Currency] = Field(default_factory=_default_currencies, min_length=1,
                                       max_length=L.MAX_CURRENCIES)
    traders: list[TraderGroup] = Field(min_length=1)
    processes: PositiveInt | None = Field(
        default=None,
        description="trader processes that host the strategy agents (default: the number "
                    "of CPUs, never more than the agents); command groups add their own")
    monitor: MonitorConfig = MonitorConfig()
    spare_slots: Int = Field(default=4, ge=0,
                             description="writers and accounts left free for late joiners")
    ring_rows: Int = Field(default=1024, ge=16, le=1_048_576,
                           description="ledger rows per writer")
    lock_timeout_s: Float = Field(default=10.0, gt=0, le=3600,
                                  description="bound on one lock wait")
    race_window_us: Float = Field(
        default=0.0, ge=0, description="sleep between read and write, widening races")
    expect_violations: bool = Field(
        default=False, description="invariant violations are the expected outcome")
    faults: Faults = Faults()
    fundamental: Fundamental = Fundamental()

    _not_a_parent = field_validator("name")(not_a_parent)

    @field_validator("currencies")
    @classmethod
    def _unique_names(cls, v: list[Currency]) -> list[Currency]:
        unique_names([c.name for c in v], "currency", "currencies")
        return v

    @model_validator(mode="after")
    def _fits(self) -> Scenario:
        problems: list[Problem] = []
        s = self.scale
        for i, c in enumerate(self.currencies):
            for field, amount, what in (("reserve", c.reserve * s, "units"),
                                        ("rate", c.rate * c.reserve * s, "cash")):
                if amount >= MONEY_LIMIT:
                    problems.append((("currencies", i, field),
                                     f"pool {what} {amount:.4g} minor units at scale {s} must "
                                     f"be < 2**53 ({MONEY_LIMIT:.4g})"))
                elif round(amount) < 1:
                    problems.append((("currencies", i, field),
                                     f"pool {what} rounds to 0 minor units at scale {s}"))
        problems.extend(self._book_problems())
        n = self.n_traders
        for field in ("cash", "holdings"):
            total = sum(g.count * getattr(g, field) for g in self.traders) * s
            if total >= MONEY_LIMIT:
                problems.append((("traders",), f"total trader {field} {total:.4g} minor units "
                                               f"at scale {s} must be < 2**53 "
                                               f"({MONEY_LIMIT:.4g})"))
        if n + self.spare_slots > MAX_ACCOUNTS:
            problems.append((("traders",), f"{n} agents + spare_slots {self.spare_slots} "
                                           f"need {n + self.spare_slots} accounts; at most "
                                           f"{MAX_ACCOUNTS}"))
        writers = self.n_processes + self.n_commands + self.spare_slots
        if writers > MAX_WRITERS:
            problems.append((("processes",), f"{writers} writers (processes, command "
                                             f"instances and spares); at most {MAX_WRITERS}"))
        if self.schedule == "deterministic":
            problems.extend(((("traders", i, "command"), "not allowed with schedule "
                                                         "'deterministic'")
                             for i, g in enumerate(self.traders) if g.command is not None))
        fail(problems)
        return self

    def _book_problems(self) -> list[Problem]:
        books = self.book_currencies
        if not books:
            return []
        b, s = self.book, self.scale
        out: list[Problem] = []
        lot = b.lot * s
        if abs(lot - round(lot)) > 1e-6 * max(1.0, lot) or round(lot) < 1:
            out.append((("book", "lot"), f"{b.lot} units is {lot:.6g} minor units at scale "
                                         f"{s}; expected a whole number >= 1"))
            return out
        step = b.tick * round(lot)
        if abs(step - round(step)) > 1e-6 * max(1.0, step) or round(step) < 1:
            out.append((("book", "tick"), f"{b.tick} cash per unit is {step:.6g} minor units "
                                          f"per lot at scale {s}; expected a whole number "
                                          ">= 1 (a larger tick, lot or scale)"))
            return out
        for c in books:
            base = self.book_price_base(c)
            if base < 1:
                rate = self.currencies[c].rate
                out.append((("currencies", c, "rate"),
                            f"{rate} with {b.ticks} ticks of {b.tick} puts tick 0 at "
                            f"{rate - b.ticks // 2 * b.tick:.6g}; expected a positive price "
                            "(fewer ticks or a smaller tick)"))
        need = 2 * (b.max_fills + 2)
        if self.ring_rows < need:
            out.append((("ring_rows",), f"{self.ring_rows} rows cannot hold one order's "
                                        f"{b.max_fills} fills between drains; expected at "
                                        f"least {need}"))
        return out

    @property
    def book_currencies(self) -> list[int]:
        """Currencies that trade on a limit order book."""
        return [i for i, c in enumerate(self.currencies)
                if (c.market or self.market) == "book"]

    @property
    def lot_minor(self) -> int:
        """Minor units of a currency per book lot."""
        return round(self.book.lot * self.scale)

    @property
    def price_step(self) -> int:
        """Cash minor units per lot per book tick."""
        return round(self.book.tick * self.lot_minor)

    def book_price_base(self, c: int) -> int:
        """Cash minor units per lot at tick 0 of currency ``c``'s book: its rate sits at
        tick ``ticks // 2``."""
        at_rate = round(self.currencies[c].rate * self.lot_minor / self.price_step)
        return (at_rate - self.book.ticks // 2) * self.price_step

    @property
    def n_traders(self) -> int:
        """Total number of agents over all groups."""
        return sum(g.count for g in self.traders)

    @property
    def n_commands(self) -> int:
        """Agents that are external programs, one process each."""
        return sum(g.count for g in self.traders if g.command is not None)

    @property
    def n_processes(self) -> int:
        """Trader processes hosting the strategy agents: ``processes``, by default the
        number of CPUs this process may use, never more than the agents."""
        agents = self.n_traders - self.n_commands
        if agents == 0:
            return 0
        want = self.processes or len(os.sched_getaffinity(0))
        return max(1, min(want, agents))

    def minor(self, amount: float) -> int:
        """``amount`` units in minor units (1/scale), rounded to nearest."""
        return round(amount * self.scale)

    def trader_plan(self) -> list[TraderGroup]:
        """One group per agent, in account order: each group repeated ``count`` times."""
        return [g for g in self.traders for _ in range(g.count)]


# ---------------------------------------------------------------------------------------
# Reading files


def _safe_name(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
    return "scenario" if name in ("", ".", "..") else name


# ---------------------------------------------------------------------------------------
# Turning validation errors into one line


def _group_problems(i: int, group: Any, market: str) -> list[Problem]:
    """Strategy name and params of raw group ``i``; fields of wrong type are left to pydantic."""
    from sim.market import registry

    if not isinstance(group, Mapping) or group.get("command") is not None:
        return []
    name = group.get("strategy", "random")
    params = group.get("params", {})
    if not isinstance(name, str):
        return []
    try:
        cls = registry.resolve_any(name, market)
    except BadScenario as e:
        return [(("traders", i, "strategy"), str(e))]
    if not isinstance(params, Mapping):
        return []
    try:
        cls.Params.model_validate(params)
    except ValidationError as e:
        return validation_problems(e, cls.Params, ("traders", i, "params"))
    except Exception as e:  # a plug-in's validator may fail in any way
        return [(("traders", i, "params"), f"strategy '{name}' failed to check them "
                                           f"({type(e).__name__}: {e})")]
    return []


# ---------------------------------------------------------------------------------------
# Public entry points


def parse_scenario(data: Any, source: str = "<scenario>",
                   default_name: str = "scenario") -> Scenario:
    """Validate already parsed YAML ``data``; ``name`` defaults to ``default_name``."""
    if data is None:
        raise BadScenario(f"{source}: is empty; expected a mapping with at least 'traders'")
    if not isinstance(data, Mapping):
        raise BadScenario(f"{source}: top level must be a mapping of keys to values "
                          f"(found {show(data)})")
    raw = {k if isinstance(k, str) else str(k): v for k, v in data.items()}
    if "base" in raw and "variants" in raw:
        raise BadScenario(f"{source}: is a compare spec (it has base and variants), not a "
                          f"scenario; run it with: sim compare {source}")
    if raw.get("name") in (None, ""):
        raw["name"] = _safe_name(default_name)
    problems: list[Problem] = []
    scn: Scenario | None = None
    try:
        scn = Scenario.model_validate(raw)
    except ValidationError as e:
        problems.extend(validation_problems(e, Scenario))
    groups = raw.get("traders")
    if isinstance(groups, list):
        for i, group in enumerate(groups):
            market = raw.get("market", "pool")
            problems.extend(_group_problems(i, group, market if isinstance(market, str)
                                            else "pool"))
    if problems or scn is None:
        raise problems_error(source, Scenario, problems)
    assert scn is not None
    return scn


def load_scenario(path: str | os.PathLike[str],
                  overrides: dict[str, Any] | None = None) -> Scenario:
    """Read, parse and validate a scenario YAML file, with ``overrides`` set on top.

    Override keys are top-level field names (``{"seed": 5}``) or dotted paths into nested
    mappings (``{"faults.restart": True}``).
    """
    src = os.fspath(path)
    p = Path(src)
    data = parse_yaml(read_text(p, src), src)
    if overrides and isinstance(data, dict):
        data = with_overrides(data, overrides, src)
    return parse_scenario(data, source=src, default_name=p.stem)


def scenario_schema() -> dict[str, Any]:
    """JSON Schema (Draft 2020-12) of a scenario file, for editors and ``sim schema``.

    A trader group's ``params`` depend on its ``strategy``: each built-in's ``Params`` model
    is attached with ``if``/``then`` on the strategy name (absent means ``random``, the
    default), so an editor checks them too; a ``module:Class`` plug-in's params stay open,
    since only importing the plug-in can tell what they are.
    """
    from sim.market import registry, strategies
    from sim.market.book_agents import BOOK_BUILTINS

    schema = Scenario.model_json_schema()
    schema["title"] = "mmap market scenario"
    defs = schema["$defs"]
    group = defs["TraderGroup"]
    group["properties"]["strategy"]["anyOf"] = [
        {"enum": registry.all_names()},
        {"pattern": PLUGIN_PATTERN, "description": "a plug-in: package.module:ClassName"}]
    rules = []
    for name in registry.all_names():
        # A name both markets know (momentum) takes the params of either.
        refs = []
        for cls in (strategies.BUILTINS.get(name), BOOK_BUILTINS.get(name)):
            if cls is not None:
                ref = cls.Params.__name__
                defs[ref] = cls.Params.model_json_schema()
                refs.append({"$ref": f"#/$defs/{ref}"})
        # An absent strategy is the default, random: only the others require the key.
        when: dict[str, Any] = {"properties": {"strategy": {"const": name}}}
        if name != TraderGroup.model_fields["strategy"].default:
            when["required"] = ["strategy"]
        params = refs[0] if len(refs) == 1 else {"anyOf": refs}
        rules.append({"if": when, "then": {"properties": {"params": params}}})
    group["allOf"] = rules
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def strategy_params(scn: Scenario, group: TraderGroup) -> BaseModel | None:
    """The validated ``Params`` of ``group``'s strategy; None for an external command."""
    from sim.market import registry

    if group.command is not None:
        return None
    index = next((i for i, g in enumerate(scn.traders) if g is group), None)
    where = f"traders[{index}]" if index is not None else "trader group"
    try:
        cls = registry.resolve_any(group.strategy, scn.market)
    except BadScenario as e:
        raise BadScenario(f"{scn.name}: {where}.strategy: {e}") from None
    try:
        return cls.Params.model_validate(group.params)
    except ValidationError as e:
        detail = "; ".join(f"{where}.{path_text(loc)}: {msg}"
                           for loc, msg in validation_problems(e, cls.Params, ("params",)))
        raise BadScenario(one_line(f"{scn.name}: {detail}")) from None
