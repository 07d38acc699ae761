"""You et al. 2020, "Drawing Early-Bird Tickets" (ICLR 2020): watch the pruning mask settle during
one dense training run and draw the ticket as soon as it stops changing.

Protocol (``shared/reference/followup-numbers.md`` §3, from the authors' ``main.py``): after each
epoch's training, compute the mask for every pruning ratio; keep the last ``keep`` = 5 masks;
the early-bird (EB) ticket is drawn at the first epoch whose mask lies within ε = 0.1
(normalised Hamming distance) of each of the 4 masks before it. The mask list starts with the
mask of the untrained network (the authors check once per epoch *before* training it).

Retraining variants (``earlybird_tickets.RETRAIN``), named on every page:

- ``reset``: the ticket's mask on θ0 of the search run, the full schedule (LTH-style; for the
  channel tickets this is the authors' ``main_scratch.py`` with θ0 instead of a new init).
- ``continue``: the dense weights (and batch-norm statistics) at the draw point, masked, trained
  from the draw iteration to the end of the schedule (lr schedule and data order continue;
  optimizer momentum starts at zero). This is what the paper describes. The authors' CIFAR
  ``main_c.py`` loads only the channel configuration, so as written it trains a freshly
  initialised pruned network over those epochs; we do not run that variant.

What a ticket is (mask kinds, the draw rule, the tickets ``eb``, ``eb_rel`` and ``end``, their
cost) is in ``earlybird_tickets``; this module trains, records, retrains and summarises.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch

from lthrepro.core import data as data_mod
from lthrepro.core import models, pruning
from lthrepro.core.config import Config, ConfigError, config_hash, last_level
from lthrepro.core.presets import make_config
from lthrepro.core.train import Member, train_group
from lthrepro.core.userargs import SEED, float_option, folder, int_option
from lthrepro.experiments.earlybird_tickets import (
    SPECS,
    Spec,
    _core,
    _draws,
    _mask_fn,
    cost_ratio,
    forward_macs,
    make_spec,
    pruned_fraction,
    target_label,
)
from lthrepro.experiments.lottery import NoTrainError
from lthrepro.store import numerics, provenance
from lthrepro.store import results as res


def eb_dir(cfg: Config, spec: Spec, root=None) -> Path:
    blob = json.dumps({"config": config_hash(cfg), "spec": asdict(spec)}, sort_keys=True, default=list)
    return res.resolve_root(root) / f"earlybird-{cfg.preset}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


# ------------------------------------------------------------------------------ search
def search(cfg: Config, spec: Spec, data: data_mod.Data, device, out: Path, seeds: list[int]) -> None:
    """Train the dense network of every seed once, recording the mask of every target at every
    evaluation; write per seed the curves, distance matrices, draw iterations and tensors."""
    fn, keep = _mask_fn(cfg, spec), spec.keep
    masks = {(s, t): [] for s in seeds for t in spec.targets}
    snaps: dict = {}

    def on_eval(it: int, p: dict, st: dict) -> None:
        for g, s in enumerate(seeds):
            w = {k: v[g].cpu() for k, v in p.items()}
            for t in spec.targets:
                seq = masks[(s, t)]
                seq.append(fn(w, t))
                if ("continue" in {v for _, v in spec.runs} and (s, t) not in snaps and len(seq) >= keep
                        and pruning.first_draw(pruning.distance_matrix(
                            [_core(m, spec) for m in seq[-keep:]]), spec.eps, keep) == keep - 1):
                    snaps[(s, t)] = {"it": it, "params": {k: v.clone() for k, v in w.items()},
                                     "state": {k: v[g].cpu().clone() for k, v in st.items()}}

    members = [Member(init=models.init_params(cfg.model, s), data_seed=s, tag=f"search/s{s}",
                      mask=pruning.full_mask(models.init_params(cfg.model, s), list(models.layer_kinds(cfg.model))))
               for s in seeds]
    results = train_group(cfg, members, data, device, on_eval=on_eval)
    for s, r in zip(seeds, results, strict=True):
        iters = r.metrics["iterations"]
        d = out / "search" / f"s{s}"
        per, tensors = {}, {}
        for t in spec.targets:
            seq = masks[(s, t)]
            dist = pruning.distance_matrix([_core(m, spec) for m in seq])
            p = pruned_fraction(seq[-1], spec)
            draws = _draws(dist, spec, p, iters)
            per[target_label(spec, t)] = {
                "target": t, "pruned_fraction": p, "max_distance": pruning.max_distance(p),
                "draw_iter": draws, "distance": [[round(float(x), 6) for x in row] for row in dist]}
            for name, it in (*draws.items(), ("end", iters[-1])):
                if it is not None:
                    tensors[f"{target_label(spec, t)}/{name}"] = seq[iters.index(it)]
            if (s, t) in snaps:
                tensors[f"{target_label(spec, t)}/snapshot"] = snaps[(s, t)]
        metrics = {**r.metrics, "seed": s, "kind": "search", "targets": per,
                   "dense_macs": forward_macs(cfg.model, None)}
        res.write_tensors(d / "tickets.pt", tensors)
        res.write_json(d / "metrics.json", metrics)


# ----------------------------------------------------------------------------- retrain
def plan(cfg: Config, spec: Spec, out: Path, seeds: list[int]) -> tuple[list, list]:
    """Unfinished retraining runs as (folder, member, start iteration, record), and copies:
    (folder, folder of the identical run) when ``eb_rel`` draws at the same iteration as ``eb``."""
    todo, copies = [], []
    for s in seeds:
        sd = out / "search" / f"s{s}"
        m = res.read_json(sd / "metrics.json")
        tickets = None
        for t in spec.targets:
            lab = target_label(spec, t)
            draws = {**m["targets"][lab]["draw_iter"], "end": m["iterations"][-1]}
            first: dict = {}  # (draw iteration, variant) -> folder of the first run with it
            for ticket, variant in sorted(spec.runs, key=lambda r: r[0] != "end"):
                d = out / "retrain" / f"s{s}" / lab / f"{ticket}-{variant}"
                it = draws[ticket]
                if it is None:
                    continue
                src = first.setdefault((it, variant), d)
                if res.is_done(d):
                    continue
                if src != d:  # same mask and start as an earlier ticket: the same run
                    copies.append((d, src))
                    continue
                tickets = tickets if tickets is not None else torch.load(sd / "tickets.pt", weights_only=True)
                mask = tickets[f"{lab}/{ticket}"]
                rec = {"seed": s, "target": t, "ticket": ticket, "variant": variant, "draw_iter": it}
                if variant == "continue":
                    snap = tickets.get(f"{lab}/snapshot")
                    if snap is None or snap["it"] != it:  # online and offline draws must agree
                        raise RuntimeError(f"{d}: no snapshot at the draw iteration {it}")
                    mem = Member(init=snap["params"], mask=mask, data_seed=s, state=snap["state"], tag=str(d))
                    todo.append((d, mem, it, rec))
                else:
                    mem = Member(init=models.init_params(cfg.model, s), mask=mask, data_seed=s, tag=str(d))
                    todo.append((d, mem, 0, rec))
    return todo, copies


def retrain(cfg: Config, spec: Spec, data, device, out: Path, seeds: list[int], max_group: int = 16) -> int:
    """Train every unfinished ticket (grouped by start iteration); returns how many were trained."""
    todo, copies = plan(cfg, spec, out, seeds)
    for start in sorted({st for _, _, st, _ in todo}):
        grp = [x for x in todo if x[2] == start]
        for i in range(0, len(grp), max_group):
            chunk = grp[i: i + max_group]
            for (d, mem, st, rec), r in zip(chunk, train_group(cfg, [c[1] for c in chunk], data, device,
                                                               start=start, train_acc=False), strict=True):
                core = _core(mem.mask, spec)
                metrics = {**r.metrics, **rec, "start": st, "density": pruning.density(core),
                           "ticket_macs": forward_macs(cfg.model, core),
                           "cost_ratio": cost_ratio(cfg.model, core, rec["draw_iter"], st, cfg.iterations)}
                res.save_member(d, metrics, mem.mask, None, None)
    for d, src in copies:  # same mask, same start: the same run (not trained twice)
        m = res.read_json(src / "metrics.json")
        res.write_json(d / "metrics.json", {**m, "ticket": d.name.split("-")[0], "same_as": src.name})
    return len(todo)


# --------------------------------------------------------------------------------- run
def run(preset: str, profile: str = "budget", device: str = "cpu", root=None, seeds=None,
        spec: Spec | None = None, progress: bool = False, force: bool = False, **over) -> Path:
    """Search + retrain (resumable: finished parts are skipped); returns the results folder."""
    over = {k: tuple(v) if isinstance(v, list) else v for k, v in over.items()}  # papermill gives lists
    if seeds and "seeds" in over:
        raise ConfigError("seeds given by both --seeds and --set seeds; give them once")
    cfg = make_config(preset, profile, **({"seeds": tuple(seeds)} if seeds else {}), **over)
    spec = spec or make_spec(preset)
    if spec.kind == "weights" and max(spec.targets) > last_level(cfg):
        raise ConfigError(f"--levels {max(spec.targets)}: at these pruning rates no weight is pruned after level "
                          f"{last_level(cfg)}; choose IMP levels from 1 to {last_level(cfg)}")
    out = eb_dir(cfg, spec, root)
    todo_s = [s for s in cfg.seeds if not (out / "search" / f"s{s}" / "metrics.json").exists()]
    if not todo_s and not _retrain_missing(cfg, spec, out):
        return out
    if os.environ.get("LTHREPRO_NO_TRAIN") == "1":
        raise NoTrainError(f"{out.name}: early-bird results missing and LTHREPRO_NO_TRAIN=1; "
                           f"run `python -m lthrepro earlybird {preset} --profile {profile}` first")
    res.check_writable(out.parent)
    t0, commit = time.time(), provenance.git_commit()
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0)) + f".{int(t0 * 1e6) % 10**6:06d}Z"
    data = data_mod.load(cfg.dataset, cfg.val_size, cfg.split_seed, cfg.train_limit, cfg.test_limit,
                         input_shape=models.INPUT_SHAPE[cfg.model])
    fp = numerics.fingerprint(str(device))  # issue 11: recorded; never mixed in a folder
    numerics.check_extend(out, fp, force)  # force: the mix is recorded in provenance.json
    with res.undo_if_new(out):
        res.write_json(out / "config.json", {"config": cfg.to_dict(), "hash": config_hash(cfg), "name": out.name,
                                             "spec": asdict(spec), "data": data.info})
        # Search runs whose tensors are gone (a clean clone) are repeated when a retrain needs them.
        redo = [s for s in cfg.seeds if s not in todo_s and _retrain_missing(cfg, spec, out, [s])
                and not (out / "search" / f"s{s}" / "tickets.pt").exists()]
        n = len(todo_s + redo)
        if todo_s + redo:
            search(cfg, spec, data, device, out, sorted(todo_s + redo))
        n += retrain(cfg, spec, data, device, out, list(cfg.seeds))
        provenance.add_provenance(out, str(device), time.time() - t0, n, cfg.to_dict(), started, commit, complete=True,
                                  numerics=fp, clean=provenance.tree_clean())
        write_summary(out)
    return out


def _retrain_missing(cfg: Config, spec: Spec, out: Path, seeds=None) -> bool:
    for s in seeds or cfg.seeds:
        mj = out / "search" / f"s{s}" / "metrics.json"
        if not mj.exists():
            return True
        m = res.read_json(mj)
        for t in spec.targets:
            lab = target_label(spec, t)
            draws = {**m["targets"][lab]["draw_iter"], "end": m["iterations"][-1]}
            if any(draws[k] is not None and not res.is_done(out / "retrain" / f"s{s}" / lab / f"{k}-{v}")
                   for k, v in spec.runs):
                return True
    return False


SUMMARY = ["seed", "target", "ticket", "variant", "draw_iter", "start", "density", "cost_ratio",
           "early_stop_iter", "early_stop_test_acc", "final_test_acc", "final_val_acc"]


def summary_rows(out: Path) -> list[dict]:
    """One row per dense search run and per retrained ticket."""
    rows = []
    for mj in sorted(Path(out).glob("search/s*/metrics.json")):
        m = res.read_json(mj)
        rows.append({"seed": m["seed"], "target": "", "ticket": "dense", "variant": "search",
                     "draw_iter": "", "start": 0, "density": 1.0, "cost_ratio": 1.0,
                     **{k: m[k] for k in SUMMARY[-4:]}})
    for mj in sorted(Path(out).glob("retrain/s*/*/*/metrics.json")):
        m = res.read_json(mj)
        rows.append({k: m[k] for k in SUMMARY})
    return rows


def write_summary(out: Path) -> Path:
    import csv
    import io
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY)
    w.writeheader()
    for r in summary_rows(out):
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    res.write_text(Path(out) / "summary.csv", buf.getvalue())
    return Path(out) / "summary.csv"


# --------------------------------------------------------------------------------- CLI
def add_parser(sub, fn) -> None:
    """``python -m lthrepro earlybird PRESET ...`` (``fn`` is the CLI's command, in __main__)."""
    e = sub.add_parser("earlybird", help="early-bird tickets (You et al. 2020): search + retrain")
    e.add_argument("preset", help=f"one of {', '.join(SPECS)}")
    e.add_argument("--profile", default="budget")
    e.add_argument("--seeds", type=SEED, nargs="+")
    e.add_argument("--device", default="cpu")
    e.add_argument("--eps", type=float_option(0, 1), default=0.1, help="distance threshold ε in (0, 1) (paper: 0.1)")
    e.add_argument("--keep", type=int_option(2), default=5, help="masks in the queue, ≥ 2 (paper: 5)")
    e.add_argument("--ratios", type=float_option(0, 1), nargs="+", help="channel pruning ratios p in (0, 1) (vgg16-eb)")
    e.add_argument("--levels", type=int_option(1), nargs="+", help="IMP levels whose density the masks take (lenet)")
    e.add_argument("--results", type=folder, default=None, help="results root (default: ./results)")
    e.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    e.add_argument("--force", action="store_true", help="extend a results folder trained under other numerics")
    e.set_defaults(fn=fn)
