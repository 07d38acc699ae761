"""The prepared session for a lent GPU (issue 21), end to end on the CPU with a tiny budget:
bench, then campaign levels under a deadline, then the committed files copied to --out (never
tensors); the shell script a device machine runs; bad options are one line, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lthrepro.__main__ import main
from lthrepro.scale import campaign

ROOT = Path(__file__).resolve().parent.parent
BENCH = ["--bench-models", "lenet", "--bench-groups", "1", "--bench-iters", "2", "--bench-eval-n", "20"]


def _files(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}


def test_slice_benches_trains_and_copies_committed_files(tmp_path, mnist_root, capsys):
    out, root = tmp_path / "OUT", tmp_path / "results"
    assert main(["slice", "--device", "cpu", "--budget", "300", "--out", str(out), "--campaign", "smoke",
                 "--results", str(root), *BENCH]) == 0
    said = capsys.readouterr().out
    files = _files(out)
    bench = [f for f in files if f.startswith("benchmarks/results/bench-cpu-")]
    b = json.loads((out / bench[0]).read_text())
    assert len(bench) == 1 and b["results"][0]["model"] == "lenet" and b["settings"]["data"] == "synthetic"
    (run,) = {f.split("/")[1] for f in files if f.startswith("results/")}
    assert run.startswith("lenet-") and "campaign finished" in said
    # every committed file of the folder came out, and no tensor did
    want = {f for f in _files(root / run) if Path(f).suffix in (".json", ".csv", ".bin")}
    assert {f"results/{run}/{f}" for f in want} <= files and not any(f.endswith(".pt") for f in files)
    assert f"results/{run}/imp/s0r0/level03/metrics.json" in files


def test_a_tiny_budget_stops_with_levels_left_and_copies_what_finished(tmp_path, mnist_root, monkeypatch, capsys):
    """A 500,000-iteration level cannot fit: the slice ends inside its budget, says no level fits
    and that levels are left, writes no results, and exits 0 (the next slice continues). At 5,000
    iterations it could fit on a quiet machine (15 s left after start-up): the test then failed."""
    monkeypatch.setitem(campaign.CAMPAIGNS, "long", ("a test", [("lenet", "smoke", {
        "seeds": (0,), "reinits": 0, "iterations": 500_000, "eval_every": 1000, "levels": 1})]))
    out = tmp_path / "OUT"
    rc = main(["slice", "--device", "cpu", "--budget", "45", "--out", str(out), "--campaign", "long",
               "--results", str(tmp_path / "r"), "--bench-models", ""])
    said = capsys.readouterr()
    assert rc == 0, said.err
    assert "no level of long fits" in said.out and "levels left for the next slice" in said.out
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("metrics.json"))


def test_the_device_script_runs_end_to_end_on_the_cpu(tmp_path, mnist_root):
    out = tmp_path / "OUT"
    env = {**os.environ, "OUT": str(out), "PYTHONPATH": str(ROOT)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # the python of this test run
    r = subprocess.run(["bash", "scripts/gpu_slice.sh", "--device", "cpu", "--budget", "300", "--campaign", "smoke",
                        "--results", str(tmp_path / "results"), *BENCH], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert any(f.endswith("metrics.json") for f in _files(out)) and (out / "benchmarks" / "results").is_dir()


@pytest.mark.parametrize("args, says", [
    (["--budget", "nan"], "--budget"), (["--budget", "0"], "--budget"), (["--budget", "1e308"], "--budget"),
    (["--device", "mps"], "device"), (["--device", "cuda:7"], "device"),
    (["--campaign", "nope"], "unknown campaign"), (["--group", "0"], "--group"),
    (["--budget", "60"], "no time to bench"), (["--bench-groups", "x"], "--group"),
    (["--bench-models", "alexnet"], "unknown model"), (["--bench-iters", "0"], "--bench-iters"),
])
def test_bad_slice_options_are_one_line_and_write_nothing(tmp_path, capsys, args, says):
    out = tmp_path / "OUT"
    before = _files(tmp_path)
    assert main(["slice", "--device", "cpu", "--out", str(out), "--results", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert _files(tmp_path) == before and not out.exists()
