"""Linear mode connectivity (Frankle et al. 2020, LMC §2): the error of networks on the straight
line between two trained copies, and the error barrier ("instability") along it.

Pure functions of weights and data; ``stability.py`` runs the experiments around them.
"""

from __future__ import annotations

import torch

from lthrepro.core import models, train


def barrier(errors: list[float]) -> float:
    """LMC §2: max error along the path − mean of the two endpoints' errors."""
    return max(errors) - (errors[0] + errors[-1]) / 2


@torch.no_grad()
def recompute_bn(model: str, p: dict, x: torch.Tensor, batch: int) -> dict:
    """Running statistics of every member recomputed from scratch on ``x`` (un-augmented, in
    batches of ``batch``): momentum 1/i on batch i makes them the exact mean over batches."""
    G = next(iter(p.values())).shape[0]
    st = {k: v.to(x.device, x.dtype).expand(G, *v.shape).clone() for k, v in models.init_state(model).items()}
    for i, j in enumerate(range(0, len(x) - batch + 1, batch)):
        xb = x[j: j + batch]
        models.forward(model, p, st, xb.unsqueeze(0).expand(G, *xb.shape), train=True, bn_momentum=1.0 / (i + 1))
    return st


@torch.no_grad()
def path_errors(model: str, a: dict, b: dict, splits: dict, alphas: int, bn_x: torch.Tensor | None,
                batch: int, device: torch.device, per_call: int = 10) -> dict[str, list[float]]:
    """Errors of (1−α)·a + α·b at ``alphas`` evenly spaced α on every split {name: (x, y)}. α = 0
    and 1 give a and b exactly. ``bn_x``: training images for recomputing BN statistics."""
    al = torch.linspace(0, 1, alphas, device="cpu").tolist()
    out: dict[str, list[float]] = {n: [] for n in splits}
    for i in range(0, len(al), per_call):
        part = al[i: i + per_call]
        p = {k: torch.stack([(1 - t) * a[k] + t * b[k] for t in part]).to(device) for k in a}
        st = recompute_bn(model, p, bn_x, batch) if model in models.HAS_BN else {}
        chunk = train.eval_chunk(model, len(part), next(iter(p.values())).dtype, device)
        for n, (x, y) in splits.items():
            out[n] += (1 - train.evaluate(model, p, st, x, y, chunk)[1]).tolist()
    return {"alpha": al, **out}
