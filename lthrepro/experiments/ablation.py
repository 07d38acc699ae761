"""Several lottery configs of one architecture trained level by level as one group (Zhou et al.'s
ablations: mask criteria and mask-1/mask-0 actions differ only in what a retrained network starts
from or keeps, so their members share every training hyperparameter and batch together in the
engine, issue 6). The dense level 0, which no criterion or action touches, is trained once."""

from __future__ import annotations

import dataclasses
import shutil

from lthrepro.experiments import chain
from lthrepro.experiments.lottery import Runner
from lthrepro.store import numerics
from lthrepro.store import results as res
from lthrepro.store import state as st

# Fields that only change what a retrained network starts from or keeps: runs differing only in
# these share every training hyperparameter, so their members can train in one group.
ABLATION_FIELDS = ("preset", "profile", "levels", "seeds", "reinits", "random_prune", "oneshot",
                   "criterion", "mask1", "mask0", "supermask_weights", "dwr", "test_curves")


def run_many(runners: list[Runner], share_level0: bool = True, train_acc: bool = True) -> None:
    """Run several configs of one architecture level by level, their members batched together
    (the engine's groups span configs). With ``share_level0`` the dense level 0, which no mask
    criterion or action touches, is trained once (by the first runner) and copied to the others;
    each copy's metrics.json says where it came from."""
    base = {k: v for k, v in dataclasses.asdict(runners[0].cfg).items() if k not in ABLATION_FIELDS}
    for r in runners:
        other = {k: v for k, v in dataclasses.asdict(r.cfg).items() if k not in ABLATION_FIELDS}
        if other != base or r.cfg.rewind or type(r) is not type(runners[0]):
            raise ValueError(f"{r.dir.name} cannot train in a group with {runners[0].dir.name}")
    for r in runners:
        r.begin()
    lead = runners[0]
    share_level0 = share_level0 and not lead.cfg.supermask  # a learned mask's run *is* level 0
    for level in range(max(r.last_level for r in runners) + 1):
        if level == 0 and share_level0:
            todo = lead.prepare(0)
            if todo:
                lead.record()
                lead.run_level(0, todo)
                lead.record()
            for r in runners[1:]:
                for s in r.cfg.seeds:
                    src = res.member_dir(lead.dir, "imp", s, 0, 0)
                    dst = res.member_dir(r.dir, "imp", s, 0, 0)
                    if res.is_done(dst, need_tensors=True):
                        continue
                    if r.fingerprint is None:  # the copy carries the lead's numerics
                        r.fingerprint = lead.fingerprint or numerics.fingerprint(str(r.device))
                        numerics.check_extend(r.dir, r.fingerprint, r.force)
                    r.write_config()
                    if dst.exists():
                        shutil.rmtree(dst)
                    shutil.copytree(src, dst)
                    m = res.read_json(dst / "metrics.json")
                    res.write_json(dst / "metrics.json", {**m, "copied_from": lead.dir.name})
                    if r.STATE and st.has(dst, st.NEXT_MASK):  # the lead's state follows its criterion
                        chain.restate_copy(r, s, dst)
            continue
        todo = [(r, item) for r in runners if level <= r.last_level for item in r.prepare(level)]
        for r in {id(r): r for r, _ in todo}.values():
            if not r._recorded:
                r.record()
        for i in range(0, len(todo), lead.max_group):
            chunk = todo[i: i + lead.max_group]
            out = lead.train([it for _, it in chunk], level, train_acc=train_acc)
            for (r, it), o in zip(chunk, out, strict=True):
                r.save(level, [it], [o])
        for r in {id(r): r for r, _ in todo}.values():
            r.record()
    for r in runners:
        r.finish()
