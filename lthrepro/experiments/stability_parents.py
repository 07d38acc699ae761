"""The dense side of a stability run (``stability.py``): per trial seed, the parent network trained
once from θ0 to the end of the schedule, whose snapshots at the rewind points k are the starts of
every pair, and the IMP-with-rewinding chains whose level 0 is that parent.

On disk, under the run's folder: ``parent/s<seed>/k<k>.pt`` (W_k, batch-norm statistics and
optimizer state at k), ``final.pt`` (weights and BN state at the end) and ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from lthrepro.core import data as data_mod
from lthrepro.core import models, pruning, train
from lthrepro.core.config import Config
from lthrepro.experiments import lottery
from lthrepro.store import results as res


class Chain(lottery.Runner):
    """An IMP-with-rewinding chain whose tensors are kept while a pair still needs its masks."""

    needs: frozenset[int] = frozenset()

    def _needed(self, seed: int, level: int) -> bool:
        return seed in self.needs or super()._needed(seed, level)


class Parents:
    """The parents of one run's seeds, each trained once and kept at every rewind point in ``ks``.
    ``data`` is called only when a parent is trained (a finished run never loads its data set)."""

    def __init__(self, run_dir: Path, cfg: Config, ks: list[int], names: list[str], device: torch.device,
                 dtype: torch.dtype, data: Callable[[], data_mod.Data]):
        self.dir, self.cfg, self.ks, self.names = run_dir / "parent", cfg, ks, names
        self.device, self.dtype, self.data = device, dtype, data

    def path(self, seed: int, k: int) -> Path:
        return self.dir / f"s{seed}" / f"k{k:06d}.pt"

    def train(self, seeds: list[int]) -> int:
        """Train the parents of ``seeds`` that lack a snapshot, keeping W_k, BN state and optimizer
        state at every k; returns how many were trained."""
        need = [s for s in seeds if not all(self.path(s, k).exists() for k in self.ks)]
        if not need:
            return 0
        init = {s: models.init_params(self.cfg.model, s) for s in need}
        ms = [train.Member(init[s], pruning.full_mask(init[s], self.names), s, tag=f"parent/s{s}") for s in need]
        out = train.train_group(self.cfg, ms, self.data(), self.device, snapshot_at=self.ks, dtype=self.dtype)
        for s, r in zip(need, out, strict=True):
            d = self.path(s, 0).parent
            res.write_tensors(d / "final.pt", {"params": r.final, "state": r.state})
            for k, sn in r.snapshots.items():
                res.write_tensors(self.path(s, k), sn)
            res.write_json(d / "metrics.json", {**r.metrics, "seed": s, "snapshots": self.ks})
        return len(need)

    def snapshot(self, seed: int, k: int) -> dict:
        return torch.load(self.path(seed, k), weights_only=True)

    def seed_chain(self, r: Chain, k: int) -> int:
        """The chain's level 0 is the parent (same θ0, data order and schedule): copy it. A seed
        with no unfinished pair at k keeps its files as they are (a clean clone has no tensors:
        retraining its parent would rewrite finished numbers, on another CPU kind or thread count
        with other last bits). Returns how many parents had to be trained for it."""
        trained = 0
        for s in r.cfg.seeds:
            d0 = res.member_dir(r.dir, "imp", s, 0, 0)
            if res.is_done(d0, need_tensors=s in r.needs):
                continue
            trained += self.train([s])
            pd = self.path(s, 0).parent
            fin, m = torch.load(pd / "final.pt", weights_only=True), res.read_json(pd / "metrics.json")
            full = pruning.full_mask(fin["params"], self.names)
            r.write_config()
            res.save_member(d0, {**m, "kind": "imp", "rep": 0, "level": 0, "density": 1.0,
                                 "layer_density": pruning.layer_density(full), "copied_from": "parent"},
                            full, fin["params"], fin["state"])
            if k:
                sn = self.snapshot(s, k)
                res.write_tensors(d0 / "rewind.pt", {"params": sn["params"], "state": sn["state"]})
        return trained
