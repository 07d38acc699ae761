"""Supermasks (Zhou et al. 2019 §5): the Bernoulli/straight-through layer, DWR, signed
constants, the untrained-supermask table, the learned-supermask runner and the DLT configs."""

import pytest
import torch

from lthrepro.core import config, models, presets, pruning
from lthrepro.experiments import lottery, supermask
from lthrepro.scale import ondemand as experiments
from lthrepro.store import results as res


def test_straight_through_estimator_passes_gradients_to_the_scores():
    s = torch.tensor([[0.0, 2.0, -1.0]], requires_grad=True)
    m = supermask.sample_mask(s, True, [torch.Generator().manual_seed(0)])
    assert set(m.detach().flatten().tolist()) <= {0.0, 1.0}  # forward: a 0/1 sample
    (m * torch.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    sig = torch.sigmoid(s.detach())
    # backward as if m were sigmoid(s): d/ds = upstream * sigmoid'(s)
    assert torch.allclose(s.grad, torch.tensor([[1.0, 2.0, 3.0]]) * sig * (1 - sig))


def test_sample_mask_frequency_is_sigmoid_of_score():
    s = torch.full((1, 20000), 1.0)
    m = supermask.sample_mask(s, False, [torch.Generator().manual_seed(1)])
    assert abs(m.mean().item() - torch.sigmoid(torch.tensor(1.0)).item()) < 0.01


def test_sample_mask_draws_each_member_from_its_own_generator():
    # Member g's draws depend on its generator only, not on the group around it (issue 10).
    s = torch.zeros(3, 500)
    gens = lambda *seeds: [torch.Generator().manual_seed(x) for x in seeds]
    group = supermask.sample_mask(s, False, gens(5, 6, 7))
    alone = supermask.sample_mask(s[:1], False, gens(6))
    assert torch.equal(group[1], alone[0]) and not torch.equal(group[0], group[1])


def test_masked_weights_multiply_and_dynamic_rescaling():
    frozen = {"w": torch.tensor([[[1.0, -2.0, 3.0, 4.0]]]), "b": torch.tensor([[0.5]])}
    scores = {"w": torch.zeros(1, 1, 4)}
    fixed_mask = lambda s, train, noise: torch.tensor([[[1.0, 0.0, 1.0, 0.0]]])
    plain = supermask.masked_weights(scores, frozen, ["w"], torch.tensor([False]), mask_fn=fixed_mask)
    assert plain["w"].tolist() == [[[1.0, 0.0, 3.0, 0.0]]]
    assert torch.equal(plain["b"], frozen["b"])  # biases are frozen, never masked away
    dwr = supermask.masked_weights(scores, frozen, ["w"], torch.tensor([True]), mask_fn=fixed_mask)
    assert dwr["w"].tolist() == [[[2.0, 0.0, 6.0, 0.0]]]  # x (4 weights / 2 ones)


def test_signed_constant_is_alpha_times_init_sign():
    t = models.init_params("lenet", 0)
    std = models.init_std("lenet")
    names = list(models.layer_kinds("lenet"))
    sc = supermask.signed_constant(t, names, std)
    for n in names:
        assert torch.allclose(sc[n], std[n] * torch.sign(t[n]))
    assert torch.equal(sc["fc1.bias"], t["fc1.bias"])


def _cfg(**kw):
    return presets.make_config("lenet", "smoke", dataset="synthetic", iterations=40, eval_every=20,
                               reinits=0, **kw)


def test_learned_supermask_trains_scores_only_and_reports_density(tmp_path):
    cfg = supermask.dlt_config("lenet", "smoke", supermask="learned", supermask_weights="signed_constant",
                               dwr=True, dataset="synthetic", iterations=30, eval_every=10)
    assert cfg.optimizer == "sgd" and cfg.lr == 100.0 and cfg.batch_size == 250
    r = experiments.make_runner(cfg, root=tmp_path)
    assert isinstance(r, supermask.LearnedSupermaskRunner)
    r.run()
    d = res.member_dir(r.dir, "imp", 0, 0, 0)
    m = res.read_json(d / "metrics.json")
    assert m["mask_eval"] == "sampled" and 0.0 < m["density"] < 1.0
    assert 0.0 <= m["sampled10_test_acc_min"] <= m["sampled10_test_acc"] <= m["sampled10_test_acc_max"]
    final = res.load_tensors(d, "final")["params"]
    # the trained tensors are scores: they moved away from the initial sigmoid bias
    assert (final["fc1.weight"] != cfg.sigmoid_bias).float().mean() > 0.5
    assert torch.equal(final["fc1.bias"], torch.zeros(300))  # biases untouched
    assert not any(res.member_dir(r.dir, "imp", 0, 0, 1).parent.glob("level01"))  # one level only


def test_untrained_supermask_table(tmp_path):
    r = lottery.Runner(_cfg(levels=0), root=tmp_path)
    r.run()
    rows = supermask.untrained(r, ["large_final", "random"], [0, 3])
    assert len(rows) == 2 * 2 * 2
    dens = {(x["criterion"], x["level"]) for x in rows if x["weights"] == "init"}
    assert dens == {("large_final", 0), ("large_final", 3), ("random", 0), ("random", 3)}
    d3 = [x["density"] for x in rows if x["level"] == 3]
    assert all(abs(d - d3[0]) < 1e-9 for d in d3) and d3[0] < 0.6
    full = [x["test_acc"] for x in rows if x["level"] == 0]
    assert full[0] == full[2]  # level 0 = no mask: the criterion does not matter


def test_dlt_configs_hash_apart_and_lth_hash_is_unchanged():
    base = presets.make_config("lenet", "budget")
    assert config.run_name(base) == "lenet-19262789"  # the committed LTH run keeps its folder
    cfgs = supermask.family_configs("lenet", "budget", ["criteria", "mask1", "mask0", "learned"])
    assert len(cfgs) == 10 + 6 + 3 + 4
    assert len({config.run_name(c) for c in cfgs}) == len(cfgs)
    assert all(c.iterations == 5000 and c.seeds == (0, 1) for c in cfgs if not c.supermask)  # issue 10


@pytest.mark.parametrize("field,value,says", [
    ("criterion", "biggest", "mask criterion 'biggest'"), ("mask1", "flip", "mask-1 action 'flip'"),
    ("mask0", "one", "mask-0 action 'one'"), ("supermask", "yes", "supermask 'yes'"),
    ("supermask_weights", "ones", "supermask_weights 'ones'")])
def test_bad_dlt_options_are_rejected_with_one_line(field, value, says):
    with pytest.raises(config.ConfigError, match=says) as e:
        presets.make_config("lenet", "smoke", **{field: value})
    assert "\n" not in str(e.value) and "choose" in str(e.value)


def test_criteria_registry_matches_config_choices():
    assert set(pruning.CRITERIA) == {v["criterion"] for v in supermask.FAMILIES["criteria"]}
