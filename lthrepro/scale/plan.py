"""A figure as a plan of independent tasks with a cost estimate (issue 14).

A *task* is one trial (seed) of one config: its IMP chain, levels 0..L in order (level ℓ is
pruned from level ℓ-1's trained weights, LTH App. B), each level with the controls trained beside
the trial's IMP run (LTH §2). Trials share nothing, so they are what a cluster runs side by side;
a *step* (one level of one trial) is the unit that is trained, written and timed against a
deadline (``executors``).

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

import dataclasses
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
MAX_GROUP = {"cpu": 16, "cuda": 64}  # lottery._max_group's ceiling


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


@dataclass
class Step:
    """One level of one trial: ``members`` runs, of which ``todo`` are not finished."""

    level: int
    members: int
    todo: int
    seconds: float  # estimate for the whole level (all its members)


@dataclass
class Task:
    cfg: Config
    seed: int
    device: str  # "cuda" | "cpu": what the task asks a scheduler for (one GPU, or one CPU)
    rate: Rate
    steps: list[Step]

    @property
    def name(self) -> str:
        return f"{run_name(self.cfg)} seed {self.seed}"

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    @property
    def remaining(self) -> float:
        return sum(s.seconds * s.todo / s.members for s in self.steps if s.todo)

    @property
    def done(self) -> int:
        return sum(1 for s in self.steps if not s.todo)


# ------------------------------------------------------------------------------- targets
def merge(cfgs: list[Config]) -> list[Config]:
    """One config per results folder: figures that read the same folder with different controls
    (Figs. 1, 3, 4 all read the LeNet trials) share its members; counted and run once."""
    out: dict[str, Config] = {}
    for c in cfgs:
        n = run_name(c)
        if n not in out:
            out[n] = c
            continue
        o = out[n]
        out[n] = dataclasses.replace(
            o, levels=max(o.levels, c.levels), reinits=max(o.reinits, c.reinits),
            random_prune=max(o.random_prune, c.random_prune), oneshot=o.oneshot or c.oneshot,
            seeds=tuple(dict.fromkeys(o.seeds + c.seeds)))
    return list(out.values())


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


def _kind(device: str) -> str:
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
    kind = _kind(device)
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


def members_of(cfg: Config, level: int) -> list[tuple[str, int]]:
    """(kind, rep) of every run of one trial at ``level`` (LTH §2 controls at ℓ ≥ 1)."""
    out = [("imp", 0)]
    if level:
        for kind, n in (("reinit", cfg.reinits), ("random", cfg.random_prune), ("oneshot", int(cfg.oneshot))):
            out += [(kind, r) for r in range(n)]
    return out


def last_level(cfg: Config) -> int:
    return 0 if cfg.supermask else cfg.levels  # a learned supermask is a single training run


def tasks(cfgs: list[Config], device: str = "cpu", root: Path | None = None,
          bench_dir: Path = BENCH_DIR) -> list[Task]:
    """Every trial of every config, with per-level estimates and what is already on disk."""
    kind = _kind(device)
    out = []
    for cfg in merge(cfgs):
        rate = rate_for(cfg, device, root, bench_dir)
        d = Path(root or res.results_root()) / run_name(cfg)
        for s in cfg.seeds:
            steps = []
            for lv in range(last_level(cfg) + 1):
                ms = members_of(cfg, lv)
                todo = sum(not res.is_done(res.member_dir(d, k, s, r, lv)) for k, r in ms)
                steps.append(Step(lv, len(ms), todo, step_seconds(cfg, rate, len(ms), lv, MAX_GROUP[kind])))
            out.append(Task(cfg, s, kind, rate, steps))
    return out


def order_key(task: Task, level: int, index: int) -> tuple:
    """The order a figure needs its steps in: the first trial of every config level by level
    (so each curve of the figure grows together), then the next trial (error bars), ...
    ``index`` is the config's position in the figure."""
    return (task.cfg.seeds.index(task.seed), level, index)


# ------------------------------------------------------------------------------ printing
def _hours(s: float) -> str:
    return f"{s / 3600:.2f}" if s < 360_000 else f"{s / 3600:,.0f}"


def describe(ts: list[Task], title: str) -> str:
    """The plan as text: one line per task, the total, the rates it rests on."""
    unit = "GPU" if ts and ts[0].device == "cuda" else "CPU"
    lines = [title, f"{'task':<36} {'needs':<6} {'levels':>6} {'runs':>5} {'iterations':>12} "
             f"{'estimate h':>10} {'done':>9}"]
    for t in ts:
        runs = sum(s.members for s in t.steps)
        its = sum(s.members * (t.cfg.iterations - (t.cfg.rewind if s.level else 0)) for s in t.steps)
        lines.append(f"{t.name:<36} {'1 ' + unit:<6} {len(t.steps):>6} {runs:>5} {its:>12,} "
                     f"{_hours(t.seconds):>10} {t.done:>4}/{len(t.steps):<4}")
    total = sum(t.seconds for t in ts)
    left = sum(t.remaining for t in ts)
    lines.append(f"total: {len(ts)} tasks, {_hours(total)} {unit}-hours on one {unit} "
                 f"({_hours(left)} h not done yet; {sum(t.done for t in ts)} of "
                 f"{sum(len(t.steps) for t in ts)} levels finished)")
    lines.append("rates (seconds per training step of one run, group of 1):")
    for model, r in _rates(ts).items():
        lines.append(f"  {model:<9} {r.step_seconds(1) * 1e3:10.2f} ms  [{r.source}] {r.note}")
    if any(t.rate.source in ("flops", "assumed") for t in ts):
        lines.append("estimates marked flops/assumed rest on no measurement of that network on this device: "
                     f"run `python -m lthrepro bench --device {ts[0].device}` there to measure it")
    return "\n".join(lines)


def _rates(ts: list[Task]) -> dict[str, Rate]:
    return {f"{t.cfg.model}" + (f" ({run_name(t.cfg)})" if t.rate.source == "run" else ""): t.rate for t in ts}


def markdown(rows: list[tuple[str, list[Task]]], device: str) -> str:
    """A table of figures: tasks, runs, member-iterations, estimate, what it rests on."""
    unit = "GPU" if _kind(device) == "cuda" else "CPU"
    out = [f"| Figure | Results folders | Tasks (trials) | Levels (all tasks) | Training runs | Run-iterations | "
           f"{unit}-hours on one {unit} | Rate basis |", "|---|---|---|---|---|---|---|---|"]
    for name, ts in rows:
        folders = list(dict.fromkeys(f"`{t.cfg.preset}`" for t in ts))
        folders = ", ".join(folders) if len(folders) <= 6 else f"{len(folders)} folders"
        its = sum(s.members * (t.cfg.iterations - (t.cfg.rewind if s.level else 0)) for t in ts for s in t.steps)
        basis = ", ".join(sorted({f"{t.cfg.model}: {t.rate.source}" for t in ts}))
        out.append(f"| {name} | {folders} | {len(ts)} | {sum(len(t.steps) for t in ts)} | "
                   f"{sum(s.members for t in ts for s in t.steps):,} | {its:,} | "
                   f"{_hours(sum(t.seconds for t in ts))} | {basis} |")
    return "\n".join(out) + "\n"


def rate_notes(ts: list[Task]) -> str:
    """The measurements (or assumptions) under a set of estimates, one markdown bullet each."""
    seen = {}
    for t in ts:
        seen.setdefault(t.cfg.model, t.rate)
    return "\n".join(f"- `{m}`: {r.step_seconds(1) * 1e3:.2f} ms per training step of one run "
                     f"(*{r.source}*): {r.note}" for m, r in seen.items()) + "\n"


def figures_markdown(figs: dict[str, list[Config]], device: str, root: Path | None = None) -> str:
    """Every figure's estimate (``figs``: figure -> its configs, from ``runner.figure_configs``)
    as a markdown table, plus the whole book (a results folder that several figures read counted
    once) and the rates it rests on: the book's "Running at scale" tables."""
    rows = [(n, tasks(cs, device, root)) for n, cs in figs.items()]
    if len(rows) > 1:
        rows.append(("all figures (shared runs once)", tasks([c for cs in figs.values() for c in cs], device, root)))
    return markdown(rows, device) + "\n" + rate_notes([t for _, ts in rows for t in ts])
