"""Peak RSS of a run, measured in a fresh interpreter: ``python -m bench.rss --duration S``.

A fresh process is needed because the coordinator's peak (VmHWM) never goes down: inside
the benchmark it would report the largest ledger any earlier run loaded, and traders,
forked from it, would start from that footprint too. Prints the run's figures as one
JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

__all__ = ["flat_rss", "measure_rss", "rss_growth"]

_REPO: Final = Path(__file__).resolve().parent.parent
# The run itself, plus start-up and the coordinator's settling of the ledger afterwards.
_SLACK_S: Final = 300.0


def measure_rss(duration_s: float, sync: str = "per_currency", n: int = 2,
                currencies: int = 4, scratch: str | None = None) -> dict[str, Any]:
    """Run one scenario of ``duration_s`` in a child interpreter; returns its run figures."""
    cmd = [sys.executable, "-m", "bench.rss", "--duration", str(duration_s), "--sync", sync,
           "--n", str(n), "--currencies", str(currencies)]
    if scratch is not None:
        cmd += ["--scratch", scratch]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO), env.get("PYTHONPATH")) if p)
    done = subprocess.run(cmd, cwd=_REPO, env=env, capture_output=True, text=True,
                          timeout=duration_s * 3 + _SLACK_S, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"RSS run exited with status {done.returncode}: {tail}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def flat_rss(rss: dict[str, Any]) -> dict[str, int]:
    """``{"coordinator": kB, "monitor": kB, "trader 0": kB, ...}``, unknown values dropped."""
    out: dict[str, int] = {}
    for key in ("coordinator", "monitor"):
        if rss.get(key) is not None:
            out[key] = int(rss[key])
    for slot, kb in sorted((rss.get("traders") or {}).items(), key=lambda kv: int(kv[0])):
        if kb is not None:
            out[f"trader {slot}"] = int(kb)
    return out


def rss_growth(short: dict[str, Any], long: dict[str, Any]) -> dict[str, int]:
    """Peak RSS growth in kB per process from the short run to the long one."""
    a, b = flat_rss(short), flat_rss(long)
    return {k: b[k] - a[k] for k in a if k in b}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.rss", description=__doc__)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--sync", default="per_currency")
    p.add_argument("--n", type=int, default=2)
    p.add_argument("--currencies", type=int, default=4)
    p.add_argument("--scratch", default=None)
    args = p.parse_args(argv)
    from .harness import run_harness

    run = run_harness(args.sync, args.n, args.currencies, args.duration,
                      scratch=args.scratch)
    print(json.dumps(run.to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
