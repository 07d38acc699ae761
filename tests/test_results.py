"""Results on disk (issue 10): one run per tensor file, the user's umask, provenance of every
invocation, stale temporary files, damaged caches retrained, ``list`` with a damaged folder."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import pytest
import torch

from lthrepro.__main__ import main
from lthrepro.core import models, presets
from lthrepro.experiments import lottery
from lthrepro.store import results as res


def _cfg(**kw):
    base = dict(dataset="synthetic", iterations=20, eval_every=10, levels=1, reinits=0)
    base.update(kw)
    return presets.make_config("lenet", "smoke", **base)


def _sessions(d):
    return json.loads((d / "provenance.json").read_text())["sessions"]


def test_a_saved_tensor_holds_one_run_not_the_group(tmp_path):
    # Two trials train in one group; each final.pt must hold one network (~1.07 MB for LeNet),
    # not views into the group's stacked tensors (torch.save would write the whole group).
    d = lottery.run(_cfg(seeds=(0, 1), levels=0), root=tmp_path)
    one = models.count_weights("lenet") * 4
    for s in (0, 1):
        f = res.member_dir(d, "imp", s, 0, 0)
        assert (f / "final.pt").stat().st_size < 1.1 * one
        assert (f / "mask.pt").stat().st_size < 1.1 * models.count_weights("lenet")  # one byte per bool
        t = res.load_tensors(f, "final")["params"]
        for v in t.values():
            assert v.untyped_storage().nbytes() == v.numel() * v.element_size()


def test_global_masks_are_saved_per_layer(tmp_path):
    # Global pruning builds each layer's mask as a view of one flat vector over all layers.
    from lthrepro.core import pruning
    w = {"a": torch.randn(50), "b": torch.randn(70)}
    m = pruning.prune_global({k: v.abs() for k, v in w.items()}, pruning.full_mask(w, ["a", "b"]), 0.2, ["a", "b"])
    res.save_member(tmp_path / "x", {}, m, None, None)
    back = torch.load(tmp_path / "x" / "mask.pt", weights_only=True)
    assert all(back[k].untyped_storage().nbytes() == back[k].numel() for k in back)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_files_and_folders_follow_the_users_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        d = lottery.run(_cfg(levels=0), root=tmp_path)
    finally:
        os.umask(old)
    files = [d / "config.json", d / "provenance.json", d / "summary.csv",
             *(res.member_dir(d, "imp", 0, 0, 0) / f for f in ("metrics.json", "mask.pt", "final.pt"))]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f
    for f in (d, d / "imp", res.member_dir(d, "imp", 0, 0, 0)):
        assert stat.S_IMODE(f.stat().st_mode) == 0o777 & ~umask, f


def test_provenance_is_recorded_when_training_starts(tmp_path, monkeypatch):
    """A run killed in its very first level still leaves the record of its invocation."""
    def killed(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(lottery, "train_group", killed)
    cfg = _cfg()
    with pytest.raises(KeyboardInterrupt):
        lottery.run(cfg, root=tmp_path)
    (s,) = _sessions(lottery.run_dir(cfg, tmp_path))
    assert s["complete"] is False and s["members_trained"] == 0 and s["started"]


def test_a_rerun_with_nothing_to_train_closes_an_unfinished_record(tmp_path):
    cfg = _cfg()
    d = lottery.run(cfg, root=tmp_path)
    prov = json.loads((d / "provenance.json").read_text())
    prov["sessions"][0]["complete"] = False  # as a run killed after its last level was saved
    (d / "provenance.json").write_text(json.dumps(prov))
    lottery.run(cfg, root=tmp_path)
    (s,) = _sessions(d)
    assert s["complete"] is True and "nothing left to train" in s["closed"]
    before = (d / "provenance.json").read_bytes()
    lottery.run(cfg, root=tmp_path)  # nothing to close now: nothing is written
    assert (d / "provenance.json").read_bytes() == before


def test_every_invocation_that_trains_is_recorded(tmp_path):
    d = lottery.run(_cfg(levels=0), root=tmp_path)
    lottery.run(_cfg(levels=1), root=tmp_path)  # extends the same folder (levels is not hashed)
    assert [(s["complete"], s["members_trained"]) for s in _sessions(d)] == [(True, 1), (True, 1)]


def test_stale_temporary_files_of_killed_runs_are_removed(tmp_path):
    cfg = _cfg()
    d = lottery.run(cfg, root=tmp_path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a process that has exited
    stale = [d / "imp" / "s0r0" / f".tmp-{gone}-0a1b2c3d", d / ".tmp-oldstyle"]
    stale[0].mkdir()
    (stale[0] / "mask.pt").write_bytes(b"half")
    stale[1].write_text("half")
    live = d / "imp" / f".tmp-{os.getppid()}-0a1b2c3d"  # our parent is alive: its work is left alone
    live.mkdir()
    lottery.run(cfg, root=tmp_path)
    assert not any(p.exists() for p in stale) and live.exists()


@pytest.mark.parametrize("name", ["final.pt", "mask.pt"])
def test_a_truncated_cached_tensor_is_retrained(tmp_path, name):
    """In a folder from before level state (no *.bin), level 2 is pruned from level 1's tensors:
    a damaged one is retrained, to the same numbers. With level state it is not needed at all."""
    cfg = _cfg()
    d = lottery.run(cfg, root=tmp_path)
    for p in d.rglob("*.bin"):
        p.unlink()
    lv1 = res.member_dir(d, "imp", 0, 0, 1)
    metrics = (lv1 / "metrics.json").read_text()
    f = lv1 / name
    f.write_bytes(f.read_bytes()[:100])
    lottery.run(_cfg(levels=2), root=tmp_path)  # level 2 is pruned from level 1's tensors
    assert (lv1 / "metrics.json").read_text() == metrics  # retrained to the same numbers
    assert res.load_tensors(lv1, name.removesuffix(".pt")) and res.is_done(res.member_dir(d, "imp", 0, 0, 2))


def test_with_level_state_a_damaged_tensor_is_not_needed(tmp_path):
    d = lottery.run(_cfg(), root=tmp_path)
    lv1 = res.member_dir(d, "imp", 0, 0, 1)
    (lv1 / "final.pt").write_bytes(b"broken")
    r = lottery.Runner(_cfg(levels=2), root=tmp_path)
    r.run()
    assert r.trained == len(list(d.glob("*/s*r*/level02"))) and (lv1 / "final.pt").read_bytes() == b"broken"


def test_list_survives_a_damaged_results_folder(tmp_path, monkeypatch, capsys):
    """Every folder is listed, the damaged one with its repair, and the command then fails (exit
    2, one line): a committed file that cannot be read is an error (issue 23)."""
    monkeypatch.setenv("LTHREPRO_RESULTS", str(tmp_path))
    good = lottery.run(_cfg(), root=tmp_path)
    bad = lottery.run(_cfg(lr=2e-3), root=tmp_path)
    (bad / "config.json").write_text('{"config": ')
    (good / "imp" / "s0r0" / "level01").mkdir(exist_ok=True)
    capsys.readouterr()
    assert main(["list"]) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "unreadable files" in err
    assert f"{good.name}" in out and re.search(r"smoke\s+2 runs", out)
    line = next(x for x in out.splitlines() if bad.name in x)
    assert "unreadable" in line and "config.json" in line and "delete it" in line
