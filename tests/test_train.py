import dataclasses

import torch

from lthrepro.core import data, models, presets, pruning, train


def _setup(model="lenet", **kw):
    cfg = presets.make_config("lenet", "smoke", dataset="synthetic", **kw)
    d = data.load("synthetic", cfg.val_size, input_shape=models.INPUT_SHAPE[model])
    return cfg, d


def _half_mask(model, seed):
    kinds = models.layer_kinds(model)
    p = models.init_params(model, seed)
    return p, pruning.prune({n: p[n].abs() for n in kinds}, pruning.full_mask(p, list(kinds)),
                            kinds, {"fc": .5, "output": .5, "conv": .5}, "layerwise")


def test_masked_weights_stay_exactly_zero_under_adam():
    cfg, d = _setup(iterations=300)
    p, m = _half_mask("lenet", 0)
    r = train.train_group(cfg, [train.Member(p, m, 0)], d)[0]
    for n, mk in m.items():
        assert torch.all(r.final[n][~mk] == 0)
        assert (r.final[n][mk] != p[n][mk]).float().mean() > 0.5  # survivors trained (dead ReLU units keep theirs)


def test_pruned_weights_get_no_gradient_moment(monkeypatch):
    # Adam's moments at pruned positions stay exactly zero (no leakage: a pruned weight never
    # receives a gradient), read from the optimizer's own state after training.
    cfg, d = _setup(iterations=60)
    p, m = _half_mask("lenet", 0)
    seen = []
    real = train.make_optimizer
    monkeypatch.setattr(train, "make_optimizer", lambda c, params: seen.append(real(c, params)) or seen[-1])
    train.train_group(cfg, [train.Member(p, m, 0), train.Member(p, m, 1)], d)
    (opt,) = seen
    params = opt.param_groups[0]["params"]
    assert len(params) == len(p)
    for name, t in zip(p, params, strict=True):  # the optimizer holds the stacked group in p's order
        st = opt.state[t]
        assert st["exp_avg"].abs().sum() > 0  # the test can see moments at all
        if name in m:
            pruned = ~m[name].unsqueeze(0).expand_as(t)
            assert torch.all(st["exp_avg"][pruned] == 0) and torch.all(st["exp_avg_sq"][pruned] == 0), name
            assert (st["exp_avg_sq"][~pruned] > 0).float().mean() > 0.5, name  # survivors did get moments

    # Same survivors, with and without pruned weights' initial values present: identical
    # training shows no information flows through pruned positions.
    zeroed = {k: (v * m[k] if k in m else v) for k, v in p.items()}
    a = train.train_group(cfg, [train.Member(p, m, 0)], d)[0]
    b = train.train_group(cfg, [train.Member(zeroed, m, 0)], d)[0]
    for n in p:
        assert torch.equal(a.final[n], b.final[n])


def test_early_stop_is_argmin_of_validation_loss():
    cfg, d = _setup(iterations=200, eval_every=20)
    p = models.init_params("lenet", 1)
    r = train.train_group(cfg, [train.Member(p, pruning.full_mask(p, list(models.layer_kinds("lenet"))), 1)], d)[0]
    mt = r.metrics
    j = min(range(len(mt["val_loss"])), key=lambda i: mt["val_loss"][i])
    assert mt["early_stop_iter"] == mt["iterations"][j]
    assert mt["early_stop_test_acc"] == mt["test_acc"][j]
    assert mt["iterations"][0] == 0 and mt["iterations"][-1] == 200
    assert mt["final_test_acc"] == mt["test_acc"][-1]


def test_lr_schedule_warmup_and_steps():
    cfg = dataclasses.replace(presets.make_config("resnet18"), warmup=100)
    assert abs(train.lr_factor(cfg, 0) - 0.01) < 1e-12
    assert train.lr_factor(cfg, 99) == 1.0
    assert train.lr_factor(cfg, 19_999) == 1.0
    assert abs(train.lr_factor(cfg, 20_000) - 0.1) < 1e-12
    assert abs(train.lr_factor(cfg, 29_999) - 0.01) < 1e-12


def test_snapshot_for_rewinding():
    cfg, d = _setup(iterations=60)
    p = models.init_params("lenet", 2)
    m = pruning.full_mask(p, list(models.layer_kinds("lenet")))
    r = train.train_group(cfg, [train.Member(p, m, 2)], d, snapshot_at=20)[0]
    short = train.train_group(dataclasses.replace(cfg, iterations=20), [train.Member(p, m, 2)], d,
                              train_acc=False)[0]
    for n in p:
        assert torch.allclose(r.snapshot[n], short.final[n], atol=1e-6)
