"""The book series beside PAMS: a real PAMS run parsed, ratios and verdicts from figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.book_report import evaluate, render
from bench.pams_side import (
    PAMS_VERSION,
    STAMP_NAME,
    VENV,
    NotMeasured,
    PamsCase,
    ensure_pams,
    parse_pams_output,
    run_pams,
)

_NO_PAMS = pytest.mark.skipif(
    not (VENV / STAMP_NAME).exists(),
    reason=f"PAMS's own virtualenv {VENV} is not made yet: `make bench SERIES=book` makes it "
           "once (it needs the package registry)")


@pytest.mark.timeout(20)
@_NO_PAMS
def test_a_real_pams_run_is_parsed() -> None:
    run = run_pams(VENV / "bin" / "python", PamsCase("tiny", 10), seed=3, warmup_steps=10,
                   trading_steps=50, timeout_s=15)
    assert run.mode == "sample" and run.agents == 10 and run.steps == 60
    # The sample lets one normal agent's orders in per step, and an FCN agent sends one
    # limit order and never cancels: so the count is one order a step.
    assert (run.orders, run.cancels) == (60, 0)
    assert 0 < run.executed_volume <= 60
    assert 0 < run.execution_s <= run.main_wall_s < run.process_wall_s < 15
    assert 0 < run.execution_cpu_s < run.process_wall_s
    assert run.orders_per_s == pytest.approx(60 / run.execution_s)
    assert run.orders_per_cpu_s == pytest.approx(60 / run.execution_cpu_s)


@pytest.mark.timeout(20)
@_NO_PAMS
def test_a_real_pams_run_of_our_flow_is_parsed_and_is_our_flow() -> None:
    run = run_pams(VENV / "bin" / "python", PamsCase("tiny mix", 64, 300), seed=3,
                   timeout_s=15)
    # bench.book's draws for 300 orders of seed 3: limits and markets are all sent; a
    # cancel is skipped only while no order has rested yet.
    kind = np.random.default_rng(3).choice(3, size=300, p=[0.6, 0.3, 0.1]).tolist()
    assert run.mode == "mix" and run.agents == 64
    assert run.orders == kind.count(0) + kind.count(2)
    assert kind.count(1) - 10 <= run.cancels <= kind.count(1)
    assert run.executed_volume > 0 and run.resting is not None and run.resting > 0
    assert 0 < run.execution_cpu_s < run.process_wall_s < 15


def _output(**bench: Any) -> str:
    data = {"pams_version": PAMS_VERSION, "mode": "sample", "agents": 100, "seed": 1, "steps": 600,
            "orders": 600, "cancels": 0, "executed_volume": 213, "main_wall_s": 0.31,
            "execution_cpu_s": 0.2} | bench
    return ("warning text\n# INITIALIZATION TIME 0.03\n# EXECUTION TIME 0.25\n"
            f"# BENCH {json.dumps(data)}\n")


def test_the_output_lines_are_read_and_bad_output_named() -> None:
    run = parse_pams_output(_output(cancels=150), process_wall_s=0.9)
    assert (run.orders, run.cancels, run.init_s, run.execution_s) == (600, 150, 0.03, 0.25)
    assert run.orders_per_s == pytest.approx(3_000.0)
    assert run.orders_per_cpu_s == pytest.approx(3_750.0)
    with pytest.raises(ValueError, match="'# EXECUTION TIME'"):
        parse_pams_output(_output().replace("# EXECUTION TIME 0.25\n", ""))
    with pytest.raises(ValueError, match="'# BENCH'"):
        parse_pams_output(_output().replace("# BENCH", "# BNECH"))
    with pytest.raises(ValueError, match="mode 'other'"):
        parse_pams_output(_output(mode="other"))
    mix = parse_pams_output(_output(mode="mix", execution_s=0.5, resting=7)
                            .replace("# EXECUTION TIME 0.25\n", ""))
    assert (mix.mode, mix.execution_s, mix.init_s, mix.resting) == ("mix", 0.5, 0.0, 7)
    assert mix.orders_per_s == pytest.approx(1_200.0)
    with pytest.raises(ValueError, match=r"not 0\.3\.0"):
        parse_pams_output(_output(pams_version="0.2.1"))
    with pytest.raises(ValueError, match="expected JSON"):
        parse_pams_output(_output().replace('"orders"', '"ordres"'))
    with pytest.raises(ValueError, match="expected all positive"):
        parse_pams_output(_output(orders=0))
    with pytest.raises(ValueError, match="expected all positive"):
        parse_pams_output(_output(execution_cpu_s=0.0))


def test_a_venv_that_cannot_be_made_is_not_measured_and_leaves_nothing(
        tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    said: list[str] = []
    got = ensure_pams(blocker / "venv", said.append)
    assert isinstance(got, NotMeasured)
    assert got.reason.startswith("python -m venv failed") and "\n" not in got.reason
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    assert len(said) == 1


def _ours(*rates: float | None, cpu: float | None = None) -> list[dict[str, Any]]:
    """Our three cases; only the first (one process) has a rate per CPU second."""
    labels = ("1 book, P=1", "1 book, P=2", "4 books, P=2")
    return [{"label": lab, "procs": 1, "books": 1, "shared": False, "orders": 1000,
             "runs": [] if r is None else [r], "orders_per_s": r,
             "orders_per_cpu_s": cpu if i == 0 else None}
            for i, (lab, r) in enumerate(zip(labels, rates, strict=True))]


def _pams(r100: float | None, r1000: float | None, why: str | None = None
          ) -> dict[str, Any]:
    return {"version": PAMS_VERSION, "not_measured": why,
            "cases": [{"label": f"FCN sample, {a:,} agents", "agents": a, "mix_orders": 0,
                       "orders_per_s": r, "orders_per_cpu_s": None if r is None else 2 * r,
                       "runs": [] if r is None else [{"orders_per_s": r}]}
                      for a, r in ((100, r100), (1_000, r1000))]}


def _result(ours: list[dict[str, Any]], pams: dict[str, Any]) -> dict[str, Any]:
    ratios, targets = evaluate(ours, pams)
    return {"repeats": 1, "geometry": {"ticks": 10, "capacity": 10, "max_fills": 1},
            "ours": ours, "pams": pams, "ratios": ratios, "targets": targets}


def test_ratios_and_verdicts_come_from_the_figures() -> None:
    res = _result(_ours(120_000.0, 90_000.0, 100_000.0, cpu=160_000.0),
                  _pams(4_000.0, 2_000.0))
    a, b = "FCN sample, 100 agents", "FCN sample, 1,000 agents"
    assert [(r["ours"], r["pams"], r["ratio"], r["cpu_ratio"]) for r in res["ratios"]] == [
        ("1 book, P=1", a, 30.0, 20.0), ("1 book, P=1", b, 60.0, 40.0),
        ("1 book, P=2", a, 22.5, None), ("1 book, P=2", b, 45.0, None),
        ("4 books, P=2", a, 25.0, None), ("4 books, P=2", b, 50.0, None)]
    # The C trader's cases have no figure here: a MISS, never a made-up number.
    assert [t["pass"] for t in res["targets"]] == [True, False, True, False, False]
    text = render(res)
    assert "| 1 book, P=1 | 30x (20x) | 60x (40x) |" in text
    assert "| 1 book, P=2 | 22.5x | 45x |" in text
    assert "- PASS  book orders/s, 4 books, P=2" in text
    assert "- MISS  book orders/s, 1 book, P=2" in text


def test_pams_not_measured_gives_no_ratio_and_says_why() -> None:
    why = "pip install pams==0.3.0 failed (exit 1): ERROR: No matching distribution"
    res = _result(_ours(80_000.0, None, 150_000.0, cpu=90_000.0), _pams(None, None, why))
    assert all(r["ratio"] is None and r["cpu_ratio"] is None for r in res["ratios"])
    assert [t["pass"] for t in res["targets"]] == [False, False, True, False, False]
    assert res["targets"][1]["value"] is None  # no figure is a MISS, never a number
    text = render(res)
    assert f"PAMS not measured: {why}" in text
    assert "| 1 book, P=1 | not measured | not measured |" in text


def test_the_run_of_our_flow_gets_its_column_and_its_note() -> None:
    pams = _pams(4_000.0, 2_000.0)
    pams["cases"].append({"label": "orders alone, our flow (5,000)", "agents": 64,
                          "mix_orders": 5_000, "orders_per_s": 1_000.0,
                          "orders_per_cpu_s": 3_000.0,
                          "runs": [{"orders_per_s": 1_000.0, "resting": r}
                                   for r in (600, 640, 610)]})
    res = _result(_ours(120_000.0, 90_000.0, 100_000.0, cpu=160_000.0), pams)
    text = render(res)
    assert "| 1 book, P=1 | 30x (20x) | 60x (40x) | 120x (53.3x) |" in text
    assert "Load average" not in text  # not in this result, so not made up
    res["load_average_1min"], res["cpus"] = [6.5, 7.25], 2
    assert "Load average (1 min) 6.5 at the start, 7.25 at the end, on 2 CPUs" in render(res)
    assert "the first 5,000 orders of our flow" in text
    assert "leaving 610 orders resting" in text
