"""Issue 23: generated bad input for every option of every command and every config field
(``tests/bad_input_cases.py``), and damaged result files; each ends in one line on stderr, exit
status 2 and nothing written. The cases run in this process against one finished tiny run,
restored whenever a case damaged or wrote something.

Also here: the executors record every seed in config.json, and a ``--deadline`` that fits no
task is refused (exit 2) instead of exiting 75, call after call, with nothing done.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bad_input_cases as gen  # noqa: E402

CASES = gen.all_cases()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    pristine = gen.make_pristine(tmp_path_factory.mktemp("pristine") / "top")
    return gen.World(tmp_path_factory.mktemp("world") / "top", pristine)


def test_the_generator_covers_every_command_and_field():
    names = {c.name.split()[0] for c in CASES}
    assert names >= {"run", "plan", "verify", "notebooks", "stability", "earlybird", "supermasks", "bench",
                     "campaign", "list"}
    fields = {c.args[-1].split("=")[0] for c in CASES if c.name.startswith("run --set")}
    assert fields == {k for k, _ in gen.config_fields()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_generated_bad_input_is_one_line_exit_2_nothing_written(world, case):
    clean, why = gen.run_case(case, world)
    assert clean, why


def test_landing_refuses_a_damaged_committed_file(tmp_path, monkeypatch, capsys):
    """A results file the tables are recomputed from is damaged: one line, and no table,
    thumbnail or README is rewritten (all pages are read before anything is written)."""
    from lthrepro.__main__ import main
    from lthrepro.book import landing
    from lthrepro.store import results

    def damaged(stem, params):
        raise results.ResultsError("results/lenet-x/imp/s0r0/level01/metrics.json is unreadable (truncated?)")

    written = []
    monkeypatch.setattr(landing, "recomputed_table", damaged)
    monkeypatch.setattr(landing, "write_thumbnail", lambda *a, **k: written.append(a))
    monkeypatch.setattr(results, "write_text", lambda *a, **k: written.append(a))
    assert main(["landing"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "metrics.json is unreadable" in err[0]
    assert not written


TINY = ["--profile", "smoke", *gen.TINY_SET, "--levels", "1", "-q"]


def test_a_deadline_that_fits_no_task_is_refused(tmp_path, capsys):
    """Issue 23: `--deadline 9` exited 75 ("run again") call after call with nothing done."""
    from lthrepro.__main__ import main
    root = tmp_path / "r"
    rc = main(["run", "lenet", *TINY, "--deadline", "0.01", "--results", str(root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "too short for any task" in err[0], err
    assert not root.exists() or not list(root.rglob("metrics.json"))


def test_executors_record_every_seed(tmp_path):
    """With --deadline (the driver, one runner per trial) config.json records the command's
    seeds, not the last trial's."""
    from lthrepro.__main__ import main
    root = tmp_path / "r"
    assert main(["run", "lenet", *TINY, "--seeds", "0", "1", "--deadline", "3000", "--results", str(root)]) == 0
    cfg = json.loads(next(root.glob("lenet-*/config.json")).read_text())["config"]
    assert cfg["seeds"] == [0, 1]


def test_unknown_papermill_parameter_is_refused_by_the_first_cell():
    """papermill -p FOO 1 injects `FOO = 1` after the page's parameters cell; the first cell's
    check reads the kernel's cell history (In) and refuses it instead of running on defaults."""
    from lthrepro.core import config, userargs
    ns = {"In": ["", 'PROFILE = "budget"\nSEEDS = [0]\n', '# Parameters\nPROFILE = "smoke"\nFOO = 1\n'],
          "PROFILE": "smoke", "SEEDS": [0], "FOO": 1}
    with pytest.raises(config.ConfigError) as e:
        exec("userargs.check_parameters(PROFILE=PROFILE, SEEDS=SEEDS)", {**ns, "userargs": userargs})
    assert "unknown parameter FOO" in str(e.value) and "PROFILE, SEEDS" in str(e.value)
    ns["In"][2] = '# Parameters\nPROFILE = "smoke"\n'
    exec("userargs.check_parameters(PROFILE=PROFILE, SEEDS=SEEDS)", {**ns, "userargs": userargs})


@pytest.mark.parametrize("text", ['{"goldens": "x"}', '{"goldens": [{"platform": 1}]}', "[]", '{"goldens": [',
                                  '{"goldens": [{"platform": "p", "fingerprint": "f", "metrics": {"a": NaN}}]}'])
def test_a_damaged_golden_file_is_named(tmp_path, text):
    from lthrepro.store import numerics, results
    p = tmp_path / "golden" / "numerics.json"
    p.parent.mkdir()
    p.write_text(text)
    with pytest.raises(results.ResultsError) as e:
        numerics.goldens(p)
    assert str(p) in str(e.value) and "git checkout" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("header", ['{"format": "lthrepro-state-1", "masks": "2"}',
                                    '{"format": "lthrepro-state-1", "layers": [["fc1.weight", "x"]]}',
                                    '{"format": "lthrepro-state-1", "tensors": [["params", "w", "evil", [2]]]}',
                                    "[1, 2]"])
def test_a_level_state_header_of_the_wrong_types_is_named(tmp_path, header):
    from lthrepro.store import state
    p = tmp_path / "next_mask.bin"
    p.write_bytes(header.encode() + b"\n")
    with pytest.raises(state.StateError) as e:
        state._unpack(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_full_disk_in_a_stability_run_leaves_nothing(tmp_path, monkeypatch, capsys):
    """ENOSPC when the first tensor file of a new stability run is written (after its config.json):
    one line, no partial tensor file, and the new folder is gone (no run had finished in it)."""
    import errno

    from lthrepro.experiments import stability_cli
    real = os.replace

    def full(src, dst):
        if str(dst).endswith(".pt"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst)
    monkeypatch.setattr(os, "replace", full)
    root = tmp_path / "r"
    rc = stability_cli.main(["lenet", "--profile", "smoke", *gen.TINY_SET, "--results", str(root)])
    monkeypatch.undo()
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "No space left on device" in err[0], err
    assert not root.exists() or not any(root.iterdir())
