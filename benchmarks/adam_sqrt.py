"""What Adam's sqrt costs on a CPU, and what ``lthrepro/core/adam.py`` saves (issue 20).
Run: ``python benchmarks/adam_sqrt.py [--iterations 1000] [--group 3]``.

Part 1 times a float32 sqrt of 800,000 normal numbers, zeros and subnormals (the slow paths).
Part 2 trains the same LeNet group (paper preset, one torch thread, masks at densities 100%,
51% and 5%: levels 0, 3 and 13) twice per density, alternating ``opt.step()`` (torch) and
``adam.step`` (ours), and checks that weights and every curve are bit-identical; it prints the
ms per training step of each and their ratio, measured in this one run, and writes
benchmarks/results/adam-sqrt-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import torch
from conv_cpu import members  # (benchmarks/ is this script's folder: on sys.path)

from lthrepro.core import adam, models, train
from lthrepro.core import data as data_mod
from lthrepro.core.presets import make_config
from lthrepro.store import numerics

ROOT = Path(__file__).resolve().parent.parent


def sqrt_ms(x: torch.Tensor, n: int = 50) -> float:
    out = torch.empty_like(x)
    torch.sqrt(x, out=out)
    t0 = time.perf_counter()
    for _ in range(n):
        torch.sqrt(x, out=out)
    return 1e3 * (time.perf_counter() - t0) / n


def run(cfg, G: int, density: float, data, stepper) -> tuple[float, list]:
    train.optimizer_step = stepper
    try:
        t0 = time.perf_counter()
        res = train.train_group(cfg, members("lenet", G, density), data, "cpu", train_acc=False)
        return time.perf_counter() - t0, res
    finally:
        train.optimizer_step = adam.step


def same(a: list, b: list) -> bool:
    # (metrics through JSON: a metric not measured is NaN, which equals nothing in Python)
    return all(all(torch.equal(x.final[k], y.final[k]) for k in x.final)
               and json.dumps(x.metrics, sort_keys=True) == json.dumps(y.metrics, sort_keys=True)
               for x, y in zip(a, b, strict=True))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--group", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(1)
    n = 800_000
    sq = {"normal": sqrt_ms(torch.rand(n) + 1e-3), "zero": sqrt_ms(torch.zeros(n)),
          "subnormal": sqrt_ms(torch.full((n,), 1e-40))}
    print("sqrt of 800,000 float32: " + ", ".join(f"{k} {v:.2f} ms" for k, v in sq.items()))
    # Evaluation every 1,000 iterations: this times the training step, not the evaluation.
    cfg = make_config("lenet", "paper", iterations=a.iterations, eval_every=1000, seeds=(0,))
    data = data_mod.load("mnist", 5000, 0, 0, 0, input_shape=models.INPUT_SHAPE["lenet"])
    rows = []
    for density in (1.0, 0.513, 0.05):
        t_torch, r_torch = run(cfg, a.group, density, data, lambda opt: opt.step())
        t_ours, r_ours = run(cfg, a.group, density, data, adam.step)
        row = {"density": density, "torch_ms": 1e3 * t_torch / a.iterations, "ours_ms": 1e3 * t_ours / a.iterations,
               "identical": same(r_torch, r_ours)}
        row["ratio"] = row["torch_ms"] / row["ours_ms"]
        rows.append(row)
        print(f"density {density:.1%}: {row['torch_ms']:.2f} -> {row['ours_ms']:.2f} ms per step of {a.group} runs "
              f"({row['ratio']:.2f}x), bit-identical: {row['identical']}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "lthrepro", "benchmarks"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip() != ""
    out = ROOT / "benchmarks" / "results" / f"adam-sqrt-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "commit": commit.stdout.strip(), "dirty": dirty, "cpu": numerics.cpu_id(),
                               "threads": 1, "load_before": os.getloadavg()[0], "group": a.group,
                               "iterations": a.iterations, "sqrt_ms": sq, "rows": rows}, indent=1) + "\n")
    print(f"load average: {os.getloadavg()[0]:.1f}; written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
