"""The pairs of a stability run (``stability.py``): two copies from one start at iteration k,
trained to the end of the schedule with different data orders, and the errors along the straight
line between them (``interpolation.py``). Builds the copies, trains a group of pairs, and turns
the trained copies into a pair's metrics; where they are written is the run's business.
"""

from __future__ import annotations

import dataclasses

import torch

from lthrepro.core import data as data_mod
from lthrepro.core import models, pruning, train
from lthrepro.core.config import Config, ConfigError, derive_seed
from lthrepro.experiments.interpolation import barrier, path_errors
from lthrepro.experiments.stability_parents import Chain


def copy_seed(seed: int, copy: int) -> int:
    """Data order (and augmentation draws) of copy 0 or 1 of trial ``seed``'s pairs."""
    return derive_seed("copy", seed, copy)


class Pairs:
    """Pairs under one config: ``alphas`` points on each path, the train error on ``train_subset``
    training examples (the Spec's two numbers that change a pair's results)."""

    def __init__(self, cfg: Config, alphas: int, train_subset: int, names: list[str], device: torch.device,
                 dtype: torch.dtype):
        self.cfg, self.alphas, self.train_subset, self.names = cfg, alphas, train_subset, names
        self.device, self.dtype = device, dtype

    def members(self, sn: dict, kind: str, seed: int, k: int, level: int, chain: Chain | None = None
                ) -> list[train.Member]:
        """The two copies of a pair: one start, two data orders. ``sn``: the parent's snapshot at k."""
        opt = None
        init, state = sn["params"], sn["state"] or None
        if kind in ("dense", "dense_continue"):  # a fresh optimizer (open_lth), or the parent's at k
            mask = pruning.full_mask(init, self.names)
            if kind == "dense_continue":
                opt = sn["opt"] or None
        else:
            mask = chain._imp_mask(seed, level)  # IMP with survivors rewound to k (LMC §4)
            if kind == "random":
                mask = pruning.random_like(mask, torch.Generator().manual_seed(
                    derive_seed("random", seed, k, level)))
            elif kind == "reinit":
                init, state = models.init_params(self.cfg.model, derive_seed("reinit", seed, k, level)), None
        return [train.Member(init, mask, copy_seed(seed, c), state=state, opt_state=opt,
                             tag=f"{kind}/s{seed}/k{k}/level{level}/copy{c}") for c in (0, 1)]

    def train(self, ms: list[list[train.Member]], data: data_mod.Data, k: int) -> list[train.Result]:
        """Train the copies of some pairs together from iteration k; two results per pair, in order."""
        cfg = dataclasses.replace(self.cfg, eval_every=self.cfg.iterations)  # copies: final only
        return train.train_group(cfg, [m for pair in ms for m in pair], data, self.device,
                                 start=k, dtype=self.dtype, train_acc=False)

    def _splits(self, data: data_mod.Data) -> tuple[dict, torch.Tensor]:
        d, dev = data, self.device
        if self.train_subset > len(d.x_train):
            raise ConfigError(f"train_subset {self.train_subset} exceeds the {len(d.x_train)} "
                              "training examples; choose a smaller one")
        idx = torch.randperm(len(d.x_train), generator=torch.Generator().manual_seed(0))[: self.train_subset]
        xs, ys = d.x_train[idx].to(dev, self.dtype), d.y_train[idx].to(dev)
        return {"test_err": (d.x_test.to(dev, self.dtype), d.y_test.to(dev)), "train_err": (xs, ys)}, xs

    def metrics(self, key: tuple, ms: list[train.Member], out: list[train.Result], data: data_mod.Data) -> dict:
        """A trained pair's metrics.json: the errors along the path, the instabilities (max error
        − mean of the endpoints', LMC §2) and the L2 distance between the copies' weights (STAB)."""
        splits, bn_x = self._splits(data)
        path = path_errors(self.cfg.model, out[0].final, out[1].final, splits, self.alphas, bn_x,
                           self.cfg.batch_size, self.device)
        l2 = sum(float(((out[0].final[n] - out[1].final[n]).double() ** 2).sum()) for n in self.names) ** 0.5
        kind, seed, k, level = key
        return {
            "kind": kind, "seed": seed, "k": k, "level": level, "density": pruning.density(ms[0].mask),
            "layer_density": pruning.layer_density(ms[0].mask), "copy_seeds": [m.data_seed for m in ms],
            **path, "test_instability": barrier(path["test_err"]), "train_instability": barrier(path["train_err"]),
            "l2_weights": l2, "bn_recomputed": self.cfg.model in models.HAS_BN,
            "copies": [{x: o.metrics[x] for x in ("final_test_acc", "final_val_acc")} for o in out]}
