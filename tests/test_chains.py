"""Issue 20: a chain continues on any machine from the committed files alone. Levels 0-1 in one
clone, then 2-3 in a fresh copy holding only what git holds (no tensors), equal one
uninterrupted run of 0-3 metric for metric, and no finished level is retrained."""

import json
import shutil

import pytest
import torch

from lthrepro.core import models, pruning
from lthrepro.core.presets import make_config
from lthrepro.experiments import chain, lottery
from lthrepro.store import results as res
from lthrepro.store import state as st


def _cfg(levels, **kw):
    return make_config("lenet", "smoke", **{
        "dataset": "synthetic", "iterations": 6, "eval_every": 3, "batch_size": 12, "train_limit": 120,
        "levels": levels, "reinits": 1, "random_prune": 1, "oneshot": True, "seeds": (0, 1), **kw})


def _committed_copy(src, dst):
    """What a clean clone holds: JSON/CSV and the level state, no tensors (git-ignored)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.pt"))


def _metrics(d):
    return {mj.relative_to(d): res.read_json(mj) for mj in sorted(d.glob("*/s*r*/level*/metrics.json"))}


@pytest.mark.parametrize("extra", [{}, {"rewind": 3}])
def test_levels_continued_in_a_fresh_clone_equal_one_run(tmp_path, extra):
    one = lottery.run(_cfg(3, **extra), root=tmp_path / "one")
    first = lottery.run(_cfg(1, **extra), root=tmp_path / "first")
    _committed_copy(first, tmp_path / "clone" / first.name)
    r = lottery.Runner(_cfg(3, **extra), root=tmp_path / "clone")
    later = r.run()
    assert r.trained == 2 * 2 * 4  # 2 trials x levels 2-3 x (IMP, reinit, random, one-shot): nothing else
    assert _metrics(later) == _metrics(one)
    assert (later / "summary.csv").read_text() == (one / "summary.csv").read_text()
    # the continued folder's state equals the uninterrupted one's, file for file
    for p in sorted(one.rglob("*.bin")):
        assert p.read_bytes() == (later / p.relative_to(one)).read_bytes(), p


def test_oneshot_added_later_from_committed_state(tmp_path):
    """One-shot controls need the trained dense weights; level 0's state carries their masks."""
    base = lottery.run(_cfg(2, oneshot=False), root=tmp_path / "base")
    _committed_copy(base, tmp_path / "clone" / base.name)
    r = lottery.Runner(_cfg(2), root=tmp_path / "clone")
    r.run()
    assert r.trained == 2 * 2  # one-shot at levels 1-2 of both trials only
    one = lottery.run(_cfg(2), root=tmp_path / "one")
    assert _metrics(tmp_path / "clone" / base.name) == _metrics(one)


def test_state_is_small_and_recorded(tmp_path):
    d = lottery.run(_cfg(2), root=tmp_path)
    m0 = res.read_json(res.member_dir(d, "imp", 0, 0, 0) / "metrics.json")
    assert m0["theta0_sha256"] == st.tensors_sha256(models.init_params("lenet", 0))
    assert len(m0["oneshot_mask_sha256"]) == st.ONESHOT_LEVELS
    m1 = res.read_json(res.member_dir(d, "imp", 0, 0, 1) / "metrics.json")
    assert m1["mask_sha256"] == m0["next_mask_sha256"]  # level 1 trained under level 0's next mask
    # LeNet: 266,200 weights; a chain's masks cost a bit per survivor per level
    assert st.size_of(d) < 2 * 200_000


def test_mask_chain_round_trip_and_nesting(tmp_path):
    g = torch.Generator().manual_seed(0)
    full = {"a": torch.ones(5, 7, dtype=torch.bool), "b": torch.ones(3, dtype=torch.bool)}
    m1 = pruning.random_like({"a": torch.rand(5, 7, generator=g) > 0.3, "b": torch.tensor([1, 0, 1]).bool()}, g)
    m2 = {k: v & (torch.rand(v.shape, generator=g) > 0.5) for k, v in m1.items()}
    blob = st.encode_chain([m1, m2], full, ["a", "b"])
    assert not torch.equal(m1["a"], m2["a"])
    with pytest.raises(ValueError, match="not a subset"):  # IMP never revives a weight
        st.encode_chain([m2, m1], full, ["a", "b"])
    p = tmp_path / "x.bin"
    p.write_bytes(blob)
    out = st.decode_chain(p, full, ["a", "b"])
    assert all(torch.equal(o[k], m[k]) for o, m in zip(out, [m1, m2], strict=True) for k in m)


@pytest.mark.parametrize("damage", ["truncate", "flip", "sha"])
def test_corrupt_state_is_a_one_line_error(tmp_path, damage):
    d = lottery.run(_cfg(1), root=tmp_path / "a")
    _committed_copy(d, tmp_path / "clone" / d.name)
    lv0 = res.member_dir(tmp_path / "clone" / d.name, "imp", 0, 0, 0)
    p = lv0 / st.NEXT_MASK
    if damage == "truncate":
        p.write_bytes(p.read_bytes()[:-20])
    elif damage == "flip":
        # decode a valid file holding another mask: the sha256 in metrics.json catches it
        m = res.read_json(lv0 / "metrics.json")
        r = lottery.Runner(_cfg(2), root=tmp_path / "clone")
        full = chain.imp_mask(r, 0, 0)
        other = pruning.random_like(st.read_next_mask(lv0, m, full, r.names), torch.Generator().manual_seed(1))
        p.write_bytes(st.encode_chain([other], full, r.names))
    else:
        m = res.read_json(lv0 / "metrics.json")
        res.write_json(lv0 / "metrics.json", {**m, "next_mask_sha256": "0" * 64})
    with pytest.raises(st.StateError) as e:
        lottery.Runner(_cfg(2), root=tmp_path / "clone").run()
    assert "\n" not in str(e.value) and str(lv0) in str(e.value)


def test_a_changed_initialiser_is_an_error(tmp_path, monkeypatch):
    d = lottery.run(_cfg(1), root=tmp_path / "a")
    _committed_copy(d, tmp_path / "clone" / d.name)
    real = models.init_params
    monkeypatch.setattr(models, "init_params", lambda m, s, *a, **k: {n: t * 1.0001 for n, t in real(m, s).items()})
    with pytest.raises(st.StateError, match="initialiser changed"):
        lottery.Runner(_cfg(2), root=tmp_path / "clone").run()


def test_metrics_record_numerics_per_level(tmp_path):
    d = lottery.run(_cfg(1), root=tmp_path)
    fps = {json.loads(p.read_text()).get("numerics") for p in d.glob("*/s*r*/level*/metrics.json")}
    assert len(fps) == 1 and None not in fps


def test_verify_one_level_trains_only_that_level(tmp_path, monkeypatch):
    from lthrepro.scale import verify
    d = lottery.run(_cfg(2), root=tmp_path / "r")
    for p in d.rglob("*.pt"):  # as in a clone: no tensors
        p.unlink()
    trained = []
    real = lottery.Runner.train
    monkeypatch.setattr(lottery.Runner, "train", lambda self, chunk, level, **kw: (
        trained.extend([level] * len(chunk)), real(self, chunk, level, **kw))[1])
    ok, report = verify.verify(d, "2", scratch=tmp_path)
    assert ok and "result: identical" in report and "from the committed level state" in report
    assert trained == [2] * (2 * 4)  # one run per member of level 2: IMP, reinit, random, one-shot x 2 trials
    # a changed number is caught
    mj = res.member_dir(d, "reinit", 1, 0, 2) / "metrics.json"
    res.write_json(mj, {**res.read_json(mj), "final_test_acc": 0.5})
    ok, report = verify.verify(d, "2", scratch=tmp_path)
    assert not ok and "DIFFERENT" in report


@pytest.mark.parametrize("policy", ["fig3", "minima"])
def test_lazy_test_curves_report_the_same_numbers(tmp_path, policy):
    """Config.test_curves="fig3" evaluates the test split only where a figure needs the curve,
    "minima" nowhere (and both at new validation minima and the end): every number in
    summary.csv is unchanged."""
    full = lottery.run(_cfg(2), root=tmp_path / "all")
    lazy = lottery.run(_cfg(2, test_curves=policy), root=tmp_path / policy)
    assert (full / "summary.csv").read_text() == (lazy / "summary.csv").read_text()
    a, b = _metrics(full), _metrics(lazy)
    nan_points = 0
    for k in a:
        for key in a[k]:
            if key in ("test_acc", "test_loss"):  # the same where measured; null where skipped
                assert all(y is None or x == y for x, y in zip(a[k][key], b[k][key], strict=True)), (k, key)
                nan_points += sum(y is None for y in b[k][key])
            else:
                assert a[k][key] == b[k][key], (k, key)
    assert nan_points > 0  # the policy did skip evaluations (the check can fail)
    # the dense level (Pm 100%, in Fig. 3) keeps its whole curve under "fig3", not under "minima"
    m0 = res.read_json(res.member_dir(lazy, "imp", 0, 0, 0) / "metrics.json")
    assert (None not in m0["test_acc"]) == (policy == "fig3")


def test_campaign_command_trains_the_next_levels_and_says_what_to_commit(tmp_path, monkeypatch, capsys):
    from lthrepro.__main__ import main
    from lthrepro.scale import campaign
    monkeypatch.setitem(campaign.CAMPAIGNS, "tiny", ("a test campaign", [("lenet", "smoke", {
        "dataset": "synthetic", "iterations": 6, "eval_every": 3, "batch_size": 12, "train_limit": 120,
        "levels": 2, "reinits": 1, "random_prune": 0, "seeds": (0,)})]))
    root = tmp_path / "r"
    assert main(["campaign", "tiny", "--results", str(root)]) == 0
    out = capsys.readouterr().out
    assert "trial 0: imp: 3/3, reinit: 2/2" in out and "ready to commit: git add" in out
    assert main(["campaign", "--list"]) == 0 and "tiny" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["campaign", "nope"], "unknown campaign 'nope'"),
    (["campaign"], "name a campaign"),
    (["campaign", "lenet-paper", "--group", "0"], "--group"),
    (["campaign", "lenet-paper", "--deadline", "-1"], "--deadline"),
])
def test_campaign_bad_input_is_one_line(tmp_path, capsys, argv, words):
    from lthrepro.__main__ import main
    assert main([*argv, "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert not (tmp_path / "r").exists()
