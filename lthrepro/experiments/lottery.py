"""The lottery runner: levels 0..L of iterative magnitude pruning with controls and resume.

Per trial (seed s), LTH App. B "Strategy 1": train; prune ``rate`` of the surviving weights by
the mask criterion; reset the survivors to θ0 (or rewind to θk, STAB); repeat. At every level
ℓ ≥ 1 the controls share the trial's mask (or its per-layer densities):

- ``reinit``  same mask, fresh Gaussian Glorot init (LTH §2, 3 per trial in the paper),
- ``random``  random mask with the same per-layer densities, θ0 of the trial (LTH App. E),
- ``oneshot`` pruned once from the level-0 network to level ℓ's density (LTH Fig. 4c).

All runs of one level are independent given level ℓ-1, so they are trained together as groups
by ``train.train_group`` (issue 4's engine). Every finished run is written atomically and
skipped when the runner is started again; a killed run resumes where it stopped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from lthrepro.core import actions, models, pruning
from lthrepro.core import data as data_mod
from lthrepro.core.config import Config, ConfigError, config_hash, derive_seed, run_name
from lthrepro.core.presets import FIG3_PM
from lthrepro.core.train import Member, train_group
from lthrepro.experiments import chain
from lthrepro.store import numerics, provenance, summaries
from lthrepro.store import results as res
from lthrepro.store import state as st


class NoTrainError(RuntimeError):
    """Raised under LTHREPRO_NO_TRAIN=1 when results are missing (CI must not train)."""


def run_dir(cfg: Config, root: Path | None = None) -> Path:
    return Path(root or res.results_root()) / run_name(cfg)


def _max_group(cfg: Config, device: torch.device) -> int:
    """Group size: on CUDA from free memory (a rough per-member estimate), on CPU modest."""
    if device.type != "cuda":
        return 16
    free, _ = torch.cuda.mem_get_info(device)
    per = models.count_weights(cfg.model) * 4 * 8  # params, grads, 2 moments, masks, slack
    act = {"lenet": 2e5, "vgg19": 4e8, "resnet20": 3e8}.get(cfg.model, 1.5e8) * cfg.batch_size / 64
    return max(1, min(64, int(0.6 * free / (per + act))))


def _show(bar, it: int, acc) -> None:
    """Progress bar: iterations done and the group's mean validation accuracy (set first:
    ``update`` returns True when it redraws, so ``update(...) or set_postfix(...)`` skipped it)."""
    bar.set_postfix(val_acc=f"{float(acc.mean()):.4f}", refresh=False)
    bar.update(it - bar.n)


class Runner:
    """One config's lottery: plan the members of a level, train them in groups, write them."""

    def __init__(self, cfg: Config, device: str = "cpu", root: Path | None = None,
                 data: data_mod.Data | None = None, max_group: int | None = None,
                 progress: bool = False, dtype: torch.dtype = torch.float32, force: bool = False):
        self.cfg, self.device, self.dtype = cfg, torch.device(device), dtype
        self.dir = run_dir(cfg, root)
        self.kinds = models.layer_kinds(cfg.model)
        self.names = list(self.kinds)
        self.rates = dict(cfg.rates)
        self.std = models.init_std(cfg.model)
        self._data = data
        self.max_group = max_group or _max_group(cfg, self.device)
        self.progress = progress
        self.trained = 0
        self.force = force  # extend a folder trained under other numerics (recorded)
        self.fingerprint: dict | None = None  # today's numerics, computed before the first training
        # (seed, level) -> IMP mask; (seed, "oneshot") -> one-shot masks; (seed, "rewind") -> W_k
        self._masks: dict = {}
        self._theta0: dict[int, dict] = {}

    # --------------------------------------------------------------------------- data
    @property
    def data(self) -> data_mod.Data:
        if self._data is None:
            c = self.cfg
            d = data_mod.load(c.dataset, c.val_size, c.split_seed, c.train_limit,
                              c.test_limit, input_shape=models.INPUT_SHAPE[c.model])
            if c.batch_size > len(d.x_train):  # known only now: checked before anything is written
                raise ConfigError(f"batch_size {c.batch_size} is larger than the training split "
                                  f"({len(d.x_train)} examples); lower batch_size")
            self._data = d
        return self._data

    # ---------------------------------------------------------------------- members
    # Lottery runs commit the state a chain needs to go on (issue 20); learned supermasks don't.
    STATE = True

    def theta0(self, seed: int) -> dict:
        """θ0 of trial ``seed``, regenerated from the seed and checked against the committed
        ``theta0_sha256`` of its level 0 (a changed initialiser is an error)."""
        if seed not in self._theta0:
            t = models.init_params(self.cfg.model, seed)
            d0 = res.member_dir(self.dir, "imp", seed, 0, 0)
            if (d0 / "metrics.json").exists():
                st.check_theta0(res.read_json(d0 / "metrics.json"), t, d0)
            self._theta0[seed] = t
        return self._theta0[seed]

    def _start(self, seed: int) -> tuple[dict, dict | None]:
        """Weights (and BN state) that survivors are reset to: θ0, or θk when rewinding."""
        if not self.cfg.rewind:
            return self.theta0(seed), None
        return chain.rewind_start(self, seed)

    def _reference(self, seed: int) -> dict:
        """The "initial" weights that mask criteria and mask-0 actions compare with (Zhou et
        al. read θ0): the rewind point θk when rewinding, since survivors restart there."""
        return self._start(seed)[0] if self.cfg.rewind else self.theta0(seed)

    @staticmethod
    def data_seed(seed: int, kind: str, rep: int) -> int:
        """Data order (and augmentation draws) of a run. Repetition r ≥ 1 of a control gets an
        order of its own, so repetitions are independent samples of SGD noise (LTH §2's three
        reinits per trial); the trial and repetition 0 keep the trial's order (issue 10)."""
        return seed if rep == 0 else derive_seed("data", seed, kind, rep)

    def _member(self, seed: int, mask: dict, theta: dict, state, rep: int, level: int,
                kind: str) -> Member:
        init, fixed = theta, None
        if level:  # the dense level 0 is always trained from θ0: the actions act on retraining
            gen = torch.Generator().manual_seed(derive_seed("mask1", seed, rep, level, kind))
            final0 = None
            if self.cfg.mask0 != "zero":
                final0 = res.load_tensors(res.member_dir(self.dir, "imp", seed, 0, level - 1),
                                          "final")["params"]
            init, fixed = actions.start(self.cfg.mask1, self.cfg.mask0, theta, self._reference(seed),
                                        final0, mask, self.std, gen)
        return Member(init=init, mask=mask, data_seed=self.data_seed(seed, kind, rep), fixed=fixed,
                      state=state, tag=f"{kind}/s{seed}r{rep}/{level}",
                      test_curve=self.test_curve(kind, mask))

    def test_curve(self, kind: str, mask: dict) -> bool:
        """Does this run evaluate the test split at every evaluation (``Config.test_curves``)?
        Under "fig3" only the IMP and reinit runs at the densities LTH Fig. 3 plots do (the
        book's ``level_at`` tolerance, 0.3 points); under "minima" none. The test accuracies
        reported are the same under every policy."""
        if self.cfg.test_curves in ("all", "minima"):
            return self.cfg.test_curves == "all"
        pm = 100.0 * pruning.density(mask)
        return kind in ("imp", "reinit") and any(abs(pm - p) <= 0.3 for p in FIG3_PM)

    def _imp_mask(self, seed: int, level: int) -> dict:
        return chain.imp_mask(self, seed, level)

    def _covered(self, seed: int, level: int, what: str) -> bool:
        return self.STATE and chain.state_covers(self, seed, level, what)

    def _needed(self, seed: int, level: int) -> bool:
        """Does an unfinished run of trial ``seed`` depend on IMP level ``level``'s tensors? Not
        when the level's committed state has what that run needs (issue 20)."""
        c = self.cfg
        nxt = [("imp", 0)] + [(k, r) for k, n in (("reinit", c.reinits), ("random", c.random_prune),
                                                  ("oneshot", int(c.oneshot))) for r in range(n)]
        if level == 0 and c.rewind and not self._covered(seed, 0, "rewind") and any(
                not res.is_done(res.member_dir(self.dir, k, seed, r, lv))
                for lv in range(1, c.levels + 1) for k, r in nxt):
            return True
        if level < c.levels and not self._covered(seed, level, "next"):
            nd = res.member_dir(self.dir, "imp", seed, 0, level + 1)
            if not all(res.is_done(res.member_dir(self.dir, k, seed, r, level + 1)) for k, r in nxt):
                return True
            # level+1 must itself be retrained (its tensors are gone but a later run needs them)
            if not (nd / "final.pt").exists() and self._needed(seed, level + 1):
                return True
        return level == 0 and c.oneshot and not self._covered(seed, 0, "oneshot") and not all(
            res.is_done(res.member_dir(self.dir, "oneshot", seed, 0, lv)) for lv in range(1, c.levels + 1))

    def plan(self, level: int) -> list[tuple[tuple, Member]]:
        """Unfinished members of ``level``: ((kind, seed, rep), Member)."""
        c, out = self.cfg, []
        for s in c.seeds:
            d = res.member_dir(self.dir, "imp", s, 0, level)
            # An IMP level needs its tensors only while a later run of the trial depends on
            # them, so a clean clone with the committed JSON (no *.pt) trains nothing.
            if not res.is_done(d, need_tensors=self._needed(s, level)):
                mask = self._imp_mask(s, level)
                theta, state = self._start(s) if level else (self.theta0(s), None)
                out.append((("imp", s, 0), self._member(s, mask, theta, state, 0, level, "imp")))
            if level == 0:
                continue
            mask = None
            for kind, n in (("reinit", c.reinits), ("random", c.random_prune),
                            ("oneshot", int(c.oneshot))):
                for r in range(n):
                    if res.is_done(res.member_dir(self.dir, kind, s, r, level)):
                        continue
                    mask = mask if mask is not None else self._imp_mask(s, level)
                    theta, state = self._start(s)
                    if kind == "reinit":  # fresh init from the same distribution (LTH §2),
                        # with fresh batch-norm statistics too (not θk's, under rewinding)
                        theta = models.init_params(c.model, derive_seed("reinit", s, r, level))
                        state, m = None, mask
                    elif kind == "random":
                        g = torch.Generator().manual_seed(derive_seed("random", s, r, level))
                        m = pruning.random_like(mask, g)
                    else:  # one-shot from the trained dense network of this trial
                        m = chain.oneshot_mask(self, s, level)
                    out.append(((kind, s, r), self._member(s, m, theta, state, r, level, kind)))
        return out

    # ---------------------------------------------------------------------------- run
    def prepare(self, level: int) -> list[tuple[tuple, Member]]:
        """``plan(level)``; refuses under LTHREPRO_NO_TRAIN and writes config.json if needed."""
        todo = self.plan(level)
        if todo and os.environ.get("LTHREPRO_NO_TRAIN") == "1":
            raise NoTrainError(f"{self.dir.name}: level {level} has {len(todo)} unfinished runs "
                               "and LTHREPRO_NO_TRAIN=1; run `python -m lthrepro run` first")
        if todo and self.fingerprint is None:  # issue 11: never mix numerics in one folder
            self.fingerprint = numerics.fingerprint(str(self.device))
            numerics.check_extend(self.dir, self.fingerprint, self.force)
        if todo:  # load (and verify) the data before anything is written
            self.write_config()
        return todo

    def write_config(self) -> None:
        # a runner of one trial (the executors, issue 23) records the whole command's config
        c = getattr(self, "config_of_record", None) or self.cfg
        res.write_json(self.dir / "config.json", {
            "config": c.to_dict(), "hash": config_hash(c), "name": self.dir.name,
            "data": self.data.info})

    # Hooks for runs whose trained tensors are not the weights (learned supermasks, supermask.py).
    def weights_fn(self, members: list[Member]):
        return None

    def extra_metrics(self, member: Member, result) -> dict:
        return {}

    @property
    def last_level(self) -> int:
        return self.cfg.levels

    def train(self, chunk: list[tuple[tuple, Member]], level: int, **kw) -> list:
        c = self.cfg
        bar = self._bar(level, len(chunk))
        fn = self.weights_fn([m for _, m in chunk])
        out = train_group(
            c, [m for _, m in chunk], self.data, self.device,
            start=c.rewind if level else 0, dtype=self.dtype,
            snapshot_at=c.rewind if (level == 0 and c.rewind) else None,
            progress=(lambda it, acc: _show(bar, it, acc)) if bar else None,
            **({"weights_fn": fn} if fn else {}), **kw)
        if bar:
            bar.close()
        return out

    def save(self, level: int, chunk: list[tuple[tuple, Member]], out: list) -> None:
        for ((kind, s, r), m), o in zip(chunk, out, strict=True):
            d = res.member_dir(self.dir, kind, s, r, level)
            metrics = {**o.metrics, "kind": kind, "seed": s, "rep": r, "level": level,
                       "density": pruning.density(m.mask),
                       "layer_density": pruning.layer_density(m.mask),
                       **self.extra_metrics(m, o)}
            keep = kind == "imp"
            files = None
            if self.STATE:  # what the chain needs to go on, committed (issue 20)
                metrics["mask_sha256"] = st.mask_sha256(m.mask, self.names)
                if self.fingerprint:  # numerics per level: a chain continued elsewhere says so
                    metrics["numerics"] = self.fingerprint["fingerprint"]
                    metrics["threads"] = torch.get_num_threads()  # a CPU run's last bits depend on it
                if keep:
                    more, files = chain.level_state(self, s, level, m.mask, o.final, o.snapshot, o.snapshot_state)
                    metrics.update(more)
            rewind = {"rewind": {"params": o.snapshot, "state": o.snapshot_state}} \
                if o.snapshot is not None else None
            res.save_member(d, metrics, m.mask, o.final if keep else None,
                            o.state if keep else None, extra=rewind, files=files)
        self.trained += len(chunk)

    def run_level(self, level: int, todo: list | None = None) -> int:
        todo = self.prepare(level) if todo is None else todo
        for i in range(0, len(todo), self.max_group):
            chunk = todo[i: i + self.max_group]
            self.save(level, chunk, self.train(chunk, level))
            if getattr(self, "_recorded", False) and i + self.max_group < len(todo):
                self.record()  # a level of several groups: a run killed mid-level still accounts for what it wrote
        return len(todo)

    def _bar(self, level: int, n: int):
        if not self.progress:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=self.cfg.iterations, desc=f"{self.cfg.preset} level {level} ({n} runs)",
                    unit="it", leave=False)

    # ----------------------------------------------------------------- provenance
    def begin(self) -> None:
        """Checks before anything is written (a file in the folder's place, damaged results),
        then removal of killed runs' temporary files; starts this invocation's record."""
        res.check_writable(self.dir.parent)
        summaries.check_run_dir(self.dir)
        res.remove_stale_tmp(self.dir)
        self._t0 = time.time()
        self._started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self._t0)) + \
            f".{int(self._t0 * 1e6) % 10**6:06d}Z"
        self._commit = provenance.git_commit()  # the code that runs, not HEAD when the run ends
        self._clean = provenance.tree_clean()  # ... and whether it was committed (issue 11)
        self._recorded = False

    def record(self, complete: bool = False) -> None:
        """This invocation's session in provenance.json: written when it starts training (so a
        run killed in its first level leaves its record), updated after every level."""
        provenance.add_provenance(self.dir, str(self.device), time.time() - self._t0, self.trained,
                           self.cfg.to_dict(), self._started, self._commit, complete=complete,
                           numerics=self.fingerprint, clean=self._clean)
        self._recorded = True

    def finish(self) -> None:
        if self.trained:
            self.record(complete=True)
        elif self.dir.is_dir():  # nothing left to train: a killed run's record is closed
            provenance.close_unfinished(self.dir)
        if self.dir.is_dir():
            if not (self.dir / "config.json").exists():
                self.write_config()
            summaries.write_summary(self.dir)

    def run(self) -> Path:
        """Run (or resume) all levels; returns the results folder."""
        self.begin()
        with res.undo_if_new(self.dir):  # a first level that fails (a full disk) leaves no folder
            for level in range(self.last_level + 1):
                todo = self.prepare(level)
                if todo:
                    if not self._recorded:
                        self.record()
                    self.run_level(level, todo)
                    self.record()
                    summaries.write_summary(self.dir)  # each finished level can be committed as it is
            self.finish()
        return self.dir


def run(cfg: Config, device: str = "cpu", root: Path | None = None, **kw) -> Path:
    """Run (or resume) the lottery of ``cfg`` (``experiments.run`` picks the runner of any config)."""
    if cfg.supermask:
        raise ValueError(f"{cfg.preset}: a learned supermask has its own runner; use experiments.run")
    return Runner(cfg, device, root, **kw).run()
