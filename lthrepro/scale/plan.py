"""A figure as a plan of independent tasks with a cost estimate (issue 14).

A *task* is one trial (seed) of one config: its IMP chain, levels 0..L in order (level ℓ is
pruned from level ℓ-1's trained weights, LTH App. B), each level with the controls trained beside
the trial's IMP run (LTH §2). Trials share nothing, so they are what a cluster runs side by side;
a *step* (one level of one trial) is the unit that is trained, written and timed against a
deadline (``executors``).

What each step costs is estimated in ``rates`` (how fast a network trains on a kind of device).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from lthrepro.core.config import Config, run_name
from lthrepro.scale import rates
from lthrepro.store import results as res

MAX_GROUP = {"cpu": 16, "cuda": 64}  # lottery._max_group's ceiling


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
    rate: rates.Rate
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
          bench_dir: Path = rates.BENCH_DIR) -> list[Task]:
    """Every trial of every config, with per-level estimates and what is already on disk."""
    kind = rates.device_kind(device)
    out = []
    for cfg in merge(cfgs):
        rate = rates.rate_for(cfg, device, root, bench_dir)
        d = Path(root or res.results_root()) / run_name(cfg)
        for s in cfg.seeds:
            steps = []
            for lv in range(last_level(cfg) + 1):
                ms = members_of(cfg, lv)
                todo = sum(not res.is_done(res.member_dir(d, k, s, r, lv)) for k, r in ms)
                steps.append(Step(lv, len(ms), todo, rates.step_seconds(cfg, rate, len(ms), lv, MAX_GROUP[kind])))
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


def _rates(ts: list[Task]) -> dict[str, rates.Rate]:
    return {f"{t.cfg.model}" + (f" ({run_name(t.cfg)})" if t.rate.source == "run" else ""): t.rate for t in ts}


def markdown(rows: list[tuple[str, list[Task]]], device: str) -> str:
    """A table of figures: tasks, runs, member-iterations, estimate, what it rests on."""
    unit = "GPU" if rates.device_kind(device) == "cuda" else "CPU"
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
