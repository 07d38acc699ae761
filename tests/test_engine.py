"""Issue 4: the group engine is exact. Float64 on CPU, short runs on small synthetic data.

(a) N members trained together == the same N trained one by one (G=1 calls);
(b) the engine == a per-model reference loop written the way peers do it (scale/reference.py);
(c) dropout per member at the right rate, off in eval; (d) batch-norm statistics per member;
(e) batched crop/flip == a per-image reference; (f) a rewound member starts at θk ⊙ mask.

Tolerance: 1e-9 absolute on weights, BN statistics and losses (float64; the differences seen
are ~1e-13, from summation order in grouped vs single kernels); accuracies, early-stop
iterations and the zero pattern of pruned weights must match exactly.
"""

import dataclasses
import functools
import json

import pytest
import torch

from lthrepro.core import config, data, models, presets, train
from lthrepro.experiments import lottery
from lthrepro.scale import reference
from lthrepro.store import results as res

F64 = torch.float64
TOL = 1e-9
PRESET = {"lenet": "lenet", "conv2": "conv2", "resnet20": "resnet18"}


@functools.cache
def _data(model: str) -> data.Data:
    d = data.load("synthetic", val_size=6, test_limit=6, input_shape=models.INPUT_SHAPE[model])
    n = 60 if model == "lenet" else 12  # float64 convolutions are slow: keep the image count tiny
    d.x_train, d.y_train = d.x_train[:n], d.y_train[:n]
    return d


def _cfg(model: str, **kw) -> config.Config:
    base = presets.make_config(PRESET[model], "smoke", dataset="synthetic")
    # Short schedules that still exercise warmup, a decay milestone, two epochs and eval points.
    small = {"iterations": 8, "eval_every": 3, "batch_size": 12, "warmup": 2, "milestones": (5,)}
    if model != "lenet":
        small.update(iterations=4, eval_every=2, batch_size=4, warmup=1, milestones=(3,))
    return dataclasses.replace(base, **{**small, **kw})


def _members(model: str, n: int, density: float = 0.6) -> list[train.Member]:
    out = []
    for s in range(n):
        p = models.init_params(model, 100 + s, F64)
        g = torch.Generator().manual_seed(s)
        mask = {k: torch.rand(p[k].shape, generator=g) < density for k in models.layer_kinds(model)}
        out.append(train.Member(init=p, mask=mask, data_seed=7 + 3 * s))
    return out


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max([(a[k] - b[k]).abs().max().item() for k in a] or [0.0])


def _assert_same(r: train.Result, s: train.Result, mask: dict) -> None:
    assert _max_diff(r.final, s.final) < TOL
    assert _max_diff(r.state, s.state) < TOL
    for k, m in mask.items():  # pruned weights are exactly zero in both
        assert (r.final[k][~m] == 0).all() and (s.final[k][~m] == 0).all()
    for k in ("val_loss", "test_loss", "train_loss"):
        assert max(abs(x - y) for x, y in zip(r.metrics[k], s.metrics[k], strict=True)) < TOL, k
    for k in ("iterations", "val_acc", "test_acc", "early_stop_iter", "final_train_acc"):
        assert r.metrics[k] == s.metrics[k], k


@functools.cache
def _group(model: str, **kw) -> list[train.Result]:
    return train.train_group(_cfg(model, **kw), _members(model, 2), _data(model), dtype=F64)


CASES = {"lenet": {}, "conv2": {},  # Adam, as in the paper (LTH Fig. 2)
         "resnet20": {}}  # SGD + momentum + weight decay + crop/flip + batch norm (App. I)


@pytest.mark.parametrize("model", list(CASES))
def test_group_equals_one_by_one(model):
    together = _group(model)
    cfg, ms = _cfg(model), _members(model, 2)
    alone = [train.train_group(cfg, [m], _data(model), dtype=F64)[0] for m in ms]
    for r, s, m in zip(together, alone, ms, strict=True):
        _assert_same(r, s, m.mask)
    # not vacuous: the members trained, and trained differently (own init, data order, mask)
    assert _max_diff(together[0].final, {k: v * ms[0].mask.get(k, 1) for k, v in ms[0].init.items()}) > 1e-4
    assert _max_diff(together[0].final, together[1].final) > 1e-3


@pytest.mark.parametrize("model", list(CASES))
def test_engine_equals_reference_loop(model):
    cfg, ms = _cfg(model), _members(model, 2)
    assert cfg.augment == (model == "resnet20") and (cfg.optimizer == "sgd") == (model == "resnet20")
    ref = reference.train_reference(cfg, ms, _data(model), dtype=F64)
    for r, s, m in zip(_group(model), ref, ms, strict=True):
        _assert_same(r, s, m.mask)


def test_reference_comparison_detects_a_missing_mask():
    # The reference re-applies the mask after each step; without it the numbers must differ,
    # so the agreement above really covers the masks.
    cfg, ms = _cfg("lenet"), _members("lenet", 1)
    dense = [dataclasses.replace(ms[0], mask={k: torch.ones_like(v) for k, v in ms[0].mask.items()})]
    ref = reference.train_reference(cfg, dense, _data("lenet"), dtype=F64)[0]
    assert _max_diff(_group("lenet")[0].final, ref.final) > 1e-3


def test_rewound_engine_equals_reference_loop():
    # A rewound run (start = k) skips the first k batches of its data order and the schedule
    # continues from k, in both implementations.
    cfg, ms = _cfg("lenet", iterations=9), _members("lenet", 2)
    eng = train.train_group(cfg, ms, _data("lenet"), start=4, dtype=F64)
    ref = reference.train_reference(cfg, ms, _data("lenet"), start=4, dtype=F64)
    for r, s, m in zip(eng, ref, ms, strict=True):
        assert r.metrics["iterations"] == [6, 9]
        _assert_same(r, s, m.mask)
    full = train.train_group(cfg, ms[:1], _data("lenet"), dtype=F64)[0]
    assert _max_diff(full.final, eng[0].final) > 1e-4  # skipping the batches matters


# ------------------------------------------------------------------------------ (c) dropout
def test_dropout_per_member_at_rate_and_off_in_eval():
    G, B, n, rate = 4, 50, 200, 0.3
    eye = torch.eye(n, dtype=F64).expand(G, n, n).contiguous()
    p = {"a.weight": eye, "b.weight": eye}  # identity layers: the output is dropout(relu(x))
    x = torch.rand(G, 1, n, dtype=F64).expand(G, B, n) + 0.5  # the same input for every member
    noise = [torch.Generator().manual_seed(g) for g in range(G)]
    state = torch.get_rng_state()
    y = models._fc_head(p, x, True, rate, ["a", "b"], noise)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is never touched
    kept = y != 0
    assert abs(kept.logical_not().double().mean().item() - rate) < 0.01  # 40,000 draws: 4.5 sigma
    assert torch.allclose(y[kept], (x / (1 - rate))[kept])  # inverted dropout scaling
    agree = (kept[0] == kept[1]).double().mean().item()  # independent: P(agree) = .7^2 + .3^2
    assert abs(agree - 0.58) < 0.02
    assert torch.equal(models._fc_head(p, x, False, rate, ["a", "b"]), x)  # eval: identity


def test_dropout_makes_identical_members_diverge_but_not_their_evaluation():
    m = _members("lenet", 1)[0]
    other = dataclasses.replace(m, tag="another run")  # same init, mask, data; its own noise
    for rate in (0.0, 0.5):
        r = train.train_group(_cfg("lenet", dropout=rate), [m, other, m], _data("lenet"), dtype=F64)
        # evaluation at iteration 0 has no dropout: identical members, identical numbers
        assert r[0].metrics["val_loss"][0] == r[1].metrics["val_loss"][0]
        d = _max_diff(r[0].final, r[1].final)
        assert (d > 1e-4) if rate else (d == 0.0)
        assert _max_diff(r[0].final, r[2].final) == 0.0  # the same run twice: the same noise


# ------------------------------- issue 10: a run's numbers do not depend on its group
def _tagged(model: str, n: int, **kw) -> list[train.Member]:
    return [dataclasses.replace(m, tag=f"imp/s{i}r0/1", **kw) for i, m in enumerate(_members(model, n))]


def _frozen_at_init(model: str, n: int) -> list[train.Member]:
    # Zhou et al. §4 mask-0 "freeze_init": pruned weights hold their initial values.
    return [dataclasses.replace(m, fixed={k: m.init[k] for k in m.mask}) for m in _tagged(model, n)]


def _learned(n: int) -> tuple[list, object]:
    from lthrepro.experiments import supermask
    names = list(models.layer_kinds("lenet"))
    out = []
    for i, m in enumerate(_tagged("lenet", n)):
        scores = {k: torch.randn(v.shape, generator=torch.Generator().manual_seed(i), dtype=F64)
                  if k in names else v.clone() for k, v in m.init.items()}
        out.append(supermask.MaskMember(init=scores, mask={k: torch.ones_like(v) for k, v in m.mask.items()},
                                        data_seed=m.data_seed, tag=m.tag, frozen=m.init, dwr=bool(i % 2)))
    def weights_fn(ms):
        frozen = models.stack([x.frozen for x in ms])
        dwr = torch.tensor([x.dwr for x in ms])
        return lambda q, tr, noise: supermask.masked_weights(q, frozen, names, dwr, tr, noise=noise)
    return out, weights_fn


NOISY = {  # name -> (model, config overrides, members, weights_fn factory or None)
    "lenet-dropout": ("lenet", {"dropout": 0.5}, lambda: _tagged("lenet", 3), None),
    "conv2-dropout": ("conv2", {"dropout": 0.5}, lambda: _tagged("conv2", 2), None),
    "lenet-frozen-at-init": ("lenet", {}, lambda: _frozen_at_init("lenet", 3), None),
    "lenet-learned-supermask": ("lenet", {"optimizer": "sgd", "lr": 10.0, "momentum": 0.9},
                                lambda: _learned(3)[0], lambda ms: _learned(0)[1](ms)),
}


def _zero_mask(name: str, m: train.Member) -> dict:
    """Positions that must be exactly zero: pruned weights, unless they hold fixed values or the
    run learns a supermask (its trained tensors are scores)."""
    return {} if (m.fixed is not None or NOISY[name][3]) else m.mask


def _train_noisy(name: str, members: list) -> list[train.Result]:
    model, over, _, wf = NOISY[name]
    kw = {"weights_fn": wf(members)} if wf else {}
    return train.train_group(_cfg(model, **over), members, _data(model), dtype=F64, **kw)


@pytest.mark.parametrize("name", list(NOISY))
def test_noisy_runs_group_equals_alone_at_any_position(name):
    ms = NOISY[name][2]()
    together = _train_noisy(name, ms)
    for i, m in enumerate(ms):  # alone, and at another position in a reversed group
        _assert_same(together[i], _train_noisy(name, [m])[0], _zero_mask(name, m))
    for r, s, m in zip(together, _train_noisy(name, ms[::-1])[::-1], ms, strict=True):
        _assert_same(r, s, _zero_mask(name, m))
    assert _max_diff(together[0].final, together[1].final) > 1e-3
    if NOISY[name][1].get("dropout") or NOISY[name][3]:  # noise really is in play
        rerun = dataclasses.replace(ms[0], tag="another run")
        assert _max_diff(_train_noisy(name, [rerun])[0].final, together[0].final) > 1e-6


@pytest.mark.parametrize("name", list(NOISY))
def test_noisy_runs_engine_equals_reference_loop(name):
    model, over, make, _ = NOISY[name]
    ms = make()
    ref = reference.train_reference(_cfg(model, **over), ms, _data(model), dtype=F64)
    for r, s, m in zip(_train_noisy(name, ms), ref, ms, strict=True):
        _assert_same(r, s, _zero_mask(name, m))
    if name == "lenet-frozen-at-init":  # pruned weights really held their initial values
        for r, m in zip(_train_noisy(name, ms), ms, strict=True):
            assert all(torch.equal(r.final[k][~mk], m.init[k][~mk]) for k, mk in m.mask.items())


# -------------------------------------------------------------------------- (d) batch norm
def test_batchnorm_running_statistics_per_member():
    G = 3
    p = models.stack([models.init_params("resnet20", s, F64) for s in range(G)])
    st = models.stack([models.init_state("resnet20", F64)] * G)
    x = torch.randn(G, 5, 3, 32, 32, dtype=F64) * torch.tensor([1.0, 2.0, 3.0], dtype=F64).view(G, 1, 1, 1, 1)
    models.forward("resnet20", p, st, x, train=True)
    for g in range(G):
        h = torch.nn.functional.conv2d(x[g], p["conv0.weight"][g], padding=1)
        assert torch.allclose(st["bn0.mean"][g], 0.1 * h.mean((0, 2, 3)), atol=1e-12)
        assert torch.allclose(st["bn0.var"][g], 0.9 + 0.1 * h.var((0, 2, 3), unbiased=True), atol=1e-12)
    assert (st["bn0.var"][0] - st["bn0.var"][2]).abs().max() > 0.1  # members' statistics differ
    before = {k: v.clone() for k, v in st.items()}
    models.forward("resnet20", p, st, x, train=False)  # eval uses, never updates, the stats
    assert all(torch.equal(before[k], st[k]) for k in st)


# ------------------------------------------------------------------------ (e) augmentation
def test_batched_crop_flip_equals_per_image_reference():
    g = torch.Generator().manual_seed(0)
    n = 64
    x = torch.randn(n, 3, 32, 32, generator=g)
    oy, ox = torch.randint(0, 9, (n,), generator=g), torch.randint(0, 9, (n,), generator=g)
    oy[:4], ox[:4] = torch.tensor([0, 8, 0, 8]), torch.tensor([0, 8, 8, 0])  # the corners
    flip = torch.randint(0, 2, (n,), generator=g).bool()
    out = data.augment(x, oy, ox, flip)
    ref = torch.stack([reference.crop_flip(x[i], int(oy[i]), int(ox[i]), bool(flip[i])) for i in range(n)])
    assert torch.equal(out, ref)
    # the reference is not trivially equal: centre crop without flip is the identity, a flip is not
    assert torch.equal(reference.crop_flip(x[0], 4, 4, False), x[0])
    assert not torch.equal(reference.crop_flip(x[0], 4, 4, True), x[0])
    assert (reference.crop_flip(x[0], 0, 0, False)[:, :4] == 0).all()  # zero padding shows


# --------------------------------------------------------------------------- (f) rewinding
def test_rewound_member_starts_at_theta_k_times_mask(tmp_path):
    cfg = _cfg("lenet", iterations=8, rewind=3, levels=1, seeds=(0,), reinits=1)
    r = lottery.Runner(cfg, root=tmp_path, data=_data("lenet"), dtype=F64)
    r.run_level(0)
    theta_k = torch.load(res.member_dir(r.dir, "imp", 0, 0, 0) / "rewind.pt")["params"]
    plan = r.plan(1)
    assert {key[0] for key, _ in plan} == {"imp", "reinit"}
    for (kind, _, _), m in plan:
        assert (m.mask["fc1.weight"].double().mean() - 0.8).abs() < 0.01  # pruned one level
        got = train.train_group(cfg, [m], _data("lenet"), start=3, snapshot_at=3, dtype=F64,
                                train_acc=False)[0].snapshot
        if kind == "imp":  # start weights: exactly θk ⊙ mask (biases unmasked)
            for k, v in theta_k.items():
                assert torch.equal(got[k], v * m.mask[k] if k in m.mask else v)
            assert any(((v != 0) & ~m.mask[k]).any() for k, v in theta_k.items() if k in m.mask)
        else:  # the reinit control starts from a fresh init under the same mask
            assert _max_diff(got, theta_k) > 1e-3
            assert all((got[k][~mk] == 0).all() for k, mk in m.mask.items())


# ------------------------------------------------------------------------------ benchmark
def test_bench_command_writes_valid_json(tmp_path, capsys):
    from lthrepro.__main__ import main
    rc = main(["bench", "--models", "lenet", "--group", "1,2", "--iters", "2", "--data", "synthetic",
               "--eval-n", "20", "--out", str(tmp_path)])
    assert rc == 0
    files = list(tmp_path.glob("bench-cpu-*.json"))
    assert len(files) == 1
    rec = json.loads(files[0].read_text())
    assert rec["torch"] == torch.__version__ and rec["settings"]["groups"] == [1, 2]
    assert len(rec["loadavg_start"]) == 3 and rec["git_commit"]
    (res,) = rec["results"]
    assert res["model"] == "lenet" and res["reference"]["model_it_per_s"] > 0
    assert [e["group"] for e in res["engine"]] == [1, 2]
    assert all(e["ratio_vs_reference"] > 0 and e["peak_rss_bytes"] > 0 for e in res["engine"])
    assert "ratio" in capsys.readouterr().out
