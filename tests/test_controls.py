"""Issue 10, item 5: controls. Each repetition of a control has its own data order (repetition 0
keeps the trial's); under rewinding the reinit control starts with fresh batch-norm statistics,
and Zhou et al.'s criteria that read the "initial" weights use the rewind point θk."""

import dataclasses

import torch

from lthrepro.core import data, models, presets, pruning
from lthrepro.experiments import lottery
from lthrepro.store import results as res


def _data(model: str) -> data.Data:
    d = data.load("synthetic", val_size=6, test_limit=6, input_shape=models.INPUT_SHAPE[model])
    d.x_train, d.y_train = d.x_train[:60], d.y_train[:60]
    return d


def _runner(tmp_path, preset: str = "lenet", **kw) -> lottery.Runner:
    base = presets.make_config(preset, "smoke", dataset="synthetic")
    small = {"iterations": 6, "eval_every": 3, "batch_size": 6, "warmup": 0, "milestones": (),
             "levels": 1, "seeds": (0,), "augment": False}
    cfg = dataclasses.replace(base, **{**small, **kw})
    model = cfg.model
    return lottery.Runner(cfg, root=tmp_path, data=_data(model), dtype=torch.float64)


def test_each_control_repetition_has_its_own_data_order(tmp_path):
    r = _runner(tmp_path, reinits=3, random_prune=2)
    r.run_level(0)
    seeds = {key: m.data_seed for key, m in r.plan(1)}
    assert seeds[("imp", 0, 0)] == seeds[("reinit", 0, 0)] == seeds[("random", 0, 0)] == 0
    rest = [seeds[k] for k in (("reinit", 0, 1), ("reinit", 0, 2), ("random", 0, 1))]
    assert len(set(rest)) == 3 and 0 not in rest


def test_reinit_under_rewinding_starts_with_fresh_batchnorm_statistics(tmp_path):
    r = _runner(tmp_path, "resnet18", rewind=2, reinits=1, iterations=4, eval_every=2, batch_size=4)
    r.run_level(0)
    theta_k = res.load_tensors(res.member_dir(r.dir, "imp", 0, 0, 0), "rewind")
    plan = dict(r.plan(1))
    assert all(torch.equal(plan[("imp", 0, 0)].state[k], v) for k, v in theta_k["state"].items())
    assert any((v != models.init_state("resnet20")[k]).any() for k, v in theta_k["state"].items())
    assert plan[("reinit", 0, 0)].state is None  # -> models.init_state: mean 0, var 1


def test_criteria_read_the_rewind_point_not_theta0(tmp_path):
    r = _runner(tmp_path, criterion="magnitude_increase", rewind=3)
    r.run_level(0)
    d0 = res.member_dir(r.dir, "imp", 0, 0, 0)
    final = res.load_tensors(d0, "final")["params"]
    theta_k = res.load_tensors(d0, "rewind")["params"]
    full = pruning.full_mask(final, r.names)
    want = {k: pruning.prune(pruning.scores("magnitude_increase", w, final, r.names), full, r.kinds, r.rates,
                             "layerwise") for k, w in (("k", theta_k), ("0", r.theta0(0)))}
    got = dict(r.plan(1))[("imp", 0, 0)].mask
    assert all(torch.equal(got[n], want["k"][n]) for n in r.names)
    assert any(not torch.equal(want["k"][n], want["0"][n]) for n in r.names)  # not vacuous
