"""Every bad input a user can type, and every damaged file or fault they can meet, ends in ONE
line on stderr naming the problem, exit status 2 and nothing written (issue 10).

Most cases run the command line in-process (``lthrepro.__main__.main``), a few as real
subprocesses. "Nothing written" means the test's whole temporary folder (results root, data
folder, output folders) is byte-for-byte the same afterwards, folders included.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lthrepro.__main__ import main

# A run that trains in a second or two: synthetic data, 20 iterations, levels 0 and 1.
TINY = ["--profile", "smoke", "--set", "dataset='synthetic'", "--set", "iterations=20",
        "--set", "eval_every=10", "--levels", "1", "-q"]
REWIND = [*TINY, "--set", "rewind=10"]


def _snapshot(top: Path) -> dict:
    return {str(p.relative_to(top)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and
            not p.is_symlink() else "folder" if p.is_dir() else "link"
            for p in sorted(top.rglob("*"))}


def _cli(args: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    return rc, capsys.readouterr().err.strip().splitlines()


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A results root with two finished tiny runs (reset to θ0, and rewinding to iteration 10)."""
    root = tmp_path_factory.mktemp("finished") / "results"
    for extra in (TINY, REWIND):
        assert main(["run", "lenet", *extra, "--results", str(root)]) == 0
    return root


def _run_dir(root: Path, rewind: bool = False) -> Path:
    import json
    for d in sorted(root.glob("lenet-*")):
        if (json.loads((d / "config.json").read_text())["config"]["rewind"] > 0) == rewind:
            return d
    raise AssertionError("fixture run missing")


def _cut(rel: str, keep: float = 0.5, text: bytes | None = None, rewind: bool = False):
    """Setup: truncate (or overwrite with ``text``) one file of a finished run."""
    def setup(root: Path, tmp: Path) -> None:
        f = _run_dir(root, rewind) / rel
        f.write_bytes(text if text is not None else f.read_bytes()[: int(len(f.read_bytes()) * keep)])
    return setup


def _run_dir_is_a_file(root: Path, tmp: Path) -> None:
    d = _run_dir(root)
    shutil.rmtree(d)
    d.write_text("not a folder")


def _root_is_a_file(root: Path, tmp: Path) -> None:
    shutil.rmtree(root)
    root.write_text("not a folder")


def _data(kind: str):
    """Setup: LTHREPRO_DATA pointing at a missing or empty folder, or at a CIFAR-10 copy whose
    user-provided test.npz is broken (the official training set is linked in)."""
    def setup(root: Path, tmp: Path) -> None:
        d = tmp / "data"
        os.environ["LTHREPRO_DATA"] = str(d)
        if kind == "missing":
            return
        d.mkdir()
        if kind == "empty":
            return
        train = Path(os.environ["REAL_DATA"]) / "cifar10" / "train.npz"
        if not train.exists():
            pytest.skip(f"real CIFAR-10 training set not found at {train}")
        (d / "cifar10").mkdir()
        (d / "cifar10" / "train.npz").symlink_to(train)
        n = 20
        images = np.zeros((n, 32, 32, 3), np.uint8) if kind != "shape" else np.zeros((n, 3, 32, 32), np.uint8)
        labels = np.arange(n, dtype=np.uint8) % (13 if kind == "labels" else 10)
        if kind == "count":
            labels = labels[:5]
        np.savez(d / "cifar10" / "test.npz", images=images, labels=labels)
    return setup


RUN = ["run", "lenet", *TINY]
BENCH = ["bench", "--data", "synthetic", "--iters", "2", "--models", "lenet", "--group", "1"]

# (id, arguments ({root} and {tmp} are filled in), what the line must say, setup or None)
CASES = [
    # --set values of the wrong type or out of range
    ("lr-negative", [*RUN, "--set", "lr=-1"], "lr is -1.0", None),
    ("lr-word", [*RUN, "--set", "lr=fast"], "lr is 'fast'", None),
    ("lr-inf", [*RUN, "--set", "lr=1e999"], "lr is inf", None),
    ("iterations-word", [*RUN, "--set", "iterations=abc"], "iterations is 'abc'", None),
    ("iterations-zero", [*RUN, "--set", "iterations=0"], "iterations is 0", None),
    ("iterations-float", [*RUN, "--set", "iterations=2.5"], "iterations is 2.5", None),
    ("batch-over-limit", [*RUN, "--set", "batch_size=100000"], "batch_size 100000", None),
    ("batch-over-split", [*RUN, "--set", "train_limit=0", "--set", "batch_size=5000"],
     "larger than the training split", None),
    ("batch-zero", [*RUN, "--set", "batch_size=0"], "batch_size is 0", None),
    ("model-unknown", [*RUN, "--set", "model=foo"], "unknown model 'foo'", None),
    ("split-seed-negative", [*RUN, "--set", "split_seed=-1"], "split_seed is -1", None),
    ("milestones-word", [*RUN, "--set", "milestones=abc"], "milestones is 'abc'", None),
    ("milestones-negative", [*RUN, "--set", "milestones=[-5]"], "milestones is (-5,)", None),
    ("train-limit-negative", [*RUN, "--set", "train_limit=-5"], "train_limit is -5", None),
    ("momentum-list", [*RUN, "--set", "momentum=[1,2]"], "momentum is (1, 2)", None),
    ("rates-missing-kind", [*RUN, "--set", "rates={'conv': 0.1}"], "layer kind 'conv'", None),
    ("rates-not-mapping", [*RUN, "--set", "rates=0.2"], "rates is 0.2", None),
    ("rates-out-of-range", [*RUN, "--set", "rates={'fc': 1.5}"], "must lie in [0, 1)", None),
    ("seeds-duplicate-set", [*RUN, "--set", "seeds=[0,0]"], "repeat a seed", None),
    ("seeds-duplicate-option", [*RUN, "--seeds", "0", "0"], "repeat a seed", None),
    ("seeds-negative", [*RUN, "--seeds", "-1"], "argument --seeds: '-1' is out of range", None),
    ("dataset-unknown", [*RUN, "--set", "dataset=imagenet"], "unknown data set 'imagenet'", None),
    ("dataset-wrong-shape", [*RUN, "--set", "dataset=cifar10"], "does not take cifar10", None),
    ("augment-flat-input", [*RUN, "--set", "augment=True"], "augment=True", None),
    ("augment-word", [*RUN, "--set", "augment=maybe"], "augment is 'maybe'", None),
    ("optimizer-unknown", [*RUN, "--set", "optimizer=rmsprop"], "unknown optimizer 'rmsprop'", None),
    ("dropout-over-one", [*RUN, "--set", "dropout=1.5"], "dropout is 1.5", None),
    ("gamma-negative", [*RUN, "--set", "gamma=-1"], "gamma is -1.0", None),
    ("weight-decay-negative", [*RUN, "--set", "weight_decay=-1"], "weight_decay is -1.0", None),
    ("eval-every-zero", [*RUN, "--set", "eval_every=0"], "eval_every is 0", None),
    ("val-size-word", [*RUN, "--set", "val_size=abc"], "val_size is 'abc'", None),
    ("warmup-negative", [*RUN, "--set", "warmup=-1"], "warmup is -1", None),
    ("rewind-negative", [*RUN, "--set", "rewind=-3"], "rewind is -3", None),
    ("scope-unknown", [*RUN, "--set", "scope=everywhere"], "unknown pruning scope", None),
    ("extra-not-pairs", [*RUN, "--set", "extra=5"], "extra is 5", None),
    ("test-limit-negative", [*RUN, "--set", "test_limit=-1"], "test_limit is -1", None),
    ("sigmoid-bias-word", [*RUN, "--set", "sigmoid_bias=abc"], "sigmoid_bias is 'abc'", None),
    ("dwr-word", [*RUN, "--set", "dwr=maybe"], "dwr is 'maybe'", None),
    ("levels-word", ["run", "lenet", *TINY[:-3], "--set", "levels=abc"], "levels is 'abc'", None),
    ("levels-twice", [*RUN, "--set", "levels=2"], "levels given by both --set and --levels", None),
    ("reinits-negative", [*RUN, "--set", "reinits=-1"], "reinits is -1", None),
    ("preset-set", [*RUN, "--set", "preset=../x"], "preset is not set with --set", None),
    ("profile-set", [*RUN, "--set", "profile=paper"], "profile is not set with --set", None),
    ("criterion-unknown", [*RUN, "--set", "criterion=biggest"], "unknown mask criterion", None),
    ("mask1-unknown", [*RUN, "--set", "mask1=flip"], "unknown mask-1 action", None),
    ("set-without-equals", [*RUN, "--set", "lr"], "key=value", None),
    ("set-empty-key", [*RUN, "--set", "=3"], "unknown config field ''", None),
    # run options
    ("variant-unknown", [*RUN, "--variant", "nosuch"], "unknown variant", None),
    ("device-unknown", [*RUN, "--device", "nosuch"], "unknown device 'nosuch'", None),
    ("device-cuda-missing", [*RUN, "--device", "cuda:7"], "not available", None),
    ("group-zero", [*RUN, "--group", "0"], "argument --group: '0' is out of range", None),
    ("group-negative", [*RUN, "--group", "-1"], "argument --group: '-1' is out of range", None),
    # bench: every option checked before any timing
    ("bench-group-words", [*BENCH, "--group", "a,b", "--out", "{tmp}/b"], "--group 'a,b'", None),
    ("bench-group-zero", [*BENCH, "--group", "0", "--out", "{tmp}/b"], "--group '0'", None),
    ("bench-model-unknown", [*BENCH, "--models", "nosuch", "--out", "{tmp}/b"], "unknown model 'nosuch'", None),
    ("bench-iters-zero", [*BENCH, "--iters", "0", "--out", "{tmp}/b"], "argument --iters: '0' is out of range", None),
    ("bench-eval-n-zero", [*BENCH, "--eval-n", "0", "--out", "{tmp}/b"], "--eval-n: '0' is out of range", None),
    ("bench-threads-negative", [*BENCH, "--threads", "-1", "--out", "{tmp}/b"], "'-1' is out of range", None),
    ("bench-eval-every-negative", [*BENCH, "--eval-every", "-5", "--out", "{tmp}/b"], "'-5' is out of range", None),
    ("bench-device-unknown", [*BENCH, "--device", "nosuch", "--out", "{tmp}/b"], "unknown device", None),
    ("bench-out-unwritable", [*BENCH, "--out", "{tmp}/afile/sub"], "not writable",
     lambda root, tmp: (tmp / "afile").write_text("a file, not a folder")),
    # notebooks
    ("notebooks-device-unknown", ["notebooks", "--device", "nosuch", "--out", "{tmp}/nb"], "unknown device", None),
    ("notebooks-levels-negative", ["notebooks", "--levels", "-1", "--out", "{tmp}/nb"], "'-1' is out of range", None),
    ("notebooks-figure-unknown", ["notebooks", "--only", "fig99", "--out", "{tmp}/nb"], "unknown figure", None),
    ("notebooks-profile-unknown", ["notebooks", "--profile", "nosuch", "--out", "{tmp}/nb"], "unknown profile", None),
    ("notebooks-seeds-negative", ["notebooks", "--only", "fig03", "--seeds", "-1", "--out", "{tmp}/nb"],
     "argument --seeds: '-1' is out of range",
     None),
    ("notebooks-seeds-repeated", ["notebooks", "--only", "fig03", "--seeds", "0", "0", "--out", "{tmp}/nb"],
     "give each trial once", None),
    ("notebooks-set-field", ["notebooks", "--only", "fig03", "--set", "lr=0.1", "--out", "{tmp}/nb"],
     "takes only reinits, random_prune, oneshot", None),
    ("notebooks-set-oneshot-number", ["notebooks", "--only", "fig04", "--set", "oneshot=2", "--out", "{tmp}/nb"],
     "True or False", None),
    ("notebooks-set-negative", ["notebooks", "--only", "fig03", "--set", "reinits=-1", "--out", "{tmp}/nb"],
     "reinits=-1", None),
    ("notebooks-set-word", ["notebooks", "--only", "fig03", "--set", "reinits=many", "--out", "{tmp}/nb"],
     "a count of runs per trial", None),
    ("notebooks-set-no-value", ["notebooks", "--only", "fig03", "--set", "reinits", "--out", "{tmp}/nb"],
     "takes key=value", None),
    ("notebooks-set-stability-page", ["notebooks", "--only", "stab_lenet_paths", "--set", "reinits=1",
                                      "--out", "{tmp}/nb"], "apply to the LTH figure pages", None),
    # the supermask chapter's driver
    ("supermasks-family-unknown", ["supermasks", "lenet", "--families", "nosuch", "--results", "{root}"],
     "unknown family 'nosuch'", None),
    ("supermasks-set-word", ["supermasks", "lenet", "--set", "lr=fast", "--results", "{root}"], "lr is 'fast'", None),
    ("supermasks-device-unknown", ["supermasks", "lenet", "--device", "nosuch", "--results", "{root}"],
     "unknown device", None),
    ("supermasks-preset-unknown", ["supermasks", "nosuch", "--results", "{root}"], "unknown preset", None),
    # damaged results: named, with what to do
    ("metrics-truncated", RUN, "metrics.json is unreadable", _cut("imp/s0r0/level01/metrics.json")),
    ("metrics-empty", RUN, "metrics.json is unreadable", _cut("imp/s0r0/level01/metrics.json", 0)),
    ("metrics-not-object", RUN, "does not hold a JSON object", _cut("imp/s0r0/level01/metrics.json", text=b"[]")),
    ("metrics-no-keys", RUN, "lacks its kind", _cut("imp/s0r0/level01/metrics.json", text=b"{}")),
    ("config-truncated", RUN, "config.json is unreadable", _cut("config.json")),
    ("config-empty", RUN, "config.json is unreadable", _cut("config.json", 0)),
    ("provenance-truncated", RUN, "provenance.json is unreadable", _cut("provenance.json")),
    ("provenance-empty", RUN, "provenance.json is unreadable", _cut("provenance.json", 0)),
    ("rewind-tensor-truncated", ["run", "lenet", *REWIND, "--levels", "2"], "rewind.pt",
     _cut("imp/s0r0/level00/rewind.pt", rewind=True)),
    ("run-folder-is-a-file", RUN, "is a file", _run_dir_is_a_file),
    ("results-root-is-a-file", RUN, "not writable", _root_is_a_file),
    ("list-unknown-preset", ["list", "nosuch", "-v"], "unknown preset", None),
    # data
    ("data-folder-missing", ["run", "lenet", "--profile", "smoke", "-q"], "MNIST not found", _data("missing")),
    ("data-folder-empty", ["run", "lenet", "--profile", "smoke", "-q"], "MNIST not found", _data("empty")),
    ("cifar-test-shape", ["run", "conv2", "--profile", "smoke", "-q"], "test.npz['images'] has shape",
     _data("shape")),
    ("cifar-test-labels", ["run", "conv2", "--profile", "smoke", "-q"], "labels lie in 0..9", _data("labels")),
    ("cifar-test-count", ["run", "conv2", "--profile", "smoke", "-q"], "test.npz['labels'] has shape",
     _data("count")),
]


@pytest.fixture
def world(finished, tmp_path, monkeypatch):
    """A copy of the finished results (so cases can damage it) and a clean environment."""
    root = tmp_path / "results"
    shutil.copytree(finished, root)
    monkeypatch.setenv("REAL_DATA", os.environ.get("LTHREPRO_DATA", ""))
    monkeypatch.setenv("LTHREPRO_DATA", os.environ.get("LTHREPRO_DATA", ""))  # restored after the case
    return root, tmp_path


def _args(args: list[str], root: Path, tmp: Path) -> list[str]:
    out = [a.replace("{root}", str(root)).replace("{tmp}", str(tmp)) for a in args]
    if out[0] == "run":
        out += ["--results", str(root)]
    return out


@pytest.mark.parametrize("args, says, setup", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(world, capsys, args, says, setup):
    root, tmp = world
    if setup:
        setup(root, tmp)
    before = _snapshot(tmp)
    rc, err = _cli(_args(args, root, tmp), capsys)
    assert (rc, len(err)) == (2, 1), err
    assert says in err[0], err[0]
    assert err[0].startswith("lthrepro: error: ")
    assert _snapshot(tmp) == before, "something was written"


def test_notebooks_no_train_with_missing_results_is_one_line(tmp_path, capsys):
    """The notebook's own error (the no-train guard), not a papermill traceback; the failed
    notebook is not written (it would replace a good page in book/)."""
    (tmp_path / "empty").mkdir()
    before = _snapshot(tmp_path)
    rc, err = _cli(["notebooks", "--no-train", "--profile", "smoke", "--only", "fig03", "-q",
                    "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "nb")], capsys)
    os.environ.pop("LTHREPRO_NO_TRAIN", None)
    assert (rc, len(err)) == (2, 1), err
    assert "fig03_lenet_training_curves.ipynb" in err[0] and "LTHREPRO_NO_TRAIN=1" in err[0], err[0]
    assert _snapshot(tmp_path) == before


def test_disk_full_while_writing_is_one_line(world, capsys, monkeypatch):
    """ENOSPC at the first write of a run that has work to do: one line, no temporary file."""
    root, tmp = world
    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "replace", full)
    before = _snapshot(tmp)
    rc, err = _cli(["run", "lenet", *TINY[:-3], "--levels", "2", "-q", "--results", str(root)], capsys)
    monkeypatch.undo()
    assert (rc, len(err)) == (2, 1), err
    assert "No space left on device" in err[0] and "free disk space" in err[0]
    assert _snapshot(tmp) == before


def test_disk_full_while_saving_tensors_leaves_no_partial_level(world, capsys, monkeypatch):
    from lthrepro.store import results
    root, tmp = world
    real = results.save_tensors
    def full(path, obj):
        if Path(path).name == "final.pt":  # after mask.pt was written into the level's temp folder
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, obj)
    monkeypatch.setattr(results, "save_tensors", full)
    rc, err = _cli(["run", "lenet", *TINY[:-3], "--levels", "2", "-q", "--results", str(root)], capsys)
    monkeypatch.undo()
    assert (rc, len(err)) == (2, 1), err
    assert "No space left on device" in err[0]
    assert not list(root.rglob(".tmp-*")) and not list(root.rglob("level02"))


# ---------------------------------------------------------------------- real subprocesses
def _sub(args: list[str], env: dict | None = None, preexec=None) -> subprocess.CompletedProcess:
    e = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "lthrepro", *args], capture_output=True, text=True,
                          env=e, timeout=300, preexec_fn=preexec)


@pytest.mark.parametrize("case", ["lr-word", "device-unknown", "metrics-truncated", "bench-group-words",
                                  "data-folder-empty"])
def test_bad_input_in_a_real_process(world, case):
    root, tmp = world
    _, args, says, setup = next(c for c in CASES if c[0] == case)
    if setup:
        setup(root, tmp)
    before = _snapshot(tmp)
    p = _sub(_args(args, root, tmp), env={"LTHREPRO_DATA": os.environ["LTHREPRO_DATA"]})
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and says in p.stderr
    assert _snapshot(tmp) == before


def test_file_size_limit_in_a_real_process(tmp_path):
    """A real write failure (the file-size limit, EFBIG, as a full disk would give ENOSPC) while
    the first level's tensors are written: one line, and no half-written level or temp file."""
    import resource
    import signal

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # LeNet's mask.pt is ~270 kB

    root = tmp_path / "r"
    p = _sub(["run", "lenet", *TINY, "--results", str(root)], preexec=limit)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "File too large" in p.stderr
    assert not list(root.rglob(".tmp-*")) and not list(root.rglob("metrics.json"))


# ------------------------------------------------------------------- notebook parameters
@pytest.mark.parametrize("params, says", [
    ({"PROFILE": "nosuch", "SEEDS": [0]}, "PROFILE 'nosuch'"),
    ({"PROFILE": "smoke", "SEEDS": 0}, "SEEDS 0"),
    ({"PROFILE": "smoke", "SEEDS": "0,1"}, "SEEDS '0,1'"),
    ({"PROFILE": "smoke", "SEEDS": [0, "1"]}, "SEEDS [0, '1']"),
    ({"PROFILE": "smoke", "SEEDS": [1, 1]}, "repeats a seed"),
    ({"PROFILE": "smoke", "SEEDS": [0], "DEVICE": "nosuch"}, "unknown device"),
    ({"PROFILE": "smoke", "SEEDS": [0], "DEVICE": 0}, "DEVICE 0"),
    ({"PROFILE": "smoke", "SEEDS": [0], "RESULTS_DIR": 5}, "RESULTS_DIR 5"),
    ({"PROFILE": "smoke", "SEEDS": [0], "OVERRIDES": "lr=1"}, "OVERRIDES 'lr=1'"),
    ({"PROFILE": "smoke", "SEEDS": [0], "OVERRIDES": {"colour": 1}}, "unknown config field 'colour'"),
    ({"PROFILE": "smoke", "SEEDS": [0], "OVERRIDES": {"iterations": "abc"}}, "OVERRIDES['iterations']"),
    ({"PROFILE": "smoke", "SEEDS": [0], "PRESET": "nosuch"}, "PRESET 'nosuch'"),
])
def test_bad_notebook_parameters_are_one_message(params, says):
    from lthrepro.core import config, userargs
    with pytest.raises(config.ConfigError) as e:
        userargs.check_parameters(**params)
    assert says in str(e.value) and "\n" not in str(e.value)
