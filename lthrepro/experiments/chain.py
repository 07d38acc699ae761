"""A lottery trial's chain of masks, from committed level state or from cached tensors (issue 20).

The mask of IMP level ℓ+1 is a function of level ℓ's trained weights (LTH App. B); the one-shot
mask of level ℓ is a function of the trained dense network (LTH Fig. 4c). ``lottery.Runner``
asks this module for them: it reads the committed state files (``store/state.py``) when the
folder has them, so a clean clone continues a chain without the git-ignored tensors, and falls
back to the tensors for folders trained before level state existed. When a level finishes,
``level_state`` computes what the next step needs, to be written atomically with the level.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lthrepro.core import pruning
from lthrepro.core.config import derive_seed
from lthrepro.store import results as res
from lthrepro.store import state as st


def next_mask(r, seed: int, level: int, final: dict, mask: dict) -> dict:
    """The mask of level ``level + 1``: prune ``rate`` of level ``level``'s survivors by the
    criterion's scores of its trained weights (the reference is θ0, or θk when rewinding)."""
    gen = torch.Generator().manual_seed(derive_seed("criterion", seed, level + 1))
    sc = pruning.scores(r.cfg.criterion, r._reference(seed), final, r.names, gen, mask)
    return pruning.prune(sc, mask, r.kinds, r.rates, r.cfg.scope)


def oneshot_masks(r, seed: int, final0: dict, levels) -> list[dict]:
    """One-shot masks of ``levels`` (an iterable of levels) from the trained dense network's weights."""
    sc = pruning.scores(r.cfg.criterion, r._reference(seed), final0, r.names)
    full, orders = pruning.full_mask(final0, r.names), {}  # one sort per layer for all levels
    return [pruning.prune(sc, full, r.kinds, r.rates, r.cfg.scope, levels=lv, orders=orders) for lv in levels]


def _metrics(d: Path) -> dict:
    return res.read_json(Path(d) / "metrics.json")


def imp_mask(r, seed: int, level: int) -> dict:
    """The mask IMP level ``level`` of trial ``seed`` trains under (cached per runner)."""
    key = (seed, level)
    if key in r._masks:
        return r._masks[key]
    if level == 0:
        m = pruning.full_mask(r.theta0(seed), r.names)
    else:
        prev = res.member_dir(r.dir, "imp", seed, 0, level - 1)
        if st.has(prev, st.NEXT_MASK) and (prev / "metrics.json").exists():
            m = st.read_next_mask(prev, _metrics(prev), imp_mask(r, seed, level - 1), r.names)
        else:  # a folder from before level state: the previous level's tensors
            final = res.load_tensors(prev, "final")["params"]
            m = next_mask(r, seed, level - 1, final, res.load_tensors(prev, "mask"))
    r._masks[key] = m
    return m


def oneshot_mask(r, seed: int, level: int) -> dict:
    d0 = res.member_dir(r.dir, "imp", seed, 0, 0)
    if st.has(d0, st.ONESHOT) and (d0 / "metrics.json").exists():
        key = (seed, "oneshot")
        if key not in r._masks:
            r._masks[key] = st.read_oneshot(d0, _metrics(d0), pruning.full_mask(r.theta0(seed), r.names), r.names)
        if level <= len(r._masks[key]):
            return r._masks[key][level - 1]
    return oneshot_masks(r, seed, res.load_tensors(d0, "final")["params"], [level])[0]  # this level only


def state_covers(r, seed: int, level: int, what: str) -> bool:
    """Can ``what`` (``next``: level+1's members, ``oneshot``, ``rewind``) be had from level
    ``level``'s committed state, without its tensors?"""
    d = res.member_dir(r.dir, "imp", seed, 0, level)
    if what == "next":  # mask-0 actions other than zero read the previous level's final weights
        return r.cfg.mask0 == "zero" and st.has(d, st.NEXT_MASK)
    if what == "oneshot":
        return st.has(d, st.ONESHOT) and len(_metrics(d).get("oneshot_mask_sha256") or []) >= r.cfg.levels
    return st.has(d, st.REWIND)


def level_state(r, seed: int, level: int, mask: dict, final: dict, snapshot: dict | None = None,
                snapshot_state: dict | None = None) -> tuple[dict, dict[str, bytes]]:
    """(metrics entries, state files) that IMP level ``level`` of trial ``seed`` leaves for the
    next step, from its trained weights ``final`` (and W_k, ``snapshot``, when rewinding)."""
    if snapshot is not None:  # W_k is the reference of the criteria from now on (not yet on disk)
        r._masks[(seed, "rewind")] = (res.own(snapshot), res.own(snapshot_state))
    elif r.cfg.rewind and (seed, "rewind") not in r._masks and \
            not (res.member_dir(r.dir, "imp", seed, 0, 0) / "metrics.json").exists():
        # A worker of ``scale/executors`` trains one level in a scratch folder without the
        # trial's W_k: the level keeps its tensors instead (the folder-wide fallback).
        return {}, {}
    nxt = next_mask(r, seed, level, final, mask)
    r._masks[(seed, level + 1)] = nxt
    metrics = {"next_mask_sha256": st.mask_sha256(nxt, r.names)}
    files = {st.NEXT_MASK: st.encode_chain([nxt], mask, r.names)}
    if level == 0:
        metrics["theta0_sha256"] = st.tensors_sha256(r.theta0(seed))
        shots = oneshot_masks(r, seed, final, range(1, max(st.ONESHOT_LEVELS, r.cfg.levels) + 1))
        metrics["oneshot_mask_sha256"] = [st.mask_sha256(m, r.names) for m in shots]
        files[st.ONESHOT] = st.encode_chain(shots, pruning.full_mask(final, r.names), r.names)
        if snapshot is not None:  # W_k of a rewinding run (STAB)
            metrics["rewind_sha256"] = st.rewind_sha256(snapshot, snapshot_state)
            files[st.REWIND] = st.encode_tensors(snapshot, snapshot_state)
    return metrics, files


def restate_copy(r, seed: int, d: Path) -> None:
    """A dense level 0 copied from another config (``ablation.run_many``): its state follows
    this config's criterion, so it is computed again from the copied weights."""
    m = res.read_json(d / "metrics.json")
    more, files = level_state(r, seed, 0, res.load_tensors(d, "mask"), res.load_tensors(d, "final")["params"])
    for name, blob in files.items():
        res.write_bytes(d / name, blob)
    res.write_json(d / "metrics.json", {**m, **more})


def rewind_start(r, seed: int) -> tuple[dict, dict | None]:
    """W_k (and batch-norm state) that survivors are rewound to: cached tensors, or the state."""
    key = (seed, "rewind")
    if key not in r._masks:
        d = res.member_dir(r.dir, "imp", seed, 0, 0)
        if (d / "rewind.pt").exists() or not st.has(d, st.REWIND):
            t = res.load_tensors(d, "rewind")
            r._masks[key] = t["params"], t["state"]
        else:
            r._masks[key] = st.read_rewind(d, _metrics(d))
    return r._masks[key]
