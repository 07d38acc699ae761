"""Issue 15: trials accumulate run by run. A run for seeds 0-1 now and seed 2 later, in another
clone that has only the committed summaries (no tensors), gives exactly what one run for seeds
0-2 gives, and retrains none of the finished trials."""

import dataclasses
import shutil

from lthrepro.core import presets
from lthrepro.experiments import lottery
from lthrepro.scale import ondemand as experiments
from lthrepro.store import results as res
from lthrepro.store import summaries


def _cfg(seeds):
    return presets.make_config("lenet", "smoke", dataset="synthetic", iterations=6, eval_every=3, batch_size=12,
                               train_limit=120, levels=2, reinits=1, random_prune=1, oneshot=True, seeds=seeds)


def _committed_copy(src, dst):
    """What a clean clone holds: the JSON/CSV files, no tensors (git-ignored)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.pt"))


def test_trials_added_later_equal_one_run_of_all_trials(tmp_path):
    one = lottery.run(_cfg((0, 1, 2)), root=tmp_path / "one")
    first = lottery.run(_cfg((0, 1)), root=tmp_path / "first")
    _committed_copy(first, tmp_path / "clone" / first.name)
    r = experiments.make_runner(_cfg((2,)), root=tmp_path / "clone")
    later = r.run()
    assert r.trained == 3 + 2 * 3  # seed 2 only: IMP levels 0-2, and reinit/random/one-shot at 1-2
    assert (later / "summary.csv").read_text() == (one / "summary.csv").read_text()
    for mj in sorted(one.glob("*/s*r*/level*/metrics.json")):
        assert res.read_json(mj) == res.read_json(later / mj.relative_to(one)), mj
    # and asking for all three trials in the clone trains nothing more
    again = experiments.make_runner(_cfg((0, 1, 2)), root=tmp_path / "clone")
    again.run()
    assert again.trained == 0


def test_coverage_is_counted_from_the_runs_on_disk(tmp_path):
    d = lottery.run(_cfg((0, 1)), root=tmp_path)
    cov = summaries.run_info(d)["coverage"]
    assert cov == "6 of the paper's 50,000 iterations per level, 2 of 5 trials, 1 of 3 reinits per trial, " \
                  "1 of 2 random-sparse controls per trial"
    shutil.rmtree(d / "reinit" / "s1r0")  # a trial whose control is missing counts as 0
    assert "0 of 3 reinits per trial" in summaries.run_info(d)["coverage"]


def test_a_page_reads_its_own_trials_of_a_shared_folder(tmp_path):
    """Issue 20: a campaign adds trials to a folder that pages already read for other trials;
    a page's coverage, seeds and levels are counted for the trials it asks for."""
    d = lottery.run(_cfg((0, 1)), root=tmp_path)
    lottery.run(dataclasses.replace(_cfg((2,)), levels=0), root=tmp_path)  # a later trial, level 0 only
    info = summaries.run_info(d, (0, 1))
    assert info["seeds"] == [0, 1] and info["levels"] == 2
    assert "2 of 5 trials, 1 of 3 reinits per trial" in info["coverage"]
    assert summaries.run_info(d)["seeds"] == [0, 1, 2]  # the folder as a whole
    assert "3 of 5 trials, 0 of 3 reinits per trial" in summaries.coverage(d, {**info["config"], "seeds": [0, 1, 2]})
