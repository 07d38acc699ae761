"""Pure functions on masks: magnitude pruning (layer-wise and global), one-shot, controls.

A mask is ``{weight name: bool tensor}`` for one network (no group axis); True = kept. Biases
and batch-norm parameters never appear in a mask, so they are never pruned (LTH App. I).
Each level removes *exactly* ``round(rate * surviving)`` weights — open_lth's global pruning
keeps only weights strictly above the threshold and so removes one extra per level; we don't.
Ties are broken by position (stable sort), so a mask is a deterministic function of its inputs.
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor
Mask = dict[str, Tensor]


def full_mask(weights: dict[str, Tensor], names: list[str]) -> Mask:
    return {n: torch.ones_like(weights[n], dtype=torch.bool) for n in names}


def n_remove(rate: float, surviving: int) -> int:
    """Weights removed from ``surviving`` at ``rate``: nearest integer, halves rounded up."""
    return min(surviving, math.floor(rate * surviving + 0.5))


def _drop_lowest(scores: Tensor, keep: Tensor, k: int, orders: dict | None = None, key: str = "") -> Tensor:
    """New flat keep-vector with the ``k`` lowest-scoring survivors removed. ``orders`` caches the
    sort under ``key`` for calls with the same scores and mask and another ``k`` (the one-shot
    masks of 30 densities from one trained network: one sort of a 4M-weight layer, not 30)."""
    order = None if orders is None else orders.get(key)
    if order is None:
        s = torch.where(keep, scores.to(torch.float64),
                        torch.tensor(-math.inf, dtype=torch.float64, device=keep.device))
        order = torch.argsort(s, stable=True)  # dead first (-inf), then survivors by score
        if orders is not None:
            orders[key] = order
    out = torch.ones_like(keep)
    out[order[: int((~keep).sum()) + k]] = False
    return out


def prune_layerwise(scores: dict[str, Tensor], mask: Mask, rates: dict[str, float],
                    orders: dict | None = None) -> Mask:
    """Remove ``rates[name]`` of each layer's surviving weights, lowest score first (LTH §2)."""
    new = {}
    for n, m in mask.items():
        r = rates.get(n, 0.0)
        k = n_remove(r, int(m.sum()))
        new[n] = m.clone() if k == 0 else _drop_lowest(scores[n].flatten(), m.flatten(), k, orders, n).view_as(m)
    return new


def prune_global(scores: dict[str, Tensor], mask: Mask, rate: float, names: list[str],
                 orders: dict | None = None) -> Mask:
    """Remove ``rate`` of the surviving weights pooled over ``names`` (LTH §4: VGG/ResNet conv
    layers); layers outside ``names`` are left as they are."""
    flat_m = torch.cat([mask[n].flatten() for n in names])
    flat_s = torch.cat([scores[n].flatten().to(torch.float64) for n in names])
    keep = _drop_lowest(flat_s, flat_m, n_remove(rate, int(flat_m.sum())), orders, "global:" + ",".join(names))
    new, i = {n: m.clone() for n, m in mask.items()}, 0
    for n in names:
        new[n] = keep[i: i + mask[n].numel()].view_as(mask[n])
        i += mask[n].numel()
    return new


def layer_rates(kinds: dict[str, str], rates: dict[str, float]) -> dict[str, float]:
    """Per-weight rate from per-kind rates (conv / fc / output; the output layer is pruned at
    half the fc rate in the presets, LTH Fig. 2)."""
    return {n: rates.get(k, 0.0) for n, k in kinds.items()}


def prune(scores: dict[str, Tensor], mask: Mask, kinds: dict[str, str], rates: dict[str, float],
          scope: str, levels: int = 1, orders: dict | None = None) -> Mask:
    """One pruning step of ``levels`` levels' worth: ``levels=1`` is one IMP level; ``levels=n``
    from a full mask is one-shot pruning to the density IMP reaches after n levels (LTH Fig. 4c).
    ``orders``: a dict shared by calls with the same scores and mask (sorts done once)."""
    eff = {k: 1.0 - (1.0 - r) ** levels for k, r in rates.items()}
    if scope == "global":
        names = [n for n, k in kinds.items() if eff.get(k, 0.0) > 0]
        assert len({eff[kinds[n]] for n in names}) <= 1, "global scope takes one rate"
        return prune_global(scores, mask, eff[kinds[names[0]]], names, orders) if names else dict(mask)
    return prune_layerwise(scores, mask, layer_rates(kinds, eff), orders)


def random_like(mask: Mask, gen: torch.Generator) -> Mask:
    """Random-pruning control: a uniformly random mask with the same per-layer densities."""
    out = {}
    for n, m in mask.items():
        k = int(m.sum())
        perm = torch.randperm(m.numel(), generator=gen)
        flat = torch.zeros(m.numel(), dtype=torch.bool)
        flat[perm[:k]] = True
        out[n] = flat.view_as(m)
    return out


def density(mask: Mask) -> float:
    """Pm = |m|_0 / |theta| over every weight the mask covers (LTH §1)."""
    return sum(int(m.sum()) for m in mask.values()) / sum(m.numel() for m in mask.values())


def layer_density(mask: Mask) -> dict[str, float]:
    return {n: int(m.sum()) / m.numel() for n, m in mask.items()}


def expected_density(kinds_count: dict[str, tuple[str, int]], rates: dict[str, float], n: int) -> float:
    """Pm(n) = sum count * (1 - rate)^n / total (paper-numbers.md §1.2), for axis labels."""
    tot = sum(c for _, c in kinds_count.values())
    return sum(c * (1 - rates.get(k, 0.0)) ** n for k, c in kinds_count.values()) / tot


# ------------------------------------------------------------------ mask criteria (Zhou et al.)
def _rank(x: Tensor, keep: Tensor | None) -> Tensor:
    """Rank of each entry within its tensor, pruned entries (``keep`` False) ranked lowest."""
    x = x.flatten().to(torch.float64)
    if keep is not None:
        x = torch.where(keep.flatten(), x, torch.tensor(-math.inf, dtype=torch.float64, device=x.device))
    r = torch.empty(x.numel(), dtype=torch.float64, device=x.device)
    r[torch.argsort(x, stable=True)] = torch.arange(x.numel(), dtype=torch.float64, device=x.device)
    return r


def _both(a: Tensor, b: Tensor, keep: Tensor | None) -> Tensor:
    """Zhou et al. Fig. 2's "large init, large final" region: keep a weight only if it is above
    the same percentile in both scores. Ranking by the smaller of the two ranks (survivors only,
    as the reference code does by sending pruned weights to -9999) keeps exactly that region."""
    return torch.minimum(_rank(a, keep), _rank(b, keep)).view_as(a)


def _same_sign(wi: Tensor, wf: Tensor, g: torch.Generator) -> Tensor:
    # Score max(0, w_i*w_f/|w_i|): |w_f| if the sign survived training, else 0 (paper-numbers.md
    # §2.1). Sign-flipped weights tie at 0; the reference code breaks ties at random, so we
    # give them a random score below zero (deterministic given the generator).
    same = torch.sign(wi) == torch.sign(wf)
    return torch.where(same, wf.abs().double(), -torch.rand(wf.shape, generator=g, dtype=torch.float64))


# score(w_init, w_final, generator, keep mask or None) -> larger = kept.
# Zhou et al. 2019 §2 and Fig. 2; extra criterion large_final_same_sign from their code (§5).
CRITERIA = {
    "large_final": lambda wi, wf, g, m: wf.abs(),
    "small_final": lambda wi, wf, g, m: -wf.abs(),
    "large_init": lambda wi, wf, g, m: wi.abs(),
    "small_init": lambda wi, wf, g, m: -wi.abs(),
    "large_init_large_final": lambda wi, wf, g, m: _both(wi.abs(), wf.abs(), m),
    "small_init_small_final": lambda wi, wf, g, m: _both(-wi.abs(), -wf.abs(), m),
    "magnitude_increase": lambda wi, wf, g, m: wf.abs() - wi.abs(),
    "movement": lambda wi, wf, g, m: (wf - wi).abs(),
    "random": lambda wi, wf, g, m: torch.rand(wf.shape, generator=g, dtype=torch.float64),
    "large_final_same_sign": lambda wi, wf, g, m: _same_sign(wi, wf, g),
}


def scores(criterion: str, w_init: dict[str, Tensor], w_final: dict[str, Tensor],
           names: list[str], gen: torch.Generator | None = None,
           mask: Mask | None = None) -> dict[str, Tensor]:
    """Per-weight scores of ``criterion`` (larger = kept). ``mask`` is the current mask: only
    the joint criteria need it, to rank among surviving weights."""
    gen = gen or torch.Generator().manual_seed(0)
    fn = CRITERIA[criterion]
    return {n: fn(w_init[n].cpu(), w_final[n].cpu(), gen,
                  None if mask is None else mask[n].cpu()) for n in names}


# ------------------------------------------------- learned supermasks (Zhou et al. §5.3)
def sample_mask(scores: Tensor, train: bool, noise: list[torch.Generator]) -> Tensor:
    """Bernoulli(sigmoid(s)) with a straight-through gradient: forward the 0/1 sample, backward
    as if it were sigmoid(s) (Zhou et al. §5.3), so d mask / d s = sigmoid'(s). Member g's
    draws (group axis first) come from its own generator ``noise[g]`` (issue 10)."""
    prob = torch.sigmoid(scores)
    m = torch.stack([torch.bernoulli(q, generator=g) for q, g in zip(prob.detach(), noise, strict=True)])
    return prob + (m - prob).detach() if train else m


def masked_weights(scores: dict, frozen: dict, names: list[str], dwr: Tensor,
                   train: bool = True, mask_fn=sample_mask, noise: list[torch.Generator] | None = None) -> dict:
    """The weights the network uses: frozen * mask per prunable layer (group axis first); with
    DWR the layer is scaled by (weights in layer) / (ones in its mask), per member."""
    out = {}
    for k, w in frozen.items():
        if k not in names:
            out[k] = w  # biases stay at their (zero) init: the reference code masks them too
            continue
        m = mask_fn(scores[k], train, noise)
        n = m[0].numel()
        ones = m.detach().flatten(1).sum(1).clamp_min(1.0)
        scale = torch.where(dwr, n / ones, torch.ones_like(ones)).view(-1, *[1] * (m.dim() - 1))
        out[k] = w * m * scale
    return out


# ------------------------------------------------------------ early-bird tickets (You et al. 2020)
# A mask here is either one bool tensor or a dict of them (flattened in key order); both mask
# kinds of the chapter work: unstructured weight masks and channel masks.
def _flat(mask: Mask | Tensor) -> Tensor:
    return torch.cat([m.flatten() for m in mask.values()]) if isinstance(mask, dict) else mask.flatten()


def mask_distance(a: Mask | Tensor, b: Mask | Tensor) -> float:
    """Normalised Hamming distance 1 − (#equal entries)/N (You et al., ``EarlyBird.cal_dist``)."""
    fa, fb = _flat(a).bool(), _flat(b).bool()
    if fa.shape != fb.shape:
        raise ValueError(f"masks of different sizes ({fa.numel()} vs {fb.numel()})")
    return float((fa != fb).sum()) / fa.numel()


def max_distance(pruned: float) -> float:
    """Largest distance two masks that each prune a fraction ``pruned`` can have: 2·min(p, 1−p).
    At p = 0.93 (LeNet at Pm 7%) it is 0.14, so the paper's ε = 0.1 is 71% of the way to
    'completely different masks' there, but 10% of it at p = 0.5."""
    return 2.0 * min(pruned, 1.0 - pruned)


def distance_matrix(masks: list) -> Tensor:
    """Pairwise mask distances [T, T] (the paper's mask-distance figure)."""
    flat = torch.stack([_flat(m).bool() for m in masks])  # [T, N]
    x = flat.to(torch.float64)
    diff = x @ (1 - x).T  # entries in i but not in j
    return (diff + diff.T) / flat.shape[1]


def first_draw(dist: Tensor, eps: float = 0.1, keep: int = 5) -> int | None:
    """Index t of the first mask that is within ``eps`` of each of the ``keep − 1`` masks before
    it (You et al.: a FIFO of the last 5 masks, one per epoch; ticket drawn when every distance of
    the newest to the others is ≤ 0.1). None if the rule never fires. ``dist`` is a distance
    matrix over the masks recorded so far, mask 0 being the one before any training."""
    for t in range(keep - 1, dist.shape[0]):
        if all(float(dist[t, t - j]) <= eps for j in range(1, keep)):
            return t
    return None


def early_bird_draw(masks: list, eps: float = 0.1, keep: int = 5) -> int | None:
    """``first_draw`` on the masks themselves."""
    return first_draw(distance_matrix(masks), eps, keep) if len(masks) >= keep else None


def n_channels_removed(total: int, ratio: float) -> int:
    """Channels a global slimming mask removes: ⌊N·p⌋, the authors' threshold index
    ``int(total * percent)``. Their ``|γ| > y[index]`` (``gt``) removes that index's channel too
    (one more) and every channel tied with it; we remove exactly ⌊N·p⌋."""
    return int(total * ratio)


def channel_mask(gammas: dict[str, Tensor], ratio: float) -> Mask:
    """Network slimming's channel selection (Liu et al. 2017; You et al. ``EarlyBird.pruning``):
    one global threshold over all batch-norm |γ|, removing the ⌊N·p⌋ smallest. Ties are broken
    by position (earlier layer, lower channel index removed first), so the count is exact and
    the mask a deterministic function of γ. Returns {bn weight name: bool [C]} (True = kept)."""
    names = list(gammas)
    flat = torch.cat([gammas[n].detach().flatten().abs().cpu() for n in names])
    k = n_channels_removed(flat.numel(), ratio)
    keep = _drop_lowest(flat, torch.ones(flat.numel(), dtype=torch.bool, device=flat.device), k)
    out, i = {}, 0
    for n in names:
        out[n] = keep[i: i + gammas[n].numel()].view(gammas[n].shape)
        i += gammas[n].numel()
    return out


def channel_param_mask(cmask: Mask) -> Mask:
    """A channel mask as engine masks: a removed channel has its γ *and* β fixed at zero, so its
    batch-norm output is 0 and (after ReLU) nothing of it reaches the next layer."""
    out = {}
    for n, m in cmask.items():
        out[n] = m.clone()
        out[n[: -len("weight")] + "bias"] = m.clone()
    return out
