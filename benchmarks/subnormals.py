"""Whether subnormal numbers slow a sparse LeNet level's training step on this CPU (issue 20), measured.
Run: ``python benchmarks/subnormals.py [--iterations 3000] [--group 3]``.

Part 1 times, on 800,000 float32 numbers, each elementwise operation of Adam's step with a
normal, a zero and a subnormal (1e-40) operand: ``v * beta2``, ``lerp(m, g, 0.1)`` toward a
zero gradient (a pruned or dead unit's), ``m / denom``, ``p - lr * m / denom`` (addcdiv) and sqrt.
Part 2 trains a LeNet group (paper preset, one torch thread, random masks at densities 100%,
26% and 7%: levels 0, 6 and 12; ``core/adam.py``'s step, timed by ``conv_cpu.step_intervals``)
and reports the ms per training step over the first and the last 500 steps, and which fraction
of Adam's first and second moments are zero and subnormal at the end. Prints what it measured in this one run and writes
benchmarks/results/subnormals-<date>.json. It changes nothing in the engine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import torch
from conv_cpu import members, step_intervals  # (benchmarks/ is this script's folder: on sys.path)

from lthrepro.core import data as data_mod
from lthrepro.core import models
from lthrepro.core.presets import make_config
from lthrepro.store import numerics

ROOT = Path(__file__).resolve().parent.parent
TINY = 2.0**-126  # the smallest normal float32


def op_ms(fn, n: int = 30) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return 1e3 * (time.perf_counter() - t0) / n


def part1(n: int = 800_000) -> dict:
    g0, d, out = torch.zeros(n), torch.rand(n) + 1e-3, torch.empty(n)
    res = {}
    for kind, x in (("normal", torch.rand(n) + 1e-3), ("zero", torch.zeros(n)), ("subnormal", torch.full((n,), 1e-40))):
        res[kind] = {
            "mul": op_ms(lambda x=x: torch.mul(x, 0.999, out=out)),
            "lerp": op_ms(lambda x=x: torch.lerp(x, g0, 0.1, out=out)),
            "div": op_ms(lambda x=x: torch.div(x, d, out=out)),
            "addcdiv": op_ms(lambda x=x: out.copy_(d).addcdiv_(x, d, value=-1.2e-3)),
            "sqrt": op_ms(lambda x=x: torch.sqrt(x, out=out)),
        }
        print(f"{kind:9s} " + ", ".join(f"{k} {v:.2f} ms" for k, v in res[kind].items()))
    return res


def part2(cfg, G: int, density: float, data) -> dict:
    gaps, opt = step_intervals(cfg, members("lenet", G, density), data)
    frac = {}
    for name in ("exp_avg", "exp_avg_sq"):
        xs = torch.cat([s[name].flatten() for s in opt.state.values() if name in s])
        frac[name] = {"zero": float((xs == 0).float().mean()),
                      "subnormal": float(((xs != 0) & (xs.abs() < TINY)).float().mean())}
    row = {"density": density, "first500_ms": 1e3 * statistics.median(gaps[:500]),
           "last500_ms": 1e3 * statistics.median(gaps[-500:]), "fractions": frac}
    print(f"density {density:.1%}: step {row['first500_ms']:.2f} ms (first 500) -> {row['last500_ms']:.2f} ms "
          f"(last 500); " + "; ".join(f"{k}: zero {v['zero']:.1%}, subnormal {v['subnormal']:.2%}"
                                      for k, v in frac.items()))
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=3000)
    p.add_argument("--group", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(1)
    ops = part1()
    # Evaluation only at the start and the end: this times the training step.
    cfg = make_config("lenet", "paper", iterations=a.iterations, eval_every=a.iterations, seeds=(0,))
    data = data_mod.load("mnist", 5000, 0, 0, 0, input_shape=models.INPUT_SHAPE["lenet"])
    rows = [part2(cfg, a.group, d, data) for d in (1.0, 0.262, 0.07)]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "lthrepro", "benchmarks"],
                           capture_output=True, text=True, cwd=ROOT).stdout.strip() != ""
    out = ROOT / "benchmarks" / "results" / f"subnormals-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "commit": commit.stdout.strip(), "dirty": dirty, "cpu": numerics.cpu_id(),
                               "numerics_env": {k: os.environ.get(k) for k in
                                                ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")},
                               "threads": 1, "load_before": os.getloadavg()[0], "group": a.group,
                               "iterations": a.iterations, "ops_ms": ops, "rows": rows}, indent=1) + "\n")
    print(f"load average: {os.getloadavg()[0]:.1f}; written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
