"""``python -m lthrepro bench`` (issue 4): lthrepro's group engine timed against the reference loop.

Both train the same paper-preset runs (dense masks) in one process on one device: the reference
(``reference.train_reference``) one run at a time, the engine (``train.train_group``) in groups
of each size asked for; ``bench_model`` times whole training calls (after a warm-up) and records
peak memory and the machine's load, and ``cmd_bench`` writes the JSON that ``plan`` reads its
rates from (``benchmarks/results/bench-<device>-<time>.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import resource
import time
from pathlib import Path

import torch

from lthrepro.core import data as data_mod
from lthrepro.core import models
from lthrepro.core.presets import make_config
from lthrepro.core.train import Member
from lthrepro.core.userargs import folder, int_option
from lthrepro.scale.reference import train_reference

PRESET_OF = {"lenet": "lenet", "conv2": "conv2", "conv4": "conv4", "conv6": "conv6",
             "vgg19": "vgg19", "resnet20": "resnet18"}


def _peak_reset(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)


def _peak(dev: torch.device) -> dict:
    if dev.type == "cuda":
        return {"peak_device_bytes": torch.cuda.max_memory_allocated(dev)}
    # ru_maxrss is the process's peak resident set (KiB on Linux), monotone over the process.
    return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _timed(fn, dev: torch.device) -> float:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t = time.perf_counter()
    fn()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.perf_counter() - t


def bench_model(model: str, groups: list[int], iters: int, dev: torch.device, data_name: str,
                ref_members: int, eval_n: int, log=print, eval_every: int = 0) -> dict:
    """``eval_every`` > 0: both loops evaluate validation and test every that many iterations
    (as training does), so the times include evaluation; 0: only at the start and the end."""
    from lthrepro.core.train import train_group
    cfg = dataclasses.replace(make_config(PRESET_OF[model], "paper"), iterations=iters,
                              eval_every=eval_every or iters)
    if data_name == "synthetic":
        data = data_mod.load("synthetic", val_size=eval_n, test_limit=eval_n,
                             input_shape=models.INPUT_SHAPE[model])
    else:  # the preset's data set; validation/test cut to eval_n (evaluated twice per run)
        data = data_mod.load(cfg.dataset, cfg.val_size, cfg.split_seed, test_limit=eval_n,
                             input_shape=models.INPUT_SHAPE[model])
        data.x_val, data.y_val = data.x_val[:eval_n], data.y_val[:eval_n]
    names = list(models.layer_kinds(model))

    def members(n: int) -> list[Member]:
        out = []
        for s in range(n):
            p = models.init_params(model, s)
            out.append(Member(init=p, mask={k: torch.ones_like(p[k], dtype=torch.bool) for k in names},
                              data_seed=s))
        return out

    warm = dataclasses.replace(cfg, iterations=1, eval_every=1)
    train_reference(warm, members(1), data, dev, train_acc=False)  # threads, allocator, kernels
    train_group(warm, members(max(groups)), data, dev, train_acc=False)
    _peak_reset(dev)
    load0 = os.getloadavg()
    t_ref = _timed(lambda: train_reference(cfg, members(ref_members), data, dev, train_acc=False), dev)
    ref_rate = ref_members * iters / t_ref
    rec = {"model": model, "reference": {"members": ref_members, "seconds": round(t_ref, 3),
                                         "model_it_per_s": ref_rate, "ms_per_iteration": 1e3 / ref_rate, **_peak(dev),
                                         "loadavg_1min_before": load0[0]}, "engine": []}
    log(f"{model}: reference {ref_rate:9.1f} model-it/s = {1e3 / ref_rate:8.2f} ms/it ({ref_members} runs one by one, "
        f"{t_ref:.1f} s, load {load0[0]:.2f})")
    for G in groups:
        _peak_reset(dev)
        la = os.getloadavg()
        t = _timed(lambda G=G: train_group(cfg, members(G), data, dev, train_acc=False), dev)
        rate = G * iters / t
        pk = _peak(dev)
        rec["engine"].append({"group": G, "seconds": round(t, 3), "model_it_per_s": rate,
                              "ms_per_iteration": 1e3 / rate, "ratio_vs_reference": rate / ref_rate, **pk,
                              "loadavg_1min_before": la[0]})
        mem = next(iter(pk.values())) / 2**20
        log(f"{model}: engine G={G:<3} {rate:9.1f} model-it/s = {1e3 / rate:8.2f} ms/it  "
            f"ratio {rate / ref_rate:6.2f}x  "
            f"peak {'device' if dev.type == 'cuda' else 'rss'} {mem:8.1f} MiB  ({t:.1f} s, load {la[0]:.2f})")
    return rec


def _git_dirty() -> bool | None:
    """Whether lthrepro/ differs from the recorded commit (the numbers are then of the work tree)."""
    import subprocess
    try:
        return bool(subprocess.run(["git", "status", "--porcelain", "lthrepro"], capture_output=True,
                                   text=True, cwd=Path(__file__).resolve().parents[2], timeout=5).stdout.strip())
    except Exception:  # noqa: BLE001
        return None


def check_args(a: argparse.Namespace) -> list[int]:
    """Every option of ``bench`` checked (one-line ConfigError) before minutes of timing;
    returns the group sizes."""
    from lthrepro.core.config import ConfigError
    from lthrepro.core.userargs import check_device
    from lthrepro.store.results import check_writable
    check_device(a.device)
    try:
        groups = [int(g) for g in a.group.split(",")]
    except ValueError:
        raise ConfigError(f"--group {a.group!r}: give group sizes as integers separated by commas, "
                          "e.g. --group 1,8,32") from None
    if not groups or min(groups) < 1:
        raise ConfigError(f"--group {a.group!r}: group sizes must be 1 or more")
    models_ = a.models.split(",")
    bad = [m for m in models_ if m not in PRESET_OF]
    if bad or not models_:
        raise ConfigError(f"unknown model '{bad[0] if bad else ''}' in --models; choose from {', '.join(PRESET_OF)}")
    for opt, v, lo in (("--iters", a.iters, 1), ("--eval-n", a.eval_n, 1), ("--ref-members", a.ref_members, 0),
                       ("--threads", a.threads or 1, 1), ("--eval-every", getattr(a, "eval_every", 0), 0)):
        if v < lo:
            raise ConfigError(f"{opt} {v} must be {lo} or more")
    if len(groups) > 64 or max(groups) > 4096:
        raise ConfigError(f"--group {a.group!r}: give at most 64 group sizes of at most 4096 runs")
    check_writable(Path(a.out), "--out")
    return groups


def cmd_bench(a: argparse.Namespace) -> int:
    from lthrepro.store.provenance import device_name, git_commit
    from lthrepro.store.results import write_text
    groups = check_args(a)  # every option before any timing
    dev = torch.device(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.time()
    load_start = os.getloadavg()
    commit, dirty = git_commit(), _git_dirty()  # the code that runs (a checkout may move meanwhile)
    ev = getattr(a, "eval_every", 0)
    recs = [bench_model(m, groups, a.iters, dev, a.data, a.ref_members or min(max(groups), 4), a.eval_n,
                        eval_every=ev) for m in a.models.split(",")]
    out = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": commit, "git_dirty": dirty, "device": str(dev), "device_name": device_name(dev),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
        "wall_seconds": round(time.time() - t0, 1),
        "settings": {"models": a.models.split(","), "groups": groups, "iters": a.iters,
                     "data": a.data, "eval_n": a.eval_n, "eval_every": ev or a.iters, "dtype": "float32",
                     "ref_members": a.ref_members or min(max(groups), 4),
                     "note": "model-iterations/s of whole training calls (setup, evaluation on "
                             "eval_n val/test examples at the start, every eval_every iterations "
                             "and at the end, no train accuracy); "
                             "paper preset hyperparameters, dense masks; the reference rate is "
                             "measured once per model (runs are sequential, so it does not depend "
                             "on the group size)"},
        "results": recs,
    }
    path = Path(a.out) / f"bench-{dev.type}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    write_text(path, json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="time the group engine against a per-model reference loop")
    b.add_argument("--device", default="cpu")
    b.add_argument("--models", default="lenet,conv6", help="comma-separated, e.g. lenet,conv6")
    b.add_argument("--group", default="1,8,32", help="group sizes, comma-separated")
    b.add_argument("--iters", type=int_option(1), default=200, help="training iterations per run")
    b.add_argument("--ref-members", type=int_option(0), default=0,
                   help="runs timed through the reference loop (default: min(max group, 4))")
    b.add_argument("--data", default="real", choices=["real", "synthetic"])
    b.add_argument("--eval-n", type=int_option(1), default=1000, help="val/test examples evaluated")
    b.add_argument("--eval-every", type=int_option(0), default=0,
                   help="evaluate every N iterations in both loops, as training does (default: start and end only)")
    b.add_argument("--threads", type=int_option(1, 4096), default=None,
                   help="torch intra-op threads for both loops (default: torch's choice)")
    b.add_argument("--out", type=folder, default=str(Path(__file__).resolve().parents[2] / "benchmarks" / "results"))
    b.set_defaults(fn=cmd_bench)
