"""Executors over a plan (issue 14): local, time-boxed (``--deadline``), and Ray.

- ``local``: today's behaviour, ``Runner.run`` per config in this process (the group engine
  trains every trial of a level together).
- ``deadline``: levels run one at a time in a child process, in the order a figure needs them
  (``plan.order_key``); a level whose estimate does not fit in the time left is never started,
  and one still running at the deadline is killed with its child, its partial work (only ever in
  the child's scratch folder) discarded. Every finished level is on disk; running the same
  command again continues, and ends in the same results as one uninterrupted run.
- ``ray``: every trial is a chain of Ray tasks, one per level (one GPU per task on ``cuda``, one
  CPU otherwise), all trials at once; a task whose worker dies is retried by Ray.

The time-boxed and Ray executors share one ``Driver``: the driver alone builds the members of a
trial's next level (``Runner.prepare``, which reads the finished previous level from disk) and
alone writes what comes back (``results.install_member``: atomic, the layout of a local run) and
the session's provenance, under the rules of ``Runner.begin/record/finish`` (checks before
anything is written, a record as soon as training starts, updated after every level, closed at
the end) with the numerics fingerprint of the devices the workers train on (issue 11). A
worker (``train_level``) trains the members it is handed in a scratch folder and returns the
files ``Runner.save`` wrote there, so a worker that dies loses only its level and a driver that
dies loses only the levels in flight: run again, it resumes from the last written level.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import torch

from lthrepro.core import data as data_mod
from lthrepro.core import models
from lthrepro.core.config import EXECUTORS, Config, ConfigError
from lthrepro.experiments import lottery
from lthrepro.experiments.supermask import LearnedSupermaskRunner
from lthrepro.scale import plan, rates
from lthrepro.store import numerics, provenance, summaries
from lthrepro.store import results as res

STOPPED = 75  # exit status of a time-boxed run stopped with work left (EX_TEMPFAIL): run it again


def make_runner(cfg: Config, device: str = "cpu", root: Path | None = None, **kw) -> lottery.Runner:
    """``experiments.make_runner``'s choice, repeated here: ``experiments.obtain`` hands a
    notebook's EXECUTOR to this module, so it cannot import ``experiments`` back (one-way imports)."""
    return (LearnedSupermaskRunner if cfg.supermask else lottery.Runner)(cfg, device, root, **kw)


# ------------------------------------------------------------------------------ worker
_DATA: dict[tuple, data_mod.Data] = {}


def _data(cfg: Config) -> data_mod.Data:
    key = (cfg.dataset, cfg.val_size, cfg.split_seed, cfg.train_limit, cfg.test_limit, cfg.model)
    if key not in _DATA:
        _DATA.clear()  # one data set per worker process at a time (CIFAR-10 is ~0.6 GB)
        _DATA[key] = data_mod.load(cfg.dataset, cfg.val_size, cfg.split_seed, cfg.train_limit,
                                   cfg.test_limit, input_shape=models.INPUT_SHAPE[cfg.model])
    return _DATA[key]


def train_level(cfg: Config, level: int, todo: list, device: str, data_root: str | None = None) -> dict:
    """Train the members ``todo`` of ``level`` (built by the driver) as ``Runner.train`` does, in
    groups on ``device``, and return the files ``Runner.save`` writes for each, as bytes."""
    if data_root and Path(data_root).exists():  # the driver's data folder, where this node has it
        os.environ["LTHREPRO_DATA"] = data_root
    data = _data(cfg)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="lthrepro-level-") as tmp:
        r = make_runner(cfg, device, Path(tmp), data=data)
        for i in range(0, len(todo), r.max_group):
            chunk = todo[i: i + r.max_group]
            r.save(level, chunk, r.train(chunk, level))
        files = {key: {f.name: f.read_bytes() for f in res.member_dir(r.dir, *key, level).iterdir()}
                 for key, _ in todo}
    ray = sys.modules.get("ray")  # inside a Ray worker: which node of the cluster
    node = ray.get_runtime_context().get_node_id()[:12] if ray and ray.is_initialized() else "local"
    return {"files": files, "device": provenance.device_name(device), "host": socket.gethostname(),
            "node": node, "pid": os.getpid(), "seconds": time.time() - t0,
            "platform": numerics.platform_id(device)}


def worker_fingerprint(device: str, data_root: str | None = None) -> dict:
    """The numerics fingerprint (issue 11) where the levels train: ``numerics.fingerprint`` on a
    worker (its golden run needs MNIST: the driver's data folder, where this node has it)."""
    if data_root and Path(data_root).exists():
        os.environ["LTHREPRO_DATA"] = data_root
    return numerics.fingerprint(device)


def _child(conn) -> None:  # the time-boxed executor's worker process
    conn.send_bytes(b"ready")  # imports done: the driver's estimates start from here
    while True:
        msg = conn.recv_bytes()
        if not msg:
            return
        args = torch.load(io.BytesIO(msg), weights_only=False)
        try:
            out = ("ok", train_level(*args))
        except Exception as e:  # noqa: BLE001 - reported to the driver, which raises it
            out = ("error", f"{type(e).__name__}: {e}")
        buf = io.BytesIO()
        torch.save(out, buf)
        conn.send_bytes(buf.getvalue())


# ------------------------------------------------------------------------------- pools
class ChildPool:
    """One child process, one level at a time; killed (with its level) at the deadline."""

    slots = 1

    def __init__(self):
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(theirs,), daemon=True)
        self.proc.start()
        theirs.close()
        self.busy, self.started = None, False

    def ready(self, timeout: float) -> bool:
        """Wait (up to ``timeout``) for the child to have started (Python and torch imported)."""
        if not self.started and self.conn.poll(max(0.0, timeout)):
            self.started = self.conn.recv_bytes() == b"ready"
        return self.started

    def submit(self, args: tuple):
        buf = io.BytesIO()
        torch.save(args, buf)
        self.conn.send_bytes(buf.getvalue())
        self.busy = object()
        return self.busy

    def wait(self, handles: list, timeout: float) -> list[tuple[object, dict]]:
        if not self.conn.poll(max(0.0, timeout)):
            return []
        try:
            status, out = torch.load(io.BytesIO(self.conn.recv_bytes()), weights_only=False)
        except EOFError:
            raise RuntimeError("the training process died; run the command again to resume") from None
        if status != "ok":
            raise RuntimeError(out)
        h, self.busy = self.busy, None
        return [(h, out)]

    def fingerprint(self, device: str) -> dict:
        """The child trains on this machine's ``device``: the driver computes the fingerprint."""
        return numerics.fingerprint(device)

    def abandon(self) -> None:
        self.proc.kill()
        self.proc.join()

    def close(self) -> None:
        self.abandon()  # the child keeps nothing: everything it finished is written already


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray executor needs Ray: pip install 'lthrepro[ray]' "
                          "(or use --executor local)") from None
    return ray


def _check_address(address: str) -> None:
    """Fail in seconds, with one line, on an address nothing listens at (Ray would retry)."""
    if address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"Ray address '{address}' is not HOST:PORT; use e.g. 10.0.0.1:6379, auto or ray://HOST:10001")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(f"no Ray cluster reachable at {address} ({e.strerror or e}); start one with "
                          "`ray start --head` or check --address") from None


class RayPool:
    """Levels as Ray tasks; Ray queues them on the cluster's GPUs (or CPUs) and retries a task
    whose worker dies (``max_retries``)."""

    def __init__(self, device: str, address: str | None = None, retries: int = 3):
        ray = self.ray = _import_ray()
        self.own, self.retries = False, retries
        if ray.is_initialized() and address and address != "auto" and \
                address != ray.get_runtime_context().gcs_address:
            raise ConfigError(f"this process is already connected to the Ray cluster at "
                              f"{ray.get_runtime_context().gcs_address}, not {address}; drop --address "
                              "or call ray.shutdown() first")
        if not ray.is_initialized():
            if address:
                _check_address(address)
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ConfigError(f"could not connect to Ray at {address or 'a new local cluster'}: "
                                  f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
            self.own = True
        gpu = torch.device(device).type == "cuda"
        if gpu and not ray.cluster_resources().get("GPU"):
            raise ConfigError(f"--device {device} asks for GPUs but the Ray cluster has none; use --device cpu")
        self.remote = ray.remote(train_level).options(
            num_gpus=1 if gpu else 0, num_cpus=1, max_retries=retries, retry_exceptions=False)
        self.remote_fp = ray.remote(worker_fingerprint).options(
            num_gpus=1 if gpu else 0, num_cpus=1, max_retries=retries, retry_exceptions=False)
        # Levels in flight: enough to keep every GPU (or CPU) busy while the driver writes, few
        # enough that the members built for them do not fill the driver's memory.
        self.slots = 2 * max(1, int(ray.cluster_resources().get("GPU" if gpu else "CPU", 1)))

    def ready(self, timeout: float) -> bool:
        return True

    def fingerprint(self, device: str) -> dict:
        """Computed by a worker with a task's resources (the driver may have no GPU); workers
        report their platform with every level, and one that differs is recorded."""
        return self.ray.get(self.remote_fp.remote(device, str(data_mod.data_root())))

    def submit(self, args: tuple):
        return self.remote.remote(*args)

    def wait(self, handles: list, timeout: float) -> list[tuple[object, dict]]:
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=min(max(0.0, timeout), 3600.0))
        try:
            return [(h, self.ray.get(h)) for h in ready]
        except self.ray.exceptions.RayError as e:  # retries exhausted, or a bug in training
            first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            raise RuntimeError(f"a Ray task failed after {self.retries} retries: {first}; "
                               "finished levels are kept, run again to resume") from None

    def abandon(self) -> None:
        pass

    def close(self) -> None:
        if self.own:
            self.ray.shutdown()


# ------------------------------------------------------------------------------ driver
@dataclasses.dataclass
class _Trial:
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


class Driver:
    """Builds each trial's next level, hands it to a pool, writes what comes back."""

    def __init__(self, cfgs: list[Config], device: str, root: Path | None, executor: str,
                 log=print, started: float | None = None, bench_dir: Path = rates.BENCH_DIR,
                 force: bool = False):
        self.device, self.executor, self.log, self.force = device, executor, log, force
        self.started = started or time.time()
        self.trials: list[_Trial] = []
        self.heads: list[lottery.Runner] = []
        for i, cfg in enumerate(plan.merge(cfgs)):
            head = make_runner(cfg, device, root, max_group=1, force=force)  # the driver trains nothing
            head.begin()  # checks before anything is written, stale temp files, commit, clean tree
            # One session per command: every folder's record starts when the command started.
            head._t0, head._started = self.started, time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.gmtime(self.started)) + f".{int(self.started * 1e6) % 10**6:06d}Z"
            self.heads.append(head)
            for t in plan.tasks([cfg], device, root, bench_dir):
                r = make_runner(dataclasses.replace(cfg, seeds=(t.seed,)), device, root, max_group=1, force=force)
                self.trials.append(_Trial(t, r, head, i))
        self.pool = None
        self.fp: dict | None = None  # the workers' numerics fingerprint, once anything is to train
        self.checked: set[str] = set()  # results folders whose recorded fingerprint was checked
        self.platforms: dict[str, set] = {}  # results folder -> platforms its levels trained on
        self.devices: dict[str, set] = {}
        self.ratio: dict[str, float] = {}  # results folder -> measured / planned seconds of a level
        self.overhead = 0.0  # seconds a level costs beyond its training (hand-over, writing)
        self.train_seconds: dict[str, float] = {}  # results folder -> seconds workers trained
        self.installed = 0
        self.load_seconds: dict[str, float] = {}  # results folder -> seconds the driver took to load its data

    def _next(self, tr: _Trial) -> list | None:
        """Members of the trial's next unfinished level (advancing past finished ones)."""
        r, head = tr.runner, tr.head
        if tr.todo is not None:
            return tr.todo
        if r.fingerprint is None and any(s.todo for s in tr.task.steps):
            r.fingerprint = self._numerics(head)  # so that prepare() records the workers' numerics
        while tr.level <= r.last_level:
            if r._data is None:
                r._data = head._data  # loaded (and verified) once per config
            t0 = time.time()
            todo = r.prepare(tr.level)
            if head._data is None and r._data is not None:
                head._data = r._data
                self.load_seconds[head.dir.name] = time.time() - t0
            if todo:
                tr.todo = todo
                return todo
            tr.level += 1
        tr.finished = True
        return None

    def _numerics(self, head: lottery.Runner) -> dict:
        """The fingerprint the levels train under (computed once, where they train), and the
        refusal of ``numerics.check_extend`` for a folder trained under another (``--force``)."""
        if self.fp is None:
            self.fp = self.pool.fingerprint(self.device) if self.pool else numerics.fingerprint(self.device)
        if head.dir.name not in self.checked:
            numerics.check_extend(head.dir, self.fp, self.force)
            self.checked.add(head.dir.name)
            head.fingerprint = self.fp
        return self.fp

    def estimate(self, tr: _Trial, n: int) -> float:
        """Seconds the level will take: the plan's estimate, corrected by how long this config's
        levels have taken so far in this session, plus the hand-over overhead, plus loading the
        data where the worker has not loaded this config's yet (as long as the driver took)."""
        step = tr.task.steps[tr.level]
        load = 0.0 if tr.head.dir.name in self.ratio else self.load_seconds.get(tr.head.dir.name, 0.0)
        return step.seconds * n / step.members * self.ratio.get(tr.head.dir.name, 1.0) + self.overhead + load

    def run(self, pool, deadline: float | None = None) -> bool:
        """Run every trial to its last level, or until ``deadline`` seconds after the start;
        True when everything is finished."""
        end = self.started + deadline if deadline else math.inf
        flying: dict = {}
        self.pool = pool
        try:
            while True:
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
                        break
                    est = self.estimate(tr, len(todo))
                    if time.time() + est > end:  # never start a level that cannot finish in time
                        skipped.append((tr, est))
                        continue
                    args = (tr.runner.cfg, tr.level, todo, self.device, str(data_mod.data_root()))
                    if not tr.head._recorded:  # a run killed in its first level leaves its record
                        self._record(tr.head, complete=False)
                    flying[pool.submit(args)] = (tr, tr.level, todo, time.time())
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
            self._close()
        return all(self._done(tr) for tr in self.trials)

    def _install(self, tr: _Trial, level: int, todo: list, t0: float, out: dict) -> None:
        d = tr.runner.dir
        for key, _ in todo:
            res.install_member(res.member_dir(d, *key, level), out["files"][key])
        tr.runner.trained += len(todo)
        self.devices.setdefault(d.name, set()).add(f"{out['device']} on {out['host']}")
        self.platforms.setdefault(d.name, set()).add(out.get("platform"))
        step = tr.task.steps[level]
        self.ratio[d.name] = out["seconds"] / max(step.seconds * len(todo) / step.members, 1e-9)
        if self.installed:  # the first level's hand-over includes starting the worker and loading data
            self.overhead = max(0.0, time.time() - t0 - out["seconds"])
        self.installed += 1
        self.train_seconds[d.name] = self.train_seconds.get(d.name, 0.0) + out["seconds"]
        self._record(tr.head, complete=False)
        self.log(f"{tr.task.name} level {level}: {len(todo)} runs in {out['seconds']:.1f} s "
                 f"({out['device']}, {out['host']} node {out['node']} pid {out['pid']})")
        tr.level, tr.todo = level + 1, None

    @staticmethod
    def _done(tr: _Trial) -> bool:
        return tr.finished or tr.level > tr.runner.last_level

    def _record(self, head: lottery.Runner, complete: bool, **extra) -> None:
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

    def _close(self) -> None:
        """``Runner.finish`` per config: the closing record, complete when every trial is
        finished, otherwise marked as stopped (at the deadline); a folder with nothing left to
        train closes earlier sessions that were killed; and the summary of what is on disk."""
        for head in self.heads:
            done = all(self._done(tr) for tr in self.trials if tr.head is head)
            why = "deadline" if self.executor == "deadline" else "interrupted"
            if head._recorded:
                self._record(head, complete=done, **({} if done else {"stopped": why}))
            elif done and head.dir.is_dir():
                provenance.close_unfinished(head.dir)
            if head.dir.is_dir():
                if not (head.dir / "config.json").exists():
                    head.write_config()
                summaries.write_summary(head.dir)


# ---------------------------------------------------------------------------- execute
def execute(cfgs: list[Config], device: str = "cpu", root: Path | None = None, executor: str = "local",
            address: str | None = None, deadline: float | None = None, log=print,
            started: float | None = None, **kw) -> tuple[list[Path], bool]:
    """Run (or resume) ``cfgs`` with an executor; returns (results folders, all finished). The
    deadline counts from ``started`` (the command's start; default: now)."""
    if deadline is not None and not (isinstance(deadline, int | float) and deadline > 0 and math.isfinite(deadline)):
        raise ConfigError(f"--deadline {deadline} must be a positive number of seconds")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}'; use one of {', '.join(EXECUTORS)}")
    if address and executor != "ray":
        raise ConfigError("--address names a Ray cluster; add --executor ray")
    if deadline is not None and executor == "ray":
        raise ConfigError("--deadline time-boxes the local executor (one device); "
                          "drop --deadline or use --executor local")
    if executor == "local":
        from lthrepro.core.config import check_device
        check_device(device)  # (a Ray worker's device is checked where it runs)
    cfgs = plan.merge(cfgs)
    if executor == "local" and deadline is None:
        return [make_runner(c, device, root, **kw).run() for c in cfgs], True
    t0 = started or time.time()
    pool = RayPool(device, address) if executor == "ray" else ChildPool()
    try:
        driver = Driver(cfgs, device, root, "deadline" if deadline else executor, log=log, started=t0,
                        force=kw.get("force", False))
    except BaseException:
        pool.close()
        raise
    finished = driver.run(pool, deadline)
    return [h.dir for h in driver.heads], finished
