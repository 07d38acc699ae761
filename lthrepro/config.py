"""Frozen run configurations: the paper's presets, the three profiles, and the config hash.

Every number in a preset comes from LTH v5 (arXiv 1803.03635v5), Figure 2 and Appendices G-I,
as transcribed in ``shared/reference/paper-numbers.md`` section 1.1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
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
                                   "sigmoid_bias": 0.0}


def config_hash(cfg: Config) -> str:
    """Short, stable hash of the fields that determine a run's numbers."""
    d = {k: v for k, v in cfg.to_dict().items() if k not in NOT_HASHED
         and not (k in LATE_FIELDS and v == LATE_FIELDS[k])}
    blob = json.dumps(d, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


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
}

# Variants the paper runs on top of a preset (LTH §4 Figs. 7-8, App. H.5).
VARIANTS: dict[str, dict] = {
    "lr0.01": {"lr": 0.01},
    "warmup10k": {"warmup": 10_000},
    "lr0.03-warmup20k": {"lr": 0.03, "warmup": 20_000},
    "dropout": {"dropout": 0.5},  # iterations tripled: see apply_profile
}


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
}


def make_config(preset: str, profile: str = "paper", variant: str | None = None,
                **overrides) -> Config:
    """preset -> profile -> overrides. Raises ConfigError with a one-line fix on bad input."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset '{preset}'; choose one of {', '.join(PRESETS)}")
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile '{profile}'; choose one of {', '.join(PROFILES)}")
    cfg = PRESETS[preset]
    if variant:
        if variant not in VARIANTS:
            raise ConfigError(f"unknown variant '{variant}'; choose one of {', '.join(VARIANTS)}")
        changes = dict(VARIANTS[variant])
        if variant == "dropout":  # App. H.5: dropout runs train three times as long
            changes["iterations"] = cfg.iterations * 3
        cfg = dataclasses.replace(cfg, preset=f"{preset}-{variant}", **changes)
    cfg = dataclasses.replace(cfg, profile=profile)
    if profile == "budget":
        b = dict(BUDGET[preset])
        cfg = dataclasses.replace(cfg, **_scale(cfg, b.pop("factor")), **b)
    elif profile == "smoke":
        # Seconds on a CPU: a data subset, a few iterations, 3 levels, one seed. VGG-19 and
        # ResNet get even less (a VGG-19 step costs ~1 s on 2 CPU cores).
        big = cfg.model in ("vgg19", "resnet20")
        it = 20 if big else 120
        cfg = dataclasses.replace(cfg, iterations=it, milestones=tuple(
            int(it * m / cfg.iterations) for m in cfg.milestones),
            warmup=min(cfg.warmup, it // 6), eval_every=10 if big else 20,
            train_limit=500 if big else 2_000, val_size=200 if big else 500,
            test_limit=200 if big else 1_000, levels=3, seeds=(0,), reinits=1,
            batch_size=16 if big else min(cfg.batch_size, 60))
    try:
        cfg = dataclasses.replace(cfg, **overrides)
    except TypeError as e:
        raise ConfigError(f"bad override: {e}") from None
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Reject values that would silently produce nonsense."""
    for kind, r in cfg.rates:
        if not 0.0 <= r < 1.0:
            raise ConfigError(f"pruning rate for '{kind}' is {r}; it must lie in [0, 1)")
    if cfg.levels < 0:
        raise ConfigError(f"levels is {cfg.levels}; it must be 0 or more")
    if cfg.iterations <= 0 or cfg.batch_size <= 0 or cfg.eval_every <= 0:
        raise ConfigError("iterations, batch_size and eval_every must be positive")
    if not 0 <= cfg.rewind < cfg.iterations:
        raise ConfigError(f"rewind iteration {cfg.rewind} must lie in [0, iterations)")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"dropout {cfg.dropout} must lie in [0, 1)")
    if cfg.optimizer not in ("adam", "sgd"):
        raise ConfigError(f"unknown optimizer '{cfg.optimizer}'; choose adam or sgd")
    if cfg.scope not in ("layerwise", "global"):
        raise ConfigError(f"unknown pruning scope '{cfg.scope}'; choose layerwise or global")
    if not cfg.seeds:
        raise ConfigError("at least one seed is needed")
    if cfg.reinits < 0 or cfg.random_prune < 0:
        raise ConfigError("the number of control runs cannot be negative")
    from . import actions, pruning  # registries live beside the code they name
    for what, key, reg in (("mask criterion", cfg.criterion, pruning.CRITERIA),
                           ("mask-1 action", cfg.mask1, actions.MASK1),
                           ("mask-0 action", cfg.mask0, actions.MASK0)):
        if key not in reg:
            raise ConfigError(f"unknown {what} '{key}'; choose one of {', '.join(reg)}")
    if cfg.supermask not in ("", "learned"):
        raise ConfigError(f"unknown supermask '{cfg.supermask}'; choose learned (or leave it empty)")
    if cfg.supermask_weights not in ("init", "signed_constant"):
        raise ConfigError(f"unknown supermask_weights '{cfg.supermask_weights}'; "
                          "choose init or signed_constant")


def check_device(device: str) -> None:
    """``cpu``, ``cuda`` or ``cuda:N`` that this machine has; anything else is a one-line error."""
    import torch
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from None
    if d.type == "cuda" and (not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"device '{device}' is not available on this machine (no such GPU); use --device cpu")
    if d.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device '{device}'; use cpu, cuda or cuda:N")


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
    if PROFILE not in PROFILES:
        raise ConfigError(f"PROFILE '{PROFILE}' is unknown; pass -p PROFILE with one of {', '.join(PROFILES)}")
    if not isinstance(SEEDS, list | tuple) or not SEEDS or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in SEEDS):
        raise ConfigError(f"SEEDS {SEEDS!r} must be a non-empty list of non-negative integers, e.g. -y 'SEEDS: [0, 1]'")
    if len(set(SEEDS)) != len(SEEDS):
        raise ConfigError(f"SEEDS {list(SEEDS)} repeats a seed; give each trial once")
    if not isinstance(DEVICE, str):
        raise ConfigError(f"DEVICE {DEVICE!r} must be a string such as 'cpu' or 'cuda'")
    check_device(DEVICE)
    if RESULTS_DIR is not None and not isinstance(RESULTS_DIR, str):
        raise ConfigError(f"RESULTS_DIR {RESULTS_DIR!r} must be a folder name (a string)")
    parse_executor(EXECUTOR)
    if OVERRIDES is not None:
        if not isinstance(OVERRIDES, dict):
            raise ConfigError(f"OVERRIDES {OVERRIDES!r} must be a mapping of config fields to values")
        bad = [k for k in OVERRIDES if k not in Config.__dataclass_fields__]
        if bad:
            raise ConfigError(f"OVERRIDES names unknown config field '{bad[0]}'; see `python -m lthrepro list -v`")
