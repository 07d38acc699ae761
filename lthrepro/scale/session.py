"""One command's session over a plan (issue 14): its trials, and the one writer of their results.

The time-boxed and Ray executors train levels elsewhere (a child process, Ray workers); the
driver's process alone writes what comes back, so a worker that dies loses only its level and a
driver that dies loses only the levels in flight. ``open_session`` makes one runner per config
(its data, its checks, its provenance) and one per trial (a seed: a chain of levels);
``Writer`` writes each finished level (``results.install_member``: atomic, the layout of a local
run) and the session's provenance under the rules of ``Runner.begin/record/finish``: checks
before anything is written, a record as soon as training starts, updated after every level,
closed at the end, with the numerics fingerprint of the devices the workers train on (issue 11).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from lthrepro.core.config import Config
from lthrepro.experiments import lottery
from lthrepro.scale import plan
from lthrepro.scale.worker import make_runner
from lthrepro.store import numerics, provenance, summaries
from lthrepro.store import results as res


@dataclasses.dataclass
class Trial:
    task: plan.Task
    runner: lottery.Runner  # restricted to the trial's seed
    head: lottery.Runner  # the config's runner (data loaded once per config, provenance, begin)
    index: int  # the config's position in the figure
    level: int = 0  # next level to look at (levels done are skipped by Runner.prepare)
    finished: bool = False
    todo: list | None = None  # the members of ``level``, once built

    @property
    def hint(self) -> int:  # the first level with unfinished runs per the plan (for ordering)
        return max(self.level, next((s.level for s in self.task.steps if s.todo), self.level))

    @property
    def done(self) -> bool:
        return self.finished or self.level > self.runner.last_level


def open_session(cfgs: list[Config], device: str, root: Path | None, started: float,
                 bench_dir: Path, force: bool) -> tuple[list[lottery.Runner], list[Trial]]:
    """The config runners (heads, begun) and the trials of ``cfgs``, in the plan's order."""
    heads, trials = [], []
    for i, cfg in enumerate(plan.merge(cfgs)):
        head = make_runner(cfg, device, root, max_group=1, force=force)  # the driver trains nothing
        head.begin()  # checks before anything is written, stale temp files, commit, clean tree
        # One session per command: every folder's record starts when the command started.
        head._t0, head._started = started, time.strftime(
            "%Y-%m-%dT%H:%M:%S", time.gmtime(started)) + f".{int(started * 1e6) % 10**6:06d}Z"
        heads.append(head)
        for t in plan.tasks([cfg], device, root, bench_dir):
            r = make_runner(dataclasses.replace(cfg, seeds=(t.seed,)), device, root, max_group=1, force=force)
            r.config_of_record = cfg  # config.json records every seed of the command, not this trial's
            trials.append(Trial(t, r, head, i))
    return heads, trials


class Writer:
    """Writes what the workers return, and the provenance of the session, for every folder."""

    def __init__(self, heads: list[lottery.Runner], trials: list[Trial], device: str, executor: str,
                 started: float, force: bool):
        self.heads, self.trials = heads, trials
        self.device, self.executor, self.started, self.force = device, executor, started, force
        self.fp: dict | None = None  # the workers' numerics fingerprint, once anything is to train
        self.checked: set[str] = set()  # results folders whose recorded fingerprint was checked
        self.platforms: dict[str, set] = {}  # results folder -> platforms its levels trained on
        self.devices: dict[str, set] = {}
        self.train_seconds: dict[str, float] = {}  # results folder -> seconds workers trained

    def fingerprint(self, head: lottery.Runner, pool) -> dict:
        """The fingerprint the levels train under (computed once, where they train), and the
        refusal of ``numerics.check_extend`` for a folder trained under another (``--force``)."""
        if self.fp is None:
            self.fp = pool.fingerprint(self.device) if pool else numerics.fingerprint(self.device)
        if head.dir.name not in self.checked:
            numerics.check_extend(head.dir, self.fp, self.force)
            self.checked.add(head.dir.name)
            head.fingerprint = self.fp
        return self.fp

    def install(self, tr: Trial, level: int, todo: list, out: dict) -> None:
        """A finished level's files into the trial's folder, and where and how long it trained."""
        d = tr.runner.dir
        for key, _ in todo:
            res.install_member(res.member_dir(d, *key, level), out["files"][key])
        tr.runner.trained += len(todo)
        self.devices.setdefault(d.name, set()).add(f"{out['device']} on {out['host']}")
        self.platforms.setdefault(d.name, set()).add(out.get("platform"))
        self.train_seconds[d.name] = self.train_seconds.get(d.name, 0.0) + out["seconds"]

    def record(self, head: lottery.Runner, complete: bool, **extra) -> None:
        """``Runner.record`` for a session whose runs trained elsewhere: the devices and hosts
        they trained on, the executor, the seconds spent training, the workers' numerics."""
        head.trained = sum(tr.runner.trained for tr in self.trials if tr.head is head)
        plats = self.platforms.get(head.dir.name, set()) - {None, (self.fp or {}).get("platform")}
        if plats:  # a worker on another platform than the fingerprint's: recorded, not hidden
            extra["worker_platforms"] = sorted(plats)
        provenance.add_provenance(head.dir, self.device, time.time() - self.started, head.trained, head.cfg.to_dict(),
                           head._started, head._commit, complete=complete, numerics=self.fp, clean=head._clean,
                           device_label="; ".join(sorted(self.devices.get(head.dir.name, ()))) or None,
                           extra={"executor": self.executor, **extra,
                                  "train_seconds": round(self.train_seconds.get(head.dir.name, 0.0), 1)})
        head._recorded = True

    def close(self) -> None:
        """``Runner.finish`` per config: the closing record, complete when every trial is
        finished, otherwise marked as stopped (at the deadline); a folder with nothing left to
        train closes earlier sessions that were killed; and the summary of what is on disk."""
        for head in self.heads:
            done = all(tr.done for tr in self.trials if tr.head is head)
            why = "deadline" if self.executor == "deadline" else "interrupted"
            if head._recorded:
                self.record(head, complete=done, **({} if done else {"stopped": why}))
            elif done and head.dir.is_dir():
                provenance.close_unfinished(head.dir)
            if head.dir.is_dir():
                if not (head.dir / "config.json").exists():
                    head.write_config()
                summaries.write_summary(head.dir)
