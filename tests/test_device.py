"""Device bugs caught without a GPU (issue 21). The code that runs on the training device (the
engine, evaluation, the interpolation path) runs here with torch's default device set to
``meta`` while training on ``cpu``: a tensor created there without an explicit device is a
meta tensor, and the first operation mixing it with real data fails, as a CPU-created tensor
would on CUDA. Host-side code (data loading, pruning, results) is left alone: it works on the CPU
by design. Every experiment family runs one smoke chain this way."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys

import pytest
import torch

from lthrepro.core import models, train
from lthrepro.core.presets import make_config
from lthrepro.experiments import interpolation, lottery

DEVICE_SIDE = [(train, "train_group"), (train, "evaluate"), (interpolation, "path_errors"),
               (interpolation, "recompute_bn")]


def _on_meta(fn):
    @functools.wraps(fn)
    def wrapped(*a, **k):
        before = torch.get_default_device()
        torch.set_default_device("meta")
        try:
            return fn(*a, **k)
        finally:
            torch.set_default_device(before)
    return wrapped


@contextlib.contextmanager
def device_code_on_meta():
    """Wrap each device-side function wherever lthrepro bound it (``from x import f`` included)."""
    patched = []
    for mod, name in DEVICE_SIDE:
        orig = getattr(mod, name)
        w = _on_meta(orig)
        for m in [m for k, m in list(sys.modules.items()) if k.startswith("lthrepro")]:
            for attr, val in list(vars(m).items()):
                if val is orig:
                    setattr(m, attr, w)
                    patched.append((m, attr, orig))
    try:
        yield
    finally:
        for m, attr, orig in patched:
            setattr(m, attr, orig)


def test_the_check_catches_a_tensor_created_without_a_device():
    """The check can fail: device code that forgets ``device=`` is caught on a CPU."""
    def forgetful(x: torch.Tensor) -> torch.Tensor:
        return x + torch.zeros(x.shape)  # no device=: on CUDA this would be a CPU tensor

    def careful(x: torch.Tensor) -> torch.Tensor:
        return x + torch.zeros(x.shape, device=x.device)

    x = torch.ones(3)
    assert torch.equal(_on_meta(careful)(x), x)
    with pytest.raises((RuntimeError, NotImplementedError)):
        _on_meta(forgetful)(x).tolist()


TINY = dict(dataset="synthetic", iterations=6, eval_every=3, batch_size=8, train_limit=64, val_size=16,
            test_limit=16, levels=2, seeds=(0,))


@pytest.mark.parametrize("model", ["lenet", "conv2", "resnet20"])
def test_a_smoke_chain_with_every_control_creates_no_tensor_off_its_device(tmp_path, model):
    preset = {"resnet20": "resnet18"}.get(model, model)
    over = dict(TINY, reinits=1, random_prune=1, oneshot=True, test_curves="minima")
    if model == "resnet20":
        over.update(iterations=4, eval_every=2, batch_size=4, train_limit=16, milestones=(3,))
    cfg = make_config(preset, "smoke", **over)
    with device_code_on_meta():
        d = lottery.run(cfg, root=tmp_path, device="cpu")
    assert (d / "summary.csv").is_file()
    # the same numbers as without the check: meta tensors never reached a result
    again = lottery.run(cfg, root=tmp_path / "plain", device="cpu")
    assert (d / "summary.csv").read_text() == (again / "summary.csv").read_text()


def test_stability_pairs_and_interpolation_create_no_tensor_off_their_device(tmp_path):
    from lthrepro.core import data
    from lthrepro.experiments import stability
    cfg, _ = stability.make("lenet", "smoke", dataset="synthetic")
    cfg = dataclasses.replace(cfg, iterations=12, eval_every=4, batch_size=12, levels=2)
    d = data.load("synthetic", val_size=6, test_limit=40, input_shape=models.INPUT_SHAPE["lenet"])
    d.x_train, d.y_train = d.x_train[:120], d.y_train[:120]
    sp = stability.Spec(ks=(0, 4), chain_ks=(0, 4), levels=(2,), seeds=(0,), alphas=3, train_subset=50,
                        continue_ks=(4,))
    with device_code_on_meta():
        out = stability.Experiment(cfg, sp, root=tmp_path, data=d).run()
    assert stability.collect(out)


def test_learned_and_untrained_supermasks_create_no_tensor_off_their_device(tmp_path):
    from lthrepro.experiments import supermask
    from lthrepro.scale import ondemand
    cfg = supermask.dlt_config("lenet", "smoke", supermask="learned", supermask_weights="signed_constant",
                               dwr=True, dataset="synthetic", iterations=6, eval_every=3)
    with device_code_on_meta():
        ondemand.make_runner(cfg, root=tmp_path).run()
        r = lottery.Runner(make_config("lenet", "smoke", **{**TINY, "levels": 1, "reinits": 0}), root=tmp_path)
        r.run()
        assert supermask.untrained(r, ["large_final", "random"], [0, 1])


def test_earlybird_search_and_retraining_create_no_tensor_off_their_device(tmp_path):
    from lthrepro.experiments import earlybird, earlybird_tickets
    spec = earlybird_tickets.Spec(kind="weights", targets=(1,), runs=(("eb", "continue"), ("end", "reset")),
                                  eps=0.5, keep=2)
    with device_code_on_meta():
        d = earlybird.run("lenet", "smoke", root=tmp_path, spec=spec, dataset="synthetic", iterations=12,
                          eval_every=4, train_limit=120, val_size=20, test_limit=20)
    assert earlybird.summary_rows(d)
