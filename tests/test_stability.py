"""Issue 12: instability analysis (LMC) and IMP with rewinding (STAB). Float64 on CPU, tiny
synthetic data. (a) the barrier: zero for identical nets, positive across a constructed ridge,
α = 0 and 1 reproduce the endpoints exactly; (b) a copy continued from W_k with the original
data order equals the uninterrupted run, for one copy and for a pair; (c) the two copies of a
pair share W_k and see different data orders; (d) a tiny run end to end, resumed; (e) bad input."""

import dataclasses
import functools

import pytest
import torch

from lthrepro.core import data, models, pruning, train
from lthrepro.core.config import ConfigError
from lthrepro.experiments import stability, stability_cli, stability_pairs
from lthrepro.experiments.interpolation import barrier, path_errors, recompute_bn

F64 = torch.float64


@functools.cache
def _data(model: str) -> data.Data:
    d = data.load("synthetic", val_size=6, test_limit=40, input_shape=models.INPUT_SHAPE[model])
    n = 120 if model == "lenet" else 12
    d.x_train, d.y_train = d.x_train[:n], d.y_train[:n]
    return d


def _cfg(model: str, **kw):
    preset = "lenet" if model == "lenet" else "resnet20_lmc"
    cfg, _ = stability.make(preset, "smoke", dataset="synthetic")
    small = {"iterations": 12, "eval_every": 4, "batch_size": 12} if model == "lenet" else \
        {"iterations": 4, "eval_every": 2, "batch_size": 4, "milestones": (3,)}
    return dataclasses.replace(cfg, **{**small, **kw})


def _member(model: str, seed: int = 0) -> train.Member:
    p = models.init_params(model, seed, F64)
    return train.Member(p, pruning.full_mask(p, list(models.layer_kinds(model))), data_seed=seed)


def _splits(model: str) -> dict:
    d = _data(model)
    return {"test_err": (d.x_test.double(), d.y_test), "train_err": (d.x_train.double(), d.y_train)}


# ------------------------------------------------------------------------------ (a) barrier
def test_barrier_of_identical_networks_is_zero():
    p = _member("lenet").init
    path = path_errors("lenet", p, p, _splits("lenet"), 30, None, 12, torch.device("cpu"))
    assert len(path["alpha"]) == 30 and path["alpha"][0] == 0.0 and path["alpha"][-1] == 1.0
    assert barrier(path["test_err"]) == 0.0 and barrier(path["train_err"]) == 0.0


def test_barrier_across_a_constructed_ridge_is_positive():
    # b is a with the hidden units of fc1 permuted: the same function (equal endpoint errors),
    # but the midpoint averages unrelated units, so the error rises in between.
    cfg = _cfg("lenet", iterations=60)
    a = train.train_group(cfg, [_member("lenet")], _data("lenet"), dtype=F64, train_acc=False)[0].final
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(0))
    b = dict(a, **{"fc1.weight": a["fc1.weight"][perm], "fc1.bias": a["fc1.bias"][perm],
                   "fc2.weight": a["fc2.weight"][:, perm]})
    path = path_errors("lenet", a, b, _splits("lenet"), 30, None, 12, torch.device("cpu"))
    assert path["train_err"][0] == pytest.approx(path["train_err"][-1])
    assert path["train_err"][0] < 0.5  # a learned something
    assert barrier(path["train_err"]) > 0.1


@pytest.mark.parametrize("model", ["lenet", "resnet20"])
def test_alpha_0_and_1_reproduce_the_endpoints_exactly(model):
    a, b = _member(model, 1).init, _member(model, 2).init
    sp = _splits(model)
    bn_x = _data(model).x_train.double()
    path = path_errors(model, a, b, sp, 7, bn_x, 4, torch.device("cpu"))
    for j, p in ((0, a), (-1, b)):
        g = models.stack([p])
        st = recompute_bn(model, g, bn_x, 4) if model in models.HAS_BN else {}
        for n, (x, y) in sp.items():
            assert path[n][j] == (1 - train.evaluate(model, g, st, x, y)[1]).item()


# ------------------------------------------------------------------- (b) continuing from k
@pytest.mark.parametrize("model", ["lenet", "resnet20"])  # Adam; SGD + momentum + BN + crop/flip
def test_copy_with_the_original_data_order_equals_the_uninterrupted_run(model):
    cfg, d, k = _cfg(model), _data(model), (5 if model == "lenet" else 2)
    full = train.train_group(cfg, [_member(model)], d, snapshot_at=[k, k + 1], dtype=F64, train_acc=False)[0]
    sn = full.snapshots[k]
    assert full.snapshot_opt and all(v for v in sn["opt"].values())  # optimizer state kept
    cont = dataclasses.replace(_member(model), init=sn["params"], state=sn["state"] or None, opt_state=sn["opt"])
    one = train.train_group(cfg, [cont], d, start=k, dtype=F64, train_acc=False)[0]
    assert all(torch.equal(one.final[n], full.final[n]) for n in full.final)
    assert all(torch.equal(one.state[n], full.state[n]) for n in full.state)
    # The pair: copy 0 continues the original order, copy 1 another; same start W_k.
    other = dataclasses.replace(cont, data_seed=stability_pairs.copy_seed(0, 1))
    pair = train.train_group(cfg, [cont, other], d, start=k, dtype=F64, train_acc=False)
    assert max((pair[0].final[n] - full.final[n]).abs().max().item() for n in full.final) < 1e-9
    assert max((pair[1].final[n] - full.final[n]).abs().max().item() for n in full.final) > 1e-4
    # Without the optimizer state the continuation differs (the test can fail).
    fresh = train.train_group(cfg, [dataclasses.replace(cont, opt_state=None)], d, start=k, dtype=F64,
                              train_acc=False)[0]
    assert max((fresh.final[n] - full.final[n]).abs().max().item() for n in full.final) > 1e-6


def test_a_group_continues_optimizer_states_all_or_none():
    cfg, d = _cfg("lenet"), _data("lenet")
    sn = train.train_group(cfg, [_member("lenet")], d, snapshot_at=3, dtype=F64, train_acc=False)[0]
    cont = dataclasses.replace(_member("lenet"), init=sn.snapshot, opt_state=sn.snapshot_opt)
    with pytest.raises(ValueError, match="every member"):
        train.train_group(cfg, [cont, _member("lenet", 1)], d, start=3, dtype=F64)


# -------------------------------------------------------------- (c)-(d) pairs, end to end
def _experiment(tmp_path, **spec):
    cfg = _cfg("lenet", levels=2)
    sp = stability.Spec(**{"ks": (0, 4), "chain_ks": (0, 4), "levels": (2,), "seeds": (0,), "alphas": 5,
                           "train_subset": 50, "continue_ks": (4,), **spec})
    return stability.Experiment(cfg, sp, root=tmp_path, data=_data("lenet"), dtype=F64)


def test_pair_copies_share_w_k_and_see_different_data_orders(tmp_path):
    e = _experiment(tmp_path)
    e.parents([0])
    chain = e.chain(4)
    e._seed_chain(chain, 4)
    chain.run()
    wk = e.snapshot(0, 4)
    for kind in ("dense", "dense_continue", "imp", "random", "reinit"):
        m0, m1 = e.members(kind, 0, 4, 0 if kind.startswith("dense") else 2, chain)
        assert m0.data_seed != m1.data_seed
        assert all(torch.equal(m0.init[n], m1.init[n]) for n in m0.init)
        assert all(torch.equal(m0.mask[n], m1.mask[n]) for n in m0.mask)
        if kind != "reinit":  # W_k (the engine applies the mask)
            assert all(torch.equal(m0.init[n], wk["params"][n]) for n in m0.init)
        if kind == "dense_continue":  # the side result: the parent's Adam moments at k
            assert m0.opt_state is not None and all(
                torch.equal(m0.opt_state[n][s], m1.opt_state[n][s]) for n in m0.opt_state for s in m0.opt_state[n])
        else:  # protocol 2 (open_lth): every other pair, dense included, starts a fresh optimizer
            assert m0.opt_state is None
            assert (pruning.density(m0.mask) == 1.0) == (kind == "dense") and pruning.density(m0.mask) > 0
    gens = [torch.Generator().manual_seed(s) for s in (m0.data_seed, m1.data_seed)]
    _, idx, _ = train._epoch_indices(120, 12, gens, False)
    assert not torch.equal(idx[0], idx[1])


def test_tiny_run_end_to_end_and_resume(tmp_path):
    e = _experiment(tmp_path)
    d = e.run()
    rows = stability.collect(d)
    assert {(r["kind"], r["k"], r["level"]) for r in rows} == {
        ("dense", 0, 0), ("dense", 4, 0), ("dense_continue", 4, 0),
        *{(m, k, 2) for m in ("imp", "random", "reinit") for k in (0, 4)}}
    # Same start W_k, same data orders: only the optimizer state differs, and it shows.
    fresh, cont = (__import__("json").loads((e.pair_dir(kd, 0, 4, 0) / "metrics.json").read_text())
                   for kd in ("dense", "dense_continue"))
    assert fresh["copy_seeds"] == cont["copy_seeds"] and fresh["l2_weights"] != cont["l2_weights"]
    m = __import__("json").loads((e.pair_dir("imp", 0, 4, 2) / "metrics.json").read_text())
    assert len(m["test_err"]) == 5 and m["test_instability"] == barrier(m["test_err"]) >= 0
    assert m["l2_weights"] > 0 and len(set(m["copy_seeds"])) == 2
    again = _experiment(tmp_path)
    again.run()
    assert again.trained == 0  # resumed: nothing left to train


def test_a_run_killed_mid_way_leaves_its_session_in_provenance(tmp_path, monkeypatch):
    """The session is recorded after the parents, each chain and each group of pairs (it used to be
    written only at the end: a run killed after hours of pairs left no record of them)."""
    e = _experiment(tmp_path)
    e.max_group = 2  # one pair per group
    real, calls = e.pairing.train, []

    def dies_on_the_third_group(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*a, **kw)
    monkeypatch.setattr(e.pairing, "train", dies_on_the_third_group)
    with pytest.raises(KeyboardInterrupt):
        e.run()
    prov = __import__("json").loads((e.dir / "provenance.json").read_text())["sessions"]
    written = len(list(e.dir.glob("pairs/*/s*/k*/level*/metrics.json")))
    assert len(prov) == 1 and prov[0]["complete"] is False and written == 2
    assert prov[0]["members_trained"] >= 2 * written and prov[0]["numerics"]["fingerprint"]
    again = _experiment(tmp_path)
    again.run()
    prov = __import__("json").loads((again.dir / "provenance.json").read_text())["sessions"]
    assert [s["complete"] for s in prov] == [False, True] and prov[0]["started"] != prov[1]["started"]


def test_dense_pairs_alone_train_no_chain(tmp_path):
    """A rewind point with dense pairs only (here the side result's k = 8) needs no IMP chain: a
    first version took 'dense_continue' for a sparse kind and trained a whole chain at such k."""
    e = _experiment(tmp_path, continue_ks=(4, 8))
    d = e.run()
    rewinds = sorted(__import__("json").loads(c.read_text())["config"]["rewind"]
                     for c in (d / "chains").glob("*/config.json"))
    assert rewinds == [0, 4] and (e.pair_dir("dense_continue", 0, 8, 0) / "metrics.json").exists()


# -------------------------------------------------------------------------- (e) bad input
@pytest.mark.parametrize("over, says", [({"ks": (0, 500)}, "beyond the schedule"),
                                        ({"chain_ks": (-1,)}, "beyond the schedule"),
                                        ({"kinds": ("magic",)}, "unknown mask source 'magic'"),
                                        ({"levels": (0,)}, "levels"), ({"alphas": 1}, "alphas"),
                                        ({"continue_ks": (0,)}, "no optimizer state to continue"),
                                        ({"continue_ks": (10**6,)}, "beyond the schedule")])
def test_bad_stability_options_are_one_line_errors(over, says):
    with pytest.raises(ConfigError, match=says):
        stability.make("lenet", "smoke", spec_over=over)


def test_cli_bad_input_exits_2_with_one_line(capsys):
    assert stability_cli.main(["lenet", "--profile", "smoke", "--ks", "0", "99999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "beyond the schedule" in err
    assert stability_cli.main(["conv2", "--profile", "smoke"]) == 2
    assert "no stability protocol" in capsys.readouterr().err


def test_the_pairs_protocol_is_part_of_the_run_name(monkeypatch):
    """Protocol 1 (dense pairs continued the parent's optimizer) and 2 (fresh, open_lth) never
    share a folder."""
    cfg, spec = stability.make("lenet", "budget")
    now = stability.run_name(cfg, spec)
    monkeypatch.setattr(stability, "PROTOCOL", 1)
    assert stability.run_name(cfg, spec) != now


def test_cli_continue_ks_zero_is_one_line(capsys):
    assert stability_cli.main(["lenet", "--profile", "smoke", "--continue-ks", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no optimizer state" in err


def test_lmc_presets_keep_lth_hashes():
    from lthrepro.core.config import run_name
    from lthrepro.core.presets import make_config
    assert run_name(make_config("lenet", "budget")) == "lenet-19262789"
    cfg, spec = stability.make("vgg16_lmc", "paper")
    assert cfg.model == "vgg16" and cfg.iterations == 62_500 and cfg.milestones == (31_250, 46_875)
    assert spec.levels == (19,) and stability.run_name(cfg, spec).startswith("stability-vgg16_lmc-")


def test_force_extends_a_folder_trained_under_other_numerics(tmp_path, monkeypatch):
    """The refusal names --force; --force (Experiment(force=True), CLI --force) extends the folder
    and both fingerprints stay in provenance.json (the mix is recorded, not hidden)."""
    from lthrepro.store import numerics
    from lthrepro.store import results as res
    fps = [{"fingerprint": f, "platform": "cpu/x86_64/torch-test", "cpu": c, "parts": ["x"]}
           for f, c in (("aaaa", "kind-a"), ("bbbb", "kind-b"))]
    monkeypatch.setattr(numerics, "fingerprint", lambda device="cpu": fps[0])
    d = _experiment(tmp_path, ks=(0,), chain_ks=(0,)).run()
    monkeypatch.setattr(numerics, "fingerprint", lambda device="cpu": fps[1])
    with pytest.raises(res.ResultsError, match="--force"):
        _experiment(tmp_path, chain_ks=(0, 4)).run()
    e = _experiment(tmp_path, chain_ks=(0, 4))
    e.force = True
    assert e.run() == d and e.trained > 0
    assert [fp["fingerprint"] for fp in numerics.recorded(d)] == ["aaaa", "bbbb"]


def test_cli_takes_force(capsys):
    """The one-line refusal tells the user to pass --force: the CLI must accept it (an option it
    did not know would end in argparse's SystemExit before the config is checked)."""
    assert stability_cli.main(["lenet", "--profile", "smoke", "--force", "--ks", "0", "99999"]) == 2
    assert "beyond the schedule" in capsys.readouterr().err


def test_adding_a_seed_leaves_a_finished_seed_untouched(tmp_path):
    """A clean clone (no tensors) extended with seed 1 trains seed 1 only: seed 0's parent and
    chain files stay byte for byte (they are not retrained, not rewritten)."""
    import json as _json
    e = _experiment(tmp_path)
    d = e.run()
    for pt in d.rglob("*.pt"):
        pt.unlink()
    before = {p: p.read_bytes() for p in d.rglob("*.json") if "/s0" in str(p) or "parent/s0" in str(p)}
    e1 = _experiment(tmp_path, seeds=(0, 1))
    assert e1.run() == d and e1.trained > 0
    assert not (d / "parent" / "s0" / "final.pt").exists()  # seed 0's parent was not retrained
    assert all(p.read_bytes() == b for p, b in before.items()), [
        str(p) for p, b in before.items() if p.read_bytes() != b]
    assert _json.loads((d / "config.json").read_text())["spec"]["seeds"] == [0, 1]


# ------------------------------------------------------- (f) the page's resolution statement
def test_resolution_names_pairs_without_a_barrier_and_at_the_floor():
    import pandas as pd

    from lthrepro.book import stability as sb
    b = pd.DataFrame([{"kind": "dense", "seed": 0, "k": 500, "level": 0, "images": 1.5, "at_endpoint": True},
                      {"kind": "imp", "seed": 1, "k": 0, "level": 15, "images": 1.0, "at_endpoint": False},
                      {"kind": "random", "seed": 0, "k": 0, "level": 15, "images": 75.5, "at_endpoint": False}])
    s = sb.resolution(b, 10_000)
    assert "0.01 points" in s and "1 of 3 pairs" in s and "(dense 1 of 1, imp 0 of 1, random 0 of 1)" in s
    assert "1 more are under two test images" in s and "(dense 0 of 1, imp 1 of 1, random 0 of 1)" in s


def test_barriers_reads_whether_the_maximum_sits_at_an_endpoint(tmp_path):
    import json

    from lthrepro.book import stability as sb
    spec = stability.Spec(ks=(0,), chain_ks=(), levels=(), seeds=(0, 1))
    for seed, err in ((0, [0.02, 0.021, 0.03]), (1, [0.02, 0.05, 0.03])):
        d = tmp_path / "pairs" / "dense" / f"s{seed}" / "k000000" / "level00"
        d.mkdir(parents=True)
        d.joinpath("metrics.json").write_text(json.dumps({"kind": "dense", "seed": seed, "k": 0, "level": 0,
                                                          "test_err": err, "test_instability": barrier(err)}))
    b = sb.barriers(tmp_path, spec, 10_000).set_index("seed")
    assert bool(b.at_endpoint[0]) and not bool(b.at_endpoint[1])
    assert b.images[0] == 50.0 and b.images[1] == 250.0
