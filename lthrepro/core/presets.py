"""The papers' protocols as Configs: one preset per network, the variants the paper runs on top
of a preset, and the smoke / budget / paper profiles; ``make_config`` puts them together.

Every number in a preset comes from LTH v5 (arXiv 1803.03635v5), Figure 2 and Appendices G-I,
as transcribed in ``shared/reference/paper-numbers.md`` section 1.1 (the LMC and early-bird
presets say where theirs come from).
"""

from __future__ import annotations

import dataclasses

from lthrepro.core.config import PROFILES, Config, ConfigError, _normalise, validate

# The densities (Pm, %) whose training curves LTH Fig. 3 plots (the book's plots and the runs'
# test_curves="fig3" policy read the same list).
FIG3_PM = (100.0, 51.3, 21.1, 7.0, 3.6, 1.9)

_CONV_RATES = {"conv2": 0.1, "conv4": 0.1, "conv6": 0.15}


def _conv(name: str, iterations: int, lr: float) -> Config:
    return Config(preset=name, model=name, dataset="cifar10", lr=lr, iterations=iterations,
                  rates=(("conv", _CONV_RATES[name]), ("fc", 0.2), ("output", 0.1)))


# LTH v5 Figure 2, one preset per network. Steps of SGD schedules are in iterations.
PRESETS: dict[str, Config] = {
    "lenet": Config(preset="lenet", model="lenet", dataset="mnist"),
    "conv2": _conv("conv2", 20_000, 2e-4),
    "conv4": _conv("conv4", 25_000, 3e-4),
    "conv6": _conv("conv6", 30_000, 3e-4),
    # App. I.2: Liu et al.'s CIFAR VGG-19 with BN; 160 epochs of batch 64 = 112,480 iterations,
    # lr x0.1 after epochs 80 and 120 (703 iterations per epoch of 45K examples).
    "vgg19": Config(preset="vgg19", model="vgg19", dataset="cifar10", optimizer="sgd", lr=0.1,
                    momentum=0.9, weight_decay=1e-4, batch_size=64, iterations=112_480,
                    milestones=(56_240, 84_360), augment=True, scope="global",
                    rates=(("conv", 0.2),), reinits=1),
    # App. I.3: "Resnet-18" is the CIFAR ResNet-20; 30K iterations, x0.1 at 20K and 25K.
    "resnet18": Config(preset="resnet18", model="resnet20", dataset="cifar10", optimizer="sgd",
                       lr=0.1, momentum=0.9, weight_decay=1e-4, batch_size=128,
                       iterations=30_000, milestones=(20_000, 25_000), augment=True,
                       scope="global", rates=(("conv", 0.2),), reinits=1),
    # You et al. 2020 (early-bird tickets), authors' CIFAR scripts (followup-numbers.md §3, C):
    # VGG-16 with BN, 160 epochs of batch 256, SGD momentum 0.9, lr 0.1 x0.1 at epochs 80 and
    # 120, weight decay 1e-4, network slimming s = 1e-4. We hold out 5,000 training images for
    # validation as everywhere else, so an epoch is 45,000 // 256 = 175 iterations (last partial
    # batch dropped); masks are recorded once per epoch. No IMP levels: the ticket is a channel mask.
    "vgg16-eb": Config(preset="vgg16-eb", model="vgg16", dataset="cifar10", optimizer="sgd", lr=0.1,
                       momentum=0.9, weight_decay=1e-4, batch_size=256, iterations=160 * 175,
                       milestones=(80 * 175, 120 * 175), augment=True, eval_every=175,
                       scope="global", rates=(), levels=0, reinits=0, slim_l1=1e-4, seeds=(0,)),
}


def _lmc(model: str) -> Config:
    """LMC's standard CIFAR protocol as far as it is known: open_lth's defaults (C-tagged in
    followup-numbers.md §1; LMC's Table 1 itself is unverified): SGD momentum 0.9, lr 0.1,
    160 epochs of batch 128 (62,500 iterations of open_lth's 50K-image epochs; we hold 5,000
    images out for validation as everywhere), x0.1 at epochs 80 and 120, weight decay 1e-4,
    crop + flip, global pruning of 20% of the conv weights per level (fc/output not pruned)."""
    return Config(preset=f"{model}_lmc", model=model, dataset="cifar10", optimizer="sgd", lr=0.1,
                  momentum=0.9, weight_decay=1e-4, batch_size=128, iterations=62_500,
                  milestones=(31_250, 46_875), augment=True, scope="global",
                  rates=(("conv", 0.2),), reinits=1)


# Frankle et al. 2020 (LMC): the networks of the stability chapter (stability.py), beside LTH's.
# The VGG-16 is the one network the early-bird chapter shares (models.VGG16_WIDTHS).
PRESETS["resnet20_lmc"] = _lmc("resnet20")
PRESETS["vgg16_lmc"] = _lmc("vgg16")

# Variants the paper runs on top of a preset (LTH §4 Figs. 7-8, App. H.5).
VARIANTS: dict[str, dict] = {
    "lr0.01": {"lr": 0.01},
    "warmup10k": {"warmup": 10_000},
    "lr0.03-warmup20k": {"lr": 0.03, "warmup": 20_000},
    "dropout": {"dropout": 0.5},  # iterations tripled and per-network rate: see make_config
}
# LTH Fig. 1 / App. E: 10 random sparse networks per density in all, i.e. 2 per trial with the
# paper's 5 trials; the budget and smoke profiles train 1 per trial.
FIG1_RANDOM_PER_TRIAL = {"smoke": 1, "budget": 1, "paper": 2}
# LTH App. H.5 / Fig. 6 caption: with dropout, Adam at 3e-4 (Conv-2), 2e-4 (Conv-4, Conv-6).
DROPOUT_LR = {"conv2": 3e-4, "conv4": 2e-4, "conv6": 2e-4}


def _scale(cfg: Config, factor: float) -> dict:
    """Shrink the schedule by ``factor`` keeping milestones and warmup proportional."""
    it = max(1, int(round(cfg.iterations * factor)))
    return {"iterations": it,
            "milestones": tuple(int(round(m * factor)) for m in cfg.milestones),
            "warmup": int(round(cfg.warmup * factor)),
            "rewind": int(round(cfg.rewind * factor))}


# Budget profiles: labelled, reduced protocols. Each states exactly what is cut.
BUDGET: dict[str, dict] = {
    # 2 trials x (IMP + 1 reinit) to 3.6% remaining, 1/10 of the iterations (CPU, ~30 min).
    "lenet": {"factor": 0.1, "levels": 15, "seeds": (0, 1), "reinits": 1, "oneshot": True},
    # Sized for about 20 minutes of one H100 for the three conv nets together.
    "conv2": {"factor": 0.25, "levels": 12, "seeds": (0, 1), "reinits": 1},
    "conv4": {"factor": 0.25, "levels": 12, "seeds": (0, 1), "reinits": 1},
    "conv6": {"factor": 0.25, "levels": 12, "seeds": (0, 1), "reinits": 1},
    "vgg19": {"factor": 0.1, "levels": 10, "seeds": (0,), "reinits": 1},
    "resnet18": {"factor": 0.25, "levels": 10, "seeds": (0,), "reinits": 1},
    # LMC presets: the full schedule (rewind points are in iterations), one seed; the stability
    # chapter sets its own levels (stability.SPECS).
    "resnet20_lmc": {"factor": 1.0, "levels": 8, "seeds": (0,), "reinits": 1},
    "vgg16_lmc": {"factor": 1.0, "levels": 12, "seeds": (0,), "reinits": 1},
    # 40 of 160 epochs (milestones at 20 and 30), one seed: see earlybird.py for the GPU estimate.
    "vgg16-eb": {"factor": 0.25, "seeds": (0,)},
}


def make_config(preset: str, profile: str = "paper", variant: str | None = None,
                **overrides) -> Config:
    """preset -> profile -> overrides. Raises ConfigError with a one-line fix on bad input."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ConfigError(f"unknown preset '{preset}'; choose one of {', '.join(PRESETS)}")
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ConfigError(f"unknown profile '{profile}'; choose one of {', '.join(PROFILES)}")
    bad = [k for k in overrides if k not in Config.__dataclass_fields__]
    if bad:
        raise ConfigError(f"unknown config field '{bad[0]}'; see `python -m lthrepro list -v`")
    cfg = PRESETS[preset]
    if variant:
        if not isinstance(variant, str) or variant not in VARIANTS:
            raise ConfigError(f"unknown variant '{variant}'; choose one of {', '.join(VARIANTS)}")
        changes = dict(VARIANTS[variant])
        if variant == "dropout":  # App. H.5: three times as long, at the paper's dropout rate
            if preset not in DROPOUT_LR:
                raise ConfigError(f"the dropout variant is defined for {', '.join(DROPOUT_LR)} (LTH App. H.5), "
                                  f"not '{preset}'; use --set dropout=0.5 for a dropout run of your own")
            changes.update(iterations=cfg.iterations * 3, lr=DROPOUT_LR[preset])
        cfg = dataclasses.replace(cfg, preset=f"{preset}-{variant}", **changes)
    cfg = dataclasses.replace(cfg, profile=profile)
    if profile == "budget":
        b = dict(BUDGET[preset])
        cfg = dataclasses.replace(cfg, **_scale(cfg, b.pop("factor")), **b)
    elif profile == "smoke":
        # Seconds on a CPU: a data subset, a few iterations, 3 levels, one seed. VGG-19 and
        # ResNet get even less (a VGG-19 step costs ~1 s on 2 CPU cores).
        big = cfg.model in ("vgg16", "vgg19", "resnet20")
        it = 20 if big else 120
        cfg = dataclasses.replace(cfg, iterations=it, milestones=tuple(
            int(it * m / cfg.iterations) for m in cfg.milestones),
            warmup=min(cfg.warmup, it // 6), eval_every=10 if big else 20,
            train_limit=500 if big else 2_000, val_size=200 if big else 500,
            test_limit=200 if big else 1_000, levels=3, seeds=(0,), reinits=1,
            batch_size=16 if big else min(cfg.batch_size, 60))
    cfg = dataclasses.replace(cfg, **{k: _normalise(k, v) for k, v in overrides.items()})
    validate(cfg)
    return cfg

