"""Numerics fingerprint, golden run and ``verify`` (issue 11): can today's code regenerate a result?

The *golden run* is a short training on real data through the same engine every experiment
uses, with members that cover the engine's numerics: LeNet with Adam under a mask, LeNet with
dropout, a LeNet learned supermask (SGD, Bernoulli draws), and a batch-norm ResNet-20 with SGD,
momentum, weight decay and crop/flip augmentation (CIFAR-10, when present). Its metrics are
compared exactly with ``tests/golden/numerics.json`` on the platform and CPU kind that wrote it
(one entry per CPU kind seen: two x86-64 CPUs running the same wheel of torch differ in the last
bits, measured 2026-12-01); the *fingerprint* is a hash of those metrics, so a refactor that
changes no number keeps it and any
change of numbers changes it. Every run records the fingerprint (``lottery.Runner``), refuses
to extend a folder trained under another one, and ``python -m lthrepro verify RESULT`` retrains
levels of a committed result into a scratch folder and compares every metric (verify.py).

Layer: below the runner (``lottery`` records the fingerprint of every run), above train.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
from pathlib import Path

import torch

from lthrepro.core import data as data_mod
from lthrepro.core import models, pruning, train
from lthrepro.core.config import Config
from lthrepro.core.presets import make_config
from lthrepro.store import portable
from lthrepro.store import results as res

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden" / "numerics.json"
# Where platforms differ (another CPU family, a GPU, another torch), exact identity is not
# expected: the golden test then only fails beyond these (stated in advance) tolerances.
TOLERANCE = {"loss": 5e-3, "acc": 0.01}  # absolute: losses in nats, accuracies as fractions
# Parts whose own dynamics amplify last-bit differences (the smoke ResNet-20 at lr 0.1 without
# warmup: its loss passes 400 within 30 iterations), compared only exactly, on the CPU kind that
# wrote them; across CPU kinds the tolerance applies to the other parts.
CHAOTIC = frozenset({"resnet20_sgd_augment"})


def platform_id(device: str | torch.device = "cpu") -> str:
    """Device kind, CPU architecture or GPU name, and torch version: what exact identity needs."""
    d = torch.device(device)
    hw = torch.cuda.get_device_name(d) if d.type == "cuda" else platform.machine()
    return f"{d.type}/{hw}/torch-{torch.__version__}"


@functools.cache
def cpu_id() -> str:
    """The CPU kind (read once per process), as far as it changes floating-point results: vendor, ATen's vector ISA
    and a short hash of the ISA flags (MKL and oneDNN pick kernels by them). The model name of
    a virtual machine is often generic, so it is not enough on its own."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    flags = sorted(f for f in info.get("flags", "").split() if f.startswith(("avx", "amx", "fma", "sse", "f16c")))
    isa = hashlib.sha256(" ".join(flags).encode()).hexdigest()[:8] if flags else "unknown"
    vendor = info.get("vendor_id") or platform.processor() or "unknown"
    return f"{vendor}/{torch.backends.cpu.get_cpu_capability()}/isa-{isa}"


def _lenet_cfg(**kw) -> Config:
    return make_config("lenet", "smoke", iterations=300, eval_every=100, train_limit=6000,
                       val_size=1000, test_limit=2000, **kw)


def _members(model: str, n: int, density: float, tags: list[str]) -> list[train.Member]:
    out = []
    for i, tag in enumerate(tags):
        theta = models.init_params(model, 1000 + i)
        g = torch.Generator().manual_seed(2000 + i)
        mask = {k: torch.rand(theta[k].shape, generator=g) < density for k in models.layer_kinds(model)}
        out.append(train.Member(init=theta, mask=mask, data_seed=3000 + i, tag=tag))
    return out


def golden_run(device: str = "cpu") -> dict:
    """Train the golden members and return their metrics (plain floats): what the fingerprint
    hashes. About 15 s on 2 CPU cores. Needs real MNIST; the ResNet-20 part needs CIFAR-10.
    One intra-op thread: the numbers do not depend on it, and on a shared CPU OpenMP's spin-waits
    made the golden run ten times slower with two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _golden(device)
    finally:
        torch.set_num_threads(threads)


def _golden(device: str) -> dict:
    out: dict[str, dict] = {}
    mnist = data_mod.load("mnist", val_size=1000, train_limit=6000, test_limit=2000, download=False)
    keep = ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss", "early_stop_iter", "final_train_acc")

    def put(name: str, r: train.Result) -> None:
        out[name] = {k: r.metrics[k] for k in keep}
        out[name]["weights_l2"] = math.sqrt(sum(float((v.double() ** 2).sum()) for v in r.final.values()))

    # LeNet, Adam, a 40% mask and dropout 0.5 (two members of one group, LTH Fig. 2 / App. H.5)
    cfg = _lenet_cfg(dropout=0.5)
    plain, drop = _members("lenet", 2, 0.4, ["golden/adam-mask", "golden/dropout"])
    put("lenet_adam_mask", train.train_group(_lenet_cfg(), [plain], mnist, device)[0])
    put("lenet_dropout", train.train_group(cfg, [drop], mnist, device)[0])
    # LeNet learned supermask: SGD on scores, Bernoulli draws every step (Zhou et al. §5.3)
    names = list(models.layer_kinds("lenet"))
    theta = models.init_params("lenet", 1003)
    scores = {k: torch.zeros_like(v) if k in names else v.clone() for k, v in theta.items()}
    sm = train.Member(init=scores, mask=pruning.full_mask(theta, names), data_seed=3003, tag="golden/supermask")
    frozen = {k: v.unsqueeze(0).to(device) for k, v in theta.items()}
    wf = lambda q, tr, noise: pruning.masked_weights(q, frozen, names, torch.tensor([True], device=device), tr,
                                                     noise=noise)
    put("lenet_supermask", train.train_group(_lenet_cfg(optimizer="sgd", lr=100.0, momentum=0.9, batch_size=250),
                                             [sm], mnist, device, weights_fn=wf)[0])
    try:  # ResNet-20: batch norm, SGD + momentum + weight decay, crop/flip (LTH App. I)
        c = make_config("resnet18", "smoke", iterations=30, eval_every=10, train_limit=400, val_size=200,
                        test_limit=200, batch_size=16, warmup=5, milestones=(20,))
        cifar = data_mod.load("cifar10", c.val_size, 0, c.train_limit, c.test_limit, download=False,
                              input_shape=(3, 32, 32))
    except data_mod.DataError:
        cifar = None
    if cifar is not None:
        put("resnet20_sgd_augment", train.train_group(c, _members("resnet20", 1, 0.5, ["golden/bn"]), cifar, device)[0])
    return out


def digest(metrics: dict) -> str:
    """The fingerprint: sha256 of the golden metrics as canonical JSON (exact float reprs)."""
    blob = json.dumps(metrics, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _source_key(device: str) -> str:
    src = sorted(Path(__file__).resolve().parents[1].rglob("*.py"))  # all of lthrepro/, every layer
    h = hashlib.sha256(b"".join(p.read_bytes() for p in src) + platform_id(device).encode() + cpu_id().encode()
                       + portable.current().encode())  # the pins change the numbers (store/portable.py)
    return h.hexdigest()[:16]


def fingerprint(device: str = "cpu") -> dict:
    """``{"fingerprint", "platform", "cpu", "parts", "mode", "threads"}`` of today's code on this
    platform. Cached on disk per (source of lthrepro, platform, CPU kind, numerics mode): the
    golden run trains only when one changed. ``threads`` (torch's intra-op threads now) is
    recorded beside it: on a CPU a 5,000-iteration LeNet run trained with 2 threads differs in
    the last bits from one trained with 1 (measured 2026-12-01), although the short golden run
    does not show it."""
    return {**_fingerprint(device), "threads": torch.get_num_threads()}


def _fingerprint(device: str) -> dict:
    cache = Path(os.environ.get("LTHREPRO_CACHE", Path.home() / ".cache" / "lthrepro")) / "fingerprint"
    path = cache / f"{_source_key(device)}.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass  # a torn cache file: recompute
    try:
        m = golden_run(device)
        fp = {"fingerprint": digest(m), "platform": platform_id(device), "cpu": cpu_id(), "parts": sorted(m),
              "mode": portable.current()}
    except data_mod.DataError as e:  # no MNIST: nothing to compare a run with
        return {"fingerprint": "unavailable", "platform": platform_id(device), "parts": [], "why": str(e),
                "mode": portable.current()}
    try:
        cache.mkdir(parents=True, exist_ok=True)
        res.write_json(path, fp)
    except OSError:
        pass
    return fp


def recorded(run_dir: Path) -> list[dict]:
    """The fingerprints a results folder's sessions recorded (empty: trained before issue 11)."""
    p = Path(run_dir) / "provenance.json"
    if not p.exists():
        return []
    seen = []
    for s in res.read_json(p).get("sessions", []):
        fp = s.get("numerics")
        if fp and fp not in seen:
            seen.append(fp)
    return seen


def reproduces(run_dir: Path, fp: dict) -> str:
    """Does today's code reproduce this folder? 'yes', 'no (…)', or why it cannot be told."""
    rec = recorded(run_dir)
    if not rec:
        return "unknown (no fingerprint recorded)"
    if _unrecorded_sessions(run_dir):
        return "mixed (some sessions recorded no fingerprint)"
    if fp["fingerprint"] == "unavailable":
        return "unknown (no data for the golden run here)"
    if len(rec) > 1:
        return "mixed (trained under several fingerprints)"
    if rec[0]["fingerprint"] == fp["fingerprint"]:
        return "yes"
    if rec[0]["platform"] != fp["platform"]:
        return f"not comparable (recorded on {rec[0]['platform']}; this is {fp['platform']})"
    if rec[0]["fingerprint"] in {g["fingerprint"] for g in goldens()}:
        # today's code gives that fingerprint on the CPU kind of that golden entry
        cpu = rec[0].get("cpu", "the CPU kind that trained it")
        return f"yes on {cpu}; not comparable on this CPU ({fp.get('cpu')})"
    if rec[0].get("cpu") and rec[0]["cpu"] != fp.get("cpu"):
        return f"not comparable (recorded on CPU {rec[0]['cpu']}; this is {fp.get('cpu')})"
    return "no (numerics changed since)"


def _unrecorded_sessions(run_dir: Path) -> int:
    p = Path(run_dir) / "provenance.json"
    return sum(1 for s in res.read_json(p).get("sessions", []) if not s.get("numerics")) if p.exists() else 0


def check_extend(run_dir: Path, fp: dict, force: bool = False) -> None:
    """Refuse to add runs to a folder whose recorded numerics fingerprint differs from today's
    (one line). A folder with no recorded fingerprint (trained before issue 11) cannot be judged
    and is extended; ``reproduces`` then calls it mixed."""
    rec = [r for r in recorded(run_dir) if r["fingerprint"] != "unavailable"]
    mine = fp["fingerprint"]
    if force or mine == "unavailable" or all(r["fingerprint"] == mine for r in rec):
        return
    other = [r for r in rec if r["fingerprint"] != mine][-1]  # name the fingerprint that differs
    part = " (in part)" if any(r["fingerprint"] == mine for r in rec) else ""
    why = f"was trained{part} under numerics fingerprint {other['fingerprint']} ({other['platform']}" \
          f"{', CPU ' + other['cpu'] if other.get('cpu') else ''}), today's code gives {mine} ({fp['platform']})"
    if other.get("mode", "native") != fp.get("mode", "native"):  # store/portable.py
        why += f" in numerics mode {fp.get('mode', 'native')}, it was trained in {other.get('mode', 'native')}"
    raise res.ResultsError(f"{Path(run_dir).name} {why}; write to a new folder with --results DIR, "
                           "or pass --force to extend it anyway (the mix is recorded in provenance.json)")


def goldens(path: Path = GOLDEN) -> list[dict]:
    """The golden file's entries, one per (platform, CPU kind): ``{platform, cpu, fingerprint,
    metrics}``. The single-entry file of 2026-11-29 recorded no CPU kind."""
    if not Path(path).exists():
        return []
    g = res.read_json(Path(path))  # a damaged golden file is one line naming it (store/schema)
    return g.get("goldens", [g] if "metrics" in g else [])


def write_golden(path: Path = GOLDEN, device: str = "cpu", keep_other_cpus: bool = False) -> dict:
    """Regenerate the golden file: a deliberate act that a commit message must state (results
    trained under the old numerics are then regenerated or marked). ``keep_other_cpus`` adds or
    replaces only this CPU kind's entry: right only when the code's numerics did not change since
    the other entries were written (check the other CPUs' entries with the golden test there)."""
    m = golden_run(device)
    g = {"platform": platform_id(device), "cpu": cpu_id(), "fingerprint": digest(m), "metrics": m}
    keep = [e for e in goldens(path) if (e["platform"], e.get("cpu")) != (g["platform"], g["cpu"])] \
        if keep_other_cpus else []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"goldens": keep + [g]}, indent=1, sort_keys=True) + "\n")
    return g


def max_difference(a: dict, b: dict) -> dict[str, float]:
    """Largest absolute difference per kind of metric ('loss', 'acc', 'other') between two
    golden metric sets of the same parts."""
    worst = {"loss": 0.0, "acc": 0.0, "other": 0.0}
    for part in a:
        for k, x in a[part].items():
            y = b[part][k]
            xs, ys = (x, y) if isinstance(x, list) else ([x], [y])
            kind = "loss" if "loss" in k else "acc" if "acc" in k else "other"
            worst[kind] = max([worst[kind]] + [abs(p - q) for p, q in zip(xs, ys, strict=True)])
    return worst


def main() -> None:
    """``python -m lthrepro.numerics`` (the command's name is published; see lthrepro/numerics.py)."""
    import sys
    if sys.argv[1:] not in (["--update-golden"], ["--add-cpu"]):
        sys.exit("usage: python -m lthrepro.numerics --update-golden  (rewrites tests/golden/numerics.json)\n"
                 "       python -m lthrepro.numerics --add-cpu        (adds this CPU kind's entry, code unchanged)")
    print(json.dumps({k: v for k, v in write_golden(keep_other_cpus=sys.argv[1] == "--add-cpu").items()
                      if k != "metrics"}))


if __name__ == "__main__":
    main()
