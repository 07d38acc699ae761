"""store/portable.py: the command line trains with the math libraries pinned to AVX2, so that
CPU kinds agree (issue 20, item 6); LTHREPRO_NUMERICS=native opts out, a bad value is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lthrepro.__main__ import main
from lthrepro.store import numerics, portable

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--profile", "smoke", "--set", "dataset='synthetic'", "--set", "iterations=20",
        "--set", "eval_every=10", "--levels", "1", "-q"]
PROBE = ("import sys; sys.argv = ['lthrepro'] + sys.argv[1:]; import lthrepro.__main__, os, torch; "
         "from lthrepro.store import portable; "
         "print(portable.current(), os.environ.get('ATEN_CPU_CAPABILITY'), torch.backends.cpu.get_cpu_capability())")


def _env(**kw) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in portable.PINS and k != portable.ENV}
    return {**env, "PYTHONPATH": str(ROOT), **kw}


def _probe(*argv: str, **kw) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], env=_env(**kw), capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_the_command_line_pins_the_libraries_before_torch_loads():
    mode, env_isa, aten_isa = _probe("run", "lenet")
    assert (mode, env_isa, aten_isa) == ("portable", "avx2", "AVX2")  # ATen's kernels in effect, not just the env


def test_native_and_notebooks_are_not_pinned():
    assert _probe("run", "lenet", LTHREPRO_NUMERICS="native")[:2] == ["native", "None"]
    assert _probe("notebooks", "--no-train")[:2] == ["native", "None"]


def test_a_pin_the_user_set_is_kept_and_named():
    mode = _probe("run", "lenet", MKL_CBWR="COMPATIBLE")
    assert mode[0].startswith("custom") and "MKL_CBWR=COMPATIBLE" in mode[0]


def test_the_fingerprint_cache_is_kept_per_mode(monkeypatch):
    native = numerics._source_key("cpu")
    for k, v in portable.PINS.items():
        monkeypatch.setenv(k, v)
    assert portable.current() == "portable" and numerics._source_key("cpu") != native


def test_a_run_records_its_mode(tmp_path):
    """End to end in a child process: the provenance of a run trained by the command line."""
    env = _env(LTHREPRO_CACHE=str(tmp_path / "cache"), LTHREPRO_RESULTS=str(tmp_path / "r"))
    subprocess.run([sys.executable, "-m", "lthrepro", "run", "lenet", *TINY, "--results", str(tmp_path / "r")],
                   env=env, check=True, capture_output=True)
    prov = json.loads(next((tmp_path / "r").glob("lenet-*/provenance.json")).read_text())
    assert prov["sessions"][-1]["numerics"]["mode"] == "portable"


def test_a_bad_mode_is_one_line_exit_2_nothing_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(portable.ENV, "fast")
    capsys.readouterr()
    rc = main(["run", "lenet", *TINY, "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert (rc, len(err)) == (2, 1), err
    assert err[0].startswith("lthrepro: error: LTHREPRO_NUMERICS='fast'") and "native" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_not_pinned_off_x86():
    """The pins name x86 code paths: on another machine (ARM) the command line runs natively."""
    probe = "import platform; platform.machine = lambda: 'arm64'; " + PROBE
    out = subprocess.run([sys.executable, "-c", probe, "run", "lenet"], env=_env(), capture_output=True, text=True,
                         check=True)
    assert out.stdout.split()[:2] == ["native", "None"]
