"""``python -m lthrepro campaign NAME``: a long campaign trained in slices (issue 20).

Compute comes in slices: a working day on a 2-core CPU, a lent GPU's 15 minutes, a preemptible
cloud machine. A campaign names the runs a figure still needs; each invocation trains the next
unfinished levels (all trials' and controls' members of a level together, or, with
``--deadline``, the most needed levels that fit), writes each finished level with its state
(``store/state.py``), and leaves the folder ready to commit. The next slice, on any machine,
continues from the committed files. The same command runs on a CPU, a GPU (``--device cuda``)
or a Ray cluster (``--executor ray``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lthrepro.core import config as cfgmod
from lthrepro.core import userargs
from lthrepro.core.presets import make_config
from lthrepro.core.userargs import check_group
from lthrepro.scale import executors
from lthrepro.store import results as res
from lthrepro.store import state as st

# name -> (what it is for, [(preset, profile, config fields)]). Trials 0-1 of the LeNet paper
# schedule (issue 15) were trained before level state existed and on another CPU kind: their
# chains cannot be continued exactly, so the campaign adds trials 2-4 with the paper's controls
# (LTH §2: 3 reinits; App. E: 2 random-sparse networks; Fig. 4c: one-shot), to Pm 1.9% (level 20).
CAMPAIGNS: dict[str, tuple[str, list[tuple[str, str, dict]]]] = {
    "lenet-paper": ("LTH Figs. 1, 3, 4 at the paper schedule: trials 2-4, IMP + 3 reinits + 2 random-sparse + "
                    "one-shot, levels 0-20",
                    [("lenet", "paper", {"seeds": (2, 3, 4), "reinits": 3, "random_prune": 2, "oneshot": True,
                                         "levels": 20, "test_curves": "fig3"})]),
    # Fig. 5 plots early-stop and final accuracies, no curves: the test split (10,000 images for a
    # user with the full set) is evaluated at new validation minima and at the end only (issue 21).
    "conv2-budget": ("LTH Fig. 5, Conv-2 at the budget profile: seed 0, IMP + 1 reinit, levels 0-12",
                     [("conv2", "budget", {"seeds": (0,), "reinits": 1, "test_curves": "minima"})]),
    # Seconds on any machine: checks that a machine (or `slice`) trains, writes and copies out.
    "smoke": ("LeNet at the smoke profile (seconds): a check of a machine, not a result",
              [("lenet", "smoke", {"seeds": (0,), "reinits": 1})]),
    # What a lent GPU's slices train (``slice``): Fig. 5's deeper nets, which a CPU cannot; Conv-2
    # is the CPU's campaign (one numerics kind per chain: the two never extend the same runs).
    "fig5-gpu": ("LTH Fig. 5, Conv-4 and Conv-6 at the budget profile: seeds 0-1, IMP + 1 reinit, levels 0-12",
                 [(n, "budget", {"seeds": (0, 1), "reinits": 1, "test_curves": "minima"}) for n in ("conv4", "conv6")]),
}


def configs(name: str) -> list[cfgmod.Config]:
    if name not in CAMPAIGNS:
        raise cfgmod.ConfigError(f"unknown campaign '{name}'; choose from {', '.join(CAMPAIGNS)}")
    return [make_config(p, prof, **over) for p, prof, over in CAMPAIGNS[name][1]]


def progress(cfg: cfgmod.Config, run_dir: Path) -> list[str]:
    """One line per trial: the levels finished of each kind of run, and the state's size."""
    kinds = [("imp", 1), ("reinit", cfg.reinits), ("random", cfg.random_prune), ("oneshot", int(cfg.oneshot))]
    out = []
    for s in cfg.seeds:
        parts = []
        for kind, n in kinds:
            for r in range(n):
                lv = [lv for lv in range(cfg.levels + 1) if res.is_done(res.member_dir(run_dir, kind, s, r, lv))]
                parts.append(f"{kind}{'' if n == 1 else r}: {len(lv)}/{cfg.levels + (kind == 'imp')}")
        size = st.size_of(run_dir / "imp" / f"s{s}r0") if (run_dir / "imp").is_dir() else 0
        out.append(f"  trial {s}: " + ", ".join(parts) + f"; level state {size / 1e3:.0f} kB")
    return out


def report(cfgs: list, dirs: list[Path]) -> str:
    """Each results folder's name and its ``progress`` lines (campaign and slice print this)."""
    return "\n".join(f"{d.name}:\n" + "\n".join(progress(cfg, d)) for cfg, d in zip(cfgs, dirs, strict=True))


def cmd_campaign(a: argparse.Namespace) -> int:
    if a.list:
        for name, (what, _) in CAMPAIGNS.items():
            print(f"{name:<14} {what}")
        return 0
    if a.name is None:
        raise cfgmod.ConfigError("name a campaign (or --list them): " + ", ".join(CAMPAIGNS))
    cfgs = configs(a.name)
    check_group(a.group)
    userargs.check_device(a.device)
    root = Path(a.results) if a.results else None
    dirs, finished = executors.execute(cfgs, a.device, root, a.executor, a.address, a.deadline,
                                       log=(lambda m: None) if a.quiet else print, started=a.started,
                                       progress=not a.quiet, max_group=a.group, force=a.force)
    if dirs:
        print(report(cfgs, dirs))
    rel = [os.path.relpath(d) for d in dirs]
    print("ready to commit: git add " + " ".join(rel))
    if not finished:
        print("levels left: run the same command again, here or on any machine with a clone of the commit")
        return executors.STOPPED
    return 0


def add_parser(sub) -> None:
    c = sub.add_parser("campaign", help="train the next unfinished levels of a long campaign (slices, any machine)")
    c.add_argument("name", nargs="?", help=", ".join(CAMPAIGNS))
    c.add_argument("--list", action="store_true", help="the campaigns and what they are for")
    c.add_argument("--device", default="cpu")
    c.add_argument("--group", type=userargs.int_option(1), default=None, help="max runs trained together")
    c.add_argument("--results", type=userargs.folder, default=None, help="results root (default: ./results)")
    c.add_argument("--executor", default="local", choices=["local", "ray"])
    c.add_argument("--address", default=None, help="Ray cluster address (HOST:PORT)")
    c.add_argument("--deadline", type=userargs.DEADLINE, default=None, metavar="SECONDS",
                   help="stop cleanly within SECONDS, finished levels kept (exit status 75 when work is left)")
    c.add_argument("--force", action="store_true",
                   help="extend a results folder trained under other numerics (recorded per level)")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(fn=cmd_campaign)
