"""Executors over a plan (issue 14): local, time-boxed (``--deadline``), and Ray.

- ``local``: today's behaviour, ``Runner.run`` per config in this process (the group engine
  trains every trial of a level together).
- ``deadline``: levels run one at a time in a child process (``childpool``), in the order a
  figure needs them (``plan.order_key``); a level whose estimate does not fit in the time left is
  never started, and one still running at the deadline is killed with its child, its partial
  work (only ever in the child's scratch folder) discarded. Every finished level is on disk;
  running the same command again continues, and ends in the same results as one uninterrupted
  run.
- ``ray``: every trial is a chain of Ray tasks (``raypool``), one per level (one GPU per task on
  ``cuda``, one CPU otherwise), all trials at once; a task whose worker dies is retried by Ray.

The time-boxed and Ray executors share one ``driver.Driver``: it alone builds the members of a
trial's next level and alone writes what comes back and the session's provenance
(``session.Writer``); a worker (``worker.train_level``) trains the members it is handed in a
scratch folder and returns the files, so a worker that dies loses only its level and a driver
that dies loses only the levels in flight: run again, it resumes from the last written level.
This module checks the executor options and picks the executor.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from lthrepro.core.config import Config, ConfigError
from lthrepro.core.userargs import EXECUTORS
from lthrepro.scale import plan
from lthrepro.scale.childpool import ChildPool
from lthrepro.scale.driver import Driver
from lthrepro.scale.raypool import RayPool
from lthrepro.scale.worker import make_runner

STOPPED = 75  # exit status of a time-boxed run stopped with work left (EX_TEMPFAIL): run it again


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
        from lthrepro.core.userargs import check_device
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
