import dataclasses
import re

import pytest

from lthrepro.core import config as C
from lthrepro.core import presets, userargs


def test_hash_regression():
    # Committed results are keyed by these names; a change here orphans them.
    assert C.run_name(presets.make_config("lenet", "budget")) == "lenet-19262789"
    assert C.run_name(presets.make_config("lenet", "smoke")) == "lenet-1e1fed98"
    assert C.run_name(presets.make_config("lenet", "paper")) == "lenet-b7072da3"


def test_hash_ignores_scope_of_run_but_not_numbers():
    base = presets.make_config("lenet", "budget")
    assert C.config_hash(base) == C.config_hash(dataclasses.replace(base, seeds=(7,), levels=3, reinits=0))
    assert C.config_hash(base) != C.config_hash(dataclasses.replace(base, lr=2e-3))
    assert C.config_hash(base) != C.config_hash(dataclasses.replace(base, iterations=5001))


def test_late_fields_keep_old_hashes(monkeypatch):
    base = presets.make_config("lenet", "budget")
    h = C.config_hash(base)
    monkeypatch.setitem(C.LATE_FIELDS, "extra", ())
    assert C.config_hash(base) != h  # 'extra' now dropped while at its default
    assert C.config_hash(dataclasses.replace(base, extra=(("a", "b"),))) != C.config_hash(base)


def test_presets_follow_lth_figure_2():
    le = presets.PRESETS["lenet"]
    assert (le.optimizer, le.lr, le.batch_size, le.iterations) == ("adam", 1.2e-3, 60, 50_000)
    assert dict(le.rates) == {"fc": 0.2, "output": 0.1}
    for name, it, lr, conv in (("conv2", 20_000, 2e-4, .1), ("conv4", 25_000, 3e-4, .1),
                               ("conv6", 30_000, 3e-4, .15)):
        c = presets.PRESETS[name]
        assert (c.iterations, c.lr, c.batch_size) == (it, lr, 60)
        assert dict(c.rates) == {"conv": conv, "fc": 0.2, "output": 0.1}
    v = presets.PRESETS["vgg19"]
    assert (v.iterations, v.batch_size, v.milestones, v.scope) == (112_480, 64, (56_240, 84_360), "global")
    r = presets.PRESETS["resnet18"]
    assert (r.model, r.iterations, r.batch_size, r.milestones) == ("resnet20", 30_000, 128, (20_000, 25_000))
    assert presets.make_config("conv4", variant="dropout").iterations == 75_000  # App. H.5
    # App. H.5 / Fig. 6 caption: Adam at 3e-4 / 2e-4 / 2e-4 with dropout (not Fig. 5's rates)
    assert [presets.make_config(n, "paper", "dropout").lr for n in ("conv2", "conv4", "conv6")] == [3e-4, 2e-4, 2e-4]
    assert [presets.make_config(n, "paper").lr for n in ("conv2", "conv4", "conv6")] == [2e-4, 3e-4, 3e-4]
    with pytest.raises(C.ConfigError, match="dropout variant is defined for"):
        presets.make_config("lenet", variant="dropout")
    w = presets.make_config("resnet18", variant="lr0.03-warmup20k")
    assert (w.lr, w.warmup) == (0.03, 20_000)


def test_profiles_scale_schedule():
    b = presets.make_config("resnet18", "budget")
    assert b.profile == "budget" and b.iterations == 7_500 and b.milestones == (5_000, 6_250)
    s = presets.make_config("lenet", "smoke")
    assert s.iterations < 1000 and s.train_limit > 0


@pytest.mark.parametrize("kw, msg", [
    (dict(preset="nope"), "unknown preset"),
    (dict(preset="lenet", profile="huge"), "unknown profile"),
    (dict(preset="lenet", rates=(("fc", 1.0),)), "must lie in [0, 1)"),
    (dict(preset="lenet", rates=(("fc", -0.1),)), "must lie in [0, 1)"),
    (dict(preset="lenet", levels=-1), "levels"),
    (dict(preset="lenet", criterion="biggest"), "unknown mask criterion"),
    (dict(preset="lenet", rewind=10**9), "rewind"),
])
def test_bad_config(kw, msg):
    with pytest.raises(C.ConfigError, match=re.escape(msg)):
        presets.make_config(**kw)


def test_parse_overrides_types_values_as_the_config_does():
    over = userargs.parse_overrides(["lr=1", "milestones=[5, 10]", "seeds=3", "rates={'fc': 0.3, 'output': 0}",
                                     "dataset=synthetic", "oneshot=True"])
    assert over == {"lr": 1.0, "milestones": (5, 10), "seeds": (3,), "rates": (("fc", 0.3), ("output", 0.0)),
                    "dataset": "synthetic", "oneshot": True}
    assert isinstance(over["lr"], float)
    # typed on a command line or passed from a notebook, equal settings hash equally
    a = presets.make_config("lenet", "smoke", **userargs.parse_overrides(["lr=1", "seeds=[0]"]))
    b = presets.make_config("lenet", "smoke", lr=1.0, seeds=[0])
    assert a == b and C.config_hash(a) == C.config_hash(b)


@pytest.mark.parametrize("over, msg", [
    (dict(lr="fast"), "lr is 'fast'"), (dict(iterations=2.5), "iterations is 2.5"),
    (dict(batch_size=10_000), "larger than train_limit"), (dict(model="foo"), "unknown model 'foo'"),
    (dict(split_seed=-1), "split_seed is -1"), (dict(milestones="abc"), "milestones is 'abc'"),
    (dict(momentum=(1, 2)), "momentum is (1, 2)"), (dict(rates=(("conv", 0.1),)), "layer kind 'conv'"),
    (dict(seeds=(0, 0)), "repeat a seed"), (dict(oneshot=1), "oneshot is 1"),
    (dict(rates=(("fc", 0.2), ("fc", 0.1))), "names a layer kind twice"), (dict(colour=1), "unknown config field"),
])
def test_every_field_is_checked_by_type_and_range(over, msg):
    with pytest.raises(C.ConfigError, match=re.escape(msg)) as e:
        presets.make_config("lenet", "smoke", **over)
    assert "\n" not in str(e.value)


def test_every_preset_profile_and_variant_is_valid():
    for p in presets.PRESETS:
        for prof in C.PROFILES:
            presets.make_config(p, prof)
        for v in presets.VARIANTS:
            if v == "dropout" and p not in presets.DROPOUT_LR:  # App. H.5 gives rates for Conv-2/4/6 only
                with pytest.raises(C.ConfigError, match="dropout variant is defined for"):
                    presets.make_config(p, "budget", v)
                continue
            presets.make_config(p, "budget", v)
