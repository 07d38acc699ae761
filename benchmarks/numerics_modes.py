"""Are numerics portable across CPU kinds when the math libraries' code paths are pinned? (issue 20)

Runs the golden run (``lthrepro/store/numerics.py``, one torch thread) in a fresh process per
mode: the libraries' defaults, each pin alone, and all three pins (MKL_CBWR=AVX2,
ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2), and records each fingerprint with this
machine's CPU kind and the wall time. Run it on every CPU kind the project meets:
``python benchmarks/numerics_modes.py`` writes benchmarks/results/numerics-modes-<cpu>-<date>.json;
two kinds agree in a mode when their fingerprints in that mode are equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINS = {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
MODES = {"default": {}, **{k: {k: v} for k, v in PINS.items()}, "all pinned": PINS}
CHILD = ("import json, time, torch; torch.set_num_threads(1); from lthrepro.store import numerics; t = time.time(); "
         "m = numerics.golden_run('cpu'); print(json.dumps({'fingerprint': numerics.digest(m), "
         "'cpu': numerics.cpu_id(), 'aten_isa': torch.backends.cpu.get_cpu_capability(), 'seconds': time.time() - t}))")


def main() -> None:
    rows = []
    for mode, env in MODES.items():
        r = subprocess.run([sys.executable, "-c", CHILD], env={**os.environ, **env}, capture_output=True, text=True,
                           check=True)
        row = {"mode": mode, "env": env, **json.loads(r.stdout.strip().splitlines()[-1])}
        rows.append(row)
        print(f"{mode:<22} {row['fingerprint']}  ({row['aten_isa']}, {row['seconds']:.1f} s)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    cpu = rows[0]["cpu"].replace("/", "-")
    out = ROOT / "benchmarks" / "results" / f"numerics-modes-{cpu}-{time.strftime('%Y%m%d')}.json"
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
                               "cpu": rows[0]["cpu"], "rows": rows}, indent=1) + "\n")
    print(f"written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
