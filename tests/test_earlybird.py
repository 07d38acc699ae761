"""Early-bird tickets (You et al. 2020): mask distance, the detector, network slimming, channel
masks, the experiment's resume and storage, and bad input through the CLI."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lthrepro.core import data as data_mod
from lthrepro.core import models, pruning
from lthrepro.core.presets import make_config
from lthrepro.core.train import Member, train_group
from lthrepro.experiments import earlybird, earlybird_tickets
from lthrepro.scale import figures

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------ distance
def test_distance_of_a_mask_with_itself_and_its_complement():
    g = torch.Generator().manual_seed(0)
    m = {"a.weight": torch.rand(7, 5, generator=g) > 0.5, "b.weight": torch.rand(11, generator=g) > 0.3}
    assert pruning.mask_distance(m, m) == 0.0
    assert pruning.mask_distance(m, {k: ~v for k, v in m.items()}) == 1.0
    flat = torch.rand(100, generator=g) > 0.5
    assert pruning.mask_distance(flat, ~flat) == 1.0
    d = pruning.distance_matrix([m, {k: ~v for k, v in m.items()}, m])
    assert d.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]


def test_max_distance_is_reached_by_disjoint_masks():
    # 10 entries, 3 pruned in each (p = 0.3): disjoint pruned sets differ in 6 entries = 2·min(p, 1−p).
    a, b = torch.ones(10, dtype=torch.bool), torch.ones(10, dtype=torch.bool)
    a[:3], b[3:6] = False, False
    assert pruning.mask_distance(a, b) == pytest.approx(pruning.max_distance(0.3)) == pytest.approx(0.6)
    assert pruning.max_distance(0.93) == pytest.approx(0.14)


# ------------------------------------------------------------------------------ detector
def _seq() -> list[torch.Tensor]:
    """Hand-made masks over 10 entries (one flip = distance 0.1): far apart until mask 2, then
    masks 2..6 all within 0.1 of each other, mask 5 being 0.4 from mask 1."""
    base = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=torch.bool)
    flip = lambda m, i: m ^ (torch.arange(10) == i)  # noqa: E731
    m0, m1 = ~base, flip(flip(flip(flip(base, 0), 1), 5), 6)
    return [m0, m1, base, flip(base, 9), base, base, flip(base, 0)]


def test_detector_fires_exactly_when_the_rule_holds():
    masks = _seq()
    d = pruning.distance_matrix(masks)
    assert float(d[6, 3]) == pytest.approx(0.2)  # masks 3 and 6: two flips apart
    # keep 5, eps 0.2: at t = 5 mask 1 is in the queue (0.4 away); at t = 6 the queue is 2..6.
    assert pruning.early_bird_draw(masks[:6], eps=0.2, keep=5) is None  # not one epoch earlier
    assert pruning.early_bird_draw(masks, eps=0.2, keep=5) == 6
    # eps 0.1 (the paper's): mask 6 is 0.2 from mask 3, so the rule never holds with keep 5 ...
    assert pruning.early_bird_draw(masks, eps=0.1, keep=5) is None
    # ... but with keep 3 it holds at t = 4 (mask 4 is 0.1 from mask 3, 0 from mask 2: "within"
    # includes equality, as the authors' "> 0.1 fails"), and not at t = 3 (mask 1 is 0.5 away).
    assert pruning.early_bird_draw(masks, eps=0.1, keep=3) == 4
    assert pruning.early_bird_draw(masks[:4], eps=0.1, keep=3) is None
    assert pruning.first_draw(d, 0.2, 5) == 6


# ---------------------------------------------------------------------- network slimming
def _vgg_data(n: int = 8) -> data_mod.Data:
    return data_mod.load("synthetic", val_size=4, train_limit=n, test_limit=4, input_shape=(3, 32, 32))


def test_l1_term_adds_exactly_s_sign_gamma_and_nothing_else():
    base = make_config("vgg16-eb", "smoke", iterations=1, eval_every=1, batch_size=4, augment=False,
                       lr=1.0, momentum=0.0, weight_decay=0.0, milestones=(), dataset="synthetic",
                       val_size=4, train_limit=8, test_limit=4)
    init = models.init_params("vgg16", 0)
    g = torch.Generator().manual_seed(1)
    init["bn3.weight"] = torch.randn(init["bn3.weight"].shape, generator=g)  # both signs and |γ| ≠ 1
    full = pruning.full_mask(init, list(models.layer_kinds("vgg16")))
    mem = lambda: Member(init={k: v.clone() for k, v in init.items()}, mask=full, data_seed=0)  # noqa: E731
    data = _vgg_data()
    s = 0.25
    plain = train_group(dataclasses.replace(base, slim_l1=0.0), [mem()], data, train_acc=False)[0].final
    slim = train_group(dataclasses.replace(base, slim_l1=s), [mem()], data, train_acc=False)[0].final
    gammas = {f"{n}.weight" for n, k, _ in models.SPECS["vgg16"] if k == "bn"}
    for k in plain:
        if k in gammas:  # one SGD step at lr 1: the difference is exactly -s·sign(γ0)
            torch.testing.assert_close(slim[k] - plain[k], -s * torch.sign(init[k]), rtol=0, atol=1e-6)
        else:
            assert torch.equal(slim[k], plain[k]), k


# ------------------------------------------------------------------------ channel masks
def test_channel_mask_removes_exactly_floor_np_with_ties_by_position():
    gam = {"bn1.weight": torch.tensor([0.5, -0.1, 0.2, 0.2]), "bn2.weight": torch.tensor([0.2, 0.9, -0.2, 0.3])}
    # |γ| sorted: 0.1, 0.2 (x4: bn1[2], bn1[3], bn2[0], bn2[2]), 0.3, 0.5, 0.9. N = 8.
    m = pruning.channel_mask(gam, 0.5)  # ⌊8·0.5⌋ = 4: 0.1 and the first three 0.2s by position
    assert pruning.n_channels_removed(8, 0.5) == 4
    assert m["bn1.weight"].tolist() == [True, False, False, False]
    assert m["bn2.weight"].tolist() == [False, True, True, True]
    # The authors' rule: threshold y[⌊N·p⌋] = 0.2, keep |γ| > 0.2 (gt): removes 5 here (ties).
    flat = torch.cat([v.abs() for v in gam.values()])
    thr = flat.sort().values[pruning.n_channels_removed(8, 0.5)]
    assert int((~flat.gt(thr)).sum()) == 5
    assert sum(int((~v).sum()) for v in m.values()) == 4
    # VGG-16: 4,224 channels; at init every γ is 1, all tied: exactly ⌊N·p⌋ removed, first by position.
    vgg = {k: v for k, v in models.init_params("vgg16", 0).items() if k.startswith("bn") and k.endswith("weight")}
    for p, k in ((0.3, 1267), (0.5, 2112), (0.7, 2956)):
        cm = pruning.channel_mask(vgg, p)
        assert sum(int((~v).sum()) for v in cm.values()) == k
        assert not cm["bn1.weight"].any() and cm["bn13.weight"].all()


def test_masked_channel_contributes_nothing_to_the_next_layer():
    p = {k: v.unsqueeze(0).clone() for k, v in models.init_params("vgg16", 0).items()}
    st = {k: v.unsqueeze(0) for k, v in models.init_state("vgg16").items()}
    c = 5
    cm = {k: torch.ones(v.shape[1:], dtype=torch.bool) for k, v in p.items() if k.startswith("bn") and "weight" in k}
    cm["bn1.weight"][c] = False
    p["bn1.bias"] = torch.randn(p["bn1.bias"].shape, generator=torch.Generator().manual_seed(1)).abs() + 0.1
    pm = pruning.channel_param_mask(cm)
    assert set(pm) == {*cm, *(k.replace("weight", "bias") for k in cm)}
    for k, m in pm.items():
        p[k] = p[k] * m  # what the engine does to masked entries
    x = torch.randn(1, 3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for train in (False, True):
        a = models.forward("vgg16", p, {k: v.clone() for k, v in st.items()}, x, train=train)
        q = dict(p)
        q["conv2.weight"] = p["conv2.weight"].clone()
        q["conv2.weight"][0, :, c] = torch.randn(q["conv2.weight"][0, :, c].shape) * 10  # channel c's inputs
        b = models.forward("vgg16", q, {k: v.clone() for k, v in st.items()}, x, train=train)
        assert torch.equal(a, b)


# ------------------------------------------------------------------------- experiment
def test_lenet_experiment_stores_resumes_and_continues(tmp_path, mnist_root, monkeypatch):
    spec = earlybird_tickets.Spec(kind="weights", targets=(3,), runs=(("eb", "continue"), ("eb", "reset"),
                                                                     ("end", "reset")), eps=0.5, keep=2)
    over = dict(iterations=60, eval_every=20, train_limit=600, val_size=200, test_limit=200)
    d = earlybird.run("lenet", "smoke", root=tmp_path, spec=spec, **over)
    s = earlybird.summary_rows(d)
    eb = next(r for r in s if r["ticket"] == "eb" and r["variant"] == "continue")
    # keep 2, eps 0.5: fires at the first mask within 0.5 of the one before (20 iterations move little)
    assert eb["draw_iter"] == 20 and eb["start"] == 20
    end = next(r for r in s if r["ticket"] == "end")
    assert end["draw_iter"] == 60 and end["start"] == 0
    assert end["density"] == pytest.approx(0.5128, abs=1e-4)  # Pm 51.3%: 3 IMP levels of LeNet
    m = earlybird.res.read_json(d / "search" / "s0" / "metrics.json")
    assert len(m["targets"]["level03"]["distance"]) == 4  # masks at 0, 20, 40, 60
    mtime = (d / "summary.csv").stat().st_mtime_ns
    assert earlybird.run("lenet", "smoke", root=tmp_path, spec=spec, **over) == d  # resumed: nothing to do
    assert (d / "summary.csv").stat().st_mtime_ns == mtime
    monkeypatch.setenv("LTHREPRO_NO_TRAIN", "1")
    with pytest.raises(earlybird.NoTrainError):
        earlybird.run("lenet", "smoke", root=tmp_path, spec=dataclasses.replace(spec, eps=0.3), **over)


def test_committed_smoke_results_cover_the_earlybird_pages():
    for key in ("eb_lenet", "eb_vgg16"):
        p = figures.parameters(key, "smoke")
        preset = figures.FIGURES[key]["earlybird"]
        for cfg in figures.configs(key, p):
            d = earlybird.eb_dir(cfg, earlybird_tickets.make_spec(preset), figures.SMOKE_RESULTS)
            assert not earlybird._retrain_missing(cfg, earlybird_tickets.make_spec(preset), d), \
                f"{d.name} incomplete: run `python -m lthrepro notebooks --profile smoke --only {key}`"


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("args, needle", [
    (["lenet", "--eps", "1.5"], "argument --eps: '1.5' is out of range; give a number in (0, 1)"),
    (["lenet", "--eps", "0"], "argument --eps: '0' is out of range"),
    (["lenet", "--keep", "1"], "argument --keep: '1' is out of range; give a whole number from 2"),
    (["vgg16-eb", "--ratios", "0.5", "1.2"], "argument --ratios: '1.2' is out of range"),
    (["vgg16-eb", "--ratios", "0"], "argument --ratios: '0' is out of range"),
    (["lenet", "--levels", "0"], "argument --levels: '0' is out of range"),
    (["lenet", "--ratios", "0.5"], "--ratios does not apply to lenet"),
    (["lenet", "--levels", "99"], "no weight is pruned after level"),
    (["conv2"], "no early-bird experiment for preset 'conv2'"),
    (["lenet", "--set", "slim_l1=-1"], "slim_l1 is -1"),
])
def test_bad_input_is_one_line(args, needle, tmp_path):
    e = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "lthrepro", "earlybird", *args, "--results", str(tmp_path / "r")],
                       capture_output=True, text=True, env=e, timeout=300)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_bad_notebook_parameters_are_config_errors():
    from lthrepro.book import earlybird as earlybird_report
    from lthrepro.core.config import ConfigError
    for kw in ({"EPS": 1.0}, {"KEEP": 1}, {"EPS": "0.1"}):
        with pytest.raises(ConfigError):
            earlybird_report.obtain("lenet", "smoke", [0], **kw)


def test_cli_takes_force(capsys):
    """A refusal to mix numerics tells the user to pass --force: `earlybird` must accept it (an
    unknown option would end in argparse's exit before the spec is checked)."""
    from lthrepro.__main__ import main
    assert main(["earlybird", "lenet", "--profile", "smoke", "--force", "--eps", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "eps" in err.lower()
