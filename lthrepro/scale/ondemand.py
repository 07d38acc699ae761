"""Experiments: which runner trains a config, and training on demand for the notebooks.

The layer above the two runners: ``lottery.Runner`` (LTH: iterative pruning with controls) and
``supermask.LearnedSupermaskRunner`` (Zhou et al. §5.3: weights frozen, masks learned). Neither
runner module imports this one, and storage (``results``) imports neither, so each module can
be read knowing only what lies below it.

- ``make_runner`` / ``run``: the runner of any config (the ``run`` command uses it).
- ``obtain``: a config's results folder for a notebook, trained only when runs are missing
  (here, or through ``executors`` on a Ray cluster).
- ``run_family`` and the ``supermasks`` command: every DLT variant of one architecture, the
  ablations batched together (``ablation.run_many``), then the untrained-supermask table.
- ``family_frames`` / ``learned_table``: what the DLT notebooks read (training what is missing).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from lthrepro.core import pruning
from lthrepro.core.config import Config, ConfigError, run_name
from lthrepro.core.userargs import check_device, check_group, folder, int_option, parse_executor, parse_overrides
from lthrepro.experiments.ablation import run_many
from lthrepro.experiments.lottery import Runner
from lthrepro.experiments.supermask import (
    FAMILIES,
    LearnedSupermaskRunner,
    dlt_config,
    family_configs,
    untrained,
    write_untrained,
)
from lthrepro.store import results as res


def make_runner(cfg: Config, device: str = "cpu", root: Path | None = None, **kw) -> Runner:
    """The runner for ``cfg``: a learned supermask (Zhou et al. §5.3) trains mask scores."""
    if cfg.supermask:
        return LearnedSupermaskRunner(cfg, device, root, **kw)
    return Runner(cfg, device, root, **kw)


def run(cfg: Config, device: str = "cpu", root: Path | None = None, **kw) -> Path:
    """Run (or resume) ``cfg``; returns its results folder."""
    return make_runner(cfg, device, root, **kw).run()


def obtain(cfg: Config, device: str = "cpu", root: str | Path | None = None, executor: str = "local") -> Path:
    """The results folder of ``cfg``: read as is when every requested run has its metrics
    (tensors are git-ignored, so a fresh clone can render but not extend), otherwise trained
    (``lottery.NoTrainError`` under LTHREPRO_NO_TRAIN=1) here, or on a Ray cluster when
    ``executor`` (a notebook's EXECUTOR) is ``ray`` or ``ray:ADDRESS`` (issue 14)."""
    name, address = parse_executor(executor)
    d = res.resolve_root(root) / run_name(cfg)
    if not res.missing(cfg, root):
        return d
    if name == "local":
        return run(cfg, device=device, root=res.resolve_root(root))
    from lthrepro.scale import executors  # (same layer; executors never imports this module)
    return executors.execute([cfg], device, res.resolve_root(root), name, address)[0][0]


def obtain_available(cfgs: dict[str, Config], device: str = "cpu", root: str | Path | None = None,
                     executor: str = "local") -> tuple[dict[str, Path], dict[str, Config], dict[str, tuple[int, int]]]:
    """A multi-network page's results (issue 21): each config ``obtain``-ed, except under
    LTHREPRO_NO_TRAIN=1 (the book is rendered without training), where a config whose runs are
    missing is shown as far as its campaign has come: the longest prefix of levels 0..L whose
    every run of the page's trials is finished, or left out when it has none (its panels and
    claims are then pending). Returns the folders and the configs shown (levels cut to L) of the
    networks shown, and {key: (L, levels planned)} for every key (L = -1: nothing yet)."""
    import dataclasses
    dirs, shown, chains = {}, {}, {}
    for k, c in cfgs.items():
        if os.environ.get("LTHREPRO_NO_TRAIN") != "1" or not res.missing(c, root):
            dirs[k], shown[k], chains[k] = obtain(c, device, root, executor), c, (c.levels, c.levels)
            continue
        done = next((lv for lv in range(c.levels - 1, -1, -1)
                     if not res.missing(dataclasses.replace(c, levels=lv), root)), -1)
        chains[k] = (done, c.levels)
        if done >= 0:
            dirs[k], shown[k] = res.resolve_root(root) / run_name(c), dataclasses.replace(c, levels=done)
    return dirs, shown, chains


# ---------------------------------------------------------------------------------- driver
ALL_FAMILIES = (*FAMILIES, "untrained")


def run_family(preset: str, profile: str, families: list[str], device: str = "cpu",
               root: Path | None = None, group: int | None = None, **over) -> list[Path]:
    """Train every variant of ``families`` (ablations batched together, then learned masks),
    then the untrained-supermask table from the LTH baseline's dense networks."""
    bad = [f for f in families if f not in ALL_FAMILIES]
    if bad or not families:
        raise ConfigError(f"unknown family '{bad[0] if bad else ''}'; choose from {', '.join(ALL_FAMILIES)}")
    cfgs = family_configs(preset, profile, [f for f in families if f != "untrained"], **over)
    base_cfg = dlt_config(preset, profile, **over)  # every config is checked before any training
    runners = [make_runner(c, device, root, max_group=group) for c in cfgs]
    ablation = [r for r in runners if not r.cfg.supermask]
    learned = [r for r in runners if r.cfg.supermask]
    if ablation:
        run_many(ablation, share_level0=True, train_acc=False)
    if learned:
        run_many(learned, share_level0=False, train_acc=False)
    if "untrained" in families:
        base = make_runner(base_cfg, device, root, max_group=group)
        if not res.is_done(res.member_dir(base.dir, "imp", base.cfg.seeds[0], 0, 0), True):
            run_many([base], train_acc=False)
        t0 = time.time()
        # The reference code evaluates prune powers 0..24; we take every second. Smoke runs only
        # check the pipeline: two criteria, two densities.
        crit, lv = (["large_final", "large_final_same_sign"], [0, 2]) if profile == "smoke" else \
            (list(pruning.CRITERIA), list(range(0, 25, 2)))
        rows = untrained(base, crit, lv)
        write_untrained(base, rows, time.time() - t0)
    return [r.dir for r in runners]


def cmd_supermasks(a: argparse.Namespace) -> int:
    check_device(a.device)
    check_group(a.group)
    fams = [f for f in a.families.split(",") if f]
    root = Path(a.results) if a.results else None
    if root is None and a.profile == "smoke" and not os.environ.get("LTHREPRO_RESULTS"):
        root = res.smoke_root()  # smoke runs never land in the committed results/ (issue 9)
        print(f"smoke run: results go to {root} (not results/; choose with --results DIR)", flush=True)
    for d in run_family(a.preset, a.profile, fams, a.device, root, a.group, **parse_overrides(a.set)):
        print(d)
    return 0


def add_parser(sub) -> None:
    """``python -m lthrepro supermasks PRESET``: the Zhou et al. chapter's runs."""
    p = sub.add_parser("supermasks", help="Zhou et al. 2019: mask criteria, mask-1/mask-0 actions, supermasks")
    p.add_argument("preset")
    p.add_argument("--profile", default="budget")
    p.add_argument("--families", default="criteria,mask1,mask0,untrained,learned",
                   help=f"comma-separated, from {', '.join(ALL_FAMILIES)}")
    p.add_argument("--device", default="cpu")
    p.add_argument("--group", type=int_option(1), default=None, help="max runs trained together")
    p.add_argument("--results", type=folder, default=None, help="results root (default: ./results)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    p.set_defaults(fn=cmd_supermasks)
