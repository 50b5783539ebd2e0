"""Benchmark results: target verdicts, the JSON file, markdown tables and the trades/s plot.

Everything here works from the result mapping alone (the JSON schema), so a stored
result can be rendered again and the writers can be tested on a synthetic one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .population import population_markdown

__all__ = [
    "RESULT_KEYS",
    "VARIANT_ORDER",
    "evaluate_targets",
    "find_point",
    "fmt_rate",
    "monitor_table",
    "plot_points",
    "render_markdown",
    "verdict_lines",
    "write_json",
    "write_outputs",
]

RESULT_KEYS: Final = ("timestamp", "machine", "quick", "machine_speedup_2", "machine_runs",
                      "points", "monitor_overhead", "rss", "costs", "population",
                      "targets")
VARIANT_ORDER: Final = ("none", "global", "per_currency", "ofd", "manager", "sqlite")
DEFAULT_POLICY: Final = "per_currency"
KIB_PER_MB: Final = 1024

# Targets of the default policy at N=2 on 4 currencies, the configuration users run.
MIN_TRADES_PER_S: Final = 100_000.0
MIN_SCALING_SHARE: Final = 0.85
MIN_VS_MANAGER: Final = 20.0
MIN_VS_SQLITE: Final = 5.0
MAX_MONITOR_COST_PCT: Final = 5.0
MAX_RSS_GROWTH_MB: Final = 5.0


def fmt_rate(v: float | None) -> str:
    """1234567 -> '1.23M', 183000 -> '183k', 4567 -> '4.6k', 950 -> '950'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e5:
        return f"{v / 1e3:.0f}k"
    if a >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def _fmt_num(v: float | None) -> str:
    if v is None:
        return "-"
    return fmt_rate(v) if abs(v) >= 1000 else f"{v:.3g}"


def find_point(points: Iterable[Mapping[str, Any]], variant: str, n: int,
               currencies: int) -> Mapping[str, Any] | None:
    for p in points:
        if p["variant"] == variant and p["n"] == n and p["currencies"] == currencies:
            return p
    return None


def _median_of(points: Sequence[Mapping[str, Any]], variant: str, n: int,
               currencies: int) -> float | None:
    p = find_point(points, variant, n, currencies)
    v = None if p is None else p.get("trades_per_s")
    return None if v is None else float(v)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _target(name: str, value: float | None, target: float | None, higher_is_better: bool
            ) -> dict[str, Any]:
    ok = value is not None and target is not None and (
        value >= target if higher_is_better else value <= target)
    return {"name": name, "value": None if value is None else round(value, 4),
            "target": None if target is None else round(target, 4), "pass": bool(ok)}


def evaluate_targets(points: Sequence[Mapping[str, Any]], machine_speedup_2: float | None,
                     monitor_overhead: Mapping[str, Any], rss: Mapping[str, Any]
                     ) -> list[dict[str, Any]]:
    """The PASS/MISS list; a target whose inputs are missing is a MISS with value None."""
    pol = DEFAULT_POLICY
    n2 = _median_of(points, pol, 2, 4)
    n1 = _median_of(points, pol, 1, 4)
    targets = [
        _target(f"{pol} N=2 c=4 trades/s >= {fmt_rate(MIN_TRADES_PER_S)}", n2,
                MIN_TRADES_PER_S, True),
        _target(f"{pol} speed-up N=2/N=1 (c=4) >= {MIN_SCALING_SHARE} x machine speed-up "
                f"({_fmt_num(machine_speedup_2)})", _ratio(n2, n1),
                None if machine_speedup_2 is None else MIN_SCALING_SHARE * machine_speedup_2,
                True),
        _target(f"{pol} N=2 c=4 >= {MIN_VS_MANAGER:g}x manager N=2 c=4",
                _ratio(n2, _median_of(points, "manager", 2, 4)), MIN_VS_MANAGER, True),
        _target(f"{pol} N=2 c=4 >= {MIN_VS_SQLITE:g}x sqlite N=2 c=4",
                _ratio(n2, _median_of(points, "sqlite", 2, 4)), MIN_VS_SQLITE, True),
        _target(f"monitor at 1 kHz costs <= {MAX_MONITOR_COST_PCT:g} % of trades/s "
                "(vs idle, within runs)",
                (monitor_overhead.get("alternating") or {}).get("cost_percent"),
                MAX_MONITOR_COST_PCT, False),
    ]
    if rss.get("long") is not None:
        growth = rss.get("max_growth_kb")
        targets.append(_target(
            f"peak RSS growth per process, {rss['short']['duration_s']:g} s -> "
            f"{rss['long']['duration_s']:g} s run, <= {MAX_RSS_GROWTH_MB:g} MB",
            None if growth is None else growth / KIB_PER_MB, MAX_RSS_GROWTH_MB, False))
    return targets


def verdict_lines(targets: Iterable[Mapping[str, Any]]) -> list[str]:
    return [f"{'PASS' if t['pass'] else 'MISS'}  {t['name']}: value {_fmt_num(t['value'])}, "
            f"target {_fmt_num(t['target'])}" for t in targets]


def write_json(result: Mapping[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    return path


# ------------------------------------------------------------------------------ markdown


def _cell(p: Mapping[str, Any] | None) -> str:
    if p is None:
        return ""
    runs = p.get("runs") or []
    if not runs:
        return "failed"
    med = fmt_rate(p.get("trades_per_s"))
    if len(runs) == 1:
        return med
    return f"{med} [{fmt_rate(min(runs))}-{fmt_rate(max(runs))}]"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _throughput_table(points: Sequence[Mapping[str, Any]]) -> list[str]:
    ns = sorted({int(p["n"]) for p in points})
    known = {p["variant"] for p in points}
    variants = [v for v in VARIANT_ORDER if v in known] + sorted(known - set(VARIANT_ORDER))
    currencies = sorted({int(p["currencies"]) for p in points}, reverse=True)
    rows = []
    for v in variants:
        for c in currencies:
            row = [find_point(points, v, n, c) for n in ns]
            if not any(row):
                continue
            n1 = _median_of(points, v, 1, c)
            n2 = _median_of(points, v, 2, c)
            ratio = _ratio(n2, n1)
            flags = [f for p in row if p is not None for f in p.get("conserved", [])]
            conserved = "-" if not flags else ("yes" if all(flags) else
                                               f"NO ({flags.count(False)}/{len(flags)} runs)")
            rows.append([v, str(c), *(_cell(p) for p in row),
                         "-" if ratio is None else f"{ratio:.2f}", conserved])
    return _table(["variant", "currencies", *(f"N={n}" for n in ns), "N=2/N=1", "conserved"],
                  rows)


def monitor_table(mo: Mapping[str, Any]) -> list[str]:
    """The monitor-overhead section's lines: runs, CPU, cost with its quartiles, snapshots."""
    if not mo:
        return ["(not measured)"]

    def runs(key: str) -> str:
        return ", ".join(fmt_rate(r) for r in mo.get(key) or [])

    rows = [
        [f"{mo['interval_ms_slow']:g} ms (10 Hz)", fmt_rate(mo.get("trades_per_s_10hz")),
         runs("runs_10hz"), "-", _fmt_num(mo.get("monitor_cpu_percent_10hz"))],
        [f"{mo['interval_ms_fast']:g} ms (1 kHz)", fmt_rate(mo.get("trades_per_s_1khz")),
         runs("runs_1khz"), _fmt_num(mo.get("sample_ratio_1khz")),
         _fmt_num(mo.get("monitor_cpu_percent_1khz"))],
    ]
    cost = mo.get("cost_percent")
    iqr = mo.get("cost_percent_iqr")
    spread = (f" (quartiles of the {len(mo.get('cost_percent_pairs') or [])} pairs: "
              f"{iqr[0]:.1f} to {iqr[2]:.1f} %; from the two medians: "
              f"{_fmt_num(mo.get('cost_percent_of_medians'))} %)") if iqr else ""
    snaps = mo.get("snapshots_1khz")
    modes = ([f"Snapshots of the 1 kHz runs: {snaps['optimistic']:,} optimistic, "
              f"{snaps['trylock']:,} under every lock tried, {snaps['waited']:,} under "
              "every lock waited for."] if snaps else [])
    return [*_alternating_lines(mo.get("alternating") or {}), "",
            *_table(["monitor interval", "trades/s (median)", "runs", "sample ratio",
                     "monitor CPU (% of one CPU)"], rows),
            "", f"Back-to-back pairs of whole runs of {_fmt_num(mo.get('duration_s'))} s "
                f"(machine noise between runs included): "
                f"{'-' if cost is None else f'{cost:.1f}'} % of trades/s{spread}.",
            *modes]


def _alternating_lines(alt: Mapping[str, Any]) -> list[str]:
    """The verdict's measure: windows with and without sampling, inside the same runs."""
    if not alt.get("windows"):
        return ["Cost within runs: (not measured)"]
    iqr = alt["cost_percent_iqr"]
    snaps = alt.get("snapshots")
    return [
        f"Cost of the 1 kHz monitor within runs: **{alt['cost_percent']:.1f} %** of "
        f"trades/s, the median over {alt['windows']} windows of "
        f"{_fmt_num(alt['window_ms'])} ms in {alt['runs']} runs of "
        f"{_fmt_num(alt.get('duration_s'))} s (95 % interval of the median "
        f"{alt['median_ci95'][0]:.1f} to {alt['median_ci95'][1]:.1f} %; quartiles of the "
        f"windows {iqr[0]:.1f} to {iqr[2]:.1f} %; "
        f"from the mean trades of each kind of window: "
        f"{_fmt_num(alt.get('cost_percent_of_means'))} %). The monitor samples at 1 kHz "
        "in every other window and sleeps in the rest; each sampled window is held "
        "against the two idle ones beside it.",
        f"In those runs: monitor CPU {_fmt_num(alt.get('monitor_cpu_percent'))} % of one "
        f"CPU over the whole run, sample ratio {_fmt_num(alt.get('sample_ratio'))}"
        + (f", snapshots {snaps['optimistic']:,} optimistic, {snaps['trylock']:,} under "
           f"every lock tried, {snaps['waited']:,} waited for." if snaps else "."),
    ]


def _mb(kb: float | None) -> str:
    return "-" if kb is None else f"{kb / KIB_PER_MB:.1f}"


def _rss_table(rss: Mapping[str, Any]) -> list[str]:
    from .rss import flat_rss

    short = rss.get("short")
    if not short:
        return ["(not measured)"]
    long = rss.get("long")
    a = flat_rss(short.get("peak_rss_kb") or {})
    b = flat_rss(long.get("peak_rss_kb") or {}) if long else {}
    growth = rss.get("growth_kb") or {}
    header = ["process", f"{short['duration_s']:g} s run (MB)"]
    if long:
        header += [f"{long['duration_s']:g} s run (MB)", "growth (MB)"]
    rows = []
    for k in a:
        row = [k, _mb(a[k])]
        if long:
            row += [_mb(b.get(k)), _mb(growth.get(k))]
        rows.append(row)
    note = ("" if long else "Growth needs the long run: `python -m bench --long`.")
    return [*_table(header, rows), *(["", note] if note else [])]


def _costs_markdown(c: Mapping[str, Any]) -> list[str]:
    if not c:
        return []
    return ["## What a run costs around its trading (sim run, fresh interpreter, wall)", "",
            f"- 0.5 s default run with figures: median {c['short_wall_s']:.2f} s (runs "
            f"{', '.join(f'{x:.2f}' for x in c['short_runs'])}; after trading "
            f"{', '.join(f'{x:.2f}' for x in c['short_finish_s'])} s)",
            f"- 2 s run, --no-figures (as sim compare): median {c['compare_wall_s']:.2f} s "
            f"(runs {', '.join(f'{x:.2f}' for x in c['compare_runs'])})",
            f"- longest gap between consecutive trades: {c['longest_gap_ms']:g} ms (runs "
            f"{', '.join(f'{x:g}' for x in c['gaps_ms'])})", ""]


def render_markdown(result: Mapping[str, Any], notes: Sequence[str] = ()) -> str:
    """All tables of a result as one markdown document."""
    m = result["machine"]
    ms = result.get("machine_speedup_2")
    ms_runs = ", ".join(f"{r['speedup']:.2f}" for r in result.get("machine_runs") or [])
    rss = result.get("rss") or {}
    mo = result.get("monitor_overhead") or {}
    lines = [
        f"# Benchmark {result['timestamp']}{' (quick)' if result.get('quick') else ''}",
        "",
        f"Machine: {m['cpus']} CPUs, Python {m['python']}, {m['platform']}. "
        f"Speed-up of 2 processes on a CPU-bound loop: **{_fmt_num(ms)}** (runs: {ms_runs}).",
        *notes,
        "",
        "## Throughput (accepted trades/s)",
        "",
        "Median [min-max] over the runs; `N=2/N=1` is the scaling of the medians.",
        "",
        *_throughput_table(result.get("points") or []),
        "",
        f"## Monitor overhead ({mo.get('policy', DEFAULT_POLICY)}, N={mo.get('n', 2)}, "
        f"{mo.get('currencies', 4)} currencies)",
        "",
        *monitor_table(mo),
        "",
        f"## Peak RSS (VmHWM just before stop; {rss.get('policy', DEFAULT_POLICY)}, "
        f"N={rss.get('n', 2)}, {rss.get('currencies', 4)} currencies, fresh interpreter)",
        "",
        *_rss_table(rss),
        "",
        *_costs_markdown(result.get("costs") or {}),
        *([*population_markdown(result["population"]), ""] if result.get("population")
          else []),
        "## Targets",
        "",
        *_table(["target", "value", "threshold", "verdict"],
                [[t["name"], _fmt_num(t["value"]), _fmt_num(t["target"]),
                  "PASS" if t["pass"] else "MISS"] for t in result.get("targets") or []]),
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ plot


def plot_points(result: Mapping[str, Any], path: Path) -> Path:
    """trades/s against N per variant, one panel per currency count, log y."""
    from matplotlib.figure import Figure

    points = result.get("points") or []
    currencies = sorted({int(p["currencies"]) for p in points}, reverse=True) or [4]
    fig = Figure(figsize=(6.0 * len(currencies), 4.6), layout="constrained")
    axes = fig.subplots(1, len(currencies), squeeze=False, sharey=True)[0]
    known = {p["variant"] for p in points}
    variants = [v for v in VARIANT_ORDER if v in known] + sorted(known - set(VARIANT_ORDER))
    # One colour and marker per variant across panels, so the panels read together.
    colours = {v: f"C{i}" for i, v in enumerate(variants)}
    handles: dict[str, Any] = {}
    for ax, c in zip(axes, currencies, strict=True):
        for v in variants:
            mine = sorted((p for p in points if p["variant"] == v and p["currencies"] == c
                           and p.get("trades_per_s")), key=lambda p: p["n"])
            if not mine:
                continue
            xs = [p["n"] for p in mine]
            ys = [p["trades_per_s"] for p in mine]
            lo = [y - min(p["runs"]) for y, p in zip(ys, mine, strict=True)]
            hi = [max(p["runs"]) - y for y, p in zip(ys, mine, strict=True)]
            baseline = v in ("manager", "sqlite")
            handles[v] = ax.errorbar(xs, ys, yerr=[lo, hi], marker="s" if baseline else "o",
                                     capsize=3, color=colours[v], label=v,
                                     linestyle="--" if baseline else "-")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ns = sorted({int(p["n"]) for p in points}) or [1]
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.set_xlabel("traders N")
        ax.set_title(f"{c} currenc{'y' if c == 1 else 'ies'}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("accepted trades/s (median, min-max)")
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside right center",
                   fontsize="small")
    ms = result.get("machine_speedup_2")
    fig.suptitle(f"Benchmark {result['timestamp']}; machine speed-up at 2: {_fmt_num(ms)}")
    fig.savefig(path, dpi=110)
    return path


def write_outputs(result: Mapping[str, Any], folder: Path, stem: str,
                  notes: Sequence[str] = ()) -> dict[str, Path]:
    """``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` in ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / f"{stem}.md"
    md.write_text(render_markdown(result, notes))
    return {"json": write_json(result, folder / f"{stem}.json"), "md": md,
            "png": plot_points(result, folder / f"{stem}.png")}
