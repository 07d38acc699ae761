"""Bad input through the real command line: one line, exit status 2, no traceback, nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args, env=None, cwd=None):
    e = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "lthrepro", *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=300)


@pytest.mark.parametrize("args, needle", [
    (["run", "alexnet"], "unknown preset 'alexnet'"),
    (["run", "lenet", "--profile", "huge"], "unknown profile 'huge'"),
    (["run", "lenet", "--rate", "1.5"], "give a number in [0, 1)"),
    (["run", "lenet", "--rate", "-0.2"], "give a number in [0, 1)"),
    (["run", "lenet", "--levels", "-1"], "argument --levels: '-1' is out of range"),
    (["run", "lenet", "--set", "criterion=biggest"], "unknown mask criterion"),
    (["run", "lenet", "--set", "colour=blue"], "unknown config field 'colour'"),
    (["run", "lenet", "--seeds", "x"], "'x' is not a whole number"),
])
def test_bad_arguments(args, needle, tmp_path):
    p = cli(*args, "--results", str(tmp_path / "r"))
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def _fake_mnist(root: Path, corrupt: str | None = None, missing: str | None = None):
    from lthrepro.core import data
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in data.MNIST_FILES:
        if f != missing:
            (raw / f).write_bytes(b"not the official file" if f == corrupt else b"")


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_missing_or_corrupt_data(kind, tmp_path):
    f = "train-images-idx3-ubyte.gz"
    _fake_mnist(tmp_path / "data", **{kind: f})
    # no network: torchvision's download fails, and we say so in one line
    p = cli("run", "lenet", "--profile", "smoke", "--results", str(tmp_path / "r"),
            env={"LTHREPRO_DATA": str(tmp_path / "data")})
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert ("checksum mismatch" if kind == "corrupt" else "MNIST") in p.stderr
    assert not list((tmp_path / "r").rglob("*.json"))


def test_unwritable_results(tmp_path):
    ro = tmp_path / "ro"
    ro.write_text("a file, not a folder")
    p = cli("run", "lenet", "--profile", "smoke", "--results", str(ro / "sub"))
    assert p.returncode == 2 and "not writable" in p.stderr and "Traceback" not in p.stderr


def test_list_and_smoke_run(tmp_path):
    p = cli("list")
    assert p.returncode == 0 and "266,200" in p.stdout and "2,261,184" in p.stdout
    p = cli("run", "lenet", "--profile", "smoke", "--set", "dataset='synthetic'", "--set", "iterations=40",
            "--levels", "1", "-q", "--results", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr
    assert len(list((tmp_path / "r").glob("lenet-*/imp/s0r0/level0*/metrics.json"))) == 2  # levels 0 and 1


def test_smoke_run_never_lands_in_results(tmp_path):
    """Without --results (and LTHREPRO_RESULTS), a smoke run goes to _build/smoke-results and
    says so; the committed results/ folder is untouched. --results still wins."""
    root = Path(__file__).resolve().parent.parent
    before = sorted(p.name for p in (root / "results").iterdir())
    env = {k: v for k, v in os.environ.items() if k != "LTHREPRO_RESULTS"}
    args = ("run", "lenet", "--profile", "smoke", "--set", "dataset='synthetic'", "--set", "iterations=20",
            "--levels", "0", "-q")
    p = subprocess.run([sys.executable, "-m", "lthrepro", *args], capture_output=True, text=True,
                       env={**env, "OMP_NUM_THREADS": "1"}, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    scratch = root / "_build" / "smoke-results"
    assert f"results go to {scratch}" in p.stdout and f"results: {scratch}" in p.stdout
    assert sorted(p.name for p in (root / "results").iterdir()) == before
    p = cli(*args, "--results", str(tmp_path / "r"))
    assert p.returncode == 0 and "smoke-results" not in p.stdout and list((tmp_path / "r").glob("lenet-*"))
