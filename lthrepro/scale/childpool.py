"""The time-boxed executor's pool (``--deadline``, issue 14): one child process, one level at a
time, killed with its level at the deadline.

The child is a spawned process rather than a thread so that a level still running at the
deadline can be stopped at once (``abandon``): its partial work lives only in the child's
scratch folder (``worker.train_level``), so killing it leaves nothing half-written. Driver and
child talk over a pipe in ``torch.save`` bytes (the members hold tensors).
"""

from __future__ import annotations

import io

import torch

from lthrepro.scale.worker import train_level
from lthrepro.store import numerics


def _child(conn) -> None:  # the child process: levels in, their files (or an error) out
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
