"""The benchmark's reference networks (issue 4): LeNet, Conv-2/4/6, ResNet-20, VGG-19 and the
learned-supermask MLP written as plain ``torch.nn.Module``s, the way peers write them.

They are independent of ``models`` (the engine's batched functional forms) except for the layer
specs they are built from, so that ``reference.train_reference`` checks the engine against a
second implementation. ``load_member`` / ``module_state`` translate between an lthrepro member
(params and BN running stats under lthrepro's names) and a module's state dict.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lthrepro.core import models

Tensor = torch.Tensor


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
