"""Zhou et al. 2019 mask-1 and mask-0 actions on tiny tensors, and through the lottery runner."""

import math

import pytest
import torch

from lthrepro.core import actions, models, presets, pruning, train
from lthrepro.experiments import ablation, lottery
from lthrepro.store import results as res

W0 = torch.tensor([[0.3, -0.2, 0.1], [-0.5, 0.4, -0.6]])
KEEP = torch.tensor([[1, 1, 0], [1, 0, 1]], dtype=torch.bool)
STD = 0.25
THETA = {"w": W0, "b": torch.tensor([0.0, 1.0])}


def _act(name, seed=0):
    return actions.MASK1[name](THETA, {"w": KEEP}, {"w": STD}, torch.Generator().manual_seed(seed))


def test_reset_returns_theta_and_leaves_biases():
    out = _act("reset")
    assert torch.equal(out["w"], W0) and torch.equal(out["b"], THETA["b"])


@pytest.mark.parametrize("name", list(actions.MASK1))
def test_every_mask1_action_keeps_biases_and_shapes(name):
    out = _act(name)
    assert torch.equal(out["b"], THETA["b"])
    assert out["w"].shape == W0.shape and out["w"].dtype == W0.dtype


def test_constant_is_plus_minus_alpha_with_random_signs():
    vals = torch.stack([_act("constant", s)["w"][KEEP] for s in range(30)])
    assert torch.allclose(vals.abs(), torch.full_like(vals, STD))
    assert (vals > 0).any() and (vals < 0).any()
    assert (torch.sign(vals) != torch.sign(W0[KEEP])).any()  # sign not tied to θ0


def test_signed_constant_keeps_every_sign():
    out = _act("signed_constant")["w"]
    assert torch.allclose(out, STD * torch.sign(W0))


@pytest.mark.parametrize("name", ["signed_reinit", "signed_reshuffle", "signed_constant"])
def test_sign_preserving_actions_keep_every_sign(name):
    for s in range(5):
        out = _act(name, s)["w"]
        assert torch.equal(torch.sign(out[KEEP]), torch.sign(W0[KEEP]))


def test_reshuffle_permutes_kept_values_within_the_layer():
    kept = sorted(W0[KEEP].tolist())
    perms = set()
    for s in range(20):
        out = _act("reshuffle", s)["w"]
        assert sorted(out[KEEP].tolist()) == pytest.approx(kept)
        assert torch.equal(out[~KEEP], W0[~KEEP])  # pruned positions untouched (mask-0 decides)
        perms.add(tuple(out[KEEP].tolist()))
    assert len(perms) > 3


def test_signed_reshuffle_permutes_magnitudes_only():
    out = _act("signed_reshuffle", 3)["w"]
    assert sorted(out[KEEP].abs().tolist()) == pytest.approx(sorted(W0[KEEP].abs().tolist()))


def test_reinit_draws_from_the_init_distribution():
    big = {"w": torch.zeros(200, 200)}
    out = actions.MASK1["reinit"](big, {"w": torch.ones(200, 200, dtype=torch.bool)}, {"w": STD},
                                  torch.Generator().manual_seed(0))["w"]
    assert abs(out.std().item() - STD) < 0.01 and abs(out.mean().item()) < 0.01


# ------------------------------------------------------------------------------- mask-0
WF = torch.tensor([[0.1, -0.4, 0.05], [-0.7, 0.1, -0.2]])
# |wf| < |wi| (moved toward zero): [[T, F, T], [F, T, T]]


def test_mask0_values():
    m = {"w": KEEP}
    assert actions.MASK0["zero"]({"w": W0}, {"w": WF}, m) is None
    assert torch.equal(actions.MASK0["freeze_init"]({"w": W0}, {"w": WF}, m)["w"], W0)
    v1 = actions.MASK0["freeze_init_zero_mask"]({"w": W0}, {"w": WF}, m)["w"]
    # pruned positions are (0,2) moved toward zero -> 0, and (1,1) moved toward zero -> 0
    assert v1[0, 2] == 0 and v1[1, 1] == 0
    w0b = W0.clone()
    w0b[1, 1] = 0.01  # now |wf| .1 > |wi| .01: moved away from zero -> frozen at init
    v1b = actions.MASK0["freeze_init_zero_mask"]({"w": w0b}, {"w": WF}, m)["w"]
    assert v1b[1, 1] == pytest.approx(0.01)


def test_variant1_leaves_kept_weights_variant2_zeroes_those_that_shrank():
    m = {"w": KEEP}
    g = torch.Generator().manual_seed(0)
    init1, _ = actions.start("reset", "freeze_init_zero_mask", THETA, THETA, {"w": WF, "b": THETA["b"]},
                             m, {"w": STD}, g)
    assert torch.equal(init1["w"], W0)
    init2, fixed2 = actions.start("reset", "freeze_init_zero_all", THETA, THETA,
                                  {"w": WF, "b": THETA["b"]}, m, {"w": STD}, g)
    # kept (0,0) shrank -> starts at 0; kept (0,1), (1,0) grew -> θ0; kept (1,2) shrank -> 0
    assert init2["w"][0, 0] == 0 and init2["w"][1, 2] == 0
    assert init2["w"][0, 1] == W0[0, 1] and init2["w"][1, 0] == W0[1, 0]
    assert torch.equal(fixed2["w"][~KEEP], torch.zeros(2))


def _synthetic_cfg(**kw):
    return presets.make_config("lenet", "smoke", dataset="synthetic", iterations=40, eval_every=20,
                               **kw)


def test_frozen_at_init_pruned_weights_do_not_change_under_training():
    from lthrepro.core import data
    cfg = _synthetic_cfg()
    d = data.load("synthetic", cfg.val_size, input_shape=(784,))
    p = models.init_params("lenet", 0)
    kinds = models.layer_kinds("lenet")
    m = pruning.prune({n: p[n].abs() for n in kinds}, pruning.full_mask(p, list(kinds)), kinds,
                      {"fc": .5, "output": .5}, "layerwise")
    fixed = actions.MASK0["freeze_init"](p, p, m)
    r = train.train_group(cfg, [train.Member(p, m, 0, fixed=fixed)], d)[0]
    for n, mk in m.items():
        assert torch.equal(r.final[n][~mk], p[n][~mk])  # frozen exactly at θ0
        assert (r.final[n][mk] != p[n][mk]).float().mean() > 0.5  # the rest trained


def test_runner_applies_actions_only_after_level0(tmp_path):
    cfg = _synthetic_cfg(mask1="signed_constant", mask0="freeze_init", levels=1, reinits=0)
    r = lottery.Runner(cfg, root=tmp_path)
    m0 = r.plan(0)[0][1]
    assert torch.equal(m0.init["fc1.weight"], r.theta0(0)["fc1.weight"]) and m0.fixed is None
    r.run_level(0)
    m1 = r.plan(1)[0][1]
    w, keep = m1.init["fc1.weight"], m1.mask["fc1.weight"]
    alpha = models.init_std("lenet")["fc1.weight"]
    assert torch.allclose(w[keep].abs(), torch.full_like(w[keep], alpha))
    assert torch.equal(torch.sign(w[keep]), torch.sign(r.theta0(0)["fc1.weight"][keep]))
    assert torch.equal(m1.fixed["fc1.weight"], r.theta0(0)["fc1.weight"])
    assert math.isclose(keep.float().mean().item(), 0.8, abs_tol=1e-3)


def test_run_many_shares_level0_and_matches_a_single_run(tmp_path):
    a = lottery.Runner(_synthetic_cfg(levels=1, reinits=0), root=tmp_path / "many")
    b = lottery.Runner(_synthetic_cfg(levels=1, reinits=0, criterion="movement"), root=tmp_path / "many")
    ablation.run_many([a, b])
    m = res.read_json(res.member_dir(b.dir, "imp", 0, 0, 0) / "metrics.json")
    assert m["copied_from"] == a.dir.name
    # b's level 1 trained in a group with a's equals b trained alone (same data order, init)
    alone = lottery.Runner(_synthetic_cfg(levels=1, reinits=0, criterion="movement"),
                           root=tmp_path / "alone")
    alone.run()
    x = res.read_json(res.member_dir(b.dir, "imp", 0, 0, 1) / "metrics.json")
    y = res.read_json(res.member_dir(alone.dir, "imp", 0, 0, 1) / "metrics.json")
    assert x["density"] == y["density"]
    # Members of a group are independent (elementwise optimizer, per-member data order): the
    # grouped run is bit-identical to the run alone, so every curve must match exactly.
    for k in ("test_acc", "val_acc", "val_loss", "test_loss", "train_loss", "early_stop_iter"):
        assert x[k] == y[k], k
