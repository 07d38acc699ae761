"""The Ray executor's pool (issue 14): every level a Ray task (one GPU per task on ``cuda``, one
CPU otherwise), queued by Ray on the cluster and retried when its worker dies.

Ray is optional (``pip install 'lthrepro[ray]'``): it is imported only when this pool is made,
and a missing Ray, a bad address or a cluster without the GPUs asked for is a one-line
``ConfigError`` before anything is written.
"""

from __future__ import annotations

import socket

import torch

from lthrepro.core import data as data_mod
from lthrepro.core.config import ConfigError
from lthrepro.scale.worker import train_level, worker_fingerprint


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
