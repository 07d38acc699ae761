"""The benchmark's reference loop (issue 4): training written the way peers do it.

The *reference* trains one run at a time: one ``torch.nn.Module`` and one ``torch.optim``
optimizer per run, batches from a ``torch.utils.data.DataLoader`` (per-image crop/flip with
``torchvision.transforms.functional`` where the preset augments), the mask re-applied to the
weights after every step, ``.item()`` for the running loss, evaluation in ``model.eval()``. It
visits the same examples in the same per-member order as ``train.train_group`` (the order is
the engine's documented protocol, re-implemented here, not imported), so the test suite can
check that both give the same numbers (tests/test_engine.py), and ``python -m lthrepro bench``
can time them against each other in one process on one device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lthrepro.core import data as data_mod
from lthrepro.core import models
from lthrepro.core.config import Config
from lthrepro.core.train import Member, Result, lr_factor
from lthrepro.scale.refnets import MemberDropout, RefSupermaskMLP, load_member, module_state, reference_module

Tensor = torch.Tensor


# --------------------------------------------------------------- reference data pipeline
class MemberOrder(torch.utils.data.Sampler):
    """Batches of one member in the engine's order: per epoch, a permutation of the training
    set drawn from the member's generator (last partial batch dropped), then, when augmenting,
    crop offsets (y, x) in [0, 8] and a flip bit per position, drawn from the same generator."""

    def __init__(self, n: int, batch: int, seed: int, batches: int, augment: bool):
        self.n, self.batch, self.seed, self.batches, self.augment = n, batch, seed, batches, augment

    def __len__(self) -> int:
        return self.batches

    def __iter__(self):
        g, done, steps = torch.Generator().manual_seed(int(self.seed)), 0, self.n // self.batch
        while True:
            perm = torch.randperm(self.n, generator=g)[: steps * self.batch].tolist()
            draws = [torch.randint(0, hi, (steps * self.batch,), generator=g).tolist()
                     for hi in (9, 9, 2)] if self.augment else None
            for s in range(steps):
                if done == self.batches:
                    return
                sl = slice(s * self.batch, (s + 1) * self.batch)
                yield [(i, *(d[j] for d in draws)) if draws else (i,)
                       for i, j in zip(perm[sl], range(sl.start, sl.stop))]
                done += 1


def crop_flip(img: Tensor, oy: int, ox: int, flip: bool) -> Tensor:
    """Per-image reference augmentation: what torchvision's RandomCrop(32, padding=4) and
    RandomHorizontalFlip do once their random draws are fixed (pad with zeros, crop, flip)."""
    import torchvision.transforms.functional as TF
    h, w = img.shape[-2:]
    out = TF.crop(TF.pad(img, [4]), oy, ox, h, w)
    return TF.hflip(out) if flip else out


class IndexedData(torch.utils.data.Dataset):
    def __init__(self, x: Tensor, y: Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, key: tuple) -> tuple[Tensor, Tensor]:
        i = key[0]
        x = self.x[i] if len(key) == 1 else crop_flip(self.x[i], key[1], key[2], bool(key[3]))
        return x, self.y[i]


# ---------------------------------------------------------------------- reference loop
@torch.no_grad()
def _evaluate(net: nn.Module, x: Tensor, y: Tensor, device: torch.device, batch: int = 1000) -> tuple:
    net.eval()
    loss, correct = 0.0, 0
    for xb, yb in torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch):
        out = net(xb.to(device))
        loss += F.cross_entropy(out, yb.to(device), reduction="sum").item()
        correct += (out.argmax(1) == yb.to(device)).sum().item()
    net.train()
    return loss / len(x), correct / len(x)


def train_reference(cfg: Config, members: list[Member], data: data_mod.Data,
                    device: str | torch.device = "cpu", start: int = 0,
                    dtype: torch.dtype = torch.float32, train_acc: bool = True) -> list[Result]:
    """Train each member alone, peer style; metrics laid out as ``train.train_group``'s."""
    dev = torch.device(device)
    evals = [i for i in range(0, cfg.iterations + 1, cfg.eval_every) if i >= start]
    if evals[-1] != cfg.iterations:
        evals.append(cfg.iterations)
    ds = IndexedData(data.x_train.to(dtype), data.y_train)
    xva, xte = data.x_val.to(dtype), data.x_test.to(dtype)
    out = []
    for m in members:
        # The run's own noise generator (dropout masks, Bernoulli supermasks): train.Member's
        # documented seed, drawn on the device, in the order the forward pass meets the layers.
        gen = torch.Generator(device=dev).manual_seed(m.noise_seed)
        supermask = getattr(m, "frozen", None) is not None
        if supermask:  # learned supermask (Zhou et al. §5.3): the trained tensors are scores
            net = RefSupermaskMLP(m.frozen, m.init, m.dwr).to(dev, dtype)
            net.set_generator(gen)
            masks, pmap = {}, {}
        else:
            net = reference_module(cfg.model, cfg.dropout).to(dev, dtype)
            if isinstance(getattr(net, "drop", None), MemberDropout):
                net.drop.gen = gen
            load_member(net, m.init, m.state or models.init_state(cfg.model))
            masks = {k: v.to(dev) for k, v in m.mask.items()}
            pmap = dict(net.named_parameters())
        # Pruned weights hold zero, or fixed values (Zhou et al. §4 mask-0 actions).
        fixed = {k: (m.fixed[k] if m.fixed else torch.zeros_like(v, dtype=dtype)).to(dev, dtype)
                 for k, v in masks.items()}
        with torch.no_grad():
            for k, v in masks.items():
                pmap[k].copy_(torch.where(v, pmap[k], fixed[k]))
        if cfg.optimizer == "adam":
            opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                  weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_factor(cfg, i + start))
        loader = torch.utils.data.DataLoader(ds, batch_sampler=MemberOrder(
            len(ds), cfg.batch_size, m.data_seed, cfg.iterations, cfg.augment))
        curves = {k: [] for k in ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss")}
        run_loss, run_n = 0.0, 0
        net.train()
        draw = net.draw_eval_masks if supermask else (lambda: None)
        for it, (xb, yb) in enumerate(loader):
            if it in evals:
                draw()
                _record(curves, net, xva, data.y_val, xte, data.y_test, dev, run_loss, run_n)
                run_loss, run_n = 0.0, 0
            if it < start:  # a rewound run continues the data order of iteration `start`
                continue
            loss = F.cross_entropy(net(xb.to(dev)), yb.to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():  # the mask re-applied after each step
                for k, v in masks.items():
                    pmap[k].copy_(torch.where(v, pmap[k], fixed[k]))
            run_loss += loss.item()
            run_n += 1
        draw()
        _record(curves, net, xva, data.y_val, xte, data.y_test, dev, run_loss, run_n)
        j = min(range(len(evals)), key=lambda i: curves["val_loss"][i])
        draw()
        tr = _evaluate(net, data.x_train.to(dtype), data.y_train, dev)[1] if train_acc else math.nan
        metrics = {"iterations": evals, **curves, "early_stop_iter": evals[j],
                   "early_stop_test_acc": curves["test_acc"][j],
                   "early_stop_val_acc": curves["val_acc"][j],
                   "final_test_acc": curves["test_acc"][-1], "final_val_acc": curves["val_acc"][-1],
                   "final_train_acc": tr}
        params, state = module_state(net)
        if supermask:  # lthrepro's names: a layer's score under its weight's name, biases frozen
            params = {**{f"{n}.weight": ly.score.detach().clone() for n, ly in zip(net.names, net.layers)},
                      **{f"{n}.bias": ly.bias.clone() for n, ly in zip(net.names, net.layers)}}
        out.append(Result(final={k: v.cpu() for k, v in params.items()},
                          state={k: v.cpu() for k, v in state.items()}, metrics=metrics))
    return out


def _record(curves: dict, net: nn.Module, xva, yva, xte, yte, dev, run_loss: float, run_n: int) -> None:
    vl, va = _evaluate(net, xva, yva, dev)
    tl, ta = _evaluate(net, xte, yte, dev)
    for k, v in zip(curves, (vl, va, tl, ta, run_loss / max(run_n, 1))):
        curves[k].append(v)
