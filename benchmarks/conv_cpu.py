"""Where a Conv-2/4/6 iteration's CPU time goes, and which evaluation layouts keep every number
(issue 21). Run: ``python benchmarks/conv_cpu.py [--models conv2] [--steps 30] [--groups 1,2]``.

For each network and group size G (dense members, the paper preset's Adam, batch 60, CIFAR-10
from LTHREPRO_DATA) one process times, with one torch thread:
- a training step (median interval between optimizer steps over ``--steps`` steps);
- evaluating one validation chunk in each layout tried: the engine's default (contiguous NCHW,
  2,000 examples per chunk), smaller chunks, and channels-last input. A layout is *kept* only if
  its per-example loss sums and predictions are bit-identical to the default's on this CPU
  (``identical`` in the JSON); otherwise its time is shown but it is not used, because it would
  change reported numbers.
- the cost per training iteration of a budget level under the evaluation policies: validation
  (5,000 images) every 100 iterations, plus the test split (the 1,017 images here, or 10,000 for
  a user with the full test set) at every evaluation (``all``) or only at new validation minima
  and the end (``minima``, ``Config.test_curves``), with the minima counted from the committed
  Conv-2 runs when any exist (else assumed at every evaluation: an upper bound).
Prints ratios measured in this one run and writes benchmarks/results/conv-cpu-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lthrepro.core import data as data_mod
from lthrepro.core import models, train
from lthrepro.core.presets import make_config
from lthrepro.core.train import Member

ROOT = Path(__file__).resolve().parent.parent


def members(model: str, G: int, density: float = 1.0) -> list[Member]:
    """G members (θ0 from seeds 0..G-1), each under a random mask keeping ``density`` of every
    prunable layer (all of it at 1.0); also used by adam_sqrt.py and numerics_cost.py."""
    out = []
    for s in range(G):
        p = models.init_params(model, s)
        gen = torch.Generator().manual_seed(100 + s)
        out.append(Member(init=p, mask={k: torch.rand(p[k].shape, generator=gen) < density
                                        for k in models.layer_kinds(model)}, data_seed=s))
    return out


def step_intervals(cfg, group: list[Member], data) -> tuple[list[float], torch.optim.Optimizer]:
    """Seconds between consecutive optimizer steps of one train_group call of ``cfg`` (forward,
    backward, step; the first interval is a warm-up and is dropped, and evaluations outside the
    steps do not count), and the optimizer as it ends. Used by step_ms and subnormals.py."""
    stamps, last, step = [], {}, train.optimizer_step

    def timed(opt) -> None:
        step(opt)
        stamps.append(time.perf_counter())
        last["opt"] = opt

    train.optimizer_step = timed
    try:
        train.train_group(cfg, group, data, "cpu", train_acc=False)
    finally:
        train.optimizer_step = step
    return [b - a for a, b in zip(stamps[1:], stamps[2:])], last["opt"]


def step_ms(cfg, group: list[Member], data, steps: int) -> float:
    """ms per training step of a group: the median of ``step_intervals`` over one train_group call
    of 2 + ``steps`` iterations (evaluations only at the start and the end). Until 2026-12-03
    this was the difference of two calls of different lengths, which went negative on a quiet
    CPU (setup and evaluation did not cancel). Also used by numerics_cost.py."""
    import dataclasses
    import statistics
    c = dataclasses.replace(cfg, iterations=2 + steps, eval_every=2 + steps)
    return 1e3 * statistics.median(step_intervals(c, group, data)[0])


@torch.no_grad()
def eval_layout(model: str, p: dict, x: torch.Tensor, y: torch.Tensor, chunk: int, cl: bool) -> tuple:
    G = next(iter(p.values())).shape[0]
    losses, preds = [], []
    t = time.perf_counter()
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        xg = xb.unsqueeze(0).expand(G, *xb.shape)
        if cl:  # the grouped [B, G*C, H, W] tensor in channels-last memory order
            xg = xg.contiguous()
            h = models._to_grouped(xg).contiguous(memory_format=torch.channels_last)
            out = _forward_grouped(model, p, h, G)
        else:
            out = models.forward(model, p, {}, xg, train=False)
        # [G, chunk] per member, joined along the examples: flat, the order of the losses would
        # depend on the chunk size for G > 1 (member-major within each chunk), and equal losses
        # compared in another order read as "DIFFERS" (the G=2 entries of 2026-12-02's JSON).
        ce = F.cross_entropy(out.flatten(0, 1), y[i:i + chunk].repeat(G), reduction="none")
        losses.append(ce.view(G, -1))
        preds.append(out.argmax(-1))
    return time.perf_counter() - t, torch.cat(losses, 1), torch.cat(preds, 1)


def _forward_grouped(model: str, p: dict, h: torch.Tensor, G: int) -> torch.Tensor:
    spec = models.SPECS[model]
    convs = [n for n, k, _ in spec if k == "conv"]
    for i, n in enumerate(convs):
        h = F.relu(models._conv(p, n, h, G))
        if i % 2 == 1:
            h = F.max_pool2d(h, 2)
    fcs = [n for n, k, _ in spec if k in ("fc", "output")]
    return models._fc_head(p, models._from_grouped(h.contiguous(), G), False, 0.0, fcs)


def minima_per_run() -> tuple[float, float, int]:
    """Mean fraction of evaluations that are new validation minima, over committed Conv-2 runs."""
    fr = []
    for mj in ROOT.glob("results/conv2-*/*/s*r*/level*/metrics.json"):
        vl, best, n = json.loads(mj.read_text())["val_loss"], float("inf"), 0
        for v in vl:
            n, best = (n + 1, v) if v < best else (n, best)
        fr.append((n + 1) / len(vl))  # + the end
    return (sum(fr) / len(fr), max(fr), len(fr)) if fr else (1.0, 1.0, 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="conv2")
    ap.add_argument("--groups", default="1,2")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--eval-n", type=int, default=2000)
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    cwd=ROOT).stdout.strip(),
           "dirty": bool(subprocess.run(["git", "status", "--porcelain", "lthrepro", "benchmarks"],
                                        capture_output=True, text=True, cwd=ROOT).stdout.strip()),
           "torch": torch.__version__, "threads": 1, "loadavg_start": os.getloadavg(), "models": []}
    frac, fmax, nruns = minima_per_run()
    for model in a.models.split(","):
        cfg = make_config(model, "budget")
        data = data_mod.load(cfg.dataset, cfg.val_size, cfg.split_seed, input_shape=models.INPUT_SHAPE[model])
        x, y = data.x_val[:a.eval_n], data.y_val[:a.eval_n]
        for G in [int(g) for g in a.groups.split(",")]:
            ms = step_ms(cfg, members(model, G), data, a.steps)
            p = models.stack([m.init for m in members(model, G)])
            eval_layout(model, p, x[:200], y[:200], 200, False)  # warm-up
            base_t, base_l, base_p = eval_layout(model, p, x, y, 2000, False)
            layouts = []
            for chunk, cl in ((2000, False), (500, False), (250, False), (2000, True), (500, True)):
                t, lo, pr = eval_layout(model, p, x, y, chunk, cl)
                same = bool(torch.equal(lo, base_l) and torch.equal(pr, base_p))
                layouts.append({"chunk": chunk, "channels_last": cl, "ms_per_example": 1e3 * t / len(x),
                                "ratio_vs_default": base_t / t, "identical": same,
                                "max_abs_loss_diff": float((lo - base_l).abs().max())})
                print(f"{model} G={G} eval chunk {chunk:4d} {'channels-last' if cl else 'NCHW         '} "
                      f"{1e3 * t / len(x):.3f} ms/example ({base_t / t:.2f}x default) "
                      f"{'bit-identical' if same else 'DIFFERS (not used)'}")
            ev = layouts[0]["ms_per_example"]  # the layout the engine uses (chunk 2,000, NCHW)
            per_it = {}
            for test_n in (1017, 10000):
                val = 5000 * ev / cfg.eval_every
                per_it[f"test{test_n}"] = {pol: ms + val + test_n * ev / cfg.eval_every * f
                                           for pol, f in (("all", 1.0), ("minima", frac))}
            print(f"{model} G={G}: training step {ms:.1f} ms; per iteration incl. evaluation "
                  + "; ".join(f"{k}: all {v['all']:.0f} ms, minima {v['minima']:.0f} ms" for k, v in per_it.items()))
            out["models"].append({"model": model, "group": G, "train_step_ms": ms, "eval_layouts": layouts,
                                  "ms_per_iteration": per_it})
    out.update(minima_fraction=frac, minima_fraction_max=fmax, minima_runs=nruns, loadavg_end=os.getloadavg())
    path = ROOT / "benchmarks" / "results" / f"conv-cpu-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
