"""What the Ray executor costs against the local one (issue 14), measured in one run.

Trains the same LeNet smoke run (real MNIST, one trial, 7 training runs) twice, each in a fresh
results folder: once with the local executor and once with ``--executor ray`` starting its own
one-machine cluster. Prints both wall times, their ratio and difference, the seconds the Ray
workers spent training (``provenance.json``), and whether the two ``summary.csv`` files are
byte-identical; writes the same as JSON to ``benchmarks/results/ray-overhead-<date>.json`` with
the commit, whether the tree was clean, and the load average (the page "Running at scale" quotes
the newest such file). Run: ``python benchmarks/ray_overhead.py`` (needs ``LTHREPRO_DATA``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results"


def _run(results: Path, *extra: str) -> float:
    t = time.time()
    subprocess.run([sys.executable, "-m", "lthrepro", "run", "lenet", "--profile", "smoke", "--quiet",
                    "--results", str(results), *extra], check=True, cwd=ROOT)
    return time.time() - t


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT).stdout.strip()


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        load0 = os.getloadavg()[0]
        local = _run(Path(tmp) / "local")
        ray = _run(Path(tmp) / "ray", "--executor", "ray")
        (a,), (b,) = (list((Path(tmp) / k).glob("*/summary.csv")) for k in ("local", "ray"))
        prov = json.loads((b.parent / "provenance.json").read_text())["sessions"][-1]
        out = {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": _git("rev-parse", "--short", "HEAD"), "tree_clean": not _git("status", "--porcelain"),
            "machine": f"{os.cpu_count()} cores", "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "run": "python -m lthrepro run lenet --profile smoke (real MNIST, 1 trial, 7 training runs)",
            "local_seconds": round(local, 1), "ray_seconds": round(ray, 1),
            "ratio": round(ray / local, 2), "difference_seconds": round(ray - local, 1),
            "ray_workers_train_seconds": prov.get("train_seconds"),
            "summary_identical": a.read_bytes() == b.read_bytes(),
        }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"ray-overhead-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"local {out['local_seconds']} s, ray {out['ray_seconds']} s: ratio {out['ratio']}x "
          f"(+{out['difference_seconds']} s); Ray workers trained {out['ray_workers_train_seconds']} s; "
          f"summary.csv identical: {out['summary_identical']}; load {out['load_average']}\nwrote {path}")
    return out


if __name__ == "__main__":
    main()
