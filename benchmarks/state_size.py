"""What committed level state (issue 20, ``lthrepro/store/state.py``) costs per trial.

For each network and profile: a trial's IMP chain of masks (``next_mask.bin`` at every level),
the one-shot masks of level 0 (``oneshot_masks.bin``), and W_k for rewinding (``rewind.bin``),
encoded exactly as a run encodes them. The masks are pruned from random-magnitude weights by the
preset's own rates, scope and levels; a mask's bits cost the same whatever weights chose them
(one bit per survivor of the level before, near-incompressible at 80% kept), so the sizes are
those of a trained chain to within lzma's few percent. Run: ``python benchmarks/state_size.py``.
Writes benchmarks/results/state-size-<date>.json.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import torch

from lthrepro.core import models, pruning
from lthrepro.core.presets import make_config
from lthrepro.store import state as st

ROOT = Path(__file__).resolve().parent.parent
CASES = [("lenet", "paper"), ("conv2", "budget"), ("conv2", "paper"), ("vgg19", "paper")]


def trial_state(preset: str, profile: str) -> dict:
    cfg = make_config(preset, profile)
    kinds = models.layer_kinds(cfg.model)
    names, rates = list(kinds), dict(cfg.rates)
    theta = models.init_params(cfg.model, 0)
    g = torch.Generator().manual_seed(1)
    mask = pruning.full_mask(theta, names)
    chain = 0
    for _ in range(cfg.levels + 1):  # every level writes the mask of the level after it
        w = {n: torch.randn(theta[n].shape, generator=g) for n in names}
        nxt = pruning.prune(pruning.scores("large_final", theta, w, names, g, mask), mask, kinds, rates, cfg.scope)
        chain += len(st.encode_chain([nxt], mask, names))
        mask = nxt
    w = {n: torch.randn(theta[n].shape, generator=g) for n in names}
    sc = pruning.scores("large_final", theta, w, names)
    full = pruning.full_mask(theta, names)
    shots = [pruning.prune(sc, full, kinds, rates, cfg.scope, levels=lv)
             for lv in range(1, max(st.ONESHOT_LEVELS, cfg.levels) + 1)]
    oneshot = len(st.encode_chain(shots, full, names))
    rewind = len(st.encode_tensors(theta, models.init_state(cfg.model) or None))
    weights = sum(theta[n].numel() for n in names)
    return {"preset": preset, "profile": profile, "levels": cfg.levels, "prunable_weights": weights,
            "chain_bytes": chain, "oneshot_bytes": oneshot, "rewind_bytes": rewind}


def main() -> None:
    rows = [trial_state(p, prof) for p, prof in CASES]
    for r in rows:
        print(f"{r['preset']:>7} {r['profile']:<7} {r['levels']:>2} levels, {r['prunable_weights']:>10,} weights: "
              f"IMP chain {r['chain_bytes'] / 1e3:8.1f} kB, one-shot masks {r['oneshot_bytes'] / 1e3:8.1f} kB "
              f"(trial total {(r['chain_bytes'] + r['oneshot_bytes']) / 1e3:8.1f} kB); "
              f"W_k if rewinding {r['rewind_bytes'] / 1e6:.2f} MB")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    out = ROOT / "benchmarks" / "results" / f"state-size-{time.strftime('%Y%m%d')}.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "commit": commit, "rows": rows}, indent=1) + "\n")
    print(f"written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
