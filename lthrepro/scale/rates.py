"""How fast training goes: the rate of a network on a kind of device, and the seconds a level of
a trial takes at that rate (the estimates of ``plan``, issue 14).

Estimated seconds = member-iterations / rate, the rate of that network on that kind of device
taken, in this order, from

- ``run``: earlier sessions of this very results folder on this kind of device (``provenance.json``:
  members trained x iterations / wall time, evaluation and data loading included);
- ``bench``: ``python -m lthrepro bench`` files in ``benchmarks/results`` (the engine's
  model-iterations/s at the nearest measured group size), plus evaluation on the validation and
  test sets every ``eval_every`` iterations, costed as forward passes (1/3 of a training step per
  example; an overestimate for LeNet, whose small steps are overhead-bound);
- ``flops``: no bench of this network on this kind of device: another network's bench there,
  scaled by floating-point operations per training step;
- ``assumed``: nothing measured on this kind of device at all: ``ASSUMED`` below. Every figure
  of this kind is marked as an assumption, never as a measurement.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lthrepro.core.config import Config, ConfigError, run_name
from lthrepro.store import results as res

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(os.environ.get("LTHREPRO_BENCH", ROOT / "benchmarks" / "results"))
OFFICIAL_TEST = {"mnist": 10_000, "cifar10": 10_000, "synthetic": 400}
OFFICIAL_TRAIN = {"mnist": 60_000, "cifar10": 50_000, "synthetic": 1_200}
# No GPU measurement yet: an effective throughput and a floor per training step (kernel launches
# of a small network), both guesses, stated as such wherever they are used. One `bench --device
# cuda` file under benchmarks/results replaces them.
ASSUMED = {"cuda": {"flops": 10e12, "step_s": 3e-3}, "cpu": {"flops": 5e9, "step_s": 1e-3}}


@dataclass(frozen=True)
class Rate:
    """Member-iterations per second of ``model`` on a kind of device, for a group of members."""

    per_step_s: tuple[tuple[int, float], ...]  # (group size, seconds per training step of the group)
    source: str  # run | bench | flops | assumed
    note: str
    includes_eval: bool = False

    def step_seconds(self, group: int) -> float:
        """Seconds per training step of a group of ``group`` runs: per-run time interpolated
        linearly between measured group sizes; below the smallest measured group, that group's
        step time (errs long); above the largest, its per-run time (errs long: it falls with G)."""
        pts = sorted((g, s / g) for g, s in self.per_step_s)  # (group, seconds per run-step)
        if group <= pts[0][0]:
            return pts[0][1] * pts[0][0]
        for (g0, r0), (g1, r1) in zip(pts, pts[1:]):
            if group <= g1:
                return group * (r0 + (r1 - r0) * (group - g0) / (g1 - g0))
        return group * pts[-1][1]


# --------------------------------------------------------------------------------- costs
@functools.cache
def forward_flops(model: str) -> float:
    """Floating-point operations of one forward pass of one example: the convolutions and
    matrix products torch runs for it, counted at dispatch (2 per multiply-add)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from lthrepro.core import models
    aten = torch.ops.aten
    total = [0]

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func is aten.convolution.default:  # out [B, O, H, W], weight [O, C/groups, k, k]
                total[0] += 2 * out.numel() * args[1][0].numel()
            elif func in (aten.bmm.default, aten.mm.default):
                total[0] += 2 * out.numel() * args[0].shape[-1]
            elif func is aten.addmm.default:
                total[0] += 2 * out.numel() * args[1].shape[-1]
            return out

    p = models.stack([models.init_params(model, 0)])
    st = models.init_state(model)
    st = models.stack([st]) if st else {}
    with torch.no_grad(), Count():
        models.forward(model, p, st, torch.zeros(1, 1, *models.INPUT_SHAPE[model]), train=False)
    return float(total[0])


def train_flops(cfg: Config) -> float:
    """One training step of one member: forward + backward ≈ 3 forward passes per example."""
    return 3.0 * forward_flops(cfg.model) * cfg.batch_size


def _bench_files(bench_dir: Path) -> list[dict]:
    out = []
    for f in sorted(Path(bench_dir).glob("bench-*.json")) if Path(bench_dir).exists() else []:
        try:
            d = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        d["file"] = f.name
        out.append(d)
    return out


def device_kind(device: str) -> str:
    import torch
    try:
        return torch.device(device).type
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from None


def bench_rates(kind: str, bench_dir: Path = BENCH_DIR) -> dict[str, Rate]:
    """The latest bench of every network measured on ``kind`` (cpu or cuda)."""
    out: dict[str, tuple[str, Rate]] = {}
    for d in _bench_files(bench_dir):
        if d.get("device", "").split(":")[0] != kind:
            continue
        for r in d.get("results", []):
            pts = tuple((e["group"], e["group"] / e["model_it_per_s"]) for e in r["engine"])
            note = (f"bench {d['file']} ({d.get('device_name', kind)}, {d['date']}, load "
                    f"{d.get('loadavg_start', [0])[0]:.1f}, {d.get('settings', {}).get('iters')} it)")
            if r["model"] not in out or d["date"] >= out[r["model"]][0]:
                out[r["model"]] = (d["date"], Rate(pts, "bench", note))
    return {m: r for m, (_, r) in out.items()}


def run_rate(cfg: Config, kind: str, root: Path | None) -> Rate | None:
    """Measured on this results folder: earlier sessions on the same kind of device (the
    seconds spent training where a session recorded them, its wall time otherwise)."""
    path = Path(root or res.results_root()) / run_name(cfg) / "provenance.json"
    if not path.exists():
        return None
    n = secs = 0.0
    devs = set()
    for s in res.read_json(path).get("sessions", []):
        on_cpu = s.get("device", "").startswith("cpu")
        if s.get("members_trained", 0) > 0 and s.get("wall_seconds", 0) > 0 and on_cpu == (kind == "cpu"):
            n += s["members_trained"]
            secs += s.get("train_seconds") or s["wall_seconds"]
            devs.add(s["device"])
    if not n:
        return None
    it = cfg.iterations - cfg.rewind
    return Rate(((1, secs / (n * it)),), "run",
                f"{int(n)} runs of {path.parent.name} ({'; '.join(sorted(devs))}): {secs / n:.0f} s each",
                includes_eval=True)


def rate_for(cfg: Config, device: str, root: Path | None = None, bench_dir: Path = BENCH_DIR) -> Rate:
    kind = device_kind(device)
    measured = run_rate(cfg, kind, root)
    if measured:
        return measured
    benches = bench_rates(kind, bench_dir)
    if cfg.model in benches:
        b = benches[cfg.model]
        scale = cfg.batch_size / bench_batch(cfg.model)
        return Rate(tuple((g, s * scale) for g, s in b.per_step_s), "bench",
                    b.note + (f", batch scaled x{scale:.3g}" if scale != 1 else ""))
    if benches:  # scale the network measured with the most work per step by FLOPs
        ref = max(benches, key=lambda m: forward_flops(m))
        k = train_flops(cfg) / (3.0 * forward_flops(ref) * bench_batch(ref))
        return Rate(tuple((g, s * k) for g, s in benches[ref].per_step_s), "flops",
                    f"{ref} {benches[ref].note}, x{k:.3g} by FLOPs per step")
    a = ASSUMED[kind]
    pts = tuple((g, max(a["step_s"], g * train_flops(cfg) / a["flops"])) for g in range(1, 65))
    return Rate(pts, "assumed", f"no measurement on {kind}: assumed {a['flops'] / 1e12:g} TFLOP/s effective, "
                f"at least {a['step_s'] * 1e3:g} ms per step")


def bench_batch(model: str) -> int:
    """Batch size ``bench`` times ``model`` at: its paper preset's."""
    from lthrepro.core.presets import PRESETS
    return next(c.batch_size for c in PRESETS.values() if c.model == model)


def step_seconds(cfg: Config, rate: Rate, members: int, level: int, max_group: int) -> float:
    """Estimated seconds to train ``members`` runs of one level, in groups of ``max_group``."""
    if not members:
        return 0.0
    start = cfg.rewind if level else 0
    steps = cfg.iterations - start
    secs = 0.0
    for g in [max_group] * (members // max_group) + ([members % max_group] if members % max_group else []):
        per = rate.step_seconds(g)
        secs += steps * per
        if not rate.includes_eval:  # validation + test every eval_every, train accuracy at the end
            evals = len(range(start, cfg.iterations + 1, cfg.eval_every)) + 1
            n_train = cfg.train_limit or OFFICIAL_TRAIN.get(cfg.dataset, 50_000) - cfg.val_size
            examples = evals * (cfg.val_size + (cfg.test_limit or OFFICIAL_TEST.get(cfg.dataset, 10_000))) + n_train
            secs += per * examples / (3.0 * cfg.batch_size)
    return secs
