"""What a retrained network starts from, per Zhou et al. 2019 ("Deconstructing Lottery Tickets").

mask-1 actions (§3): the starting values of *kept* weights. ``reset`` (rewind to θ0 or θk) is
LTH's; the others ask which property of θ0 matters. Only the prunable weights change; biases
are reset. Values at pruned positions are irrelevant here (the mask-0 action sets them).

mask-0 actions (§4): the values *pruned* weights hold during retraining (they never train).
``zero`` is LTH's. "Moved toward zero" compares |w_final| with |w_init| of the previous round.

Both are plain dicts of functions, keyed by the names used in ``Config``; ``start`` combines them.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor
W = dict[str, Tensor]


def _per_weight(fn):
    """Lift ``fn(w, keep, std, gen) -> new w`` to a whole network: prunable weights only."""
    def action(theta: W, mask: W, std: dict[str, float], gen: torch.Generator) -> W:
        out = {k: v.clone() for k, v in theta.items()}
        for n in mask:  # fixed order of names, so the generator's draws are reproducible
            out[n] = fn(theta[n], mask[n], std[n], gen).to(theta[n].dtype)
        return out
    return action


def _normal(w: Tensor, std: float, gen: torch.Generator) -> Tensor:
    # A fresh draw from the init distribution (Gaussian Glorot, LTH Fig. 2).
    return torch.randn(w.shape, generator=gen, dtype=torch.float64) * std


def _shuffle(w: Tensor, keep: Tensor, gen: torch.Generator) -> Tensor:
    """The kept weights' initial values permuted among the kept positions of the layer."""
    out = w.clone().flatten()
    idx = keep.flatten().nonzero().squeeze(1)
    out[idx] = out[idx[torch.randperm(len(idx), generator=gen)]]
    return out.view_as(w)


def _random_sign(w: Tensor, gen: torch.Generator) -> Tensor:
    return torch.randint(0, 2, w.shape, generator=gen).to(torch.float64) * 2 - 1


def _sign(w: Tensor) -> Tensor:
    # sign(0) would be 0: a weight exactly at zero counts as positive (has measure zero anyway).
    return torch.where(w < 0, -1.0, 1.0).to(torch.float64)


# fn(theta: start weights (θ0 or θk), mask, init std per weight, generator) -> start weights
MASK1: dict = {
    "reset": lambda theta, mask, std, gen: {k: v.clone() for k, v in theta.items()},
    "reinit": _per_weight(lambda w, m, s, g: _normal(w, s, g)),
    "reshuffle": _per_weight(lambda w, m, s, g: _shuffle(w, m, g)),
    # ±α with α the layer's init std (Zhou et al. §3 "constant"); the sign is a coin flip.
    "constant": _per_weight(lambda w, m, s, g: s * _random_sign(w, g)),
    # Sign-preserving versions: the magnitude comes from the action, the sign from θ0.
    "signed_reinit": _per_weight(lambda w, m, s, g: _normal(w, s, g).abs() * _sign(w)),
    "signed_reshuffle": _per_weight(lambda w, m, s, g: _shuffle(w, m, g).abs() * _sign(w)),
    "signed_constant": _per_weight(lambda w, m, s, g: s * _sign(w)),
}


def _toward_zero(theta0: W, final: W, mask: W) -> W:
    """True where the weight moved toward zero in the previous round: |w_f| < |w_i|."""
    return {n: final[n].abs() < theta0[n].abs() for n in mask}


# fn(theta0, final weights of the previous round, mask) -> values of pruned weights (None = 0)
MASK0: dict = {
    "zero": lambda theta0, final, mask: None,
    "freeze_init": lambda theta0, final, mask: {n: theta0[n].clone() for n in mask},
    # Zhou et al. §4 "Variant 1": a pruned weight is 0 if it moved toward zero, else its init.
    "freeze_init_zero_mask": lambda theta0, final, mask: {
        n: torch.where(t, torch.zeros_like(theta0[n]), theta0[n])
        for n, t in _toward_zero(theta0, final, mask).items()},
}
# "Variant 2" applies the same rule to *all* weights: kept weights that moved toward zero
# also start at 0 (and then train). Same pruned values as Variant 1.
MASK0["freeze_init_zero_all"] = MASK0["freeze_init_zero_mask"]
KEPT_TOO = frozenset({"freeze_init_zero_all"})


def start(mask1: str, mask0: str, theta: W, theta0: W, final: W | None, mask: W,
          std: dict[str, float], gen: torch.Generator) -> tuple[W, W | None]:
    """(initial weights of the kept weights, fixed values of the pruned ones) for one retraining."""
    init = MASK1[mask1](theta, mask, std, gen)
    fixed = MASK0[mask0](theta0, final, mask)
    if mask0 in KEPT_TOO:
        moved = _toward_zero(theta0, final, mask)
        for n, t in moved.items():
            init[n] = torch.where(t & mask[n], torch.zeros_like(init[n]), init[n])
    return init, fixed
