"""glibc's default allocator against ``core/allocator.keep_freed_memory`` (issue 21), in one run.

Run: ``python benchmarks/allocator.py [--models conv2,lenet] [--rounds 3] [--steps 20]``.
Each round starts one fresh process per mode, alternating (``system``: glibc's defaults, mmap
for large blocks and heap trimming; ``keep``: the engine's setting), so that both modes see the
same load. A process, with one torch thread, on the preset's budget data:
- times a training step of one member (``train_group`` at two lengths after an untimed warm-up
  call, the difference divided by the extra steps, so that setup and evaluation cancel), in wall
  and CPU time (user + system);
- times evaluating 2,000 validation images in one chunk (the engine's chunk), after a warm-up;
- hashes the trained weights and every metric, and the evaluation's loss and accuracy.
Prints the medians, the system/keep ratios measured in this run and whether every hash agrees
between the modes (the numbers must not change), and writes benchmarks/results/allocator-<date>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _clock() -> tuple[float, float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), r.ru_utime + r.ru_stime, r.ru_stime


def child(mode: str, model: str, steps: int) -> dict:
    import torch

    from lthrepro.core import allocator, models, train
    from lthrepro.core import data as data_mod
    from lthrepro.core.presets import make_config

    if mode == "system":
        allocator._state["on"] = False  # glibc's defaults stay in force
    torch.set_num_threads(1)
    cfg = make_config(model, "budget")
    data = data_mod.load(cfg.dataset, cfg.val_size, cfg.split_seed, input_shape=models.INPUT_SHAPE[model])
    xe, ye = data.x_val[:2000], data.y_val[:2000]
    data.x_val, data.y_val = data.x_val[:1000], data.y_val[:1000]  # the runs' evaluations cancel out
    data.x_test, data.y_test = data.x_test[:1000], data.y_test[:1000]
    p0 = models.init_params(model, 0)
    member = train.Member(init=p0, mask={k: torch.ones_like(p0[k], dtype=torch.bool)
                                         for k in models.layer_kinds(model)}, data_seed=0)
    t = []
    for n in (2, 2, 2 + steps):  # the first call warms up (one-time setup) and is not timed
        c0 = _clock()
        out = train.train_group(dataclasses.replace(cfg, iterations=n, eval_every=n), [member], data, "cpu",
                                train_acc=False)[0]
        t.append([b - a for a, b in zip(c0, _clock(), strict=True)])
    t = t[1:]
    p = {k: v.unsqueeze(0) for k, v in out.final.items()}
    train.evaluate(model, p, {}, xe[:200], ye[:200])  # warm-up
    c0 = _clock()
    loss, acc = train.evaluate(model, p, {}, xe, ye)
    ev = [b - a for a, b in zip(c0, _clock(), strict=True)]
    h = hashlib.sha256()
    for k in sorted(out.final):
        h.update(out.final[k].numpy().tobytes())
    h.update(json.dumps(out.metrics, sort_keys=True).encode())
    h.update(loss.numpy().tobytes() + acc.numpy().tobytes())
    return {"mode": mode, "model": model, "in_effect": allocator.keep_freed_memory(),
            "step_wall_ms": 1e3 * (t[1][0] - t[0][0]) / steps, "step_cpu_ms": 1e3 * (t[1][1] - t[0][1]) / steps,
            "step_sys_ms": 1e3 * (t[1][2] - t[0][2]) / steps, "eval_wall_ms_per_image": 1e3 * ev[0] / len(xe),
            "eval_cpu_ms_per_image": 1e3 * ev[1] / len(xe), "eval_sys_ms_per_image": 1e3 * ev[2] / len(xe),
            "digest": h.hexdigest()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="conv2,lenet")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "MODEL"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], a.child[1], a.steps)))
        return
    from lthrepro.store.numerics import cpu_id
    git = lambda *c: subprocess.run(["git", *c], capture_output=True, text=True, cwd=ROOT).stdout.strip()  # noqa: E731
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": git("rev-parse", "--short", "HEAD"),
           "dirty": bool(git("status", "--porcelain", "lthrepro", "benchmarks")), "cpu": cpu_id(),
           "threads": 1, "loadavg_start": os.getloadavg(), "runs": [], "models": {}}
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for model in a.models.split(","):
        for _ in range(a.rounds):
            for mode in ("system", "keep"):
                r = subprocess.run([sys.executable, __file__, "--child", mode, model, "--steps", str(a.steps)],
                                   capture_output=True, text=True, env=env, cwd=ROOT, check=True)
                out["runs"].append(json.loads(r.stdout.strip().splitlines()[-1]))
        runs = [r for r in out["runs"] if r["model"] == model]
        timed = [k for k in runs[0] if k.endswith(("ms", "image"))]
        med = {m: {k: statistics.median(r[k] for r in runs if r["mode"] == m) for k in timed}
               for m in ("system", "keep")}
        same = len({r["digest"] for r in runs}) == 1
        ratio = {k: med["system"][k] / med["keep"][k] for k in ("step_wall_ms", "step_cpu_ms", "eval_wall_ms_per_image",
                                                                 "eval_cpu_ms_per_image")}
        out["models"][model] = {"median": med, "ratio_system_over_keep": ratio, "identical": same,
                                "keep_in_effect": all(r["in_effect"] for r in runs if r["mode"] == "keep")}
        s, k = med["system"], med["keep"]
        print(f"{model}: training step {s['step_wall_ms']:.0f} -> {k['step_wall_ms']:.0f} ms wall "
              f"({ratio['step_wall_ms']:.2f}x; CPU {ratio['step_cpu_ms']:.2f}x, kernel {s['step_sys_ms']:.1f} -> "
              f"{k['step_sys_ms']:.1f} ms); evaluation {s['eval_wall_ms_per_image']:.2f} -> "
              f"{k['eval_wall_ms_per_image']:.2f} ms/image ({ratio['eval_wall_ms_per_image']:.2f}x; CPU "
              f"{ratio['eval_cpu_ms_per_image']:.2f}x); numbers {'bit-identical' if same else 'DIFFER'} "
              f"over {a.rounds} rounds")
    out["loadavg_end"] = os.getloadavg()
    dest = ROOT / "benchmarks" / "results" / f"allocator-{time.strftime('%Y%m%d-%H%M%S')}.json"
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"load average {out['loadavg_start'][0]:.2f} -> {out['loadavg_end'][0]:.2f}; wrote {dest.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
