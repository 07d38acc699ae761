"""What a retrained network starts from, per Zhou et al. 2019 ("Deconstructing Lottery Tickets").

mask-1 actions: the starting values of *kept* weights. ``reset`` (rewind to θ0 or θk) is LTH's.
mask-0 actions: the values *pruned* weights hold during retraining (they never train). ``zero``
is LTH's. Both are plain dicts of functions, keyed by the names used in ``Config``.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor
W = dict[str, Tensor]


def _reset(theta: W, mask: W, std: dict[str, float], gen: torch.Generator) -> W:
    return {k: v.clone() for k, v in theta.items()}


# fn(theta: start weights (θ0 or θk), mask, init std per weight, generator) -> start weights
MASK1: dict = {"reset": _reset}

# fn(theta0, final weights, mask) -> values of pruned weights, or None for zero
MASK0: dict = {"zero": lambda theta0, final, mask: None}
