"""What an early-bird ticket is (You et al. 2020; the runner is ``earlybird``): the protocol per
preset (``Spec``: mask kind, targets, ε, queue length), the mask a ticket takes, the draw rule
applied to a run's mask distances, and what the ticket costs to train (multiply-accumulates).

Two mask kinds (``Spec.kind``):

- ``channels`` (the paper's): network slimming on a batch-norm network. γ.grad += s·sign(γ)
  during training (``Config.slim_l1``); the mask keeps the channels above one global |γ|
  threshold at ratio p (``pruning.channel_mask``); a removed channel has γ and β fixed at 0.
- ``weights`` (our LeNet transfer, not the paper's): the one-shot layer-wise magnitude mask at
  the density of ``n`` IMP levels (``pruning.prune(..., levels=n)``), recorded every
  ``eval_every`` iterations instead of every epoch.

Tickets: ``eb`` (drawn by the paper's rule), ``eb_rel`` (the same rule on distances divided by
their maximum 2·min(p, 1−p), see ``pruning.max_distance``), ``end`` (the mask at the end of the
search run: for LeNet the one-shot ticket of LTH Fig. 4c).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lthrepro.core import models, pruning
from lthrepro.core.config import Config, ConfigError

RETRAIN = ("reset", "continue")
# Per preset: mask kind, targets (IMP levels for weights: Pm 51.3 / 21.1 / 7.0% for LeNet; pruned
# channel ratios for channels) and which (ticket, variant) pairs are retrained.
SPECS: dict[str, dict] = {
    "lenet": {"kind": "weights", "targets": (3, 7, 12),
              "runs": (("eb", "reset"), ("eb_rel", "reset"), ("end", "reset"))},
    "vgg16-eb": {"kind": "channels", "targets": (0.3, 0.5, 0.7),
                 "runs": (("eb", "continue"), ("eb", "reset"), ("end", "reset"))},
}


@dataclass(frozen=True)
class Spec:
    kind: str
    targets: tuple
    runs: tuple
    eps: float = 0.1
    keep: int = 5


def make_spec(preset: str, eps: float = 0.1, keep: int = 5, targets=None) -> Spec:
    """The early-bird protocol for ``preset``; bad values are one-line ``ConfigError``s."""
    if preset not in SPECS:
        raise ConfigError(f"no early-bird experiment for preset '{preset}'; choose one of {', '.join(SPECS)}")
    s = SPECS[preset]
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0.0 < eps < 1.0:
        raise ConfigError(f"eps {eps!r} must lie in (0, 1) (the paper uses 0.1)")
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 2:
        raise ConfigError(f"keep {keep!r} must be an integer of at least 2 masks (the paper keeps 5)")
    targets = tuple(s["targets"] if targets is None else targets)
    if not targets:
        raise ConfigError("give at least one pruning ratio")
    if len(set(targets)) != len(targets):
        raise ConfigError(f"targets {list(targets)} name one twice; give each once")
    for t in targets:
        if s["kind"] == "channels" and not (isinstance(t, int | float) and 0.0 < t < 1.0):
            raise ConfigError(f"pruning ratio {t!r} must lie in (0, 1) (the paper uses 0.3, 0.5, 0.7)")
        if s["kind"] == "weights" and not (isinstance(t, int) and t >= 1):
            raise ConfigError(f"level {t!r} must be an integer ≥ 1 (IMP levels whose density the mask takes)")
    return Spec(s["kind"], targets, s["runs"], float(eps), int(keep))


def target_label(spec: Spec, t) -> str:
    return f"level{t:02d}" if spec.kind == "weights" else f"p{round(100 * t):02d}"


# ------------------------------------------------------------------------------- masks
def _mask_fn(cfg: Config, spec: Spec):
    """fn(one member's params, target) -> engine mask of the ticket."""
    if spec.kind == "channels":
        gam = [f"{n}.weight" for n, k, _ in models.SPECS[cfg.model] if k == "bn"]
        return lambda w, t: pruning.channel_param_mask(pruning.channel_mask({n: w[n] for n in gam}, t))
    kinds = models.layer_kinds(cfg.model)
    names, rates = list(kinds), dict(cfg.rates)
    return lambda w, t: pruning.prune({n: w[n].abs() for n in names}, pruning.full_mask(w, names),
                                      kinds, rates, cfg.scope, levels=t)


def _core(mask: dict, spec: Spec) -> dict:
    """The entries the distance is taken over: γ only for channel masks (β mirrors it)."""
    return {k: v for k, v in mask.items() if spec.kind == "weights" or k.endswith(".weight")}


def pruned_fraction(mask: dict, spec: Spec) -> float:
    return 1.0 - pruning.density(_core(mask, spec))


# ------------------------------------------------------------------------------- FLOPs
def forward_macs(model: str, mask: dict | None) -> float:
    """Multiply-accumulates of one forward pass of one example. LeNet (unstructured masks): one
    per kept weight (the sparse count). VGG (channel masks): H·W·9·C_in·C_out per conv layer with
    removed channels taken out of both, plus the linear head; batch norm and ReLU are not counted."""
    if model == "lenet":
        sizes = {f"{n}.weight": math.prod(s) for n, _, s in models.SPECS[model]}
        return float(sum(int(mask[n].sum()) if mask else c for n, c in sizes.items()))
    if model not in models.VGG_WIDTHS:
        raise KeyError(f"no FLOP count for {model}")
    size, cin, i, total = 32, 3, 0, 0.0
    for w in models.VGG_WIDTHS[model]:
        if w == "M":
            size //= 2
            continue
        i += 1
        cout = int(mask[f"bn{i}.weight"].sum()) if mask else w
        total += size * size * 9 * cin * cout
        cin = cout
    return total + 10 * cin


def cost_ratio(model: str, mask: dict, draw_it: int, start: int, total: int) -> float:
    """Training cost of a ticket relative to the full dense protocol: search until ``draw_it``
    (dense) + retraining the pruned network from ``start`` to ``total``. Training FLOPs are taken
    as 3× the forward pass for dense and pruned nets alike, so the factor cancels."""
    dense = forward_macs(model, None)
    return (draw_it * dense + (total - start) * forward_macs(model, mask)) / (total * dense)


# ------------------------------------------------------------------------------- draws
def _draws(dist: torch.Tensor, spec: Spec, p: float, iters: list[int]) -> dict:
    rel = dist / pruning.max_distance(p) if pruning.max_distance(p) > 0 else dist
    out = {}
    for name, d in (("eb", dist), ("eb_rel", rel)):
        t = pruning.first_draw(d, spec.eps, spec.keep)
        out[name] = None if t is None else iters[t]
    return out

