import json

import pytest
import torch

from lthrepro.core import config, models, presets, pruning
from lthrepro.experiments import lottery
from lthrepro.store import results as res
from lthrepro.store import summaries


def _cfg(**kw):
    base = dict(dataset="synthetic", iterations=60, eval_every=20, levels=3, oneshot=True,
                random_prune=1)
    base.update(kw)
    return presets.make_config("lenet", "smoke", **base)


def _summary(d):
    return (d / "summary.csv").read_text()


def test_smoke_lottery_writes_every_level(tmp_path):
    cfg = _cfg()
    d = lottery.run(cfg, root=tmp_path)
    rows = summaries.collect(d)
    kinds = {(r["kind"], r["level"]) for r in rows}
    assert {("imp", lv) for lv in range(4)} <= kinds
    for k in ("reinit", "random", "oneshot"):
        assert {(k, lv) for lv in (1, 2, 3)} <= kinds and (k, 0) not in kinds
    imp = {r["level"]: r["density"] for r in rows if r["kind"] == "imp"}
    assert [round(100 * imp[lv], 1) for lv in range(4)] == [100.0, 80.0, 64.1, 51.3]  # §1.2
    m = json.loads((res.member_dir(d, "imp", 0, 0, 2) / "metrics.json").read_text())
    assert set(m["layer_density"]) == set(models.layer_kinds("lenet"))
    cj = json.loads((d / "config.json").read_text())
    assert cj["hash"] == config.config_hash(cfg) and len(cj["data"]["sha256"]["train"]) == 64
    assert json.loads((d / "provenance.json").read_text())["sessions"][0]["members_trained"] == 13


def test_resume_after_crash_gives_identical_summary(tmp_path, monkeypatch):
    cfg = _cfg(levels=2, random_prune=0, oneshot=False)
    clean = lottery.run(cfg, root=tmp_path / "a")
    calls = {"n": 0}
    real = torch.save

    def crashing(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:  # level 0 saved mask + final; die while writing level 1's mask
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(torch, "save", crashing)
    with pytest.raises(KeyboardInterrupt):
        lottery.run(cfg, root=tmp_path / "b")
    crashed = lottery.run_dir(cfg, tmp_path / "b")
    assert calls["n"] == 3
    assert not [p for p in crashed.rglob(".tmp-*")]  # the half-written level was removed
    assert [r["level"] for r in summaries.collect(crashed)] == [0]  # only finished work is on disk
    prov = json.loads((crashed / "provenance.json").read_text())["sessions"]
    assert len(prov) == 1 and prov[0]["complete"] is False and prov[0]["members_trained"] == 1
    monkeypatch.setattr(torch, "save", real)
    resumed = lottery.run(cfg, root=tmp_path / "b")
    assert _summary(resumed) == _summary(clean)
    prov = json.loads((resumed / "provenance.json").read_text())["sessions"]
    assert [p["complete"] for p in prov] == [False, True]
    # and a third start trains nothing
    r = lottery.Runner(cfg, root=tmp_path / "b")
    assert all(not r.plan(lv) for lv in range(cfg.levels + 1))


def test_reset_weights_equal_theta0_times_mask_and_controls(tmp_path):
    cfg = _cfg(levels=1, random_prune=1)
    lottery.run(cfg, root=tmp_path)
    r = lottery.Runner(cfg, root=tmp_path)
    # Plan level 2 (not yet run): the IMP member restarts from θ0 under the new mask.
    r.cfg = presets.make_config("lenet", "smoke", dataset="synthetic", iterations=60, eval_every=20,
                                levels=2, random_prune=1)
    plan = dict(r.plan(2))
    imp, reinit, rnd = plan[("imp", 0, 0)], plan[("reinit", 0, 0)], plan[("random", 0, 0)]
    th0 = models.init_params("lenet", 0)
    for n, m in imp.mask.items():
        assert torch.equal(imp.init[n] * m, th0[n] * m)
        assert torch.equal(reinit.mask[n], m) and not torch.equal(reinit.init[n], th0[n])
        assert int(rnd.mask[n].sum()) == int(m.sum()) and not torch.equal(rnd.mask[n], m)
    assert abs(pruning.density(imp.mask) - 0.641) < 1e-3


def test_rewinding_starts_from_iteration_k(tmp_path):
    cfg = _cfg(levels=1, rewind=20, random_prune=0, oneshot=False)
    d = lottery.run(cfg, root=tmp_path)
    snap = res.load_tensors(res.member_dir(d, "imp", 0, 0, 0), "rewind")["params"]
    r = lottery.Runner(presets.make_config("lenet", "smoke", dataset="synthetic", iterations=60,
                                           eval_every=20, levels=2, rewind=20), root=tmp_path)
    imp = dict(r.plan(2))[("imp", 0, 0)]
    for n, m in imp.mask.items():
        assert torch.equal(imp.init[n] * m, snap[n] * m)
    m1 = json.loads((res.member_dir(d, "imp", 0, 0, 1) / "metrics.json").read_text())
    assert m1["iterations"][0] == 20  # level 1 trained from the rewind point


def test_no_train_guard(tmp_path, monkeypatch):
    monkeypatch.setenv("LTHREPRO_NO_TRAIN", "1")
    with pytest.raises(lottery.NoTrainError):
        lottery.run(_cfg(levels=0), root=tmp_path)
    assert not any(tmp_path.rglob("metrics.json"))


def test_short_run_on_real_mnist(mnist_root, tmp_path):
    cfg = presets.make_config("lenet", "smoke", levels=1, reinits=0)
    d = lottery.run(cfg, root=tmp_path)
    cj = json.loads((d / "config.json").read_text())
    assert cj["data"]["dataset"] == "mnist" and cj["data"]["n_val"] == 500
    rows = summaries.collect(d)
    assert rows[0]["final_test_acc"] > 0.5  # 120 Adam steps on 2,000 digits learn something


def test_clean_clone_without_tensors_trains_nothing(tmp_path, monkeypatch):
    cfg = _cfg(levels=2)
    d = lottery.run(cfg, root=tmp_path)
    for pt in d.rglob("*.pt"):  # what a fresh clone has: the JSON, no tensors
        pt.unlink()
    monkeypatch.setenv("LTHREPRO_NO_TRAIN", "1")
    r = lottery.Runner(cfg, root=tmp_path)
    assert all(not r.plan(lv) for lv in range(cfg.levels + 1))
    lottery.run(cfg, root=tmp_path)  # no NoTrainError


def test_extending_levels_without_tensors_retrains_the_chain(tmp_path, monkeypatch):
    cfg = _cfg(levels=1, random_prune=0, oneshot=False)
    d = lottery.run(cfg, root=tmp_path)
    for pt in d.rglob("*.pt"):
        pt.unlink()
    longer = _cfg(levels=2, random_prune=0, oneshot=False)
    monkeypatch.setenv("LTHREPRO_NO_TRAIN", "1")
    with pytest.raises(lottery.NoTrainError):  # level 2 needs level 1's weights: retrain, not crash
        lottery.run(longer, root=tmp_path)
    monkeypatch.delenv("LTHREPRO_NO_TRAIN")
    before = _summary(d).splitlines()
    lottery.run(longer, root=tmp_path)
    after = _summary(d).splitlines()
    # the retrained chain reproduces levels 0-1 exactly; level 2 adds the IMP run and its reinit
    assert after[0] == before[0] and set(before[1:]) < set(after[1:]) and len(after) == 1 + 5
    assert len(summaries.collect(d)) == 5


def test_a_run_killed_mid_level_accounts_for_the_groups_it_wrote(tmp_path, monkeypatch):
    """One member per group (--group 1): a run killed in level 1's second group has written level
    1's IMP member, and its provenance session says so (it was updated per finished level only)."""
    cfg = _cfg(levels=1, reinits=1, random_prune=0, oneshot=False)
    real, calls = lottery.Runner.train, {"n": 0}

    def dying(self, chunk, level):
        calls["n"] += 1
        if calls["n"] == 3:  # level 0 (imp), level 1 imp, then die in level 1's reinit
            raise KeyboardInterrupt
        return real(self, chunk, level)

    monkeypatch.setattr(lottery.Runner, "train", dying)
    with pytest.raises(KeyboardInterrupt):
        lottery.run(cfg, root=tmp_path, max_group=1)
    d = lottery.run_dir(cfg, tmp_path)
    assert {(r["kind"], r["level"]) for r in summaries.collect(d)} == {("imp", 0), ("imp", 1)}
    prov = json.loads((d / "provenance.json").read_text())["sessions"]
    assert len(prov) == 1 and prov[0]["complete"] is False and prov[0]["members_trained"] == 2
