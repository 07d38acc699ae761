"""``python -m lthrepro slice``: one prepared session for a lent device (issue 21).

A lent GPU comes for ~15 minutes, at most 10 a command, with no papermill and nothing reachable
from it. One command spends it in the order the project needs (the developers' guide: bench
first, then the next slices of Fig. 5): it (1) benches LeNet and the conv nets on the device
(``bench``: the engine against the per-model reference loop, so the *assumed* GPU rates of
Running at scale become measured ones), then (2) trains the next unfinished levels of a campaign
(``campaign``, Fig. 5's conv nets by default) with a deadline that ends the command inside its
budget, and (3) copies what came out (bench JSON, the results folders' committed files: metrics,
level state, config, provenance, summaries; never tensors) under ``--out`` (the device's $OUT),
in the repository's layout, to be copied back and committed like any other slice.
``scripts/gpu_slice.sh`` is the one line to run on the machine.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
from pathlib import Path

from lthrepro.core.config import ConfigError
from lthrepro.scale import campaign as camp
from lthrepro.scale import executors

# Files under results/ that are committed (the rest, tensors, stay on the machine: .gitignore).
COMMITTED = (".json", ".csv", ".bin")
MARGIN_S = 30.0  # for copying out and the interpreter's exit after the deadline


def check_args(a: argparse.Namespace) -> list[int]:
    """Every option checked before anything runs (one-line ConfigError, exit 2)."""
    from lthrepro.core.userargs import check_device, check_group
    from lthrepro.scale import bench
    from lthrepro.store.results import check_writable
    check_device(a.device)
    if not (isinstance(a.budget, int | float) and math.isfinite(a.budget) and 0 < a.budget <= 86_400):
        raise ConfigError(f"--budget {a.budget}: give the seconds this session may take, e.g. --budget 540")
    if a.bench_models and a.budget < 4 * MARGIN_S:
        raise ConfigError(f"--budget {a.budget} leaves no time to bench and train; give at least "
                          f"{4 * MARGIN_S:.0f} s or drop the bench with --bench-models ''")
    camp.configs(a.campaign)  # unknown name -> one line
    check_group(a.group)
    # the folders are created only once every value above is known good (nothing left behind)
    groups = bench.check_args(bench_namespace(a)) if a.bench_models else []
    check_writable(Path(a.out), "--out")
    return groups


def bench_namespace(a: argparse.Namespace) -> argparse.Namespace:
    """The bench's options: synthetic data of each net's input shape (a rate does not depend on
    the pixels, and CIFAR-10's 141 MB may not have reached the device yet)."""
    return argparse.Namespace(device=a.device, models=a.bench_models, group=a.bench_groups, iters=a.bench_iters,
                              ref_members=0, data="synthetic", eval_n=a.bench_eval_n, threads=None, eval_every=0,
                              out=str(Path(a.out) / "benchmarks" / "results"))


def copy_out(run_dir: Path, out: Path) -> int:
    """Copy a results folder's committed files under ``out/results/<name>``; returns the count."""
    n = 0
    for f in sorted(run_dir.rglob("*")):
        if f.is_file() and f.suffix in COMMITTED and not f.name.startswith(".tmp"):
            dest = out / "results" / run_dir.name / f.relative_to(run_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
            n += 1
    return n


def cmd_slice(a: argparse.Namespace) -> int:
    from lthrepro.scale import bench
    t0 = a.started or time.time()
    check_args(a)
    out = Path(a.out)
    if a.bench_models:
        print(f"[slice] bench on {a.device}: {a.bench_models}")
        bench.cmd_bench(bench_namespace(a))
    left = a.budget - (time.time() - t0) - MARGIN_S
    print(f"[slice] {max(left, 0):.0f} s left for campaign {a.campaign}")
    finished, dirs = False, []
    if left > 1:
        from lthrepro.scale.driver import DeadlineTooShort
        cfgs = camp.configs(a.campaign)
        try:
            dirs, finished = executors.execute(cfgs, a.device, Path(a.results) if a.results else None,
                                               deadline=left, started=time.time(), force=a.force,
                                               max_group=a.group)
        except DeadlineTooShort as e:  # the bench is done and kept: say why no level was trained
            print(f"[slice] no level of {a.campaign} fits the {left:.0f} s left ({e}); give a larger --budget")
        if dirs:  # (none when no level fitted)
            print(camp.report(cfgs, dirs))
    copied = sum(copy_out(d, out) for d in dirs)
    print(f"[slice] copied {copied} committed files of {len(dirs)} results folders to {out / 'results'}; "
          f"{'campaign finished' if finished else 'levels left for the next slice'} "
          f"({time.time() - t0:.0f} s of {a.budget:.0f})")
    return 0


def add_parser(sub) -> None:
    from lthrepro.core.userargs import float_option, folder, int_option
    s = sub.add_parser("slice", help="a lent device's session: bench, then the next campaign levels, copied to --out")
    s.add_argument("--device", default="cuda")
    s.add_argument("--budget", type=float_option(0, 86_400, hi_ok=True), default=540.0, metavar="SECONDS",
                   help="wall time of the whole command (default 540: a 10-minute command with room)")
    s.add_argument("--out", type=folder, required=True,
                   help="folder to copy bench JSON and results into (the device's $OUT)")
    s.add_argument("--campaign", default="fig5-gpu", help=", ".join(camp.CAMPAIGNS))
    s.add_argument("--results", type=folder, default=None, help="results root (default: ./results)")
    s.add_argument("--group", type=int_option(1), default=None, help="max runs trained together")
    s.add_argument("--bench-models", default="lenet,conv2,conv4,conv6", help="'' to skip the bench")
    s.add_argument("--bench-groups", default="1,8,32")
    s.add_argument("--bench-iters", type=int_option(1), default=100)
    s.add_argument("--bench-eval-n", type=int_option(1), default=1000)
    s.add_argument("--force", action="store_true",
                   help="extend results folders trained under other numerics (recorded per level)")
    s.set_defaults(fn=cmd_slice)
