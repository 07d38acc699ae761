"""Benchmark (issue 4): lthrepro's group engine against a per-model loop written the way peers do it.

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

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import resource
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lthrepro.core import data as data_mod
from lthrepro.core import models
from lthrepro.core.config import Config, make_config
from lthrepro.core.train import Member, Result, lr_factor

Tensor = torch.Tensor


# ----------------------------------------------------------------- reference nn.Modules
class MemberDropout(nn.Module):
    """Inverted dropout whose masks come from the run's own generator ``gen`` (set per run):
    keep where U[0,1) >= p, scale by 1/(1-p), one draw of the activation's shape per call."""

    def __init__(self, p: float):
        super().__init__()
        self.p, self.gen = p, None

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        keep = torch.rand(x.shape, generator=self.gen, device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1 - self.p)


class SupermaskLinear(nn.Module):
    """Zhou et al. §5.3, peer style: a frozen linear layer whose weight is multiplied by a
    Bernoulli(sigmoid(score)) mask, straight-through gradient to the score, optional DWR. In
    training every forward draws a mask; in evaluation the mask drawn by ``draw()`` is used."""

    def __init__(self, weight: Tensor, bias: Tensor, score: Tensor, dwr: bool):
        super().__init__()
        self.score = nn.Parameter(score.clone())
        self.register_buffer("weight", weight.clone())
        self.register_buffer("bias", bias.clone())
        self.dwr, self.gen, self.eval_mask = dwr, None, None

    def draw(self) -> Tensor:
        prob = torch.sigmoid(self.score)
        m = torch.bernoulli(prob.detach(), generator=self.gen)
        m = prob + (m - prob).detach() if self.training else m
        scale = m.numel() / m.detach().sum().clamp_min(1.0) if self.dwr else 1.0
        return m * scale

    def forward(self, x: Tensor) -> Tensor:
        m = self.draw() if self.training else self.eval_mask
        return F.linear(x, self.weight * m, self.bias)


class RefSupermaskMLP(nn.Module):
    """LeNet-300-100 with learned supermasks (Zhou et al. §5.3), built from one member."""

    def __init__(self, frozen: dict[str, Tensor], scores: dict[str, Tensor], dwr: bool):
        super().__init__()
        self.names = [n for n, _, _ in models.SPECS["lenet"]]
        self.layers = nn.ModuleList(SupermaskLinear(frozen[f"{n}.weight"], frozen[f"{n}.bias"],
                                                    scores[f"{n}.weight"], dwr) for n in self.names)

    def set_generator(self, gen: torch.Generator) -> None:
        for layer in self.layers:
            layer.gen = gen

    def draw_eval_masks(self) -> None:  # one mask per evaluation, shared by val and test
        with torch.no_grad():
            for layer in self.layers:
                layer.eval_mask = layer.draw()

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class RefConvNet(nn.Module):
    """LeNet-300-100 (no convs) and Conv-2/4/6: pairs of 3x3 convs, each pair followed by 2x2
    max pooling, then fully connected layers with ReLU (and dropout, LTH App. H.5)."""

    def __init__(self, model: str, dropout: float = 0.0):
        super().__init__()
        spec = models.SPECS[model]
        self.convs = [n for n, k, _ in spec if k == "conv"]
        self.fcs = [n for n, k, _ in spec if k in ("fc", "output")]
        for n, k, s in spec:
            setattr(self, n, nn.Conv2d(s[1], s[0], 3, padding=1) if k == "conv" else nn.Linear(s[1], s[0]))
        self.drop = MemberDropout(dropout) if dropout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        for i, n in enumerate(self.convs):
            x = F.relu(getattr(self, n)(x))
            if i % 2 == 1:
                x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        for n in self.fcs[:-1]:
            x = self.drop(F.relu(getattr(self, n)(x)))
        return getattr(self, self.fcs[-1])(x)


class RefBlock(nn.Module):
    def __init__(self, c: int, w: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, w, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = nn.Conv2d(w, w, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(w)
        if c != w:
            self.short = nn.Conv2d(c, w, 1, stride, 0, bias=False)
            self.bnshort = nn.BatchNorm2d(w)

    def forward(self, x: Tensor) -> Tensor:
        o = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(o + (self.bnshort(self.short(x)) if hasattr(self, "short") else x))


class RefResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0, self.bn0 = nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        c = 16
        for s, w in enumerate([16, 32, 64]):
            for b in range(3):
                setattr(self, f"s{s}b{b}", RefBlock(c, w, 2 if s > 0 and b == 0 else 1))
                c = w
        self.out = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn0(self.conv0(x)))
        for s in range(3):
            for b in range(3):
                x = getattr(self, f"s{s}b{b}")(x)
        return self.out(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class RefVGG19(nn.Module):
    def __init__(self):
        super().__init__()
        c, i = 3, 0
        for w in models.VGG19_WIDTHS:
            if w != "M":
                i += 1
                setattr(self, f"conv{i}", nn.Conv2d(c, w, 3, padding=1, bias=False))
                setattr(self, f"bn{i}", nn.BatchNorm2d(w))
                c = w
        self.out = nn.Linear(512, 10)

    def forward(self, x: Tensor) -> Tensor:
        i = 0
        for w in models.VGG19_WIDTHS:
            if w == "M":
                x = F.max_pool2d(x, 2)
                continue
            i += 1
            x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return self.out(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def reference_module(model: str, dropout: float = 0.0) -> nn.Module:
    if model == "lenet" or model.startswith("conv"):
        return RefConvNet(model, dropout)
    return {"resnet20": RefResNet20, "vgg19": RefVGG19}[model]()


def load_member(net: nn.Module, params: dict[str, Tensor], state: dict[str, Tensor]) -> None:
    """Copy one lthrepro member (params + BN running stats) into a reference module."""
    sd = dict(params)
    for k, v in state.items():  # "bn0.mean" -> "bn0.running_mean"
        base, stat = k.rsplit(".", 1)
        sd[f"{base}.running_{stat}"] = v
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)


def module_state(net: nn.Module) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(params, BN state) of a reference module under lthrepro's names."""
    params = {k: v.detach().clone() for k, v in net.named_parameters()}
    state = {}
    for k, v in net.named_buffers():
        base, stat = k.rsplit(".", 1)
        if stat in ("running_mean", "running_var"):
            state[f"{base}.{stat[8:]}"] = v.clone()
    return params, state


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


# ---------------------------------------------------------------------------- benchmark
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
                ref_members: int, eval_n: int, log=print) -> dict:
    from lthrepro.core.train import train_group
    cfg = dataclasses.replace(make_config(PRESET_OF[model], "paper"), iterations=iters,
                              eval_every=iters)
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
                                         "model_it_per_s": ref_rate, **_peak(dev),
                                         "loadavg_1min_before": load0[0]}, "engine": []}
    log(f"{model}: reference {ref_rate:9.1f} model-it/s ({ref_members} runs one by one, "
        f"{t_ref:.1f} s, load {load0[0]:.2f})")
    for G in groups:
        _peak_reset(dev)
        la = os.getloadavg()
        t = _timed(lambda G=G: train_group(cfg, members(G), data, dev, train_acc=False), dev)
        rate = G * iters / t
        pk = _peak(dev)
        rec["engine"].append({"group": G, "seconds": round(t, 3), "model_it_per_s": rate,
                              "ratio_vs_reference": rate / ref_rate, **pk, "loadavg_1min_before": la[0]})
        mem = next(iter(pk.values())) / 2**20
        log(f"{model}: engine G={G:<3} {rate:9.1f} model-it/s  ratio {rate / ref_rate:6.2f}x  "
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
    from lthrepro.core.config import ConfigError, check_device
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
                       ("--threads", a.threads, 0)):
        if v < lo:
            raise ConfigError(f"{opt} {v} must be {lo} or more")
    check_writable(Path(a.out), "--out")
    return groups


def cmd_bench(a: argparse.Namespace) -> int:
    from lthrepro.store.provenance import device_name, git_commit
    groups = check_args(a)  # every option before any timing
    dev = torch.device(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.time()
    load_start = os.getloadavg()
    recs = [bench_model(m, groups, a.iters, dev, a.data, a.ref_members or min(max(groups), 4), a.eval_n)
            for m in a.models.split(",")]
    out = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": git_commit(), "git_dirty": _git_dirty(), "device": str(dev), "device_name": device_name(dev),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
        "wall_seconds": round(time.time() - t0, 1),
        "settings": {"models": a.models.split(","), "groups": groups, "iters": a.iters,
                     "data": a.data, "eval_n": a.eval_n, "dtype": "float32",
                     "ref_members": a.ref_members or min(max(groups), 4),
                     "note": "model-iterations/s of whole training calls (setup, one evaluation "
                             "at start and end on eval_n val/test examples, no train accuracy); "
                             "paper preset hyperparameters, dense masks; the reference rate is "
                             "measured once per model (runs are sequential, so it does not depend "
                             "on the group size)"},
        "results": recs,
    }
    path = Path(a.out) / f"bench-{dev.type}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="time the group engine against a per-model reference loop")
    b.add_argument("--device", default="cpu")
    b.add_argument("--models", default="lenet,conv6", help="comma-separated, e.g. lenet,conv6")
    b.add_argument("--group", default="1,8,32", help="group sizes, comma-separated")
    b.add_argument("--iters", type=int, default=200, help="training iterations per run")
    b.add_argument("--ref-members", type=int, default=0,
                   help="runs timed through the reference loop (default: min(max group, 4))")
    b.add_argument("--data", default="real", choices=["real", "synthetic"])
    b.add_argument("--eval-n", type=int, default=1000, help="val/test examples evaluated")
    b.add_argument("--threads", type=int, default=0,
                   help="torch intra-op threads for both loops (default: torch's choice)")
    b.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "benchmarks" / "results"))
    b.set_defaults(fn=cmd_bench)
