"""The ``book`` series' verdicts and tables: ratios ours/PAMS, PASS/MISS, markdown.

Works from the figures alone (the series' JSON), so a stored result can be rendered again
and the verdicts can be tested on made-up figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .report import fmt_rate, verdict_lines

__all__ = ["MIN_ORDERS_PER_S", "TARGET_CASES", "evaluate", "render"]

MIN_ORDERS_PER_S: Final = 100_000.0
# Issue 12's target: one book, and four books at P = 2. One book is judged both by one
# process and by two processes sharing it (each order under the book's lock).
TARGET_CASES: Final = ("1 book, P=1", "1 book, P=2", "4 books, P=2", "C trader, 1 book, P=2",
                       "C trader, 4 books, P=2")


def evaluate(ours: Sequence[Mapping[str, Any]], pams: Mapping[str, Any]
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ratio of each of our cases to each PAMS case, of wall rates and of rates per
    CPU second (None when either side has no figure), and the PASS/MISS of each target
    case (on wall rates); a case without a figure is a MISS."""
    ratios = []
    for o in ours:
        for p in pams["cases"]:
            ratios.append({"ours": o["label"], "pams": p["label"],
                           "ratio": _ratio(o.get("orders_per_s"), p.get("orders_per_s")),
                           "cpu_ratio": _ratio(o.get("orders_per_cpu_s"),
                                               p.get("orders_per_cpu_s"))})
    targets = []
    by_label = {o["label"]: o.get("orders_per_s") for o in ours}
    for label in TARGET_CASES:
        v = by_label.get(label)
        targets.append({"name": f"book orders/s, {label} (60/30/10 limit/cancel/market) "
                                f">= {fmt_rate(MIN_ORDERS_PER_S)}",
                        "value": v, "target": MIN_ORDERS_PER_S,
                        "pass": v is not None and v >= MIN_ORDERS_PER_S})
    return ratios, targets


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 1)


def _times(r: float | None) -> str:
    return "-" if r is None else f"{r:g}x"


def _runs(xs: Sequence[float]) -> str:
    return ", ".join(fmt_rate(x) for x in xs) or "-"


def _ratio_cell(r: Mapping[str, Any]) -> str:
    if r["ratio"] is None:
        return "not measured"
    cpu = r.get("cpu_ratio")
    return _times(r["ratio"]) + ("" if cpu is None else f" ({_times(cpu)})")


def _load(res: Mapping[str, Any]) -> str:
    load = res.get("load_average_1min")
    if not load:
        return ""
    return (f" Load average (1 min) {load[0]:g} at the start, {load[1]:g} at the end, on "
            f"{res.get('cpus')} CPUs: wall rates fall as it rises.")


def _mix_note(pams: Mapping[str, Any]) -> list[str]:
    mix = [p for p in pams["cases"] if p.get("mix_orders")]
    if not mix:
        return []
    p = mix[0]
    resting = sorted(r["resting"] for r in p["runs"] if r.get("resting") is not None)
    left = f", leaving {resting[len(resting) // 2]:,} orders resting" if resting else ""
    return [f"PAMS orders alone: the first {p['mix_orders']:,} orders of our flow (the same "
            "seeded draws, prices on the same ladder), each through its runner's "
            f"`_process_order` (add or cancel, matching pass, agents' updates){left}. Its "
            "cost per order grows with the book (a heapify per matching pass, a list "
            "search per cancel), so a run as long as ours would be far slower."]


def render(res: Mapping[str, Any]) -> str:
    """The series as markdown: both sides' orders/s, the ratios, the verdicts."""
    pams = res["pams"]
    geo = res["geometry"]
    lines = [
        "## Order book: ours and PAMS side by side", "",
        f"Median of {res['repeats']} run(s) per case, the two sides alternating run by run."
        + _load(res), "",
        "| side | case | orders/s, wall (median) | runs | per CPU second (median) |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for o in res["ours"]:
        lines.append(f"| ours | {o['label']} | {fmt_rate(o['orders_per_s'])} | "
                     f"{_runs(o['runs'])} | {fmt_rate(o.get('orders_per_cpu_s'))} |")
    for p in pams["cases"]:
        lines.append(f"| PAMS {pams['version']} | {p['label']} | "
                     f"{fmt_rate(p['orders_per_s'])} | "
                     f"{_runs([r['orders_per_s'] for r in p['runs']])} | "
                     f"{fmt_rate(p.get('orders_per_cpu_s'))} |")
    if pams.get("not_measured"):
        lines += ["", f"PAMS not measured: {pams['not_measured']}"]
    cases = [p["label"] for p in pams["cases"]]
    lines += ["", "Ratio ours / PAMS, wall (per CPU second where both sides have one):", "",
              "| ours | " + " | ".join(f"/ PAMS {c}" for c in cases) + " |",
              "| --- |" + " ---: |" * len(cases)]
    for o in res["ours"]:
        cells = [_ratio_cell(next(r for r in res["ratios"]
                                  if r["ours"] == o["label"] and r["pams"] == c))
                 for c in cases]
        lines.append(f"| {o['label']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Ours: `bench.book_file`, books in the exchange file of {geo['ticks']:,} ticks "
        f"and {geo['capacity']:,} order records (`max_fills` {geo['max_fills']}), "
        f"{res['ours'][0]['orders']:,} orders a run drawn in advance (60 % limit, 30 % "
        "cancel, 10 % market), each one journaled transaction under its currency's "
        "robust mutex with its ledger rows, stakes, writers' totals and the currency's "
        "mirror, sent by Python writers (`sim.core.transaction.Writer`) or by the C "
        "trader (`--book-orders`, same file, same transaction); P=2 cases: every "
        "process on every book (no CPU rate: it would leave the lock waits out); every "
        "exact invariant of the file checked after each run.",
        "PAMS: its CI2002 FCN-agent sample (100 placement-only steps, 500 trading steps, "
        "one normal agent's orders per step) with `numAgents` scaled, sequential runner; "
        "orders are the orders and cancels handed to its market, over its own "
        "`# EXECUTION TIME` (which includes its agents' decisions), one process.",
        *_mix_note(pams),
        "Rates per CPU second are steadier than wall rates when the machine is shared; "
        "the targets are judged on wall rates.", "",
    ]
    lines += [f"- {v}" for v in verdict_lines(res["targets"])]
    return "\n".join(lines) + "\n"
