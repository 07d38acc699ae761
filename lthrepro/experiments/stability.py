"""Instability analysis (Frankle et al. 2020, "Linear Mode Connectivity and the LTH", LMC) and
IMP with rewinding (Frankle et al. 2019, "Stabilizing the LTH", STAB), on the group engine.

Per trial seed s (everything below is a member of some ``train.train_group`` call):

1. **parent**: the dense network trained from θ0 with data order s, keeping weights, batch-norm
   statistics and optimizer state at every rewind point k.
2. **chains**: IMP with survivors rewound to W_k (``lottery.Runner`` with ``rewind=k``); their
   level 0 is the parent. The sparse pairs' masks come from here (LMC §4).
3. **pairs**: two copies from one start at k, trained to the end of the schedule with different
   data orders (data seeds derived from (s, copy)). One protocol for every pair, the authors'
   (open_lth ``training/train.py``: ``train(..., start_step)`` builds a fresh optimizer at any
   start step and advances the lr schedule to it; only a checkpoint resume restores optimizer
   state): the copies start from the parent's weights (and BN statistics) at k with a fresh
   optimizer and the lr schedule from k. ``dense``: W_k. ``imp`` / ``random`` / ``reinit`` at an
   IMP level: W_k ⊙ m (reinit: a fresh Glorot draw ⊙ m; random: a random mask of the same
   per-layer densities) (STAB §3). Side result, kind ``dense_continue`` at ``continue_ks``: dense
   copies that continue the parent's optimizer state at k (with Adam the moments at k are part of
   the start; protocol 1 of this package did this for every dense pair).
   Then the errors at ``alphas`` evenly spaced points on the line between the two copies (test
   split, and a fixed subset of the training set); batch-norm nets get their running statistics
   recomputed on training data at every point, endpoints included. Instability = max error −
   mean of the endpoints' errors (LMC §2); also the L2 distance between the copies' weights (STAB).

Results: ``results/stability-<preset>-<hash>/`` with config.json, provenance.json, summary.csv,
``parent/s<seed>/``, ``chains/`` (a lottery results root) and
``pairs/<kind>/s<seed>/k<k>/level<LL>/metrics.json``; each pair is written atomically when done.

This module: the Spec and its presets, the plan of a run (which pairs are missing) and the order
it trains them in, and summary.csv. Parents and chains: ``stability_parents.py``; building,
training and measuring pairs: ``stability_pairs.py``; the command line: ``stability_cli.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from lthrepro.core import data as data_mod
from lthrepro.core import models, train
from lthrepro.core.config import Config, ConfigError, config_hash
from lthrepro.core.presets import make_config
from lthrepro.experiments import lottery
from lthrepro.experiments.stability_pairs import Pairs
from lthrepro.experiments.stability_parents import Chain, Parents
from lthrepro.store import numerics, provenance
from lthrepro.store import results as res

KINDS = ("dense", "dense_continue", "imp", "random", "reinit")  # mask sources of a pair
SPARSE = KINDS[2:]  # the sparse pairs' mask sources (the Spec's ``kinds``)
# The pairs' protocol, hashed into the run name so that results of another never mix in a folder.
# 1 (until 2026-12-02): dense pairs continued the parent's optimizer state, sparse pairs started a
# fresh one. 2: every pair starts a fresh optimizer (open_lth); continuing is the side result.
PROTOCOL = 2


@dataclass(frozen=True)
class Spec:
    """Which pairs an instability run trains. Only ``alphas`` and ``train_subset`` change a pair's
    numbers (hashed); the grids say how many pairs there are (like LTH's levels and seeds)."""

    ks: tuple[int, ...]  # rewind points of the dense pairs (iterations)
    chain_ks: tuple[int, ...]  # rewind points of the IMP chains and sparse pairs
    levels: tuple[int, ...]  # IMP levels of the sparse pairs
    kinds: tuple[str, ...] = ("imp", "random", "reinit")
    continue_ks: tuple[int, ...] = ()  # side result: dense pairs continuing the parent's optimizer state
    seeds: tuple[int, ...] = (0, 1)
    alphas: int = 30  # LMC §2: 30 evenly spaced points in [0, 1]
    train_subset: int = 10_000  # training examples for the train error along the path


# Per preset and profile: config overrides ("cfg") and the Spec. Evaluation during training is
# sparse (every 1,000 iterations): the pages use final accuracies, and evaluation does not change
# training. LeNet budget (stated on every page): the LTH budget schedule (5,000 iterations, 1/10 of
# the paper's), seed 0, dense k in {0, 100, 500, 2000}, IMP chains and sparse pairs at k in
# {0, 500}, levels 7 and 15 (Pm 21.1% and 3.6%); seeds 0-2 (issue 22: three trials, one parent each),
# and at k > 0 the dense pair that continues the parent's Adam state beside the fresh one.
SPECS: dict[str, dict[str, dict]] = {
    "lenet": {
        # About 1 h of one core for the three seeds (trained together, one torch thread).
        "budget": {"cfg": {"eval_every": 1000}, "ks": (0, 100, 500, 2000), "chain_ks": (0, 500),
                   "levels": (7, 15), "continue_ks": (100, 500, 2000), "seeds": (0, 1, 2)},
        "paper": {"cfg": {"eval_every": 1000}, "ks": (0, 100, 500, 2000, 10_000),
                  "chain_ks": (0, 500, 2000), "levels": (7, 15), "continue_ks": (100, 500, 2000, 10_000),
                  "seeds": (0, 1, 2)},
    },
    # LMC's sparsest levels: ResNet-20 16.8% of conv weights (8 levels), VGG-16 1.4% (19).
    "resnet20_lmc": {
        "budget": {"cfg": {"eval_every": 2500}, "ks": (0, 500, 2000), "chain_ks": (0, 2000),
                   "levels": (8,), "seeds": (0,)},
        "paper": {"cfg": {"eval_every": 2500}, "ks": (0, 100, 500, 1000, 2000, 5000),
                  "chain_ks": (0, 500, 2000), "levels": (8,), "seeds": (0, 1, 2)},
    },
    "vgg16_lmc": {
        "budget": {"cfg": {"eval_every": 2500}, "ks": (0, 500, 2000), "chain_ks": (0, 2000),
                   "levels": (12,), "seeds": (0,)},
        "paper": {"cfg": {"eval_every": 2500}, "ks": (0, 100, 500, 1000, 2000, 5000),
                  "chain_ks": (0, 500, 2000), "levels": (19,), "seeds": (0, 1, 2)},
    },
}


def _smoke(cfg: Config) -> dict:
    """Seconds on a CPU: two rewind points, shallow levels, few α for the CIFAR nets."""
    k = max(1, cfg.iterations // 4)
    lenet = cfg.model == "lenet"
    return {"ks": (0, k), "chain_ks": (0, k) if lenet else (0,), "continue_ks": (k,) if lenet else (),
            "levels": (2,) if lenet and cfg.levels >= 2 else (1,), "seeds": cfg.seeds,
            "alphas": 30 if lenet else 6, "train_subset": 1000 if lenet else 100}


def make(preset: str, profile: str = "budget", seeds=None, spec_over: dict | None = None,
         **overrides) -> tuple[Config, Spec]:
    """The training config and the Spec of a stability run; bad input -> one-line ConfigError."""
    if preset not in SPECS:
        raise ConfigError(f"no stability protocol for preset '{preset}'; choose one of {', '.join(SPECS)}")
    entry = dict(SPECS[preset].get(profile, {}))
    cfg = make_config(preset, profile, **{**entry.pop("cfg", {}), **overrides})
    sp = _smoke(cfg) if profile == "smoke" else entry
    sp = {**sp, **(spec_over or {})}
    if seeds is not None:
        sp["seeds"] = tuple(seeds)
    try:
        spec = Spec(**{k: tuple(v) if isinstance(v, list) else v for k, v in sp.items()})
    except TypeError as e:
        raise ConfigError(f"bad stability option: {e}") from None
    check(cfg, spec)
    return cfg, spec


def check(cfg: Config, spec: Spec) -> None:
    from lthrepro.core.config import MAX_INT, last_level
    for name in ("seeds", "ks", "chain_ks", "levels", "kinds", "continue_ks"):
        v = getattr(spec, name)
        if not isinstance(v, tuple) or not v and name in ("seeds", "kinds"):
            raise ConfigError(f"{name} {v!r} must be a non-empty list")
        if len(set(v)) != len(v):
            raise ConfigError(f"{name} {list(v)} names a value twice; give each once")
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_INT for s in spec.seeds):
        raise ConfigError(f"seeds {list(spec.seeds)} must be integers from 0 to {MAX_INT}")
    deepest = last_level(cfg)
    if spec.levels and max(spec.levels) > deepest:
        raise ConfigError(f"levels {list(spec.levels)}: at these pruning rates no weight is pruned after level "
                          f"{deepest}; choose IMP levels from 1 to {deepest}")
    for k in (*spec.ks, *spec.chain_ks, *spec.continue_ks):
        if not isinstance(k, int) or not 0 <= k < cfg.iterations:
            raise ConfigError(f"rewind point k={k} lies beyond the schedule; choose k in [0, {cfg.iterations})")
    if 0 in spec.continue_ks:
        raise ConfigError("continue-ks 0: at k = 0 there is no optimizer state to continue (the pair would be "
                          "the dense pair at k = 0); choose rewind points k > 0")
    bad = [m for m in spec.kinds if m not in SPARSE]
    if bad:
        raise ConfigError(f"unknown mask source '{bad[0]}'; choose from {', '.join(SPARSE)}")
    if any(not isinstance(lv, int) or lv < 1 for lv in spec.levels):
        raise ConfigError(f"levels {spec.levels} must be IMP levels >= 1 (level 0 is the dense pair)")
    if spec.alphas < 2 or spec.train_subset < 1 or not spec.seeds:
        raise ConfigError("alphas must be >= 2, train_subset >= 1 and at least one seed given")


def pair_keys(s: Spec) -> list[tuple[str, int, int, int]]:
    """(kind, seed, k, level) of every pair ``s`` asks for."""
    dense = [("dense", sd, k, 0) for k in s.ks for sd in s.seeds]
    dense += [("dense_continue", sd, k, 0) for k in s.continue_ks for sd in s.seeds]
    return dense + [(m, sd, k, lv) for k in s.chain_ks for lv in s.levels for m in s.kinds for sd in s.seeds]


def run_name(cfg: Config, spec: Spec) -> str:
    blob = json.dumps([config_hash(cfg), spec.alphas, spec.train_subset, PROTOCOL]).encode()
    return f"stability-{cfg.preset}-{hashlib.sha256(blob).hexdigest()[:8]}"


class Experiment:
    """One stability run: parents, chains and pairs of ``spec`` under ``cfg`` (resumable). This
    class plans what is missing and runs it in order; the parents and chains are trained by
    ``stability_parents.Parents``, the pairs built, trained and measured by ``stability_pairs.Pairs``."""

    def __init__(self, cfg: Config, spec: Spec, device: str = "cpu", root: Path | None = None,
                 data: data_mod.Data | None = None, max_group: int | None = None,
                 dtype: torch.dtype = torch.float32, force: bool = False):
        check(cfg, spec)
        self.cfg, self.spec, self.device, self.dtype = cfg, spec, torch.device(device), dtype
        self.force = force  # extend a folder trained under other numerics (recorded in provenance)
        self.dir = Path(root or res.results_root()) / run_name(cfg, spec)
        self._data, self.trained = data, 0
        self.max_group = max_group or 2 * lottery._max_group(cfg, self.device)
        self.names = list(models.layer_kinds(cfg.model))
        ks = sorted(set(spec.ks) | set(spec.chain_ks) | set(spec.continue_ks))
        self.dense = Parents(self.dir, cfg, ks, self.names, self.device, dtype, lambda: self.data)
        self.pairing = Pairs(cfg, spec.alphas, spec.train_subset, self.names, self.device, dtype)

    @property
    def data(self) -> data_mod.Data:
        if self._data is None:
            c = self.cfg
            self._data = data_mod.load(c.dataset, c.val_size, c.split_seed, c.train_limit, c.test_limit,
                                       input_shape=models.INPUT_SHAPE[c.model])
        return self._data

    # ------------------------------------------------------------------------- layout
    def pair_dir(self, kind: str, seed: int, k: int, level: int) -> Path:
        return self.dir / "pairs" / kind / f"s{seed}" / f"k{k:06d}" / f"level{level:02d}"

    def pairs(self) -> list[tuple[str, int, int, int]]:
        return pair_keys(self.spec)

    def todo(self) -> list[tuple[str, int, int, int]]:
        return [p for p in self.pairs() if not (self.pair_dir(*p) / "metrics.json").exists()]

    def chain(self, k: int) -> Chain:
        c = dataclasses.replace(self.cfg, rewind=k, levels=max(self.spec.levels) - 1, reinits=0,
                                random_prune=0, oneshot=False, seeds=self.spec.seeds)
        r = Chain(c, str(self.device), self.dir / "chains", data=self._data, dtype=self.dtype, force=self.force)
        r.needs = frozenset(sd for kind, sd, kk, _ in self.todo() if kind in SPARSE and kk == k)
        return r

    # ----------------------------------------------------------- parents, chains, pairs
    def parents(self, seeds: list[int]) -> None:
        """Train the dense parents of ``seeds`` once, keeping W_k, BN state and optimizer state."""
        self.trained += self.dense.train(seeds)

    def snapshot(self, seed: int, k: int) -> dict:
        return self.dense.snapshot(seed, k)

    def _seed_chain(self, r: Chain, k: int) -> None:
        """Copy the parent into the chain as its level 0 (``Parents.seed_chain``)."""
        self.trained += self.dense.seed_chain(r, k)

    def members(self, kind: str, seed: int, k: int, level: int, chain: Chain | None = None) -> list[train.Member]:
        """The two copies of a pair: one start, two data orders."""
        return self.pairing.members(self.snapshot(seed, k), kind, seed, k, level, chain)

    def run(self) -> Path:
        """Train (or resume) every missing pair; returns the results folder."""
        t0 = time.time()
        todo = self.todo()
        if todo and os.environ.get("LTHREPRO_NO_TRAIN") == "1":
            raise lottery.NoTrainError(f"{self.dir.name}: {len(todo)} unfinished pairs and LTHREPRO_NO_TRAIN=1; "
                                       "run `python -m lthrepro.stability` first")
        fp = None
        if todo:
            res.check_writable(self.dir.parent)
            fp = numerics.fingerprint(str(self.device))  # issue 11: recorded; never mixed in a folder
            numerics.check_extend(self.dir, fp, self.force)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0)) + f".{int(t0 * 1e6) % 10**6:06d}Z"
        commit, clean = provenance.git_commit(), provenance.tree_clean()  # the code that runs

        def record(complete: bool) -> None:  # this session, updated in place (started = its key)
            provenance.add_provenance(self.dir, str(self.device), time.time() - t0, self.trained,
                                      {**self.cfg.to_dict(), "seeds": list(self.spec.seeds),
                                       "levels": max(self.spec.levels)}, started=stamp, commit=commit,
                                      complete=complete, numerics=fp, clean=clean)
        with res.undo_if_new(self.dir):
            self._train(todo, record)
        write_summary(self.dir)
        return self.dir

    def _train(self, todo: list, record) -> None:
        """Parents, then per rewind point its chain and pairs; ``record(complete)`` after each
        chain and group of pairs, so a run killed mid-way accounts for what it wrote."""
        if todo:
            res.write_json(self.dir / "config.json", {
                "config": self.cfg.to_dict(), "spec": dataclasses.asdict(self.spec), "protocol": PROTOCOL,
                "name": self.dir.name,
                "data": self.data.info})
            self.parents(sorted({sd for _, sd, _, _ in todo}))
            record(False)
        for k in sorted({kk for _, _, kk, _ in todo}):
            chain = None
            if any(kind in SPARSE and kk == k for kind, _, kk, _ in todo):  # only sparse pairs need a chain
                chain = self.chain(k)
                self._seed_chain(chain, k)
                chain.run()
                self.trained += chain.trained
                record(False)
            for cont in (False, True):  # a group continues optimizer states, or none does
                keys = [p for p in todo if p[2] == k and (p[0] == "dense_continue") == cont]
                for i in range(0, len(keys), max(1, self.max_group // 2)):
                    part = keys[i: i + max(1, self.max_group // 2)]
                    ms = [self.members(*p, chain=chain) for p in part]
                    out = self.pairing.train(ms, self.data, k)
                    for j, p in enumerate(part):  # each pair is written as soon as it is measured
                        m = self.pairing.metrics(p, ms[j], out[2 * j: 2 * j + 2], self.data)
                        res.write_json(self.pair_dir(*p) / "metrics.json", m)
                    self.trained += 2 * len(part)
                    record(False)
        if todo:
            record(True)


SUMMARY = ["kind", "seed", "k", "level", "density", "test_instability", "train_instability",
           "l2_weights", "test_acc_0", "test_acc_1"]


def collect(run_dir: Path) -> list[dict]:
    rows = []
    for mj in sorted(Path(run_dir).glob("pairs/*/s*/k*/level*/metrics.json")):
        m = res.read_json(mj)
        rows.append({**{k: m[k] for k in SUMMARY[:8]}, "test_acc_0": 1 - m["test_err"][0],
                     "test_acc_1": 1 - m["test_err"][-1]})
    return rows


def write_summary(run_dir: Path) -> None:
    import csv
    import io
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY)
    w.writeheader()
    w.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in collect(run_dir))
    res.write_text(Path(run_dir) / "summary.csv", buf.getvalue())
