"""Where a level trains (issue 14): the work of a time-boxed child process or a Ray task.

A worker (``train_level``) trains the members the driver hands it in a scratch folder and
returns the files ``Runner.save`` wrote there, as bytes: it writes nothing of the results
folder (the driver is the one writer), so a worker that dies loses only its level. Its data set
stays loaded between levels of the same config (``_data``).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from lthrepro.core import data as data_mod
from lthrepro.core import models
from lthrepro.core.config import Config
from lthrepro.experiments import lottery
from lthrepro.experiments.supermask import LearnedSupermaskRunner
from lthrepro.store import numerics, provenance
from lthrepro.store import results as res


def make_runner(cfg: Config, device: str = "cpu", root: Path | None = None, **kw) -> lottery.Runner:
    """``ondemand.make_runner``'s choice, repeated here: ``ondemand.obtain`` hands a notebook's
    EXECUTOR to the executors, so they cannot import ``ondemand`` back (no import cycles)."""
    return (LearnedSupermaskRunner if cfg.supermask else lottery.Runner)(cfg, device, root, **kw)


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
        r.fingerprint = numerics.fingerprint(device)  # recorded per level, as a local run does
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
