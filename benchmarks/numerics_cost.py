"""What the portable numerics mode costs in training (issue 20, item 6; store/portable.py).
Run: ``python benchmarks/numerics_cost.py [--rounds 2]``.

The pins must be set before torch loads, so each measurement is a fresh process, alternating
the native and the portable mode ``--rounds`` times. A process trains one group through the
engine (one torch thread): LeNet (paper preset, 3 members at density 51%, as in a level of the
paper campaign) and Conv-2 (budget preset, 1 dense member, as in the Conv-2 campaign), and
times it with ``conv_cpu.step_ms`` (the median interval between consecutive optimizer steps: one
training iteration, forward, backward and step; the evaluations do not count).
Prints the ratio portable / native measured in this one run and writes
benchmarks/results/numerics-cost-<date>.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from lthrepro.store import portable  # noqa: E402  (imports no torch)

CHILD = """
import json, sys, torch
torch.set_num_threads(1)
from conv_cpu import members, step_ms
from lthrepro.core import data as data_mod, models
from lthrepro.core.presets import make_config
model, profile, G, density, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
cfg = make_config(model, profile, seeds=(0,))
data = data_mod.load(cfg.dataset, cfg.val_size, cfg.split_seed, input_shape=models.INPUT_SHAPE[model])
ms = step_ms(cfg, members(model, G, density), data, n)
print(json.dumps({"step_ms": ms, "aten_isa": torch.backends.cpu.get_cpu_capability()}))
"""
CASES = [("lenet", "paper", 3, 0.513, 400), ("conv2", "budget", 1, 1.0, 60)]


def child(case: tuple, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in portable.PINS}
    env.update({"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")]), "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1"})
    if mode == "portable":
        env.update(portable.PINS)
    r = subprocess.run([sys.executable, "-c", CHILD, *map(str, case)], env=env, capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 2
    load = os.getloadavg()[0]
    rows = []
    for case in CASES:
        got: dict[str, list[float]] = {"native": [], "portable": []}
        for _ in range(rounds):
            for mode in got:
                got[mode].append(child(case, mode)["step_ms"])
        nat, port = min(got["native"]), min(got["portable"])
        rows.append({"model": case[0], "profile": case[1], "group": case[2], "density": case[3],
                     "native_ms": got["native"], "portable_ms": got["portable"], "ratio": port / nat})
        print(f"{case[0]} ({case[1]}, group {case[2]}, density {case[3]:.1%}): training step native "
              f"{nat:.2f} ms, portable {port:.2f} ms (best of {rounds}): portable / native {port / nat:.2f}")
    from lthrepro.store import provenance  # (the parent trains nothing: torch may load here)
    out = ROOT / "benchmarks" / "results" / f"numerics-cost-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "commit": provenance.git_commit(), "tree_clean": provenance.tree_clean(), "threads": 1,
                               "load_before": load, "load_after": os.getloadavg()[0], "rounds": rounds,
                               "rows": rows}, indent=1) + "\n")
    print(f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after; written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
