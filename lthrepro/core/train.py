"""One flat training loop for a *group* of independent members of one architecture.

Each member has its own init, mask, data order (and augmentation draws), optimizer state and
metrics; the group shares one set of kernels (see models.py). Pruned weights receive no
gradient and are re-set after every step, so under Adam they stay exactly at their fixed value
(zero for LTH) and their moments stay zero (no leakage). Host work per step is one index copy
per epoch; losses and accuracies stay on the device until the end.

Metrics follow LTH §1 fn. 2 / App. C: validation and test every ``eval_every`` iterations;
the early-stop iteration is the iteration of minimum validation loss, decided after training,
and "accuracy at early stop" is test accuracy at that iteration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from lthrepro.core import adam, allocator, models
from lthrepro.core import data as data_mod
from lthrepro.core.config import Config, derive_seed

Tensor = torch.Tensor


@dataclass
class Member:
    """One independent training run."""

    init: dict[str, Tensor]  # starting parameters (one network, no group axis)
    mask: dict[str, Tensor]  # bool per prunable weight; True = trained
    data_seed: int  # data order and augmentation draws
    fixed: dict[str, Tensor] | None = None  # values held by pruned weights (None = zero)
    state: dict[str, Tensor] | None = None  # batch-norm running statistics at the start
    tag: str = ""  # the run's identity, e.g. "imp/s0r0/3" (kind/trial+rep/level)
    # Optimizer state at ``start`` ({param: {"exp_avg": ..., "step": ...}}, as in
    # ``Result.snapshot_opt``): a member given it *continues* a run (LMC §2: the two copies of
    # the dense network resume W_k with its momenta); None = a fresh optimizer (Stabilizing §3).
    opt_state: dict[str, dict[str, Tensor]] | None = None
    # The test-set curve (issue 20): True evaluates the test split at every evaluation; False only
    # where the validation loss reaches a new minimum and at the end. The early-stop and final
    # test accuracies are then the same numbers (a member's evaluation does not depend on the
    # others in its group), the curve in between is NaN, and a LeNet level costs ~1/3 less.
    test_curve: bool = True

    @property
    def noise_seed(self) -> int:
        """Seed of this run's own generator for dropout and Bernoulli-mask noise: a function of
        the run's trial and identity only, never of its group, position or a resume (issue 10)."""
        return derive_seed("noise", int(self.data_seed), self.tag)


def noise_generators(members: list[Member], device: torch.device) -> list[torch.Generator]:
    """One generator per member, on the device where the noise is drawn."""
    return [torch.Generator(device=device).manual_seed(m.noise_seed) for m in members]


@dataclass
class Result:
    final: dict[str, Tensor]
    state: dict[str, Tensor]
    metrics: dict
    snapshot: dict[str, Tensor] | None = None
    snapshot_state: dict[str, Tensor] | None = None
    extra: dict = field(default_factory=dict)
    snapshot_opt: dict[str, dict[str, Tensor]] | None = None
    # Every iteration of ``snapshot_at``: {it: {"params", "state", "opt"}} (snapshot* = the first).
    snapshots: dict[int, dict] = field(default_factory=dict)


def _load_opt_state(opt: torch.optim.Optimizer, p: dict[str, Tensor], members: list[Member],
                    dev: torch.device, dtype: torch.dtype) -> None:
    """Stack the members' optimizer states into ``opt`` (all members continue, or none do:
    Adam's step count is one scalar for the whole group)."""
    given = [bool(m.opt_state) for m in members]
    if not any(given):
        return
    if not all(given):
        raise ValueError("either every member of a group continues an optimizer state or none does")
    for k, t in p.items():
        st = {}
        for sk, v0 in members[0].opt_state[k].items():
            vals = [m.opt_state[k][sk] for m in members]
            if v0.dim() == 0:  # Adam's step: shared by the group
                if any(not torch.equal(v, v0) for v in vals):
                    raise ValueError(f"members continue from different optimizer steps ({sk})")
                st[sk] = v0.clone()
            else:
                st[sk] = torch.stack(vals).to(dev, dtype)
        opt.state[t] = st


def _opt_state(opt: torch.optim.Optimizer, p: dict[str, Tensor]) -> dict[str, dict[str, Tensor]]:
    """The group's optimizer state by parameter name (group axis first; scalars as they are)."""
    return {k: {sk: v.detach().clone() for sk, v in opt.state.get(t, {}).items()
                if isinstance(v, Tensor)} for k, t in p.items()}


def _member_opt(opt_st: dict, g: int) -> dict[str, dict[str, Tensor]]:
    return {k: {sk: (v.cpu() if v.dim() == 0 else v[g].cpu()) for sk, v in d.items()}
            for k, d in opt_st.items()}


def lr_factor(cfg: Config, it: int) -> float:
    """Linear warmup to the base rate over ``cfg.warmup`` iterations, then step decay."""
    warm = min(1.0, (it + 1) / cfg.warmup) if cfg.warmup else 1.0
    return warm * cfg.gamma ** sum(it >= m for m in cfg.milestones)


def _epoch_indices(n: int, batch: int, gens: list[torch.Generator], augment: bool) -> tuple:
    """Per-member permutation of one epoch (last partial batch dropped) and augmentation draws,
    drawn on the host from each member's CPU generator (the same order on every device)."""
    steps, cpu = n // batch, torch.device("cpu")
    idx = torch.stack([torch.randperm(n, generator=g, device=cpu)[: steps * batch] for g in gens])
    aug = None
    if augment:  # drawn per member so a member's crops do not depend on its group
        aug = torch.stack([torch.stack([torch.randint(0, 9, (steps * batch,), generator=g, device=cpu),
                                        torch.randint(0, 9, (steps * batch,), generator=g, device=cpu),
                                        torch.randint(0, 2, (steps * batch,), generator=g, device=cpu)])
                           for g in gens])  # [G, 3, steps*batch]
    return steps, idx.view(len(gens), steps, batch), aug


# Largest activation of one example in one member (floats): the first conv layer's output
# (64 x 32 x 32 for Conv-2/4/6 and VGG-19, 16 x 32 x 32 for ResNet-20), the input for LeNet.
_PEAK_ACT = {"lenet": 784, "resnet20": 16 * 32 * 32}


def eval_chunk(model: str, G: int, dtype: torch.dtype, device: torch.device) -> int:
    """Examples per evaluation chunk: 2,000 unless G members' activations (about four live
    tensors of the largest layer) would exceed a quarter of free device memory (CUDA) or
    1 GiB (CPU). A G=16 Conv-6 group at 2,000 examples would need ~8 GiB per tensor."""
    budget = torch.cuda.mem_get_info(device)[0] / 4 if device.type == "cuda" else 2**30
    per = G * _PEAK_ACT.get(model, 64 * 32 * 32) * torch.finfo(dtype).bits / 8 * 4
    return max(1, min(2000, int(budget // per)))


@torch.no_grad()
def evaluate(model: str, p: dict, st: dict, x: Tensor, y: Tensor, chunk: int = 2000) -> tuple:
    """Mean loss and accuracy of every member on one shared split: two [G] tensors."""
    allocator.keep_freed_memory()  # evaluation chunks are the largest tensors on a CPU
    G = next(iter(p.values())).shape[0]
    loss = torch.zeros(G, device=x.device, dtype=torch.float64)
    correct = torch.zeros(G, device=x.device, dtype=torch.float64)
    for i in range(0, len(x), chunk):
        xb, yb = x[i: i + chunk], y[i: i + chunk]
        out = models.forward(model, p, st, xb.unsqueeze(0).expand(G, *xb.shape), train=False)
        loss += F.cross_entropy(out.flatten(0, 1), yb.repeat(G), reduction="none").view(G, -1).sum(1)
        correct += (out.argmax(-1) == yb).sum(1)
    return loss / len(x), correct / len(x)


def slimmed(model: str) -> list[str]:
    """Batch-norm scale names (γ) that network slimming's L1 penalty acts on."""
    return [f"{n}.weight" for n, k, _ in models.SPECS[model] if k == "bn"]


def slimming_subgradient_(gammas: list[Tensor], s: float) -> None:
    """Network slimming (Liu et al. 2017, as in You et al.'s ``updateBN``): the subgradient of
    s·Σ|γ| added to γ's gradient after backward, before the optimizer step (and before weight
    decay, which SGD applies inside its step): γ.grad += s·sign(γ)."""
    torch._foreach_add_([g.grad for g in gammas], [torch.sign(g) for g in gammas], alpha=s)


# The step train_group takes (a module attribute, so benchmarks/adam_sqrt.py can time torch's own).
optimizer_step = adam.step


def make_optimizer(cfg: Config, params: list[Tensor]) -> torch.optim.Optimizer:
    # Elementwise optimizers over stacked tensors: member g's update depends only on its slice.
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay, foreach=True)


def _measured(curve: Tensor) -> list:
    return [None if math.isnan(v) else v for v in curve.tolist()]


def train_group(cfg: Config, members: list[Member], data: data_mod.Data,
                device: str | torch.device = "cpu", start: int = 0,
                snapshot_at: int | Iterable[int] | None = None, dtype: torch.dtype = torch.float32,
                progress: Callable[[int, Tensor], None] | None = None,
                train_acc: bool = True,
                weights_fn: Callable[[dict, bool, list], dict] | None = None,
                on_eval: Callable[[int, dict, dict], None] | None = None) -> list[Result]:
    """Train every member from iteration ``start`` (a rewind point) to ``cfg.iterations``.

    ``weights_fn(trained, train, noise) -> weights the network uses`` reparameterises the network
    (learned supermasks, Zhou et al. §5.3: trained tensors are mask scores; ``noise`` holds each
    member's generator for its Bernoulli draws); None = identity.
    ``snapshot_at``: iteration(s) at which weights, BN statistics and optimizer state are kept
    (rewinding, STAB; the copies of an instability pair, LMC).
    ``on_eval(it, params, state)`` is called at every evaluation with the group's current
    parameters and batch-norm statistics (detached, group axis first; early-bird masks)."""
    allocator.keep_freed_memory()
    wf = weights_fn or (lambda q, train, noise: q)
    G, model = len(members), cfg.model
    dev = torch.device(device)
    p = {k: v.to(dev, dtype).requires_grad_(True)
         for k, v in models.stack([m.init for m in members]).items()}
    st = models.stack([m.state or models.init_state(model) for m in members]) if models.init_state(model) else {}
    st = {k: v.to(dev, dtype) for k, v in st.items()}
    masks = {k: v.to(dev) for k, v in models.stack([m.mask for m in members]).items()}
    fixed = None
    if any(m.fixed is not None for m in members):
        fixed = {k: v.to(dev, dtype) for k, v in models.stack(
            [m.fixed or {n: torch.zeros_like(t) for n, t in m.mask.items()} for m in members]).items()}
    with torch.no_grad():  # a member starts in its mask's subspace
        for k, m in masks.items():
            p[k].copy_(torch.where(m, p[k], fixed[k] if fixed else torch.zeros((), device=dev, dtype=dtype)))
    # One foreach call per step masks every gradient (and re-zeroes pruned weights): masks as
    # float tensors of the parameters' dtype, so no bool->float conversion runs per step.
    mk = list(masks)
    gammas = slimmed(model) if cfg.slim_l1 else []
    fmask = [masks[k].to(dtype) for k in mk]
    chunk = eval_chunk(model, G, dtype, dev)
    if dev.type == "cuda":  # peak device memory of this group, returned in Result.extra
        torch.cuda.reset_peak_memory_stats(dev)
    opt = make_optimizer(cfg, list(p.values()))
    _load_opt_state(opt, p, members, dev, dtype)
    snaps_at = set() if snapshot_at is None else {snapshot_at} if isinstance(snapshot_at, int) else set(snapshot_at)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_factor(cfg, i + start))
    gens = [torch.Generator(device="cpu").manual_seed(int(m.data_seed)) for m in members]
    xtr, ytr = data.x_train.to(dev, dtype), data.y_train.to(dev)
    xva, yva = data.x_val.to(dev, dtype), data.y_val.to(dev)
    xte, yte = data.x_test.to(dev, dtype), data.y_test.to(dev)
    # Dropout and Bernoulli-mask noise: each member's own generator (the global RNG is never
    # touched). The data order continues through the skipped iterations, as if trained from 0.
    noise = noise_generators(members, dev)
    evals = [i for i in range(0, cfg.iterations + 1, cfg.eval_every) if i >= start]
    if not evals or evals[-1] != cfg.iterations:  # (empty: a start past the last evaluation)
        evals.append(cfg.iterations)
    curves = torch.zeros(5, G, len(evals), dtype=torch.float64, device=dev)
    lazy = torch.tensor([not m.test_curve for m in members], device=dev)
    best_val = torch.full((G,), math.inf, dtype=torch.float64, device=dev)
    run_loss = torch.zeros(G, dtype=torch.float64, device=dev)
    run_n, e, snaps = 0, 0, {}
    steps, it_in_epoch, idx, aug = 0, 0, None, None

    def record(j: int) -> None:
        p_ = wf({k: v.detach() for k, v in p.items()}, False, noise)
        if on_eval:
            on_eval(evals[j], p_, st)
        curves[0, :, j], curves[1, :, j] = evaluate(model, p_, st, xva, yva, chunk)
        new_min = curves[0, :, j] < best_val  # strict: the first minimum is the early stop
        best_val.copy_(torch.minimum(best_val, curves[0, :, j]))
        need = ~lazy | new_min | (j == len(evals) - 1)
        if bool(need.all()):
            curves[2, :, j], curves[3, :, j] = evaluate(model, p_, st, xte, yte, chunk)
        else:
            idx = need.nonzero().flatten()
            curves[2:4, :, j] = math.nan
            if len(idx):
                sub = ({k: v[idx] for k, v in p_.items()}, {k: v[idx] for k, v in st.items()})
                curves[2, idx, j], curves[3, idx, j] = evaluate(model, *sub, xte, yte, chunk)
        curves[4, :, j] = run_loss / max(run_n, 1)

    it = 0
    while True:
        if it in snaps_at:
            snaps[it] = {"params": {k: v.detach().clone() for k, v in p.items()},
                         "state": {k: v.clone() for k, v in st.items()}, "opt": _opt_state(opt, p)}
        if e < len(evals) and it == evals[e]:
            record(e)
            if progress:
                progress(it, curves[1, :, e])
            e, run_loss, run_n = e + 1, run_loss.zero_(), 0
        if it >= cfg.iterations:
            break
        if idx is None or it_in_epoch == steps:
            steps, idx, aug = _epoch_indices(len(xtr), cfg.batch_size, gens, cfg.augment)
            idx, it_in_epoch = idx.to(dev), 0
            aug = aug.to(dev) if aug is not None else None
        if it < start:  # rewound runs skip the batches of iterations before the rewind point
            it, it_in_epoch = it + 1, it_in_epoch + 1
            continue
        b = idx[:, it_in_epoch]  # [G, B]
        xb, yb = xtr[b], ytr[b]
        if aug is not None:
            a = aug[:, :, it_in_epoch * cfg.batch_size:(it_in_epoch + 1) * cfg.batch_size]
            xb = data_mod.augment(xb.flatten(0, 1), a[:, 0].flatten(), a[:, 1].flatten(),
                                  a[:, 2].flatten().bool()).view_as(xb)
        out = models.forward(model, wf(p, True, noise), st, xb, train=True, dropout=cfg.dropout,
                             noise=noise)
        per = F.cross_entropy(out.flatten(0, 1), yb.flatten(), reduction="none").view(G, -1).mean(1)
        # set_to_none: backward writes fresh gradients instead of zero-fill + accumulate (the
        # same values; two passes over the weights fewer per step).
        opt.zero_grad(set_to_none=True)
        per.sum().backward()  # members are independent: d(sum)/d(theta_g) = d(loss_g)/d(theta_g)
        with torch.no_grad():
            if gammas:
                slimming_subgradient_([p[k] for k in gammas], cfg.slim_l1)
            torch._foreach_mul_([p[k].grad for k in mk], fmask)
            optimizer_step(opt)  # Adam: torch's step, bit for bit, minus its slow sqrt (core/adam.py)
            if fixed is None:
                torch._foreach_mul_([p[k] for k in mk], fmask)
            else:
                for k, m in masks.items():
                    p[k].copy_(torch.where(m, p[k], fixed[k]))
            run_loss += per.detach()
        run_n += 1
        sched.step()
        it, it_in_epoch = it + 1, it_in_epoch + 1

    curves = curves.cpu()
    tr_acc = evaluate(model, wf({k: v.detach() for k, v in p.items()}, False, noise), st, xtr, ytr, chunk)[1].cpu() \
        if train_acc else torch.full((G,), math.nan, device="cpu")
    extra = {"peak_device_bytes": torch.cuda.max_memory_allocated(dev)} if dev.type == "cuda" else {}
    results = []
    first = snaps[min(snaps)] if snaps else None
    for g in range(G):
        vl = curves[0, g]
        j = int(torch.argmin(vl))  # first minimum of validation loss
        metrics = {
            "iterations": evals,
            "val_loss": curves[0, g].tolist(), "val_acc": curves[1, g].tolist(),
            # a test point not evaluated (Member.test_curve False) is null: not measured
            "test_loss": _measured(curves[2, g]), "test_acc": _measured(curves[3, g]),
            "train_loss": curves[4, g].tolist(),
            "early_stop_iter": evals[j], "early_stop_test_acc": float(curves[3, g, j]),
            "early_stop_val_acc": float(curves[1, g, j]),
            "final_test_acc": float(curves[3, g, -1]), "final_val_acc": float(curves[1, g, -1]),
            "final_train_acc": float(tr_acc[g]),
        }
        mine = {it: {"params": {k: v[g].cpu() for k, v in sn["params"].items()},
                     "state": {k: v[g].cpu() for k, v in sn["state"].items()},
                     "opt": _member_opt(sn["opt"], g)} for it, sn in snaps.items()}
        results.append(Result(
            final={k: v[g].detach().cpu() for k, v in p.items()},
            state={k: v[g].cpu() for k, v in st.items()}, metrics=metrics,
            snapshot=None if first is None else mine[min(snaps)]["params"],
            snapshot_state=None if first is None else mine[min(snaps)]["state"],
            extra=dict(extra), snapshot_opt=None if first is None else mine[min(snaps)]["opt"],
            snapshots=mine))
    return results
