"""The six networks of LTH v5 Figure 2, written once for a *group* of G independent members.

Every parameter carries a leading group axis ``[G, ...]``. A fully connected layer is one
batched matmul, a convolution is one grouped convolution (member g owns channel block g),
and batch norm over ``G*C`` channels is exactly per-member batch norm. The loss of a group is
the sum of the members' losses, so one backward pass gives every member its own gradient:
G=1 is the ordinary one-network case, and the engine (issue 4) is the same code with G>1.

Initialisation is Gaussian Glorot everywhere (LTH Fig. 2 caption), biases zero, batch-norm
scale one. Each member is initialised on the CPU from its own seed, so an init depends only on
(architecture, seed), never on the group it trains in or the device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

# ---------------------------------------------------------------------------- layer specs
# A spec is a list of layers: (name, kind, shape). kind in conv | fc | output | shortcut | bn.
# Weight kinds conv/fc/output/shortcut are prunable by rate of that kind (rate 0 = unpruned).


def _mlp(sizes: list[int], prefix: str = "fc") -> list[tuple]:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(("out" if last else f"{prefix}{i + 1}", "output" if last else "fc", (b, a)))
    return layers


def _convnet(widths: list[int], fc_in: int) -> list[tuple]:
    layers, c = [], 3
    for i, w in enumerate(widths):
        layers.append((f"conv{i + 1}", "conv", (w, c, 3, 3)))
        c = w
    return layers + _mlp([fc_in, 256, 256, 10])


VGG19_WIDTHS = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512]
# CIFAR VGG-16 with batch norm (13 conv layers; LMC's and You et al.'s VGG-16, as in open_lth's
# cifar_vgg_16 and network slimming's vgg16): one network shared by the stability and
# early-bird chapters. Same head as VGG-19: global average pool, one linear layer.
VGG16_WIDTHS = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
VGG_WIDTHS = {"vgg16": VGG16_WIDTHS, "vgg19": VGG19_WIDTHS}


def _vgg(widths: list) -> list[tuple]:
    layers, c, i = [], 3, 0
    for w in widths:
        if w == "M":
            continue
        i += 1
        layers += [(f"conv{i}", "conv", (w, c, 3, 3)), (f"bn{i}", "bn", (w,))]
        c = w
    return layers + [("out", "output", (10, 512))]


def _resnet20() -> list[tuple]:
    layers = [("conv0", "conv", (16, 3, 3, 3)), ("bn0", "bn", (16,))]
    c = 16
    for s, w in enumerate([16, 32, 64]):
        for b in range(3):
            p = f"s{s}b{b}"
            layers += [(f"{p}.conv1", "conv", (w, c, 3, 3)), (f"{p}.bn1", "bn", (w,)),
                       (f"{p}.conv2", "conv", (w, w, 3, 3)), (f"{p}.bn2", "bn", (w,))]
            if c != w:  # option-B projection shortcut: 1x1 conv + BN (not pruned, App. I.3)
                layers += [(f"{p}.short", "shortcut", (w, c, 1, 1)), (f"{p}.bnshort", "bn", (w,))]
            c = w
    return layers + [("out", "output", (10, 64))]


SPECS: dict[str, list[tuple]] = {
    "lenet": _mlp([784, 300, 100, 10]),
    "conv2": _convnet([64, 64], 16 * 16 * 64),
    "conv4": _convnet([64, 64, 128, 128], 8 * 8 * 128),
    "conv6": _convnet([64, 64, 128, 128, 256, 256], 4 * 4 * 256),
    "vgg16": _vgg(VGG16_WIDTHS),
    "vgg19": _vgg(VGG19_WIDTHS),
    "resnet20": _resnet20(),
}
INPUT_SHAPE = {"lenet": (784,), "conv2": (3, 32, 32), "conv4": (3, 32, 32),
               "conv6": (3, 32, 32), "vgg16": (3, 32, 32), "vgg19": (3, 32, 32),
               "resnet20": (3, 32, 32)}
HAS_BN = {"vgg16", "vgg19", "resnet20"}


def layer_kinds(model: str) -> dict[str, str]:
    """Prunable weight name -> kind (conv, fc, output, shortcut)."""
    return {f"{n}.weight": k for n, k, _ in SPECS[model] if k != "bn"}


def count_weights(model: str, kinds: tuple[str, ...] = ("conv", "fc", "output", "shortcut")) -> int:
    return sum(math.prod(s) for _, k, s in SPECS[model] if k in kinds)


# --------------------------------------------------------------------------------- init
def init_params(model: str, seed: int, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """One member's parameters (no group axis), Gaussian Glorot from ``seed``."""
    g = torch.Generator().manual_seed(int(seed))
    params: dict[str, Tensor] = {}
    for name, kind, shape in SPECS[model]:
        if kind == "bn":
            params[f"{name}.weight"] = torch.ones(shape, dtype=dtype)
            params[f"{name}.bias"] = torch.zeros(shape, dtype=dtype)
            continue
        rf = math.prod(shape[2:]) if len(shape) > 2 else 1
        std = math.sqrt(2.0 / (shape[0] * rf + shape[1] * rf))
        params[f"{name}.weight"] = (torch.randn(shape, generator=g, dtype=torch.float64) * std).to(dtype)
        if kind != "shortcut" and model not in HAS_BN or kind == "output":
            params[f"{name}.bias"] = torch.zeros(shape[0], dtype=dtype)
    return params


def init_std(model: str) -> dict[str, float]:
    """Glorot std per prunable weight (Zhou et al.'s constant alpha uses it)."""
    out = {}
    for name, kind, shape in SPECS[model]:
        if kind != "bn":
            rf = math.prod(shape[2:]) if len(shape) > 2 else 1
            out[f"{name}.weight"] = math.sqrt(2.0 / (shape[0] * rf + shape[1] * rf))
    return out


def init_state(model: str, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """Batch-norm running statistics for one member (on the host, like every member's state)."""
    st, cpu = {}, torch.device("cpu")
    for name, kind, shape in SPECS[model]:
        if kind == "bn":
            st[f"{name}.mean"] = torch.zeros(shape, dtype=dtype, device=cpu)
            st[f"{name}.var"] = torch.ones(shape, dtype=dtype, device=cpu)
    return st


def stack(members: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {k: torch.stack([m[k] for m in members]).contiguous() for k in members[0]}


def unstack(group: dict[str, Tensor]) -> list[dict[str, Tensor]]:
    n = next(iter(group.values())).shape[0]
    return [{k: v[i].clone() for k, v in group.items()} for i in range(n)]


# ------------------------------------------------------------------------------ forward
def _linear(p: dict, name: str, x: Tensor) -> Tensor:
    # x [G, B, in], W [G, out, in] -> [G, B, out]
    w = p[f"{name}.weight"]
    y = torch.bmm(x, w.transpose(1, 2))
    b = p.get(f"{name}.bias")
    return y if b is None else y + b.unsqueeze(1)


def _conv(p: dict, name: str, x: Tensor, G: int, padding: int = 1, stride: int = 1) -> Tensor:
    # x [B, G*C, H, W]; W [G, O, C, k, k] -> grouped conv with G groups.
    w = p[f"{name}.weight"]
    b = p.get(f"{name}.bias")
    return F.conv2d(x, w.flatten(0, 1), None if b is None else b.flatten(),
                    stride=stride, padding=padding, groups=G)


def _bn(p: dict, st: dict, name: str, x: Tensor, train: bool, momentum: float = 0.1) -> Tensor:
    # Channels are [G*C]: per-channel statistics are exactly per-member statistics.
    return F.batch_norm(x, st[f"{name}.mean"].view(-1), st[f"{name}.var"].view(-1),
                        p[f"{name}.weight"].flatten(), p[f"{name}.bias"].flatten(),
                        training=train, momentum=momentum, eps=1e-5)


def _to_grouped(x: Tensor) -> Tensor:  # [G, B, C, H, W] -> [B, G*C, H, W]
    G, B = x.shape[:2]
    return x.transpose(0, 1).reshape(B, G * x.shape[2], *x.shape[3:])


def _from_grouped(x: Tensor, G: int) -> Tensor:  # [B, G*C, H, W] -> [G, B, C*H*W]
    B = x.shape[0]
    return x.reshape(B, G, -1).transpose(0, 1)


def dropout_(x: Tensor, rate: float, noise: list[torch.Generator] | None) -> Tensor:
    """Inverted dropout of ``x [G, B, ...]`` with member g's mask drawn from ``noise[g]`` alone,
    so a run's noise does not depend on its group or position in it (issue 10). Without
    ``noise`` the global RNG is used (direct calls only; the engine always passes generators)."""
    if noise is None:
        return F.dropout(x, rate, training=True)
    keep = torch.stack([torch.rand(x.shape[1:], generator=g, device=x.device, dtype=x.dtype)
                        for g in noise]) >= rate
    return x * keep / (1 - rate)


def _fc_head(p: dict, x: Tensor, train: bool, dropout: float, names: list[str],
             noise: list[torch.Generator] | None = None) -> Tensor:
    for n in names[:-1]:
        x = F.relu(_linear(p, n, x))
        if dropout > 0 and train:  # LTH App. H.5: dropout on the fully connected layers
            x = dropout_(x, dropout, noise)
    return _linear(p, names[-1], x)


def forward(model: str, p: dict[str, Tensor], st: dict[str, Tensor], x: Tensor,
            train: bool = False, dropout: float = 0.0,
            noise: list[torch.Generator] | None = None, bn_momentum: float = 0.1) -> Tensor:
    """Logits ``[G, B, 10]`` for inputs ``x [G, B, *INPUT_SHAPE]`` (member g sees x[g]);
    ``noise[g]`` is member g's generator for dropout. ``bn_momentum`` 1/i on the i-th batch
    makes the running statistics an exact average (the recomputation along an interpolation
    path, stability.py)."""
    mo = bn_momentum
    G = x.shape[0]
    spec = SPECS[model]
    if model == "lenet":
        return _fc_head(p, x.flatten(2), train, dropout, [n for n, _, _ in spec], noise)
    if model.startswith("conv"):
        h = _to_grouped(x)
        convs = [n for n, k, _ in spec if k == "conv"]
        for i, n in enumerate(convs):
            h = F.relu(_conv(p, n, h, G))
            if i % 2 == 1:
                h = F.max_pool2d(h, 2)
        fcs = [n for n, k, _ in spec if k in ("fc", "output")]
        return _fc_head(p, _from_grouped(h, G), train, dropout, fcs, noise)
    if model in VGG_WIDTHS:
        h, i = _to_grouped(x), 0
        for w in VGG_WIDTHS[model]:
            if w == "M":
                h = F.max_pool2d(h, 2)
                continue
            i += 1
            h = F.relu(_bn(p, st, f"bn{i}", _conv(p, f"conv{i}", h, G), train, mo))
        h = F.adaptive_avg_pool2d(h, 1)
        return _linear(p, "out", _from_grouped(h, G))
    if model == "resnet20":
        h = F.relu(_bn(p, st, "bn0", _conv(p, "conv0", _to_grouped(x), G), train, mo))
        for s in range(3):
            for b in range(3):
                q = f"s{s}b{b}"
                stride = 2 if s > 0 and b == 0 else 1
                o = F.relu(_bn(p, st, f"{q}.bn1", _conv(p, f"{q}.conv1", h, G, 1, stride), train, mo))
                o = _bn(p, st, f"{q}.bn2", _conv(p, f"{q}.conv2", o, G), train, mo)
                if f"{q}.short.weight" in p:
                    h = _bn(p, st, f"{q}.bnshort", _conv(p, f"{q}.short", h, G, 0, stride), train, mo)
                h = F.relu(o + h)
        h = F.adaptive_avg_pool2d(h, 1)
        return _linear(p, "out", _from_grouped(h, G))
    raise KeyError(model)


MODELS = tuple(SPECS)
