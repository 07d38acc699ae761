"""The driver of the time-boxed and Ray executors (issue 14): which level to start next, and when
to stop.

Each trial is a chain of levels; the driver alone builds a trial's next level
(``Runner.prepare``, which reads the finished previous level from disk), hands it to a pool (a
child process, ``childpool``, or Ray tasks, ``raypool``), and has what comes back written by the
session's one ``Writer``. Waiting trials start in the order a figure needs them
(``plan.order_key``). Under ``--deadline`` a level whose estimate (``Estimates``: the plan's,
corrected by this session's measured levels) does not fit in the time left is never started,
and the levels still running at the deadline are abandoned, nothing of them written.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from lthrepro.core import data as data_mod
from lthrepro.core.config import Config, ConfigError
from lthrepro.scale import plan, rates
from lthrepro.scale.session import Trial, Writer, open_session
from lthrepro.store import results as res


class DeadlineTooShort(ConfigError):
    """No task fits the deadline (the command says which deadline would, exit 2; ``slice``
    reports it and keeps what it did before)."""


class Estimates:
    """Seconds a level will take, learnt from this session's finished levels."""

    def __init__(self):
        self.ratio: dict[str, float] = {}  # results folder -> measured / planned seconds of a level
        self.overhead = 0.0  # seconds a level costs beyond its training (hand-over, writing)
        self.installed = 0
        self.load_seconds: dict[str, float] = {}  # results folder -> seconds the driver took to load its data

    def estimate(self, tr: Trial, n: int) -> float:
        """Seconds the level will take: the plan's estimate, corrected by how long this config's
        levels have taken so far in this session, plus the hand-over overhead, plus loading the
        data where the worker has not loaded this config's yet (as long as the driver took)."""
        step = tr.task.steps[tr.level]
        load = 0.0 if tr.head.dir.name in self.ratio else self.load_seconds.get(tr.head.dir.name, 0.0)
        return step.seconds * n / step.members * self.ratio.get(tr.head.dir.name, 1.0) + self.overhead + load

    def measured(self, name: str, step: plan.Step, n: int, t0: float, seconds: float) -> None:
        """A level of ``n`` members of folder ``name`` handed over at ``t0`` trained in ``seconds``."""
        self.ratio[name] = seconds / max(step.seconds * n / step.members, 1e-9)
        if self.installed:  # the first level's hand-over includes starting the worker and loading data
            self.overhead = max(0.0, time.time() - t0 - seconds)
        self.installed += 1


class Driver:
    """Builds each trial's next level, hands it to a pool, has what comes back written."""

    def __init__(self, cfgs: list[Config], device: str, root: Path | None, executor: str,
                 log=print, started: float | None = None, bench_dir: Path = rates.BENCH_DIR,
                 force: bool = False):
        self.device, self.log = device, log
        self.started = started or time.time()
        self.heads, self.trials = open_session(cfgs, device, root, self.started, bench_dir, force)
        self.writer = Writer(self.heads, self.trials, device, executor, self.started, force)
        self.clock = Estimates()
        self.pool = None

    def _next(self, tr: Trial) -> list | None:
        """Members of the trial's next unfinished level (advancing past finished ones)."""
        r, head = tr.runner, tr.head
        if tr.todo is not None:
            return tr.todo
        if r.fingerprint is None and any(s.todo for s in tr.task.steps):
            r.fingerprint = self.writer.fingerprint(head, self.pool)  # so that prepare() records the workers' numerics
        while tr.level <= r.last_level:
            if r._data is None:
                r._data = head._data  # loaded (and verified) once per config
            t0 = time.time()
            todo = r.prepare(tr.level)
            if head._data is None and r._data is not None:
                head._data = r._data
                self.clock.load_seconds[head.dir.name] = time.time() - t0
            if todo:
                tr.todo = todo
                return todo
            tr.level += 1
        tr.finished = True
        return None

    def run(self, pool, deadline: float | None = None) -> bool:
        """Run every trial to its last level, or until ``deadline`` seconds after the start;
        True when everything is finished."""
        end = self.started + deadline if deadline else math.inf
        flying: dict = {}
        self.pool, self.submitted = pool, 0
        new = [res.new_top(h.dir) for h in self.heads]
        refused = False
        try:
            while True:
                skipped = self._start(flying, end)
                if not flying and skipped and not self.submitted:
                    # issue 23: a deadline that fits no task would make no progress, call after call
                    refused = True
                    tr, est = min(skipped, key=lambda x: x[1])
                    need = math.ceil(time.time() - self.started + est)
                    raise DeadlineTooShort(f"--deadline {deadline:g} is too short for any task left: the smallest, "
                                      f"{tr.task.name} level {tr.level}, is estimated at {est:.0f} s after "
                                      f"{time.time() - self.started:.0f} s of start-up; give --deadline {need} "
                                      "or more")
                if not flying:  # nothing running, so nothing will change: what was skipped stays so
                    for tr, est in skipped:
                        self.log(f"deadline: not starting {tr.task.name} level {tr.level} "
                                 f"(estimate {est:.0f} s, {max(0.0, end - time.time()):.0f} s left)")
                    break
                done = pool.wait(list(flying), end - time.time())
                if not done and time.time() >= end:
                    for tr, level, _, t0 in flying.values():
                        self.log(f"deadline: abandoned {tr.task.name} level {level} after "
                                 f"{time.time() - t0:.0f} s (nothing of it is written)")
                    pool.abandon()
                    break
                for h, out in done:
                    self._install(*flying.pop(h), out)
        finally:
            pool.close()
            if not refused:
                self.writer.close()
            for top in new if refused else ():  # a refused deadline writes nothing (config.json of prepare)
                res.remove_unfinished(top)
        return all(tr.done for tr in self.trials)

    def _start(self, flying: dict, end: float) -> list[tuple[Trial, float]]:
        """Fill the pool's free slots with the waiting trials' next levels, in the plan's order;
        returns the (trial, estimate) of those whose level would not finish by ``end``."""
        pool = self.pool
        busy = {id(f[0]) for f in flying.values()}
        waiting = sorted((tr for tr in self.trials if not (tr.finished or id(tr) in busy)),
                         key=lambda tr: plan.order_key(tr.task, tr.hint, tr.index))
        skipped = []
        for tr in waiting:
            if len(flying) >= pool.slots:
                break
            todo = self._next(tr)
            if todo is None:
                continue
            if not pool.ready(end - time.time()):
                self.log(f"deadline: the training process was still starting after "
                         f"{time.time() - self.started:.0f} s; nothing was started")
                skipped.append((tr, self.clock.estimate(tr, len(todo))))
                break
            est = self.clock.estimate(tr, len(todo))
            if time.time() + est > end:  # never start a level that cannot finish in time
                skipped.append((tr, est))
                continue
            args = (tr.runner.cfg, tr.level, todo, self.device, str(data_mod.data_root()))
            if not tr.head._recorded:  # a run killed in its first level leaves its record
                self.writer.record(tr.head, complete=False)
            flying[pool.submit(args)] = (tr, tr.level, todo, time.time())
            self.submitted += 1
        return skipped

    def _install(self, tr: Trial, level: int, todo: list, t0: float, out: dict) -> None:
        self.writer.install(tr, level, todo, out)
        self.clock.measured(tr.runner.dir.name, tr.task.steps[level], len(todo), t0, out["seconds"])
        self.writer.record(tr.head, complete=False)
        self.log(f"{tr.task.name} level {level}: {len(todo)} runs in {out['seconds']:.1f} s "
                 f"({out['device']}, {out['host']} node {out['node']} pid {out['pid']})")
        tr.level, tr.todo = level + 1, None
