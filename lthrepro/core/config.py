"""Frozen run configurations: the paper's presets, the three profiles, and the config hash.

Every number in a preset comes from LTH v5 (arXiv 1803.03635v5), Figure 2 and Appendices G-I,
as transcribed in ``shared/reference/paper-numbers.md`` section 1.1.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field

PROFILES = ("smoke", "budget", "paper")


class ConfigError(ValueError):
    """A bad value a user typed: shown as one line by the CLI (exit status 2)."""


@dataclass(frozen=True)
class Config:
    """Everything that determines a run's numbers. Fields excluded from the hash are listed
    in ``NOT_HASHED``: they change how much is run, not what each run computes."""

    preset: str
    model: str  # key of models.MODELS
    dataset: str  # "mnist" | "cifar10" | "synthetic"
    profile: str = "paper"
    # --- optimisation (LTH Fig. 2) ---
    optimizer: str = "adam"  # "adam" | "sgd"
    lr: float = 1.2e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 60
    iterations: int = 50_000
    warmup: int = 0  # linear warmup iterations (LTH §4, Figs. 7-8)
    milestones: tuple[int, ...] = ()  # iterations at which lr is multiplied by gamma
    gamma: float = 0.1
    dropout: float = 0.0  # on fc layers (LTH App. H.5)
    augment: bool = False  # pad-4 crop + flip (VGG/ResNet only, LTH App. I)
    eval_every: int = 100  # LTH §1 fn. 2: validation and test every 100 iterations
    # --- data ---
    val_size: int = 5_000  # held out of the training set (LTH App. G.1, H.1, I.3)
    train_limit: int = 0  # 0 = all remaining training examples (smoke uses a subset)
    test_limit: int = 0  # 0 = the whole test split available
    split_seed: int = 0
    # --- pruning (LTH §1, App. B) ---
    scope: str = "layerwise"  # "layerwise" | "global"
    rates: tuple[tuple[str, float], ...] = (("fc", 0.2), ("output", 0.1))
    levels: int = 20  # pruning levels after the dense level 0
    rewind: int = 0  # 0 = reset to θ0 (LTH); k > 0 = rewind to iteration k (STAB)
    criterion: str = "large_final"  # mask criterion (Zhou et al. 2019)
    mask1: str = "reset"  # what kept weights start from (Zhou et al. §3)
    mask0: str = "zero"  # what pruned weights are (Zhou et al. §4)
    # --- learned supermask (Zhou et al. §5.3; supermask.py): weights frozen, mask learned ---
    supermask: str = ""  # "" = off; "learned" = train Bernoulli(sigmoid(score)) masks
    supermask_weights: str = "init"  # frozen weights: "init" (θ0) | "signed_constant"
    dwr: bool = False  # dynamic weight rescaling (Zhou et al. §5.3)
    sigmoid_bias: float = 0.0  # initial mask score (sigmoid(0) = keep with probability 1/2)
    # --- network slimming (Liu et al. 2017; You et al. 2020 early-bird code): s in γ.grad += s·sign(γ)
    slim_l1: float = 0.0
    # --- controls (LTH §2: random reinit 3 per trial; App. E random sparse) ---
    reinits: int = 3
    random_prune: int = 0
    oneshot: bool = False
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    extra: tuple[tuple[str, str], ...] = field(default=())  # free-form, hashed

    def rate(self, kind: str) -> float:
        return dict(self.rates).get(kind, 0.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Fields that do not change the numbers of any single run (how many levels or trials we run,
# which profile label produced it): extending levels or seeds reuses finished results.
NOT_HASHED = frozenset({"profile", "levels", "reinits", "random_prune", "oneshot", "seeds"})


# Fields added after results were first committed: hashed only when they differ from their
# default, so adding an option never orphans existing results.
LATE_FIELDS: dict[str, object] = {"supermask": "", "supermask_weights": "init", "dwr": False,
                                   "sigmoid_bias": 0.0, "slim_l1": 0.0}


def config_hash(cfg: Config) -> str:
    """Short, stable hash of the fields that determine a run's numbers."""
    d = {k: v for k, v in cfg.to_dict().items() if k not in NOT_HASHED
         and not (k in LATE_FIELDS and v == LATE_FIELDS[k])}
    blob = json.dumps(d, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def derive_seed(*parts) -> int:
    """Stable seed from a tuple of parts, e.g. ("reinit", trial, rep, level): a control's init or
    a run's noise must not collide with a trial's, and must not depend on the run's group."""
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


def run_name(cfg: Config) -> str:
    """Results folder name: preset + short config hash."""
    return f"{cfg.preset}-{config_hash(cfg)}"


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


# ------------------------------------------------------------------------------ validation
DATASETS = ("mnist", "cifar10", "synthetic")
_FLOATS = {k for k, f in Config.__dataclass_fields__.items() if f.type == "float"}
_PAIRS = ("rates", "extra")


def _normalise(key: str, v):
    """What a user or a notebook naturally types, in the Config's own types (so equal settings
    hash equally): lists -> tuples, a single seed or milestone -> a 1-tuple, a ``rates``
    mapping -> pairs, integers in float fields -> floats."""
    if key in _PAIRS and isinstance(v, dict):
        v = tuple(v.items())
    if key in _PAIRS and isinstance(v, list | tuple):
        v = tuple(tuple(p) if isinstance(p, list) else p for p in v)
        if key == "rates":
            v = tuple((p[0], float(p[1])) if isinstance(p, tuple) and len(p) == 2 and _is_int(p[1]) else p
                      for p in v)
    if key in ("seeds", "milestones") and _is_int(v):
        v = (v,)
    if isinstance(v, list):
        v = tuple(v)
    if key in _FLOATS and _is_int(v):
        v = float(v)
    return v


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


# field -> (is the type right, is the value in range, what it must be)
_NUMBERS: dict[str, tuple] = {
    "lr": (_is_num, lambda v: v > 0, "a positive number"),
    "momentum": (_is_num, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "weight_decay": (_is_num, lambda v: v >= 0, "a number >= 0"),
    "gamma": (_is_num, lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "dropout": (_is_num, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "sigmoid_bias": (_is_num, lambda v: True, "a finite number"),
    "slim_l1": (_is_num, lambda v: v >= 0, "a number >= 0 (the L1 coefficient on batch-norm scales)"),
    **{k: (_is_int, lambda v: v >= 1, "a positive integer")
       for k in ("batch_size", "iterations", "eval_every", "val_size")},
    **{k: (_is_int, lambda v: v >= 0, "an integer >= 0")
       for k in ("warmup", "train_limit", "test_limit", "split_seed", "levels", "rewind", "reinits",
                 "random_prune")},
    **{k: (lambda v: isinstance(v, bool), lambda v: True, "True or False")
       for k in ("augment", "oneshot", "dwr")},
}


def field_rule(key: str, value) -> str | None:
    """What a numeric or boolean field must be ("an integer >= 0", ...) when ``value`` breaks
    its rule in ``_NUMBERS``; None when it is fine or the field has no such rule."""
    if key in _NUMBERS and not (_NUMBERS[key][0](value) and _NUMBERS[key][1](value)):
        return _NUMBERS[key][2]
    return None


def _choices() -> dict[str, tuple[str, object]]:
    """Fields naming one entry of a registry: field -> (what it is, the registry)."""
    from lthrepro.core import actions, models, pruning  # registries live beside the code they name
    return {"model": ("model", models.MODELS), "dataset": ("data set", DATASETS),
            "profile": ("profile", PROFILES), "optimizer": ("optimizer", ("adam", "sgd")),
            "scope": ("pruning scope", ("layerwise", "global")),
            "criterion": ("mask criterion", pruning.CRITERIA), "mask1": ("mask-1 action", actions.MASK1),
            "mask0": ("mask-0 action", actions.MASK0), "supermask": ("supermask", ("", "learned")),
            "supermask_weights": ("supermask_weights", ("init", "signed_constant"))}


def validate(cfg: Config) -> None:
    """Reject every value of the wrong type or out of range, naming the field and the fix, before
    anything is trained or written (a wrong value would silently produce nonsense)."""
    for k, (is_type, ok, what) in _NUMBERS.items():
        v = getattr(cfg, k)
        if not is_type(v) or not ok(v):
            raise ConfigError(f"{k} is {v!r}; it must be {what}")
    if not isinstance(cfg.preset, str) or not _NAME.match(cfg.preset):
        raise ConfigError(f"preset name {cfg.preset!r} must be letters, digits, '.', '_', '+' or '-' "
                          "(it names the results folder)")
    for k, (what, reg) in _choices().items():
        v = getattr(cfg, k)
        if not isinstance(v, str) or v not in reg:
            if k == "supermask":
                raise ConfigError(f"unknown supermask '{v}'; choose learned (or leave it empty)")
            raise ConfigError(f"unknown {what} '{v}'; choose one of {', '.join(reg)}")
    from lthrepro.core import models
    if cfg.dataset != "synthetic" and models.INPUT_SHAPE[cfg.model] != _DATA_SHAPE[cfg.dataset]:
        raise ConfigError(f"model {cfg.model} does not take {cfg.dataset} images; use the preset made "
                          "for this data set (see `python -m lthrepro list`)")
    if cfg.augment and len(models.INPUT_SHAPE[cfg.model]) != 3:
        raise ConfigError(f"augment=True crops and flips images; model {cfg.model} takes flat inputs")
    if not isinstance(cfg.milestones, tuple) or not all(_is_int(m) and m >= 1 for m in cfg.milestones):
        raise ConfigError(f"milestones is {cfg.milestones!r}; it must be a list of positive iterations, "
                          "e.g. milestones=[20000,25000]")
    if not isinstance(cfg.seeds, tuple) or not cfg.seeds or not all(_is_int(s) and s >= 0 for s in cfg.seeds):
        raise ConfigError(f"seeds is {cfg.seeds!r}; it must be a non-empty list of integers >= 0")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"seeds {list(cfg.seeds)} repeat a seed; give each trial once")
    _validate_rates(cfg)
    if not isinstance(cfg.extra, tuple) or not all(
            isinstance(p, tuple) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in cfg.extra):
        raise ConfigError(f"extra is {cfg.extra!r}; it must be a list of (name, text) pairs")
    if not cfg.rewind < cfg.iterations:
        raise ConfigError(f"rewind iteration {cfg.rewind} must lie in [0, iterations)")
    if cfg.train_limit and cfg.batch_size > cfg.train_limit:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than train_limit {cfg.train_limit}; "
                          "lower batch_size or raise train_limit")


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\Z")
_DATA_SHAPE = {"mnist": (784,), "cifar10": (3, 32, 32)}


def _validate_rates(cfg: Config) -> None:
    from lthrepro.core import models
    kinds = sorted(set(models.layer_kinds(cfg.model).values()))
    if not isinstance(cfg.rates, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in cfg.rates):
        raise ConfigError(f"rates is {cfg.rates!r}; it must map layer kinds to rates, "
                          "e.g. rates={'fc': 0.2, 'output': 0.1}")
    for kind, r in cfg.rates:
        if kind not in kinds:
            raise ConfigError(f"rates names layer kind '{kind}', which {cfg.model} does not have; "
                              f"choose from {', '.join(kinds)}")
        if not _is_num(r) or not 0.0 <= r < 1.0:
            raise ConfigError(f"pruning rate for '{kind}' is {r!r}; it must lie in [0, 1)")
    if len({k for k, _ in cfg.rates}) != len(cfg.rates):
        raise ConfigError(f"rates {dict(cfg.rates)} names a layer kind twice; give each once")


def parse_overrides(items: list[str] | None, option: str = "--set") -> dict:
    """``key=value`` pairs typed on a command line (the ``run`` CLI and the supermask driver):
    values are Python literals (``rates`` as a dict), anything else a string. Types and ranges
    are checked by ``make_config``/``validate``."""
    out = {}
    for it in items or []:
        if "=" not in it:
            raise ConfigError(f"{option} takes key=value, got '{it}'")
        k, v = it.split("=", 1)
        k = k.strip()
        if k not in Config.__dataclass_fields__:
            raise ConfigError(f"unknown config field '{k}' in {option}; see `python -m lthrepro list -v`")
        if k in ("preset", "profile"):
            raise ConfigError(f"{k} is not set with {option}: name it on the command line, "
                              "e.g. `run lenet --profile budget`")
        try:
            val = ast.literal_eval(v.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            val = v.strip()
        out[k] = _normalise(k, val)
    return out


def check_device(device: str) -> None:
    """``cpu``, ``cuda`` or ``cuda:N`` that this machine has; anything else is a one-line error."""
    import torch
    if not isinstance(device, str):
        raise ConfigError(f"device {device!r} must be a string: cpu, cuda or cuda:N")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from None
    if d.type == "cuda" and (not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"device '{device}' is not available on this machine (no such GPU); use --device cpu")
    if d.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device '{device}'; use cpu, cuda or cuda:N")


def check_group(group: int | None, option: str = "--group") -> None:
    """How many runs train together: a positive number (or None: chosen from the device)."""
    if group is not None and (not _is_int(group) or group < 1):
        raise ConfigError(f"{option} {group}: the number of runs trained together must be 1 or more")


EXECUTORS = ("local", "ray")


def parse_executor(spec) -> tuple[str, str | None]:
    """``local``, ``ray`` or ``ray:ADDRESS`` (a notebook's EXECUTOR) -> (executor, Ray address)."""
    name, _, address = str(spec).partition(":") if isinstance(spec, str) else ("", "", "")
    if name not in EXECUTORS or (name == "local" and address):
        raise ConfigError(f"EXECUTOR {spec!r} is unknown; use 'local', 'ray' or 'ray:ADDRESS' "
                          "(e.g. -p EXECUTOR ray:10.0.0.1:6379)")
    return name, address or None


def check_parameters(PROFILE: str, SEEDS, DEVICE: str = "cpu", RESULTS_DIR=None, OVERRIDES=None,
                     EXECUTOR: str = "local", **extra) -> None:
    """First cell of every notebook: papermill parameters of the wrong kind stop the notebook
    with one clear message instead of running on defaults (or training the wrong thing)."""
    if not isinstance(PROFILE, str) or PROFILE not in PROFILES:
        raise ConfigError(f"PROFILE {PROFILE!r} is unknown; pass -p PROFILE with one of {', '.join(PROFILES)}")
    if not isinstance(SEEDS, list | tuple) or not SEEDS or not all(_is_int(s) and s >= 0 for s in SEEDS):
        raise ConfigError(f"SEEDS {SEEDS!r} must be a non-empty list of non-negative integers, e.g. -y 'SEEDS: [0, 1]'")
    if len(set(SEEDS)) != len(SEEDS):
        raise ConfigError(f"SEEDS {list(SEEDS)} repeats a seed; give each trial once")
    if not isinstance(DEVICE, str):
        raise ConfigError(f"DEVICE {DEVICE!r} must be a string such as 'cpu' or 'cuda'")
    check_device(DEVICE)
    if RESULTS_DIR is not None and (not isinstance(RESULTS_DIR, str) or not RESULTS_DIR.strip()):
        raise ConfigError(f"RESULTS_DIR {RESULTS_DIR!r} must be a folder name (a non-empty string)")
    parse_executor(EXECUTOR)
    if OVERRIDES is not None:
        if not isinstance(OVERRIDES, dict):
            raise ConfigError(f"OVERRIDES {OVERRIDES!r} must be a mapping of config fields to values")
        bad = [k for k in OVERRIDES if k not in Config.__dataclass_fields__]
        if bad:
            raise ConfigError(f"OVERRIDES names unknown config field '{bad[0]}'; see `python -m lthrepro list -v`")
        for k, v in OVERRIDES.items():  # types and ranges that do not depend on the preset
            v = _normalise(k, v)
            rule = field_rule(k, v)
            if rule:
                raise ConfigError(f"OVERRIDES['{k}'] is {v!r}; it must be {rule}")
    if "PRESET" in extra and (not isinstance(extra["PRESET"], str) or extra["PRESET"] not in PRESETS):
        raise ConfigError(f"PRESET {extra['PRESET']!r} is unknown; pass -p PRESET with one of {', '.join(PRESETS)}")
